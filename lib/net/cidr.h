#pragma once
// NAME
//   cidr.h - IP addresses and networks (CIDR) for "is this client ours?"
// SUMMARY
//   auto net = parseNetwork("127.0.0.0/8");
//   auto ip  = IpAddress::parse("127.0.0.1");
//   if (net->contains(*ip)) ...
// DESCRIPTION
//   Numeric IPv4 and IPv6 only (inet_pton); no names. A network without
//   "/N" is one host (/32 or /128). Host bits set below the prefix are
//   refused ("10.1.2.3/8" is an error: write "10.0.0.0/8"), so a typo does
//   not widen a network silently. An IPv4-mapped IPv6 address
//   (::ffff:a.b.c.d) is matched as the IPv4 address it carries, and a
//   mapped network ::ffff:a.b.c.d/N (N >= 96) is read as a.b.c.d/(N-96).
//   IPv6 networks never match IPv4 clients, mapped or not (not even ::/0).
//   Errors are kInvalid with a message that does not echo the input.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace mtep::net {

struct IpAddress {
  int family = 0;                   // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4
  static Result<IpAddress> parse(std::string_view text);
  std::string toString() const;
  // The IPv4 address inside ::ffff:a.b.c.d, else *this.
  IpAddress unmapped() const;
  bool operator==(const IpAddress&) const = default;
};

struct Network {
  IpAddress base;
  uint8_t prefix = 0;  // 0..32 or 0..128
  bool contains(const IpAddress& ip) const;
  std::string toString() const;  // "127.0.0.0/8"
  bool operator==(const Network&) const = default;
};

Result<Network> parseNetwork(std::string_view text);

// What kind of non-public address `ip` is, for "do not send queries
// there": "loopback", "private" (RFC 1918), "shared" (RFC 6598, carrier
// NAT), "link-local", "unique-local" (fc00::/7), "site-local" (fec0::/10),
// "unspecified" (0.0.0.0/8, ::), "multicast", "broadcast", "reserved"
// (240.0.0.0/4, and the deprecated IPv4-compatible ::a.b.c.d); the
// documentation ranges (192.0.2.0/24, 2001:db8::/32) count as public. IPv4-mapped IPv6
// addresses are judged as the IPv4 address they carry; NAT64
// (64:ff9b::/96) as its embedded IPv4 address. nullptr for any other
// (public) address.
const char* nonPublicKind(const IpAddress& ip);

}  // namespace mtep::net
