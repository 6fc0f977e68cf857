#pragma once
// NAME
//   fakes.h - a table-driven fake Resolver that records every call, and a
//   small MTEP test server on 127.0.0.1 port 0 for the verify tests
// DESCRIPTION
//   FakeResolver: names without an entry are NXDOMAIN (kNotFound).
//   MtepTestServer: accepts connections one after another until destroyed,
//   counts them, records each request payload, and answers with a
//   per-connection handler.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dns/resolver.h"
#include "netstring/netstring.h"

namespace mtep::verify::testing {

class FakeResolver final : public dns::Resolver {
 public:
  void setSrv(const std::string& name, std::vector<dns::SrvRecord> records) {
    srv_.insert_or_assign(name, Result<std::vector<dns::SrvRecord>>(std::move(records)));
  }
  void failSrv(const std::string& name, ErrorKind kind) {
    srv_.insert_or_assign(name, Result<std::vector<dns::SrvRecord>>(Error(kind, "fake " + name)));
  }
  void setMx(const std::string& name, std::vector<dns::MxRecord> records) {
    mx_.insert_or_assign(name, Result<std::vector<dns::MxRecord>>(std::move(records)));
  }
  void failMx(const std::string& name, ErrorKind kind) {
    mx_.insert_or_assign(name, Result<std::vector<dns::MxRecord>>(Error(kind, "fake " + name)));
  }
  void setAddresses(const std::string& name, std::vector<std::string> addresses) {
    addrs_.insert_or_assign(name, Result<std::vector<std::string>>(std::move(addresses)));
  }
  void failAddresses(const std::string& name, ErrorKind kind) {
    addrs_.insert_or_assign(name, Result<std::vector<std::string>>(Error(kind, "fake " + name)));
  }

  // "srv _mtep._tcp.alpha.test", "mx alpha.test", "addresses mx.alpha.test"
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

  Result<std::vector<dns::SrvRecord>> srv(std::string_view name, int64_t) override {
    return lookup("srv", srv_, name);
  }
  Result<std::vector<dns::MxRecord>> mx(std::string_view name, int64_t) override {
    return lookup("mx", mx_, name);
  }
  Result<std::vector<std::string>> addresses(std::string_view host, int64_t) override {
    return lookup("addresses", addrs_, host);
  }

 private:
  template <typename T>
  Result<T> lookup(const char* what, const std::map<std::string, Result<T>, std::less<>>& table,
                   std::string_view name) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::string(what) + " " + std::string(name));
    auto it = table.find(name);
    if (it == table.end()) return Error(ErrorKind::kNotFound, "fake NXDOMAIN " + std::string(name));
    return it->second;
  }

  std::map<std::string, Result<std::vector<dns::SrvRecord>>, std::less<>> srv_;
  std::map<std::string, Result<std::vector<dns::MxRecord>>, std::less<>> mx_;
  std::map<std::string, Result<std::vector<std::string>>, std::less<>> addrs_;
  mutable std::mutex mu_;           // guards calls_
  std::vector<std::string> calls_;  // guarded by mu_
};

inline void sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// A socket bound to 127.0.0.1 on a free port, listening when asked.
inline int boundSocket(uint16_t* port, bool listening) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      (listening && ::listen(fd, 16) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

// A port on 127.0.0.1 where nothing listens (bound, never listening, so
// nobody else gets it while the test runs): connections are refused.
class DeadPort {
 public:
  DeadPort() : fd_(boundSocket(&port_, false)) {}
  ~DeadPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  DeadPort(const DeadPort&) = delete;
  DeadPort& operator=(const DeadPort&) = delete;
  bool ok() const { return fd_ >= 0; }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_ = 0;
  int fd_ = -1;
};

class MtepTestServer {
 public:
  // What the server does on one connection; `stop` turns true when the
  // server is being destroyed.
  using Handler = std::function<void(MtepTestServer&, int fd)>;

  explicit MtepTestServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = boundSocket(&port_, true);
    if (listen_fd_ < 0) return;
    thread_ = std::thread([this] { run(); });
  }
  ~MtepTestServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  MtepTestServer(const MtepTestServer&) = delete;
  MtepTestServer& operator=(const MtepTestServer&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  bool stopping() const { return stop_; }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  // Reads one request netstring; nullopt on close, error, or server stop.
  std::optional<std::string> readRequest(int fd) {
    netstring::Decoder decoder({.max_length = 4096, .skip_crlf = true});
    char c = 0;
    for (;;) {
      if (!waitReadable(fd)) return std::nullopt;
      if (::recv(fd, &c, 1, 0) != 1) return std::nullopt;
      size_t used = 0;
      const auto state = decoder.feed(std::string_view(&c, 1), &used);
      if (state == netstring::DecodeState::kMessage) {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(decoder.payload());
        return decoder.payload();
      }
      if (state == netstring::DecodeState::kError) return std::nullopt;
    }
  }

  // Waits until the client closes (or the server stops).
  void drainUntilClosed(int fd) {
    char buf[256];
    while (waitReadable(fd)) {
      if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
  }

 private:
  bool waitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      const int rc = ::poll(&p, 1, 50);
      if (rc > 0) return true;
      if (rc < 0) return false;
    }
    return false;
  }

  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      handler_(*this, fd);
      ::close(fd);
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  mutable std::mutex mu_;              // guards requests_
  std::vector<std::string> requests_;  // guarded by mu_
};

// Answers the "?" with `reply` (raw bytes), then the "Q" with a farewell.
inline MtepTestServer::Handler answering(std::string reply) {
  return [reply = std::move(reply)](MtepTestServer& s, int fd) {
    if (!s.readRequest(fd)) return;
    sendAll(fd, reply);
    if (!s.readRequest(fd)) return;
    sendAll(fd, netstring::encode("K2.3.0 CYA"));
    s.drainUntilClosed(fd);
  };
}

// Accepts, reads the request, and never answers until the client leaves.
inline MtepTestServer::Handler silent() {
  return [](MtepTestServer& s, int fd) { s.drainUntilClosed(fd); };
}

}  // namespace mtep::verify::testing
