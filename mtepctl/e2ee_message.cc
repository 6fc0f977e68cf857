// The message edits of mtepctl's sign, verify, encrypt, decrypt; see e2ee_message.h.
#include "e2ee_message.h"

#include "e2ee/e2ee.h"
#include "util/base64.h"

namespace mtep::ctl {
namespace {

bool isWsp(char c) { return c == ' ' || c == '\t'; }

// The line starting at `pos` including its ending (the rest when no LF).
std::string_view lineAt(std::string_view text, size_t pos) {
  const size_t lf = text.find('\n', pos);
  return lf == std::string_view::npos ? text.substr(pos) : text.substr(pos, lf - pos + 1);
}

std::string_view trimWsp(std::string_view s) {
  while (!s.empty() && (isWsp(s.front()) || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (isWsp(s.back()) || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// One header field: all its lines, and its name.
struct Field {
  std::string_view text;  // every line with its ending
  std::string_view name;  // "" for a line without a colon
};

std::vector<Field> fieldsOf(std::string_view header) {
  std::vector<Field> out;
  size_t pos = 0;
  while (pos < header.size()) {
    std::string_view line = lineAt(header, pos);
    if (isWsp(line.front()) && !out.empty()) {
      // A continuation: extend the previous field.
      Field& f = out.back();
      f.text = header.substr(static_cast<size_t>(f.text.data() - header.data()),
                             f.text.size() + line.size());
    } else {
      const size_t colon = line.find(':');
      std::string_view name;
      if (colon != std::string_view::npos) {
        name = line.substr(0, colon);
        while (!name.empty() && isWsp(name.back())) name.remove_suffix(1);
      }
      out.push_back({line, name});
    }
    pos += line.size();
  }
  return out;
}

bool named(const Field& f, std::string_view name) {
  return !f.name.empty() && asciiIEquals(f.name, name);
}

// Everything after the separator, starting with the separator itself.
std::string_view separatorAndBody(std::string_view message, const MessageParts& parts) {
  return message.substr(parts.header.size());
}

}  // namespace

MessageParts splitMessage(std::string_view message) {
  MessageParts p;
  p.eol = "\r\n";
  const size_t first_lf = message.find('\n');
  if (first_lf != std::string_view::npos && (first_lf == 0 || message[first_lf - 1] != '\r')) {
    p.eol = "\n";
  }
  size_t pos = 0;
  while (pos < message.size()) {
    std::string_view line = lineAt(message, pos);
    if (line == "\r\n" || line == "\n") {
      p.header = message.substr(0, pos);
      p.has_separator = true;
      p.body = message.substr(pos + line.size());
      return p;
    }
    pos += line.size();
  }
  p.header = message;
  return p;
}

std::string withHeaders(std::string_view message, const std::vector<HeaderField>& fields) {
  const MessageParts parts = splitMessage(message);
  std::string out;
  out.reserve(message.size() + 256);
  for (const HeaderField& f : fields) {
    out.append(f.name).append(": ").append(f.value).append(parts.eol);
  }
  for (const Field& f : fieldsOf(parts.header)) {
    bool replaced = false;
    for (const HeaderField& n : fields) replaced = replaced || named(f, n.name);
    if (replaced) continue;
    out.append(f.text);
    // A header that ends without a line ending (no body, no final LF) must
    // not run into what follows.
    if (f.text.back() != '\n' && parts.header.data() + parts.header.size() ==
                                     f.text.data() + f.text.size()) {
      out.append(parts.eol);
    }
  }
  if (!parts.has_separator) return out;
  out.append(separatorAndBody(message, parts));
  return out;
}

std::string withoutHeader(std::string_view message, std::string_view name) {
  const MessageParts parts = splitMessage(message);
  std::string out;
  out.reserve(message.size());
  for (const Field& f : fieldsOf(parts.header)) {
    if (!named(f, name)) out.append(f.text);
  }
  out.append(separatorAndBody(message, parts));
  return out;
}

std::optional<std::string> firstHeader(std::string_view message, std::string_view name) {
  const MessageParts parts = splitMessage(message);
  for (const Field& f : fieldsOf(parts.header)) {
    if (!named(f, name)) continue;
    std::string_view rest = f.text.substr(f.text.find(':') + 1);
    std::string value;
    for (char c : rest) {
      if (c != '\r' && c != '\n') value += c;
    }
    return std::string(trimWsp(value));
  }
  return std::nullopt;
}

Result<std::string> fromAddress(std::string_view message) {
  auto value = firstHeader(message, "From");
  if (!value) return Error(ErrorKind::kNotFound, "the message has no From: field");
  return e2ee::fromMailbox(*value);
}

std::string withBody(std::string_view message, std::string_view body) {
  const MessageParts parts = splitMessage(message);
  std::string out(parts.header);
  if (parts.has_separator) {
    out.append(message.substr(parts.header.size(),
                              message.size() - parts.header.size() - parts.body.size()));
  } else {
    if (!out.empty() && out.back() != '\n') out.append(parts.eol);
    out.append(parts.eol);
  }
  out.append(body);
  return out;
}

std::string withLineEnding(std::string_view text, std::string_view eol) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t lf = text.find('\n', pos);
    if (lf == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    size_t end = lf;
    if (end > pos && text[end - 1] == '\r') --end;
    out.append(text.substr(pos, end - pos)).append(eol);
    pos = lf + 1;
  }
  return out;
}

}  // namespace mtep::ctl
