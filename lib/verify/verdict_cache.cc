// VerdictCache: kValid/kRefused outcomes by key, with expiry by Clock
// seconds and a size bound that evicts the oldest insert first.

#include <iterator>

#include "verify/remote_verifier.h"

namespace mtep::verify {

void VerdictCache::put(const std::string& key, const VerifyOutcome& outcome, int64_t ttl,
                       size_t max_entries) {
  if (outcome.kind != VerifyKind::kValid && outcome.kind != VerifyKind::kRefused) return;
  if (ttl <= 0 || max_entries == 0) return;
  const int64_t now = clock_.now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    order_.erase(it->second.order);
    map_.erase(it);
  }
  // Expired entries at the old end go first; then the oldest until it fits.
  while (!order_.empty()) {
    auto oldest = map_.find(order_.front());
    const bool expired = oldest->second.expires <= now;
    if (!expired && map_.size() < max_entries) break;
    map_.erase(oldest);
    order_.pop_front();
  }
  order_.push_back(key);
  Entry entry;
  entry.outcome = outcome;
  entry.outcome.cached = false;
  entry.expires = now + ttl;
  entry.order = std::prev(order_.end());
  map_.emplace(key, std::move(entry));
}

bool VerdictCache::get(const std::string& key, VerifyOutcome* out) {
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

size_t VerdictCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return map_.size();
}

}  // namespace mtep::verify
