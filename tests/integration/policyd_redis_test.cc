// NAME
//   policyd_redis_test.cc - two real mtep-policyd sharing one real Redis
//   for rate_limit_client and rate_limit_sender
// DESCRIPTION
//   Each test starts its own redis-server (redis_harness.h) and two
//   mtep-policyd ("mx1", "mx2") with [store] backend "redis": recipients
//   counted at one host are limited at the other, for the client and the
//   sender gate; Redis stopped gives 451 4.3.0 at both and they recover by
//   themselves once it is back (one log line each way); Redis paused
//   tempfails the gated requests within the timeout while a request that
//   needs no rate gate is answered at once; Redis full (maxmemory with
//   noeviction) accepts nothing; a prefix keeps two sites apart; many
//   requests at once on several connections of both hosts get exactly
//   `limit` accepts; a new password at SIGHUP is tried on a worker, so a
//   paused Redis does not stop the loop, and the store keeps the old one.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "policyd_harness.h"
#include "redis_harness.h"

namespace mtep::itest {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// A day's window: a test never sees its window end.
constexpr const char* kGates =
    "[domain.\"beta.test\"]\nrate_limit_client = \"5/1d\"\n\n"
    "[domain.\"gamma.test\"]\nrate_limit_sender = \"4/1d\"\n\n"
    "[domain.\"many.test\"]\nrate_limit_client = \"50/1d\"\n";

std::string storeSection(const RedisServer& redis, const std::string& prefix,
                         int timeout_ms = 300) {
  return "[store]\nbackend = \"redis\"\nredis_server = \"127.0.0.1:" +
         std::to_string(redis.port()) + "\"\nredis_prefix = \"" + prefix +
         "\"\nredis_timeout_ms = " + std::to_string(timeout_ms) + "\n\n";
}

std::string rcptFrom(const std::string& client, const std::string& sender,
                     const std::string& recipient, const std::string& instance) {
  return policyRequest({{"request", "smtpd_access_policy"},
                        {"protocol_state", "RCPT"},
                        {"client_address", client},
                        {"client_port", "40000"},
                        {"sender", sender},
                        {"recipient", recipient},
                        {"instance", instance}});
}

std::string ask(const Policyd& d, const std::string& client, const std::string& sender,
                const std::string& recipient) {
  static std::atomic<int> n{0};
  auto reply = askPolicy(d.port(), rcptFrom(client, sender, recipient, "I." + std::to_string(++n)));
  return reply.value_or("<no reply>");
}

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  const auto until = Steady::now() + limit;
  while (Steady::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

class PolicydRedisTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.start()); }

  // Two hosts on the same Redis (or each its own prefix).
  void startHosts(const std::string& prefix1 = "site:", const std::string& prefix2 = "site:",
                  int timeout_ms = 300) {
    mx1_ = std::make_unique<Policyd>(
        PolicydSettings{.log_level = "info", .extra = storeSection(redis_, prefix1, timeout_ms) +
                                                      kGates});
    mx2_ = std::make_unique<Policyd>(
        PolicydSettings{.log_level = "info", .extra = storeSection(redis_, prefix2, timeout_ms) +
                                                      kGates});
    ASSERT_TRUE(mx1_->start());
    ASSERT_TRUE(mx2_->start());
  }

  std::string logs() const { return mx1_->logText() + "\n---- mx2 ----\n" + mx2_->logText(); }

  RedisServer redis_;
  std::unique_ptr<Policyd> mx1_, mx2_;
};

constexpr const char* kClientOver = "450 4.7.1 Too many recipients at beta.test from 192.0.2.7";
constexpr const char* kSenderOver =
    "450 4.7.1 Too many recipients at gamma.test from sender eve@alpha.test";
constexpr const char* kTempfail = "451 4.3.0 Cannot check the rate limits now; try again later";

