// LoginLimiter with a FakeClock: the per-client and per-user limits, the
// window anchored at the first failure, no reset on success, "no limit",
// the cap on counters and which one is evicted; IPv6 clients counted per
// /64; made-up user names cannot evict an account's counter.
#include "e2ee/login_limiter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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
    limiter.recordFailure("192.0.2.1", "u" + std::to_string(i), l, Account::kExists);
  }
  EXPECT_EQ(limiter.check("192.0.2.1", "someone-else", l), LoginVerdict::kClientLimited);
  EXPECT_EQ(limiter.check("192.0.2.2", "u0", l), LoginVerdict::kAllowed);
}

TEST(LoginLimiter, UserIsRefusedAfterCountFailuresFromAnyClient) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(100, 900, 2, 3600);
  limiter.recordFailure("192.0.2.1", "alice@alpha.test", l, Account::kExists);
  EXPECT_EQ(limiter.check("192.0.2.9", "alice@alpha.test", l), LoginVerdict::kAllowed);
  limiter.recordFailure("198.51.100.7", "alice@alpha.test", l, Account::kExists);
  EXPECT_EQ(limiter.check("203.0.113.5", "alice@alpha.test", l), LoginVerdict::kUserLimited);
  EXPECT_EQ(limiter.check("203.0.113.5", "bob@alpha.test", l), LoginVerdict::kAllowed);
}

TEST(LoginLimiter, ClientLimitIsReportedBeforeUserLimit) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(1, 900, 1, 3600);
  limiter.recordFailure("192.0.2.1", "alice", l, Account::kExists);
  EXPECT_EQ(limiter.check("192.0.2.1", "alice", l), LoginVerdict::kClientLimited);
}

TEST(LoginLimiter, WindowOpensAtTheFirstFailureAndEndsAfterItsLength) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(2, 900, 0, 0);
  limiter.recordFailure("c", "", l, Account::kExists);
  clock.advance(800);
  limiter.recordFailure("c", "", l, Account::kExists);
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kClientLimited);
  clock.advance(99);  // 899 s after the first failure
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kClientLimited);
  clock.advance(1);  // 900 s: the window has passed
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kAllowed);
  limiter.recordFailure("c", "", l, Account::kExists);  // a new window with one failure
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kAllowed);
  limiter.recordFailure("c", "", l, Account::kExists);
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kClientLimited);
}

TEST(LoginLimiter, NothingButTimeClearsACount) {
  // There is no "success" call at all: a right password must not clear
  // the count. The session simply does not record successes.
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(100, 900, 2, 3600);
  limiter.recordFailure("attacker", "alice", l, Account::kExists);
  limiter.recordFailure("attacker", "alice", l, Account::kExists);
  clock.advance(3599);
  EXPECT_EQ(limiter.check("alice-home", "alice", l), LoginVerdict::kUserLimited);
  clock.advance(1);
  EXPECT_EQ(limiter.check("alice-home", "alice", l), LoginVerdict::kAllowed);
}

TEST(LoginLimiter, CountZeroIsNoLimitAndKeepsNothing) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(0, 0, 0, 0);
  for (int i = 0; i < 50; ++i) limiter.recordFailure("c", "u", l, Account::kExists);
  EXPECT_EQ(limiter.check("c", "u", l), LoginVerdict::kAllowed);
  EXPECT_EQ(limiter.clientEntries(), 0u);
  EXPECT_EQ(limiter.userEntries(), 0u);
}

TEST(LoginLimiter, EmptyUserNameIsCountedOnlyPerClient) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(5, 900, 1, 3600);
  limiter.recordFailure("c", "", l, Account::kExists);
  EXPECT_EQ(limiter.clientEntries(), 1u);
  EXPECT_EQ(limiter.userEntries(), 0u);
  EXPECT_EQ(limiter.check("c", "", l), LoginVerdict::kAllowed);
}

TEST(LoginLimiter, FullTableEvictsTheCounterWhoseWindowOpenedFirst) {
  FakeClock clock;
  LoginLimiter limiter(clock, 3);
  const LoginLimits l = limits(1, 900, 0, 0);
  limiter.recordFailure("a", "", l, Account::kExists);
  clock.advance(1);
  limiter.recordFailure("b", "", l, Account::kExists);
  clock.advance(1);
  limiter.recordFailure("c", "", l, Account::kExists);
  EXPECT_EQ(limiter.clientEntries(), 3u);
  clock.advance(1);
  limiter.recordFailure("d", "", l, Account::kExists);
  EXPECT_EQ(limiter.clientEntries(), 3u);
  EXPECT_EQ(limiter.check("a", "", l), LoginVerdict::kAllowed);  // evicted
  EXPECT_EQ(limiter.check("b", "", l), LoginVerdict::kClientLimited);
  EXPECT_EQ(limiter.check("d", "", l), LoginVerdict::kClientLimited);
}

TEST(LoginLimiter, PassedWindowsAreDroppedWhenNewFailuresArrive) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(5, 60, 5, 60);
  for (int i = 0; i < 100; ++i)
    limiter.recordFailure("c" + std::to_string(i), "u", l, Account::kExists);
  EXPECT_EQ(limiter.clientEntries(), 100u);
  clock.advance(61);
  limiter.recordFailure("fresh", "v", l, Account::kExists);
  EXPECT_EQ(limiter.clientEntries(), 1u);
  EXPECT_EQ(limiter.userEntries(), 1u);
}

