#pragma once
// NAME
//   connection_pool.h - the accepted connections of one daemon, capped
// SUMMARY
//   ConnectionPool pool(base, config.max_connections);
//   listener->start(base, factory, pool);   // the pool accepts
//   pool.drain([&] { event_base_loopbreak(base); });   // SIGTERM
// DESCRIPTION
//   Owns every Connection and caps them three ways: all of them together
//   (max_connections), those of each listen group (GroupLimits, so that one
//   protocol's listener filling up never shuts out another's: a full MTEP
//   listener leaves the onion relay and the ESMTP listener working), and
//   those of one client address within a group (an IPv4 address, or the /64
//   of an IPv6 address, as the login limiter counts them: one host owns a
//   whole /64). A peer over a cap gets the factory's reply (busyReply(), or
//   clientLimitReply() for the per-client cap), if it has one, and is closed
//   at once (a FIN after the reply, never a reset that could destroy it).
//   Refusals are logged at most once a second, with their count.
//   A group's connection_lifetime bounds how long one connection may stay
//   open however busy it keeps it (a client sending NOOP every few minutes
//   would otherwise hold its slot for ever): see Connection::setLifetime.
//   drain() is the shutdown: no more connections are admitted, idle ones
//   close at once, busy ones (a request half read, an answer pending or
//   unsent) as soon as they are idle; the callback runs when none is left.
//   Loop thread only.
// SEE ALSO
//   connection.h, listener.h, session.h

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/connection.h"
#include "server/listener.h"

namespace mtep::server {

// The limits of one listen group (daemon.h ListenGroup); 0 = none.
struct GroupLimits {
  uint32_t max_connections = 0;             // open at once in the group
  uint32_t max_connections_per_client = 0;  // open at once in the group from one client
  int64_t connection_lifetime = 0;          // seconds one connection may last
};

class ConnectionPool final : public AcceptHandler, public ConnectionOwner {
 public:
  static constexpr size_t kBusyDrainBytes = 4096;  // read and drop at most this before a refusal

  // `groups[g]` limits the connections accepted for group g; a group
  // without an entry has no limits of its own.
  ConnectionPool(event_base* base, uint32_t max_connections, std::vector<GroupLimits> groups = {})
      : base_(base), max_connections_(max_connections), groups_(std::move(groups)) {}
  ~ConnectionPool();  // destroys every connection (their bufferevents need the base)
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // SIGHUP: applies to the next accept; connections over a lowered cap stay.
  void setMaxConnections(uint32_t n) { max_connections_ = n; }
  // SIGHUP: the same for the groups' limits; a new lifetime applies to
  // connections accepted from now on.
  void setGroupLimits(std::vector<GroupLimits> groups) { groups_ = std::move(groups); }
  size_t size() const { return connections_.size(); }
  // Connections open now in `group`, and from `client` (clientOf()) in it.
  size_t groupSize(size_t group) const;
  size_t clientSize(size_t group, const std::string& client) const;

  // Shutdown, see above. `drained` runs once, maybe before drain() returns.
  void drain(std::function<void()> drained);
  // Destroys every connection now; returns how many there were.
  size_t closeAll();

  void onAccept(int fd, const PeerInfo& peer, SessionFactory& factory,
                size_t group) noexcept override;
  // A peer of group 0.
  void onAccept(int fd, const PeerInfo& peer, SessionFactory& factory) noexcept {
    onAccept(fd, peer, factory, 0);
  }
  void connectionClosed(Connection* c) noexcept override;

 private:
  struct Entry {
    std::unique_ptr<Connection> connection;
    size_t group;
    std::string client_key;  // key of client_open_; "" = no client address (not counted)
  };

  // Sends `reply` (may be empty), closes; logs `why` at most once a second.
  void refuse(int fd, const PeerInfo& peer, std::string_view reply, const std::string& why);
  void checkDrained();
  GroupLimits limitsOf(size_t group) const;
  static std::string clientKey(size_t group, const std::string& client);

  event_base* base_;
  uint32_t max_connections_;
  std::vector<GroupLimits> groups_;
  std::unordered_map<Connection*, Entry> connections_;
  std::vector<size_t> group_open_;                      // open connections per group
  std::unordered_map<std::string, size_t> client_open_;  // per clientKey(); no zero entries
  bool draining_ = false;
  std::function<void()> drained_;  // run once when draining and empty
  int64_t busy_refused_ = 0;       // refusals since the last busy log line
  int64_t busy_logged_at_ = 0;     // Unix second of that line
};

}  // namespace mtep::server
