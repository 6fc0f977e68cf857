#pragma once
// NAME
//   listener.h - one listening TCP socket (ADDR:PORT) and its session factory
// SUMMARY
//   auto l = Listener::bind(address);            // as root, before fork
//   l->start(base, factory, handler);            // after the drop, in the loop
//   l->stop();                                   // shutdown: no more accepts
// DESCRIPTION
//   bind() makes a nonblocking, close-on-exec socket with SO_REUSEADDR (and
//   IPV6_V6ONLY for IPv6 addresses), binds it and listens with a backlog of
//   kBacklog, without touching libevent, so it can run before the daemon
//   forks. start() accepts with an evconnlistener and hands each new socket,
//   with the factory that serves this address, to the AcceptHandler. When
//   accept fails for want of descriptors (EMFILE/ENFILE) the listener pauses
//   for kAcceptPauseMs instead of spinning.
// SEE ALSO
//   session.h, connection_pool.h

#include <sys/socket.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "server/event_handles.h"
#include "server/session.h"
#include "util/result.h"

namespace mtep::server {

class AcceptHandler {
 public:
  // A new peer on a listener of listen group `group` served by `factory`;
  // takes ownership of `fd`.
  virtual void onAccept(int fd, const PeerInfo& peer, SessionFactory& factory,
                        size_t group) noexcept = 0;

 protected:
  ~AcceptHandler() = default;
};

class Listener {
 public:
  static constexpr int kBacklog = 1024;
  static constexpr int kAcceptPauseMs = 100;

  // kConfig error with a readable message ("cannot bind 127.0.0.1:6211:
  // Address already in use") when the socket cannot be set up.
  static Result<std::unique_ptr<Listener>> bind(const config::ListenAddress& address);

  // Accepts on `base`; every peer is served by a session from `factory`
  // (which must outlive the listener), counted in listen group `group`.
  Status start(event_base* base, SessionFactory& factory, AcceptHandler& handler,
               size_t group = 0);
  void stop();

  const std::string& name() const { return name_; }
  // The port actually bound (differs from the config only for port 0).
  uint16_t boundPort() const;

 private:
  Listener(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  static void acceptCallback(evconnlistener* l, evutil_socket_t fd, sockaddr* addr, int len,
                             void* arg) noexcept;
  static void errorCallback(evconnlistener* l, void* arg) noexcept;
  static void resumeCallback(evutil_socket_t fd, short events, void* arg) noexcept;

  UniqueFd fd_;       // until start() hands it to the evconnlistener
  std::string name_;  // "127.0.0.1:6211"
  SessionFactory* factory_ = nullptr;
  size_t group_ = 0;
  AcceptHandler* handler_ = nullptr;
  ListenerPtr listener_;
  EventPtr resume_timer_;  // re-enables accepting after EMFILE
};

// "192.0.2.1:40000" or "[2001:db8::1]:40000".
std::string formatSockaddr(const sockaddr* addr, socklen_t len);
// The client a peer address (formatSockaddr's form) counts as for
// per-client limits: "192.0.2.1", or the /64 of an IPv6 address,
// "2001:db8:1:2::/64" (an IPv4-mapped address counts as its IPv4 address).
// "" when `address` is neither.
std::string clientOf(std::string_view address);

}  // namespace mtep::server
