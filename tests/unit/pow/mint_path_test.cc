// The two hashcash v1 minting paths: the SHA-NI lanes compress exactly as
// OpenSSL's SHA1_Transform for random midstates and blocks, at every lane
// count; minting with each path forced gives stamps that check, at every
// alignment of the counter in the last block. The SHA-NI cases are skipped
// on a CPU without the SHA extensions.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstring>
#include <random>
#include <string>

#include "pow/internal.h"
#include "pow/pow.h"
#include "unit/pow/vectors.h"

namespace mtep::pow {
namespace {

using detail::Sha1Path;

constexpr int64_t kPathMintNow = testdata::k261101 + 6 * 3600;

// Forces a minting path for one test, back to automatic after.
class ForcedSha1Path {
 public:
  explicit ForcedSha1Path(Sha1Path path) : ok_(detail::forceSha1Path(path)) {}
  ~ForcedSha1Path() { detail::forceSha1Path(Sha1Path::kAuto); }
  ForcedSha1Path(const ForcedSha1Path&) = delete;
  ForcedSha1Path& operator=(const ForcedSha1Path&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

// OpenSSL's compression of one block from `state`, the reference.
void opensslCompress(uint32_t (&state)[5], const unsigned char (&block)[64]) {
  SHA_CTX ctx{};
  ctx.h0 = state[0];
  ctx.h1 = state[1];
  ctx.h2 = state[2];
  ctx.h3 = state[3];
  ctx.h4 = state[4];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA1_Transform(&ctx, block);
#pragma GCC diagnostic pop
  const uint32_t out[5] = {ctx.h0, ctx.h1, ctx.h2, ctx.h3, ctx.h4};
  std::memcpy(state, out, sizeof out);
}

MintOptions pathMintOptions(int bits, std::string resource, unsigned threads) {
  MintOptions o;
  o.bits = bits;
  o.resource = std::move(resource);
  o.now = kPathMintNow;
  o.threads = threads;
  return o;
}

StampPolicy pathPolicy(int bits) {
  StampPolicy p;
  p.hashcash_bits = bits;
  return p;
}

#define MTEP_SKIP_WITHOUT_SHANI()                                                         \
  if (!detail::cpuHasShaNi())                                                             \
  GTEST_SKIP() << "this CPU has no SHA extensions (CPUID leaf 7, EBX bit 29) or this is " \
                  "not x86-64: only the portable path runs here"

TEST(MintShaNi, OneBlockOfAbcFromTheInitialState) {
  MTEP_SKIP_WITHOUT_SHANI();
  // SHA-1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d: one block.
  uint32_t state[1][5] = {{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}};
  unsigned char block[1][64] = {};
  std::memcpy(block[0], "abc", 3);
  block[0][3] = 0x80;
  block[0][63] = 24;  // bits
  ASSERT_TRUE(detail::shaNiCompress(1, state, block));
  const uint32_t want[5] = {0xa9993e36, 0x4706816a, 0xba3e2571, 0x7850c26c, 0x9cd0d89d};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(state[0][i], want[i]) << "h" << i;
}

TEST(MintShaNi, EveryLaneCountMatchesOpenSslOnRandomStatesAndBlocks) {
  MTEP_SKIP_WITHOUT_SHANI();
  std::mt19937_64 rng(17);
  for (size_t lanes = 1; lanes <= detail::kShaNiMaxLanes; ++lanes) {
    for (int round = 0; round < 2000; ++round) {
      uint32_t state[detail::kShaNiMaxLanes][5];
      unsigned char blocks[detail::kShaNiMaxLanes][64];
      for (size_t l = 0; l < lanes; ++l) {
        for (uint32_t& h : state[l]) h = static_cast<uint32_t>(rng());
        for (unsigned char& b : blocks[l]) b = static_cast<unsigned char>(rng());
      }
      uint32_t want[detail::kShaNiMaxLanes][5];
      std::memcpy(want, state, sizeof want);
      for (size_t l = 0; l < lanes; ++l) opensslCompress(want[l], blocks[l]);
      ASSERT_TRUE(detail::shaNiCompress(lanes, state, blocks)) << lanes << " lanes";
      for (size_t l = 0; l < lanes; ++l) {
        for (int i = 0; i < 5; ++i) {
          ASSERT_EQ(state[l][i], want[l][i])
              << lanes << " lanes, round " << round << ", lane " << l << ", h" << i;
        }
      }
    }
  }
}

TEST(MintShaNi, LanesWithOneSharedMidstateStayIndependent) {
  MTEP_SKIP_WITHOUT_SHANI();
  // As minting uses them: one midstate, blocks differing in one byte.
  std::mt19937_64 rng(29);
  for (size_t lanes = 2; lanes <= detail::kShaNiMaxLanes; ++lanes) {
    uint32_t mid[5];
    for (uint32_t& h : mid) h = static_cast<uint32_t>(rng());
    unsigned char base[64];
    for (unsigned char& b : base) b = static_cast<unsigned char>(rng());
    for (size_t at = 0; at < 64; ++at) {
      uint32_t state[detail::kShaNiMaxLanes][5];
      unsigned char blocks[detail::kShaNiMaxLanes][64];
      uint32_t want[detail::kShaNiMaxLanes][5];
      for (size_t l = 0; l < lanes; ++l) {
        std::memcpy(state[l], mid, sizeof mid);
        std::memcpy(want[l], mid, sizeof mid);
        std::memcpy(blocks[l], base, sizeof base);
        blocks[l][at] = static_cast<unsigned char>('A' + l);
        opensslCompress(want[l], blocks[l]);
      }
      ASSERT_TRUE(detail::shaNiCompress(lanes, state, blocks));
      for (size_t l = 0; l < lanes; ++l) {
        EXPECT_EQ(std::memcmp(state[l], want[l], sizeof want[l]), 0)
            << lanes << " lanes, byte " << at << ", lane " << l;
      }
    }
  }
}

TEST(MintShaNi, RefusedLaneCounts) {
  MTEP_SKIP_WITHOUT_SHANI();
  uint32_t state[1][5] = {};
  unsigned char block[1][64] = {};
  EXPECT_FALSE(detail::shaNiCompress(0, state, block));
  EXPECT_FALSE(detail::shaNiCompress(detail::kShaNiMaxLanes + 1, state, block));
}

TEST(MintShaNi, ForcedPathMintsStampsThatCheckAtEveryAlignment) {
  MTEP_SKIP_WITHOUT_SHANI();
  ForcedSha1Path forced(Sha1Path::kShaNi);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(detail::sha1PathInUse(), Sha1Path::kShaNi);
  EXPECT_EQ(std::string(hashcashMintPath()).rfind("SHA-NI", 0), 0u) << hashcashMintPath();
  for (size_t len = 1; len <= 70; ++len) {
    const std::string resource = std::string(len, 's') + "@x";
    auto m = mint(pathMintOptions(8, resource, 1));
    ASSERT_TRUE(m.ok()) << len << ": " << m.error().message();
    EXPECT_GE(sha1LeadingZeroBits(m->stamp), 8) << m->stamp;
    const CheckResult r = checkStamp(m->stamp, resource, pathPolicy(8), kPathMintNow);
    EXPECT_EQ(r.verdict, Verdict::kValid) << "resource length " << len << ": " << r.reason;
  }
}

TEST(MintShaNi, ForcedPathOnTwoThreadsAndZeroBits) {
  MTEP_SKIP_WITHOUT_SHANI();
  ForcedSha1Path forced(Sha1Path::kShaNi);
  ASSERT_TRUE(forced.ok());
  auto m = mint(pathMintOptions(18, "bob@beta.test", 2));
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(checkStamp(m->stamp, "bob@beta.test", pathPolicy(18), kPathMintNow).verdict,
            Verdict::kValid);
  // The first try succeeds, and only it is counted, as on the portable path.
  auto zero = mint(pathMintOptions(0, "bob@beta.test", 1));
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->tries, 1u);
  EXPECT_GT(hashcashTriesPerSecond(1, 20), 0.0);
}

TEST(MintPortable, ForcedPathMintsStampsThatCheck) {
  ForcedSha1Path forced(Sha1Path::kPortable);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(detail::sha1PathInUse(), Sha1Path::kPortable);
  EXPECT_EQ(std::string(hashcashMintPath()).rfind("portable", 0), 0u) << hashcashMintPath();
  for (size_t len = 1; len <= 70; len += 7) {
    const std::string resource = std::string(len, 'p') + "@x";
    auto m = mint(pathMintOptions(8, resource, 1));
    ASSERT_TRUE(m.ok()) << len << ": " << m.error().message();
    const CheckResult r = checkStamp(m->stamp, resource, pathPolicy(8), kPathMintNow);
    EXPECT_EQ(r.verdict, Verdict::kValid) << "resource length " << len << ": " << r.reason;
  }
  auto m = mint(pathMintOptions(16, "bob@beta.test", 2));
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(checkStamp(m->stamp, "bob@beta.test", pathPolicy(16), kPathMintNow).verdict,
            Verdict::kValid);
  EXPECT_GT(hashcashTriesPerSecond(1, 20), 0.0);
}

TEST(MintPath, ShaNiCannotBeForcedWithoutTheExtensions) {
  if (detail::cpuHasShaNi()) {
    GTEST_SKIP() << "this CPU has the SHA extensions: nothing to refuse";
  }
  EXPECT_FALSE(detail::forceSha1Path(Sha1Path::kShaNi));
  EXPECT_EQ(detail::sha1PathInUse(), Sha1Path::kPortable);
  uint32_t state[1][5] = {};
  unsigned char block[1][64] = {};
  EXPECT_FALSE(detail::shaNiCompress(1, state, block));
}

#undef MTEP_SKIP_WITHOUT_SHANI

#define MTEP_SKIP_WITHOUT_AVX512()                                                       \
  if (!detail::cpuHasAvx512())                                                           \
  GTEST_SKIP() << "this CPU (or OS) has no AVX-512F, or this is not x86-64: its path is " \
                  "not taken here"

TEST(MintAvx512, OneBlockOfAbcInEveryLane) {
  MTEP_SKIP_WITHOUT_AVX512();
  uint32_t state[detail::kAvx512Lanes][5];
  unsigned char blocks[detail::kAvx512Lanes][64] = {};
  for (size_t l = 0; l < detail::kAvx512Lanes; ++l) {
    const uint32_t init[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    std::memcpy(state[l], init, sizeof init);
    std::memcpy(blocks[l], "abc", 3);
    blocks[l][3] = 0x80;
    blocks[l][63] = 24;  // bits
  }
  ASSERT_TRUE(detail::avx512Compress(state, blocks));
  const uint32_t want[5] = {0xa9993e36, 0x4706816a, 0xba3e2571, 0x7850c26c, 0x9cd0d89d};
  for (size_t l = 0; l < detail::kAvx512Lanes; ++l) {
    for (int i = 0; i < 5; ++i) EXPECT_EQ(state[l][i], want[i]) << "lane " << l << ", h" << i;
  }
}

TEST(MintAvx512, MatchesOpenSslOnRandomStatesAndBlocks) {
  MTEP_SKIP_WITHOUT_AVX512();
  std::mt19937_64 rng(41);
  for (int round = 0; round < 2000; ++round) {
    uint32_t state[detail::kAvx512Lanes][5];
    unsigned char blocks[detail::kAvx512Lanes][64];
    for (size_t l = 0; l < detail::kAvx512Lanes; ++l) {
      for (uint32_t& h : state[l]) h = static_cast<uint32_t>(rng());
      for (unsigned char& b : blocks[l]) b = static_cast<unsigned char>(rng());
    }
    uint32_t want[detail::kAvx512Lanes][5];
    std::memcpy(want, state, sizeof want);
    for (size_t l = 0; l < detail::kAvx512Lanes; ++l) opensslCompress(want[l], blocks[l]);
    ASSERT_TRUE(detail::avx512Compress(state, blocks));
    for (size_t l = 0; l < detail::kAvx512Lanes; ++l) {
      for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(state[l][i], want[l][i]) << "round " << round << ", lane " << l << ", h" << i;
      }
    }
  }
}

TEST(MintAvx512, LanesWithOneSharedMidstateStayIndependent) {
  MTEP_SKIP_WITHOUT_AVX512();
  std::mt19937_64 rng(43);
  uint32_t mid[5];
  for (uint32_t& h : mid) h = static_cast<uint32_t>(rng());
  unsigned char base[64];
  for (unsigned char& b : base) b = static_cast<unsigned char>(rng());
  for (size_t at = 0; at < 64; ++at) {
    uint32_t state[detail::kAvx512Lanes][5];
    unsigned char blocks[detail::kAvx512Lanes][64];
    uint32_t want[detail::kAvx512Lanes][5];
    for (size_t l = 0; l < detail::kAvx512Lanes; ++l) {
      std::memcpy(state[l], mid, sizeof mid);
      std::memcpy(want[l], mid, sizeof mid);
      std::memcpy(blocks[l], base, sizeof base);
      blocks[l][at] = static_cast<unsigned char>('A' + l);
      opensslCompress(want[l], blocks[l]);
    }
    ASSERT_TRUE(detail::avx512Compress(state, blocks));
    for (size_t l = 0; l < detail::kAvx512Lanes; ++l) {
      EXPECT_EQ(std::memcmp(state[l], want[l], sizeof want[l]), 0)
          << "byte " << at << ", lane " << l;
    }
  }
}

TEST(MintAvx512, ForcedPathMintsStampsThatCheckAtEveryAlignment) {
  MTEP_SKIP_WITHOUT_AVX512();
  ForcedSha1Path forced(Sha1Path::kAvx512);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(detail::sha1PathInUse(), Sha1Path::kAvx512);
  EXPECT_EQ(std::string(hashcashMintPath()).rfind("AVX-512", 0), 0u) << hashcashMintPath();
  for (size_t len = 1; len <= 70; ++len) {
    const std::string resource = std::string(len, 'v') + "@x";
    auto m = mint(pathMintOptions(8, resource, 1));
    ASSERT_TRUE(m.ok()) << len << ": " << m.error().message();
    EXPECT_GE(sha1LeadingZeroBits(m->stamp), 8) << m->stamp;
    const CheckResult r = checkStamp(m->stamp, resource, pathPolicy(8), kPathMintNow);
    EXPECT_EQ(r.verdict, Verdict::kValid) << "resource length " << len << ": " << r.reason;
  }
}

TEST(MintAvx512, ForcedPathOnTwoThreadsAndZeroBits) {
  MTEP_SKIP_WITHOUT_AVX512();
  ForcedSha1Path forced(Sha1Path::kAvx512);
  ASSERT_TRUE(forced.ok());
  auto m = mint(pathMintOptions(20, "bob@beta.test", 2));
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(checkStamp(m->stamp, "bob@beta.test", pathPolicy(20), kPathMintNow).verdict,
            Verdict::kValid);
  // The first try succeeds, and only it is counted, as on the portable path.
  auto zero = mint(pathMintOptions(0, "bob@beta.test", 1));
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->tries, 1u);
  EXPECT_GT(hashcashTriesPerSecond(1, 20), 0.0);
}

#undef MTEP_SKIP_WITHOUT_AVX512


}  // namespace
}  // namespace mtep::pow
