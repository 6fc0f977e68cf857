// Stamp syntax: hashcash v1 as the tool writes and reads it, Argon2id
// stamps, dates, and the leading-zero count.
#include <gtest/gtest.h>

#include <string>

#include "pow/pow.h"
#include "unit/pow/vectors.h"

namespace mtep::pow {
namespace {

using namespace testdata;

TEST(ParseHashcash, ReadsEveryFieldOfAToolStamp) {
  auto s = parseHashcash(kToolExt10);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->algorithm, Algorithm::kHashcashSha1);
  EXPECT_EQ(s->bits, 10);
  EXPECT_EQ(s->date, "261101");
  EXPECT_EQ(s->time, k261101);
  EXPECT_EQ(s->resource, "carol@beta.test");
  EXPECT_EQ(s->ext, "a=1;b");
  EXPECT_EQ(s->rand, "KBjb4vlVONqqOImD");
  EXPECT_EQ(s->counter, "0000000000000000000000000000000000000000000Wl");
  EXPECT_EQ(s->memory_kib, 0u);
}

TEST(ParseHashcash, CounterMayHoldColonsAndRandMayBeEmptyAsTheToolReads) {
  auto s = parseHashcash(kColonCounter8);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->rand, "");
  EXPECT_EQ(s->counter, "a:c4");
}

TEST(ParseHashcash, ReadsEveryDateFormTheToolReads) {
  struct Case {
    const char* date;
    int64_t want;
  } cases[] = {
      {"26", 1767225600},    // 2026-01-01
      {"2611", 1793491200},  // 2026-11-01
      {"261101", 1793491200},
      {"26110118", 1793491200 + 18 * 3600},
      {"2611011805", 1793491200 + 18 * 3600 + 5 * 60},
      {"261101180507", 1793491200 + 18 * 3600 + 5 * 60 + 7},
      {"000101", 946684800},  // YY is 20YY
      {"991231", 4102358400},
      {"280229", 1835395200},  // 2028 is a leap year
  };
  for (const Case& c : cases) {
    const std::string text = std::string("1:0:") + c.date + ":r::abc:1";
    auto s = parseHashcash(text);
    ASSERT_TRUE(s.ok()) << c.date << ": " << s.error().message();
    EXPECT_EQ(s->time, c.want) << "date " << c.date << " got " << s->time << " want " << c.want;
  }
}

TEST(ParseHashcash, RefusesImpossibleOrOddLengthDates) {
  for (const char* date : {"2", "261", "26110", "2611011", "26110118050", "26110118050701",
                           "261301", "261100", "261131", "270229", "261101240000", "261101236000",
                           "261101235960", "26a101", "", "+61101"}) {
    const std::string text = std::string("1:0:") + date + ":r::abc:1";
    auto s = parseHashcash(text);
    EXPECT_FALSE(s.ok()) << "date \"" << date << "\" was accepted";
  }
}

TEST(ParseHashcash, RefusesMalformedStamps) {
  const std::string long_resource(1100, 'a');
  struct Case {
    std::string text;
    const char* what;
  } cases[] = {
      {"", "empty"},
      {"1:20:261101:bob@beta.test::abc", "no counter field"},
      {"1:20:261101:bob@beta.test::abc:", "empty counter"},
      {"0:261101:bob@beta.test:abc", "version 0"},
      {"2:20:261101:bob@beta.test::abc:1", "version 2"},
      {" 1:20:261101:bob@beta.test::abc:1", "leading space"},
      {"1:161:261101:bob@beta.test::abc:1", "more than 160 bits"},
      {"1:0020:261101:bob@beta.test::abc:1", "four-digit bits"},
      {"1:+8:261101:bob@beta.test::abc:1", "signed bits"},
      {"1::261101:bob@beta.test::abc:1", "empty bits"},
      {"1:20:261101:::abc:1", "empty resource"},
      {"1:20:261101:bob\x01@beta.test::abc:1", "control character in resource"},
      {"1:20:261101:bob@beta.test:x\ry:abc:1", "control character in ext"},
      {"1:20:261101:bob@beta.test::a.b:1", "'.' in rand"},
      {"1:20:261101:bob@beta.test::a b:1", "space in rand"},
      {"1:20:261101:bob@beta.test::abc:1-", "'-' in counter"},
      {"1:20:261101:bob@beta.test::abc:1 ", "trailing space"},
      {"1:20:261101:" + long_resource + "::abc:1", "longer than 1024 bytes"},
      {"argon2id:1:m=4096,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A", "an Argon2id stamp"},
  };
  for (const Case& c : cases) {
    auto s = parseHashcash(c.text);
    EXPECT_FALSE(s.ok()) << c.what << " was accepted";
    if (!s.ok()) {
      EXPECT_EQ(s.error().kind(), ErrorKind::kInvalid) << c.what;
    }
  }
}

