// NAME
//   shared_rates_test.cc - mtep-policyd's rate checks batched for Redis
// DESCRIPTION
//   Without Redis options every check is answered at once (temporary);
//   checks go out at once while fewer than kMaxInFlight batches are out,
//   else wait and leave in batches of at most kMaxBatch, and every one is answered on the loop thread (here by a Redis
//   that refuses connections: temporary, with the reason); over
//   kMaxPending waiting a check is answered at once. The Redis side itself
//   is tested on a real redis-server (tests/integration/redis_rates_test.cc,
//   policyd_redis_test.cc).

#include "shared_rates.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/event_handles.h"
#include "unit/server/loop_helpers.h"

namespace mtep::policyd {
namespace {

using server::testing::runUntil;

// A loopback port nothing listens on (bound, then closed).
uint16_t closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::shared_ptr<const policy::RateCheck> aCheck(int i) {
  auto c = std::make_shared<policy::RateCheck>();
  c->entries.push_back({policy::RateCheck::Gate::kClient, "c::10.0.0." + std::to_string(i), 60, 5});
  return c;
}

class SharedRatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto base = server::makeEventBase();
    ASSERT_TRUE(base);
    base_ = std::move(*base);
    auto q = server::WorkQueue::create(base_.get(), SharedRates::kMaxInFlight);
    ASSERT_TRUE(q);
    queue_ = std::move(*q);
  }
  void TearDown() override {
    if (queue_) queue_->stop();
  }

  std::shared_ptr<store::RedisRates> unreachable() const {
    store::RedisOptions o;
    o.server = {"127.0.0.1", closedPort()};
    o.timeout_ms = 300;
    return std::make_shared<store::RedisRates>(o);
  }

  server::EventBasePtr base_;
  std::unique_ptr<server::WorkQueue> queue_;
};

TEST_F(SharedRatesTest, WithoutRedisEveryCheckIsTemporaryAtOnce) {
  SharedRates rates(*queue_, nullptr, 300, "[store] redis_password_file: cannot be read");
  bool called = false;
  auto now = rates.check(aCheck(1), [&](policy::RateAnswer) { called = true; });
  ASSERT_TRUE(now);
  EXPECT_EQ(now->result, policy::RateAnswer::Result::kTemporary);
  EXPECT_EQ(now->detail, "[store] redis_password_file: cannot be read");
  EXPECT_EQ(rates.pending(), 0u);
  EXPECT_EQ(rates.batchesSent(), 0u);
  EXPECT_FALSE(called);
}

TEST_F(SharedRatesTest, ChecksGoOutInBoundedBatchesAndAllAreAnswered) {
  SharedRates rates(*queue_, unreachable(), 300);
  // The first two go out at once, alone (nothing else waits); the rest
  // wait for them and then leave in batches of at most 512: 512, 512, 174.
  constexpr int kChecks = 1200;
  std::vector<policy::RateAnswer> answers;
  int answered_inline = 0;
  const std::thread::id loop = std::this_thread::get_id();
  bool off_loop = false;
  for (int i = 0; i < kChecks; ++i) {
    auto now = rates.check(aCheck(i), [&](policy::RateAnswer a) {
      off_loop = off_loop || std::this_thread::get_id() != loop;
      answers.push_back(std::move(a));
    });
    if (now) ++answered_inline;
  }
  EXPECT_EQ(answered_inline, 0);
  EXPECT_TRUE(answers.empty()) << "answered from inside check()";
  EXPECT_EQ(rates.inFlight(), SharedRates::kMaxInFlight);
  EXPECT_EQ(rates.batchesSent(), 2u);
  EXPECT_EQ(rates.pending(), kChecks - SharedRates::kMaxInFlight);
  ASSERT_TRUE(runUntil(base_.get(), [&] { return answers.size() == kChecks; }))
      << answers.size() << " answered";
  EXPECT_FALSE(off_loop);
  EXPECT_EQ(rates.batchesSent(), 5u);
  EXPECT_EQ(rates.inFlight(), 0u);
  for (const policy::RateAnswer& a : answers) {
    ASSERT_EQ(a.result, policy::RateAnswer::Result::kTemporary);
    ASSERT_FALSE(a.detail.empty());
  }
}

TEST_F(SharedRatesTest, OverTheWaitingCapAChecksIsTemporaryAtOnce) {
  SharedRates rates(*queue_, unreachable(), 300);
  size_t answered = 0;
  // Two out (one check each), kMaxPending waiting.
  const size_t cap = SharedRates::kMaxInFlight + SharedRates::kMaxPending;
  for (size_t i = 0; i < cap; ++i) {
    ASSERT_FALSE(rates.check(aCheck(1), [&](policy::RateAnswer) { ++answered; })) << i;
  }
  auto now = rates.check(aCheck(1), [&](policy::RateAnswer) { ++answered; });
  ASSERT_TRUE(now);
  EXPECT_EQ(now->result, policy::RateAnswer::Result::kTemporary);
  EXPECT_EQ(now->detail, "too many rate checks waiting");
  ASSERT_TRUE(runUntil(base_.get(), [&] { return answered == cap; }));
}

}  // namespace
}  // namespace mtep::policyd
