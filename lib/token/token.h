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
//   tag_sender = HMAC-SHA256(key, "mtep-token-sender\0" || header || sender)[0..16]
//   tag_any    = HMAC-SHA256(key, "mtep-token-any\0" || header || tag_sender)[0..8]
//   where header is the first 22 bytes and sender the lower-cased envelope
//   sender (smtp::Mailbox::canonicalLower()). tag_any lets a server answer
//   the seed's senderless "?" and, since it covers tag_sender too, makes any
//   altered byte of a token a bad MAC; tag_sender binds the token to its
//   sender. A token is valid while now < expiry. Tokens carry no secret and
//   need no storage to check; revocation is a store lookup by
//   revocationId() (key id and nonce).
//
//   Key file: text, one key per line "<id> <created-unix> <64 hex>", '#'
//   comments and blank lines ignored; ids are unique. The highest id is
//   current; older keys verify tokens until they are retired by rotate().
//   Created with mode 0600 (O_EXCL) when missing and options.create;
//   rotate() writes a temporary file in the same directory, fsyncs it and
//   renames it into place (keeping the old file's owner). Concurrent
//   rotations (several processes) are serialised by flock() on
//   "<key file>.lock", so none loses another's new key.
// SECURITY
//   MACs compared in constant time (CRYPTO_memcmp). Nonces and keys from
//   RAND_bytes. A key file with any group or other permission bit is
//   refused. A KeyRing is immutable after construction and may be shared
//   between threads (each MAC works on its own copy of the key's context).

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.h"
#include "util/result.h"

namespace mtep::token {

inline constexpr size_t kTokenTextLength = 62;

struct Key {
  uint32_t id = 0;
  int64_t created = 0;  // Unix seconds
  std::array<uint8_t, 32> secret{};
};

struct KeyRingOptions {
  bool create = false;       // create the file with one key when missing
  int64_t retire_after = 0;  // rotate(): drop keys retired longer than this (s); 0 keeps all
};

namespace detail {
struct MacSet;  // per-key pre-initialised HMAC contexts (token.cc)
}

class KeyRing {
 public:
  // Reads the key file. Errors (kConfig) name FILE or FILE:LINE: missing
  // file (without options.create), group/other permissions, malformed or
  // duplicate lines, no key at all. kInternal when randomness fails.
  static Result<KeyRing> load(const std::string& path, const KeyRingOptions& options,
                              const Clock& clock);
  // Loads the file, adds a new current key (id = highest + 1, created =
  // clock.now()) and drops keys that were superseded (a newer key created)
  // more than retire_after seconds ago. Atomic replace; returns the new
  // ring. A missing file with options.create is created holding one key
  // (id 1), and that is the whole rotation.
  static Result<KeyRing> rotate(const std::string& path, const KeyRingOptions& options,
                                const Clock& clock);
  // Builds a ring in memory (tests, benchmarks). Duplicate ids: the last wins.
  static KeyRing fromKeys(std::vector<Key> keys);
  // A key with 32 fresh random bytes (kInternal if RAND_bytes fails).
  static Result<Key> generateKey(uint32_t id, int64_t created);

  const Key& current() const;  // ring is never empty once loaded
  const Key* find(uint32_t id) const;
  const std::vector<Key>& keys() const { return keys_; }

 private:
  friend struct detail::MacSet;  // reads macs_ for mint() and verify()

  std::vector<Key> keys_;                       // sorted by id, unique
  std::shared_ptr<const detail::MacSet> macs_;  // parallel to keys_; null if OpenSSL failed
};

enum class Outcome {
  kValid,
  kMalformed,   // not a token of ours (bad text, length or version)
  kUnknownKey,  // key id not in the ring (never ours, or retired)
  kBadMac,      // forged or altered
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

// Mints a token for `sender_canonical` (already canonicalLower()'d; not
// empty) valid for ttl > 0 seconds from `now`, with the ring's current key.
// kInvalid for an empty sender, ttl <= 0 or an expiry past 5 bytes;
// kInternal when OpenSSL fails.
Result<std::string> mint(const KeyRing& ring, std::string_view sender_canonical, int64_t now,
                         int64_t ttl);
// Checks in this order: decode (text, length, version) -> key id in the
// ring -> tag_any -> tag_sender (only when has_sender) -> expiry. Never
// kRevoked (callers consult the store). has_sender = false means the asker
// gave no sender: sender_canonical is ignored and only tag_any is checked.
VerifyResult verify(const KeyRing& ring, std::string_view token, std::string_view sender_canonical,
                    bool has_sender, int64_t now);
// Decodes without checking any MAC (for revoke and inspection). kInvalid
// when the text is not a version-1 token.
Result<TokenInfo> decode(std::string_view token);

}  // namespace mtep::token
