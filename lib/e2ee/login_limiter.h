#pragma once
// NAME
//   login_limiter.h - failed AUTH HASHEDPASS logins counted per client
//   network and per user name, in time windows, with bounded memory
// SUMMARY
//   LoginLimiter limiter(clock);                       // kDefaultMaxEntries per table
//   LoginLimits limits{config.mtepd.auth_failures_per_client,
//                      config.mtepd.auth_failures_per_user};
//   switch (limiter.check("192.0.2.1", "alice@alpha.test", limits)) {
//     case LoginVerdict::kAllowed: ...verify...; if wrong:
//       limiter.recordFailure(client, user, limits, found ? Account::kExists : Account::kUnknown)
//     case LoginVerdict::kClientLimited / kUserLimited: 454 4.7.0
//   }
// DESCRIPTION
//   Counters keyed by client and by user name (as stored: ASCII lower
//   case). A counter's window opens at its first failure and lasts
//   RateLimit::window seconds; the failures inside it are counted, and
//   once `count` of them are reached check() refuses that key until the
//   window has passed; then the counter starts again from zero at the
//   next failure. (A fixed window anchored at the first failure: at most
//   `count` failures per key per window, never 2 * count in a short burst
//   as calendar windows would allow.)
//   The client key is the address for IPv4 (an IPv4-mapped IPv6 address
//   counts as the IPv4 address it carries) and the /64 for IPv6
//   (clientKey()): one IPv6 host usually holds a whole /64, and counting
//   its 2^64 addresses apart would make the per-client limit no limit.
//   Anything that is not a numeric address is its own key.
//   A successful login changes nothing: an attacker who knows one
//   password (or whose address is shared with the user) must not be able
//   to clear the count that protects another account, and a user locked
//   out by someone else's guesses waits for the window like the guesser.
//   A RateLimit with count 0 is no limit: nothing is counted for it.
//   A user name of "" is counted only per client (a name that cannot be a
//   user: there is no account to protect).
//   Memory: three tables (clients, existing accounts, names without an
//   account), each of at most max_entries counters (default
//   kDefaultMaxEntries, about 100 bytes plus the key each, so some tens of
//   MB at worst). Counters whose window has passed are dropped as they
//   are met; when a table is full, the counter in THAT table whose window
//   opened earliest is evicted.
//   Why two user tables: the counter that protects an account must not be
//   flushed by junk. With one table, an attacker guessing alice's password
//   could fail logins for 100000 made-up names (cheap, from many
//   addresses) and push alice's counter, the oldest, out; then guess
//   again. The caller says whether the name has an account (it looks the
//   user up anyway); made-up names go to their own table, so they can only
//   evict each other. Evicting a real account's counter takes failures
//   against more than max_entries REAL accounts within one window. check()
//   looks at both tables, so a limited name is refused whatever table it
//   is in, and the reply does not tell an existing account from a
//   made-up name. What remains: an attacker who floods the made-up-name
//   table (more than max_entries failures in a window) can then see that
//   a name's counter survived, i.e. that it has an account.
//   The client table keeps one eviction order for all: a flood of failures
//   from more than max_entries IPv4 addresses or IPv6 /64s in one window
//   evicts the oldest client counters, and such an attacker gets extra
//   guesses per client; the per-user limit still holds for each account.
//   The alternative, refusing everyone when a table is full, would let
//   the same flood lock out every user.
//   Pure logic: no I/O, time from the Clock. Safe from several threads
//   (mtepd uses it on its event loop thread and, with [store] backend
//   "redis", on the MMTP gateway's worker): one mutex guards the tables.
// SEE ALSO
//   users.h, lib/config/config.h (RateLimit), mtepd(8) "KEY SERVICE"

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.h"
#include "util/clock.h"

namespace mtep::e2ee {

struct LoginLimits {
  config::RateLimit per_client;  // [mtepd] auth_failures_per_client; count 0 = none
  config::RateLimit per_user;    // [mtepd] auth_failures_per_user; count 0 = none
};

// Whether the user name of a failed login has an account (the caller
// looked it up to check the password).
enum class Account {
  kExists,   // counted in the table junk cannot reach
  kUnknown,  // a made-up name: counted apart, evicted only by its like
};

enum class LoginVerdict {
  kAllowed,        // go on and check the password
  kClientLimited,  // too many failures from this client address
  kUserLimited,    // too many failures for this user name
};

class LoginLimiter {
 public:
  static constexpr size_t kDefaultMaxEntries = 100000;  // counters per table

  explicit LoginLimiter(const Clock& clock, size_t max_entries = kDefaultMaxEntries);

  // Whether a login from `client` as `user` may be tried now. The client
  // limit is looked at first.
  LoginVerdict check(std::string_view client, std::string_view user, const LoginLimits& limits);
  // One failed login (wrong user name or password).
  void recordFailure(std::string_view client, std::string_view user, const LoginLimits& limits,
                     Account account);

  // The key `client` (a numeric address as text) is counted under:
  // "192.0.2.1", "2001:db8:1:2::/64"; other text unchanged.
  static std::string clientKey(std::string_view client);

  // Counters held (tests; the log at shutdown).
  size_t clientEntries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return clients_.size();
  }
  size_t userEntries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accounts_.size() + unknown_users_.size();
  }
  size_t accountEntries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accounts_.size();
  }

 private:
  // Counters of one kind, oldest window first in `order_`.
  class Table {
   public:
    explicit Table(size_t max_entries) : max_entries_(max_entries) {}
    bool over(std::string_view key, const config::RateLimit& limit, int64_t now);
    void add(std::string_view key, const config::RateLimit& limit, int64_t now);
    size_t size() const { return map_.size(); }

   private:
    struct Entry {
      int64_t ends = 0;   // Unix seconds: the window is over at this time
      uint32_t failures = 0;
      std::list<std::string>::iterator pos;  // in order_
    };
    void dropExpired(int64_t now);
    void erase(std::unordered_map<std::string, Entry>::iterator it);

    size_t max_entries_;
    std::unordered_map<std::string, Entry> map_;
    std::list<std::string> order_;  // keys, by when their window opened
  };

  const Clock& clock_;
  mutable std::mutex mu_;  // guards the three tables below
  Table clients_;          // by clientKey()
  Table accounts_;         // user names with an account
  Table unknown_users_;    // user names without one
};

}  // namespace mtep::e2ee
