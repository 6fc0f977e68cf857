#pragma once
// NAME
//   work_queue.h - blocking work off the event loop, results back on it
// SUMMARY
//   auto q = WorkQueue::create(base, 4);
//   (*q)->submit<int>([] { return slowLookup(); },          // on a worker
//                     [](int answer) { use(answer); },       // on the loop thread
//                     -1);                                   // if the job threw
// DESCRIPTION
//   N worker threads take jobs first come, first served. When a job is done
//   its completion is queued and the loop is woken through an eventfd that
//   the loop watches with an ordinary libevent read event: workers never
//   call libevent (the base runs without locks, event_handles.h). The loop
//   runs the completions in the order the jobs finished.
//   A job must not throw; if it does, the error is logged and the completion
//   still runs (the typed submit() passes its `if_failed` value), so whoever
//   waits for it is never left waiting.
//   What a job captures is used and destroyed on a worker thread: copy plain
//   data into it, never a ConnectionHandle, a session or a libevent object;
//   keep those in the completion, which lives and dies on the loop thread.
//   stop() (and the destructor) drop the jobs not started, wait for running
//   ones and drop their completions: nothing runs on the loop after it. The
//   workers block the daemon's signals (SIGHUP, SIGTERM, SIGINT, ...), which
//   the loop thread handles.
// SEE ALSO
//   session.h (kPending, ConnectionHandle::resume)

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "server/event_handles.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace mtep::server {

class WorkQueue {
 public:
  // Starts max(threads, 1) workers and watches the wake-up eventfd on
  // `base` (which must outlive the queue). kInternal on failure.
  static Result<std::unique_ptr<WorkQueue>> create(event_base* base, size_t threads);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Loop thread. `job` runs on a worker, then `done` on the loop thread.
  // After stop() nothing is queued and `done` never runs.
  void submit(std::function<void()> job, std::function<void()> done);

  // The same, carrying the job's value to the completion.
  template <typename T>
  void submit(std::function<T()> job, std::function<void(T)> done, T if_failed) {
    auto slot = std::make_shared<std::optional<T>>();
    submit([job = std::move(job), slot] { slot->emplace(job()); },
           [done = std::move(done), slot, if_failed = std::move(if_failed)]() mutable {
             done(slot->has_value() ? std::move(**slot) : std::move(if_failed));
           });
  }

  // Jobs submitted whose completion has not run yet.
  size_t outstanding() const { return outstanding_; }
  size_t threads() const { return workers_.size(); }
  // See above. Idempotent; loop thread.
  void stop();

 private:
  struct Item {
    std::function<void()> job;
    std::function<void()> done;
  };
  WorkQueue() = default;

  static void wakeCallback(evutil_socket_t fd, short events, void* arg) noexcept;
  void workerLoop();
  void deliver();

  UniqueFd wake_fd_;  // eventfd: workers write, the loop reads
  EventPtr wake_event_;
  std::vector<std::thread> workers_;
  size_t outstanding_ = 0;  // loop thread only

  std::mutex mu_;                   // guards everything below
  std::condition_variable cv_;      // a job was queued, or stopping
  std::deque<Item> jobs_;           // guarded by mu_: not started yet
  std::vector<std::function<void()>> finished_;  // guarded by mu_: completions to run
  bool woken_ = false;              // guarded by mu_: the eventfd was written since the last read
  bool stopping_ = false;           // guarded by mu_
};

}  // namespace mtep::server
