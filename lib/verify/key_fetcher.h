#pragma once
// NAME
//   key_fetcher.h - fetches a sender's public key (PUBKEY) from the sender
//   domain's key server, with discovery and a cache
// SUMMARY
//   RemoteKeyFetcher f(cfg, resolver, clock);
//   KeyOutcome o = f.fetch({"alice@alpha.test", "alpha.test", "4XyZ"});
//   if (o.kind == milter::KeyKind::kFound) e2ee::verifyMessage(msg, sig, o.key);
// DESCRIPTION
//   Discovery (discoverKeyServers), the first step that yields candidates
//   wins:
//     1. [milter] key_servers: the static entry for the domain (exact, then
//        the nearest ".parent" key); its port (default 25);
//     2. .onion/.i2p domains: the overlay host itself (for an SMTorP domain
//        "<fp>.<56 chars>.onion" the "<56 chars>.onion" part) on [outbound]
//        smtp_port, reached as a name through the SOCKS proxy, never DNS;
//     3. an address literal domain ("[192.0.2.1]"): that address;
//     4. the domain's MX hosts (preference order) on [outbound] smtp_port;
//     5. no MX: the domain itself on smtp_port.
//   NXDOMAIN and a null MX (RFC 7505) are kNotFound (the domain has no key
//   server: KeyKind::kNone); other DNS trouble is kTemporary.
//   Each candidate host is turned into addresses with the dns::Resolver
//   (numeric and overlay hosts are used as they are) and each address
//   asked with e2ee::KeyClient (EHLO, STARTTLS required, PUBKEY), all
//   within [milter] query_timeout (each connect gets at most a third of
//   it, but 1 s or more, so one dead address leaves time for the next).
//   A server that answers decides: a key -> kFound; 550 (no key for the
//   address), 502/500 (no key service) or another 5xx -> kNone. A server
//   that cannot be reached, offers no STARTTLS, answers 4xx or breaks the
//   grammar -> the next address; none left -> kTemporary.
//   Trust (serverTrust): the domain's [milter] tls_pins when listed, else
//   a certificate from tls_ca_file (or the system store) for the host as
//   discovered (the static entry's host, the MX name, the domain, the
//   literal address); overlay hosts are not checked (their address is
//   their key). A server that fails the check is not asked: the next
//   address, and kTemporary when none is left, never kFound.
//   Targets (dialTargets): addresses of discovered hosts (everything but
//   static entries) that are not public are refused before connecting
//   unless in [milter] allow_private_targets.
//   Cache: kFound and kNone are kept for [milter] key_cache_ttl seconds,
//   keyed by the lower-case address, at most key_cache_size entries
//   (oldest evicted first). kTemporary is never cached.
//   Thread-safe: the cache's mutex is never held across network I/O; the
//   config is a snapshot replaced with setConfig() on reload.
// SEE ALSO
//   milter/key_fetcher.h, e2ee/client.h, remote_verifier.h (the same
//   discovery shape for MTEP servers)

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "dns/resolver.h"
#include "e2ee/client.h"
#include "milter/key_fetcher.h"
#include "util/clock.h"
#include "util/result.h"
#include "verify/ttl_cache.h"

namespace mtep::verify {

using milter::KeyFetcher;
using milter::KeyKind;
using milter::KeyOutcome;
using milter::KeyQuery;

struct KeyServer {
  std::string host;  // a name, a numeric address or an overlay name
  uint16_t port = 25;
  std::string via;  // "static", "overlay", "literal", "mx", "domain": for logs
};

// The key servers to ask for `domain` (see DESCRIPTION), never an empty
// list. Errors: kInvalid (empty or malformed domain), kNotFound (NXDOMAIN,
// null MX), kTemporary (DNS trouble, deadline passed).
Result<std::vector<KeyServer>> discoverKeyServers(const config::Config& cfg,
                                                  dns::Resolver& resolver, std::string_view domain,
                                                  int64_t deadline_ms);

// How a key server or MTEP server found for a sender domain is trusted
// (see DESCRIPTION); `pins` is tlsPinsFor(domain), may be null.
transport::TlsTrust serverTrust(const config::MilterConfig& m,
                                const std::vector<std::string>* pins, const std::string& host);
// Where connections to a server found by discovery may go.
transport::TargetPolicy dialTargets(const config::MilterConfig& m, bool static_entry);

// One PUBKEY question to one server: the seam unit tests replace.
class KeyServerClient {
 public:
  virtual ~KeyServerClient() = default;
  // `host` is numeric or an overlay name. kNotFound: the server answered
  // that it has no key (or no key service); kInvalid: another 5xx;
  // anything else: the server could not be asked.
  virtual Result<e2ee::PublicKey> pubkey(const std::string& host, uint16_t port,
                                         std::string_view address,
                                         const e2ee::KeyClientOptions& options) = 0;
};
// e2ee::KeyClient::open + pubkey + quit.
KeyServerClient& realKeyServerClient();

// kFound and kNone outcomes only (put() ignores the rest); see ttl_cache.h.
class KeyCache {
 public:
  explicit KeyCache(const Clock& clock) : cache_(clock) {}
  // ttl 0 or max_entries 0 stores nothing.
  void put(const std::string& key, const KeyOutcome& outcome, int64_t ttl, size_t max_entries) {
    if (outcome.kind == KeyKind::kFound || outcome.kind == KeyKind::kNone) {
      cache_.put(key, outcome, ttl, max_entries);
    }
  }
  bool get(const std::string& key, KeyOutcome* out) { return cache_.get(key, out); }
  size_t size() const { return cache_.size(); }

 private:
  TtlCache<KeyOutcome> cache_;
};

class RemoteKeyFetcher final : public KeyFetcher {
 public:
  // `resolver`, `clock` and `client` must outlive the fetcher.
  RemoteKeyFetcher(config::ConfigPtr config, dns::Resolver& resolver, const Clock& clock,
                   KeyServerClient& client = realKeyServerClient());
  void setConfig(config::ConfigPtr config);
  KeyOutcome fetch(const KeyQuery& query) override;
  const KeyCache& cache() const { return cache_; }

 private:
  config::ConfigPtr snapshot() const;
  mutable std::mutex config_mu_;  // guards config_
  config::ConfigPtr config_;      // guarded by config_mu_
  dns::Resolver& resolver_;
  KeyServerClient& client_;
  KeyCache cache_;
};

}  // namespace mtep::verify
