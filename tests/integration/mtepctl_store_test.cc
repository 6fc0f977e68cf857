// mtepctl store migrate and store check, run as the real binary: a SQLite
// store with revocations, spends and values (every kind of namespace) is
// copied into a real redis-server, which a RedisStore then reads; a dry
// run writes nothing; a second run changes nothing; store check answers on
// SQLite and Redis and exits nonzero, naming Redis, when it is stopped.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "redis_harness.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

class MtepctlStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.start());
    db_ = dir_.path() + "/mtep.db";
    writeConfig("sqlite", redis_.port());
  }

  void writeConfig(const std::string& backend, uint16_t redis_port) {
    writeFile(dir_.path() + "/mtep.conf",
              "[global]\nuser = \"\"\nstate_dir = \"" + dir_.path() +
                  "\"\n[store]\nbackend = \"" + backend + "\"\npath = \"" + db_ +
                  "\"\nredis_server = \"127.0.0.1:" + std::to_string(redis_port) +
                  "\"\nredis_timeout_ms = 300\n");
  }

  RunResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {MTEPCTL_PATH, "-c", dir_.path() + "/mtep.conf"});
    return runProgram(args, dir_.path());
  }

  // A SQLite store as a running site leaves it: revocations, spends (one
  // already expired), and values of several namespaces, one never expiring.
  void fillSqlite() {
    auto st = store::SqliteStore::create({.path = db_}, clock_);
    ASSERT_TRUE(st) << st.error().message();
    store::SqliteStore& s = **st;
    now_ = clock_.now();
    ASSERT_TRUE(s.revokeToken("tok-1", now_ + 3600));
    ASSERT_TRUE(s.revokeToken("tok-2", now_ + 7200));
    ASSERT_TRUE(*s.recordOnce("hashcash", "1:20:261205:bob@beta.test::a:1", now_ + 1800));
    ASSERT_TRUE(*s.recordOnce("mmtp-stamp", "s2", now_ + 900));
    ASSERT_TRUE(*s.recordOnce("hashcash", "old", now_ - 10));  // expired: not copied
    ASSERT_TRUE(s.putValue("tlspin", "abc.onion", "fingerprint", 0));
    ASSERT_TRUE(s.putValue("e2ee-user", "alice@alpha.test", "user record", 0));
    ASSERT_TRUE(s.putValue("stoken-perm", "pair", "token", now_ + 86400));
    ASSERT_TRUE(s.putValue("mmtp-box:carol@alpha.test", "m1", std::string("{\"a\":\0}", 7),
                           now_ + 600));
  }

  std::unique_ptr<store::Store> openRedis() {
    store::RedisOptions o;
    o.server = {"127.0.0.1", redis_.port()};
    auto st = store::openRedis(o, clock_);
    EXPECT_TRUE(st) << st.error().message();
    return st ? std::move(*st) : nullptr;
  }

  TempDir dir_;
  RedisServer redis_;
  std::string db_;
  SystemClock clock_;
  int64_t now_ = 0;
};

