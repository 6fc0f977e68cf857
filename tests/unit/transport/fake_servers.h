#pragma once
// NAME
//   fake_servers.h - in-process loopback servers for the transport tests
// SUMMARY
//   LoopbackServer s([](int fd) { ... });   // 127.0.0.1, port 0, own thread
//   FakeSocks proxy({.mode = FakeSocks::Mode::kOk});  proxy.port(); proxy.seen();
// DESCRIPTION
//   LoopbackServer accepts connections one after another on a thread and
//   hands each to the handler (which owns nothing: the server closes the
//   socket afterwards). FakeSocks is a SOCKS5 server built on it that
//   records what the client sent (methods, credentials, address type, name
//   or address, port) and then behaves as told: succeed and act as the peer
//   (its first bytes follow the reply in the same write, so a dialer that
//   reads too much loses them), answer garbage, stay silent, close, or
//   reply with an error code. A CountingResolver answers from a list and
//   counts its calls.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "transport/dialer.h"

namespace mtep::transport::testing {

// Reads exactly n bytes within timeout_ms; nullopt on close or timeout.
inline std::optional<std::string> readExact(int fd, size_t n, int timeout_ms = 5000) {
  std::string out;
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    char buf[512];
    const ssize_t got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (got <= 0) return std::nullopt;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

inline bool sendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Waits (up to timeout_ms) until the client closes or stops; drains input.
inline void waitForClose(int fd, int timeout_ms = 5000) {
  char buf[256];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
  }
}

inline sockaddr_storage loopbackAddress(uint16_t port) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ss;
}

class LoopbackServer {
 public:
  using Handler = std::function<void(int fd)>;

  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss = loopbackAddress(0);
    socklen_t len = sizeof(sockaddr_in);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      std::abort();
    }
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      handler_(c);
      ::close(c);
    }
  }

  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// A port on which nothing listens (bound, then closed).
inline uint16_t closedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage ss = loopbackAddress(0);
  socklen_t len = sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    std::abort();
  }
  ::close(fd);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

class FakeSocks {
 public:
  enum class Mode {
    kOk,                  // reply succeeded, then send kPeerGreeting and echo
    kGarbage,             // answer the greeting with an HTTP error
    kSilent,              // read the greeting, say nothing
    kClose,               // read the greeting, close
    kSilentAfterRequest,  // handshake up to the request, then say nothing
    kReply,               // reply with `reply_code`
  };
  struct Options {
    Mode mode = Mode::kOk;
    uint8_t reply_code = 0;                   // for kReply
    std::optional<std::string> require_user;  // pick username/password; check these
    std::string require_password;
  };
  static Options withMode(Mode m) {
    Options o;
    o.mode = m;
    return o;
  }
  static Options withReply(uint8_t code) {
    Options o = withMode(Mode::kReply);
    o.reply_code = code;
    return o;
  }
  static Options withAuth(std::string user, std::string password) {
    Options o;
    o.require_user = std::move(user);
    o.require_password = std::move(password);
    return o;
  }
  struct Seen {
    std::string methods;  // as offered
    std::string username, password;
    int atyp = 0;
    std::string host;  // the name (ATYP 3) or the numeric address
    uint16_t port = 0;
  };
  static constexpr const char* kPeerGreeting = "220 peer ready\r\n";

  explicit FakeSocks(Options options)
      : options_(std::move(options)), server_([this](int fd) { serve(fd); }) {}

  uint16_t port() const { return server_.port(); }
  Proxy proxy() const { return Proxy{"127.0.0.1", port()}; }
  Seen seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  void record(const std::function<void(Seen&)>& f) {
    std::lock_guard<std::mutex> lock(mu_);
    f(seen_);
  }

  void serve(int fd) {
    auto head = readExact(fd, 2);
    if (!head || (*head)[0] != 5) return;
    auto methods = readExact(fd, static_cast<uint8_t>((*head)[1]));
    if (!methods) return;
    record([&](Seen& s) { s.methods = *methods; });
    switch (options_.mode) {
      case Mode::kGarbage:
        sendAll(fd, "HTTP/1.1 400 Bad Request\r\n\r\n");
        waitForClose(fd);
        return;
      case Mode::kSilent:
        waitForClose(fd);
        return;
      case Mode::kClose:
        return;
      default:
        break;
    }
    if (options_.require_user) {
      if (methods->find('\x02') == std::string::npos) {
        sendAll(fd, std::string("\x05\xff", 2));
        return;
      }
      sendAll(fd, std::string("\x05\x02", 2));
      auto ver_ulen = readExact(fd, 2);
      if (!ver_ulen) return;
      auto user = readExact(fd, static_cast<uint8_t>((*ver_ulen)[1]));
      auto plen = readExact(fd, 1);
      if (!user || !plen) return;
      auto pass = readExact(fd, static_cast<uint8_t>((*plen)[0]));
      if (!pass) return;
      record([&](Seen& s) {
        s.username = *user;
        s.password = *pass;
      });
      const bool good = *user == *options_.require_user && *pass == options_.require_password;
      sendAll(fd, std::string(good ? "\x01\x00" : "\x01\x01", 2));
      if (!good) return;
    } else {
      sendAll(fd, std::string("\x05\x00", 2));
    }
    auto req = readExact(fd, 4);
    if (!req) return;
    const int atyp = static_cast<uint8_t>((*req)[3]);
    std::string host;
    if (atyp == 3) {
      auto len = readExact(fd, 1);
      if (!len) return;
      auto name = readExact(fd, static_cast<uint8_t>((*len)[0]));
      if (!name) return;
      host = *name;
    } else {
      const size_t n = atyp == 1 ? 4 : 16;
      auto raw = readExact(fd, n);
      if (!raw) return;
      char text[INET6_ADDRSTRLEN];
      inet_ntop(atyp == 1 ? AF_INET : AF_INET6, raw->data(), text, sizeof text);
      host = text;
    }
    auto port = readExact(fd, 2);
    if (!port) return;
    record([&](Seen& s) {
      s.atyp = atyp;
      s.host = host;
      s.port = static_cast<uint16_t>((static_cast<uint8_t>((*port)[0]) << 8) |
                                     static_cast<uint8_t>((*port)[1]));
    });
    if (options_.mode == Mode::kSilentAfterRequest) {
      waitForClose(fd);
      return;
    }
    const uint8_t code = options_.mode == Mode::kReply ? options_.reply_code : 0;
    std::string reply{5, static_cast<char>(code), 0, 1, 127, 0, 0, 1, 0x30, 0x39};
    if (code != 0) {
      sendAll(fd, reply);
      return;
    }
    sendAll(fd, reply + kPeerGreeting);  // one write: the peer's bytes follow at once
    // Echo until the client closes.
    char buf[256];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      if (!sendAll(fd, std::string(buf, static_cast<size_t>(n)))) return;
    }
  }

  Options options_;
  mutable std::mutex mu_;
  Seen seen_;              // guarded by mu_
  LoopbackServer server_;  // last: its thread uses the members above
};

class CountingResolver final : public NameResolver {
 public:
  Result<std::vector<sockaddr_storage>> resolve(const std::string& host, uint16_t port) override {
    ++calls;
    std::lock_guard<std::mutex> lock(mu);
    hosts.push_back(host + ":" + std::to_string(port));
    if (error) return *error;
    return answer;
  }
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<std::string> hosts;  // guarded by mu
  std::vector<sockaddr_storage> answer;
  std::optional<Error> error;
};

}  // namespace mtep::transport::testing
