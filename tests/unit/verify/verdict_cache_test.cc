// Tests for verify::VerdictCache with a FakeClock: what is stored, expiry,
// the size bound, and replacing an entry.

#include <gtest/gtest.h>

#include "verify/remote_verifier.h"

namespace mtep::verify {
namespace {

VerifyOutcome outcome(VerifyKind kind, std::string detail = "K2.0.0") {
  VerifyOutcome o;
  o.kind = kind;
  o.server = "mtep.alpha.test:6211";
  o.detail = std::move(detail);
  return o;
}

TEST(VerdictCache, StoresValidAndRefusedAndMarksHitsCached) {
  FakeClock clock;
  VerdictCache cache(clock);
  cache.put("v", outcome(VerifyKind::kValid), 60, 10);
  cache.put("r", outcome(VerifyKind::kRefused, "D5.7.8 no"), 60, 10);
  VerifyOutcome got;
  ASSERT_TRUE(cache.get("v", &got));
  EXPECT_EQ(got.kind, VerifyKind::kValid);
  EXPECT_EQ(got.server, "mtep.alpha.test:6211");
  EXPECT_TRUE(got.cached);
  ASSERT_TRUE(cache.get("r", &got));
  EXPECT_EQ(got.kind, VerifyKind::kRefused);
  EXPECT_EQ(got.detail, "D5.7.8 no");
  EXPECT_FALSE(cache.get("other", &got));
}

TEST(VerdictCache, NeverStoresUnsureOrUnreachable) {
  FakeClock clock;
  VerdictCache cache(clock);
  cache.put("z", outcome(VerifyKind::kUnsure), 60, 10);
  cache.put("u", outcome(VerifyKind::kUnreachable), 60, 10);
  VerifyOutcome got;
  EXPECT_FALSE(cache.get("z", &got));
  EXPECT_FALSE(cache.get("u", &got));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(VerdictCache, ZeroTtlOrZeroSizeStoresNothing) {
  FakeClock clock;
  VerdictCache cache(clock);
  cache.put("a", outcome(VerifyKind::kValid), 0, 10);
  cache.put("b", outcome(VerifyKind::kValid), 60, 0);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(VerdictCache, EntriesExpireAfterTtl) {
  FakeClock clock;
  VerdictCache cache(clock);
  cache.put("k", outcome(VerifyKind::kValid), 60, 10);
  VerifyOutcome got;
  clock.advance(59);
  EXPECT_TRUE(cache.get("k", &got));
  clock.advance(1);
  EXPECT_FALSE(cache.get("k", &got));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(VerdictCache, SizeBoundEvictsOldestFirst) {
  FakeClock clock;
  VerdictCache cache(clock);
  cache.put("a", outcome(VerifyKind::kValid), 60, 2);
  cache.put("b", outcome(VerifyKind::kValid), 60, 2);
  cache.put("c", outcome(VerifyKind::kValid), 60, 2);
  EXPECT_EQ(cache.size(), 2u);
  VerifyOutcome got;
  EXPECT_FALSE(cache.get("a", &got));
  EXPECT_TRUE(cache.get("b", &got));
  EXPECT_TRUE(cache.get("c", &got));
}

TEST(VerdictCache, ExpiredEntriesGoBeforeLiveOnes) {
  FakeClock clock;
  VerdictCache cache(clock);
  cache.put("short", outcome(VerifyKind::kValid), 5, 3);
  cache.put("long1", outcome(VerifyKind::kValid), 600, 3);
  clock.advance(10);
  cache.put("long2", outcome(VerifyKind::kValid), 600, 3);
  EXPECT_EQ(cache.size(), 2u);
  VerifyOutcome got;
  EXPECT_TRUE(cache.get("long1", &got));
  EXPECT_TRUE(cache.get("long2", &got));
}

TEST(VerdictCache, PutAgainReplacesAndRenews) {
  FakeClock clock;
  VerdictCache cache(clock);
  cache.put("k", outcome(VerifyKind::kValid), 60, 2);
  cache.put("other", outcome(VerifyKind::kValid), 60, 2);
  clock.advance(50);
  cache.put("k", outcome(VerifyKind::kRefused, "D5.7.8"), 60, 2);
  EXPECT_EQ(cache.size(), 2u);
  // "k" is now the newest: the next insert evicts "other".
  cache.put("third", outcome(VerifyKind::kValid), 60, 2);
  VerifyOutcome got;
  EXPECT_FALSE(cache.get("other", &got));
  clock.advance(30);
  ASSERT_TRUE(cache.get("k", &got));
  EXPECT_EQ(got.kind, VerifyKind::kRefused);
}

}  // namespace
}  // namespace mtep::verify
