// discover(): which MTEP servers to ask for a sender domain (see
// remote_verifier.h for the order and what each failure means).

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "mtep/protocol.h"
#include "util/base64.h"
#include "util/domain_name.h"
#include "verify/internal.h"
#include "verify/remote_verifier.h"

namespace mtep::verify {

using detail::addressLiteral;
using detail::overlayHost;

namespace detail {

bool isNumericAddress(const std::string& host) {
  in6_addr buf;
  return ::inet_pton(AF_INET, host.c_str(), &buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &buf) == 1;
}

std::string shortText(std::string_view text) {
  constexpr size_t kMaxDetail = 120;
  return printableAscii(text, kMaxDetail);
}

std::string addressLiteral(const std::string& domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return {};
  std::string inner = domain.substr(1, domain.size() - 2);
  int family = AF_INET;
  if (inner.rfind("ipv6:", 0) == 0) {
    inner.erase(0, 5);
    family = AF_INET6;
  }
  in6_addr buf;
  return ::inet_pton(family, inner.c_str(), &buf) == 1 ? inner : std::string();
}

std::string overlayHost(const std::string& domain) {
  constexpr std::string_view kOnion = ".onion";
  constexpr size_t kOnionLabel = 56;
  if (domain.size() <= kOnion.size() ||
      domain.compare(domain.size() - kOnion.size(), kOnion.size(), kOnion) != 0) {
    return domain;
  }
  const size_t end = domain.size() - kOnion.size();  // end of the service label
  const size_t dot = domain.rfind('.', end - 1);
  if (dot == std::string::npos) return domain;  // "<x>.onion": nothing to strip
  if (end - dot - 1 != kOnionLabel) return domain;
  return domain.substr(dot + 1);
}

}  // namespace detail

std::string normalizeDomain(std::string_view domain) {
  // util/domain_name.h: the root dot dropped; an empty label gives "".
  const auto bare = bareDomainName(domain);
  if (!bare) return {};
  std::string out(*bare);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  return out;
}

namespace {

Status timeLeft(int64_t deadline_ms, const std::string& domain) {
  if (dns::monotonicMs() < deadline_ms) return okStatus();
  return Error(ErrorKind::kTemporary, domain + ": query_timeout expired during discovery");
}

}  // namespace

Result<std::vector<Candidate>> discover(const config::MilterConfig& cfg, dns::Resolver& resolver,
                                        std::string_view sender_domain, int64_t deadline_ms) {
  const std::string domain = normalizeDomain(sender_domain);
  if (domain.empty()) return Error(ErrorKind::kInvalid, "empty or malformed sender domain");

  if (const config::ServerAddress* s = cfg.serverFor(domain)) {
    return std::vector<Candidate>{{s->host, s->port, "static"}};
  }
  if (dns::isOverlayName(domain)) {
    return std::vector<Candidate>{{overlayHost(domain), proto::kDefaultPort, "overlay"}};
  }
  if (domain.front() == '[') {
    std::string literal = addressLiteral(domain);
    if (literal.empty()) return Error(ErrorKind::kInvalid, domain + ": bad address literal");
    return std::vector<Candidate>{{std::move(literal), proto::kDefaultPort, "domain"}};
  }

  if (auto st = timeLeft(deadline_ms, domain); !st) return std::move(st).error();
  const std::string srv_name = "_mtep._tcp." + domain;
  auto srv = resolver.srv(srv_name, deadline_ms);
  if (!srv && srv.error().kind() != ErrorKind::kNotFound) {
    return Error(srv.error().kind(), "SRV " + srv_name + ": " + srv.error().message());
  }
  if (srv && !srv->empty()) {
    std::vector<dns::SrvRecord> records = std::move(srv).value();
    std::stable_sort(records.begin(), records.end(),
                     [](const dns::SrvRecord& a, const dns::SrvRecord& b) {
                       if (a.priority != b.priority) return a.priority < b.priority;
                       return a.weight > b.weight;
                     });
    std::vector<Candidate> out;
    for (dns::SrvRecord& r : records) {
      if (r.target.empty() || r.port == 0) continue;
      out.push_back({std::move(r.target), r.port, "srv"});
    }
    if (out.empty()) {
      return Error(ErrorKind::kNotFound, "SRV " + srv_name + ": no MTEP service offered");
    }
    return out;
  }

  if (auto st = timeLeft(deadline_ms, domain); !st) return std::move(st).error();
  auto mx = resolver.mx(domain, deadline_ms);
  if (!mx) {
    if (mx.error().kind() == ErrorKind::kNotFound) {
      return Error(ErrorKind::kNotFound, domain + ": no such domain");
    }
    return Error(mx.error().kind(), "MX " + domain + ": " + mx.error().message());
  }
  if (!mx->empty()) {
    std::vector<dns::MxRecord> records = std::move(mx).value();
    std::stable_sort(
        records.begin(), records.end(),
        [](const dns::MxRecord& a, const dns::MxRecord& b) { return a.preference < b.preference; });
    std::vector<Candidate> out;
    for (dns::MxRecord& r : records) {
      if (r.exchange.empty()) continue;
      out.push_back({std::move(r.exchange), proto::kDefaultPort, "mx"});
    }
    if (out.empty()) return Error(ErrorKind::kNotFound, domain + ": null MX");
    return out;
  }
  return std::vector<Candidate>{{domain, proto::kDefaultPort, "domain"}};
}

}  // namespace mtep::verify
