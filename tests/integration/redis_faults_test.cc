// The Redis store against the faults of a real deployment (issue 16): a
// Sentinel failover (master, replica and sentinel are real redis-server
// processes; the master is killed), and TLS to a redis-server built with
// it (right CA, wrong CA). The Store is opened once and never reopened.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis_harness.h"
#include "store/redis_store.h"
#include "store/store.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

using namespace std::chrono_literals;
using store::RedisOptions;
using store::Store;

// Polls `f` until it returns true or `limit` passes.
template <typename F>
bool eventually(F f, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// --- Sentinel -------------------------------------------------------------

TEST(RedisSentinelTest, TheStoreFollowsAFailoverWithoutReopening) {
  RedisServer master, replica, sentinel;
  ASSERT_TRUE(master.start());
  ASSERT_TRUE(replica.start({"--replicaof", "127.0.0.1", std::to_string(master.port())}));
  // Quorum 1, the master down after 500 ms unanswered: the failover comes
  // within a couple of seconds of the kill.
  ASSERT_TRUE(sentinel.startSentinel(
      "sentinel monitor mtepm 127.0.0.1 " + std::to_string(master.port()) +
      " 1\n"
      "sentinel down-after-milliseconds mtepm 500\n"
      "sentinel failover-timeout mtepm 5000\n"));
  // The sentinel learns of the replica from the master's INFO.
  ASSERT_TRUE(eventually(
      [&] {
        RunResult r = sentinel.cli({"SENTINEL", "REPLICAS", "mtepm"});
        return r.out.find(std::to_string(replica.port())) != std::string::npos;
      },
      15s))
      << "the sentinel never saw the replica: " << readFile(sentinel.dir() + "/redis.log");
  // The replica in sync with the master (its first full sync done), so
  // the writes below reach it by the replication stream; on busy cores
  // the full sync alone can take seconds.
  ASSERT_TRUE(eventually(
      [&] {
        return replica.cli({"INFO", "replication"}).out.find("master_link_status:up") !=
               std::string::npos;
      },
      30s))
      << "the replica never synced: " << readFile(replica.dir() + "/redis.log");

  SystemClock clock;
  RedisOptions o;
  o.sentinels = {{"127.0.0.1", sentinel.port()}};
  o.master_name = "mtepm";
  o.timeout_ms = 300;
  auto opened = store::openRedis(o, clock);
  ASSERT_TRUE(opened) << opened.error().message();
  Store& st = **opened;

  const int64_t exp = clock.now() + 3600;
  auto spent = st.recordOnce("hashcash", "stamp-before", exp);
  ASSERT_TRUE(spent) << spent.error().message();
  ASSERT_TRUE(*spent);
  ASSERT_TRUE(st.revokeToken("token-before", exp));
  // The replica has both before the master dies (asynchronous
  // replication: a spend the replica never got would be lost, and a stamp
  // spent in that window could pass again; doc/redis.md says so).
  ASSERT_TRUE(eventually(
      [&] {
        return replica.cli({"EXISTS", "mtep:once:hashcash:stamp-before"}).out == "1\n" &&
               replica.cli({"ZSCORE", "mtep:revoked", "token-before"}).out != "\n";
      },
      20s))
      << "the replica never got the writes: " << readFile(replica.dir() + "/redis.log");

  master.kill();
  const auto killed = std::chrono::steady_clock::now();
  // Until the sentinel promotes the replica, spends are temporary errors,
  // never "new"; afterwards the same store object writes to the new master.
  bool followed = eventually(
      [&] {
        auto r = st.recordOnce("hashcash", "stamp-after", exp);
        return r.ok() && *r;
      },
      30s);
  ASSERT_TRUE(followed) << "the store never reached the new master: "
                        << readFile(sentinel.dir() + "/redis.log");
  const auto took = std::chrono::steady_clock::now() - killed;
  EXPECT_EQ(replica.cli({"ROLE"}).out.substr(0, 7), "master\n");
  RecordProperty("failover_ms",
                 std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));

  auto again = st.recordOnce("hashcash", "stamp-before", exp);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_FALSE(*again) << "a stamp spent before the failover was new after it";
  auto twice = st.recordOnce("hashcash", "stamp-after", exp);
  ASSERT_TRUE(twice);
  EXPECT_FALSE(*twice);
  // The revocation list is reloaded from the new master by the store's own
  // thread: the old revocation still holds, a new one is seen.
  ASSERT_TRUE(st.revokeToken("token-after", exp));
  EXPECT_TRUE(eventually(
      [&] {
        auto a = st.isTokenRevoked("token-before");
        auto b = st.isTokenRevoked("token-after");
        return a.ok() && *a && b.ok() && *b;
      },
      20s));
  EXPECT_TRUE(st.putValue("tlspin", "x.onion", "fp", 0));
  auto v = st.getValue("tlspin", "x.onion");
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(*v, "fp");
}