TEST_F(MtepctlStoreTest, MigrateCopiesEveryKindWithItsExpiryAndIsIdempotent) {
  fillSqlite();
  // store check's own entries (its spends stay for a minute) are not copied.
  ASSERT_EQ(ctl({"store", "check", "--count", "2"}).exit_code, 0);
  RunResult r = ctl({"store", "migrate", "--to", "redis"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("revocations: 2 copied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("spends: 2 copied, 0 already in redis (hashcash 1, mmtp-stamp 1)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("values: 4 copied (e2ee-user 1, mmtp-box:* 1, stoken-perm 1, tlspin 1)"),
            std::string::npos)
      << r.out;

  auto st = openRedis();
  ASSERT_TRUE(st);
  // Spends: refused on Redis now, with SQLite's absolute expiry.
  EXPECT_FALSE(*st->recordOnce("hashcash", "1:20:261205:bob@beta.test::a:1", now_ + 1800));
  EXPECT_FALSE(*st->recordOnce("mmtp-stamp", "s2", now_ + 900));
  EXPECT_TRUE(*st->recordOnce("hashcash", "old", now_ + 60)) << "an expired spend was copied";
  EXPECT_EQ(redis_.cli({"EXPIRETIME", "mtep:once:mmtp-stamp:s2"}).out,
            std::to_string(now_ + 900) + "\n");
  // Revocations, with their expiry as the score.
  auto revoked = st->isTokenRevoked("tok-2");
  ASSERT_TRUE(revoked) << revoked.error().message();
  EXPECT_TRUE(*revoked);
  EXPECT_TRUE(*st->isTokenRevoked("tok-1"));
  EXPECT_FALSE(*st->isTokenRevoked("tok-3"));
  EXPECT_EQ(redis_.cli({"ZSCORE", "mtep:revoked", "tok-1"}).out, std::to_string(now_ + 3600) + "\n");
  // Values of every namespace, bytes as they were, listed and expiring.
  EXPECT_EQ(*st->getValue("tlspin", "abc.onion"), "fingerprint");
  EXPECT_EQ(*st->getValue("e2ee-user", "alice@alpha.test"), "user record");
  EXPECT_EQ(*st->getValue("mmtp-box:carol@alpha.test", "m1"), std::string("{\"a\":\0}", 7));
  auto box = st->listValues("mmtp-box:carol@alpha.test", 10);
  ASSERT_TRUE(box) << box.error().message();
  ASSERT_EQ(box->size(), 1u);
  EXPECT_EQ(redis_.cli({"EXPIRETIME", "mtep:v:stoken-perm:pair"}).out,
            std::to_string(now_ + 86400) + "\n");
  EXPECT_EQ(redis_.cli({"TTL", "mtep:v:tlspin:abc.onion"}).out, "-1\n");

  // Again: the same entries, nothing new. Spends count as already there.
  const std::string keys_before = redis_.cli({"DBSIZE"}).out;
  RunResult again = ctl({"store", "migrate", "--to", "redis"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("spends: 0 copied, 2 already in redis"), std::string::npos) << again.out;
  EXPECT_EQ(redis_.cli({"DBSIZE"}).out, keys_before);
  EXPECT_EQ(*st->getValue("tlspin", "abc.onion"), "fingerprint");
  EXPECT_EQ(redis_.cli({"ZSCORE", "mtep:revoked", "tok-1"}).out, std::to_string(now_ + 3600) + "\n");
}

TEST_F(MtepctlStoreTest, ASpendAlreadyInRedisKeepsItsExpiry) {
  fillSqlite();
  auto st = openRedis();
  ASSERT_TRUE(st);
  ASSERT_TRUE(*st->recordOnce("mmtp-stamp", "s2", now_ + 5000));  // spent at another host
  RunResult r = ctl({"store", "migrate", "--to", "redis"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("spends: 1 copied, 1 already in redis"), std::string::npos) << r.out;
  EXPECT_EQ(redis_.cli({"EXPIRETIME", "mtep:once:mmtp-stamp:s2"}).out,
            std::to_string(now_ + 5000) + "\n");
}

TEST_F(MtepctlStoreTest, DryRunPrintsWhatItWouldCopyAndWritesNothing) {
  fillSqlite();
  RunResult r = ctl({"store", "migrate", "--to", "redis", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dry run: nothing is written"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("revocation tok-1 until "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("spend mmtp-stamp s2 until "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("value tlspin abc.onion (11 bytes) never expires"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("old"), std::string::npos) << "an expired spend is listed:\n" << r.out;
  EXPECT_NE(r.out.find("values: 4 to copy"), std::string::npos) << r.out;
  EXPECT_EQ(redis_.cli({"DBSIZE"}).out, "0\n");
}

TEST_F(MtepctlStoreTest, MigrateNamesWhatFailed) {
  // No SQLite file: nothing to copy, and none is created.
  RunResult none = ctl({"store", "migrate", "--to", "redis"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("sqlite " + db_), std::string::npos) << none.err;
  EXPECT_FALSE(std::filesystem::exists(db_));
  // Redis stopped: the message names it; exit 2.
  fillSqlite();
  redis_.stop();
  RunResult down = ctl({"store", "migrate", "--to", "redis"});
  EXPECT_EQ(down.exit_code, 2) << down.out;
  EXPECT_NE(down.err.find("redis 127.0.0.1:" + std::to_string(redis_.port())), std::string::npos)
      << down.err;
  // Only redis is a target.
  EXPECT_EQ(ctl({"store", "migrate", "--to", "sqlite"}).exit_code, 64);
  // --from-config reads another file.
  writeConfig("sqlite", 1);
  std::filesystem::copy_file(dir_.path() + "/mtep.conf", dir_.path() + "/other.conf");
  ASSERT_TRUE(redis_.start());
  writeConfig("redis", redis_.port());
  RunResult other = ctl({"store", "migrate", "--to", "redis", "--from-config",
                         dir_.path() + "/other.conf", "--dry-run"});
  EXPECT_NE(other.out.find("to: redis 127.0.0.1:1 "), std::string::npos) << other.out;
}

TEST_F(MtepctlStoreTest, CheckAnswersOnSqliteAndRedisAndFailsOnAStoppedRedis) {
  RunResult sqlite = ctl({"store", "check", "--count", "3"});
  ASSERT_EQ(sqlite.exit_code, 0) << sqlite.out << sqlite.err;
  EXPECT_NE(sqlite.out.find("store: sqlite " + db_ + "\n"), std::string::npos) << sqlite.out;
  const std::regex line(R"(round trips: 3 \(.*\): min [0-9.]+ ms, median [0-9.]+ ms, max [0-9.]+ ms)");
  EXPECT_TRUE(std::regex_search(sqlite.out, line)) << sqlite.out;

  writeConfig("redis", redis_.port());
  RunResult redis = ctl({"store", "check"});
  ASSERT_EQ(redis.exit_code, 0) << redis.out << redis.err;
  EXPECT_NE(redis.out.find("store: redis 127.0.0.1:" + std::to_string(redis_.port())),
            std::string::npos)
      << redis.out;
  EXPECT_NE(redis.out.find("round trips: 10 "), std::string::npos) << redis.out;
  // It leaves no value behind (its spends expire within a minute).
  EXPECT_EQ(redis_.cli({"KEYS", "mtep:v:*"}).out.find("mtep:v:"), std::string::npos);

  redis_.stop();
  RunResult down = ctl({"store", "check"});
  EXPECT_EQ(down.exit_code, 2) << down.out;
  EXPECT_NE(down.err.find("redis 127.0.0.1:" + std::to_string(redis_.port())), std::string::npos)
      << down.err;
  EXPECT_NE(down.err.find("refused"), std::string::npos) << down.err;
  EXPECT_EQ(down.err.find('\n'), down.err.size() - 1) << "more than one line:\n" << down.err;
}

}  // namespace
}  // namespace mtep::itest
