// Failed-login counters per client address and per user name; see
// login_limiter.h.
#include "e2ee/login_limiter.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>

#include "net/cidr.h"

namespace mtep::e2ee {

LoginLimiter::LoginLimiter(const Clock& clock, size_t max_entries)
    : clock_(clock), clients_(std::max<size_t>(1, max_entries)),
      accounts_(std::max<size_t>(1, max_entries)),
      unknown_users_(std::max<size_t>(1, max_entries)) {}

std::string LoginLimiter::clientKey(std::string_view client) {
  // A scope ("fe80::1%eth0") is not part of the address.
  const std::string_view address = client.substr(0, client.find('%'));
  auto ip = net::IpAddress::parse(address);
  if (!ip) return std::string(client);
  net::IpAddress a = ip->unmapped();
  if (a.family != AF_INET6) return a.toString();
  std::fill(a.bytes.begin() + 8, a.bytes.end(), uint8_t{0});
  return a.toString() + "/64";
}

LoginVerdict LoginLimiter::check(std::string_view client, std::string_view user,
                                 const LoginLimits& limits) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.now();
  if (clients_.over(clientKey(client), limits.per_client, now)) {
    return LoginVerdict::kClientLimited;
  }
  if (!user.empty()) {
    // Both tables: the answer must not depend on whether the name has an
    // account (and a name may gain one while its count runs).
    const bool a = accounts_.over(user, limits.per_user, now);
    const bool u = unknown_users_.over(user, limits.per_user, now);
    if (a || u) return LoginVerdict::kUserLimited;
  }
  return LoginVerdict::kAllowed;
}

void LoginLimiter::recordFailure(std::string_view client, std::string_view user,
                                 const LoginLimits& limits, Account account) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.now();
  clients_.add(clientKey(client), limits.per_client, now);
  if (user.empty()) return;
  (account == Account::kExists ? accounts_ : unknown_users_).add(user, limits.per_user, now);
}

bool LoginLimiter::Table::over(std::string_view key, const config::RateLimit& limit,
                               int64_t now) {
  if (!limit.enabled()) return false;
  const auto it = map_.find(std::string(key));
  if (it == map_.end()) return false;
  if (it->second.ends <= now) {
    erase(it);
    return false;
  }
  return it->second.failures >= limit.count;
}

void LoginLimiter::Table::add(std::string_view key, const config::RateLimit& limit,
                              int64_t now) {
  if (!limit.enabled()) return;
  dropExpired(now);
  auto it = map_.find(std::string(key));
  if (it != map_.end() && it->second.ends <= now) {
    erase(it);
    it = map_.end();
  }
  if (it == map_.end()) {
    while (map_.size() >= max_entries_ && !order_.empty()) {
      const auto oldest = map_.find(order_.front());  // the earliest window goes
      if (oldest == map_.end()) {
        order_.pop_front();
      } else {
        erase(oldest);
      }
    }
    order_.emplace_back(key);
    Entry e;
    e.ends = now + std::max<int64_t>(1, limit.window);
    e.pos = std::prev(order_.end());
    it = map_.emplace(order_.back(), e).first;
  }
  if (it->second.failures < UINT32_MAX) ++it->second.failures;
}

void LoginLimiter::Table::dropExpired(int64_t now) {
  // Windows open in order_'s order; with one window length they also end
  // in that order. After a change of length some passed ones may stay
  // behind a live one until over() meets them or they are evicted.
  while (!order_.empty()) {
    const auto it = map_.find(order_.front());
    if (it == map_.end() || it->second.ends > now) break;
    erase(it);
  }
}

void LoginLimiter::Table::erase(std::unordered_map<std::string, Entry>::iterator it) {
  if (it == map_.end()) return;
  order_.erase(it->second.pos);
  map_.erase(it);
}

}  // namespace mtep::e2ee
