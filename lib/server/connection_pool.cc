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

GroupLimits ConnectionPool::limitsOf(size_t group) const {
  return group < groups_.size() ? groups_[group] : GroupLimits{};
}

std::string ConnectionPool::clientKey(size_t group, const std::string& client) {
  return client.empty() ? std::string() : std::to_string(group) + " " + client;
}

size_t ConnectionPool::groupSize(size_t group) const {
  return group < group_open_.size() ? group_open_[group] : 0;
}

size_t ConnectionPool::clientSize(size_t group, const std::string& client) const {
  auto it = client_open_.find(clientKey(group, client));
  return it == client_open_.end() ? 0 : it->second;
}

void ConnectionPool::onAccept(int fd, const PeerInfo& peer, SessionFactory& factory,
                              size_t group) noexcept {
  UniqueFd guard(fd);
  try {
    if (draining_) return;
    const GroupLimits limits = limitsOf(group);
    const std::string client = clientOf(peer.address);
    // Counted even without a cap, so that one set by SIGHUP sees them.
    const std::string key = clientKey(group, client);
    if (connections_.size() >= max_connections_) {
      refuse(guard.release(), peer, factory.busyReply(),
             std::to_string(connections_.size()) + " open = max_connections (" +
                 factory.protocolName() + ")");
      return;
    }
    if (limits.max_connections > 0 && groupSize(group) >= limits.max_connections) {
      refuse(guard.release(), peer, factory.busyReply(),
             std::to_string(groupSize(group)) + " open = the cap of this listen group (" +
                 factory.protocolName() + ")");
      return;
    }
    if (limits.max_connections_per_client > 0 && !key.empty() && client_open_.count(key) != 0 &&
        client_open_[key] >= limits.max_connections_per_client) {
      refuse(guard.release(), peer, factory.clientLimitReply(),
             std::to_string(client_open_[key]) + " open from " + client +
                 " = max_connections_per_client (" + factory.protocolName() + ")");
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
    if (group_open_.size() <= group) group_open_.resize(group + 1, 0);
    connections_.emplace(raw, Entry{std::move(*conn), group, key});
    ++group_open_[group];
    if (!key.empty()) ++client_open_[key];
    raw->setLifetime(limits.connection_lifetime);
    raw->start();
  } catch (const std::exception& e) {
    log::error("%s: cannot accept: %s", peer.address.c_str(), e.what());
  } catch (...) {
    log::error("%s: cannot accept", peer.address.c_str());
  }
}

void ConnectionPool::refuse(int fd, const PeerInfo& peer, std::string_view reply,
                            const std::string& why) {
  UniqueFd guard(fd);
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
    log::warning("%s: refused %lld connection(s), %s; the last from %s", peer.local.c_str(),
                 static_cast<long long>(busy_refused_), why.c_str(), peer.address.c_str());
    busy_refused_ = 0;
    busy_logged_at_ = now;
  }
}

void ConnectionPool::connectionClosed(Connection* c) noexcept {
  auto it = connections_.find(c);
  if (it != connections_.end()) {
    Entry& e = it->second;
    if (e.group < group_open_.size() && group_open_[e.group] > 0) --group_open_[e.group];
    if (!e.client_key.empty()) {
      auto ci = client_open_.find(e.client_key);
      if (ci != client_open_.end() && --ci->second == 0) client_open_.erase(ci);
    }
    connections_.erase(it);
  }
  checkDrained();
}

void ConnectionPool::drain(std::function<void()> drained) {
  draining_ = true;
  drained_ = std::move(drained);
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& [raw, entry] : connections_) open.push_back(raw);
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
  group_open_.clear();
  client_open_.clear();
  return n;
}

}  // namespace mtep::server
