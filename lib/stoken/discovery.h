#pragma once
// NAME
//   discovery.h - finding a domain's submission token server (STOKEN)
// SUMMARY
//   stoken::DiscoveryOptions o;             // o.servers["beta.test"] = {"tokens.beta.test", 465};
//   auto c = stoken::discoverTokenServers(o, resolver, "beta.test", dns::monotonicMs() + 5000);
//   for (const stoken::TokenServer& s : *c) ... s.host, s.port, s.implicit_tls
// DESCRIPTION
//   The candidates to try, in order:
//   - a static entry for the domain (options.servers, ASCII case-
//     insensitive, the root dot ignored): that one alone, no DNS asked;
//   - else `_submissions._tcp.<domain>` SRV (implicit TLS, RFC 8314), then
//     `_submission._tcp.<domain>` SRV (STARTTLS, RFC 6186), each in RFC
//     2782 order: by priority, and within a priority by a weighted random
//     choice (records of weight 0 first among equals). A record whose
//     target is "." (the service is decidedly not offered) or whose port
//     is 0 gives no candidate;
//   - then the MX hosts (by preference, resolver order among equals) on
//     options.submission_port with implicit TLS. A domain without MX
//     records (NODATA) is its own MX (RFC 5321 5.1); a null MX (RFC 7505,
//     the exchange ".") gives none.
//   When both SRV names answer with "." only, the domain says it offers no
//   submission service: no MX candidates either.
//   The same host and port is listed once (its first place); at most
//   options.max_candidates are returned.
//   Errors: the domain malformed (an empty label) kInvalid; no candidate
//   and some lookup failed temporarily (or the deadline passed)
//   kTemporary; no candidate otherwise kNotFound. A lookup that failed
//   temporarily while others gave candidates is skipped: the candidates
//   found are returned (every one of them still needs TLS and STOKEN).
//   Names under .onion and .i2p are never sent to DNS (the resolver
//   refuses them): configure them in options.servers.
// SEE ALSO
//   lib/dns/resolver.h, RFC 2782, RFC 6186, RFC 8314, RFC 7505

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "dns/resolver.h"
#include "util/result.h"

namespace mtep::stoken {

enum class ServerSource { kStatic, kSubmissionsSrv, kSubmissionSrv, kMx };
const char* serverSourceName(ServerSource source) noexcept;  // "static", "submissions-srv", ...

struct TokenServer {
  std::string host;          // lower case, no trailing dot (static: as configured)
  uint16_t port = 0;
  bool implicit_tls = true;  // false: STARTTLS (from _submission._tcp)
  ServerSource source = ServerSource::kStatic;
  bool operator==(const TokenServer&) const = default;
};

struct DiscoveryOptions {
  std::map<std::string, config::ServerAddress> servers;  // [stoken] servers: domain -> host:port
  bool static_implicit_tls = true;  // how the static servers speak TLS (false: STARTTLS)
  uint16_t submission_port = 465;   // [stoken] submission_port, for MX hosts
  size_t max_candidates = 10;
};

// Picks a number in [0, total] for RFC 2782's weighted choice; tests pass
// a fixed one. Empty: a random one.
using WeightPicker = std::function<uint32_t(uint32_t total)>;

Result<std::vector<TokenServer>> discoverTokenServers(const DiscoveryOptions& options,
                                                      dns::Resolver& resolver,
                                                      std::string_view domain,
                                                      int64_t deadline_ms,
                                                      const WeightPicker& pick = {});

// RFC 2782 order of `records` as described above (records with an empty
// target or port 0 are kept; the caller skips them).
std::vector<dns::SrvRecord> orderSrv(std::vector<dns::SrvRecord> records, const WeightPicker& pick);

}  // namespace mtep::stoken