// --- TLS ------------------------------------------------------------------

class RedisTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string d = dir_.path();
    // Two CAs; the server's certificate (127.0.0.1 and localhost) from the first.
    for (const std::string& ca : std::vector<std::string>{"ca", "other-ca"}) {
      openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-keyout", d + "/" + ca + ".key", "-out", d + "/" + ca + ".pem", "-days",
               "2", "-subj", "/CN=mtep test " + ca});
    }
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", d + "/server.key", "-out", d + "/server.csr", "-subj", "/CN=127.0.0.1"});
    std::ofstream(d + "/ext.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    openssl({"x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey",
             d + "/ca.key", "-CAcreateserial", "-out", d + "/server.pem", "-days", "2",
             "-extfile", d + "/ext.cnf"});
    if (HasFatalFailure()) return;
    // The key must be readable by redis-server, which runs as us.
    tls_port_ = freeLoopbackPort();
    ::testing::AssertionResult started =
        redis_.start({"--tls-port", std::to_string(tls_port_), "--tls-cert-file",
                      d + "/server.pem", "--tls-key-file", d + "/server.key",
                      "--tls-ca-cert-file", d + "/ca.pem", "--tls-auth-clients", "no"});
    if (!started) {
      const std::string why = started.message();
      // A redis-server built without TLS refuses the tls- directives.
      if (why.find("tls") != std::string::npos &&
          (why.find("Bad directive") != std::string::npos ||
           why.find("not supported") != std::string::npos ||
           why.find("not compiled") != std::string::npos)) {
        GTEST_SKIP() << "redis-server is built without TLS: " << why;
      }
      FAIL() << why;
    }
  }

  void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> all{"/usr/bin/openssl"};
    all.insert(all.end(), args.begin(), args.end());
    RunResult r = runProgram(all, dir_.path());
    ASSERT_EQ(r.exit_code, 0) << "openssl " << args[0] << ": " << r.err;
  }

  RedisOptions options(const std::string& ca) const {
    RedisOptions o;
    o.server = {"127.0.0.1", tls_port_};
    o.tls = true;
    o.tls_ca_file = dir_.path() + "/" + ca;
    o.timeout_ms = 1000;
    return o;
  }

  TempDir dir_;
  RedisServer redis_;
  uint16_t tls_port_ = 0;
  SystemClock clock_;
};

TEST_F(RedisTlsTest, TheRightCaConnectsAndTheStoreWorks) {
  auto st = store::openRedis(options("ca.pem"), clock_);
  ASSERT_TRUE(st) << st.error().message();
  auto spent = (*st)->recordOnce("hashcash", "stamp", clock_.now() + 60);
  ASSERT_TRUE(spent) << spent.error().message();
  EXPECT_TRUE(*spent);
  EXPECT_FALSE(*(*st)->recordOnce("hashcash", "stamp", clock_.now() + 60));
  // It went over TLS: the plain port's Redis holds what the TLS client wrote.
  EXPECT_EQ(redis_.cli({"EXISTS", "mtep:once:hashcash:stamp"}).out, "1\n");
}

TEST_F(RedisTlsTest, AWrongCaRefusesStartUpWithOneClearMessage) {
  auto st = store::openRedis(options("other-ca.pem"), clock_);
  ASSERT_FALSE(st) << "a server certificate from another CA was accepted";
  EXPECT_EQ(st.error().kind(), ErrorKind::kConfig) << st.error().message();
  const std::string& m = st.error().message();
  EXPECT_NE(m.find("127.0.0.1:" + std::to_string(tls_port_)), std::string::npos) << m;
  EXPECT_NE(m.find("TLS"), std::string::npos) << m;
  EXPECT_NE(m.find("redis_tls_ca_file"), std::string::npos) << m;
  // A CA file that is not there: kConfig too, naming the file.
  auto missing = store::openRedis(options("missing.pem"), clock_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(missing.error().message().find("missing.pem"), std::string::npos)
      << missing.error().message();
  // Plain TCP to the TLS port: no answer a client could take for Redis's,
  // so temporary (the store is opened and tempfails), never a pass.
  RedisOptions plain = options("ca.pem");
  plain.tls = false;
  plain.timeout_ms = 300;
  auto p = store::openRedis(plain, clock_);
  ASSERT_TRUE(p) << p.error().message();
  auto spend = (*p)->recordOnce("hashcash", "plain", clock_.now() + 60);
  EXPECT_FALSE(spend.ok());
}

}  // namespace
}  // namespace mtep::itest
