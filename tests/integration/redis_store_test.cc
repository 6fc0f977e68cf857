// The Store on a real redis-server (lib/store/redis_store.h): the same
// meaning as SQLite's, shared between "hosts" (stores opened separately),
// and the faults a shared store brings: Redis stopped, restarted, paused,
// full, behind a wrong password or database.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis_harness.h"
#include "store/open.h"
#include "store/redis_store.h"
#include "store/store.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

using namespace std::chrono_literals;
using store::RedisOptions;
using store::Store;

class FixedClock final : public Clock {
 public:
  int64_t now() const override { return now_.load(); }
  std::atomic<int64_t> now_{SystemClock::instance().now()};
};

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.start()); }

  RedisOptions options() const {
    RedisOptions o;
    o.server = {"127.0.0.1", redis_.port()};
    o.timeout_ms = 300;
    return o;
  }

  std::unique_ptr<Store> open(const RedisOptions& o) {
    auto st = store::openRedis(o, clock_);
    EXPECT_TRUE(st) << st.error().message();
    return st ? std::move(*st) : nullptr;
  }
  std::unique_ptr<Store> open() { return open(options()); }

  // Polls `f` for up to 5 s; true once it returned true.
  template <typename F>
  static bool eventually(F f) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      if (f()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  RedisServer redis_;
  SystemClock clock_;
};

TEST_F(RedisStoreTest, ASpendIsRecordedOnceAcrossHosts) {
  auto mx1 = open(), mx2 = open();
  ASSERT_TRUE(mx1 && mx2);
  const int64_t exp = clock_.now() + 3600;
  auto first = mx1->recordOnce("hashcash", "1:20:261204:bob@beta.test::abc:1", exp);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(*first);
  auto again = mx2->recordOnce("hashcash", "1:20:261204:bob@beta.test::abc:1", exp);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again) << "a stamp spent at mx1 was new at mx2";
  // Another namespace, another record.
  EXPECT_TRUE(*mx2->recordOnce("mmtp", "1:20:261204:bob@beta.test::abc:1", exp));
  // Redis keeps the expiry: EXAT, not a TTL counted from now.
  RunResult ttl = redis_.cli({"EXPIRETIME", "mtep:once:hashcash:1:20:261204:bob@beta.test::abc:1"});
  EXPECT_EQ(ttl.out, std::to_string(exp) + "\n");
}

TEST_F(RedisStoreTest, RacingSpendsOfOneStampHaveOneWinner) {
  constexpr int kHosts = 8;
  std::vector<std::unique_ptr<Store>> hosts;
  for (int i = 0; i < kHosts; ++i) hosts.push_back(open());
  for (int round = 0; round < 50; ++round) {
    const std::string stamp = "stamp-" + std::to_string(round);
    std::atomic<int> wins{0}, errors{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kHosts; ++i) {
      threads.emplace_back([&, i] {
        auto r = hosts[i]->recordOnce("hashcash", stamp, clock_.now() + 600);
        if (!r) ++errors;
        else if (*r) ++wins;
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(errors.load(), 0);
    ASSERT_EQ(wins.load(), 1) << "round " << round;
  }
}

TEST_F(RedisStoreTest, ARevocationAtOneHostIsEnforcedAtTheOther) {
  auto mx1 = open(), mx2 = open();
  ASSERT_TRUE(mx1 && mx2);
  auto before = mx2->isTokenRevoked("tok-1");
  ASSERT_TRUE(before) << before.error().message();
  EXPECT_FALSE(*before);
  ASSERT_TRUE(mx1->revokeToken("tok-1", clock_.now() + 3600));
  EXPECT_TRUE(*mx1->isTokenRevoked("tok-1")) << "a store's own revocation counts at once";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] {
    auto r = mx2->isTokenRevoked("tok-1");
    return r && *r;
  })) << "mx2 never saw mx1's revocation";
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::cout << "revocation seen at the other host after " << ms.count() << " ms\n";
  EXPECT_FALSE(*mx2->isTokenRevoked("tok-2"));
  // Expired revocations are no longer revocations, and are purged.
  ASSERT_TRUE(mx1->revokeToken("old", clock_.now() - 1));
  EXPECT_FALSE(*mx1->isTokenRevoked("old"));
  auto purged = mx1->purgeExpired();
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 1u);
}

