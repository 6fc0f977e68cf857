#include "transport/dialer.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "socks/socks.h"
#include "util/base64.h"
#include "util/domain_name.h"
#include "util/unique_fd.h"

namespace mtep::transport {
namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* p) const noexcept { freeaddrinfo(p); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;


socklen_t sockaddrLength(const sockaddr_storage& sa) {
  return sa.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// A numeric IPv4 or IPv6 literal ("[v6]" too) as a socket address.
bool numericSockaddr(std::string_view host, uint16_t port, sockaddr_storage* out) {
  *out = {};
  std::string h(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return true;
  }
  *out = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return true;
  }
  *out = {};
  return false;
}

std::string numericText(const sockaddr_storage& sa) {
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&sa), sockaddrLength(sa), host, sizeof host,
                  nullptr, 0, NI_NUMERICHOST) != 0) {
    return "?";
  }
  return host;
}

// Waits for `events` on fd until `until`. 1 ready, 0 timeout, -1 error.
int waitUntil(int fd, short events, SteadyClock::time_point until) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, remainingMs(until));
    if (rc > 0) return 1;
    if (rc == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

// Connects to one address within timeout_ms (and the deadline); the socket
// stays non-blocking. Messages name `where`.
Result<UniqueFd> connectTo(const sockaddr_storage& sa, int timeout_ms,
                           SteadyClock::time_point deadline, const std::string& where) {
  UniqueFd fd(::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return Error(ErrorKind::kTemporary,
                 "cannot create a socket for " + where + ": " + std::strerror(errno));
  }
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sockaddrLength(sa));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return fd;
  if (errno != EINPROGRESS) {
    return Error(ErrorKind::kTemporary, "cannot connect to " + where + ": " + std::strerror(errno));
  }
  const auto until =
      std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(std::max(0, timeout_ms)));
  switch (waitUntil(fd.get(), POLLOUT, until)) {
    case 1:
      break;
    case 0:
      return Error(ErrorKind::kTemporary, "timed out connecting to " + where + " after " +
                                              std::to_string(timeout_ms) + " ms");
    default:
      return Error(ErrorKind::kTemporary,
                   "poll failed connecting to " + where + ": " + std::strerror(errno));
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    return Error(ErrorKind::kTemporary, "cannot connect to " + where + ": " + std::strerror(err));
  }
  return fd;
}

class SystemResolver final : public NameResolver {
 public:
  Result<std::vector<sockaddr_storage>> resolve(const std::string& host, uint16_t port) override {
    // Defence in depth: overlay names never reach DNS (RFC 7686).
    if (routeFor(host) != Route::kDirect) {
      return Error(ErrorKind::kNotFound,
                   host + " is an overlay name and is never resolved through DNS");
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* raw = nullptr;
    const std::string service = std::to_string(port);
    const int gai = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
    AddrInfoPtr list(raw);
    if (gai != 0) {
      const std::string why = gai == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(gai);
      const bool missing = gai == EAI_NONAME
#ifdef EAI_NODATA
                           || gai == EAI_NODATA
#endif
          ;
      return Error(missing ? ErrorKind::kNotFound : ErrorKind::kTemporary,
                   "cannot resolve " + host + ": " + why);
    }
    std::vector<sockaddr_storage> out;
    for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
          ai->ai_addrlen > sizeof(sockaddr_storage)) {
        continue;
      }
      sockaddr_storage sa{};
      std::memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
      out.push_back(sa);
    }
    return out;
  }
};

void setWhy(DialFailure* why, DialFailure value) {
  if (why != nullptr) *why = value;
}

const char* waitingFor(const socks::Client& c) {
  if (c.requestSent()) return "the connect reply";
  if (c.method() == socks::Method::kUserPass) return "the authentication reply";
  return "the method reply";
}

