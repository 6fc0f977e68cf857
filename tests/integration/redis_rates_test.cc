// store::RedisRates (lib/store/redis_rates.h) on a real redis-server: the
// two-window estimate on Redis's clock, all keys of a check counted or
// none, the absolute expiry, the prefix, the script loaded again after
// SCRIPT FLUSH, and the faults (stopped, full) as kTemporary.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "redis_harness.h"
#include "store/redis_rates.h"

namespace mtep::itest {
namespace {

using store::RateRequest;
using store::RateVerdict;
using store::RedisRates;
using Kind = RateVerdict::Kind;

class RedisRatesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.start()); }

  store::RedisOptions options(const std::string& prefix = "t:") const {
    store::RedisOptions o;
    o.server = {"127.0.0.1", redis_.port()};
    o.timeout_ms = 300;
    o.prefix = prefix;
    return o;
  }
  // Redis's TIME, seconds.
  int64_t redisNow() const {
    RunResult r = redis_.cli({"TIME"});
    return std::stoll(r.out.substr(0, r.out.find('\n')));
  }
  static RateVerdict one(RedisRates& rates, const RateRequest& r) {
    auto v = rates.checkAndCount({r});
    EXPECT_EQ(v.size(), 1u);
    return v.empty() ? RateVerdict{} : v[0];
  }

  RedisServer redis_;
};

TEST_F(RedisRatesTest, CountsUpToTheLimitThenRefusesWithoutCounting) {
  RedisRates rates(options());
  const RateRequest r{{"c:x:192.0.2.1", 3600, 3}};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(one(rates, r).kind, Kind::kUnder) << i;
  RateVerdict over = one(rates, r);
  EXPECT_EQ(over.kind, Kind::kOver);
  EXPECT_EQ(over.over, 0u);
  const int64_t start = redisNow() / 3600 * 3600;
  const std::string hash = "t:rate:3600:" + std::to_string(start);
  EXPECT_EQ(redis_.cli({"HGET", hash, "c:x:192.0.2.1"}).out, "3\n") << "a refused check counted";
  EXPECT_EQ(redis_.cli({"EXPIRETIME", hash}).out, std::to_string(start + 7200) + "\n");
}

TEST_F(RedisRatesTest, AllKeysOfACheckAreCountedOrNone) {
  RedisRates rates(options());
  const RateRequest both{{"c:a", 3600, 10}, {"s:b", 3600, 2}};
  EXPECT_EQ(one(rates, both).kind, Kind::kUnder);
  EXPECT_EQ(one(rates, both).kind, Kind::kUnder);
  RateVerdict v = one(rates, both);
  EXPECT_EQ(v.kind, Kind::kOver);
  EXPECT_EQ(v.over, 1u) << "the sender key is the one over";
  // The client key was not counted by the refused check: 8 more fit.
  const RateRequest client{{"c:a", 3600, 10}};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(one(rates, client).kind, Kind::kUnder) << i;
  EXPECT_EQ(one(rates, client).kind, Kind::kOver);
}

TEST_F(RedisRatesTest, ThePreviousWindowWeighsByItsRemainingOverlap) {
  RedisRates rates(options());
  constexpr int64_t kWindow = 3600;
  int64_t now = redisNow();
  const int64_t start = now / kWindow * kWindow;
  // 100 in the previous window: the estimate is 100 * (1 - elapsed/window).
  ASSERT_EQ(redis_.cli({"HSET", "t:rate:3600:" + std::to_string(start - kWindow), "k", "100"})
                .exit_code,
            0);
  const RateRequest r{{"k", kWindow, 100}};
  int accepted = 0;
  while (one(rates, r).kind == Kind::kUnder && accepted < 200) ++accepted;
  const int64_t after = redisNow();
  // accepted k while 100 * (W - e) / W + k + 1 <= 100.
  const auto expected = [&](int64_t t) {
    const double overlap = static_cast<double>(kWindow - (t - start)) / kWindow;
    int k = 0;
    while (100 * overlap + k + 1 <= 100) ++k;
    return k;
  };
  EXPECT_GE(accepted, expected(now));
  EXPECT_LE(accepted, expected(after));
}

TEST_F(RedisRatesTest, APrefixKeepsCountersApart) {
  RedisRates a(options("a:")), b(options("b:"));
  const RateRequest r{{"k", 3600, 1}};
  EXPECT_EQ(one(a, r).kind, Kind::kUnder);
  EXPECT_EQ(one(a, r).kind, Kind::kOver);
  EXPECT_EQ(one(b, r).kind, Kind::kUnder);
}

TEST_F(RedisRatesTest, TheScriptIsLoadedAgainAfterAFlush) {
  RedisRates rates(options());
  const RateRequest r{{"k", 3600, 5}};
  EXPECT_EQ(one(rates, r).kind, Kind::kUnder);
  ASSERT_EQ(redis_.cli({"SCRIPT", "FLUSH"}).exit_code, 0);
  std::vector<RateRequest> batch(3, r);
  auto v = rates.checkAndCount(batch);
  ASSERT_EQ(v.size(), 3u);
  for (const RateVerdict& x : v) EXPECT_EQ(x.kind, Kind::kUnder) << x.detail;
  EXPECT_EQ(one(rates, r).kind, Kind::kUnder);
  EXPECT_EQ(one(rates, r).kind, Kind::kOver) << "each check counted once";
}

