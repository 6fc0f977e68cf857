// RemoteVerifier: discovery, then one MTEP "?" per address until a server
// answers, within [milter] query_timeout; answers cached.

#include "verify/remote_verifier.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "mtep/client.h"
#include "transport/dialer.h"
#include "util/log.h"
#include "verify/key_fetcher.h"
#include "verify/internal.h"

namespace mtep::verify {
namespace {

using detail::isNumericAddress;
using detail::shortText;
using transport::hostPort;

// I carries its own class: I4.x.x (busy, timed out) is temporary, I5.x.x
// (the server does not do "?") is a refusal.
VerifyKind kindOf(const proto::Response& r) {
  switch (r.verdict) {
    case proto::Verdict::kYes:
      return VerifyKind::kValid;
    case proto::Verdict::kNo:
      return VerifyKind::kRefused;
    case proto::Verdict::kInfo:
      return r.code && r.code->cls == 4 ? VerifyKind::kUnsure : VerifyKind::kRefused;
    case proto::Verdict::kTemporary:
      return VerifyKind::kUnsure;
  }
  return VerifyKind::kUnsure;
}

// Length-prefixed parts, so no choice of token, sender or recipient can
// collide with another. The recipient counts by its domain: the token's
// binding, and what the answer depends on.
std::string cacheKey(const std::string& domain, const std::string& token, const std::string& sender,
                     const std::string& recipient) {
  const size_t at = recipient.rfind('@');
  const std::string rcpt_domain =
      normalizeDomain(at == std::string::npos ? recipient : recipient.substr(at + 1));
  return std::to_string(domain.size()) + ":" + domain + std::to_string(token.size()) + ":" + token +
         std::to_string(sender.size()) + ":" + sender + rcpt_domain;
}

}  // namespace

RemoteVerifier::RemoteVerifier(config::ConfigPtr config, dns::Resolver& resolver,
                               const Clock& clock)
    : config_(std::move(config)), resolver_(resolver), cache_(clock) {}

void RemoteVerifier::setConfig(config::ConfigPtr config) {
  std::lock_guard<std::mutex> lock(config_mu_);
  config_ = std::move(config);
}

config::ConfigPtr RemoteVerifier::snapshot() const {
  std::lock_guard<std::mutex> lock(config_mu_);
  return config_;
}

VerifyOutcome RemoteVerifier::verify(const VerifyQuery& query) {
  const config::ConfigPtr cfg = snapshot();
  const char* qid = query.queue_id.empty() ? "NOQUEUE" : query.queue_id.c_str();
  VerifyOutcome out;
  out.kind = VerifyKind::kUnreachable;
  if (!cfg) {
    out.detail = "no configuration";
    return out;
  }
  const config::MilterConfig& m = cfg->milter;
  const std::string domain = normalizeDomain(query.sender_domain);
  const std::string key = cacheKey(domain, query.token, query.sender, query.recipient);
  if (cache_.get(key, &out)) {
    log::debug("%s: mtep domain=%s server=%s result=%s cached detail=%s", qid, domain.c_str(),
               out.server.c_str(), verifyKindName(out.kind), out.detail.c_str());
    return out;
  }

  const int64_t timeout_ms = std::max<int64_t>(1, m.query_timeout) * 1000;
  const int64_t deadline = dns::monotonicMs() + timeout_ms;
  auto candidates = discover(m, resolver_, domain, deadline);
  if (!candidates) {
    out.detail = shortText(candidates.error().message());
    log::debug("%s: mtep domain=%s result=unreachable detail=%s", qid, domain.c_str(),
               out.detail.c_str());
    return out;
  }

  const int connect_cap = static_cast<int>(
      std::min<int64_t>(std::max<int64_t>(1000, timeout_ms / 3), std::numeric_limits<int>::max()));
  const std::vector<std::string>* pins = m.tlsPinsFor(domain);
  for (const Candidate& c : *candidates) {
    out.server = hostPort(c.host, c.port);
    std::vector<std::string> addresses;
    if (isNumericAddress(c.host) || dns::isOverlayName(c.host)) {
      // Overlay names go to the SOCKS proxy as names, never to DNS.
      addresses.push_back(c.host);
    } else {
      auto resolved = resolver_.addresses(c.host, deadline);
      if (!resolved || resolved->empty()) {
        out.detail = shortText(resolved ? c.host + ": no address" : resolved.error().message());
        log::debug("%s: mtep domain=%s server=%s via=%s result=unreachable detail=%s", qid,
                   domain.c_str(), out.server.c_str(), c.via.c_str(), out.detail.c_str());
        continue;
      }
      addresses = std::move(resolved).value();
    }
    for (const std::string& address : addresses) {
      const int64_t left = deadline - dns::monotonicMs();
      if (left <= 0) {
        out.detail = "query_timeout of " + std::to_string(timeout_ms / 1000) + " s expired";
        log::debug("%s: mtep domain=%s server=%s result=unreachable detail=%s", qid, domain.c_str(),
                   out.server.c_str(), out.detail.c_str());
        return out;
      }
      proto::ClientOptions options = proto::clientOptionsFor(cfg->outbound);
      // The fallback is for the MTEP port; a server named with its own port
      // (a static entry, SRV) is asked there only.
      options.startmtep_fallback =
          cfg->outbound.startmtep_fallback && c.port == proto::kDefaultPort;
      options.tls = serverTrust(m, pins, c.host);
      options.dial.targets = dialTargets(m, c.via == "static");
      options.total_timeout_ms =
          static_cast<int>(std::min<int64_t>(left, std::numeric_limits<int>::max()));
      options.read_timeout_ms = options.total_timeout_ms;
      options.connect_timeout_ms = std::min(connect_cap, options.total_timeout_ms);
      const proto::MtepClient client(options);
      auto answer = client.ask(address, c.port, query.token, query.sender, query.recipient);
      const std::string where = hostPort(address, c.port);
      if (!answer) {
        out.detail = shortText(answer.error().message());
        log::debug("%s: mtep domain=%s server=%s address=%s via=%s result=unreachable detail=%s",
                   qid, domain.c_str(), out.server.c_str(), where.c_str(), c.via.c_str(),
                   out.detail.c_str());
        continue;
      }
      out.kind = kindOf(answer->response);
      out.detail = shortText(answer->response.payload());
      log::debug("%s: mtep domain=%s server=%s address=%s via=%s%s%s result=%s detail=%s", qid,
                 domain.c_str(), out.server.c_str(), where.c_str(), c.via.c_str(),
                 answer->via_startmtep ? " startmtep=yes tls_key=" : "",
                 answer->via_startmtep ? answer->tls_fingerprint.c_str() : "",
                 verifyKindName(out.kind), out.detail.c_str());
      cache_.put(key, out, m.cache_ttl, m.cache_size);
      return out;
    }
  }
  return out;
}

}  // namespace mtep::verify
