#pragma once
// NAME
//   loop_helpers.h - driving a libevent base and a socketpair peer in tests
// DESCRIPTION
//   runUntil() turns the loop without blocking until a condition holds (or
//   10 s pass: the test then fails on the condition, not on time). Peer is
//   the far end of a socketpair: blocking writes, reads with a timeout.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "server/event_handles.h"

namespace mtep::server::testing {

inline bool runUntil(event_base* base, const std::function<bool()>& done, int limit_ms = 10000) {
  auto t0 = std::chrono::steady_clock::now();
  while (!done()) {
    event_base_loop(base, EVLOOP_NONBLOCK);
    if (done()) break;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(limit_ms)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Turns the loop for `ms` milliseconds of wall time, whatever happens.
inline void runFor(event_base* base, int ms) {
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(ms)) {
    event_base_loop(base, EVLOOP_NONBLOCK);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() {
    if (fd_ >= 0) ::close(fd_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  int fd() const { return fd_; }
  // Whatever is readable now (turning `base` meanwhile), until `want`
  // bytes came or the peer closed.
  std::string read(event_base* base, size_t want, bool* closed = nullptr) {
    std::string got;
    bool eof = false;
    runUntil(base, [&] {
      pollfd p{fd_, POLLIN, 0};
      while (::poll(&p, 1, 0) > 0) {
        char buf[4096];
        ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) {
          eof = true;
          break;
        }
        got.append(buf, static_cast<size_t>(n));
      }
      return eof || got.size() >= want;
    });
    if (closed != nullptr) *closed = eof;
    return got;
  }

 private:
  int fd_;
};

}  // namespace mtep::server::testing