TEST_F(RedisRatesTest, ABatchIsAnsweredInOrder) {
  RedisRates rates(options());
  std::vector<RateRequest> batch;
  for (int i = 0; i < 600; ++i) batch.push_back({{"k" + std::to_string(i % 3), 3600, 1000}});
  batch.push_back({});  // malformed: temporary, and the rest still answered
  auto v = rates.checkAndCount(batch);
  ASSERT_EQ(v.size(), batch.size());
  for (int i = 0; i < 600; ++i) EXPECT_EQ(v[i].kind, Kind::kUnder) << i;
  EXPECT_EQ(v.back().kind, Kind::kTemporary);
  // k0 was counted 200 times.
  std::vector<RateRequest> more{{{"k0", 3600, 300}}};
  EXPECT_EQ(rates.checkAndCount(more)[0].kind, Kind::kUnder);
  EXPECT_EQ(
      redis_.cli({"HGET", "t:rate:3600:" + std::to_string(redisNow() / 3600 * 3600), "k0"}).out,
      "201\n");
}

TEST_F(RedisRatesTest, RequestsOfOneBatchSeeEachOthersCountsAcrossScriptCalls) {
  RedisRates rates(options());
  // More requests than one script call takes, all on one key with a limit
  // that falls in the second call: exactly `limit` pass, in order.
  const uint32_t limit = static_cast<uint32_t>(store::kRequestsPerScript) + 7;
  std::vector<RateRequest> batch(2 * store::kRequestsPerScript, RateRequest{{"hot", 3600, limit}});
  auto v = rates.checkAndCount(batch);
  ASSERT_EQ(v.size(), batch.size());
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i].kind, i < limit ? Kind::kUnder : Kind::kOver) << i << " " << v[i].detail;
  }
}

TEST_F(RedisRatesTest, KeysOfEveryByteAndSeveralWindowsInOneRequest) {
  RedisRates rates(options());
  const std::string odd("c:a b\r\n\0:\xff*?[x]", 15);
  RateRequest r;
  for (size_t i = 0; i < store::kMaxRateKeys; ++i) {
    r.push_back({odd + std::to_string(i), static_cast<int64_t>(60 * (i + 1)), 2});
  }
  EXPECT_EQ(one(rates, r).kind, Kind::kUnder);
  EXPECT_EQ(one(rates, r).kind, Kind::kUnder);
  RateVerdict v = one(rates, r);
  EXPECT_EQ(v.kind, Kind::kOver);
  EXPECT_EQ(v.over, 0u);
  // Each window has its own hash holding its key.
  for (size_t i = 0; i < store::kMaxRateKeys; ++i) {
    const int64_t w = static_cast<int64_t>(60 * (i + 1));
    EXPECT_NE(redis_.cli({"--scan", "--pattern", "t:rate:" + std::to_string(w) + ":*"}).out, "")
        << w;
  }
  // One key more than allowed is malformed: nothing counted.
  RateRequest big = r;
  big.push_back({"k", 60, 5});
  EXPECT_EQ(one(rates, big).kind, Kind::kTemporary);
}

TEST_F(RedisRatesTest, TheHashBeforeThePreviousWindowIsUnlinked) {
  RedisRates rates(options());
  const int64_t start = redisNow() / 3600 * 3600;
  const std::string old = "t:rate:3600:" + std::to_string(start - 7200);
  const std::string previous = "t:rate:3600:" + std::to_string(start - 3600);
  ASSERT_EQ(redis_.cli({"HSET", old, "k", "7"}).exit_code, 0);
  ASSERT_EQ(redis_.cli({"HSET", previous, "other", "7"}).exit_code, 0);
  EXPECT_EQ(one(rates, {{"k", 3600, 5}}).kind, Kind::kUnder);
  EXPECT_EQ(redis_.cli({"EXISTS", old}).out, "0\n") << "the old window was not freed";
  EXPECT_EQ(redis_.cli({"EXISTS", previous}).out, "1\n") << "the previous window is still read";
}

TEST_F(RedisRatesTest, StoppedOrFullRedisIsTemporaryAndCountsNothing) {
  RedisRates rates(options());
  const RateRequest r{{"k", 3600, 5}};
  EXPECT_EQ(one(rates, r).kind, Kind::kUnder);
  ASSERT_EQ(redis_.cli({"CONFIG", "SET", "maxmemory-policy", "noeviction"}).exit_code, 0);
  ASSERT_EQ(redis_.cli({"CONFIG", "SET", "maxmemory", "1"}).exit_code, 0);
  RateVerdict full = one(rates, r);
  EXPECT_EQ(full.kind, Kind::kTemporary);
  EXPECT_NE(full.detail.find("OOM"), std::string::npos) << full.detail;
  ASSERT_EQ(redis_.cli({"CONFIG", "SET", "maxmemory", "0"}).exit_code, 0);
  redis_.stop();
  RateVerdict down = one(rates, r);
  EXPECT_EQ(down.kind, Kind::kTemporary);
  EXPECT_FALSE(down.detail.empty());
  ASSERT_TRUE(redis_.start());
  EXPECT_EQ(one(rates, r).kind, Kind::kUnder) << "dialled again, script loaded again";
}

}  // namespace
}  // namespace mtep::itest
