#pragma once
// NAME
//   token.h - self-verifying MTEP tokens bound to the envelope sender
// SUMMARY
//   auto ring = KeyRing::load("/var/lib/mtep/token.keys", {.create = true}, clock);
//   auto tok  = mint(*ring, "alice@example.org", clock.now(), 86400);
//   auto v    = verify(*ring, *tok, "alice@example.org", clock.now());
// DESCRIPTION
//   Binary layout (46 bytes, then base64url without padding = 62 chars):
//     version(1) = 1 | key id(4, big endian) | expiry(5, big endian Unix s)
//     | nonce(12, random) | tag_any(8) | tag_sender(16)
//   tag_any    = HMAC-SHA256(key, "mtep-token-any\0"    || header)[0..8]
//   tag_sender = HMAC-SHA256(key, "mtep-token-sender\0" || header || sender)[0..16]
//   where header is the first 22 bytes and sender the lower-cased envelope
//   sender (smtp::Mailbox::canonicalLower()). tag_any lets a server answer
//   the seed's senderless "?"; tag_sender binds the token to its sender.
//   Tokens carry no secret and need no storage to check; revocation is a
//   store lookup by revocationId() (key id and nonce).
//
//   Key file: text, one key per line "<id> <created-unix> <64 hex>", '#'
//   comments. The highest id is current; older keys verify tokens until
//   they expire. Created with mode 0600 when missing; rotate() writes a new
//   file and renames it into place.
// SECURITY
//   MACs compared in constant time. A key file readable by group or others
//   is refused.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.h"
#include "util/result.h"

namespace mtep::token {

inline constexpr size_t kTokenTextLength = 62;

struct Key {
  uint32_t id = 0;
  int64_t created = 0;                // Unix seconds
  std::array<uint8_t, 32> secret{};
};

struct KeyRingOptions {
  bool create = false;          // create the file with one key when missing
  int64_t retire_after = 0;     // rotate(): drop keys retired longer than this (s); 0 keeps all
};

class KeyRing {
 public:
  static Result<KeyRing> load(const std::string& path, const KeyRingOptions& options,
                              const Clock& clock);
  // Adds a new current key (id = highest + 1) and drops keys that were
  // superseded more than retire_after seconds ago. Atomic replace.
  static Result<KeyRing> rotate(const std::string& path, const KeyRingOptions& options,
                                const Clock& clock);
  // Builds a ring in memory (tests, benchmarks).
  static KeyRing fromKeys(std::vector<Key> keys);

  const Key& current() const;     // ring is never empty once loaded
  const Key* find(uint32_t id) const;
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;  // sorted by id
};

enum class Outcome {
  kValid,
  kMalformed,       // not a token of ours (bad text, length or version)
  kUnknownKey,      // key id not in the ring (never ours, or retired)
  kBadMac,          // forged or altered
  kExpired,
  kRevoked,         // set by callers that consult the store
  kSenderMismatch,  // valid token, another sender
};
const char* outcomeName(Outcome o) noexcept;  // "valid", "malformed", ...

struct TokenInfo {
  uint8_t version = 0;
  uint32_t key_id = 0;
  int64_t expires = 0;
  std::array<uint8_t, 12> nonce{};
  std::string revocationId() const;  // "<keyid hex>-<nonce hex>"
};

struct VerifyResult {
  Outcome outcome = Outcome::kMalformed;
  TokenInfo info;  // filled when the token decoded
};

Result<std::string> mint(const KeyRing& ring, std::string_view sender_canonical, int64_t now,
                         int64_t ttl);
// sender_canonical: std::nullopt-like empty + has_sender=false means the
// asker gave no sender: only tag_any is checked.
VerifyResult verify(const KeyRing& ring, std::string_view token, std::string_view sender_canonical,
                    bool has_sender, int64_t now);
// Decodes without checking any MAC (for revoke and inspection).
Result<TokenInfo> decode(std::string_view token);

}  // namespace mtep::token
