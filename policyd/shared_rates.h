#pragma once
// NAME
//   shared_rates.h - mtep-policyd's rate gates counted in Redis, in
//   batches, off the event loop
// SUMMARY
//   SharedRates rates(queue, std::make_shared<store::RedisRates>(options), timeout_ms);
//   engine.setSharedRates(true);
//   if (auto now = rates.check(outcome.rates, [handle](policy::RateAnswer a) { ... }))
//     ... decide() again with *now ...          // answered at once (queue full)
// DESCRIPTION
//   With [store] backend "redis" the engine hands each RCPT's rate gates
//   to the caller (policy::RateCheck). One blocking round trip per request
//   would cap the daemon at a few thousand decisions a second and stall
//   the loop, so the checks are batched: check() queues one on the loop
//   thread; while fewer than kMaxInFlight batches are running, the queued
//   checks (at most kMaxBatch of them) go to a worker of `queue` as one
//   job, which sends them as one pipeline of EVALSHAs on a connection of
//   its own (store::RedisRates) and returns every verdict. The
//   completion, on the loop thread, calls each check's `done` in order
//   and sends the next batch. While a batch is out, the requests that
//   arrive wait and form the next one, so the batches grow with the load.
//   Requests that need no rate gate never wait for Redis: a slow or
//   paused Redis delays only the rate checks.
//   Limits, so that a stalled Redis never holds requests for long:
//   - over kMaxPending checks waiting: check() answers kTemporary at once
//     (451 4.3.0, detail="too many rate checks waiting");
//   - a check that has waited longer than timeout_ms for its batch to be
//     sent is answered kTemporary when the batch ahead of it comes back;
//   - each batch is bounded by redis_timeout_ms (store::RedisRates): a
//     request's answer comes within about three times redis_timeout_ms
//     in the worst case (the batch ahead, a dial, its own batch).
//   A failed connection is dialled again by the next batch; the process
//   logs one line when Redis goes away and one when it is back
//   (store::noteRedisDown/Up). `rates` null (the redis_ options could not
//   be read): every check is kTemporary.
// SEE ALSO
//   lib/store/redis_rates.h, lib/policy/policy.h (RateCheck, RateAnswer),
//   lib/server/work_queue.h

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "policy/policy.h"
#include "server/work_queue.h"
#include "store/redis_rates.h"

namespace mtep::policyd {

class SharedRates {
 public:
  static constexpr size_t kMaxBatch = 512;     // checks per pipeline
  static constexpr size_t kMaxInFlight = 2;    // batches running at once (the queue's threads)
  static constexpr size_t kMaxPending = 8192;  // checks waiting for a batch

  using Done = std::function<void(policy::RateAnswer)>;  // runs on the loop thread

  // `queue` (kMaxInFlight workers, doing nothing else) must outlive this
  // and be stopped before it is destroyed. Loop thread only.
  SharedRates(server::WorkQueue& queue, std::shared_ptr<store::RedisRates> rates, int timeout_ms,
              std::string unavailable = "");

  // Queues `check`. nullopt: `done` runs later on the loop thread (never
  // from inside this call). An answer: the check was answered at once
  // (too many waiting, no Redis), `done` is dropped.
  std::optional<policy::RateAnswer> check(std::shared_ptr<const policy::RateCheck> check,
                                          Done done);

  size_t pending() const { return pending_.size(); }
  size_t inFlight() const { return in_flight_; }
  uint64_t batchesSent() const { return batches_; }

 private:
  using Steady = std::chrono::steady_clock;
  struct Waiting {
    std::shared_ptr<const policy::RateCheck> check;
    Done done;
    Steady::time_point since;
  };

  void flush();
  void answered(std::deque<Waiting> sent, std::vector<store::RateVerdict> verdicts);
  static policy::RateAnswer temporary(std::string detail);

  server::WorkQueue& queue_;
  std::shared_ptr<store::RedisRates> rates_;  // null: every check tempfails
  std::chrono::milliseconds timeout_;
  std::string unavailable_;  // why rates_ is null
  std::deque<Waiting> pending_;
  size_t in_flight_ = 0;
  uint64_t batches_ = 0;
};

}  // namespace mtep::policyd
