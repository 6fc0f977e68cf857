// LoginLimiter with a FakeClock: the per-client and per-user limits, the
// window anchored at the first failure, no reset on success, "no limit",
// the cap on counters and which one is evicted.
#include "e2ee/login_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace mtep::e2ee {
namespace {

LoginLimits limits(uint32_t per_client, int64_t client_window, uint32_t per_user,
                   int64_t user_window) {
  LoginLimits l;
  l.per_client = {per_client, client_window};
  l.per_user = {per_user, user_window};
  return l;
}

TEST(LoginLimiter, ClientIsRefusedAfterCountFailuresWhateverTheUser) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(3, 900, 100, 3600);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.check("192.0.2.1", "u" + std::to_string(i), l), LoginVerdict::kAllowed)
        << "failure " << i;
    limiter.recordFailure("192.0.2.1", "u" + std::to_string(i), l);
  }
  EXPECT_EQ(limiter.check("192.0.2.1", "someone-else", l), LoginVerdict::kClientLimited);
  EXPECT_EQ(limiter.check("192.0.2.2", "u0", l), LoginVerdict::kAllowed);
}

TEST(LoginLimiter, UserIsRefusedAfterCountFailuresFromAnyClient) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(100, 900, 2, 3600);
  limiter.recordFailure("192.0.2.1", "alice@alpha.test", l);
  EXPECT_EQ(limiter.check("192.0.2.9", "alice@alpha.test", l), LoginVerdict::kAllowed);
  limiter.recordFailure("198.51.100.7", "alice@alpha.test", l);
  EXPECT_EQ(limiter.check("203.0.113.5", "alice@alpha.test", l), LoginVerdict::kUserLimited);
  EXPECT_EQ(limiter.check("203.0.113.5", "bob@alpha.test", l), LoginVerdict::kAllowed);
}

TEST(LoginLimiter, ClientLimitIsReportedBeforeUserLimit) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(1, 900, 1, 3600);
  limiter.recordFailure("192.0.2.1", "alice", l);
  EXPECT_EQ(limiter.check("192.0.2.1", "alice", l), LoginVerdict::kClientLimited);
}

TEST(LoginLimiter, WindowOpensAtTheFirstFailureAndEndsAfterItsLength) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(2, 900, 0, 0);
  limiter.recordFailure("c", "", l);
  clock.advance(800);
  limiter.recordFailure("c", "", l);
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kClientLimited);
  clock.advance(99);  // 899 s after the first failure
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kClientLimited);
  clock.advance(1);  // 900 s: the window has passed
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kAllowed);
  limiter.recordFailure("c", "", l);  // a new window with one failure
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kAllowed);
  limiter.recordFailure("c", "", l);
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kClientLimited);
}

TEST(LoginLimiter, NothingButTimeClearsACount) {
  // There is no "success" call at all: a right password must not clear
  // the count. The session simply does not record successes.
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(100, 900, 2, 3600);
  limiter.recordFailure("attacker", "alice", l);
  limiter.recordFailure("attacker", "alice", l);
  clock.advance(3599);
  EXPECT_EQ(limiter.check("alice-home", "alice", l), LoginVerdict::kUserLimited);
  clock.advance(1);
  EXPECT_EQ(limiter.check("alice-home", "alice", l), LoginVerdict::kAllowed);
}

TEST(LoginLimiter, CountZeroIsNoLimitAndKeepsNothing) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(0, 0, 0, 0);
  for (int i = 0; i < 50; ++i) limiter.recordFailure("c", "u", l);
  EXPECT_EQ(limiter.check("c", "u", l), LoginVerdict::kAllowed);
  EXPECT_EQ(limiter.clientEntries(), 0u);
  EXPECT_EQ(limiter.userEntries(), 0u);
}

TEST(LoginLimiter, EmptyUserNameIsCountedOnlyPerClient) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(5, 900, 1, 3600);
  limiter.recordFailure("c", "", l);
  EXPECT_EQ(limiter.clientEntries(), 1u);
  EXPECT_EQ(limiter.userEntries(), 0u);
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kAllowed);
}

TEST(LoginLimiter, FullTableEvictsTheCounterWhoseWindowOpenedFirst) {
  FakeClock clock;
  LoginLimiter limiter(clock, 3);
  const LoginLimits l = limits(1, 900, 0, 0);
  limiter.recordFailure("a", "", l);
  clock.advance(1);
  limiter.recordFailure("b", "", l);
  clock.advance(1);
  limiter.recordFailure("c", "", l);
  EXPECT_EQ(limiter.clientEntries(), 3u);
  clock.advance(1);
  limiter.recordFailure("d", "", l);
  EXPECT_EQ(limiter.clientEntries(), 3u);
  EXPECT_EQ(limiter.check("a", "", l), LoginVerdict::kAllowed);  // evicted
  EXPECT_EQ(limiter.check("b", "", l), LoginVerdict::kClientLimited);
  EXPECT_EQ(limiter.check("d", "", l), LoginVerdict::kClientLimited);
}

TEST(LoginLimiter, PassedWindowsAreDroppedWhenNewFailuresArrive) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(5, 60, 5, 60);
  for (int i = 0; i < 100; ++i) limiter.recordFailure("c" + std::to_string(i), "u", l);
  EXPECT_EQ(limiter.clientEntries(), 100u);
  clock.advance(61);
  limiter.recordFailure("fresh", "v", l);
  EXPECT_EQ(limiter.clientEntries(), 1u);
  EXPECT_EQ(limiter.userEntries(), 1u);
}

TEST(LoginLimiter, ManyKeysStayWithinTheCap) {
  FakeClock clock;
  LoginLimiter limiter(clock, 1000);
  const LoginLimits l = limits(5, 3600, 5, 3600);
  for (int i = 0; i < 5000; ++i) {
    limiter.recordFailure("c" + std::to_string(i), "u" + std::to_string(i), l);
  }
  EXPECT_EQ(limiter.clientEntries(), 1000u);
  EXPECT_EQ(limiter.userEntries(), 1000u);
}

}  // namespace
}  // namespace mtep::e2ee
