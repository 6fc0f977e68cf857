// NAME
//   lookups.cc - running the engine's lookups on the work queue
// DESCRIPTION
//   See lookups.h.

#include "lookups.h"

#include <utility>

#include "util/log.h"
#include "verify/remote_verifier.h"

namespace mtep::policyd {

const char* lookupAnswerName(policy::LookupAnswer answer) noexcept {
  switch (answer) {
    case policy::LookupAnswer::kYes: return "yes";
    case policy::LookupAnswer::kNo: return "no";
    case policy::LookupAnswer::kTemporary: return "temporary";
  }
  return "?";
}

policy::LookupAnswer capableAnswer(const config::MilterConfig& milter, dns::Resolver& resolver,
                                   std::string_view domain, int64_t deadline_ms) {
  auto found = verify::discover(milter, resolver, domain, deadline_ms);
  if (!found) {
    switch (found.error().kind()) {
      case ErrorKind::kNotFound:
      case ErrorKind::kInvalid:
        return policy::LookupAnswer::kNo;
      default:
        return policy::LookupAnswer::kTemporary;
    }
  }
  // Discovery stops at the first step that yields candidates: they all
  // share one "via".
  for (const auto& c : *found) {
    if (c.via == "static" || c.via == "srv") return policy::LookupAnswer::kYes;
  }
  return policy::LookupAnswer::kNo;
}

policy::LookupAnswer tokenAnswer(milter::VerifyKind kind) {
  switch (kind) {
    case milter::VerifyKind::kValid: return policy::LookupAnswer::kYes;
    case milter::VerifyKind::kRefused: return policy::LookupAnswer::kNo;
    case milter::VerifyKind::kUnsure:
    case milter::VerifyKind::kUnreachable: return policy::LookupAnswer::kTemporary;
  }
  return policy::LookupAnswer::kTemporary;
}

config::ConfigPtr verifierConfig(const config::ConfigPtr& cfg) {
  auto copy = std::make_shared<config::Config>(*cfg);
  copy->milter.query_timeout = cfg->policyd.lookup_timeout;
  copy->milter.cache_ttl = 0;
  return copy;
}

// --- NetworkLookups ------------------------------------------------------

NetworkLookups::NetworkLookups(config::ConfigPtr config, dns::Resolver& resolver,
                               const Clock& clock)
    : config_(config),
      resolver_(resolver),
      verifier_(std::make_unique<verify::RemoteVerifier>(verifierConfig(config), resolver, clock)) {}

NetworkLookups::~NetworkLookups() = default;

void NetworkLookups::setConfig(config::ConfigPtr config) {
  verifier_->setConfig(verifierConfig(config));
  std::lock_guard<std::mutex> lock(mu_);
  config_ = std::move(config);
}

config::ConfigPtr NetworkLookups::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

policy::LookupAnswer NetworkLookups::run(const policy::Lookup& lookup) {
  config::ConfigPtr cfg = snapshot();
  policy::LookupAnswer answer = policy::LookupAnswer::kTemporary;
  switch (lookup.kind) {
    case policy::Lookup::Kind::kMtepCapable: {
      int64_t deadline = dns::monotonicMs() + cfg->policyd.lookup_timeout * 1000;
      answer = capableAnswer(cfg->milter, resolver_, lookup.domain, deadline);
      log::debug("lookup mtep-capable %s: %s", lookup.domain.c_str(), lookupAnswerName(answer));
      break;
    }
    case policy::Lookup::Kind::kToken: {
      milter::VerifyQuery q;
      q.token = lookup.token;
      q.sender = lookup.sender;
      q.sender_domain = lookup.domain;
      q.recipient = lookup.recipient;
      milter::VerifyOutcome o = verifier_->verify(q);
      answer = tokenAnswer(o.kind);
      log::debug("lookup token for <%s> at %s: %s (%s)", lookup.sender.c_str(),
                 o.server.empty() ? "no server" : o.server.c_str(), lookupAnswerName(answer),
                 o.detail.c_str());
      break;
    }
  }
  return answer;
}

// --- Lookups -------------------------------------------------------------

void Lookups::ask(const policy::Lookup& lookup, Waiter waiter) {
  std::string key = lookup.key();
  auto [it, fresh] = waiting_.try_emplace(key);
  it->second.push_back(std::move(waiter));
  if (!fresh) return;  // joins the one running
  ++started_;
  LookupBackend* backend = &backend_;
  // The job gets a copy of the question only; the waiters stay here.
  queue_.submit<policy::LookupAnswer>(
      [backend, lookup] { return backend->run(lookup); },
      [this, lookup](policy::LookupAnswer answer) { answered(lookup, answer); },
      policy::LookupAnswer::kTemporary);
}

void Lookups::answered(const policy::Lookup& lookup, policy::LookupAnswer answer) {
  engine_.recordLookup(lookup, answer);
  auto it = waiting_.find(lookup.key());
  if (it == waiting_.end()) return;
  std::vector<Waiter> waiters = std::move(it->second);
  waiting_.erase(it);
  for (auto& w : waiters) {
    try {
      w();
    } catch (const std::exception& e) {
      log::error("lookup waiter failed: %s", e.what());
    } catch (...) {
      log::error("lookup waiter failed");
    }
  }
}

}  // namespace mtep::policyd
