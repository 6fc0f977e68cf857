#pragma once
// NAME
//   header.h - the MTEP-Token header: one token per recipient domain
// SUMMARY
//   auto h = parseTokenHeader(" <token>; domain=beta.test");  // h->token, h->domain
//   std::string v = formatTokenHeader(token, "beta.test");
// DESCRIPTION
//   The header mail carries its tokens in between sites running this
//   suite (doc/mtep.md): "MTEP-Token: <token>; domain=<recipient domain>",
//   one header per recipient domain, or the older bare form
//   "MTEP-Token: <token>", which counts for every recipient domain. A
//   receiver reads the one naming its own domain (else the bare one) and
//   needs no other. Used by mtep-milter (Postfix) and mtep-policyd (Exim).
// SECURITY
//   Every length is checked before the value is copied; nothing but
//   base64url in the token and "letters, digits, -._[]:" in the domain is
//   accepted, so a parsed value can be written back into a header as is.

#include <cstddef>
#include <string>
#include <string_view>

#include "util/result.h"

namespace mtep::token {

inline constexpr size_t kMaxHeaderToken = 256;   // a token (PROTOCOLS.md: at most 256 chars)
inline constexpr size_t kMaxTokenDomain = 255;   // a domain in the header
inline constexpr size_t kMaxTokenHeader = 1024;  // a whole header value, folds included

struct TokenHeader {
  std::string token;   // 1..kMaxHeaderToken base64url characters
  std::string domain;  // ASCII lower case, no trailing dot; "" for the bare form
};

// Unfolds (CR and LF dropped) and parses an MTEP-Token value. Spaces and
// tabs are allowed around the token, ';', "domain" (any case), '=' and the
// domain. kInvalid when the value is over kMaxTokenHeader bytes, the token
// is empty, longer than kMaxHeaderToken or not base64url, or anything but
// "; domain=<d>" follows it, with <d> 1 to kMaxTokenDomain characters
// among letters, digits and "-._[]:", no empty label (one trailing dot is
// dropped first).
Result<TokenHeader> parseTokenHeader(std::string_view value);
// "<token>; domain=<domain>", the form outbound mail gets.
std::string formatTokenHeader(std::string_view token, std::string_view domain);
// True when `domain` can be written in an MTEP-Token header as is (the
// characters parseTokenHeader() takes, at most kMaxTokenDomain of them,
// no leading or trailing dot, no "..").
bool tokenHeaderDomainOk(std::string_view domain);

}  // namespace mtep::token
