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

}  // namespace mtep::store
