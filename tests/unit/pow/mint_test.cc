// Minting: v1 stamps round-trip through the normal check for every
// alignment of the last SHA-1 block, on one thread and many; Argon2id
// stamps; the budget; refused options.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "pow/pow.h"
#include "unit/pow/vectors.h"

namespace mtep::pow {
namespace {

using namespace testdata;

constexpr int64_t kMintNow = k261101 + 12 * 3600;

// g++ 12 warns about designated initializers that skip a std::string
// member, so options are built here.
MintOptions v1(int bits, std::string resource, unsigned threads = 1) {
  MintOptions o;
  o.bits = bits;
  o.resource = std::move(resource);
  o.now = kMintNow;
  o.threads = threads;
  return o;
}

MintOptions argon(int bits, unsigned threads, uint32_t memory_kib, uint32_t time_cost = 1,
                  uint32_t lanes = 1) {
  MintOptions o = v1(bits, "bob@beta.test", threads);
  o.algorithm = Algorithm::kArgon2id;
  o.memory_kib = memory_kib;
  o.time_cost = time_cost;
  o.lanes = lanes;
  return o;
}

StampPolicy mintPolicy(int bits) {
  StampPolicy p;
  p.hashcash_bits = bits;
  p.argon2id_bits = bits;
  p.argon2id_min_memory = 8;
  return p;
}

TEST(MintHashcash, StampLooksLikeTheToolsAndChecks) {
  auto m = mint(v1(16, "bob@beta.test"));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto s = parseHashcash(m->stamp);
  ASSERT_TRUE(s.ok()) << m->stamp;
  EXPECT_EQ(s->bits, 16);
  EXPECT_EQ(s->date, "261101");  // YYMMDD, the tool's default
  EXPECT_EQ(s->resource, "bob@beta.test");
  EXPECT_EQ(s->ext, "");
  EXPECT_GE(s->rand.size(), 16u);
  EXPECT_GE(sha1LeadingZeroBits(m->stamp), 16);
  EXPECT_GE(m->tries, 1u);
  EXPECT_EQ(checkStamp(m->stamp, "bob@beta.test", mintPolicy(16), kMintNow).verdict,
            Verdict::kValid);
}

TEST(MintHashcash, EveryPrefixLengthRoundTrips) {
  // Resources of 1..140 characters put the counter at every offset of the
  // last 64-byte block (and the prefix over one, two and three blocks).
  for (size_t len = 1; len <= 140; ++len) {
    const std::string resource = std::string(len, 'r') + "@x";
    auto m = mint(v1(6, resource));
    ASSERT_TRUE(m.ok()) << len << ": " << m.error().message();
    CheckResult r = checkStamp(m->stamp, resource, mintPolicy(6), kMintNow);
    EXPECT_EQ(r.verdict, Verdict::kValid) << "resource length " << len << ": " << r.reason;
  }
}

TEST(MintHashcash, ExtensionFieldIsWrittenAndHashed) {
  auto m = mint([] {
    MintOptions o = v1(10, "bob@beta.test");
    o.ext = "a=1;b";
    return o;
  }());
  ASSERT_TRUE(m.ok());
  auto s = parseHashcash(m->stamp);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ext, "a=1;b");
  EXPECT_EQ(checkStamp(m->stamp, "bob@beta.test", mintPolicy(10), kMintNow).verdict,
            Verdict::kValid);
}

TEST(MintHashcash, ManyThreadsFindAValidStampAndCountTheirTries) {
  auto m = mint(v1(18, "bob@beta.test", 4));
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(checkStamp(m->stamp, "bob@beta.test", mintPolicy(18), kMintNow).verdict,
            Verdict::kValid);
  EXPECT_GE(m->tries, 1u);
  // The counter's first two characters name the thread that found it.
  auto s = parseHashcash(m->stamp);
  ASSERT_TRUE(s.ok());
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const size_t thread = alphabet.find(s->counter[0]) * 64 + alphabet.find(s->counter[1]);
  EXPECT_LT(thread, 4u) << s->counter;
}

TEST(MintHashcash, EveryCoreByDefault) {
  auto m = mint(v1(12, "bob@beta.test", 0));
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(checkStamp(m->stamp, "bob@beta.test", mintPolicy(12), kMintNow).verdict,
            Verdict::kValid);
}

TEST(MintHashcash, TwoMintsDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    auto m = mint(v1(4, "bob@beta.test"));
    ASSERT_TRUE(m.ok());
    seen.insert(m->stamp);
  }
  EXPECT_EQ(seen.size(), 4u);
}

