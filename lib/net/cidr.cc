#include "net/cidr.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace mtep::net {

namespace {

constexpr size_t kMaxText = 64;

size_t familyBits(int family) { return family == AF_INET ? 32 : 128; }

}  // namespace

Result<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton reads a C string: an embedded NUL would hide what follows it.
  if (text.empty() || text.size() >= kMaxText || text.find('\0') != std::string_view::npos) {
    return Error(ErrorKind::kInvalid, "not an IP address");
  }
  const std::string z(text);
  IpAddress ip;
  if (::inet_pton(AF_INET, z.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (::inet_pton(AF_INET6, z.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return Error(ErrorKind::kInvalid, "not a numeric IPv4 or IPv6 address");
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family != AF_INET && family != AF_INET6) return "?";
  ::inet_ntop(family, bytes.data(), buf, sizeof buf);
  return buf;
}

IpAddress IpAddress::unmapped() const {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family != AF_INET6 || std::memcmp(bytes.data(), kMapped, sizeof kMapped) != 0) return *this;
  IpAddress v4;
  v4.family = AF_INET;
  std::memcpy(v4.bytes.data(), bytes.data() + 12, 4);
  return v4;
}

bool Network::contains(const IpAddress& ip_in) const {
  const IpAddress ip = ip_in.unmapped();
  if (ip.family != base.family) return false;
  size_t bits = prefix;
  size_t i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (ip.bytes[i] != base.bytes[i]) return false;
  }
  if (bits == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (ip.bytes[i] & mask) == (base.bytes[i] & mask);
}

std::string Network::toString() const { return base.toString() + "/" + std::to_string(prefix); }

Result<Network> parseNetwork(std::string_view text) {
  const size_t slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::move(ip).error();
  Network net;
  net.base = *ip;
  const size_t max_bits = familyBits(ip->family);
  net.prefix = static_cast<uint8_t>(max_bits);
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || digits.size() > 3 || ec != std::errc() ||
        end != digits.data() + digits.size() || value > max_bits ||
        (digits.size() > 1 && digits[0] == '0')) {
      return Error(ErrorKind::kInvalid, "prefix length must be 0.." + std::to_string(max_bits));
    }
    net.prefix = static_cast<uint8_t>(value);
  }
  // Refuse host bits below the prefix.
  size_t bits = net.prefix;
  for (size_t i = 0; i < max_bits / 8; ++i) {
    const uint8_t keep = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits)) & 0xff;
    if (bits < 8 && (net.base.bytes[i] & static_cast<uint8_t>(~keep)) != 0) {
      return Error(ErrorKind::kInvalid,
                   "address has bits set below the prefix length (write the network address)");
    }
    bits = bits >= 8 ? bits - 8 : 0;
  }
  // ::ffff:a.b.c.d/N (N >= 96) is the IPv4 network a.b.c.d/(N-96): contains()
  // sees mapped clients as IPv4, so the network must be IPv4 too.
  const IpAddress v4 = net.base.unmapped();
  if (v4.family == AF_INET && net.base.family == AF_INET6 && net.prefix >= 96) {
    net.base = v4;
    net.prefix = static_cast<uint8_t>(net.prefix - 96);
  }
  return net;
}

namespace {

const char* nonPublicV4(const uint8_t* b) {
  if (b[0] == 127) return "loopback";
  if (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168)) {
    return "private";
  }
  if (b[0] == 100 && (b[1] & 0xc0) == 64) return "shared";
  if (b[0] == 169 && b[1] == 254) return "link-local";
  if (b[0] == 0) return "unspecified";
  if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) return "broadcast";
  if ((b[0] & 0xf0) == 224) return "multicast";
  if ((b[0] & 0xf0) == 240) return "reserved";
  return nullptr;
}

}  // namespace

const char* nonPublicKind(const IpAddress& ip_in) {
  const IpAddress ip = ip_in.unmapped();
  const uint8_t* b = ip.bytes.data();
  if (ip.family != AF_INET6) return nonPublicV4(b);
  static constexpr uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::equal(b, b + 12, kNat64)) return nonPublicV4(b + 12);
  if (std::all_of(b, b + 12, [](uint8_t x) { return x == 0; })) {
    const bool small = b[12] == 0 && b[13] == 0 && b[14] == 0;
    if (small && b[15] == 1) return "loopback";
    if (small && b[15] == 0) return "unspecified";
    return "reserved";  // IPv4-compatible ::a.b.c.d (deprecated) and the rest of ::/96
  }
  if ((b[0] & 0xfe) == 0xfc) return "unique-local";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "site-local";
  if (b[0] == 0xff) return "multicast";
  return nullptr;
}

}  // namespace mtep::net
