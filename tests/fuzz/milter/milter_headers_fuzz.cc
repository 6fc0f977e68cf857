// libFuzzer target for the milter's header helpers: authservIdOf,
// normalizeTokenHeader and formatAuthResults.
// The whole input is an Authentication-Results value and an MTEP-Token
// value; split at NUL bytes it also gives formatAuthResults its
// authserv-id, result, sender and comment. Checked: an id never spans a
// line break; a normalized token is 1..256 base64url bytes and normalizes
// to itself; a formatted header is one line whose authserv-id reads back
// when the id is a plain token.

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
  return 0;
}
