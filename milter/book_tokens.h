#pragma once
// NAME
//   book_tokens.h - mtep-milter's submission token book: stoken::TokenBook
//   over a store from the pool and the token key ring
// SUMMARY
//   milterd::BookTokens tokens(stores, minter, SystemClock::instance(), shared);
//   shared.setSubmissionTokens(&tokens);
// DESCRIPTION
//   Each call leases a store ([store] of the current config snapshot)
//   and takes the key ring the MTEP token minter uses now, so key
//   rotations and store reconfiguration are followed as they are for
//   MTEP tokens and stamps. No keys yet, or no store: kTemporary, which
//   the session logs and goes on without (lib/milter/submission_tokens.h).
//   Thread-safe: nothing is kept between calls.

#include "deferred_minter.h"
#include "milter/submission_tokens.h"
#include "pow_stamps.h"
#include "shared_state.h"
#include "util/clock.h"

namespace mtep::milterd {

class BookTokens final : public milter::SubmissionTokens {
 public:
  // Everything must outlive this object.
  BookTokens(StorePool& stores, DeferredMinter& keys, const Clock& clock, const SharedState& shared)
      : stores_(stores), keys_(keys), clock_(clock), shared_(shared) {}

  Result<std::string> temporary(std::string_view remote, std::string_view local,
                                const stoken::BookLimits& limits) override;
  Result<bool> hold(std::string_view local, std::string_view remote, std::string_view token,
                    stoken::Kind kind, const stoken::BookLimits& limits) override;

 private:
  StorePool& stores_;
  DeferredMinter& keys_;
  const Clock& clock_;
  const SharedState& shared_;
};

}  // namespace mtep::milterd
