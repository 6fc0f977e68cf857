#pragma once
// NAME
//   internal.h - private to lib/verify: the small helpers discovery of MTEP
//   servers (discover.cc) and of key servers (key_fetcher.cc) share
// DESCRIPTION
//   Defined in discover.cc.

#include <string>
#include <string_view>

namespace mtep::verify::detail {

// A numeric IPv4 or IPv6 address (no brackets).
bool isNumericAddress(const std::string& host);
// Printable ASCII only (others become '?'), at most 120 characters: for
// outcome details and log lines.
std::string shortText(std::string_view text);
// "[192.0.2.1]" -> "192.0.2.1", "[ipv6:2001:db8::1]" -> "2001:db8::1";
// empty when `domain` (lower case) is not a valid address literal.
std::string addressLiteral(const std::string& domain);
// The service to connect to for an overlay domain: an SMTorP domain
// "<fingerprint>.<56 characters>.onion" names the onion service
// "<56 characters>.onion"; anything else is used as it is.
std::string overlayHost(const std::string& domain);

}  // namespace mtep::verify::detail
