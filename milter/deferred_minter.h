#pragma once
// NAME
//   deferred_minter.h - the token minter of mtep-milter, which copes with
//   a key file that does not exist yet
// SUMMARY
//   DeferredMinter minter(cfg->tokens.key_file, SystemClock::instance());
//   if (Status s = minter.load(); !s) log::warning(...);  // keeps running
//   auto token = minter.mint("alice@alpha.test", "beta.test", 7 * 86400);
// DESCRIPTION
//   The key file is written by mtepd on its first start, or by
//   "mtepctl key rotate"; the milter may well start first. Instead of
//   refusing to start, mtep-milter runs without keys: every outbound
//   message whose sender gets a token is then tempfailed (451 4.3.0, the
//   session's answer to a minting failure) and inbound checking works as
//   usual. While no key ring is loaded, mint() tries to load the file again
//   at most once every kRetrySeconds; once loaded, verify::RingMinter
//   follows the file's rotations by itself.
//   Thread-safe: the loaded minter is set once, under the mutex, and never
//   replaced; RingMinter is thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "milter/verifier.h"
#include "util/clock.h"
#include "util/result.h"
#include "verify/minter.h"

namespace mtep::milterd {

class DeferredMinter final : public milter::TokenMinter {
 public:
  static constexpr int64_t kRetrySeconds = 10;

  // `clock` must outlive the minter.
  DeferredMinter(std::string key_file, const Clock& clock);
  // Loads the key file now (at start-up, as root). Its error says why not.
  Status load();
  Result<std::string> mint(std::string_view sender_canonical, std::string_view recipient_domain,
                           int64_t ttl) override;
  const std::string& keyFile() const { return key_file_; }
  // The key ring in use, or kTemporary while there is none (submission
  // tokens are signed with the same keys).
  Result<std::shared_ptr<const token::KeyRing>> ring();

 private:
  // The loaded minter, or null; retries when due. Logs the transition.
  verify::RingMinter* current();

  const std::string key_file_;
  const Clock& clock_;
  std::mutex mu_;                               // guards the three below
  std::unique_ptr<verify::RingMinter> minter_;  // guarded by mu_; set once
  int64_t next_try_ = 0;                        // guarded by mu_; clock seconds
  std::string last_error_;                      // guarded by mu_
};

}  // namespace mtep::milterd
