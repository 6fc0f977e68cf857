// NAME
//   work_queue.cc - worker threads and the eventfd that wakes the loop
// DESCRIPTION
//   See work_queue.h.

#include "server/work_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <exception>
#include <utility>

#include "util/log.h"

namespace mtep::server {
namespace {

// The loop thread takes these; a worker must not be picked by the kernel.
void blockDaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM, SIGPIPE}) {
    sigaddset(&set, sig);
  }
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

Result<std::unique_ptr<WorkQueue>> WorkQueue::create(event_base* base, size_t threads) {
  std::unique_ptr<WorkQueue> q(new WorkQueue());
  q->wake_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!q->wake_fd_.valid()) return Error(ErrorKind::kInternal, "eventfd failed");
  q->wake_event_.reset(
      event_new(base, q->wake_fd_.get(), EV_READ | EV_PERSIST, &WorkQueue::wakeCallback, q.get()));
  if (!q->wake_event_ || event_add(q->wake_event_.get(), nullptr) != 0) {
    return Error(ErrorKind::kInternal, "cannot watch the work queue's eventfd");
  }
  if (threads == 0) threads = 1;
  try {
    for (size_t i = 0; i < threads; ++i) q->workers_.emplace_back([w = q.get()] { w->workerLoop(); });
  } catch (const std::exception& e) {
    q->stop();
    return Error(ErrorKind::kInternal, std::string("cannot start worker threads: ") + e.what());
  }
  return q;
}

WorkQueue::~WorkQueue() { stop(); }

void WorkQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
  wake_event_.reset();
  // Dropped on this thread, where the completions belong.
  std::deque<Item> jobs;
  std::vector<std::function<void()>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs.swap(jobs_);
    finished.swap(finished_);
  }
  outstanding_ = 0;
}

void WorkQueue::submit(std::function<void()> job, std::function<void()> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    jobs_.push_back(Item{std::move(job), std::move(done)});
  }
  ++outstanding_;
  cv_.notify_one();
}

void WorkQueue::workerLoop() {
  blockDaemonSignals();
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      item = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      item.job();
    } catch (const std::exception& e) {
      log::error("work queue: a job failed: %s", e.what());
    } catch (...) {
      log::error("work queue: a job failed");
    }
    item.job = nullptr;  // its captures die here, on the worker
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // While stopping too: stop() drops it on the loop thread.
      finished_.push_back(std::move(item.done));
      wake = !woken_;
      woken_ = true;
    }
    if (wake) {
      uint64_t one = 1;
      ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
      (void)n;  // EAGAIN means the counter is already non-zero: the loop wakes anyway
    }
  }
}

void WorkQueue::wakeCallback(evutil_socket_t, short, void* arg) noexcept {
  static_cast<WorkQueue*>(arg)->deliver();
}

void WorkQueue::deliver() {
  uint64_t count = 0;
  ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
  (void)n;
  std::vector<std::function<void()>> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished.swap(finished_);
    woken_ = false;
  }
  for (auto& done : finished) {
    if (outstanding_ > 0) --outstanding_;
    try {
      if (done) done();
    } catch (const std::exception& e) {
      log::error("work queue: a completion failed: %s", e.what());
    } catch (...) {
      log::error("work queue: a completion failed");
    }
    // A completion may have stopped the queue (shutdown): drop the rest.
    if (workers_.empty()) return;
  }
}

}  // namespace mtep::server
