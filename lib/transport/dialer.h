#pragma once
// NAME
//   dialer.h - connects to host:port, directly or through a SOCKS5 proxy
// SUMMARY
//   transport::DialOptions o{.connect_timeout_ms = 3000, .timeouts = {...},
//                            .onion_proxy = {"127.0.0.1", 9050}};
//   auto s = transport::dial("abc...xyz.onion", 25, o, transport::systemResolver());
// DESCRIPTION
//   A host with an empty label ("x.onion..", "x..org", ".onion") is
//   kInvalid, never dialled (util/domain_name.h: the one normal form).
//   Routes by the host's last label (ASCII case-insensitive, the root dot
//   ignored):
//   - ".onion": through onion_proxy; ".i2p": through i2p_proxy. The name
//     goes to the proxy as a name (SOCKS5 ATYP 3, RFC 1928) and is NEVER
//     given to the resolver or to getaddrinfo (RFC 7686). No proxy
//     configured: kNotFound ("no SOCKS proxy for .onion").
//   - anything else: the resolver's addresses, each tried in turn within the
//     deadline (connect_timeout_ms per address); the first that connects is
//     the answer. Numeric hosts skip the resolver.
//   With targets.refuse_non_public, an address that is not public
//   (net::nonPublicKind: loopback, private, link-local, ...) and not in
//   targets.allowed is never connected to: it is skipped with a message
//   saying why, and when every address is refused the dial fails
//   (kTemporary, DialFailure::kRefusedTarget). The check is on the address
//   about to be connected to, after resolution, so a name that resolves to
//   127.0.0.1 is refused like the number. Proxies (config) are not checked.
//   Through a proxy, the proxy's own address is numeric (config) and is
//   connected to directly; the SOCKS5 handshake (socks.h) runs within
//   proxy_timeout_ms (bounded by the deadline). Methods offered: "no
//   authentication" and, when credentials are set or isolate_streams is on,
//   username/password (RFC 1929). With isolate_streams and no configured
//   credentials, the username is "mtep" and the password is the
//   destination "host:port", so Tor (IsolateSOCKSAuth) builds a separate
//   circuit for each peer; a proxy that picks "no authentication" is fine.
//   Failures are kTemporary (or kNotFound above) and say what happened and
//   where; *why (may be null) tells the caller whether the PEER did not
//   answer (so that trying another port of it makes sense) or something
//   else failed (the proxy is down or speaks garbage, the name is unknown).
// SEE ALSO
//   stream.h, lib/socks/socks.h

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/cidr.h"
#include "transport/stream.h"
#include "util/result.h"

struct sockaddr_storage;

namespace mtep::transport {

enum class Route { kDirect, kOnion, kI2p };
// By suffix as above; a malformed name by its last non-empty label (so
// "x.onion.." is kOnion, and dial() refuses it).
Route routeFor(std::string_view host);
const char* routeName(Route r) noexcept;  // "direct", "onion", "i2p"

struct Proxy {
  std::string host;  // numeric; "" = none
  uint16_t port = 0;
  bool enabled() const { return !host.empty() && port != 0; }
};

// Where direct connections may go (see DESCRIPTION).
struct TargetPolicy {
  bool refuse_non_public = false;     // refuse loopback, private, link-local, ... addresses
  std::vector<net::Network> allowed;  // ... except these
};

struct DialOptions {
  int connect_timeout_ms = 5000;  // per address (direct) or to the proxy
  int proxy_timeout_ms = 30000;   // SOCKS handshake, including the proxy's connect to the peer
  Timeouts timeouts;              // of the stream returned; the deadline also bounds dialling
  Proxy onion_proxy;
  Proxy i2p_proxy;
  std::string proxy_username;     // RFC 1929; "" = none configured
  std::string proxy_password;
  bool isolate_streams = true;
  TargetPolicy targets{};         // direct connections only
};

// Why a dial failed, for fallbacks.
enum class DialFailure {
  kNone,
  kPeerNoAnswer,  // refused, timed out, unreachable: the peer (port) did not answer,
                  // directly or as the proxy reported it (SOCKS replies 3, 4, 5, 6 and
                  // Tor's F0, F2, F3, F7), or the proxy went quiet after CONNECT (it
                  // is alive and still trying to reach the peer)
  kProxy,         // the proxy is down, refused us, broke SOCKS5, or went quiet during
                  // the greeting or authentication
  kName,          // direct only: the resolver says the name does not exist or fails
                  // (a proxy's "host unreachable" for a name is kPeerNoAnswer)
  kOther,         // no proxy configured, bad arguments
  kRefusedTarget, // direct only: every address was refused by options.targets
};

// Why `address` may not be connected to under `policy` ("loopback", ...),
// or nullptr when it may.
const char* refusedTarget(const TargetPolicy& policy, const sockaddr_storage& address);

// Name to addresses for direct connections. Tests count the calls to prove
// that overlay names never get here.
class NameResolver {
 public:
  virtual ~NameResolver() = default;
  // Addresses of `host` for a TCP connection to `port`, in the order to try.
  // kTemporary on failure, kNotFound when the name does not exist.
  virtual Result<std::vector<sockaddr_storage>> resolve(const std::string& host, uint16_t port) = 0;
};
// getaddrinfo(AI_NUMERICSERV, SOCK_STREAM). Thread-safe.
NameResolver& systemResolver();

// "host:port", IPv6 literals in brackets: "[::1]:25". For messages.
std::string hostPort(std::string_view host, uint16_t port);

Result<std::unique_ptr<Stream>> dial(const std::string& host, uint16_t port,
                                     const DialOptions& options, NameResolver& resolver,
                                     DialFailure* why = nullptr);

}  // namespace mtep::transport
