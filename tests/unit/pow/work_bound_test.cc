// The work checkAndSpend() may do for one message: how many stamps it
// hashes per recipient, the Argon2id work of a message bounded before any
// hash, and the memory that concurrent Argon2id checks take together
// (MemoryBudget). No store: checking only.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "pow/pow.h"
#include "unit/pow/vectors.h"

namespace mtep::pow {
namespace {

using namespace testdata;

constexpr int64_t kBoundNow = k261101 + 3600;

// An Argon2id stamp for `resource` claiming `bits` with no work done:
// counter `n` is whatever it is. Parameters m KiB, t passes, one lane.
std::string unworked(const std::string& resource, int bits, uint32_t m, uint32_t t, int n) {
  return "argon2id:1:m=" + std::to_string(m) + ",t=" + std::to_string(t) +
         ",p=1:" + std::to_string(bits) + ":261101:" + resource +
         "::c2FsdHNhbHQ:" + std::to_string(n);
}

StampPolicy argonPolicy() {
  StampPolicy p;  // the defaults: 4 bits, m <= 65536 KiB, t <= 4
  EXPECT_EQ(p.argon2id_bits, 4);
  EXPECT_EQ(p.argon2id_max_memory, 65536u);
  EXPECT_EQ(p.argon2id_max_time, 4u);
  return p;
}

// The attack: 200 unworked candidates at the required 4 bits, each
// asking for the most memory and passes the bounds allow. The first two
// are made invalid (the test hashes to find them), the other 198 are left
// unhashed: about one in 16 of them is valid, so a search through all of
// them would find one after some 16 hashes of 64 MiB x 4 passes.
TEST(WorkBound, TwoHundredUnworkedArgon2idCandidatesAreRefusedAfterAtMostTwoHashes) {
  const StampPolicy policy = argonPolicy();
  const std::string rcpt = "bob@beta.test";
  std::vector<std::string> stamps;
  int n = 0;
  while (stamps.size() < 2) {
    std::string s = unworked(rcpt, 4, 65536, 4, n++);
    if (checkStamp(s, rcpt, policy, kBoundNow).verdict == Verdict::kFalseClaim) stamps.push_back(s);
  }
  while (stamps.size() < 200) stamps.push_back(unworked(rcpt, 4, 65536, 4, n++));

  CheckLimits limits;  // the defaults: 200 stamps, 2 per recipient, 1 GiB x passes
  MemoryBudget memory(config::PowConfig{}.argon2id_check_memory);
  limits.memory = &memory;
  CheckStats stats;
  auto out = checkAndSpend({{rcpt, policy}}, stamps, nullptr, kBoundNow, limits, {}, &stats);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result.verdict, Verdict::kFalseClaim) << out[0].result.reason;
  EXPECT_EQ(out[0].stamp, stamps[0]);
  EXPECT_LE(stats.argon2id, limits.candidates_per_recipient);
  EXPECT_EQ(stats.argon2id, 2u) << "both candidates are hashed, no more";
  EXPECT_EQ(stats.argon2id_work, 2u * 65536 * 4);
  EXPECT_EQ(memory.inUse(), 0u);
  EXPECT_EQ(memory.peak(), 65536u) << "one hash at a time in one check";
  std::printf("200 candidates: %llu argon2id evaluations (bound %zu per recipient)\n",
              static_cast<unsigned long long>(stats.argon2id), limits.candidates_per_recipient);
}

TEST(WorkBound, StampsThatFailCheapChecksAreNotCandidates) {
  const StampPolicy policy = argonPolicy();
  const std::string rcpt = "bob@beta.test";
  std::vector<std::string> stamps;
  for (int i = 0; i < 50; ++i) stamps.push_back(unworked(rcpt, 3, 1024, 1, i));    // too weak
  for (int i = 0; i < 50; ++i) stamps.push_back(unworked(rcpt, 4, 131072, 1, i));  // bounds
  MintOptions o;
  o.algorithm = Algorithm::kArgon2id;
  o.bits = 4;
  o.resource = rcpt;
  o.now = kBoundNow;
  o.threads = 1;
  o.memory_kib = 1024;
  auto good = mint(o);
  ASSERT_TRUE(good.ok()) << good.error().message();
  stamps.push_back(good->stamp);
  CheckStats stats;
  auto out = checkAndSpend({{rcpt, policy}}, stamps, nullptr, kBoundNow, CheckLimits{}, {}, &stats);
  EXPECT_EQ(out[0].result.verdict, Verdict::kValid) << out[0].result.reason;
  EXPECT_EQ(stats.argon2id, 1u);
}

TEST(WorkBound, TheMessagesArgon2idWorkIsBoundedBeforeAnyHash) {
  const StampPolicy policy = argonPolicy();
  std::vector<RecipientPolicy> rcpts;
  std::vector<std::string> stamps;
  for (int r = 0; r < 5; ++r) {
    const std::string rcpt = "r" + std::to_string(r) + "@beta.test";
    rcpts.push_back({rcpt, policy});
    stamps.push_back(unworked(rcpt, 4, 65536, 4, r));
  }
  CheckLimits limits;
  limits.max_argon2id_work = 4ull * 65536 * 4;  // four of the five
  CheckStats stats;
  auto out = checkAndSpend(rcpts, stamps, nullptr, kBoundNow, limits, {}, &stats);
  EXPECT_EQ(stats.argon2id, 0u) << "nothing is hashed";
  ASSERT_EQ(out.size(), 5u);
  for (const RecipientResult& r : out) {
    EXPECT_EQ(r.result.verdict, Verdict::kOutOfBounds) << r.recipient;
    EXPECT_NE(r.result.reason.find("over the 1048576 allowed"), std::string::npos)
        << r.result.reason;
  }
}

TEST(WorkBound, AtTheWorkBoundTheStampsAreHashed) {
  const StampPolicy policy = argonPolicy();
  std::vector<RecipientPolicy> rcpts;
  std::vector<std::string> stamps;
  for (int r = 0; r < 3; ++r) {
    const std::string rcpt = "r" + std::to_string(r) + "@beta.test";
    rcpts.push_back({rcpt, policy});
    stamps.push_back(unworked(rcpt, 4, 1024, 2, r));
  }
  CheckLimits limits;
  limits.max_argon2id_work = 3 * 1024 * 2;
  CheckStats stats;
  (void)checkAndSpend(rcpts, stamps, nullptr, kBoundNow, limits, {}, &stats);
  EXPECT_EQ(stats.argon2id, 3u);
  EXPECT_EQ(stats.argon2id_work, 3u * 1024 * 2);
}

TEST(WorkBound, HashcashCandidatesAreCappedPerRecipientToo) {
  StampPolicy policy;
  policy.hashcash_bits = 8;
  std::vector<std::string> stamps;
  for (int i = 0; i < 100; ++i) {
    stamps.push_back("1:30:261101:bob@beta.test::c2FsdA:" + std::to_string(i));  // false claims
  }
  CheckStats stats;
  auto out = checkAndSpend({{"bob@beta.test", policy}}, stamps, nullptr, kBoundNow, CheckLimits{},
                           {}, &stats);
  EXPECT_EQ(out[0].result.verdict, Verdict::kFalseClaim);
  EXPECT_EQ(stats.sha1, 2u);
}

TEST(WorkBound, ConcurrentChecksShareTheMemoryBudget) {
  const StampPolicy policy = argonPolicy();
  MemoryBudget memory(2 * 16384);  // two 16 MiB hashes at once, not more
  CheckLimits limits;
  limits.memory = &memory;
  std::atomic<int> temporary{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      const std::string rcpt = "t" + std::to_string(t) + "@beta.test";
      auto out = checkAndSpend({{rcpt, policy}}, {unworked(rcpt, 4, 16384, 1, t)}, nullptr,
                               kBoundNow, limits);
      if (out[0].result.verdict == Verdict::kTemporary) ++temporary;
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(temporary.load(), 0) << "each waited for its share";
  EXPECT_LE(memory.peak(), 2u * 16384);
  EXPECT_GE(memory.peak(), 16384u);
  EXPECT_EQ(memory.inUse(), 0u);
}

TEST(WorkBound, NoMemoryFreeInTimeIsTemporary) {
  const StampPolicy policy = argonPolicy();
  MemoryBudget memory(8192);
  ASSERT_TRUE(memory.acquire(8192, 0));  // all of it taken by someone else
  CheckLimits limits;
  limits.memory = &memory;
  limits.memory_wait_ms = 10;
  CheckStats stats;
  auto out = checkAndSpend({{"bob@beta.test", policy}}, {unworked("bob@beta.test", 4, 4096, 1, 0)},
                           nullptr, kBoundNow, limits, {}, &stats);
  EXPECT_EQ(out[0].result.verdict, Verdict::kTemporary) << out[0].result.reason;
  memory.release(8192);
  // A stamp bigger than the whole budget can never be checked: temporary at once.
  MemoryBudget small(1024);
  limits.memory = &small;
  out = checkAndSpend({{"bob@beta.test", policy}}, {unworked("bob@beta.test", 4, 4096, 1, 0)},
                      nullptr, kBoundNow, limits);
  EXPECT_EQ(out[0].result.verdict, Verdict::kTemporary) << out[0].result.reason;
}

TEST(WorkBound, LimitsComeFromThePowSection) {
  config::PowConfig pow;
  pow.max_stamps = 7;
  pow.argon2id_max_message_work = 12345;
  MemoryBudget memory(1);
  CheckLimits l = checkLimits(pow, &memory);
  EXPECT_EQ(l.max_stamps, 7u);
  EXPECT_EQ(l.max_argon2id_work, 12345u);
  EXPECT_EQ(l.candidates_per_recipient, 2u);
  EXPECT_EQ(l.memory, &memory);
  EXPECT_EQ(l.memory_wait_ms, kMemoryWaitMs);
}

}  // namespace
}  // namespace mtep::pow
