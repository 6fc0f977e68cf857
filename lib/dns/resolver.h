#pragma once
// NAME
//   resolver.h - the DNS lookups MTEP discovery needs, with a deadline
// SUMMARY
//   auto r = makeSystemResolver();
//   auto srv = r->srv("_mtep._tcp.example.org", deadline_ms);
// DESCRIPTION
//   An interface so discovery is tested with a fake. The system resolver
//   uses glibc's libresolv (res_nquery with per-call state, so it is
//   thread-safe), with the retransmission time and retries cut to fit the
//   time left: no lookup outlives its deadline by more than a second.
//   Results: a list (maybe empty = NODATA), kNotFound (NXDOMAIN), or
//   kTemporary (SERVFAIL, timeout, no server). Names are looked up as
//   given (absolute; no search list).
//   Names are normalised once (util/domain_name.h): the root dot dropped,
//   and a name with an empty label ("x..org", "x.onion..", ".onion") is
//   kInvalid, never asked. Names ending in .onion or .i2p are never sent
//   to DNS: kNotFound at once
//   (they must go through their proxy; leaking them to DNS is a privacy
//   bug). A deadline already passed is kTemporary without asking.
//   addresses() given a numeric address returns it unchanged, unasked.
//   Answers are parsed by parseAnswer() (answer.h); a malformed answer is
//   kTemporary. An answer too big for UDP is asked again over TCP by
//   libresolv, whose TCP connect is not bounded by the deadline.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace mtep::dns {

struct SrvRecord {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  std::string target;  // lower case, no trailing dot; "." (service not offered) becomes ""
};

struct MxRecord {
  uint16_t preference = 0;
  std::string exchange;  // lower case, no trailing dot
};

// Milliseconds since an arbitrary start (CLOCK_MONOTONIC).
int64_t monotonicMs();

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Each call gives up at deadline_ms (a monotonicMs() value): kTemporary.
  virtual Result<std::vector<SrvRecord>> srv(std::string_view name, int64_t deadline_ms) = 0;
  virtual Result<std::vector<MxRecord>> mx(std::string_view name, int64_t deadline_ms) = 0;
  // A and AAAA records as numeric text ("192.0.2.1", "2001:db8::1"), IPv4 first.
  virtual Result<std::vector<std::string>> addresses(std::string_view host,
                                                     int64_t deadline_ms) = 0;
};

// True for names under .onion or .i2p (ASCII case-insensitive; the root
// dot ignored). A malformed name (an empty label: "x.onion..") whose last
// non-empty label is onion or i2p is also true, so it is never sent to DNS
// by a caller that forgot to refuse it; lookups refuse it anyway.
bool isOverlayName(std::string_view name);

std::unique_ptr<Resolver> makeSystemResolver();

// A name server given by numeric IPv4 address and port.
struct NameServer {
  std::string address;  // "127.0.0.1"
  uint16_t port = 53;
};
// The system resolver asking only `servers` (at most 3) instead of those in
// /etc/resolv.conf: tests point it at a fake server on loopback. Addresses
// that are not numeric IPv4 are ignored; none left means every lookup is
// kTemporary.
std::unique_ptr<Resolver> makeSystemResolver(std::vector<NameServer> servers);

}  // namespace mtep::dns
