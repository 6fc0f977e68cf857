#pragma once
// NAME
//   open.h - open the store the configuration names
// SUMMARY
//   auto st = store::open(cfg->store, SystemClock::instance());
// DESCRIPTION
//   The one place that maps [store] to a backend, so every binary opens the
//   same store the same way. backend "sqlite" opens store.path with
//   store.busy_timeout; backend "redis" connects with the redis_ keys (the
//   password read from redis_password_file here, at each open: a reload
//   reads it again). A backend this build does not have is kConfig.
//   A daemon opens its store once: SIGHUP does not reopen it. On SIGHUP it
//   calls restartNeeded() (the [store] keys differ: the daemon warns that
//   a restart applies them) and reviewPassword(), which reads
//   redis_password_file again and, when it holds another password than the
//   store was opened with, tries it on Redis and logs one line saying
//   whether a restart would work; the running store keeps the old one.

#include <memory>

#include <string>

#include "config/config.h"
#include "store/redis_connection.h"
#include "store/store.h"
#include "util/clock.h"

namespace mtep::store {

Result<std::unique_ptr<Store>> open(const config::StoreConfig& cfg, const Clock& clock);
// [store]'s redis_ keys as connection options (kConfig: the password file).
Result<RedisOptions> redisOptions(const config::StoreConfig& cfg);
// For logs and messages: "sqlite /var/lib/mtep/mtep.db", "redis 10.0.0.5:6379".
std::string describe(const config::StoreConfig& cfg);

// The password a store opened with `cfg` uses ("" for SQLite, no file, or
// a file that cannot be read), for reviewPassword() at the next SIGHUP.
std::string openedPassword(const config::StoreConfig& cfg);
// True when a key the store is opened with differs (a restart applies it).
bool restartNeeded(const config::StoreConfig& current, const config::StoreConfig& next);
// SIGHUP with backend "redis" and the same keys: reads next's password
// file; when it cannot be read, or holds a password other than `opened`,
// logs one line (an error when the file is unreadable or Redis refuses the
// new password, naming the file and Redis's reason; a notice when Redis
// accepts it and a restart would apply it). Waits up to redis_timeout_ms
// for Redis. Changes nothing.
void reviewPassword(const config::StoreConfig& next, const std::string& opened,
                    const char* daemon);

}  // namespace mtep::store
