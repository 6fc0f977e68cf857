// The MTEP-Token header (header.h).
#include "token/header.h"

#include <string>

namespace mtep::token {

namespace {

bool isWsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool isBase64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// The characters a domain may have in an MTEP-Token header: ASCII letters,
// digits, '-', '.', '_' and, for address literals, '[', ']' and ':'.
bool isDomainChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '[' || c == ']' || c == ':';
}

}  // namespace

bool tokenHeaderDomainOk(std::string_view domain) {
  if (domain.empty() || domain.size() > kMaxTokenDomain) return false;
  if (domain.front() == '.' || domain.back() == '.') return false;
  if (domain.find("..") != std::string_view::npos) return false;
  for (char c : domain) {
    if (!isDomainChar(c)) return false;
  }
  return true;
}

Result<TokenHeader> parseTokenHeader(std::string_view value) {
  if (value.size() > kMaxTokenHeader) {
    return Error(ErrorKind::kInvalid, "MTEP-Token header longer than " +
                                          std::to_string(kMaxTokenHeader) + " bytes");
  }
  // Unfold first: a fold may fall anywhere outside the token and domain.
  std::string text;
  text.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n') text += c;
  }
  std::string_view rest = text;
  const size_t semi = rest.find(';');
  TokenHeader out;
  std::string_view token = rest.substr(0, semi);
  while (!token.empty() && isWsp(token.front())) token.remove_prefix(1);
  while (!token.empty() && isWsp(token.back())) token.remove_suffix(1);
  if (token.empty()) return Error(ErrorKind::kInvalid, "MTEP-Token header: no token");
  if (token.size() > kMaxHeaderToken) {
    return Error(ErrorKind::kInvalid, "MTEP-Token header: token longer than 256 characters");
  }
  for (char c : token) {
    if (!isBase64Url(c)) {
      return Error(ErrorKind::kInvalid, "MTEP-Token header: token has a byte outside base64url");
    }
  }
  out.token.assign(token);
  if (semi == std::string_view::npos) return out;
  // "; domain=<domain>", spaces and tabs allowed around ';' and '='.
  rest.remove_prefix(semi + 1);
  size_t i = 0;
  while (i < rest.size() && isWsp(rest[i])) ++i;
  constexpr std::string_view kName = "domain";
  if (rest.size() - i < kName.size()) {
    return Error(ErrorKind::kInvalid, "MTEP-Token header: want \"; domain=\" after the token");
  }
  for (size_t k = 0; k < kName.size(); ++k) {
    char c = rest[i + k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kName[k]) {
      return Error(ErrorKind::kInvalid, "MTEP-Token header: want \"; domain=\" after the token");
    }
  }
  i += kName.size();
  while (i < rest.size() && isWsp(rest[i])) ++i;
  if (i == rest.size() || rest[i] != '=') {
    return Error(ErrorKind::kInvalid, "MTEP-Token header: want \"; domain=\" after the token");
  }
  ++i;
  while (i < rest.size() && isWsp(rest[i])) ++i;
  size_t end = rest.size();
  while (end > i && isWsp(rest[end - 1])) --end;
  std::string_view domain = rest.substr(i, end - i);
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);  // one root dot
  if (!tokenHeaderDomainOk(domain)) {
    return Error(ErrorKind::kInvalid,
                 "MTEP-Token header: the domain is empty, too long, has an empty label or a "
                 "byte outside letters, digits and -._[]:");
  }
  out.domain.assign(domain);
  for (char& c : out.domain) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string formatTokenHeader(std::string_view token, std::string_view domain) {
  return std::string(token) + "; domain=" + std::string(domain);
}

}  // namespace mtep::token
