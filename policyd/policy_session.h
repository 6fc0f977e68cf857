#pragma once
// NAME
//   policy_session.h - the Postfix policy protocol on lib/server's seam
// SUMMARY
//   PolicySessionFactory factory(config, engine, lookups);
//   listener->start(base, factory, pool);
//   factory.setConfig(new_config);             // SIGHUP: new connections only
// DESCRIPTION
//   Each session feeds a policy::RequestReader and hands every complete
//   request to Engine::decide(), one request at a time: Postfix never sends
//   the next request before it has the answer, and if a client does, the
//   early bytes wait in the connection's buffer until the answer is sent.
//   When decide() needs a lookup the session returns kPending; once
//   Lookups has the answer, decide() runs again on the loop thread and the
//   reply goes out through the ConnectionHandle. When it needs a stamp
//   check (Exim's DATA with require_stamp) the same: StampChecks runs it
//   on its workers and Engine::finishStamps() decides with the answer.
//   When it needs a rate check (shared rate counters, [store] backend
//   "redis") the same: SharedRates batches it to Redis and decide() runs
//   again with the answer, which stands for the rest of the request.
//   Other connections are served meanwhile.
//   Each reply is logged as one line at info: the engine's
//     QUEUEID: policy: action=... reason=... sender=<...> rcpt=<...> ...
//   followed by " client=ADDR instance=ID" from the request.
//   In trouble the session logs one line and closes without replying, so
//   that Postfix applies its default_action (SMTPD_POLICY_README): a
//   request the reader refuses (too large, a line without '=', a bad name),
//   a request that is not smtpd_access_policy, no empty line within
//   [policyd] idle_timeout, an engine that keeps asking for lookups.
//   After [policyd] max_requests_per_connection answers the connection is
//   closed once the last answer is sent; Postfix simply reconnects.
//   Over max_connections a peer is closed at once, without a reply.
// SEE ALSO
//   lib/server/session.h, lib/policy/policy.h, lookups.h

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "lookups.h"
#include "policy/policy.h"
#include "server/session.h"
#include "shared_rates.h"
#include "stamp_checks.h"

namespace mtep::policyd {

class PolicySessionFactory final : public server::SessionFactory {
 public:
  // `engine`, `lookups`, `stamps` and `rates` must outlive the factory and
  // every session it made. `rates`: the shared rate counters when the
  // engine asks for them (Engine::setSharedRates), else null.
  PolicySessionFactory(config::ConfigPtr config, policy::Engine& engine, Lookups& lookups,
                       StampChecks& stamps, SharedRates* rates = nullptr)
      : config_(std::move(config)),
        engine_(engine),
        lookups_(lookups),
        stamps_(stamps),
        rates_(rates) {}

  // Sessions made from now on use `config`; live ones keep theirs.
  void setConfig(config::ConfigPtr config) { config_ = std::move(config); }

  const char* protocolName() const override { return "policy"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override;
  std::string_view busyReply() const override { return {}; }

 private:
  config::ConfigPtr config_;
  policy::Engine& engine_;
  Lookups& lookups_;
  StampChecks& stamps_;
  SharedRates* rates_;
};

// How many lookups one request may need before the session gives up on it.
inline constexpr int kMaxLookupsPerRequest = 4;

// `text` for a log line: at most `max` bytes, other than printable ASCII as '?'.
std::string printable(std::string_view text, size_t max = 256);

}  // namespace mtep::policyd
