// libFuzzer target for the milter's header helpers: authservIdOf,
// normalizeTokenHeader, parseTokenHeader, formatTokenHeader,
// formatAuthResults, appendAuthResult and normalizeStampHeader.
// parseTokenHeader: a parsed value has a normalized token, a domain of
// header-safe characters (lower case, no trailing dot) or none, and its
// formatTokenHeader() form parses back to the same pair; a value over
// kMaxTokenHeader bytes never parses.
// The whole input is an Authentication-Results value and an MTEP-Token
// value; split at NUL bytes it also gives formatAuthResults its
// authserv-id, result, sender and comment. Checked: an id never spans a
// line break; a normalized token is 1..256 base64url bytes and normalizes
// to itself; a formatted header is one line whose authserv-id reads back
// when the id is a plain token; a normalized stamp has no CR, LF or outer
// blanks, is at most kMaxStampHeader + 1 bytes, is cut only when the
// unfolded value is longer than kMaxStampHeader, and normalizes to itself.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "milter/session.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool isBase64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// What [milter] authserv_id accepts (lib/config/keys.cc).
bool plainId(std::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u >= 0x7f || c == ';' || c == '(' || c == ')' || c == '"' || c == '\\') {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtep::milter;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  const std::string id = authservIdOf(in);
  check(id.size() <= in.size());
  check(id.find('\r') == std::string::npos && id.find('\n') == std::string::npos);

  auto token = normalizeTokenHeader(in);
  if (token.ok()) {
    check(!token->empty() && token->size() <= 256);
    for (char c : *token) check(isBase64Url(c));
    auto again = normalizeTokenHeader(*token);
    check(again.ok() && *again == *token);
  } else {
    check(token.error().kind() == mtep::ErrorKind::kInvalid);
  }
  auto parsed = parseTokenHeader(in);
  if (parsed.ok()) {
    check(in.size() <= kMaxTokenHeader);
    auto again = normalizeTokenHeader(parsed->token);
    check(again.ok() && *again == parsed->token);
    if (!parsed->domain.empty()) {
      check(tokenHeaderDomainOk(parsed->domain));
      check(parsed->domain.back() != '.');
      for (char c : parsed->domain) check(!(c >= 'A' && c <= 'Z'));
      auto round = parseTokenHeader(formatTokenHeader(parsed->token, parsed->domain));
      check(round.ok() && round->token == parsed->token && round->domain == parsed->domain);
    }
    if (token.ok()) check(parsed->domain.empty() && parsed->token == *token);
  } else {
    check(parsed.error().kind() == mtep::ErrorKind::kInvalid);
  }

  bool all_b64 = !in.empty() && in.size() <= 256;
  for (char c : in) all_b64 = all_b64 && isBase64Url(c);
  if (all_b64) check(token.ok() && *token == in);

  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= in.size() && parts.size() < 4; ++i) {
    if (i == in.size() || in[i] == '\0') {
      parts.push_back(in.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.resize(4);
  const std::string header = formatAuthResults(parts[0], parts[1], parts[2], parts[3]);
  for (char c : header) {
    const auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u != 0x7f);
  }
  if (plainId(parts[0])) check(authservIdOf(header) == parts[0]);
  const std::string both = appendAuthResult(header, parts[0], "x-hashcash", parts[1]);
  check(both.rfind(header, 0) == 0);
  for (char c : both) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);

  const std::string stamp = normalizeStampHeader(in);
  check(stamp.size() <= kMaxStampHeader + 1);
  check(stamp.find('\r') == std::string::npos && stamp.find('\n') == std::string::npos);
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  if (!stamp.empty()) check(!blank(stamp.front()));
  size_t unfolded = 0;  // the value's length unfolded and trimmed
  {
    size_t b = 0;
    size_t e = in.size();
    const auto wsp = [&](char c) { return blank(c) || c == '\r' || c == '\n'; };
    while (b < e && wsp(in[b])) ++b;
    while (e > b && wsp(in[e - 1])) --e;
    for (size_t i = b; i < e; ++i) unfolded += in[i] != '\r' && in[i] != '\n';
  }
  if (unfolded <= kMaxStampHeader) {
    check(stamp.size() == unfolded);
    if (!stamp.empty()) check(!blank(stamp.back()));
    check(normalizeStampHeader(stamp) == stamp);
  } else {
    check(stamp.size() == kMaxStampHeader + 1);
  }
  return 0;
}
