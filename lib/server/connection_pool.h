#pragma once
// NAME
//   connection_pool.h - the accepted connections of one daemon, capped
// SUMMARY
//   ConnectionPool pool(base, config.max_connections);
//   listener->start(base, factory, pool);   // the pool accepts
//   pool.drain([&] { event_base_loopbreak(base); });   // SIGTERM
// DESCRIPTION
//   Owns every Connection and caps them at max_connections: a peer accepted
//   over the cap gets the factory's busy reply, if it has one, and is closed
//   at once (a FIN after the reply, never a reset that could destroy it).
//   Refusals are logged at most once a second, with their count.
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
#include <unordered_map>

#include "server/connection.h"
#include "server/listener.h"

namespace mtep::server {

class ConnectionPool final : public AcceptHandler, public ConnectionOwner {
 public:
  static constexpr size_t kBusyDrainBytes = 4096;  // read and drop at most this before a refusal

  ConnectionPool(event_base* base, uint32_t max_connections)
      : base_(base), max_connections_(max_connections) {}
  ~ConnectionPool();  // destroys every connection (their bufferevents need the base)
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // SIGHUP: applies to the next accept; connections over a lowered cap stay.
  void setMaxConnections(uint32_t n) { max_connections_ = n; }
  size_t size() const { return connections_.size(); }

  // Shutdown, see above. `drained` runs once, maybe before drain() returns.
  void drain(std::function<void()> drained);
  // Destroys every connection now; returns how many there were.
  size_t closeAll();

  void onAccept(int fd, const PeerInfo& peer, SessionFactory& factory) noexcept override;
  void connectionClosed(Connection* c) noexcept override;

 private:
  void refuseBusy(int fd, const PeerInfo& peer, SessionFactory& factory);
  void checkDrained();

  event_base* base_;
  uint32_t max_connections_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  bool draining_ = false;
  std::function<void()> drained_;  // run once when draining and empty
  int64_t busy_refused_ = 0;       // refusals since the last busy log line
  int64_t busy_logged_at_ = 0;     // Unix second of that line
};

}  // namespace mtep::server
