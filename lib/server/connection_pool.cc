// NAME
//   connection_pool.cc - accept, cap, refuse, drain
// DESCRIPTION
//   See connection_pool.h.

#include "server/connection_pool.h"

#include <sys/socket.h>

#include <exception>
#include <string_view>
#include <vector>

#include "util/clock.h"
#include "util/log.h"
#include "util/unique_fd.h"

namespace mtep::server {

ConnectionPool::~ConnectionPool() {
  drained_ = nullptr;
  connections_.clear();
}

void ConnectionPool::onAccept(int fd, const PeerInfo& peer, SessionFactory& factory) noexcept {
  UniqueFd guard(fd);
  try {
    if (draining_) return;
    if (connections_.size() >= max_connections_) {
      refuseBusy(guard.release(), peer, factory);
      return;
    }
    auto session = factory.create(peer);
    auto conn = Connection::create(base_, guard.release(), peer, std::move(session), *this);
    if (!conn) {
      log::error("%s: cannot set up the connection: %s", peer.address.c_str(),
                 conn.error().message().c_str());
      return;
    }
    Connection* raw = conn->get();
    connections_.emplace(raw, std::move(*conn));
    raw->start();
  } catch (const std::exception& e) {
    log::error("%s: cannot accept: %s", peer.address.c_str(), e.what());
  } catch (...) {
    log::error("%s: cannot accept", peer.address.c_str());
  }
}

void ConnectionPool::refuseBusy(int fd, const PeerInfo& peer, SessionFactory& factory) {
  UniqueFd guard(fd);
  std::string_view reply = factory.busyReply();
  if (!reply.empty()) {
    ssize_t ignored = ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
  }
  // Half-close and drop what the peer already sent, so the close sends a
  // FIN after the reply rather than a reset that could destroy it.
  ::shutdown(fd, SHUT_WR);
  char sink[kBusyDrainBytes];
  ssize_t ignored = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
  (void)ignored;
  ++busy_refused_;
  int64_t now = SystemClock::instance().now();
  if (now != busy_logged_at_) {
    log::warning("%s: refused %lld connection(s), %zu open = max_connections (%s)",
                 peer.local.c_str(), static_cast<long long>(busy_refused_), connections_.size(),
                 factory.protocolName());
    busy_refused_ = 0;
    busy_logged_at_ = now;
  }
}

void ConnectionPool::connectionClosed(Connection* c) noexcept {
  connections_.erase(c);
  checkDrained();
}

void ConnectionPool::drain(std::function<void()> drained) {
  draining_ = true;
  drained_ = std::move(drained);
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& [raw, owned] : connections_) open.push_back(raw);
  for (Connection* c : open) c->beginShutdown();  // idle ones are gone after this
  checkDrained();
}

void ConnectionPool::checkDrained() {
  if (!draining_ || !connections_.empty() || !drained_) return;
  auto done = std::move(drained_);
  drained_ = nullptr;
  try {
    done();
  } catch (...) {
    log::error("shutdown callback failed");
  }
}

size_t ConnectionPool::closeAll() {
  size_t n = connections_.size();
  connections_.clear();
  return n;
}

}  // namespace mtep::server
