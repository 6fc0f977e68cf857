#pragma once
// NAME
//   remote_verifier.h - asks a sender domain's MTEP server, with discovery
//   and a short-lived cache
// SUMMARY
//   RemoteVerifier v(cfg, resolver, clock);
//   VerifyOutcome o = v.verify({token, "alice@alpha.test", "alpha.test", "4XyZ"});
// DESCRIPTION
//   Discovery, in order (the first step that yields candidates wins):
//     1. [milter] mtep_servers: the static entry for the sender domain;
//     2. SRV _mtep._tcp.<domain> (priority order; weight ignored beyond
//        ordering; a lone "." target means "no MTEP here": kUnreachable);
//     3. the domain's MX hosts (preference order), port 6211;
//     4. the domain itself, port 6211.
//   Names under .onion/.i2p never go to DNS: without a static entry the
//   one candidate is the overlay host itself, port 6211 (via "overlay"; for
//   an SMTorP domain "<fp>.<56 chars>.onion" the "<56 chars>.onion" part),
//   reached as a name through the [outbound] SOCKS proxy; a static entry
//   that names an overlay host is reached the same way.
//   STARTMTEP fallback ([outbound] startmtep_fallback, smtp_port): when a
//   candidate on port 6211 does not answer, the same host (or address) is
//   asked over ESMTP (mtep/client.h); candidates with another port (static
//   entries, SRV) are asked on that port only.
//   Where a step fails: NXDOMAIN or NODATA for the SRV name moves on to the
//   MX step, but a temporary SRV failure (SERVFAIL, timeout) ends discovery
//   as kTemporary (so kUnreachable): falling back to MX hosts would ask a
//   server the domain may not have chosen, and a published SRV that
//   failed once must not silently route queries elsewhere. The same goes
//   for a temporary MX failure. NXDOMAIN for the domain itself (MX step) is
//   kNotFound. A null MX (RFC 7505: only "." exchanges) means no MX host and
//   no fallback to the domain: kNotFound. SRV records with port 0 are
//   skipped. An address literal sender domain ("[192.0.2.1]",
//   "[IPv6:2001:db8::1]") skips SRV and MX: the address itself, port 6211.
//   Host names are turned into addresses with the Resolver; each address
//   is asked with MtepClient (one "?" carrying token, sender and, when the
//   query has one, the recipient, then "Q")
//   until one answers; the whole verify() keeps within [milter]
//   query_timeout (each client call gets the time left as its read and
//   total timeout, and at most a third of query_timeout, but 1 s or more,
//   to connect, so one dead address leaves time for the next).
//   Addresses of discovered candidates (all but static entries) that are
//   not public (loopback, private, link-local, ...) are refused before
//   connecting unless in [milter] allow_private_targets (dialTargets in
//   key_fetcher.h); overlay names go to the SOCKS proxy. Over the
//   STARTMTEP fallback, a server offering STARTTLS is trusted as key
//   servers are (serverTrust: tls_pins of the sender domain, else a
//   certificate from tls_ca_file or the system store for the candidate's
//   host); one that fails is the next address. Port 6211 itself is
//   plain: see doc/mtep.md for what that does and does not protect.
//   K -> kValid, D or I5.x.x -> kRefused, Z or I4.x.x (busy) -> kUnsure; any failure -> the next
//   address, and kUnreachable when none is left.
//   Cache: kValid and kRefused answers are kept for cache_ttl seconds, keyed
//   by (sender domain, token, sender, recipient domain), at most
//   cache_size entries (oldest
//   evicted first). kUnsure and kUnreachable are never cached.
//   outcome.server is "host:port" of the candidate tried last (the host as
//   discovered: a name or a numeric address); outcome.detail is the answer
//   ("D5.7.8 text", printable ASCII, at most 120 characters) or why none
//   came. One debug log line per address tried.
//   Thread-safe: the cache is guarded by a mutex held only for lookups and
//   inserts, never across network I/O. Config is read from the snapshot
//   passed per call, so SIGHUP-style swaps need no locking here.

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config/config.h"
#include "dns/resolver.h"
#include "milter/verifier.h"
#include "util/clock.h"
#include "verify/ttl_cache.h"

namespace mtep::verify {

using milter::TokenMinter;
using milter::TokenVerifier;
using milter::VerifyKind;
using milter::VerifyOutcome;
using milter::VerifyQuery;

// The servers to try for `domain`, in order, as "host:port" pairs with the
// host still a name or a numeric address. Exposed for tests. `domain` is
// compared and looked up in lower case without a trailing dot. Errors:
// kInvalid (empty or malformed domain), kNotFound (no MTEP server: SRV ".", NXDOMAIN,
// null MX), kTemporary (DNS trouble or
// deadline passed). Never an empty list.
// ASCII lower case, the root dot removed: the form domains are compared in;
// "" for a name with an empty label ("x.onion..": util/domain_name.h).
std::string normalizeDomain(std::string_view domain);

struct Candidate {
  std::string host;
  uint16_t port = 6211;
  std::string via;  // "static", "srv", "mx", "domain": for logs
};
Result<std::vector<Candidate>> discover(const config::MilterConfig& cfg, dns::Resolver& resolver,
                                        std::string_view domain, int64_t deadline_ms);

// kValid and kRefused outcomes only (put() ignores the rest); see ttl_cache.h.
class VerdictCache {
 public:
  explicit VerdictCache(const Clock& clock) : cache_(clock) {}
  // ttl 0 or max_entries 0 stores nothing.
  void put(const std::string& key, const VerifyOutcome& outcome, int64_t ttl, size_t max_entries) {
    if (outcome.kind == VerifyKind::kValid || outcome.kind == VerifyKind::kRefused) {
      cache_.put(key, outcome, ttl, max_entries);
    }
  }
  bool get(const std::string& key, VerifyOutcome* out) { return cache_.get(key, out); }
  size_t size() const { return cache_.size(); }

 private:
  TtlCache<VerifyOutcome> cache_;
};

class RemoteVerifier final : public TokenVerifier {
 public:
  // `config` is replaced with setConfig() on reload; `resolver` and `clock`
  // must outlive the verifier.
  RemoteVerifier(config::ConfigPtr config, dns::Resolver& resolver, const Clock& clock);
  void setConfig(config::ConfigPtr config);
  VerifyOutcome verify(const VerifyQuery& query) override;
  const VerdictCache& cache() const { return cache_; }

 private:
  config::ConfigPtr snapshot() const;
  mutable std::mutex config_mu_;  // guards config_
  config::ConfigPtr config_;      // guarded by config_mu_
  dns::Resolver& resolver_;
  VerdictCache cache_;
};

}  // namespace mtep::verify