Result<std::unique_ptr<Stream>> dialProxy(std::string_view host, uint16_t port, Route route,
                                          const DialOptions& options, DialFailure* why) {
  const Proxy& proxy = route == Route::kOnion ? options.onion_proxy : options.i2p_proxy;
  const std::string target = hostPort(host, port);
  if (!proxy.enabled()) {
    setWhy(why, DialFailure::kOther);
    return Error(ErrorKind::kNotFound, std::string("no SOCKS proxy for .") + routeName(route) +
                                           " (cannot reach " + target + ")");
  }
  const std::string proxy_text = hostPort(proxy.host, proxy.port);
  sockaddr_storage proxy_addr{};
  if (!numericSockaddr(proxy.host, proxy.port, &proxy_addr)) {
    setWhy(why, DialFailure::kOther);
    return Error(ErrorKind::kTemporary,
                 "SOCKS proxy address " + proxy_text + " is not a numeric address");
  }

  socks::Request request{.host = std::string(host), .port = port, .credentials = {}};
  if (!options.proxy_username.empty()) {
    request.credentials = socks::Credentials{options.proxy_username, options.proxy_password};
  } else if (options.isolate_streams) {
    request.credentials = socks::Credentials{"mtep", target};
  }
  auto client = socks::Client::create(std::move(request));
  if (!client) {
    setWhy(why, DialFailure::kOther);
    return Error(ErrorKind::kInvalid, "cannot reach " + target + ": " + client.error().message());
  }

  const std::string label = target + " via SOCKS " + proxy_text;
  const auto deadline = options.timeouts.deadline;
  if (remainingMs(deadline) == 0) {
    setWhy(why, DialFailure::kOther);
    return Error(ErrorKind::kTemporary, "deadline passed before dialling " + label);
  }
  auto fd = connectTo(proxy_addr, std::min(options.connect_timeout_ms, remainingMs(deadline)),
                      deadline, "SOCKS proxy " + proxy_text + " for " + target);
  if (!fd) {
    setWhy(why, DialFailure::kProxy);
    return std::move(fd).error();
  }

  const int proxy_ms = std::max(0, options.proxy_timeout_ms);
  const auto hs_deadline =
      std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(proxy_ms));
  const bool deadline_first = hs_deadline == deadline;
  auto stream = makeSocketStream(std::move(fd).value(), label,
                                 Timeouts{.read_timeout_ms = proxy_ms, .deadline = hs_deadline});
  auto proxyError = [&](DialFailure w, const std::string& what) -> Error {
    setWhy(why, w);
    return Error(ErrorKind::kTemporary, "cannot reach " + label + ": " + what);
  };

  if (auto st = stream->writeAll(client->greeting()); !st) {
    return proxyError(DialFailure::kProxy, st.error().message());
  }
  std::string out;
  char buf[512];
  for (;;) {
    const size_t want = std::min(client->wanted(), sizeof buf);
    const int ready = waitUntil(stream->fd(), POLLIN, hs_deadline);
    if (ready == 0) {
      // Silent before the request: the proxy. Silent after it: the proxy is
      // still trying to reach the peer, which has not answered.
      const std::string limit = deadline_first
                                    ? std::string("the deadline passed")
                                    : "no answer within " + std::to_string(proxy_ms) + " ms";
      return proxyError(client->requestSent() ? DialFailure::kPeerNoAnswer : DialFailure::kProxy,
                        limit + " waiting for " + waitingFor(*client));
    }
    if (ready < 0) {
      return proxyError(DialFailure::kProxy, std::string("poll failed: ") + std::strerror(errno));
    }
    auto n = stream->readSome(buf, want);
    if (!n) return proxyError(DialFailure::kProxy, n.error().message());
    if (*n == 0) {
      return proxyError(DialFailure::kProxy,
                        std::string("proxy closed the connection before ") + waitingFor(*client));
    }
    size_t used = 0;
    out.clear();
    switch (client->feed(std::string_view(buf, *n), &used, &out)) {
      case socks::State::kNeedMore:
        break;
      case socks::State::kSend:
        if (auto st = stream->writeAll(out); !st) {
          return proxyError(DialFailure::kProxy, st.error().message());
        }
        break;
      case socks::State::kDone:
        stream->setTimeouts(options.timeouts);
        setWhy(why, DialFailure::kNone);
        return stream;
      case socks::State::kError:
        return proxyError(client->blame() == socks::Blame::kPeer ? DialFailure::kPeerNoAnswer
                                                                 : DialFailure::kProxy,
                          client->errorText());
    }
  }
}

