// checkStamp(): every verdict, the order of the checks, Argon2id bounds
// refused before hashing, and the difficulty schedule.
#include <gtest/gtest.h>

#include <string>

#include "pow/pow.h"
#include "unit/pow/vectors.h"

namespace mtep::pow {
namespace {

using namespace testdata;

constexpr int64_t kNow = k261101 + 3600;  // an hour after the tool stamps' date

// Argon2id stamps checked against the argon2 CLI (argon2 c2FsdHNhbHQ -id -t 1
// -k 64 -p 1 -l 32 -r): the first has hash 037317dd... (6 zero bits, claims
// 4), the second a228808a... (0 zero bits).
constexpr char kArgonValue6[] = "argon2id:1:m=64,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:28";
constexpr char kArgonValue0[] = "argon2id:1:m=64,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:0";

StampPolicy policy(int hashcash_bits = 16, int argon2id_bits = 4) {
  StampPolicy p;
  p.hashcash_bits = hashcash_bits;
  p.argon2id_bits = argon2id_bits;
  p.argon2id_min_memory = 64;  // small, so the tests hash quickly
  return p;
}

TEST(CheckStamp, AcceptsToolStampsAtTheirBits) {
  struct Case {
    const char* stamp;
    const char* resource;
    int bits;
  } cases[] = {
      {kTool16, "bob@beta.test", 16},           {kTool20, "bob@beta.test", 20},
      {kTool12Seconds, "alice@alpha.test", 12}, {kToolExt10, "carol@beta.test", 10},
      {kColonCounter8, "bob@beta.test", 8},
  };
  for (const Case& c : cases) {
    CheckResult r = checkStamp(c.stamp, c.resource, policy(c.bits), kNow);
    EXPECT_EQ(r.verdict, Verdict::kValid) << c.stamp << ": " << r.reason;
    EXPECT_EQ(r.bits, c.bits) << c.stamp;
    EXPECT_EQ(r.algorithm, Algorithm::kHashcashSha1);
    EXPECT_EQ(r.reason, "");
  }
}

TEST(CheckStamp, AStampCountsAsWhatItClaimsNotMore) {
  // Value 12, claims 4: too weak for 8 although its hash has 12 bits.
  EXPECT_EQ(checkStamp(kClaims4Has12, "bob@beta.test", policy(8), kNow).verdict, Verdict::kTooWeak);
  CheckResult r = checkStamp(kClaims4Has12, "bob@beta.test", policy(4), kNow);
  EXPECT_EQ(r.verdict, Verdict::kValid);
  EXPECT_EQ(r.bits, 4);
}

TEST(CheckStamp, ExpiryIsTheDatePlusValidityPlusGrace) {
  const StampPolicy p = policy();
  CheckResult r = checkStamp(kTool16, "bob@beta.test", p, kNow);
  ASSERT_EQ(r.verdict, Verdict::kValid);
  EXPECT_EQ(r.expires_at, k261101 + p.validity + p.grace);
}

TEST(CheckStamp, ResourceIsComparedIgnoringAsciiCase) {
  EXPECT_EQ(checkStamp(kTool16, "Bob@BETA.test", policy(), kNow).verdict, Verdict::kValid);
}

TEST(CheckStamp, MalformedText) {
  CheckResult r = checkStamp("hello", "bob@beta.test", policy(), kNow);
  EXPECT_EQ(r.verdict, Verdict::kMalformed);
  EXPECT_NE(r.reason, "");
}

TEST(CheckStamp, WrongResource) {
  CheckResult r = checkStamp(kTool16, "alice@beta.test", policy(), kNow);
  EXPECT_EQ(r.verdict, Verdict::kWrongResource);
  EXPECT_NE(r.reason.find("bob@beta.test"), std::string::npos) << r.reason;
}

TEST(CheckStamp, TooWeak) {
  CheckResult r = checkStamp(kTool16, "bob@beta.test", policy(20), kNow);
  EXPECT_EQ(r.verdict, Verdict::kTooWeak);
  EXPECT_NE(r.reason.find("20 required"), std::string::npos) << r.reason;
}

TEST(CheckStamp, FalseClaim) {
  CheckResult r = checkStamp(kTool20Altered, "bob@beta.test", policy(20), kNow);
  EXPECT_EQ(r.verdict, Verdict::kFalseClaim);
  EXPECT_NE(r.reason.find("has 1"), std::string::npos) << r.reason;
}

TEST(CheckStamp, AClaimOf160BitsIsAFalseClaim) {
  const char* stamp = "1:160:261101:bob@beta.test::KClOIxUA3aA7JIcI:000000IU";
  CheckResult r = checkStamp(stamp, "bob@beta.test", policy(20), kNow);
  EXPECT_EQ(r.verdict, Verdict::kFalseClaim) << r.reason;
}

TEST(CheckStamp, ExpiredAndFutureAtTheirBoundaries) {
  const StampPolicy p = policy();
  const int64_t last_valid = k261101 + p.validity + p.grace;
  EXPECT_EQ(checkStamp(kTool16, "bob@beta.test", p, last_valid).verdict, Verdict::kValid);
  EXPECT_EQ(checkStamp(kTool16, "bob@beta.test", p, last_valid + 1).verdict, Verdict::kExpired);
  const int64_t first_valid = k261101 - p.grace;
  EXPECT_EQ(checkStamp(kTool16, "bob@beta.test", p, first_valid).verdict, Verdict::kValid);
  EXPECT_EQ(checkStamp(kTool16, "bob@beta.test", p, first_valid - 1).verdict, Verdict::kFuture);
}

TEST(CheckStamp, ChecksCheapestFirst) {
  // Wrong resource beats expired, expired beats too weak, too weak beats a
  // false claim (so no hash is computed for it).
  const StampPolicy p = policy(30);
  const int64_t late = k261101 + 100 * kDay;
  EXPECT_EQ(checkStamp(kTool20Altered, "x@y", p, late).verdict, Verdict::kWrongResource);
  EXPECT_EQ(checkStamp(kTool20Altered, "bob@beta.test", p, late).verdict, Verdict::kExpired);
  EXPECT_EQ(checkStamp(kTool20Altered, "bob@beta.test", p, kNow).verdict, Verdict::kTooWeak);
}

TEST(CheckStamp, ReasonsQuoteAtMost64BytesOfTheStamp) {
  const std::string resource(900, 'r');
  const std::string stamp = "1:20:261101:" + resource + "\x80::abc:1";
  CheckResult r = checkStamp(stamp, "bob@beta.test", policy(), kNow);
  EXPECT_EQ(r.verdict, Verdict::kWrongResource);
  EXPECT_LT(r.reason.size(), 200u) << r.reason;
  for (char c : r.reason) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "unprintable byte in reason";
  }
}

TEST(CheckStamp, Argon2idStampMatchesTheArgon2Tool) {
  CheckResult r = checkStamp(kArgonValue6, "bob@beta.test", policy(), kNow);
  EXPECT_EQ(r.verdict, Verdict::kValid) << r.reason;
  EXPECT_EQ(r.algorithm, Algorithm::kArgon2id);
  EXPECT_EQ(r.bits, 4);
  r = checkStamp(kArgonValue0, "bob@beta.test", policy(), kNow);
  EXPECT_EQ(r.verdict, Verdict::kFalseClaim) << r.reason;
}

TEST(CheckStamp, Argon2idUsesItsOwnRequiredBits) {
  // 16 hashcash bits required does not apply to Argon2id; 5 Argon2id bits do.
  EXPECT_EQ(checkStamp(kArgonValue6, "bob@beta.test", policy(16, 4), kNow).verdict,
            Verdict::kValid);
  EXPECT_EQ(checkStamp(kArgonValue6, "bob@beta.test", policy(16, 5), kNow).verdict,
            Verdict::kTooWeak);
}

TEST(CheckStamp, Argon2idParametersOutsideTheBoundsAreRefusedBeforeHashing) {
  // 4 GiB, 2^32-1 passes, 1000 lanes: were any hashed, the test would run
  // out of memory or time instead of returning.
  const char* cases[] = {
      "argon2id:1:m=4194304,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A",
      "argon2id:1:m=4294967295,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A",
      "argon2id:1:m=4096,t=4294967295,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A",
      "argon2id:1:m=65536,t=1,p=1000:4:261101:bob@beta.test::c2FsdHNhbHQ:A",
      "argon2id:1:m=32,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A",  // under the minimum
      "argon2id:1:m=64,t=0,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A",  // no pass
      "argon2id:1:m=64,t=1,p=0:4:261101:bob@beta.test::c2FsdHNhbHQ:A",  // no lane
  };
  StampPolicy p = policy();
  p.argon2id_min_memory = 8;
  p.argon2id_max_lanes = 16;
  for (const char* stamp : cases) {
    CheckResult r = checkStamp(stamp, "bob@beta.test", policy(), kNow);
    EXPECT_EQ(r.verdict, Verdict::kOutOfBounds) << stamp << ": " << r.reason;
  }
  // m must be at least 8 KiB per lane (Argon2's own minimum).
  CheckResult r = checkStamp("argon2id:1:m=16,t=1,p=4:4:261101:bob@beta.test::c2FsdHNhbHQ:A",
                             "bob@beta.test", p, kNow);
  EXPECT_EQ(r.verdict, Verdict::kOutOfBounds) << r.reason;
}

TEST(CheckStamp, Argon2idBoundsComeAfterTheCheaperChecks) {
  const char* huge = "argon2id:1:m=4194304,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A";
  EXPECT_EQ(checkStamp(huge, "eve@beta.test", policy(), kNow).verdict, Verdict::kWrongResource);
  EXPECT_EQ(checkStamp(huge, "bob@beta.test", policy(16, 8), kNow).verdict, Verdict::kTooWeak);
}

// ---- schedule ---------------------------------------------------------------

config::PowConfig powConfig() {
  config::PowConfig c;
  c.schedule_start = k261101;
  c.hashcash_raise_every = 365 * kDay;
  c.argon2id_raise_every = 0;
  return c;
}

TEST(PolicyFor, RaisesOneBitPerWholePeriodSinceTheStart) {
  config::DomainPolicy d;
  d.stamp_bits = 20;
  d.argon2id_stamp_bits = 4;
  const config::PowConfig c = powConfig();
  struct Case {
    int64_t now;
    int want;
  } cases[] = {
      {k261101 - 10 * 365 * kDay, 20},  // never below the base before the start
      {k261101, 20},
      {k261101 + 365 * kDay - 1, 20},
      {k261101 + 365 * kDay, 21},
      {k261101 + 3 * 365 * kDay + 5, 23},
  };
  for (const Case& cs : cases) {
    StampPolicy p = policyFor(c, d, cs.now);
    EXPECT_EQ(p.hashcash_bits, cs.want) << "at " << cs.now << " got " << p.hashcash_bits;
    EXPECT_EQ(p.argon2id_bits, 4) << "argon2id_raise_every = 0 never raises";
  }
}

TEST(PolicyFor, TheDeprecatedAlgorithmRisesFasterThanThePreferredOne) {
  config::PowConfig c = powConfig();
  c.hashcash_raise_every = 180 * kDay;
  c.argon2id_raise_every = 720 * kDay;
  config::DomainPolicy d;
  d.stamp_bits = 20;
  d.argon2id_stamp_bits = 4;
  StampPolicy p = policyFor(c, d, k261101 + 730 * kDay);
  EXPECT_EQ(p.hashcash_bits, 24);
  EXPECT_EQ(p.argon2id_bits, 5);
  EXPECT_EQ(requiredBits(p, Algorithm::kHashcashSha1), 24);
  EXPECT_EQ(requiredBits(p, Algorithm::kArgon2id), 5);
}

TEST(PolicyFor, CopiesValidityGraceAndBoundsAndCapsAt160) {
  config::PowConfig c = powConfig();
  c.validity = 7 * kDay;
  c.grace = 3600;
  c.argon2id_min_memory = 2048;
  c.argon2id_max_memory = 8192;
  c.argon2id_max_time = 2;
  c.argon2id_max_lanes = 1;
  c.hashcash_raise_every = 1;
  config::DomainPolicy d;
  StampPolicy p = policyFor(c, d, k261101 + 1000);
  EXPECT_EQ(p.hashcash_bits, kMaxBits);
  EXPECT_EQ(p.validity, 7 * kDay);
  EXPECT_EQ(p.grace, 3600);
  EXPECT_EQ(p.argon2id_min_memory, 2048u);
  EXPECT_EQ(p.argon2id_max_memory, 8192u);
  EXPECT_EQ(p.argon2id_max_time, 2u);
  EXPECT_EQ(p.argon2id_max_lanes, 1u);
}

}  // namespace
}  // namespace mtep::pow