TEST(ParseHashcash, AcceptsLeadingZerosInBitsAsTheToolDoes) {
  auto s = parseHashcash("1:08:261101:bob@beta.test::abc:1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->bits, 8);
}

TEST(ParseArgon2id, ReadsParametersAndFields) {
  auto s = parseArgon2id("argon2id:1:m=4096,t=2,p=3:5:261101:bob@beta.test:x=1:c2FsdHNhbHQ:Ab+");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->algorithm, Algorithm::kArgon2id);
  EXPECT_EQ(s->memory_kib, 4096u);
  EXPECT_EQ(s->time_cost, 2u);
  EXPECT_EQ(s->lanes, 3u);
  EXPECT_EQ(s->bits, 5);
  EXPECT_EQ(s->time, k261101);
  EXPECT_EQ(s->resource, "bob@beta.test");
  EXPECT_EQ(s->ext, "x=1");
  EXPECT_EQ(s->rand, "c2FsdHNhbHQ");
  EXPECT_EQ(s->counter, "Ab+");
}

TEST(ParseArgon2id, RefusesMalformedStamps) {
  const std::string salt65(65, 's');
  struct Case {
    std::string text;
    const char* what;
  } cases[] = {
      {"argon2id:2:m=4096,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A", "version 2"},
      {"argon2id:1:t=1,m=4096,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A", "parameter order"},
      {"argon2id:1:m=4096,t=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A", "missing p"},
      {"argon2id:1:m=4096,t=1,p=1,x=2:4:261101:bob@beta.test::c2FsdHNhbHQ:A", "extra parameter"},
      {"argon2id:1:m=99999999999,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A", "m overflow"},
      {"argon2id:1:m=-1,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A", "negative m"},
      {"argon2id:1:m=4096,t=1,p=1:4:261101:bob@beta.test::short:A", "salt under 8"},
      {"argon2id:1:m=4096,t=1,p=1:4:261101:bob@beta.test::" + salt65 + ":A", "salt over 64"},
      {"argon2id:1:m=4096,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A:B", "colon in counter"},
      {"argon2id:1:m=4096,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ", "no counter"},
      {"1:20:261101:bob@beta.test::abc:1", "a hashcash stamp"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(parseArgon2id(c.text).ok()) << c.what << " was accepted";
  }
}

TEST(ParseStamp, ChoosesTheFormByTheFirstField) {
  auto v1 = parseStamp(kTool16);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->algorithm, Algorithm::kHashcashSha1);
  auto a = parseStamp("argon2id:1:m=4096,t=1,p=1:4:261101:bob@beta.test::c2FsdHNhbHQ:A");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->algorithm, Algorithm::kArgon2id);
  EXPECT_FALSE(parseStamp("scrypt:1:4:261101:bob@beta.test::c2FsdHNhbHQ:A").ok());
}

TEST(Sha1LeadingZeroBits, CountsTheToolsStamps) {
  EXPECT_EQ(sha1LeadingZeroBits(kTool16), 18);
  EXPECT_EQ(sha1LeadingZeroBits(kTool20), 20);
  EXPECT_EQ(sha1LeadingZeroBits(kTool20Altered), 1);
  EXPECT_EQ(sha1LeadingZeroBits(kTool12Seconds), 13);
  EXPECT_EQ(sha1LeadingZeroBits(kClaims4Has12), 12);
  // SHA-1("abc") = a9993e36...: the first bit is 1.
  EXPECT_EQ(sha1LeadingZeroBits("abc"), 0);
}

TEST(Names, EveryVerdictAndAlgorithmHasAName) {
  EXPECT_STREQ(algorithmName(Algorithm::kHashcashSha1), "hashcash");
  EXPECT_STREQ(algorithmName(Algorithm::kArgon2id), "argon2id");
  EXPECT_STREQ(verdictName(Verdict::kValid), "valid");
  EXPECT_STREQ(verdictName(Verdict::kMalformed), "malformed");
  EXPECT_STREQ(verdictName(Verdict::kWrongResource), "wrong-resource");
  EXPECT_STREQ(verdictName(Verdict::kTooWeak), "too-weak");
  EXPECT_STREQ(verdictName(Verdict::kFalseClaim), "false-claim");
  EXPECT_STREQ(verdictName(Verdict::kExpired), "expired");
  EXPECT_STREQ(verdictName(Verdict::kFuture), "future");
  EXPECT_STREQ(verdictName(Verdict::kOutOfBounds), "out-of-bounds");
  EXPECT_STREQ(verdictName(Verdict::kSpent), "spent");
  EXPECT_STREQ(verdictName(Verdict::kTemporary), "temporary");
}

}  // namespace
}  // namespace mtep::pow
