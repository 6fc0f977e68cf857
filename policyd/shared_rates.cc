// NAME
//   shared_rates.cc - rate checks batched into Redis pipelines
// DESCRIPTION
//   See shared_rates.h.

#include "shared_rates.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace mtep::policyd {

SharedRates::SharedRates(server::WorkQueue& queue, std::shared_ptr<store::RedisRates> rates,
                         int timeout_ms, std::string unavailable)
    : queue_(queue),
      rates_(std::move(rates)),
      timeout_(std::max(timeout_ms, 1)),
      unavailable_(std::move(unavailable)) {}

policy::RateAnswer SharedRates::temporary(std::string detail) {
  policy::RateAnswer a;
  a.result = policy::RateAnswer::Result::kTemporary;
  a.detail = std::move(detail);
  return a;
}

std::optional<policy::RateAnswer> SharedRates::check(
    std::shared_ptr<const policy::RateCheck> check, Done done) {
  if (!rates_) return temporary(unavailable_.empty() ? "no Redis" : unavailable_);
  if (!check || check->entries.empty()) return temporary("empty rate check");
  if (pending_.size() >= kMaxPending) return temporary("too many rate checks waiting");
  pending_.push_back({std::move(check), std::move(done), Steady::now()});
  flush();
  return std::nullopt;
}

void SharedRates::flush() {
  while (in_flight_ < kMaxInFlight && !pending_.empty()) {
    const size_t n = std::min(pending_.size(), kMaxBatch);
    std::deque<Waiting> sent;
    std::vector<store::RateRequest> batch;
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      Waiting& w = pending_.front();
      store::RateRequest r;
      r.reserve(w.check->entries.size());
      for (const policy::RateCheck::Entry& e : w.check->entries) {
        r.push_back({e.key, e.window, e.limit});
      }
      batch.push_back(std::move(r));
      sent.push_back(std::move(w));
      pending_.pop_front();
    }
    ++in_flight_;
    ++batches_;
    // The job holds plain data and the shared RedisRates; the waiters
    // (sessions' handles) stay in the completion, on the loop thread.
    std::shared_ptr<store::RedisRates> rates = rates_;
    auto waiting = std::make_shared<std::deque<Waiting>>(std::move(sent));
    queue_.submit<std::vector<store::RateVerdict>>(
        [rates, batch = std::move(batch)] { return rates->checkAndCount(batch); },
        [this, waiting](std::vector<store::RateVerdict> verdicts) {
          answered(std::move(*waiting), std::move(verdicts));
        },
        std::vector<store::RateVerdict>{});
  }
}

void SharedRates::answered(std::deque<Waiting> sent, std::vector<store::RateVerdict> verdicts) {
  --in_flight_;
  // Checks that waited too long for a batch: answered now, not sent.
  std::deque<Waiting> stale;
  const Steady::time_point cutoff = Steady::now() - timeout_;
  while (!pending_.empty() && pending_.front().since < cutoff) {
    stale.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  // The next batch goes out before the waiters run: their sessions may
  // queue more checks meanwhile, which then wait for it.
  flush();
  for (size_t i = 0; i < sent.size(); ++i) {
    Waiting& w = sent[i];
    policy::RateAnswer a;
    if (i >= verdicts.size()) {
      a = temporary("rate check failed");
    } else {
      store::RateVerdict& v = verdicts[i];
      switch (v.kind) {
        case store::RateVerdict::Kind::kUnder:
          a.result = policy::RateAnswer::Result::kUnder;
          break;
        case store::RateVerdict::Kind::kOver:
          a.result = policy::RateAnswer::Result::kOver;
          a.gate = v.over < w.check->entries.size() ? w.check->entries[v.over].gate
                                                    : policy::RateCheck::Gate::kClient;
          break;
        case store::RateVerdict::Kind::kTemporary:
          a = temporary(std::move(v.detail));
          break;
      }
    }
    w.done(std::move(a));
  }
  for (Waiting& w : stale) {
    w.done(temporary("waited longer than redis_timeout_ms for Redis"));
  }
}

}  // namespace mtep::policyd
