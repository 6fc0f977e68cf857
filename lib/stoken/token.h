#pragma once
// NAME
//   token.h - submission tokens (STOKEN): mint, decode and verify the
//   token text, bound to a (remote, local) address pair
// SUMMARY
//   auto t = mint(Kind::kTemporary, ring, "alice@alpha.test", "bob@beta.test", clock.now());
//   Verified v = verify(*t, "alice@alpha.test", "bob@beta.test", ring, clock.now(),
//                       {.temporary = 7 * 86400});
//   if (v.outcome == Outcome::kValid && v.kind == Kind::kTemporary) ...
// DESCRIPTION
//   39 bytes, base64url without padding = 52 characters:
//     version(1) = 1 | kind(1) 'T' or 'P' | key id(4, big endian)
//     | issued(5, big endian Unix s) | remote_tag(12) | mac(16)
//   remote_tag = SHA-256("stoken-remote\0" || remote)[0..12]
//   mac        = HMAC-SHA256(key, "stoken-v1\0" || bytes[0..23) || local)[0..16]
//   remote and local are canonical addresses (canonicalAddress(): the
//   whole address with ASCII letters lower-cased, smtp::Mailbox's
//   canonicalLower(); quoted local parts re-quoted as toString() does).
//   Lower-casing the local part too is a choice: every site this suite
//   serves treats local parts case-insensitively (Dovecot does), and a
//   token that works for "Bob@" and "bob@" alike is what users expect.
//   The key is one of the MTEP token key ring's keys (token/token.h): key
//   id selects it; "stoken-v1\0" keeps these MACs apart from MTEP tokens'.
//
//   The remote address (whom the token was given to, who may use it as
//   MAIL FROM) is in the token as a tag; the local address (the user the
//   token lets mail in for, RCPT TO) is only in the MAC. So a token used
//   for another local address is kBadMac, for another remote kWrongRemote.
//
//   verify() checks, in this order: text (length, alphabet, version,
//   kind) -> key id in the ring -> MAC for `local` -> remote tag ->
//   lifetime (issued + ttl of the kind > now; issued at most kClockSkew
//   in the future). A lifetime of 0 is not checked (permanent tokens: the
//   store holds their expiry, see book.h). Revocation is the book's work.
// SECURITY
//   Tokens are bearer secrets: never log one, log tokenLogId(). MAC and
//   token comparisons are constant time (CRYPTO_memcmp). Any text that is
//   not exactly 52 characters is refused before it is looked at further,
//   so a 10 MB "token" costs one length comparison.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "token/token.h"
#include "util/result.h"

namespace mtep::stoken {

inline constexpr size_t kTokenBytes = 39;
inline constexpr size_t kTokenTextLength = 52;
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kMaxAddress = 320;  // longer addresses are refused (RFC 5321 paths: 256)
inline constexpr int64_t kClockSkew = 300;  // issued this far in the future still counts
inline constexpr int64_t kMaxIssued = (int64_t{1} << 40) - 1;  // 5 bytes

enum class Kind : uint8_t { kTemporary = 'T', kPermanent = 'P' };
const char* kindName(Kind k) noexcept;  // "temporary", "permanent"

enum class Outcome {
  kValid,
  kMalformed,    // not a token of ours: length, alphabet, version, kind
  kUnknownKey,   // key id not in the ring (retired or never ours)
  kBadMac,       // forged, altered, or for another local address
  kWrongRemote,  // genuine, but given to another remote address (MAIL FROM)
  kExpired,      // older than its kind's lifetime, or issued in the future
  kRevoked,      // book: a temporary issued before a revocation
  kNotCurrent,   // book: a permanent that is not the one stored for the pair
  kTemporary,    // book: the store could not answer; tempfail, never accept
  kRefused,      // caller policy (domain not accepting tokens, rate limit)
};
const char* outcomeName(Outcome o) noexcept;  // "valid", "malformed", ...

struct Fields {
  uint8_t version = 0;
  Kind kind = Kind::kTemporary;
  uint32_t key_id = 0;
  int64_t issued = 0;  // Unix seconds
  std::array<uint8_t, 12> remote_tag{};
  std::array<uint8_t, 16> mac{};
};

struct Lifetimes {
  int64_t temporary = 7 * 86400;  // 0: not checked
  int64_t permanent = 0;          // 0: not checked (the store's expiry rules)
};

struct Verified {
  Outcome outcome = Outcome::kMalformed;
  Kind kind = Kind::kTemporary;  // meaningful once decoded (all but kMalformed)
  int64_t issued = 0;
  uint32_t key_id = 0;
};

// The canonical form addresses are bound in: parsed as an RFC 5321
// mailbox (a surrounding <> is accepted), then canonicalLower().
// kInvalid for anything else, the null path, or more than kMaxAddress bytes.
Result<std::string> canonicalAddress(std::string_view address);

// True when `text` has the token's length and alphabet (no MAC check).
bool isTokenText(std::string_view text) noexcept;

// kInvalid when the text is not a version-1 token of a known kind.
Result<Fields> decode(std::string_view text);

// SHA-256("stoken-remote\0" || remote_canonical)[0..12].
std::array<uint8_t, 12> remoteTag(std::string_view remote_canonical);

// Mints a token with the ring's current key, issued `now`. Addresses are
// canonicalised here (kInvalid when they do not parse). kInvalid for now
// outside 0..kMaxIssued; kInternal when OpenSSL fails.
Result<std::string> mint(Kind kind, const token::KeyRing& ring, std::string_view remote,
                         std::string_view local, int64_t now);
// The same with one given key (tests: rotation, unknown keys).
Result<std::string> mintWithKey(Kind kind, const token::Key& key, std::string_view remote,
                                std::string_view local, int64_t now);

// See DESCRIPTION for the order of checks. Addresses are canonicalised
// here: a remote that does not parse is kWrongRemote, a local kBadMac.
Verified verify(std::string_view text, std::string_view remote, std::string_view local,
                const token::KeyRing& ring, int64_t now, const Lifetimes& lifetimes);

// Constant-time equality of two token texts (lengths are not secret).
bool sameToken(std::string_view a, std::string_view b) noexcept;

// A short name for a token in logs and replies: 12 hex characters of
// SHA-256("stoken-log\0" || text). Reveals nothing usable.
std::string tokenLogId(std::string_view text);

}  // namespace mtep::stoken
