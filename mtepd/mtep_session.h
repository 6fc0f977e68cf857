#pragma once
// NAME
//   mtep_session.h - MTEP (port 6211) plugged into mtepd's session seam
// SUMMARY
//   MtepSessionFactory factory(config, authority);
//   Listener::bind(address, factory);          // one per [mtepd] listen entry
//   factory.setConfig(new_config);             // SIGHUP: new connections only
// DESCRIPTION
//   Each session wraps a proto::ServerSession (lib/mtep) built from the
//   config snapshot taken at accept time: request size, element and command
//   limits and the idle timeout stay fixed for the life of the connection.
//   Every answered request is logged as one line,
//     NOQUEUE: client=ADDR:PORT cmd=? sender=<a@b.example> action=K2.7.0 reason=valid
//   A peer accepted over max_connections gets "I4.3.2 ..." and is closed.
// SEE ALSO
//   lib/server/session.h, lib/mtep/server_session.h, PROTOCOLS.md section 1

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "mtep/farewell.h"
#include "mtep/server_session.h"
#include "server/session.h"

namespace mtep::mtepd {

class MtepSessionFactory final : public server::SessionFactory {
 public:
  // `checker` must outlive the factory and every session it made.
  MtepSessionFactory(config::ConfigPtr config, proto::TokenChecker& checker);

  // Sessions made from now on use `config`; live ones keep theirs.
  void setConfig(config::ConfigPtr config) { config_ = std::move(config); }

  const char* protocolName() const override { return "mtep"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override;
  std::string_view busyReply() const override { return busy_reply_; }

 private:
  config::ConfigPtr config_;
  proto::TokenChecker& checker_;
  proto::FarewellRota rota_;
  std::string busy_reply_;  // complete netstring
};

// The one log line per MTEP decision, shared by the 6211 listener and
// STARTMTEP on the ESMTP listener: "NOQUEUE: client=... cmd=? ...".
void logMtepDecision(const std::string& client, const proto::Decision& d);

// Limits for one connection, taken from a config snapshot.
proto::SessionLimits sessionLimitsFrom(const config::Config& config);

}  // namespace mtep::mtepd
