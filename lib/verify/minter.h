#pragma once
// NAME
//   minter.h - mints tokens from the key file, noticing rotations
// SUMMARY
//   auto m = RingMinter::create("/var/lib/mtep/token.keys", clock);
//   auto tok = m->mint("alice@alpha.test", "beta.test", 7 * 86400);
// DESCRIPTION
//   Loads the key ring at creation (the file must exist: mtepctl key rotate
//   or mtepd makes it) and, at most once a second, checks whether the file
//   changed (token::KeyFileWatch) and reloads it. A failed reload keeps the
//   old ring, is logged once, and is tried again at every check until a
//   load succeeds. The once-a-second check is by the Clock given, so tests move a
//   FakeClock. mint() of an empty sender or recipient domain is kInvalid. Thread-safe: the
//   ring is a shared_ptr swapped under a mutex; minting works on a copy of
//   the pointer.

#include <memory>
#include <mutex>
#include <string>

#include "milter/verifier.h"
#include "token/key_watch.h"
#include "token/token.h"
#include "util/clock.h"

namespace mtep::verify {

using milter::TokenMinter;
using milter::TokenVerifier;
using milter::VerifyKind;
using milter::VerifyOutcome;
using milter::VerifyQuery;

class RingMinter final : public TokenMinter {
 public:
  static Result<std::unique_ptr<RingMinter>> create(const std::string& key_file,
                                                    const Clock& clock);
  Result<std::string> mint(std::string_view sender_canonical, std::string_view recipient_domain,
                           int64_t ttl) override;
  // The ring in use now (reloaded when the key file changed); never null.
  std::shared_ptr<const token::KeyRing> ring() { return current(); }

 private:
  RingMinter(std::string key_file, const Clock& clock, std::shared_ptr<const token::KeyRing> ring,
             token::KeyFileWatch watch);
  std::shared_ptr<const token::KeyRing> current();

  const std::string key_file_;
  const Clock& clock_;
  std::mutex mu_;                               // guards the three below
  std::shared_ptr<const token::KeyRing> ring_;  // guarded by mu_
  token::KeyFileWatch watch_;                   // guarded by mu_
  int64_t last_check_ = 0;                      // guarded by mu_; clock seconds
};

}  // namespace mtep::verify
