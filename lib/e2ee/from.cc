// The one mailbox of a From: header value (see e2ee.h, fromMailbox): the
// address whose key checks an X-Sender-Signature, shared by the milter and
// mtepctl so both read the same address from the same header.

#include <string>
#include <string_view>

#include "e2ee/e2ee.h"
#include "smtp/address.h"

namespace mtep::e2ee {

namespace {

bool isWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view trimWsp(std::string_view s) {
  while (!s.empty() && isWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && isWsp(s.back())) s.remove_suffix(1);
  return s;
}

Error bad(const char* why) { return Error(ErrorKind::kInvalid, why); }

}  // namespace

Result<std::string> fromMailbox(std::string_view from_value) {
  // Unfolded: every CR and LF dropped (folding is CRLF before WSP).
  std::string v;
  v.reserve(from_value.size());
  for (char c : from_value) {
    if (c != '\r' && c != '\n') v += c;
  }

  std::string outside;  // the text outside comments and <...>, quoted strings kept whole
  bool words = false;   // `outside` has WSP between two words (outside quoted strings)
  bool word_seen = false, gap = false;
  std::string_view angle;  // the content of the one <...>
  bool after_angle = false;
  size_t i = 0;
  const auto word = [&] {
    if (word_seen && gap) words = true;
    word_seen = true;
    gap = false;
  };
  while (i < v.size()) {
    const char c = v[i];
    if (isWsp(c)) {
      outside += c;
      gap = true;
      ++i;
    } else if (c == '(') {
      // A comment, nested, with quoted-pairs; it separates words like WSP.
      int depth = 0;
      do {
        if (v[i] == '\\') {
          i += 2;
          continue;
        }
        if (v[i] == '(') ++depth;
        if (v[i] == ')') --depth;
        ++i;
      } while (depth > 0 && i < v.size());
      if (depth > 0) return bad("From: has an unclosed comment");
      outside += ' ';
      gap = true;
    } else if (after_angle) {
      return bad("From: has text after the address");
    } else if (c == '"') {
      // A quoted display name or local part: kept whole; ',', '<', ':' inside are text.
      word();
      outside += c;
      for (++i; i < v.size() && v[i] != '"'; ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) outside += v[i++];
        outside += v[i];
      }
      if (i >= v.size()) return bad("From: has an unclosed quoted string");
      outside += '"';
      ++i;
    } else if (c == '<') {
      const size_t close = v.find('>', i + 1);
      if (close == std::string::npos) return bad("From: has an unclosed <");
      angle = std::string_view(v).substr(i + 1, close - i - 1);
      after_angle = true;
      i = close + 1;
    } else if (c == ',' || c == ':' || c == ';') {
      return bad("From: is a list or a group, not one mailbox");
    } else {
      word();
      outside += c;
      ++i;
    }
  }
  std::string_view address = trimWsp(after_angle ? angle : std::string_view(outside));
  if (address.empty()) return bad("From: holds no address");
  if (!after_angle && words) return bad("From: holds words but no <address>");
  auto mailbox = smtp::parseMailbox(address);
  if (!mailbox.ok()) return Error(ErrorKind::kInvalid, "From: " + mailbox.error().message());
  return mailbox->toString();
}

}  // namespace mtep::e2ee
