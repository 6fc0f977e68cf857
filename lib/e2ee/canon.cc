// The canonical signed form: DKIM relaxed (RFC 6376 3.4.2, 3.4.4) of the
// From, To, Date, Subject, Message-ID headers and the body.
#include <array>
#include <vector>

#include "e2ee/e2ee.h"
#include "util/base64.h"

namespace mtep::e2ee {
namespace {

constexpr std::array<std::string_view, 5> kSigned = {"from", "to", "date", "subject", "message-id"};

bool isWsp(char c) { return c == ' ' || c == '\t'; }

// Splits text into lines without their terminators (LF, or CRLF). The last
// line is kept even without a terminator.
std::vector<std::string_view> splitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(pos));
      break;
    }
    size_t end = nl;
    if (end > pos && text[end - 1] == '\r') --end;
    lines.push_back(text.substr(pos, end - pos));
    pos = nl + 1;
  }
  return lines;
}

// WSP runs to one SP and trailing WSP removed (a relaxed line or value).
void appendRelaxed(std::string& out, std::string_view s) {
  bool pending_space = false;
  for (char c : s) {
    if (isWsp(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
}

}  // namespace

std::string canonicalForm(std::string_view message) {
  const std::vector<std::string_view> lines = splitLines(message);
  // Headers end at the first empty line; continuation lines start with WSP.
  size_t i = 0;
  struct Field {
    std::string name;   // lower-case, WSP before the colon removed
    std::string value;  // unfolded, raw
  };
  std::vector<Field> fields;
  for (; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty()) {
      ++i;
      break;
    }
    if (isWsp(line.front())) {
      if (!fields.empty()) fields.back().value += line;  // unfold: CRLF removed
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a header field: ignored
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && isWsp(name.back())) name.remove_suffix(1);
    fields.push_back({asciiLower(name), std::string(line.substr(colon + 1))});
  }
  std::string out;
  for (std::string_view want : kSigned) {
    for (const Field& f : fields) {
      if (f.name != want) continue;
      std::string_view v = f.value;
      while (!v.empty() && isWsp(v.front())) v.remove_prefix(1);
      out += f.name;
      out += ':';
      appendRelaxed(out, v);
      out += "\r\n";
      break;  // first occurrence only
    }
  }
  out += "\r\n";
  // Body: relaxed lines; trailing empty lines dropped.
  std::string body;
  size_t pending_empty = 0;
  for (; i < lines.size(); ++i) {
    std::string line;
    appendRelaxed(line, lines[i]);
    if (line.empty()) {
      ++pending_empty;
      continue;
    }
    for (; pending_empty > 0; --pending_empty) body += "\r\n";
    body += line;
    body += "\r\n";
  }
  out += body;
  return out;
}

}  // namespace mtep::e2ee