TEST_F(RedisStoreTest, ValuesMeanWhatTheyMeanOnSqlite) {
  auto st = open();
  ASSERT_TRUE(st);
  const int64_t now = clock_.now();
  ASSERT_TRUE(st->putValue("pins", "b.example", "fp-b", 0));
  ASSERT_TRUE(st->putValue("pins", "a.example", "fp-a", now + 3600));
  ASSERT_TRUE(st->putValue("pins", "c.example", std::string("bin\0ary", 7), 0));
  ASSERT_TRUE(st->putValue("pins", "gone.example", "x", now - 5));  // already expired
  ASSERT_TRUE(st->putValue("users", "a.example", "not a pin", 0));
  EXPECT_EQ(*st->getValue("pins", "a.example"), "fp-a");
  EXPECT_EQ(st->getValue("pins", "gone.example").error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(st->getValue("pins", "nobody").error().kind(), ErrorKind::kNotFound);
  auto all = st->listValues("pins", 100);
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0], (std::pair<std::string, std::string>{"a.example", "fp-a"}));
  EXPECT_EQ((*all)[1].first, "b.example");
  EXPECT_EQ((*all)[2].second, std::string("bin\0ary", 7));
  EXPECT_EQ(st->listValues("pins", 2)->size(), 2u);
  ASSERT_TRUE(st->putValue("pins", "b.example", "fp-b2", 0));  // replaced
  EXPECT_EQ(*st->getValue("pins", "b.example"), "fp-b2");
  auto stats = st->statValues("pins");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->count, 3u);
  EXPECT_TRUE(*st->eraseValue("pins", "a.example"));
  EXPECT_FALSE(*st->eraseValue("pins", "a.example"));
  EXPECT_EQ(st->listValues("pins", 100)->size(), 2u);
  // A value Redis expired leaves the listing too.
  redis_.cli({"DEL", "mtep:v:pins:b.example"});
  EXPECT_EQ(st->listValues("pins", 100)->size(), 1u);
  EXPECT_EQ(redis_.cli({"ZCARD", "mtep:i:pins"}).out, "1\n") << "the stale index entry stayed";
}

TEST_F(RedisStoreTest, ListingManyValuesCrossesBatches) {
  auto st = open();
  ASSERT_TRUE(st);
  for (int i = 0; i < 600; ++i) {
    char k[16];
    std::snprintf(k, sizeof k, "k%04d", i);
    ASSERT_TRUE(st->putValue("mbox", k, std::to_string(i), 0));
  }
  auto all = st->listValues("mbox", 1000);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 600u);
  EXPECT_EQ(all->front().first, "k0000");
  EXPECT_EQ(all->back().first, "k0599");
  EXPECT_EQ(st->listValues("mbox", 300)->size(), 300u);
}

TEST_F(RedisStoreTest, PrefixesKeepTwoSuitesApart) {
  RedisOptions a = options(), b = options();
  a.prefix = "siteA:";
  b.prefix = "siteB:";
  auto sa = open(a), sb = open(b);
  ASSERT_TRUE(sa && sb);
  EXPECT_TRUE(*sa->recordOnce("hashcash", "s", clock_.now() + 60));
  EXPECT_TRUE(*sb->recordOnce("hashcash", "s", clock_.now() + 60));
  ASSERT_TRUE(sa->putValue("pins", "x", "A", 0));
  EXPECT_EQ(sb->getValue("pins", "x").error().kind(), ErrorKind::kNotFound);
}

TEST_F(RedisStoreTest, UnixSocket) {
  RedisOptions o = options();
  o.socket = redis_.socketPath();
  o.server = {"127.0.0.1", 1};  // not used
  auto st = open(o);
  ASSERT_TRUE(st);
  EXPECT_TRUE(*st->recordOnce("hashcash", "via-socket", clock_.now() + 60));
  EXPECT_EQ(redis_.cli({"EXISTS", "mtep:once:hashcash:via-socket"}).out, "1\n");
}

// --- faults -------------------------------------------------------------------

