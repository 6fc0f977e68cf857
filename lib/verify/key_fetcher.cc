// RemoteKeyFetcher: key-server discovery, one PUBKEY per address until a
// server answers, within [milter] query_timeout; keys and "none" cached.

#include "verify/key_fetcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

#include "mtep/client.h"
#include "transport/dialer.h"
#include "util/log.h"
#include "verify/internal.h"
#include "verify/remote_verifier.h"

namespace mtep::verify {
namespace {

using detail::addressLiteral;
using detail::isNumericAddress;
using detail::overlayHost;
using detail::shortText;

uint16_t smtpPort(const config::Config& cfg) {
  const uint32_t p = cfg.outbound.smtp_port;
  return static_cast<uint16_t>(p == 0 || p > 65535 ? 25 : p);
}

class RealKeyServerClient final : public KeyServerClient {
 public:
  Result<e2ee::PublicKey> pubkey(const std::string& host, uint16_t port, std::string_view address,
                                 const e2ee::KeyClientOptions& options) override {
    auto client = e2ee::KeyClient::open(host, port, options);
    if (!client) {
      // Whatever open() says (even kInvalid), this server was not asked.
      return Error(ErrorKind::kTemporary, client.error().message());
    }
    Result<e2ee::PublicKey> key = (*client)->pubkey(address);
    (*client)->quit();
    return key;
  }
};

}  // namespace

transport::TlsTrust serverTrust(const config::MilterConfig& m,
                                const std::vector<std::string>* pins, const std::string& host) {
  transport::TlsTrust trust;
  if (pins != nullptr && !pins->empty()) {
    trust.pins = *pins;
  } else if (!dns::isOverlayName(host)) {
    trust.verify_certificate = true;
    trust.name = host;
    trust.ca_file = m.tls_ca_file;
  }
  return trust;
}

transport::TargetPolicy dialTargets(const config::MilterConfig& m, bool static_entry) {
  if (static_entry) return {};
  return transport::TargetPolicy{.refuse_non_public = true, .allowed = m.allow_private_targets};
}

KeyServerClient& realKeyServerClient() {
  static RealKeyServerClient client;
  return client;
}

Result<std::vector<KeyServer>> discoverKeyServers(const config::Config& cfg,
                                                  dns::Resolver& resolver,
                                                  std::string_view domain_in, int64_t deadline_ms) {
  const std::string domain = normalizeDomain(domain_in);
  if (domain.empty()) return Error(ErrorKind::kInvalid, "empty or malformed sender domain");
  const uint16_t port = smtpPort(cfg);

  if (const config::ServerAddress* s = cfg.milter.keyServerFor(domain)) {
    return std::vector<KeyServer>{{s->host, s->port, "static"}};
  }
  if (dns::isOverlayName(domain)) {
    return std::vector<KeyServer>{{overlayHost(domain), port, "overlay"}};
  }
  if (domain.front() == '[') {
    std::string literal = addressLiteral(domain);
    if (literal.empty()) return Error(ErrorKind::kInvalid, domain + ": bad address literal");
    return std::vector<KeyServer>{{std::move(literal), port, "literal"}};
  }
  if (dns::monotonicMs() >= deadline_ms) {
    return Error(ErrorKind::kTemporary, domain + ": query_timeout expired during discovery");
  }
  auto mx = resolver.mx(domain, deadline_ms);
  if (!mx) {
    if (mx.error().kind() == ErrorKind::kNotFound) {
      return Error(ErrorKind::kNotFound, domain + ": no such domain");
    }
    return Error(ErrorKind::kTemporary, "MX " + domain + ": " + mx.error().message());
  }
  if (mx->empty()) return std::vector<KeyServer>{{domain, port, "domain"}};
  std::vector<dns::MxRecord> records = std::move(mx).value();
  std::stable_sort(
      records.begin(), records.end(),
      [](const dns::MxRecord& a, const dns::MxRecord& b) { return a.preference < b.preference; });
  std::vector<KeyServer> out;
  for (dns::MxRecord& r : records) {
    if (r.exchange.empty()) continue;
    out.push_back({std::move(r.exchange), port, "mx"});
  }
  if (out.empty()) return Error(ErrorKind::kNotFound, domain + ": null MX");
  return out;
}

// --- RemoteKeyFetcher -------------------------------------------------------

RemoteKeyFetcher::RemoteKeyFetcher(config::ConfigPtr config, dns::Resolver& resolver,
                                   const Clock& clock, KeyServerClient& client)
    : config_(std::move(config)), resolver_(resolver), client_(client), cache_(clock) {}

void RemoteKeyFetcher::setConfig(config::ConfigPtr config) {
  std::lock_guard<std::mutex> lock(config_mu_);
  config_ = std::move(config);
}

config::ConfigPtr RemoteKeyFetcher::snapshot() const {
  std::lock_guard<std::mutex> lock(config_mu_);
  return config_;
}

KeyOutcome RemoteKeyFetcher::fetch(const KeyQuery& query) {
  const config::ConfigPtr cfg = snapshot();
  const char* qid = query.queue_id.empty() ? "NOQUEUE" : query.queue_id.c_str();
  KeyOutcome out;
  if (!cfg) {
    out.detail = "no configuration";
    return out;
  }
  const config::MilterConfig& m = cfg->milter;
  const std::string domain = normalizeDomain(query.domain);
  std::string address = query.address;
  for (char& c : address) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  if (cache_.get(address, &out)) {
    log::debug("%s: key address=%s server=%s result=%s cached detail=%s", qid, address.c_str(),
               out.server.c_str(), keyKindName(out.kind), out.detail.c_str());
    return out;
  }

  const int64_t timeout_ms = std::max<int64_t>(1, m.query_timeout) * 1000;
  const int64_t deadline = dns::monotonicMs() + timeout_ms;
  auto servers = discoverKeyServers(*cfg, resolver_, domain, deadline);
  if (!servers) {
    out.detail = shortText(servers.error().message());
    if (servers.error().kind() == ErrorKind::kNotFound ||
        servers.error().kind() == ErrorKind::kInvalid) {
      out.kind = KeyKind::kNone;
      cache_.put(address, out, m.key_cache_ttl, m.key_cache_size);
    }
    log::debug("%s: key address=%s result=%s detail=%s", qid, address.c_str(),
               keyKindName(out.kind), out.detail.c_str());
    return out;
  }

  e2ee::KeyClientOptions base;
  base.dial = proto::clientOptionsFor(cfg->outbound).dial;  // proxies, isolation, proxy_timeout
  const std::vector<std::string>* pins = m.tlsPinsFor(domain);
  const int connect_cap = static_cast<int>(
      std::min<int64_t>(std::max<int64_t>(1000, timeout_ms / 3), std::numeric_limits<int>::max()));

  for (const KeyServer& s : *servers) {
    out.server = transport::hostPort(s.host, s.port);
    std::vector<std::string> addresses;
    if (isNumericAddress(s.host) || dns::isOverlayName(s.host)) {
      addresses.push_back(s.host);  // overlay names go to the proxy as names, never to DNS
    } else {
      auto resolved = resolver_.addresses(s.host, deadline);
      if (!resolved || resolved->empty()) {
        out.detail = shortText(resolved ? s.host + ": no address" : resolved.error().message());
        log::debug("%s: key address=%s server=%s via=%s result=temporary detail=%s", qid,
                   address.c_str(), out.server.c_str(), s.via.c_str(), out.detail.c_str());
        continue;
      }
      addresses = std::move(resolved).value();
    }
    for (const std::string& a : addresses) {
      const int64_t left = deadline - dns::monotonicMs();
      if (left <= 0) {
        out.kind = KeyKind::kTemporary;
        out.detail = "query_timeout of " + std::to_string(timeout_ms / 1000) + " s expired";
        log::debug("%s: key address=%s server=%s result=temporary detail=%s", qid, address.c_str(),
                   out.server.c_str(), out.detail.c_str());
        return out;
      }
      e2ee::KeyClientOptions options = base;
      options.tls = serverTrust(m, pins, s.host);
      options.dial.targets = dialTargets(m, s.via == "static");
      options.total_timeout_ms =
          static_cast<int>(std::min<int64_t>(left, std::numeric_limits<int>::max()));
      options.read_timeout_ms = options.total_timeout_ms;
      options.connect_timeout_ms = std::min(connect_cap, options.total_timeout_ms);
      const std::string where = transport::hostPort(a, s.port);
      Result<e2ee::PublicKey> key = client_.pubkey(a, s.port, address, options);
      if (key) {
        out.kind = KeyKind::kFound;
        out.key = *key;
        out.detail.clear();
      } else if (key.error().kind() == ErrorKind::kNotFound ||
                 key.error().kind() == ErrorKind::kInvalid) {
        out.kind = KeyKind::kNone;  // a server that answers is final
        out.detail = shortText(key.error().message());
      } else {
        out.kind = KeyKind::kTemporary;
        out.detail = shortText(key.error().message());
        log::debug("%s: key address=%s server=%s address=%s via=%s result=temporary detail=%s", qid,
                   address.c_str(), out.server.c_str(), where.c_str(), s.via.c_str(),
                   out.detail.c_str());
        continue;
      }
      log::debug("%s: key address=%s server=%s address=%s via=%s result=%s detail=%s", qid,
                 address.c_str(), out.server.c_str(), where.c_str(), s.via.c_str(),
                 keyKindName(out.kind), out.detail.c_str());
      cache_.put(address, out, m.key_cache_ttl, m.key_cache_size);
      return out;
    }
  }
  out.kind = KeyKind::kTemporary;
  return out;
}

}  // namespace mtep::verify
