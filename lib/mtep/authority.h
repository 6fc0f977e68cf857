#pragma once
// NAME
//   authority.h - answers MTEP "?" from our own tokens, keys and store
// DESCRIPTION
//   TokenAuthority is the TokenChecker that mtepd uses. For "?":
//   - the token verifies with the ring (sender-bound tag when a sender was
//     given; the senderless tag only when answer_without_sender);
//   - the sender's domain policy has issue_tokens (else D5.7.1);
//   - the store does not hold it as revoked (store error -> Z4.3.0).
//   Answers: K2.7.0 valid; D5.7.8 for unknown, forged, expired, revoked and
//   another sender's tokens (text says which, kindly); D5.5.4 for a sender
//   that is not an RFC 5321 address; Z4.3.0 when the store cannot answer.
//   The ring and config can be swapped (SIGHUP) with update(); one
//   TokenAuthority is used by one thread.

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