TEST_F(PolicydRedisTest, ClientGateCountedAtOneHostIsLimitedAtTheOther) {
  startHosts();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO");
  for (int i = 0; i < 2; ++i) EXPECT_EQ(ask(*mx2_, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO");
  EXPECT_TRUE(startsWith(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test"), kClientOver))
      << logs();
  EXPECT_TRUE(startsWith(ask(*mx2_, "192.0.2.7", "x@other.test", "c@beta.test"), kClientOver));
  EXPECT_TRUE(mx2_->waitForLog("reason=rate-limit-client")) << logs();
  // Another client has its own count; a domain without gates never asks.
  EXPECT_EQ(ask(*mx2_, "192.0.2.8", "a@alpha.test", "b@beta.test"), "DUNNO");
  EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@example.net"), "DUNNO");
  // The counter lives in Redis under the prefix, with an absolute expiry.
  RunResult keys = redis_.cli({"--scan", "--pattern", "site:rate:86400:*"});
  ASSERT_NE(keys.out.find("site:rate:86400:"), std::string::npos) << keys.out << keys.err;
  std::string key = keys.out.substr(0, keys.out.find('\n'));
  EXPECT_EQ(redis_.cli({"HGET", key, "c:beta.test:192.0.2.7"}).out, "5\n");
  const long ttl = std::stol(redis_.cli({"TTL", key}).out);
  EXPECT_GT(ttl, 86400) << "EXPIREAT start + 2 windows";
  EXPECT_LE(ttl, 2 * 86400);
}

TEST_F(PolicydRedisTest, SenderGateCountedAtOneHostIsLimitedAtTheOther) {
  startHosts();
  EXPECT_EQ(ask(*mx1_, "192.0.2.1", "eve@alpha.test", "a@gamma.test"), "DUNNO");
  EXPECT_EQ(ask(*mx2_, "192.0.2.2", "EVE@alpha.test", "b@gamma.test"), "DUNNO");
  EXPECT_EQ(ask(*mx1_, "192.0.2.3", "eve@ALPHA.test", "c@gamma.test"), "DUNNO");
  EXPECT_EQ(ask(*mx2_, "192.0.2.4", "eve@alpha.test", "d@gamma.test"), "DUNNO");
  EXPECT_TRUE(startsWith(ask(*mx1_, "192.0.2.5", "eve@alpha.test", "e@gamma.test"), kSenderOver))
      << logs();
  EXPECT_TRUE(startsWith(ask(*mx2_, "192.0.2.6", "eve@alpha.test", "f@gamma.test"), kSenderOver));
  EXPECT_TRUE(mx1_->waitForLog("reason=rate-limit-sender")) << logs();
  // The null sender is not limited; another sender counts apart.
  EXPECT_EQ(ask(*mx1_, "192.0.2.5", "", "e@gamma.test"), "DUNNO");
  EXPECT_EQ(ask(*mx2_, "192.0.2.5", "zed@alpha.test", "e@gamma.test"), "DUNNO");
}

TEST_F(PolicydRedisTest, RedisStoppedTempfailsAtBothAndTheyRecoverByThemselves) {
  startHosts();
  EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO");
  redis_.stop();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test"), kTempfail) << logs();
    EXPECT_EQ(ask(*mx2_, "192.0.2.7", "a@alpha.test", "b@beta.test"), kTempfail);
  }
  EXPECT_TRUE(mx1_->waitForLog("reason=rate-store-unavailable")) << logs();
  // Requests without a rate gate are answered as ever.
  EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@example.net"), "DUNNO");
  // One warning per host, not one per request.
  EXPECT_EQ(mx1_->countInLog("tempfails until it answers"), 1u) << logs();
  EXPECT_EQ(mx2_->countInLog("tempfails until it answers"), 1u) << logs();

  ASSERT_TRUE(redis_.start());
  EXPECT_TRUE(eventually([&] {
    return ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test") == "DUNNO" &&
           ask(*mx2_, "192.0.2.7", "a@alpha.test", "b@beta.test") == "DUNNO";
  })) << logs();
  EXPECT_TRUE(mx1_->waitForLog("answering again")) << logs();
  EXPECT_TRUE(mx2_->waitForLog("answering again")) << logs();
}

TEST_F(PolicydRedisTest, PausedRedisTempfailsInTimeWhileOtherRequestsAreServed) {
  startHosts("site:", "site:", 1000);
  EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO");
  redis_.pause();
  auto gated = Client::connect(mx1_->port());
  ASSERT_TRUE(gated);
  const auto sent = Steady::now();
  ASSERT_TRUE(gated->send(rcptFrom("192.0.2.7", "a@alpha.test", "b@beta.test", "P.1")));
  // While that one waits on Redis, one that needs no rate gate is answered.
  std::this_thread::sleep_for(50ms);
  const auto t0 = Steady::now();
  EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@example.net"), "DUNNO");
  EXPECT_LT(Steady::now() - t0, 500ms) << "the loop waited on Redis";
  auto reply = readAction(*gated, 5000);
  const auto took = Steady::now() - sent;
  EXPECT_EQ(reply.value_or("<no reply>"), kTempfail) << logs();
  EXPECT_GE(took, 900ms) << "answered before Redis could have";
  EXPECT_LT(took, 3500ms) << "redis_timeout_ms is 1000";
  redis_.resume();
  EXPECT_TRUE(eventually(
      [&] { return ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test") == "DUNNO"; }))
      << logs();
}

TEST_F(PolicydRedisTest, SighupTriesANewPasswordOffTheLoopWhileRedisIsPaused) {
  TempDir dir;
  const std::string pw_file = dir.path() + "/redis.pw";
  std::ofstream(pw_file) << "right-pass\n";
  ASSERT_EQ(redis_.cli({"CONFIG", "SET", "requirepass", "right-pass"}).exit_code, 0);
  // A long redis_timeout_ms: were the new password tried on the loop, the
  // loop would stand still for 20 s while Redis is paused.
  Policyd d(PolicydSettings{
      .log_level = "info",
      .extra = storeSection(redis_, "site:", 20000) + "redis_password_file = \"" + pw_file +
               "\"\n" + kGates});
  ASSERT_TRUE(d.start()) << d.logText();
  EXPECT_EQ(ask(d, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO") << d.logText();
  redis_.pause();
  std::ofstream(pw_file, std::ios::trunc) << "new-pass\n";
  d.signal(SIGHUP);
  EXPECT_TRUE(d.waitForLog("reloaded")) << d.logText();
  // Served while the password check waits on the paused Redis.
  EXPECT_EQ(ask(d, "192.0.2.7", "a@alpha.test", "b@example.net"), "DUNNO") << d.logText();
  redis_.resume();
  EXPECT_TRUE(d.waitForLog("the new password is refused", 20000)) << d.logText();
  EXPECT_EQ(d.logText().find("new-pass"), std::string::npos) << "the password was logged";
  // The store keeps the password it was opened with.
  EXPECT_EQ(ask(d, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO") << d.logText();
}

TEST_F(PolicydRedisTest, FullRedisAcceptsNothing) {
  startHosts();
  EXPECT_EQ(ask(*mx1_, "192.0.2.9", "a@alpha.test", "b@beta.test"), "DUNNO");
  ASSERT_EQ(redis_.cli({"CONFIG", "SET", "maxmemory-policy", "noeviction"}).exit_code, 0);
  ASSERT_EQ(redis_.cli({"CONFIG", "SET", "maxmemory", "1"}).exit_code, 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test"), kTempfail) << logs();
    EXPECT_EQ(ask(*mx2_, "192.0.2.7", "a@alpha.test", "b@beta.test"), kTempfail);
  }
  EXPECT_TRUE(mx1_->waitForLog("OOM")) << logs();
  // 192.0.2.9's count (before Redis was full) is there; 192.0.2.7 has none.
  RunResult keys = redis_.cli({"--scan", "--pattern", "site:rate:*"});
  ASSERT_NE(keys.out, "") << keys.err;
  for (size_t at = 0, end; (end = keys.out.find('\n', at)) != std::string::npos; at = end + 1) {
    const std::string hash = keys.out.substr(at, end - at);
    EXPECT_EQ(redis_.cli({"HEXISTS", hash, "c:beta.test:192.0.2.9"}).out, "1\n") << hash;
    EXPECT_EQ(redis_.cli({"HEXISTS", hash, "c:beta.test:192.0.2.7"}).out, "0\n")
        << hash << ": a full Redis counted something";
  }
  ASSERT_EQ(redis_.cli({"CONFIG", "SET", "maxmemory", "0"}).exit_code, 0);
  EXPECT_EQ(ask(*mx2_, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO");
}

TEST_F(PolicydRedisTest, APrefixKeepsTwoSitesApart) {
  startHosts("site1:", "site2:");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO");
    EXPECT_EQ(ask(*mx2_, "192.0.2.7", "a@alpha.test", "b@beta.test"), "DUNNO");
  }
  EXPECT_TRUE(startsWith(ask(*mx1_, "192.0.2.7", "a@alpha.test", "b@beta.test"), kClientOver));
  EXPECT_TRUE(startsWith(ask(*mx2_, "192.0.2.7", "a@alpha.test", "b@beta.test"), kClientOver));
  EXPECT_NE(redis_.cli({"--scan", "--pattern", "site1:rate:*"}).out, "");
  EXPECT_NE(redis_.cli({"--scan", "--pattern", "site2:rate:*"}).out, "");
}

TEST_F(PolicydRedisTest, ManyConcurrentRequestsGiveExactlyTheLimitAcrossBothHosts) {
  startHosts();
  constexpr int kConnections = 8;  // 4 at each host
  constexpr int kEach = 25;        // 200 requests for a limit of 50
  std::atomic<int> accepted{0}, limited{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, t] {
      const Policyd& d = t % 2 == 0 ? *mx1_ : *mx2_;
      auto c = Client::connect(d.port());
      if (!c) {
        other += kEach;
        return;
      }
      for (int i = 0; i < kEach; ++i) {
        const std::string id = "T" + std::to_string(t) + "." + std::to_string(i);
        if (!c->send(rcptFrom("192.0.2.50", "a@alpha.test", "r@many.test", id))) {
          ++other;
          continue;
        }
        auto reply = readAction(*c);
        if (reply == "DUNNO") {
          ++accepted;
        } else if (startsWith(reply, "450 4.7.1 ")) {
          ++limited;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(accepted.load(), 50) << logs();
  EXPECT_EQ(limited.load(), kConnections * kEach - 50);
  EXPECT_EQ(other.load(), 0);
}

}  // namespace
}  // namespace mtep::itest
