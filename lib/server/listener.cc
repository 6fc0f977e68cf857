// NAME
//   listener.cc - bind, listen and accept for one ADDR:PORT
// DESCRIPTION
//   See listener.h.

#include "server/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include "util/log.h"

namespace mtep::server {
namespace {

Error bindError(const std::string& name, const char* what) {
  return Error(ErrorKind::kConfig,
               "cannot listen on " + name + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

std::string formatSockaddr(const sockaddr* addr, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "unknown";
}

std::string clientOf(std::string_view address) {
  std::string host;
  if (!address.empty() && address.front() == '[') {
    const size_t end = address.find(']');
    if (end == std::string_view::npos) return {};
    host = std::string(address.substr(1, end - 1));
  } else {
    host = std::string(address.substr(0, address.rfind(':')));
  }
  char text[INET6_ADDRSTRLEN] = "";
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    ::inet_ntop(AF_INET, &v4, text, sizeof text);
    return text;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) != 1) return {};
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], sizeof v4);
    ::inet_ntop(AF_INET, &v4, text, sizeof text);
    return text;
  }
  std::memset(&v6.s6_addr[8], 0, 8);  // one host owns a whole /64
  ::inet_ntop(AF_INET6, &v6, text, sizeof text);
  return std::string(text) + "/64";
}

Result<std::unique_ptr<Listener>> Listener::bind(const config::ListenAddress& address) {
  std::string name = address.toString();
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, address.host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(address.port);
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    len = sizeof(sockaddr_in6);
  } else {
    return Error(ErrorKind::kConfig, "cannot listen on " + name + ": not a numeric address");
  }

  UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return bindError(name, "socket");
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return bindError(name, "SO_REUSEADDR");
  }
  if (ss.ss_family == AF_INET6 &&
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    return bindError(name, "IPV6_V6ONLY");
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    return bindError(name, "bind");
  }
  if (::listen(fd.get(), kBacklog) != 0) return bindError(name, "listen");
  return std::unique_ptr<Listener>(new Listener(std::move(fd), std::move(name)));
}

uint16_t Listener::boundPort() const {
  int fd = listener_ ? evconnlistener_get_fd(listener_.get()) : fd_.get();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

Status Listener::start(event_base* base, SessionFactory& factory, AcceptHandler& handler,
                       size_t group) {
  factory_ = &factory;
  group_ = group;
  handler_ = &handler;
  resume_timer_.reset(evtimer_new(base, &Listener::resumeCallback, this));
  if (!resume_timer_) return Error(ErrorKind::kInternal, "evtimer_new failed");
  // Backlog 0: the socket is already listening. Accepted sockets come
  // nonblocking and close-on-exec.
  listener_.reset(evconnlistener_new(base, &Listener::acceptCallback, this,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd_.get()));
  if (!listener_) return Error(ErrorKind::kInternal, "evconnlistener_new failed for " + name_);
  fd_.release();
  evconnlistener_set_error_cb(listener_.get(), &Listener::errorCallback);
  return okStatus();
}

void Listener::stop() {
  listener_.reset();
  resume_timer_.reset();
  fd_.reset();
}

void Listener::acceptCallback(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int len,
                              void* arg) noexcept {
  auto* self = static_cast<Listener*>(arg);
  PeerInfo peer;
  try {
    peer.address = formatSockaddr(addr, static_cast<socklen_t>(len));
    peer.local = self->name_;
  } catch (...) {
    ::close(fd);
    return;
  }
  self->handler_->onAccept(fd, peer, *self->factory_, self->group_);
}

void Listener::errorCallback(evconnlistener* l, void* arg) noexcept {
  auto* self = static_cast<Listener*>(arg);
  int err = EVUTIL_SOCKET_ERROR();
  if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
    log::warning("%s: cannot accept: %s; pausing accepts for %d ms", self->name_.c_str(),
                 std::strerror(err), kAcceptPauseMs);
    evconnlistener_disable(l);
    timeval tv{0, kAcceptPauseMs * 1000};
    evtimer_add(self->resume_timer_.get(), &tv);
    return;
  }
  log::warning("%s: accept failed: %s", self->name_.c_str(), std::strerror(err));
}

void Listener::resumeCallback(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Listener*>(arg);
  if (self->listener_) evconnlistener_enable(self->listener_.get());
}

}  // namespace mtep::server
