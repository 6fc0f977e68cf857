// NAME
//   policy_session.cc - one Postfix policy client connection
// DESCRIPTION
//   See policy_session.h.

#include "policy_session.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "util/log.h"

namespace mtep::policyd {
namespace {

using server::ConnectionHandle;
using server::SessionAction;
using server::SessionStep;

class PolicySession final : public server::ProtocolSession {
 public:
  PolicySession(config::ConfigPtr config, const server::PeerInfo& peer, policy::Engine& engine,
                Lookups& lookups, StampChecks& stamps, SharedRates* rates)
      : config_(std::move(config)),
        peer_(peer.address),
        engine_(engine),
        lookups_(lookups),
        stamps_(stamps),
        rates_(rates),
        reader_(config_->policyd.max_request_size) {}

  void attach(ConnectionHandle handle) override { handle_ = std::move(handle); }

  SessionStep onData(std::string_view in, std::string* out) override {
    SessionStep step;
    while (!in.empty()) {
      size_t used = 0;
      policy::RequestReader::State state = reader_.feed(in, &used);
      in.remove_prefix(used);
      if (state == policy::RequestReader::State::kNeedMore) {
        partial_ = true;
        return step;
      }
      if (state == policy::RequestReader::State::kError) {
        log::warning("%s: policy request refused: %s; closing without a reply", peer_.c_str(),
                     reader_.error().c_str());
        step.action = SessionAction::kCloseAfterFlush;
        return step;
      }
      partial_ = false;
      request_ = reader_.take();
      lookups_asked_ = 0;
      rate_answer_.reset();
      switch (decideCurrent(out)) {
        case Next::kPending:
          step.action = SessionAction::kPending;
          step.unconsumed = in.size();
          return step;
        case Next::kClose:
          step.action = SessionAction::kCloseAfterFlush;
          return step;
        case Next::kAnswered:
          step.answered = true;
          if (answeredEnough()) {
            step.action = SessionAction::kCloseAfterFlush;
            return step;
          }
          break;
      }
    }
    return step;
  }

  SessionStep onEof(std::string* /*out*/) override {
    if (partial_) log::debug("%s: closed in the middle of a request", peer_.c_str());
    return {SessionAction::kCloseAfterFlush};
  }

  SessionStep onLifetimeOver(std::string* /*out*/) override {
    log::debug("%s: connection_lifetime reached; closing", peer_.c_str());
    return {SessionAction::kCloseAfterFlush};
  }

  SessionStep onTimeout(std::string* /*out*/) override {
    if (partial_) {
      log::warning("%s: no end of the request within %lld s; closing without a reply",
                   peer_.c_str(), static_cast<long long>(idleTimeoutSeconds()));
    } else {
      log::debug("%s: idle for %lld s; closing", peer_.c_str(),
                 static_cast<long long>(idleTimeoutSeconds()));
    }
    return {SessionAction::kCloseAfterFlush};
  }

  int64_t idleTimeoutSeconds() const override { return config_->policyd.idle_timeout; }

  // The lookup this session waited for has its answer in the engine.
  // Ends with resume(), which may destroy this session: nothing after it.
  void lookupAnswered() { resumeWith(decideNow()); }

  // The rate check this session waited for is answered. Same contract.
  void ratesAnswered(policy::RateAnswer answer) {
    rate_answer_ = std::move(answer);
    resumeWith(decideNow());
  }

  // The stamp check this session waited for is done. Same contract.
  void stampsAnswered(const policy::StampCheck& check, const policy::StampAnswer& answer) {
    std::string out;
    const Next next = finish(engine_.finishStamps(request_, check, answer), &out);
    resumeWith({next, std::move(out)});
  }

 private:
  enum class Next { kAnswered, kPending, kClose };

  struct Decided {
    Next next;
    std::string out;
  };
  Decided decideNow() {
    std::string out;
    const Next next = decideCurrent(&out);
    return {next, std::move(out)};
  }

  // Ends with resume(), which may destroy this session: nothing after it.
  void resumeWith(Decided d) {
    ConnectionHandle handle = handle_;
    std::string& out = d.out;
    SessionStep step;
    switch (d.next) {
      case Next::kPending:
        step.action = SessionAction::kPending;
        break;
      case Next::kClose:
        step.action = SessionAction::kCloseAfterFlush;
        break;
      case Next::kAnswered:
        step.answered = true;
        if (answeredEnough()) step.action = SessionAction::kCloseAfterFlush;
        break;
    }
    handle.resume(step, out);
  }

