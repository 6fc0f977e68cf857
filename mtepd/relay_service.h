#pragma once
// NAME
//   relay_service.h - the onion relay ([mtepd] onion_relay) plugged into
//   mtepd's session seam
// SUMMARY
//   auto relay = RelayFactory::create(config, daemon.base());   // in Server::open
//   Listener groups: [mtepd] onion_relay -> *relay
//   relay->setConfig(next);                                    // SIGHUP
//   relay->stop();                                             // Service::stopped
// DESCRIPTION
//   Each connection from the local MTA gets a relay::RelaySession (lib/relay)
//   built from the config snapshot taken at accept time: hostname, line
//   and message limits, the idle timeout ([mtepd] smtp_idle_timeout), the
//   proxies and timeouts of [outbound]. The session's blocking steps (dial,
//   TLS, the peer's replies) run on the factory's worker threads
//   (kWorkers, lib/server/work_queue.h); meanwhile the connection is
//   kPending and reads nothing. The answer comes back on the loop thread
//   through the connection's handle; a connection that closed meanwhile
//   is skipped.
//   The TLS key pins are checked in a store connection of the relay's own
//   ([store], opened by create(), after the privilege drop), shared by the
//   workers under a lock. `mtepctl pin list|forget` works on the same store.
//   A peer accepted over relay_max_connections gets "421 4.3.2 ... busy" and is
//   closed; Postfix retries.
// SECURITY
//   The relay delivers only to .onion and .i2p names and answers only what
//   the next hop answered; keep onion_relay on loopback all the same (it
//   has no authentication: anyone who reaches it can send to onion sites
//   in your name).
// SEE ALSO
//   lib/relay/session.h, lib/relay/next_hop.h, server.h, doc/smtorp.md

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "relay/link.h"
#include "server/session.h"
#include "server/work_queue.h"

namespace mtep::mtepd {

class RelayFactory final : public server::SessionFactory {
 public:
  static constexpr size_t kWorkers = 8;  // relay transactions at once (each holds one)

  // Opens the pin store and starts the workers on `base`.
  static Result<std::unique_ptr<RelayFactory>> create(config::ConfigPtr config, event_base* base);
  ~RelayFactory() override;

  // Sessions made from now on use `config`; live ones keep theirs.
  void setConfig(config::ConfigPtr config);
  // Waits for running jobs and drops the others (no answer reaches a
  // connection after this).
  void stop();
  // Relay steps waiting or running, for the shutdown line.
  size_t outstanding() const { return queue_ ? queue_->outstanding() : 0; }

  const char* protocolName() const override { return "onion-relay"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override;
  std::string_view busyReply() const override { return busy_reply_; }

 private:
  RelayFactory() = default;

  config::ConfigPtr config_;
  std::string hostname_;
  std::shared_ptr<relay::LinkFactory> links_;  // of config_; sessions keep theirs
  std::unique_ptr<relay::PinChecker> pins_;    // outlives queue_ (declared first)
  std::unique_ptr<server::WorkQueue> queue_;
  std::string busy_reply_;
};

}  // namespace mtep::mtepd
