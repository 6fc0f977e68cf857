// NAME
//   store_pool_test.cc - mtep-milter's StorePool: stores reused, at most
//   max_open open at once, a waiting thread served by a release, and a
//   timeout that fails with kTemporary rather than opening more
// DESCRIPTION
//   Real SQLite stores in a temp dir ([store] backend "sqlite"); the pool
//   bounds any backend the same way (for Redis each store is a connection).

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "pow_stamps.h"
#include "util/clock.h"

namespace mtep::milterd {
namespace {

namespace fs = std::filesystem;

class StorePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("store_pool_test." + std::to_string(getpid()));
    fs::create_directories(dir_);
    cfg_.path = (dir_ / "mtep.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  config::StoreConfig cfg_;
  FakeClock clock_{1700000000};
};

TEST_F(StorePoolTest, AReturnedStoreIsReusedNotOpenedAgain) {
  StorePool pool(clock_, 4, 100);
  store::Store* first = nullptr;
  {
    auto lease = pool.acquire(cfg_);
    ASSERT_TRUE(lease) << lease.error().message();
    first = lease->get();
  }
  auto again = pool.acquire(cfg_);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->get(), first);
  EXPECT_EQ(pool.openCount(), 1u);
}

TEST_F(StorePoolTest, AllLeasedTheNextWaitsThenFailsTemporarily) {
  StorePool pool(clock_, 2, 200);
  auto a = pool.acquire(cfg_);
  auto b = pool.acquire(cfg_);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  auto c = pool.acquire(cfg_);
  ASSERT_FALSE(c) << "a third store was opened past max_open";
  EXPECT_EQ(c.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(c.error().message().find("busy"), std::string::npos) << c.error().message();
  EXPECT_EQ(pool.openCount(), 2u);
}

TEST_F(StorePoolTest, AWaitingAcquireGetsTheStoreGivenBack) {
  StorePool pool(clock_, 1, 10000);
  std::optional<StorePool::Lease> held;
  {
    auto a = pool.acquire(cfg_);
    ASSERT_TRUE(a);
    held.emplace(std::move(*a));
  }
  store::Store* held_store = held->get();
  std::atomic<bool> got{false};
  store::Store* waited_for = nullptr;
  std::thread waiter([&] {
    auto lease = pool.acquire(cfg_);
    if (lease) waited_for = lease->get();
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got.load()) << "acquire did not wait for the only store";
  held.reset();  // gives it back
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(waited_for, held_store);
  EXPECT_EQ(pool.openCount(), 1u);
}

TEST_F(StorePoolTest, AFailedOpenFreesItsSlot) {
  StorePool pool(clock_, 1, 100);
  config::StoreConfig bad = cfg_;
  bad.path = (dir_ / "no-such-dir" / "mtep.db").string();
  auto failed = pool.acquire(bad);
  ASSERT_FALSE(failed);
  EXPECT_EQ(pool.openCount(), 0u);
  auto ok = pool.acquire(cfg_);
  EXPECT_TRUE(ok) << ok.error().message();
}

TEST_F(StorePoolTest, AChangedStoreConfigRetiresTheOldStores) {
  StorePool pool(clock_, 2, 100);
  { auto a = pool.acquire(cfg_); ASSERT_TRUE(a); }
  EXPECT_EQ(pool.openCount(), 1u);
  config::StoreConfig other = cfg_;
  other.path = (dir_ / "other.db").string();
  auto b = pool.acquire(other);
  ASSERT_TRUE(b);
  EXPECT_EQ(pool.openCount(), 1u) << "the idle store of the old [store] was kept open";
}

}  // namespace
}  // namespace mtep::milterd