  Next decideCurrent(std::string* out) {
    policy::Outcome o = engine_.decide(request_, rate_answer_ ? &*rate_answer_ : nullptr);
    if (o.needs_rates) {
      if (rate_answer_) {
        log::error("%s: the engine asked twice for the rate check of one request; closing "
                   "without a reply",
                   peer_.c_str());
        return Next::kClose;
      }
      if (rates_ == nullptr) {
        policy::RateAnswer none;
        none.detail = "no shared rate counters";
        rate_answer_ = std::move(none);
        return decideCurrent(out);
      }
      ConnectionHandle handle = handle_;
      std::optional<policy::RateAnswer> now =
          rates_->check(std::move(o.rates), [handle](policy::RateAnswer answer) {
            // Only PolicySessions ask; the handle is empty once the connection closed.
            if (auto* s = static_cast<PolicySession*>(handle.session())) {
              s->ratesAnswered(std::move(answer));
            }
          });
      if (!now) return Next::kPending;
      rate_answer_ = std::move(*now);
      return decideCurrent(out);
    }
    if (o.needs_stamps) {
      ConnectionHandle handle = handle_;
      std::shared_ptr<const policy::StampCheck> check = o.stamps;
      stamps_.run(std::move(o.stamps), [handle, check](policy::StampAnswer answer) {
        // Only PolicySessions ask; the handle is empty once the connection closed.
        if (auto* s = static_cast<PolicySession*>(handle.session())) {
          s->stampsAnswered(*check, answer);
        }
      });
      return Next::kPending;
    }
    if (o.needs_lookup) {
      if (++lookups_asked_ > kMaxLookupsPerRequest) {
        log::error("%s: the engine asked for more than %d lookups for one request; closing "
                   "without a reply",
                   peer_.c_str(), kMaxLookupsPerRequest);
        return Next::kClose;
      }
      ConnectionHandle handle = handle_;
      lookups_.ask(o.lookup, [handle] {
        // Only PolicySessions ask; the handle is empty once the connection closed.
        if (auto* s = static_cast<PolicySession*>(handle.session())) s->lookupAnswered();
      });
      return Next::kPending;
    }
    return finish(std::move(o), out);
  }

  // A final decision: the reply (or none) and its log line.
  Next finish(policy::Outcome o, std::string* out) {
    const std::string where = context();
    if (o.decision.action.empty()) {
      log::warning("%s%s; closing without a reply", o.decision.log.c_str(), where.c_str());
      return Next::kClose;
    }
    *out += policy::formatReply(o.decision.action);
    log::info("%s%s", o.decision.log.c_str(), where.c_str());
    return Next::kAnswered;
  }

  // " client=ADDR instance=ID" for the decision's log line.
  std::string context() const {
    std::string_view client = request_.get("client_address");
    std::string_view instance = request_.get("instance");
    if (instance.empty()) instance = request_.get("mtep_instance");
    std::string s = " client=" + (client.empty() ? std::string("unknown") : printable(client, 64));
    if (!instance.empty()) s += " instance=" + printable(instance, 64);
    return s;
  }

  bool answeredEnough() {
    if (++answered_ < config_->policyd.max_requests_per_connection) return false;
    log::debug("%s: %llu requests answered, max_requests_per_connection: closing", peer_.c_str(),
               static_cast<unsigned long long>(answered_));
    return true;
  }

  config::ConfigPtr config_;  // snapshot for the life of the connection
  std::string peer_;          // "ADDR:PORT" of the policy client (Postfix, Exim)
  policy::Engine& engine_;
  Lookups& lookups_;
  StampChecks& stamps_;
  SharedRates* rates_;        // null: rate gates are counted in the engine
  ConnectionHandle handle_;
  policy::RequestReader reader_;
  policy::Request request_;   // the one being decided
  int lookups_asked_ = 0;     // for request_
  std::optional<policy::RateAnswer> rate_answer_;  // for request_, once the rate check answered
  bool partial_ = false;      // bytes of an unfinished request were read
  uint64_t answered_ = 0;
};

}  // namespace

std::string printable(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  for (char c : text.substr(0, max)) out.push_back(c >= ' ' && c <= '~' ? c : '?');
  if (text.size() > max) out += "...";
  return out;
}

std::unique_ptr<server::ProtocolSession> PolicySessionFactory::create(
    const server::PeerInfo& peer) {
  return std::make_unique<PolicySession>(config_, peer, engine_, lookups_, stamps_, rates_);
}

}  // namespace mtep::policyd
