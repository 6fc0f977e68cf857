#pragma once
// NAME
//   book.h - the submission tokens of one site in the store: permanent
//   tokens issued, revocations, and tokens other sites gave our users
// SUMMARY
//   TokenBook book(*store, ring, clock, {.temporary_ttl = 7 * 86400});
//   auto t = book.generate(Kind::kPermanent, "alice@alpha.test", "bob@beta.test");
//   Checked c = book.check(token, mail_from, rcpt_to);
//   if (c.outcome == Outcome::kValid) { deliver; auto p = book.afterDelivery(token, c.kind, ...); }
//   book.hold("alice@alpha.test", "bob@beta.test", token_from_header, Kind::kTemporary);
// DESCRIPTION
//   Store namespaces; every key is "local NUL remote" (canonicalAddress()):
//     stoken-perm     the permanent token issued for the pair, value
//                     "<token> <refreshed-unix>", expiring refreshed +
//                     permanent_ttl. The store is the truth: a permanent
//                     token is valid only while it equals this entry.
//     stoken-revoked  the time of the pair's last revocation, value
//                     "<unix>": temporary tokens issued at or before it
//                     are dead. Kept for temporary_ttl (+ clock skew),
//                     after which every such token has expired anyway.
//     stoken-held     a token another site gave our user `local` for
//                     mail to `remote`, value "<T|P> <token>", expiring
//                     after the kind's lifetime from when it was seen.
//   Temporary tokens we issue are not stored (self-verifying, token.h).
//   A token generated in the second of a revocation is issued one second
//   later, so it is not killed by the revocation it follows, and a new
//   permanent never equals the revoked one (the same fields give the
//   same token).
//   Two processes generating the first permanent for one pair at the
//   same moment may each mint one; the last stored wins and the other is
//   kNotCurrent at its first use (the sender falls back and learns the
//   stored one at its next delivery).
//   A TokenBook holds references: the store, ring and clock must outlive
//   it; it is cheap, so daemons make one per use with the ring current
//   at that time. Used by one thread at a time, as the Store.
// SECURITY
//   Store errors never make a token valid: check() answers kTemporary.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stoken/token.h"
#include "store/store.h"
#include "token/token.h"
#include "util/clock.h"
#include "util/result.h"

namespace mtep::stoken {

inline constexpr std::string_view kPermanentNamespace = "stoken-perm";
inline constexpr std::string_view kRevokedNamespace = "stoken-revoked";
inline constexpr std::string_view kHeldNamespace = "stoken-held";
inline constexpr size_t kMaxForeignToken = 256;  // a held token from another site
inline constexpr size_t kListScan = 100000;      // entries read per namespace by list()

struct BookLimits {
  int64_t temporary_ttl = 7 * 86400;
  int64_t permanent_ttl = 365 * 86400;
  int64_t permanent_refresh = 30 * 86400;  // re-stored on delivery once this old
};

struct Checked {
  Outcome outcome = Outcome::kMalformed;
  Kind kind = Kind::kTemporary;  // meaningful when decoded
};

struct HeldToken {
  std::string token;
  Kind kind = Kind::kTemporary;
};

struct BookEntry {
  enum class What { kIssued, kHeld };
  What what = What::kIssued;  // kIssued: a permanent we issued; kHeld: one given to us
  std::string local;
  std::string remote;
  Kind kind = Kind::kPermanent;
  std::string token_id;  // tokenLogId(), never the token
};

// Another site's token as we accept to hold and send it: 1..kMaxForeignToken
// characters of printable ASCII without space and '=' (an ESMTP
// parameter value, RFC 5321 esmtp-value).
bool isForeignToken(std::string_view text) noexcept;

class TokenBook {
 public:
  TokenBook(store::Store& store, const token::KeyRing& keys, const Clock& clock, BookLimits limits);

  // A new token for (remote, local); for kPermanent the stored one when a
  // live one exists. kInvalid "remote ..." / "local ..." for an address
  // that does not parse (501 5.1.3 / 501 5.1.7), kTemporary for the store.
  Result<std::string> generate(Kind kind, std::string_view remote, std::string_view local);
  // Kills the pair's temporaries issued until now and erases its
  // permanent. Succeeds when there was none.
  Status revoke(std::string_view remote, std::string_view local);
  // Whether `token` lets `remote` (MAIL FROM) send to `local` (RCPT TO).
  Checked check(std::string_view token, std::string_view remote, std::string_view local);
  // After a delivery by a kValid token of `kind`: for a temporary, the
  // permanent that replaces it (generated or the stored one: the 2.1.13
  // reply); for a permanent, its expiry is refreshed once it is
  // permanent_refresh old, and the result is std::nullopt, unless it was
  // signed with a key that is no longer the ring's current one: then a
  // new permanent replaces it and is returned (also 2.1.13), so a pair
  // that exchanges mail keeps a working token across key rotations (a
  // rotated-out key retires after [tokens] max_ttl).
  Result<std::optional<std::string>> afterDelivery(std::string_view token, Kind kind,
                                                   std::string_view remote, std::string_view local);

  // Records a token another site gave `local` for mail to `remote`.
  // false: not stored, because a temporary never replaces a held
  // permanent. kInvalid for a token failing isForeignToken() or bad addresses.
  Result<bool> hold(std::string_view local, std::string_view remote, std::string_view token,
                    Kind kind);
  // kNotFound when none is held.
  Result<HeldToken> held(std::string_view local, std::string_view remote);
  // True when one was removed.
  Result<bool> dropHeld(std::string_view local, std::string_view remote);

  // Permanents issued and tokens held, for `local` (empty: every user),
  // at most `limit`, issued first, each ordered by key.
  Result<std::vector<BookEntry>> list(std::string_view local, size_t limit);

 private:
  // "local NUL remote" of the canonical addresses, or kInvalid naming which.
  Result<std::string> pairKey(std::string_view remote, std::string_view local) const;
  Result<int64_t> revokedAt(const std::string& key);  // -1 when never revoked

  store::Store& store_;
  const token::KeyRing& keys_;
  const Clock& clock_;
  BookLimits limits_;
};

}  // namespace mtep::stoken
