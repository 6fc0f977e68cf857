// store::restartNeeded (what SIGHUP reports as needing a restart) and
// store::describe: which [store] keys a reload cannot apply.
#include <gtest/gtest.h>

#include "store/open.h"

namespace mtep::store {
namespace {

TEST(StoreOpen, EveryKeyTheStoreIsOpenedWithNeedsARestart) {
  config::StoreConfig a;
  a.backend = "redis";
  a.redis_password_file = "/etc/mtep/redis.pw";
  EXPECT_FALSE(restartNeeded(a, a));
  struct Change {
    const char* what;
    void (*apply)(config::StoreConfig&);
  };
  const Change changes[] = {
      {"backend", [](config::StoreConfig& c) { c.backend = "sqlite"; }},
      {"redis_server", [](config::StoreConfig& c) { c.redis_server.port = 6380; }},
      {"redis_socket", [](config::StoreConfig& c) { c.redis_socket = "/run/redis.sock"; }},
      {"redis_database", [](config::StoreConfig& c) { c.redis_database = 2; }},
      {"redis_user", [](config::StoreConfig& c) { c.redis_user = "mtep"; }},
      {"redis_password_file", [](config::StoreConfig& c) { c.redis_password_file = "/x"; }},
      {"redis_tls", [](config::StoreConfig& c) { c.redis_tls = true; }},
      {"redis_tls_ca_file", [](config::StoreConfig& c) { c.redis_tls_ca_file = "/ca.pem"; }},
      {"redis_prefix", [](config::StoreConfig& c) { c.redis_prefix = "other:"; }},
      {"redis_timeout_ms", [](config::StoreConfig& c) { c.redis_timeout_ms = 200; }},
      {"redis_sentinels", [](config::StoreConfig& c) { c.redis_sentinels.push_back({"s", 26379}); }},
      {"redis_master_name", [](config::StoreConfig& c) { c.redis_master_name = "m"; }},
  };
  for (const Change& ch : changes) {
    config::StoreConfig b = a;
    ch.apply(b);
    EXPECT_TRUE(restartNeeded(a, b)) << ch.what;
  }
  // With SQLite the redis_ keys are not used: changing them needs nothing.
  config::StoreConfig s;
  config::StoreConfig t = s;
  t.redis_prefix = "other:";
  EXPECT_FALSE(restartNeeded(s, t));
  t.path = "/elsewhere.db";
  EXPECT_TRUE(restartNeeded(s, t));
}

TEST(StoreOpen, DescribeNamesTheBackendAndWhere) {
  config::StoreConfig c;
  c.path = "/var/lib/mtep/mtep.db";
  EXPECT_EQ(describe(c), "sqlite /var/lib/mtep/mtep.db");
  c.backend = "redis";
  c.redis_server = {"10.0.0.5", 6379};
  EXPECT_EQ(describe(c), "redis 10.0.0.5:6379");
  c.redis_sentinels = {{"10.0.0.6", 26379}};
  c.redis_master_name = "mymaster";
  EXPECT_EQ(describe(c), "redis master mymaster (sentinels)");
  // No password file: nothing to compare at SIGHUP.
  EXPECT_EQ(openedPassword(c), "");
}

}  // namespace
}  // namespace mtep::store
