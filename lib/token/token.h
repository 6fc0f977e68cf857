#pragma once
// NAME
//   token.h - self-verifying MTEP tokens bound to the envelope sender and
//   the recipient domain
// SUMMARY
//   auto ring = KeyRing::load("/var/lib/mtep/token.keys", {.create = true}, clock);
//   auto tok  = mint(*ring, "alice@example.org", "beta.test", clock.now(), 86400);
//   auto v    = verify(*ring, *tok, Binding::of("alice@example.org", "beta.test"),
//                      clock.now());
// DESCRIPTION
//   Version 2 (minted today), 54 bytes, then base64url without padding =
//   72 chars:
//     version(1) = 2 | key id(4, big endian) | expiry(5, big endian Unix s)
//     | nonce(12, random) | tag_any(8) | tag_sender(8) | tag_bound(16)
//   tag_sender = HMAC(key, "mtep-token-v2-sender\0" || header || sender)[0..8]
//   tag_bound  = HMAC(key, "mtep-token-v2-bound\0" || header
//                     || len32(sender) || sender || domain)[0..16]
//   tag_any    = HMAC(key, "mtep-token-v2-any\0" || header || tag_sender
//                     || tag_bound)[0..8]
//   HMAC is HMAC-SHA256, header the first 22 bytes, sender the lower-cased
//   envelope sender (smtp::Mailbox::canonicalLower()), len32 its length as
//   4 bytes big endian, domain the recipient domain in canonicalDomain()
//   form. tag_bound binds the token to (sender, recipient domain): a token
//   minted for mail to beta.test does not verify for gamma.test.
//   tag_sender answers a question that carries the sender but no
//   recipient, tag_any one that carries neither; whether such questions
//   may be answered at all is the caller's policy (mtep/authority.h): the
//   result says which tags were checked.
//
//   Version 1 (minted before version 2; still verified until it expires,
//   so a rolling upgrade loses no mail), 46 bytes = 62 chars:
//     version(1) = 1 | key id(4) | expiry(5) | nonce(12) | tag_any(8)
//     | tag_sender(16)
//   tag_sender = HMAC(key, "mtep-token-sender\0" || header || sender)[0..16]
//   tag_any    = HMAC(key, "mtep-token-any\0" || header || tag_sender)[0..8]
//   A version-1 token is bound to no recipient domain: a recipient given
//   to verify() is not checked (recipient_checked stays false).
//
//   In both versions tag_any covers every other byte, so any altered byte
//   is a bad MAC. A token is valid while now < expiry. Tokens carry no
//   secret and need no storage to check; revocation is a store lookup by
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

inline constexpr size_t kTokenTextLength = 72;    // version 2, minted today
inline constexpr size_t kTokenV1TextLength = 62;  // version 1, verified until it expires
inline constexpr size_t kMaxTokenText = 256;      // PROTOCOLS.md: any token, any issuer
inline constexpr size_t kMaxDomain = 255;         // a recipient domain to bind (RFC 5321 4.5.3.1.2)

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
  kSenderMismatch,     // valid token, another sender
  kRecipientMismatch,  // valid token for this sender, another recipient domain
};
const char* outcomeName(Outcome o) noexcept;  // "valid", "malformed", ...

struct TokenInfo {
  uint8_t version = 0;
  uint32_t key_id = 0;
  int64_t expires = 0;
  std::array<uint8_t, 12> nonce{};
  std::string revocationId() const;  // "<keyid hex>-<nonce hex>"
  // Version 2 and later: minted for one recipient domain.
  bool boundToRecipient() const { return version >= 2; }
};

// What the asker knows about the message that carried the token.
struct Binding {
  std::string_view sender;            // canonicalLower()'d; ignored unless has_sender
  std::string_view recipient_domain;  // canonicalDomain()'d; ignored unless has_recipient
  bool has_sender = false;
  bool has_recipient = false;
  static Binding of(std::string_view sender, std::string_view domain) {
    return {sender, domain, true, true};
  }
};

struct VerifyResult {
  Outcome outcome = Outcome::kMalformed;
  TokenInfo info;                  // filled when the token decoded
  bool sender_checked = false;     // kValid: the token is this sender's
  bool recipient_checked = false;  // kValid: the token is for this recipient domain
};

// The form a recipient domain is bound in: ASCII letters lower-cased,
// one trailing dot removed ("Beta.Test." -> "beta.test"). Other bytes
// (UTF-8, address literal brackets) are kept as they are.
std::string canonicalDomain(std::string_view domain);

// Mints a version-2 token for `sender_canonical` (already
// canonicalLower()'d; not empty) and mail to `recipient_domain` (not
// empty, at most kMaxDomain bytes; canonicalDomain() is applied), valid
// for ttl > 0 seconds from `now`, with the ring's current key. kInvalid
// for an empty sender or domain, ttl <= 0 or an expiry past 5 bytes;
// kInternal when OpenSSL fails.
Result<std::string> mint(const KeyRing& ring, std::string_view sender_canonical,
                         std::string_view recipient_domain, int64_t now, int64_t ttl);
// A version-1 token (no recipient domain), as minted before version 2.
// Only for tests and tools that must show the old form still verifies.
Result<std::string> mintV1(const KeyRing& ring, std::string_view sender_canonical, int64_t now,
                           int64_t ttl);
// Checks in this order: decode (text, length, version) -> key id in the
// ring -> tag_any -> tag_sender (when has_sender) -> tag_bound (version 2,
// when has_sender and has_recipient) -> expiry. Never kRevoked (callers
// consult the store). What was not given is not checked, and the result
// says what was: a version-2 token asked about without a recipient can be
// kValid with recipient_checked false; the caller decides whether that
// is enough. The recipient domain is canonicalDomain()'d here.
VerifyResult verify(const KeyRing& ring, std::string_view token, const Binding& binding,
                    int64_t now);
// Sender only (no recipient domain): verify(ring, token, {sender, {},
// has_sender, false}, now).
VerifyResult verify(const KeyRing& ring, std::string_view token, std::string_view sender_canonical,
                    bool has_sender, int64_t now);
// Decodes without checking any MAC (for revoke and inspection). kInvalid
// when the text is not a version-1 or version-2 token.
Result<TokenInfo> decode(std::string_view token);

}  // namespace mtep::token