TEST(MintHashcash, ZeroBitsTakesOneTry) {
  auto m = mint(v1(0, "bob@beta.test"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->tries, 1u);
}

TEST(MintHashcash, GivesUpWhenTheBudgetRunsOut) {
  auto m = mint([] {
    MintOptions o = v1(64, "bob@beta.test", 2);
    o.budget_ms = 50;
    return o;
  }());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind(), ErrorKind::kTemporary);
}

TEST(MintHashcash, RefusesWhatCannotBeAStamp) {
  auto with = [](MintOptions o, auto change) {
    change(o);
    return o;
  };
  struct Case {
    MintOptions o;
    const char* what;
  } cases[] = {
      {v1(161, "bob@beta.test"), "161 bits"},
      {v1(-1, "bob@beta.test"), "negative bits"},
      {v1(8, ""), "empty resource"},
      {v1(8, "a:b"), "':' in resource"},
      {v1(8, "a\nb"), "newline in resource"},
      {v1(8, std::string(1000, 'a')), "1000-byte resource"},
      {with(v1(8, "bob@beta.test"), [](MintOptions& o) { o.ext = "x:y"; }), "':' in ext"},
      {with(v1(8, "bob@beta.test"), [](MintOptions& o) { o.now = 0; }), "1970"},
      {argon(1, 1, 8, 1, 2), "argon2id m < 8p"},
      {argon(1, 1, 64, 0, 1), "argon2id t = 0"},
  };
  for (const Case& c : cases) {
    auto m = mint(c.o);
    EXPECT_FALSE(m.ok()) << c.what;
    if (!m.ok()) {
      EXPECT_EQ(m.error().kind(), ErrorKind::kInvalid) << c.what;
    }
  }
}

TEST(MintArgon2id, StampChecksWithItsParameters) {
  auto m = mint(argon(3, 2, 256, 2, 2));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto s = parseArgon2id(m->stamp);
  ASSERT_TRUE(s.ok()) << m->stamp;
  EXPECT_EQ(s->memory_kib, 256u);
  EXPECT_EQ(s->time_cost, 2u);
  EXPECT_EQ(s->lanes, 2u);
  EXPECT_EQ(s->bits, 3);
  EXPECT_GE(s->rand.size(), 8u);
  CheckResult r = checkStamp(m->stamp, "bob@beta.test", mintPolicy(3), kMintNow);
  EXPECT_EQ(r.verdict, Verdict::kValid) << r.reason;
  EXPECT_EQ(r.algorithm, Algorithm::kArgon2id);
  // The same stamp refused by a policy whose bounds exclude it.
  StampPolicy tight = mintPolicy(3);
  tight.argon2id_max_time = 1;
  EXPECT_EQ(checkStamp(m->stamp, "bob@beta.test", tight, kMintNow).verdict, Verdict::kOutOfBounds);
}

TEST(MintArgon2id, GivesUpWhenTheBudgetRunsOut) {
  auto m = mint([] {
    MintOptions o = argon(40, 2, 64);
    o.budget_ms = 30;
    return o;
  }());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind(), ErrorKind::kTemporary);
}

TEST(HashcashTriesPerSecond, MeasuresSomething) {
  EXPECT_GT(hashcashTriesPerSecond(1, 20), 0.0);
  EXPECT_GT(hashcashTriesPerSecond(2, 20), 0.0);
}

}  // namespace
}  // namespace mtep::pow