TEST(LoginLimiter, ManyKeysStayWithinTheCap) {
  FakeClock clock;
  LoginLimiter limiter(clock, 1000);
  const LoginLimits l = limits(5, 3600, 5, 3600);
  for (int i = 0; i < 5000; ++i) {
    limiter.recordFailure("c" + std::to_string(i), "u" + std::to_string(i), l, Account::kExists);
  }
  EXPECT_EQ(limiter.clientEntries(), 1000u);
  EXPECT_EQ(limiter.userEntries(), 1000u);
}

TEST(LoginLimiter, ClientKeyIsTheIpv4AddressOrTheIpv6Slash64) {
  struct AddressCase {
    const char* client;
    const char* want;
  };
  for (const AddressCase& c : std::vector<AddressCase>{
           {"192.0.2.1", "192.0.2.1"},
           {"::ffff:192.0.2.1", "192.0.2.1"},
           {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
           {"2001:DB8:1:2::ffff", "2001:db8:1:2::/64"},
           {"2001:db8:1:3::1", "2001:db8:1:3::/64"},
           {"fe80::1%eth0", "fe80::/64"},
           {"::1", "::/64"},
           {"unix:/run/x", "unix:/run/x"},
           {"", ""},
       }) {
    EXPECT_EQ(LoginLimiter::clientKey(c.client), c.want) << "client " << c.client;
  }
}

// One IPv6 host has a /64 to itself: counted per address, every new
// address was a fresh count and the per-client limit no limit at all.
TEST(LoginLimiter, Ipv6ClientsAreCountedPerSlash64) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(3, 900, 0, 0);
  limiter.recordFailure("2001:db8:1:2::1", "", l, Account::kUnknown);
  limiter.recordFailure("2001:db8:1:2::2", "", l, Account::kUnknown);
  limiter.recordFailure("2001:db8:1:2:ffff:ffff:ffff:ffff", "", l, Account::kUnknown);
  EXPECT_EQ(limiter.check("2001:db8:1:2::99", "", l), LoginVerdict::kClientLimited);
  EXPECT_EQ(limiter.check("2001:db8:1:3::1", "", l), LoginVerdict::kAllowed);  // another /64
  EXPECT_EQ(limiter.clientEntries(), 1u);
}

TEST(LoginLimiter, Ipv4ClientsAreCountedPerAddressMappedOrNot) {
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(2, 900, 0, 0);
  limiter.recordFailure("192.0.2.1", "", l, Account::kUnknown);
  limiter.recordFailure("::ffff:192.0.2.1", "", l, Account::kUnknown);
  EXPECT_EQ(limiter.check("192.0.2.1", "", l), LoginVerdict::kClientLimited);
  EXPECT_EQ(limiter.check("192.0.2.2", "", l), LoginVerdict::kAllowed);
}

// The attack: guess alice's password until her counter nearly runs out,
// then fail logins for more made-up names than the table holds (from
// fresh addresses, so no client limit stops it) to push alice's counter,
// the oldest, out of memory; then guess again. Made-up names are counted
// apart and evict only each other.
TEST(LoginLimiter, MadeUpNamesCannotEvictAnAccountsCounter) {
  FakeClock clock;
  LoginLimiter limiter(clock, 100);
  const LoginLimits l = limits(5, 900, 3, 3600);
  for (int i = 0; i < 3; ++i) {
    limiter.recordFailure("198.51.100." + std::to_string(i), "alice@alpha.test", l,
                          Account::kExists);
  }
  EXPECT_EQ(limiter.check("203.0.113.1", "alice@alpha.test", l), LoginVerdict::kUserLimited);
  for (int i = 0; i < 1000; ++i) {
    clock.advance(1);
    limiter.recordFailure("2001:db8:" + std::to_string(i) + "::1",
                          "junk" + std::to_string(i) + "@alpha.test", l, Account::kUnknown);
  }
  EXPECT_LE(limiter.userEntries(), 200u);
  EXPECT_EQ(limiter.check("203.0.113.1", "alice@alpha.test", l), LoginVerdict::kUserLimited);
}

TEST(LoginLimiter, MadeUpNamesAreLimitedLikeAccounts) {
  // The reply must not tell a made-up name from an account.
  FakeClock clock;
  LoginLimiter limiter(clock);
  const LoginLimits l = limits(100, 900, 2, 3600);
  limiter.recordFailure("192.0.2.1", "nobody@alpha.test", l, Account::kUnknown);
  EXPECT_EQ(limiter.check("192.0.2.2", "nobody@alpha.test", l), LoginVerdict::kAllowed);
  limiter.recordFailure("192.0.2.1", "nobody@alpha.test", l, Account::kUnknown);
  EXPECT_EQ(limiter.check("192.0.2.2", "nobody@alpha.test", l), LoginVerdict::kUserLimited);
  EXPECT_EQ(limiter.accountEntries(), 0u);
}

TEST(LoginLimiter, FullAccountTableStillEvictsTheOldestAccountCounter) {
  FakeClock clock;
  LoginLimiter limiter(clock, 2);
  const LoginLimits l = limits(0, 0, 1, 3600);
  limiter.recordFailure("c", "a", l, Account::kExists);
  clock.advance(1);
  limiter.recordFailure("c", "b", l, Account::kExists);
  clock.advance(1);
  limiter.recordFailure("c", "c", l, Account::kExists);
  EXPECT_EQ(limiter.accountEntries(), 2u);
  EXPECT_EQ(limiter.check("x", "a", l), LoginVerdict::kAllowed);  // evicted
  EXPECT_EQ(limiter.check("x", "b", l), LoginVerdict::kUserLimited);
  EXPECT_EQ(limiter.check("x", "c", l), LoginVerdict::kUserLimited);
}

}  // namespace
}  // namespace mtep::e2ee
