// NAME
//   work_queue_test.cc - jobs on workers, completions on the loop thread
// DESCRIPTION
//   Completions run on the thread that turns the loop, never on a worker;
//   jobs run on several workers at once; a job that throws still gets its
//   completion (with the typed submit's if_failed value); after stop()
//   nothing completes and nothing new is queued.

#include "server/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "unit/server/loop_helpers.h"

namespace mtep::server {
namespace {

using testing::runFor;
using testing::runUntil;

class WorkQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto base = makeEventBase();
    ASSERT_TRUE(base);
    base_ = std::move(*base);
  }
  std::unique_ptr<WorkQueue> make(size_t threads) {
    auto q = WorkQueue::create(base_.get(), threads);
    EXPECT_TRUE(q) << (q ? "" : q.error().message());
    return q ? std::move(*q) : nullptr;
  }
  EventBasePtr base_;
};

TEST_F(WorkQueueTest, JobsRunOnWorkersAndCompletionsOnTheLoopThread) {
  auto q = make(3);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->threads(), 3u);
  const auto loop_thread = std::this_thread::get_id();
  std::atomic<int> jobs_on_loop_thread{0};
  int completions = 0;
  int completions_off_loop = 0;
  for (int i = 0; i < 200; ++i) {
    q->submit(
        [&, loop_thread] {
          if (std::this_thread::get_id() == loop_thread) ++jobs_on_loop_thread;
        },
        [&, loop_thread] {
          if (std::this_thread::get_id() != loop_thread) ++completions_off_loop;
          ++completions;
        });
  }
  EXPECT_EQ(q->outstanding(), 200u);
  ASSERT_TRUE(runUntil(base_.get(), [&] { return completions == 200; })) << completions;
  EXPECT_EQ(jobs_on_loop_thread.load(), 0);
  EXPECT_EQ(completions_off_loop, 0);
  EXPECT_EQ(q->outstanding(), 0u);
}

TEST_F(WorkQueueTest, SeveralJobsRunAtOnce) {
  auto q = make(3);
  ASSERT_TRUE(q);
  // Each job waits until all three are running: one worker could not finish them.
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  std::atomic<int> met{0};
  int completions = 0;
  for (int i = 0; i < 3; ++i) {
    q->submit(
        [&] {
          std::unique_lock<std::mutex> lock(mu);
          ++running;
          cv.notify_all();
          if (cv.wait_for(lock, std::chrono::seconds(10), [&] { return running == 3; })) ++met;
        },
        [&] { ++completions; });
  }
  ASSERT_TRUE(runUntil(base_.get(), [&] { return completions == 3; }, 20000));
  EXPECT_EQ(met.load(), 3);
}

TEST_F(WorkQueueTest, TypedSubmitCarriesTheValue) {
  auto q = make(2);
  ASSERT_TRUE(q);
  std::vector<int> got;
  for (int i = 0; i < 10; ++i) {
    q->submit<int>([i] { return i * i; }, [&](int v) { got.push_back(v); }, -1);
  }
  ASSERT_TRUE(runUntil(base_.get(), [&] { return got.size() == 10; }));
  int sum = 0;
  for (int v : got) sum += v;
  EXPECT_EQ(sum, 285);
}

TEST_F(WorkQueueTest, AJobThatThrowsStillCompletesWithIfFailed) {
  auto q = make(1);
  ASSERT_TRUE(q);
  std::vector<int> got;
  q->submit<int>([]() -> int { throw std::runtime_error("boom"); }, [&](int v) { got.push_back(v); },
                 -7);
  bool plain_done = false;
  q->submit([] { throw 42; }, [&] { plain_done = true; });
  ASSERT_TRUE(runUntil(base_.get(), [&] { return got.size() == 1 && plain_done; }));
  EXPECT_EQ(got[0], -7);
}

TEST_F(WorkQueueTest, NoCompletionRunsAfterStopAndLaterSubmitsAreIgnored) {
  auto q = make(1);
  ASSERT_TRUE(q);
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  std::atomic<int> ran{0};
  int completions = 0;
  q->submit(
      [&] {
        started = true;
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++ran;
      },
      [&] { ++completions; });
  for (int i = 0; i < 5; ++i) q->submit([&] { ++ran; }, [&] { ++completions; });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    release = true;
  });
  q->stop();  // waits for the running job
  releaser.join();
  std::atomic<bool> late_ran{false};
  q->submit([&] { late_ran = true; }, [&] { ++completions; });
  runFor(base_.get(), 100);
  EXPECT_EQ(completions, 0);
  EXPECT_EQ(q->outstanding(), 0u);
  EXPECT_EQ(ran.load(), 1) << "queued jobs ran after stop()";
  EXPECT_FALSE(late_ran.load()) << "a job submitted after stop() ran";
}

TEST_F(WorkQueueTest, ACompletionMayStopTheQueue) {
  auto q = make(2);
  ASSERT_TRUE(q);
  int completions = 0;
  for (int i = 0; i < 20; ++i) {
    q->submit([] {}, [&] {
      ++completions;
      q->stop();
    });
  }
  ASSERT_TRUE(runUntil(base_.get(), [&] { return completions >= 1; }));
  runFor(base_.get(), 50);
  EXPECT_EQ(completions, 1);
}

}  // namespace
}  // namespace mtep::server
