// Header parsers and formatters for the milter session: the authserv-id of
// an Authentication-Results header (RFC 8601), the header mtep-milter adds,
// the MTEP-Token header value and the stamp headers.
#include <cstddef>
#include <string>
#include <string_view>

#include "milter/session.h"

namespace mtep::milter {

namespace {

constexpr size_t kMaxToken = 256;

bool isWsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool isBase64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Skips folding whitespace and comments (nested, with quoted-pairs) from
// `pos`. Returns false when a comment is not closed.
bool skipCfws(std::string_view s, size_t& pos) {
  while (pos < s.size()) {
    if (isWsp(s[pos])) {
      ++pos;
      continue;
    }
    if (s[pos] != '(') return true;
    size_t depth = 0;
    do {
      const char c = s[pos];
      if (c == '\\') {
        pos += 2;
        continue;
      }
      if (c == '(') ++depth;
      if (c == ')') --depth;
      ++pos;
    } while (depth > 0 && pos < s.size());
    if (depth > 0) return false;
  }
  return true;
}

// Text for a header value that must stay one line of printable ASCII or
// UTF-8: controls (CR, LF included) are dropped.
std::string oneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    out += c;
  }
  return out;
}

}  // namespace

std::string authservIdOf(std::string_view header_value) {
  size_t pos = 0;
  if (!skipCfws(header_value, pos) || pos >= header_value.size()) return "";
  std::string id;
  if (header_value[pos] == '"') {
    // quoted-string: the id is its content, quoted-pairs resolved.
    for (++pos; pos < header_value.size(); ++pos) {
      const char c = header_value[pos];
      if (c == '"') return id;
      const char ch = (c == '\\' && pos + 1 < header_value.size()) ? header_value[++pos] : c;
      if (ch != '\r' && ch != '\n') id += ch;  // folding is not part of the id
    }
    return "";  // not closed
  }
  for (; pos < header_value.size(); ++pos) {
    const char c = header_value[pos];
    if (c == ';' || c == '(' || isWsp(c)) break;
    id += c;
  }
  return id;
}

std::string formatAuthResults(std::string_view authserv_id, std::string_view result,
                              std::string_view sender, std::string_view comment) {
  std::string out = oneLine(authserv_id);
  out += "; mtep=";
  out += oneLine(result);
  if (!comment.empty()) {
    // A comment in printable ASCII, its parentheses and backslashes quoted.
    out += " (";
    for (char c : comment) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f) continue;
      if (c == '(' || c == ')' || c == '\\') out += '\\';
      out += c;
    }
    out += ')';
  }
  if (!sender.empty()) {
    out += " smtp.mailfrom=";
    out += oneLine(sender);
  }
  return out;
}

std::string appendAuthResult(std::string value, std::string_view authserv_id,
                             std::string_view method, std::string_view result) {
  if (value.empty()) value = oneLine(authserv_id);
  value += "; ";
  value += oneLine(method);
  value += '=';
  value += oneLine(result);
  return value;
}

bool isStampHeader(std::string_view name) {
  for (std::string_view known : {"X-Hashcash", "Hashcash", "MTEP-Stamp"}) {
    if (name.size() != known.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      char c = name[i];
      char k = known[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (k >= 'A' && k <= 'Z') k = static_cast<char>(k - 'A' + 'a');
      same = c == k;
    }
    if (same) return true;
  }
  return false;
}

std::string normalizeStampHeader(std::string_view value) {
  // Trim first (CR and LF count as folding), then unfold what is between:
  // a cut value then still ends past the limit, whatever it ends with.
  size_t begin = 0;
  size_t end = value.size();
  while (begin < end && isWsp(value[begin])) ++begin;
  while (end > begin && isWsp(value[end - 1])) --end;
  std::string out;
  out.reserve(end - begin <= kMaxStampHeader ? end - begin : kMaxStampHeader + 1);
  for (size_t i = begin; i < end && out.size() <= kMaxStampHeader; ++i) {
    if (value[i] != '\r' && value[i] != '\n') out += value[i];
  }
  return out;
}

Result<std::string> normalizeTokenHeader(std::string_view value) {
  std::string token;
  token.reserve(value.size() < kMaxToken ? value.size() : kMaxToken + 1);
  // Unfold (drop CR and LF), then trim spaces and tabs at both ends.
  size_t begin = 0;
  size_t end = value.size();
  while (begin < end && isWsp(value[begin])) ++begin;
  while (end > begin && isWsp(value[end - 1])) --end;
  for (size_t i = begin; i < end; ++i) {
    const char c = value[i];
    if (c == '\r' || c == '\n') continue;
    if (!isBase64Url(c)) {
      return Error(ErrorKind::kInvalid, "MTEP-Token header holds a byte outside base64url");
    }
    if (token.size() == kMaxToken) {
      return Error(ErrorKind::kInvalid, "MTEP-Token header longer than 256 bytes");
    }
    token += c;
  }
  if (token.empty()) return Error(ErrorKind::kInvalid, "MTEP-Token header is empty");
  return token;
}

}  // namespace mtep::milter

