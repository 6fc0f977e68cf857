// NAME
//   mtep_session.cc - MTEP sessions for mtepd
// DESCRIPTION
//   Adapts proto::ServerSession to ProtocolSession and writes the one log
//   line per decision. See mtep_session.h.

#include "mtep_session.h"

#include <cstdio>

#include "mtep/protocol.h"
#include "netstring/netstring.h"
#include "smtp/status.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

using server::PeerInfo;
using server::ProtocolSession;
using server::SessionAction;
using server::SessionStep;

constexpr std::string_view kBusyText =
    "I am serving as many connections as I can right now; please try again shortly.";

class MtepSession final : public ProtocolSession {
 public:
  MtepSession(config::ConfigPtr config, const PeerInfo& peer, proto::TokenChecker& checker,
              proto::FarewellRota& rota)
      : config_(std::move(config)),
        client_(peer.address),
        session_(sessionLimitsFrom(*config_), checker, rota,
                 [this](const proto::Decision& d) { logDecision(d); }) {}

  SessionStep onData(std::string_view in, std::string* out) override {
    return step(session_.feed(in, out));
  }
  SessionStep onEof(std::string* out) override { return step(session_.onEof(out)); }
  SessionStep onTimeout(std::string* out) override { return step(session_.onTimeout(out)); }
  SessionStep onLifetimeOver(std::string* out) override {
    return step(session_.onLifetimeOver(out));
  }
  int64_t idleTimeoutSeconds() const override { return config_->mtepd.idle_timeout; }

 private:
  SessionStep step(proto::ServerSession::Action action) {
    SessionStep s;
    s.action = action == proto::ServerSession::Action::kClose ? SessionAction::kCloseAfterFlush
                                                              : SessionAction::kContinue;
    s.answered = answered_;
    answered_ = false;
    return s;
  }

  void logDecision(const proto::Decision& d) {
    answered_ = true;
    logMtepDecision(client_, d);
  }

  config::ConfigPtr config_;  // snapshot for the life of the connection
  std::string client_;        // "ADDR:PORT" for the log
  bool answered_ = false;     // set by the decision sink during one callback
  proto::ServerSession session_;
};

}  // namespace

void logMtepDecision(const std::string& client, const proto::Decision& d) {
  char action[24];
  action[0] = static_cast<char>(d.response.verdict);
  action[1] = '\0';
  if (d.response.code) {
    const smtp::EnhancedStatus& c = *d.response.code;
    std::snprintf(action + 1, sizeof action - 1, "%u.%u.%u", static_cast<unsigned>(c.cls),
                  static_cast<unsigned>(c.subject), static_cast<unsigned>(c.detail));
  }
  log::info("NOQUEUE: client=%s cmd=%.*s sender=<%.*s> action=%s reason=%.*s%s%.*s%s",
            client.c_str(), static_cast<int>(d.command.size()), d.command.data(),
            static_cast<int>(d.sender.size()), d.sender.data(), action,
            static_cast<int>(d.reason.size()), d.reason.data(), d.recipient.empty() ? "" : " rcpt=<",
            static_cast<int>(d.recipient.size()), d.recipient.data(),
            d.recipient.empty() ? "" : ">");
}

proto::SessionLimits sessionLimitsFrom(const config::Config& config) {
  proto::SessionLimits limits;
  limits.request.max_request_size = config.mtepd.max_request_size;
  limits.max_commands = config.mtepd.max_commands_per_connection;
  return limits;
}

MtepSessionFactory::MtepSessionFactory(config::ConfigPtr config, proto::TokenChecker& checker)
    : config_(std::move(config)), checker_(checker) {
  proto::Response busy;
  busy.verdict = proto::Verdict::kInfo;
  busy.code = smtp::esc::kNotAccepting;
  busy.text = std::string(kBusyText);
  busy_reply_ = netstring::encode(busy.payload());
}

std::unique_ptr<ProtocolSession> MtepSessionFactory::create(const PeerInfo& peer) {
  return std::make_unique<MtepSession>(config_, peer, checker_, rota_);
}

}  // namespace mtep::mtepd
