#include "transport/stream.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

namespace mtep::transport {
namespace {

// A connected non-blocking socket; every wait goes through poll() bounded by
// the read timeout and the deadline.
class SocketStream final : public Stream {
 public:
  SocketStream(UniqueFd fd, std::string label, Timeouts timeouts)
      : fd_(std::move(fd)), label_(std::move(label)), timeouts_(timeouts) {}

  Status writeAll(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return temporary("cannot send to " + label_ + ": " + std::strerror(errno));
      }
      if (auto st = wait(POLLOUT, "sending to"); !st) return st;
    }
    return okStatus();
  }

  Result<size_t> readSome(char* buf, size_t size) override {
    if (size == 0) return Error(ErrorKind::kInternal, "read of 0 bytes from " + label_);
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buf, size, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return temporary("cannot read from " + label_ + ": " + std::strerror(errno));
      }
      if (auto st = wait(POLLIN, "reading from"); !st) return std::move(st).error();
    }
  }

  void setTimeouts(const Timeouts& timeouts) override { timeouts_ = timeouts; }
  const Timeouts& timeouts() const override { return timeouts_; }
  const std::string& label() const override { return label_; }
  int fd() const override { return fd_.get(); }

 private:
  static Error temporary(std::string message) {
    return Error(ErrorKind::kTemporary, std::move(message));
  }

  // Waits for `events` within the read timeout and the deadline.
  Status wait(short events, const char* doing) {
    const int read_ms = std::max(0, timeouts_.read_timeout_ms);
    const auto now = SteadyClock::now();
    const auto read_until = now + std::chrono::milliseconds(read_ms);
    const bool deadline_first = timeouts_.deadline <= read_until;
    const auto until = deadline_first ? timeouts_.deadline : read_until;
    for (;;) {
      pollfd p{fd_.get(), events, 0};
      const int rc = ::poll(&p, 1, remainingMs(until));
      if (rc > 0) return okStatus();  // errors and hang-ups surface in send/recv
      if (rc == 0) {
        if (deadline_first)
          return temporary(std::string("deadline passed ") + doing + " " + label_);
        return temporary("timed out after " + std::to_string(read_ms) + " ms " + doing + " " +
                         label_);
      }
      if (errno != EINTR) {
        return temporary(std::string("poll failed ") + doing + " " + label_ + ": " +
                         std::strerror(errno));
      }
    }
  }

  UniqueFd fd_;
  std::string label_;
  Timeouts timeouts_;
};

}  // namespace

std::unique_ptr<Stream> makeSocketStream(UniqueFd fd, std::string label, Timeouts timeouts) {
  return std::make_unique<SocketStream>(std::move(fd), std::move(label), timeouts);
}

int remainingMs(SteadyClock::time_point deadline) {
  const auto now = SteadyClock::now();
  if (deadline <= now) return 0;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
  return static_cast<int>(std::min<int64_t>(left.count(), std::numeric_limits<int>::max()));
}

}  // namespace mtep::transport
