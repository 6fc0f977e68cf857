#pragma once
// NAME
//   authority.h - answers MTEP "?" from our own tokens, keys and store
// DESCRIPTION
//   TokenAuthority is the TokenChecker that mtepd uses. For "?", in order:
//   - a sender (an empty sender element counts as none) must parse with
//     smtp::parsePath (else D5.5.4, reason "bad-sender"); the token is bound
//     to Mailbox::canonicalLower(). Without a sender the answer comes from
//     tag_any alone, and only when [mtepd] answer_without_sender (else
//     D5.5.4 "Please send the envelope sender with the token.", reason
//     "sender-required");
//   - a recipient (an empty element counts as none) is an RFC 5321 path
//     with a domain or a bare domain (else D5.5.4, reason "bad-recipient");
//     its domain, in token::canonicalDomain() form, is what a version-2
//     token is bound to;
//   - the token verifies with the ring (else D5.7.8, reason
//     token::outcomeName(): "malformed", "unknown-key", "bad-mac",
//     "expired", "sender-mismatch", "recipient-mismatch"; the text says
//     which, kindly);
//   - a token bound to a recipient domain (version 2) whose binding was
//     not checked, because the sender or the recipient is missing, is
//     refused unless [mtepd] answer_without_recipient: D5.5.4, reason
//     "recipient-required" (no recipient) or "sender-required" (a
//     recipient but no sender). Fail closed: a token seen at beta.test
//     never vouches for mail to gamma.test by a question that leaves the
//     domain out. Version-1 tokens are bound to no domain and are answered
//     as before until they expire;
//   - the sender's domain policy has issue_tokens (else D5.7.1, reason
//     "not-issuing"); not checked without a sender;
//   - the store does not hold it as revoked (D5.7.8, "revoked"); a store
//     error is Z4.3.0, reason "store-unavailable", and is logged.
//   - then K2.7.0, reason "valid".
//   The ring and config can be swapped (SIGHUP) with update(); null
//   arguments keep the current one. One TokenAuthority is used by one
//   thread; `store` and `clock` must outlive it.

#include <memory>

#include "config/config.h"
#include "mtep/server_session.h"
#include "store/store.h"
#include "token/token.h"
#include "util/clock.h"

namespace mtep::proto {

class TokenAuthority final : public TokenChecker {
 public:
  TokenAuthority(config::ConfigPtr config, std::shared_ptr<const token::KeyRing> ring,
                 store::Store& store, const Clock& clock);
  void update(config::ConfigPtr config, std::shared_ptr<const token::KeyRing> ring);
  CheckResult check(const Query& query) override;

 private:
  config::ConfigPtr config_;
  std::shared_ptr<const token::KeyRing> ring_;
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace mtep::proto
