// mtep-policyd's per-key state table: the keyed fingerprints (parts cannot
// be re-split into another key, every process has its own key) and the
// flat LRU table checked against a plain map + list model under random
// operations small enough to collide in the index all the time.
#include <gtest/gtest.h>

#include <cstdint>
#include <list>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>

#include "policy/state_table.h"

namespace mtep::policy {
namespace {

TEST(KeyHasherTest, TheSamePartsGiveTheSameFingerprint) {
  KeyHasher h;
  EXPECT_EQ(h.of({"c", "example.org", "192.0.2.1"}), h.of({"c", "example.org", "192.0.2.1"}));
  EXPECT_EQ(h.of({}), h.of({}));
}

TEST(KeyHasherTest, ASenderCannotReSplitItsPartsIntoAnotherKey) {
  KeyHasher h;
  // A sender chooses its address; the parts around it are ours. Moving
  // bytes from one part to the next, or a separator into a part, must not
  // land on another key's counter.
  EXPECT_NE(h.of({"s", "", "ab"}), h.of({"s", "a", "b"}));
  EXPECT_NE(h.of({"s", "ab", ""}), h.of({"s", "a", "b"}));
  EXPECT_NE(h.of({"c", "a\nb"}), h.of({"c", "a", "b"}));
  EXPECT_NE(h.of({"c", "a"}), h.of({"c", "a", ""}));
  EXPECT_NE(h.of({"c", std::string("a\0", 2)}), h.of({"c", "a"}));
  EXPECT_NE(h.of({"i", "x"}), h.of({"m", "x"}));
}

TEST(KeyHasherTest, EveryHasherHasItsOwnKey) {
  KeyHasher a, b;
  EXPECT_NE(a.of({"c", "example.org"}), b.of({"c", "example.org"}))
      << "two processes (two hashers) must not share a key a sender could learn";
}

TEST(KeyHasherTest, ManyKeysGiveDistinctFingerprints) {
  KeyHasher h;
  std::set<std::pair<uint64_t, uint64_t>> seen;
  std::set<uint64_t> low;
  for (int i = 0; i < 20000; ++i) {
    const Fingerprint f = h.of({"c", "", "10.0." + std::to_string(i)});
    EXPECT_TRUE(seen.insert({f.lo, f.hi}).second) << i;
    low.insert(f.lo & 0xffff);
  }
  // The index uses the low bits: they must spread (20,000 keys into 65,536
  // places leave about 17,000 distinct; a constant or a counter would not).
  EXPECT_GT(low.size(), 15000u);
}

Fingerprint key(uint64_t n) { return Fingerprint{n * 0x9e3779b97f4a7c15ULL, n}; }
// Keys whose low bits are all equal: every one probes from the same home.
Fingerprint clashing(uint64_t n) { return Fingerprint{n << 40, n}; }

TEST(LruTableTest, PutFindEraseAndTheLeastRecentlyUsedGoesFirst) {
  LruTable<int> t(3);
  EXPECT_EQ(t.find(key(1)), nullptr);
  t.put(key(1)) = 10;
  t.put(key(2)) = 20;
  t.put(key(3)) = 30;
  ASSERT_NE(t.find(key(1)), nullptr);  // 1 is now the most recently used
  EXPECT_EQ(*t.find(key(1)), 10);
  t.put(key(4)) = 40;  // drops 2
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.find(key(2)), nullptr);
  EXPECT_EQ(*t.find(key(3)), 30);
  EXPECT_EQ(*t.find(key(4)), 40);
  EXPECT_EQ(t.put(key(4)), 40) << "put of a present key keeps its value";
  t.erase(key(3));
  t.erase(key(3));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.put(key(3)), 0) << "a key put again after erase starts from V{}";
  t.setCapacity(1);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_NE(t.find(key(3)), nullptr) << "the most recently used stays";
}

TEST(LruTableTest, EraseIfDropsExactlyTheDeadOnes) {
  LruTable<int> t(100);
  for (int i = 0; i < 100; ++i) t.put(clashing(i)) = i;
  t.eraseIf([](int v) { return v % 3 == 0; });
  EXPECT_EQ(t.size(), 66u);
  for (int i = 0; i < 100; ++i) {
    int* v = t.find(clashing(i));
    if (i % 3 == 0) {
      EXPECT_EQ(v, nullptr) << i;
    } else {
      ASSERT_NE(v, nullptr) << i;
      EXPECT_EQ(*v, i);
    }
  }
}

// The table against a model, under a random mix of operations on few keys
// (so the cap, the free list, index growth and backward-shift deletion all
// run many times), with keys that share their home place or not.
void checkAgainstModel(Fingerprint (*make)(uint64_t), uint32_t seed) {
  constexpr size_t kCap = 37;
  LruTable<uint64_t> t(kCap);
  std::list<uint64_t> order;  // front = most recently used
  std::map<uint64_t, uint64_t> values;
  const auto touch = [&](uint64_t k) {
    order.remove(k);
    order.push_front(k);
  };
  std::mt19937 rng(seed);
  for (int step = 0; step < 20000; ++step) {
    const uint64_t k = rng() % 90;
    const uint64_t v = rng();
    switch (rng() % 5) {
      case 0:
      case 1: {  // put
        uint64_t& got = t.put(make(k));
        if (values.count(k) != 0) {
          ASSERT_EQ(got, values[k]) << "step " << step;
        } else {
          ASSERT_EQ(got, 0u) << "step " << step;
          if (values.size() == kCap) {
            values.erase(order.back());
            order.pop_back();
          }
        }
        got = v;
        values[k] = v;
        touch(k);
        break;
      }
      case 2:
      case 3: {  // find
        uint64_t* got = t.find(make(k));
        if (values.count(k) != 0) {
          ASSERT_NE(got, nullptr) << "step " << step;
          ASSERT_EQ(*got, values[k]) << "step " << step;
          touch(k);
        } else {
          ASSERT_EQ(got, nullptr) << "step " << step;
        }
        break;
      }
      default:  // erase
        t.erase(make(k));
        values.erase(k);
        order.remove(k);
        break;
    }
    ASSERT_EQ(t.size(), values.size()) << "step " << step;
  }
  for (uint64_t k = 0; k < 90; ++k) {
    EXPECT_EQ(t.find(make(k)) != nullptr, values.count(k) != 0) << k;
  }
}

TEST(LruTableTest, BehavesAsAMapWithAnLruOrder) {
  for (uint32_t seed = 1; seed <= 5; ++seed) checkAgainstModel(key, seed);
}

TEST(LruTableTest, BehavesAsAMapWhenEveryKeyProbesFromOnePlace) {
  for (uint32_t seed = 1; seed <= 5; ++seed) checkAgainstModel(clashing, seed);
}

}  // namespace
}  // namespace mtep::policy