Result<std::unique_ptr<Stream>> dialDirect(const std::string& host, uint16_t port,
                                           const DialOptions& options, NameResolver& resolver,
                                           DialFailure* why) {
  const std::string target = hostPort(host, port);
  std::vector<sockaddr_storage> addrs;
  sockaddr_storage numeric{};
  const bool is_numeric = numericSockaddr(host, port, &numeric);
  if (is_numeric) {
    addrs.push_back(numeric);
  } else {
    auto resolved = resolver.resolve(host, port);
    if (!resolved) {
      setWhy(why, DialFailure::kName);
      return Error(ErrorKind::kTemporary, resolved.error().message());
    }
    addrs = std::move(resolved).value();
    if (addrs.empty()) {
      setWhy(why, DialFailure::kName);
      return Error(ErrorKind::kTemporary, "no address for " + target);
    }
  }
  const auto deadline = options.timeouts.deadline;
  std::string errors;
  bool tried = false;
  for (const sockaddr_storage& sa : addrs) {
    const std::string label = is_numeric ? target : target + " (" + numericText(sa) + ")";
    if (const char* kind = refusedTarget(options.targets, sa)) {
      if (!errors.empty()) errors += "; ";
      errors += "refused to connect to " + label + ": a " + kind +
                " address (not in allow_private_targets)";
      continue;
    }
    const int left = remainingMs(deadline);
    if (left == 0) {
      if (!errors.empty()) errors += "; ";
      errors += "the deadline passed";
      tried = true;
      break;
    }
    tried = true;
    auto fd = connectTo(sa, std::min(options.connect_timeout_ms, left), deadline, label);
    if (!fd) {
      if (!errors.empty()) errors += "; ";
      errors += fd.error().message();
      continue;
    }
    setWhy(why, DialFailure::kNone);
    return makeSocketStream(std::move(fd).value(), label, options.timeouts);
  }
  setWhy(why, tried ? DialFailure::kPeerNoAnswer : DialFailure::kRefusedTarget);
  return Error(ErrorKind::kTemporary, errors);
}

}  // namespace

Route routeFor(std::string_view host) {
  const std::string_view last = topLabel(host);
  if (asciiIEquals(last, "onion")) return Route::kOnion;
  if (asciiIEquals(last, "i2p")) return Route::kI2p;
  return Route::kDirect;
}

const char* routeName(Route r) noexcept {
  switch (r) {
    case Route::kDirect:
      return "direct";
    case Route::kOnion:
      return "onion";
    case Route::kI2p:
      return "i2p";
  }
  return "direct";
}

const char* refusedTarget(const TargetPolicy& policy, const sockaddr_storage& address) {
  if (!policy.refuse_non_public) return nullptr;
  net::IpAddress ip;
  if (address.ss_family == AF_INET) {
    ip.family = AF_INET;
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    std::memcpy(ip.bytes.data(), &v4->sin_addr, 4);
  } else if (address.ss_family == AF_INET6) {
    ip.family = AF_INET6;
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    std::memcpy(ip.bytes.data(), &v6->sin6_addr, 16);
  } else {
    return "non-IP";
  }
  const char* kind = net::nonPublicKind(ip);
  if (kind == nullptr) return nullptr;
  for (const net::Network& n : policy.allowed) {
    if (n.contains(ip)) return nullptr;
  }
  return kind;
}

NameResolver& systemResolver() {
  static SystemResolver resolver;
  return resolver;
}

Result<std::unique_ptr<Stream>> dial(const std::string& host, uint16_t port,
                                     const DialOptions& options, NameResolver& resolver,
                                     DialFailure* why) {
  setWhy(why, DialFailure::kOther);
  if (host.empty() || port == 0) {
    return Error(ErrorKind::kInvalid,
                 "cannot dial " + hostPort(host, port) + ": empty host or port 0");
  }
  if (options.connect_timeout_ms <= 0 || options.proxy_timeout_ms <= 0) {
    return Error(ErrorKind::kInvalid,
                 "cannot dial " + hostPort(host, port) + ": timeouts must be positive");
  }
  // One normal form for routing and for the proxy (util/domain_name.h):
  // a name with an empty label ("x.onion..") is refused here, so it can
  // neither be routed to DNS nor reach getaddrinfo.
  const auto bare = bareDomainName(host);
  if (!bare) {
    return Error(ErrorKind::kInvalid, "cannot dial " + printableAscii(host, 300) + ": " +
                                          bare.error().message());
  }
  const Route route = routeFor(*bare);
  if (route != Route::kDirect) {
    // The proxy gets the name without the root dot; it never meets a resolver.
    return dialProxy(*bare, port, route, options, why);
  }
  return dialDirect(host, port, options, resolver, why);
}

std::string hostPort(std::string_view host, uint16_t port) {
  std::string s;
  if (host.find(':') != std::string_view::npos && host.front() != '[') {
    s = "[" + std::string(host) + "]";
  } else {
    s = std::string(host);
  }
  return s + ":" + std::to_string(port);
}

}  // namespace mtep::transport
