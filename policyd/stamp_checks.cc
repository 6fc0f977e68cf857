// NAME
//   stamp_checks.cc - stamp checks and store writes on their own work queue
// DESCRIPTION
//   See stamp_checks.h.

#include "stamp_checks.h"

#include <utility>

#include "util/log.h"

namespace mtep::policyd {

void StampChecks::run(std::shared_ptr<const policy::StampCheck> check, Done done) {
  ++in_flight_;
  store::Store* store = store_;
  std::mutex* mu = &store_mu_;
  pow::MemoryBudget* memory = &memory_;
  // The job holds the check (plain data) and pointers that outlive the
  // queue; the completion stays on the loop thread.
  policy::StampAnswer failed;  // answers for nobody: finishStamps() tempfails
  queue_.submit<policy::StampAnswer>(
      [check, store, mu, memory] { return policy::runStampCheck(*check, store, memory, mu); },
      [this, done = std::move(done)](policy::StampAnswer answer) {
        --in_flight_;
        done(std::move(answer));
      },
      std::move(failed));
}

void StampChecks::purge() {
  if (store_ == nullptr) return;
  store::Store* store = store_;
  std::mutex* mu = &store_mu_;
  queue_.submit([store, mu] {
    std::lock_guard<std::mutex> lock(*mu);
    auto purged = store->purgeExpired();
    if (!purged) {
      log::warning("store purge failed: %s", purged.error().message().c_str());
    } else if (*purged > 0) {
      log::info("store: purged %llu expired entries", static_cast<unsigned long long>(*purged));
    }
  }, [] {});
}

}  // namespace mtep::policyd
