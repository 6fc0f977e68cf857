#include "mtep/client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "util/unique_fd.h"

namespace mtep::proto {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct AddrInfoDeleter {
  void operator()(addrinfo* p) const noexcept { freeaddrinfo(p); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

enum class Wait { kReady, kTimeout, kError };

// Milliseconds left until `deadline`, rounded up, never negative.
int remainingMs(SteadyClock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, std::numeric_limits<int>::max()));
}

// Waits up to timeout_ms (and never past `deadline`) for `events` on fd.
Wait waitFor(int fd, short events, int timeout_ms, SteadyClock::time_point deadline) {
  auto until = std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(timeout_ms));
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, remainingMs(until));
    if (rc > 0) return Wait::kReady;  // POLLERR/POLLHUP surface in the next call
    if (rc == 0) return Wait::kTimeout;
    if (errno != EINTR) return Wait::kError;
  }
}

std::string errnoText(int err) { return std::strerror(err); }

std::string numericAddress(const addrinfo* ai) {
  char host[NI_MAXHOST];
  if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST) !=
      0) {
    return "?";
  }
  return host;
}

// One connected exchange: the socket, bytes read but not yet decoded, and
// the limits that apply to it.
class Exchange {
 public:
  Exchange(UniqueFd fd, std::string label, const ClientOptions& options,
           SteadyClock::time_point deadline)
      : fd_(std::move(fd)), label_(std::move(label)), options_(options), deadline_(deadline) {}

  Status sendAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return temporary("cannot send to " + label_ + ": " + errnoText(errno));
      }
      if (auto st = wait(POLLOUT, "sending to"); !st) return st;
    }
    return okStatus();
  }

  // Reads until one whole response is decoded.
  Result<Response> readResponse() {
    ResponseDecoder decoder(options_.max_response_size);
    for (;;) {
      if (!pending_.empty()) {
        size_t used = 0;
        auto state = decoder.feed(pending_, &used);
        pending_.erase(0, used);
        if (state == netstring::DecodeState::kMessage) return decoder.response();
        if (state == netstring::DecodeState::kError) {
          return Error(ErrorKind::kProtocol,
                       "bad MTEP response from " + label_ + ": " + decoder.error());
        }
      }
      char buf[1024];
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n > 0) {
        pending_.assign(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return temporary("connection closed by " + label_ + " before a full response");
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return temporary("cannot read from " + label_ + ": " + errnoText(errno));
      }
      if (auto st = wait(POLLIN, "reading from"); !st) return std::move(st).error();
    }
  }

  bool deadlinePassed() const { return SteadyClock::now() >= deadline_; }

 private:
  Error temporary(std::string message) const {
    return Error(ErrorKind::kTemporary, std::move(message));
  }

  Status wait(short events, const char* doing) {
    const auto read_until =
        SteadyClock::now() + std::chrono::milliseconds(options_.read_timeout_ms);
    const bool total_first = deadline_ <= read_until;  // which limit a timeout means
    switch (deadlinePassed() ? Wait::kTimeout
                             : waitFor(fd_.get(), events, options_.read_timeout_ms, deadline_)) {
      case Wait::kReady:
        return okStatus();
      case Wait::kTimeout:
        if (total_first) {
          return temporary("total timeout of " + std::to_string(options_.total_timeout_ms) +
                           " ms expired " + doing + " " + label_);
        }
        return temporary("timed out after " + std::to_string(options_.read_timeout_ms) + " ms " +
                         doing + " " + label_);
      case Wait::kError:
        break;
    }
    return temporary(std::string("poll failed ") + doing + " " + label_ + ": " + errnoText(errno));
  }

  UniqueFd fd_;
  std::string label_;
  const ClientOptions& options_;
  SteadyClock::time_point deadline_;
  std::string pending_;  // received, not yet decoded
};

// Connects to one address within timeout_ms; the socket stays non-blocking.
Result<UniqueFd> connectTo(const addrinfo* ai, int timeout_ms, SteadyClock::time_point deadline,
                           const std::string& label) {
  const std::string where = label + " (" + numericAddress(ai) + ")";
  UniqueFd fd(
      ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd.valid()) {
    return Error(ErrorKind::kTemporary,
                 "cannot create a socket for " + where + ": " + errnoText(errno));
  }
  int rc = ::connect(fd.get(), ai->ai_addr, ai->ai_addrlen);
  if (rc == 0) return fd;
  if (errno != EINPROGRESS && errno != EINTR) {
    return Error(ErrorKind::kTemporary, "cannot connect to " + where + ": " + errnoText(errno));
  }
  switch (waitFor(fd.get(), POLLOUT, timeout_ms, deadline)) {
    case Wait::kReady:
      break;
    case Wait::kTimeout:
      return Error(ErrorKind::kTemporary, "timed out connecting to " + where);
    case Wait::kError:
      return Error(ErrorKind::kTemporary,
                   "poll failed connecting to " + where + ": " + errnoText(errno));
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    return Error(ErrorKind::kTemporary, "cannot connect to " + where + ": " + errnoText(err));
  }
  return fd;
}

}  // namespace

Result<Response> MtepClient::query(const std::string& host, uint16_t port, std::string_view token,
                                   std::string_view sender, std::string_view recipient) const {
  const std::string label =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  if (options_.connect_timeout_ms <= 0 || options_.read_timeout_ms <= 0 ||
      options_.total_timeout_ms <= 0 || options_.max_response_size == 0) {
    return Error(ErrorKind::kConfig, "MTEP client timeouts and response size must be positive");
  }
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(options_.total_timeout_ms);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  const std::string service = std::to_string(port);
  int gai = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
  AddrInfoPtr addrs(raw);
  if (gai != 0) {
    std::string why = gai == EAI_SYSTEM ? errnoText(errno) : gai_strerror(gai);
    return Error(ErrorKind::kTemporary, "cannot resolve " + label + ": " + why);
  }

  std::string last_error = "no address for " + label;
  for (const addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) {
    int left = remainingMs(deadline);
    if (left == 0) {
      last_error = "total timeout of " + std::to_string(options_.total_timeout_ms) +
                   " ms expired connecting to " + label;
      break;
    }
    auto fd = connectTo(ai, std::min(options_.connect_timeout_ms, left), deadline, label);
    if (!fd) {
      last_error = fd.error().message();
      continue;
    }
    // Connected: this server answers; failures from here on are final.
    Exchange ex(std::move(fd).value(), label, options_, deadline);
    if (auto st = ex.sendAll(encodeQuery(token, sender, recipient)); !st) {
      return std::move(st).error();
    }
    auto answer = ex.readResponse();
    if (!answer) return answer;
    if (options_.send_quit && !ex.deadlinePassed() && ex.sendAll(encodeQuit()).ok()) {
      // Any farewell, an error, or a dry close all count as K2.3.0.
      (void)ex.readResponse();
    }
    return answer;
  }
  return Error(ErrorKind::kTemporary, last_error);
}

}  // namespace mtep::proto
