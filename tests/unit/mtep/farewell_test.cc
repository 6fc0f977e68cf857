#include "mtep/farewell.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace mtep::proto {
namespace {

// Strict UTF-8 check: no overlong forms, no surrogates, nothing past U+10FFFF.
bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xe0) == 0xc0) {
      n = 1;
      cp = b & 0x1fu;
    } else if ((b & 0xf0) == 0xe0) {
      n = 2;
      cp = b & 0x0fu;
    } else if ((b & 0xf8) == 0xf0) {
      n = 3;
      cp = b & 0x07u;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3fu);
    }
    const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

TEST(FarewellRota, HasAtLeastTenDistinctFarewells) {
  const auto all = FarewellRota::all();
  EXPECT_GE(all.size(), 10u);
  const std::set<std::string_view> distinct(all.begin(), all.end());
  EXPECT_EQ(distinct.size(), all.size());
}

TEST(FarewellRota, FarewellsAreShortPrintableUtf8) {
  for (const std::string_view f : FarewellRota::all()) {
    EXPECT_FALSE(f.empty());
    EXPECT_LE(f.size(), 80u) << f;
    EXPECT_TRUE(validUtf8(f)) << f;
    EXPECT_NE(f.front(), ' ') << f;
    EXPECT_NE(f.back(), ' ') << f;
    for (const char c : f) {
      const auto u = static_cast<unsigned char>(c);
      EXPECT_FALSE(u < 0x20 || u == 0x7f) << f;
    }
  }
}

TEST(FarewellRota, SeveralAreNotEnglishOnlyAscii) {
  size_t non_ascii = 0;
  for (const std::string_view f : FarewellRota::all()) {
    for (const char c : f) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        ++non_ascii;
        break;
      }
    }
  }
  EXPECT_GE(non_ascii, 5u);
}

TEST(FarewellRota, FreshRotaStartsWithTheSeedsFarewell) {
  FarewellRota rota;
  EXPECT_EQ(rota.next(), "Thanks for playing!");
}

TEST(FarewellRota, WalksTheRotaRoundRobin) {
  FarewellRota rota;
  const auto all = FarewellRota::all();
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(rota.next(), all[i]) << "round " << round << " index " << i;
    }
  }
}

TEST(FarewellRota, ConcurrentCallersShareTheRotaEvenly) {
  FarewellRota rota;
  const size_t per_thread = FarewellRota::all().size() * 50;
  std::mutex mu;
  std::map<std::string_view, size_t> counts;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::map<std::string_view, size_t> mine;
      for (size_t i = 0; i < per_thread; ++i) ++mine[rota.next()];
      const std::lock_guard<std::mutex> lock(mu);
      for (const auto& [f, n] : mine) counts[f] += n;
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(counts.size(), FarewellRota::all().size());
  for (const auto& [f, n] : counts) EXPECT_EQ(n, 4 * 50u) << f;
}

}  // namespace
}  // namespace mtep::proto
