#pragma once
// NAME
//   socks_forwarder.h - a SOCKS5 proxy for tests that maps the requested
//   port to a local one (any name accepted) and relays bytes
// SUMMARY
//   SocksForwarder proxy({{6211, mtep_port}, {25, smtp_port}});
//   cfg->outbound.onion_proxy = {"127.0.0.1", proxy.port()};
//   proxy.names() == {"abc...xyz.onion:6211", ...}
// DESCRIPTION
//   No authentication or username/password (anything accepted). A port
//   without a mapping gets SOCKS reply 5 (connection refused), as Tor
//   reports an onion service that does not listen on that port. Each
//   connection gets its own thread; all are joined on destruction.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/unique_fd.h"

namespace mtep::testing {

class SocksForwarder {
 public:
  explicit SocksForwarder(std::map<uint16_t, uint16_t> ports) : ports_(std::move(ports)) {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(listener_.get(), 16) != 0 ||
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      return;
    }
    port_ = ntohs(sa.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~SocksForwarder() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    for (std::thread& t : workers_) t.join();
  }
  uint16_t port() const { return port_; }
  // "name:port" per CONNECT request, in order.
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mu_);
    return names_;
  }

 private:
  static bool readExact(int fd, char* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      const ssize_t r = ::recv(fd, buf + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  static bool sendAll(int fd, const char* data, size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void acceptLoop() {
    for (;;) {
      const int fd = ::accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      workers_.emplace_back([this, fd] {
        UniqueFd client(fd);
        serve(client.get());
      });
    }
  }

  void serve(int fd) {
    char head[2];
    if (!readExact(fd, head, 2) || head[0] != 5) return;
    std::string methods(static_cast<uint8_t>(head[1]), '\0');
    if (!readExact(fd, methods.data(), methods.size())) return;
    if (methods.find('\0') != std::string::npos) {
      sendAll(fd, "\x05\x00", 2);
    } else {
      sendAll(fd, "\x05\x02", 2);
      char vl[2];
      if (!readExact(fd, vl, 2)) return;
      std::string user(static_cast<uint8_t>(vl[1]), '\0');
      char pl = 0;
      if (!readExact(fd, user.data(), user.size()) || !readExact(fd, &pl, 1)) return;
      std::string pass(static_cast<uint8_t>(pl), '\0');
      if (!readExact(fd, pass.data(), pass.size())) return;
      sendAll(fd, "\x01\x00", 2);
    }
    char req[4];
    if (!readExact(fd, req, 4) || req[3] != 3) return;  // names only here
    char len = 0;
    if (!readExact(fd, &len, 1)) return;
    std::string name(static_cast<uint8_t>(len), '\0');
    char port_bytes[2];
    if (!readExact(fd, name.data(), name.size()) || !readExact(fd, port_bytes, 2)) return;
    const auto port = static_cast<uint16_t>((static_cast<uint8_t>(port_bytes[0]) << 8) |
                                            static_cast<uint8_t>(port_bytes[1]));
    {
      std::lock_guard<std::mutex> lock(mu_);
      names_.push_back(name + ":" + std::to_string(port));
    }
    const char ok[] = {5, 0, 0, 1, 127, 0, 0, 1, 0, 0};
    const char refused[] = {5, 5, 0, 1, 0, 0, 0, 0, 0, 0};
    auto it = ports_.find(port);
    UniqueFd peer;
    if (it != ports_.end()) {
      peer = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      sa.sin_port = htons(it->second);
      if (::connect(peer.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) peer.reset();
    }
    if (!peer.valid()) {
      sendAll(fd, refused, sizeof refused);
      return;
    }
    if (!sendAll(fd, ok, sizeof ok)) return;
    relay(fd, peer.get());
  }

  static void relay(int a, int b) {
    char buf[4096];
    for (;;) {
      pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (::poll(p, 2, 10000) <= 0) return;
      for (int i = 0; i < 2; ++i) {
        if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        const ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        if (!sendAll(i == 0 ? b : a, buf, static_cast<size_t>(n))) return;
      }
    }
  }

  std::map<uint16_t, uint16_t> ports_;
  UniqueFd listener_;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> names_;  // guarded by mu_
  std::vector<std::thread> workers_;  // only the acceptor thread adds, joined after it
  std::thread acceptor_;
};

}  // namespace mtep::testing
