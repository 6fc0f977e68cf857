#pragma once
// NAME
//   ttl_cache.h - answers kept for a while: expiry by Clock seconds, a size
//   bound that evicts the oldest insert first, thread-safe
// SUMMARY
//   TtlCache<VerifyOutcome> cache(clock);
//   cache.put(key, outcome, ttl_seconds, max_entries);   // ttl or max 0: nothing kept
//   if (cache.get(key, &outcome)) ... outcome.cached == true
// DESCRIPTION
//   The one cache behind VerdictCache (MTEP answers) and KeyCache (sender
//   keys). Outcome needs a bool member `cached`: false as stored, true as
//   returned by get(). put() replaces an entry with the same key; before
//   inserting it drops expired entries at the old end, then the oldest
//   until the new one fits. get() drops an expired entry it meets. One
//   mutex guards everything and is held only inside these calls (never
//   across network I/O by the callers).

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "util/clock.h"

namespace mtep::verify {

template <typename Outcome>
class TtlCache {
 public:
  explicit TtlCache(const Clock& clock) : clock_(clock) {}

  void put(const std::string& key, const Outcome& outcome, int64_t ttl, size_t max_entries) {
    if (ttl <= 0 || max_entries == 0) return;
    const int64_t now = clock_.now();
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) {
      order_.erase(it->second.order);
      map_.erase(it);
    }
    while (!order_.empty()) {
      auto oldest = map_.find(order_.front());
      const bool expired = oldest->second.expires <= now;
      if (!expired && map_.size() < max_entries) break;
      map_.erase(oldest);
      order_.pop_front();
    }
    order_.push_back(key);
    Entry entry{outcome, now + ttl, std::prev(order_.end())};
    entry.outcome.cached = false;
    map_.emplace(key, std::move(entry));
  }

  bool get(const std::string& key, Outcome* out) {
    const int64_t now = clock_.now();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    if (it->second.expires <= now) {
      order_.erase(it->second.order);
      map_.erase(it);
      return false;
    }
    *out = it->second.outcome;
    out->cached = true;
    return true;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }

 private:
  struct Entry {
    Outcome outcome;
    int64_t expires = 0;
    std::list<std::string>::iterator order;
  };
  const Clock& clock_;
  mutable std::mutex mu_;                       // guards map_ and order_
  std::unordered_map<std::string, Entry> map_;  // guarded by mu_
  std::list<std::string> order_;                // guarded by mu_; oldest first
};

}  // namespace mtep::verify