TEST_F(RedisStoreTest, StoppedRedisTempfailsEverythingThenComesBack) {
  auto st = open();
  ASSERT_TRUE(st);
  ASSERT_TRUE(*st->recordOnce("hashcash", "before", clock_.now() + 600));
  ASSERT_FALSE(*st->isTokenRevoked("tok"));
  ASSERT_TRUE(st->revokeToken("tok", clock_.now() + 600));
  redis_.kill();
  auto spend = st->recordOnce("hashcash", "during", clock_.now() + 600);
  ASSERT_FALSE(spend);
  EXPECT_EQ(spend.error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(st->putValue("pins", "x", "y", 0).error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(st->getValue("pins", "x").error().kind(), ErrorKind::kTemporary);
  EXPECT_FALSE(store::redisReachable());
  // The revocation list is trusted for a second, then nothing passes.
  EXPECT_TRUE(eventually([&] {
    auto r = st->isTokenRevoked("other");
    return !r && r.error().kind() == ErrorKind::kTemporary;
  })) << "token checks went on answering from an unconfirmed list";
  // Back (an empty Redis: no persistence here): the same store reconnects.
  ASSERT_TRUE(redis_.start());
  EXPECT_TRUE(eventually([&] {
    auto r = st->recordOnce("hashcash", "after", clock_.now() + 600);
    return r && *r;
  }));
  EXPECT_TRUE(store::redisReachable());
  EXPECT_TRUE(eventually([&] { return static_cast<bool>(st->isTokenRevoked("other")); }));
}

TEST_F(RedisStoreTest, RestartWithPersistenceLosesNoSpend) {
  redis_.stop();
  ASSERT_TRUE(redis_.start({"--appendonly", "yes", "--appendfsync", "always"}));
  auto st = open();
  ASSERT_TRUE(st);
  ASSERT_TRUE(*st->recordOnce("hashcash", "kept", clock_.now() + 600));
  redis_.stop();
  ASSERT_TRUE(redis_.start({"--appendonly", "yes", "--appendfsync", "always"}));
  bool answered = false;
  EXPECT_TRUE(eventually([&] {
    auto r = st->recordOnce("hashcash", "kept", clock_.now() + 600);
    if (!r) return false;
    answered = true;
    EXPECT_FALSE(*r) << "a spend recorded before the restart was new after it";
    return true;
  }));
  EXPECT_TRUE(answered);
}

TEST_F(RedisStoreTest, PausedRedisTimesOutInsteadOfHanging) {
  auto st = open();
  ASSERT_TRUE(st);
  ASSERT_TRUE(*st->recordOnce("hashcash", "one", clock_.now() + 600));
  redis_.pause();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = st->recordOnce("hashcash", "two", clock_.now() + 600);
  const auto took = std::chrono::steady_clock::now() - t0;
  redis_.resume();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_LT(took, 30s) << "hung on a paused Redis";
  EXPECT_TRUE(eventually([&] { return static_cast<bool>(st->recordOnce("hashcash", "three", clock_.now() + 600)); }));
}

TEST_F(RedisStoreTest, FullRedisRefusesNewSpends) {
  auto st = open();
  ASSERT_TRUE(st);
  ASSERT_TRUE(redis_.cli({"CONFIG", "SET", "maxmemory-policy", "noeviction"}).exit_code == 0);
  ASSERT_TRUE(redis_.cli({"CONFIG", "SET", "maxmemory", "1"}).exit_code == 0);
  auto r = st->recordOnce("hashcash", "when-full", clock_.now() + 600);
  ASSERT_FALSE(r) << "a spend was accepted as new while Redis refused writes";
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(r.error().message().find("OOM"), std::string::npos) << r.error().message();
  EXPECT_EQ(st->revokeToken("t", clock_.now() + 60).error().kind(), ErrorKind::kTemporary);
  redis_.cli({"CONFIG", "SET", "maxmemory", "0"});
  EXPECT_TRUE(*st->recordOnce("hashcash", "when-full", clock_.now() + 600));
}

TEST_F(RedisStoreTest, WrongPasswordUnknownUserAndDatabaseRefuseToStart) {
  redis_.stop();
  ASSERT_TRUE(redis_.start({"--requirepass", "right-pass"}));
  RedisOptions o = options();
  auto none = store::openRedis(o, clock_);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::kConfig) << none.error().message();
  o.password = "wrong-pass";
  auto wrong = store::openRedis(o, clock_);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind(), ErrorKind::kConfig) << wrong.error().message();
  EXPECT_EQ(wrong.error().message().find("wrong-pass"), std::string::npos) << "the password was logged";
  o.password = "right-pass";
  EXPECT_TRUE(open(o));
  // An ACL user.
  ASSERT_EQ(redis_.cli({"ACL", "SETUSER", "mtep", "on", ">user-pass", "~*", "+@all"}, "right-pass")
                .exit_code,
            0);
  o.user = "mtep";
  o.password = "user-pass";
  EXPECT_TRUE(open(o));
  o.password = "right-pass";
  auto bad_user = store::openRedis(o, clock_);
  ASSERT_FALSE(bad_user);
  EXPECT_EQ(bad_user.error().kind(), ErrorKind::kConfig);
  o.user.clear();
  o.database = 99999;
  auto db = store::openRedis(o, clock_);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().kind(), ErrorKind::kConfig) << db.error().message();
}

TEST_F(RedisStoreTest, ARedisNotYetUpAtStartIsWaitedFor) {
  redis_.stop();
  auto st = store::openRedis(options(), clock_);
  ASSERT_TRUE(st) << "start-up refused for a Redis that is merely down";
  EXPECT_EQ((*st)->recordOnce("hashcash", "x", clock_.now() + 60).error().kind(),
            ErrorKind::kTemporary);
  ASSERT_TRUE(redis_.start());
  EXPECT_TRUE(eventually([&] { return static_cast<bool>((*st)->recordOnce("hashcash", "x", clock_.now() + 60)); }));
}

TEST_F(RedisStoreTest, ConfigOpensRedisWithThePasswordFromItsFile) {
  redis_.stop();
  ASSERT_TRUE(redis_.start({"--requirepass", "file-pass"}));
  config::StoreConfig cfg;
  cfg.backend = "redis";
  cfg.redis_server = {"127.0.0.1", redis_.port()};
  cfg.redis_password_file = redis_.dir() + "/pw";
  {
    std::ofstream(cfg.redis_password_file) << "file-pass\n";
  }
  auto st = store::open(cfg, clock_);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_STREQ((*st)->backendName(), "redis");
  EXPECT_TRUE(*(*st)->recordOnce("hashcash", "cfg", clock_.now() + 60));
  cfg.redis_password_file = redis_.dir() + "/missing";
  auto missing = store::open(cfg, clock_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(missing.error().message().find("redis_password_file"), std::string::npos);
}

}  // namespace
}  // namespace mtep::itest
