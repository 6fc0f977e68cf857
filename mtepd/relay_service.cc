// NAME
//   relay_service.cc - onion relay sessions for mtepd
// DESCRIPTION
//   Adapts relay::RelaySession to ProtocolSession: kWork becomes kPending,
//   the job goes to the work queue, and its completion resumes the
//   connection. See relay_service.h.

#include "relay_service.h"

#include "outbound.h"
#include "relay/session.h"
#include "smtp_session.h"
#include "store/open.h"
#include "util/clock.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

using relay::RelaySession;
using server::ConnectionHandle;
using server::PeerInfo;
using server::ProtocolSession;
using server::SessionAction;
using server::SessionStep;

// The next hop and the link factory it dials with, kept alive together by
// the session and by every job that uses them.
struct HopBundle {
  std::shared_ptr<relay::LinkFactory> links;
  relay::NextHop hop;
  HopBundle(std::shared_ptr<relay::LinkFactory> l, relay::HopSettings s, relay::PinChecker& pins)
      : links(std::move(l)), hop(std::move(s), *links, pins) {}
};

class RelayConnection final : public ProtocolSession {
 public:
  RelayConnection(config::ConfigPtr config, const std::string& hostname, const PeerInfo& peer,
                  std::shared_ptr<relay::LinkFactory> links, relay::PinChecker& pins,
                  server::WorkQueue& queue)
      : config_(std::move(config)),
        queue_(queue),
        session_(limitsFrom(*config_, hostname), makeHop(*config_, hostname, std::move(links), pins),
                 peer.address) {}

  void attach(ConnectionHandle handle) override { handle_ = std::move(handle); }
  SessionStep onConnect(std::string* out) override { return step(session_.start(out)); }
  SessionStep onData(std::string_view in, std::string* out) override {
    return step(session_.feed(in, out));
  }
  SessionStep onEof(std::string* out) override { return step(session_.onEof(out)); }
  SessionStep onTimeout(std::string* out) override { return step(session_.onTimeout(out)); }
  int64_t idleTimeoutSeconds() const override { return config_->mtepd.smtp_idle_timeout; }

 private:
  static relay::SessionLimits limitsFrom(const config::Config& c, const std::string& hostname) {
    relay::SessionLimits l;
    l.hostname = hostname;
    l.max_line = c.mtepd.smtp_max_line;
    l.max_message_size = c.mtepd.relay_max_message_size;
    return l;
  }

  static std::shared_ptr<relay::NextHop> makeHop(const config::Config& c,
                                                 const std::string& hostname,
                                                 std::shared_ptr<relay::LinkFactory> links,
                                                 relay::PinChecker& pins) {
    relay::HopSettings s;
    s.port = static_cast<uint16_t>(c.outbound.smtp_port);
    s.helo_name = hostname;
    s.proxy_timeout_ms = static_cast<int>(c.outbound.proxy_timeout * 1000);
    s.smtp_timeout_ms = static_cast<int>(c.outbound.smtp_timeout * 1000);
    s.send_timeout_ms = static_cast<int>(c.mtepd.relay_send_timeout * 1000);
    s.trust_on_first_use = c.outbound.trust_on_first_use;
    auto bundle = std::make_shared<HopBundle>(std::move(links), std::move(s), pins);
    return std::shared_ptr<relay::NextHop>(bundle, &bundle->hop);
  }

  SessionStep step(const RelaySession::Step& st) {
    SessionStep s;
    s.answered = st.answered;
    switch (st.action) {
      case RelaySession::Action::kContinue:
        s.action = SessionAction::kContinue;
        break;
      case RelaySession::Action::kClose:
        s.action = SessionAction::kCloseAfterFlush;
        break;
      case RelaySession::Action::kWork:
        s.action = SessionAction::kPending;
        s.unconsumed = st.unconsumed;
        submit();
        break;
    }
    return s;
  }

  void submit() {
    RelaySession::Job job = session_.takeWork();
    ConnectionHandle handle = handle_;
    queue_.submit<relay::HopReply>(
        std::move(job),
        [handle](relay::HopReply reply) {
          ProtocolSession* s = handle.session();
          if (s == nullptr) return;  // the MTA left meanwhile
          static_cast<RelayConnection*>(s)->completed(reply);
        },
        relay::makeReply(451, {4, 3, 0}, "internal error in the onion relay"));
  }

  void completed(const relay::HopReply& reply) {
    std::string out;
    SessionStep s = step(session_.complete(reply, &out));
    ConnectionHandle handle = handle_;  // resume() may end this session
    handle.resume(s, out);
  }

  config::ConfigPtr config_;  // snapshot for the life of the connection
  server::WorkQueue& queue_;
  ConnectionHandle handle_;
  RelaySession session_;
};

// Used when no store could be opened: every key check tempfails.
class NoPins final : public relay::PinChecker {
 public:
  Result<overlay::PinCheck> check(std::string_view, std::string_view, std::string_view,
                                  bool) override {
    return Error(ErrorKind::kTemporary, "no pin store");
  }
};

std::shared_ptr<relay::LinkFactory> linksFrom(const config::Config& c) {
  return std::make_shared<relay::DialLinkFactory>(
      outboundDialOptions(c), static_cast<int>(c.outbound.smtp_timeout * 1000));
}

}  // namespace

Result<std::unique_ptr<RelayFactory>> RelayFactory::create(config::ConfigPtr config,
                                                           event_base* base) {
  std::unique_ptr<RelayFactory> f(new RelayFactory());
  if (config->mtepd.onion_relay.empty()) {
    f->pins_ = std::make_unique<NoPins>();
  } else {
    auto st = store::open(config->store, SystemClock::instance());
    if (!st) {
      return Error(st.error().kind(),
                   "onion relay: store " + config->store.path + ": " + st.error().message());
    }
    f->pins_ = std::make_unique<relay::LockedPinChecker>(std::move(*st), SystemClock::instance());
  }
  auto queue = server::WorkQueue::create(base, config->mtepd.onion_relay.empty() ? 1 : kWorkers);
  if (!queue) return std::move(queue).error();
  f->queue_ = std::move(*queue);
  f->setConfig(std::move(config));
  return f;
}

RelayFactory::~RelayFactory() { stop(); }

void RelayFactory::setConfig(config::ConfigPtr config) {
  config_ = std::move(config);
  hostname_ = smtpHostname(*config_);
  links_ = linksFrom(*config_);
  busy_reply_ = "421 4.3.2 " + hostname_ + " onion relay busy, try again later\r\n";
}

void RelayFactory::stop() {
  if (queue_) queue_->stop();
}

std::unique_ptr<ProtocolSession> RelayFactory::create(const PeerInfo& peer) {
  return std::make_unique<RelayConnection>(config_, hostname_, peer, links_, *pins_, *queue_);
}

}  // namespace mtep::mtepd
