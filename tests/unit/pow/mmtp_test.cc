// MMTP's SHA-256 token (seed 003, sections 3.4 and 10.1).
#include <gtest/gtest.h>

#include <string>

#include "pow/pow.h"

namespace mtep::pow {
namespace {

constexpr int64_t kNowMs = 1625849600000;
constexpr int64_t kWindowMs = 10 * 60 * 1000;
constexpr char kResource[] = "(alice)%(example.com):(bob)%(example.com)";

TEST(CheckMmtp, TheSeedsExampleDoesNotCarryItsWork) {
  // Section 10.1's token is illustrative: its SHA-256 is 9d9267f7..., no
  // leading zero, although it claims 4. Everything else about it parses.
  const char* token = "1:4:1625849600000:(alice)%(example.com):(bob)%(example.com)::1234:";
  CheckResult r = checkMmtp(token, kResource, 4, kNowMs, kWindowMs);
  EXPECT_EQ(r.verdict, Verdict::kFalseClaim) << r.reason;
  EXPECT_NE(r.reason.find("has 0"), std::string::npos) << r.reason;
}

TEST(CheckMmtp, MintedTokenRoundTrips) {
  auto t = mintMmtp(kResource, 3, kNowMs);
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_TRUE(t->starts_with("1:3:1625849600000:(alice)%(example.com):(bob)%(example.com)::"))
      << *t;
  EXPECT_TRUE(t->ends_with(":"));
  CheckResult r = checkMmtp(*t, kResource, 3, kNowMs, kWindowMs);
  EXPECT_EQ(r.verdict, Verdict::kValid) << r.reason;
  EXPECT_EQ(r.bits, 12);
  EXPECT_EQ(r.expires_at, (kNowMs + kWindowMs) / 1000 + 1);
  // Weaker requirement: still valid; stronger: too weak.
  EXPECT_EQ(checkMmtp(*t, kResource, 2, kNowMs, kWindowMs).verdict, Verdict::kValid);
  EXPECT_EQ(checkMmtp(*t, kResource, 4, kNowMs, kWindowMs).verdict, Verdict::kTooWeak);
}

TEST(CheckMmtp, EveryRefusal) {
  auto t = mintMmtp(kResource, 2, kNowMs);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(checkMmtp(*t, "(eve)%(example.com):(bob)%(example.com)", 2, kNowMs, kWindowMs).verdict,
            Verdict::kWrongResource);
  EXPECT_EQ(checkMmtp(*t, kResource, 2, kNowMs + kWindowMs + 1, kWindowMs).verdict,
            Verdict::kExpired);
  EXPECT_EQ(checkMmtp(*t, kResource, 2, kNowMs - kWindowMs - 1, kWindowMs).verdict,
            Verdict::kFuture);
  EXPECT_EQ(checkMmtp(*t, kResource, 2, kNowMs + kWindowMs, kWindowMs).verdict, Verdict::kValid);
}

TEST(CheckMmtp, ResourcesMayHoldColonsAndDoubleColons) {
  for (const char* res : {"a", "(a)%(b):(c)%(d):1625849600000", "x::y"}) {
    auto t = mintMmtp(res, 2, kNowMs);
    ASSERT_TRUE(t.ok()) << res;
    EXPECT_EQ(checkMmtp(*t, res, 2, kNowMs, kWindowMs).verdict, Verdict::kValid) << *t;
  }
}

TEST(CheckMmtp, RefusesMalformedTokens) {
  const std::string too_long = "1:1:1:" + std::string(1100, 'a') + "::1:";
  for (const std::string& token :
       {std::string(""), std::string("2:4:1:r::1:"), std::string("1:x:1:r::1:"),
        std::string("1:65:1:r::1:"), std::string("1:4::r::1:"), std::string("1:4:1:r::1"),
        std::string("1:4:1:r:1:"), std::string("1:4:1:r::x:"), std::string("1:4:1:::1:"),
        std::string("1:4:1:r\n::1:"), too_long}) {
    EXPECT_EQ(checkMmtp(token, "r", 0, 1, 1000).verdict, Verdict::kMalformed) << token;
  }
}

TEST(MintMmtp, RefusesImpossibleRequests) {
  EXPECT_FALSE(mintMmtp("r", 9, kNowMs).ok());
  EXPECT_FALSE(mintMmtp("r", -1, kNowMs).ok());
  EXPECT_FALSE(mintMmtp("", 1, kNowMs).ok());
  EXPECT_FALSE(mintMmtp("a\rb", 1, kNowMs).ok());
}

}  // namespace
}  // namespace mtep::pow
