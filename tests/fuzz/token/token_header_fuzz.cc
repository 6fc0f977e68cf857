// libFuzzer target for the MTEP-Token header (token/header.h). Checked: a
// value over kMaxTokenHeader bytes never parses; a parsed token is 1 to
// kMaxHeaderToken base64url characters; a parsed domain is empty (the bare
// form) or header-safe, lower case, without a trailing dot; and the
// formatted form of a parsed pair parses back to the same pair.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "token/header.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool isBase64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtep::token;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = parseTokenHeader(in);
  if (!parsed) {
    check(parsed.error().kind() == mtep::ErrorKind::kInvalid);
    return 0;
  }
  check(in.size() <= kMaxTokenHeader);
  check(!parsed->token.empty() && parsed->token.size() <= kMaxHeaderToken);
  for (char c : parsed->token) check(isBase64Url(c));
  if (parsed->domain.empty()) {
    auto again = parseTokenHeader(parsed->token);
    check(again.ok() && again->token == parsed->token && again->domain.empty());
    return 0;
  }
  check(tokenHeaderDomainOk(parsed->domain));
  check(parsed->domain.back() != '.');
  for (char c : parsed->domain) check(!(c >= 'A' && c <= 'Z'));
  auto round = parseTokenHeader(formatTokenHeader(parsed->token, parsed->domain));
  check(round.ok() && round->token == parsed->token && round->domain == parsed->domain);
  return 0;
}
