#pragma once
// NAME
//   stamp_checks.h - mtep-policyd's stamp checks and store writes, off the
//   event loop
// SUMMARY
//   StampChecks checks(queue, store);             // store may be null
//   checks.run(outcome.stamps, [handle](policy::StampAnswer a) { ... finishStamps ... });
//   checks.purge();                               // the store's expired entries
// DESCRIPTION
//   Hashing stamps (Argon2id: up to [pow] argon2id_max_memory KiB and
//   argon2id_max_time passes each) and writing the double-spend record
//   (SQLite, which may wait [store] busy_timeout for another writer) would
//   stall every other client of the one event-loop thread. StampChecks
//   runs both on its own work queue, whose workers do nothing else, so a
//   DATA check never delays an RCPT answer, nor the DNS and MTEP lookups
//   of the lookup queue. Its threads: one per core (the work is
//   CPU-bound); their Argon2id hashes share one pow::MemoryBudget of [pow]
//   argon2id_check_memory KiB, so concurrent checks never take more
//   memory than that together. The store is used by one worker at a time
//   (a mutex, held only for the spends and the purge: the hashing runs
//   without it). Completions run on the loop thread, in the order the
//   checks finished.
// SEE ALSO
//   lib/policy/policy.h (StampCheck, runStampCheck, Engine::finishStamps),
//   lib/server/work_queue.h

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "config/config.h"
#include "policy/policy.h"
#include "pow/pow.h"
#include "server/work_queue.h"
#include "store/store.h"

namespace mtep::policyd {

class StampChecks {
 public:
  using Done = std::function<void(policy::StampAnswer)>;  // runs on the loop thread

  // `queue` and `store` (null: every check answers no_store) must outlive
  // this. Loop thread only.
  StampChecks(server::WorkQueue& queue, store::Store* store, const config::PowConfig& pow)
      : queue_(queue), store_(store), memory_(pow.argon2id_check_memory) {}

  // Runs `check` on a worker, then `done` with its answer.
  void run(std::shared_ptr<const policy::StampCheck> check, Done done);
  // Removes the store's expired entries on a worker; logs what it did.
  void purge();
  // A reload.
  void setConfig(const config::PowConfig& pow) { memory_.setCapacity(pow.argon2id_check_memory); }
  // Checks submitted and not answered yet.
  uint64_t inFlight() const { return in_flight_; }

 private:
  server::WorkQueue& queue_;
  store::Store* store_;
  std::mutex store_mu_;        // one worker at a time in store_
  pow::MemoryBudget memory_;   // thread-safe itself
  uint64_t in_flight_ = 0;     // loop thread only
};

}  // namespace mtep::policyd
