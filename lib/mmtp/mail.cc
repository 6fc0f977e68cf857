// NAME
//   mail.cc - see mail.h

#include "mmtp/mail.h"

#include <optional>
#include <utility>
#include <vector>

#include "mmtp/packet.h"
#include "smtp/address.h"
#include "util/base64.h"

namespace mtep::mmtp {

namespace {

constexpr size_t kMaxBoundary = 200;  // RFC 2046 says 70; some senders write more

bool isWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (isWsp(s.front()) || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (isWsp(s.back()) || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// The line at `pos` (without its CRLF or LF) in *line; returns where the
// next one starts (s.size() at the end).
size_t nextLine(std::string_view s, size_t pos, std::string_view* line) {
  const size_t nl = s.find('\n', pos);
  const size_t end = nl == std::string_view::npos ? s.size() : nl;
  size_t text_end = end;
  if (text_end > pos && s[text_end - 1] == '\r') --text_end;
  *line = s.substr(pos, text_end - pos);
  return nl == std::string_view::npos ? s.size() : nl + 1;
}

struct Field {
  std::string name;   // lower case
  std::string value;  // unfolded, untrimmed
};

struct Entity {
  std::vector<Field> fields;
  std::string_view body;

  const Field* find(std::string_view name) const {
    for (const Field& f : fields) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
};

bool fieldNameChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 33 && u <= 126 && c != ':';
}

// The header section of `text` and where its body starts (see mail.h).
Result<Entity> splitEntity(std::string_view text, const MailLimits& limits) {
  Entity e;
  size_t pos = 0;
  const auto over = [&limits] {
    return Error(ErrorKind::kLimit,
                 "header section over " + std::to_string(limits.max_header_bytes) + " bytes");
  };
  while (pos < text.size()) {
    std::string_view line;
    const size_t next = nextLine(text, pos, &line);
    if (line.empty()) {
      e.body = text.substr(next);
      return e;
    }
    if (isWsp(line.front())) {
      if (e.fields.empty()) break;  // not a header: the body starts here
      if (next > limits.max_header_bytes) return over();
      e.fields.back().value.append(line);
      pos = next;
      continue;
    }
    const size_t colon = line.find(':');
    std::string_view name =
        colon == std::string_view::npos ? std::string_view() : line.substr(0, colon);
    while (!name.empty() && isWsp(name.back())) name.remove_suffix(1);  // obsolete "Name :"
    bool valid = !name.empty();
    for (char c : name) valid = valid && fieldNameChar(c);
    if (!valid) break;  // not a header: the body starts here
    if (next > limits.max_header_bytes) return over();
    if (e.fields.size() >= limits.max_header_fields) {
      return Error(ErrorKind::kLimit,
                   "more than " + std::to_string(limits.max_header_fields) + " header fields");
    }
    e.fields.push_back({asciiLower(name), std::string(line.substr(colon + 1))});
    pos = next;
  }
  e.body = text.substr(pos);
  return e;
}

// RFC 2045 tokens, quoted strings and comments in structured fields.
class FieldReader {
 public:
  explicit FieldReader(std::string_view s) : s_(s) {}

  // Skips white space and (nested) comments.
  void skipCfws() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (isWsp(c) || c == '\r' || c == '\n') {
        ++i_;
      } else if (c == '(') {
        size_t depth = 0;
        while (i_ < s_.size()) {
          const char d = s_[i_++];
          if (d == '\\') {
            if (i_ < s_.size()) ++i_;
          } else if (d == '(') {
            ++depth;
          } else if (d == ')' && --depth == 0) {
            break;
          }
        }
      } else {
        break;
      }
    }
  }
  bool at(char c) {
    skipCfws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool done() {
    skipCfws();
    return i_ >= s_.size();
  }
  // A token (RFC 2045: printable ASCII but tspecials); "" when none.
  std::string token() {
    skipCfws();
    static constexpr std::string_view kSpecials = "()<>@,;:\\\"/[]?=";
    const size_t start = i_;
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c <= 32 || c >= 127 || kSpecials.find(static_cast<char>(c)) != std::string_view::npos) {
        break;
      }
      ++i_;
    }
    return std::string(s_.substr(start, i_ - start));
  }
  // A token or a quoted string (unescaped); nullopt when neither.
  std::optional<std::string> value() {
    skipCfws();
    if (i_ < s_.size() && s_[i_] == '"') {
      ++i_;
      std::string out;
      while (i_ < s_.size()) {
        const char c = s_[i_++];
        if (c == '"') return out;
        if (c == '\\' && i_ < s_.size()) {
          out += s_[i_++];
        } else if (c != '\r' && c != '\n') {
          out += c;
        }
      }
      return std::nullopt;  // unterminated
    }
    std::string t = token();
    if (t.empty()) return std::nullopt;
    return t;
  }
  // Skips to just past the next ';' (or the end).
  void skipParameter() {
    bool quoted = false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (quoted && c == '\\') {
        if (i_ < s_.size()) ++i_;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && c == ';') {
        return;
      }
    }
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

struct ContentType {
  std::string type = "text";  // lower case
  std::string subtype = "plain";
  std::string charset = "us-ascii";  // lower case
  std::string boundary;
};

// Content-Type as RFC 2045 reads it; kInvalid when it cannot be read.
Result<ContentType> readContentType(const Field* f, const ContentType& fallback) {
  if (f == nullptr) return fallback;
  FieldReader r(f->value);
  ContentType ct;
  ct.type = asciiLower(r.token());
  if (ct.type.empty() || !r.at('/')) {
    return Error(ErrorKind::kInvalid, "malformed Content-Type");
  }
  ct.subtype = asciiLower(r.token());
  if (ct.subtype.empty()) return Error(ErrorKind::kInvalid, "malformed Content-Type");
  ct.charset = ct.type == "text" ? "us-ascii" : "";
  while (r.at(';')) {
    const std::string name = asciiLower(r.token());
    if (name.empty() || !r.at('=')) {
      r.skipParameter();
      continue;
    }
    std::optional<std::string> v = r.value();
    if (!v) {
      r.skipParameter();
      continue;
    }
    if (name == "charset") ct.charset = asciiLower(*v);
    if (name == "boundary") ct.boundary = std::move(*v);
  }
  return ct;
}

// The first token of a field (Content-Transfer-Encoding, Content-
// Disposition), lower case; "" when absent.
std::string firstToken(const Field* f) {
  if (f == nullptr) return "";
  FieldReader r(f->value);
  return asciiLower(r.token());
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decodeQuotedPrintable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '=') {
      out += c;
      continue;
    }
    if (i + 2 < s.size() && hexValue(s[i + 1]) >= 0 && hexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
      i += 2;
      continue;
    }
    // A soft line break: '=', maybe white space, then the line end.
    size_t j = i + 1;
    while (j < s.size() && isWsp(s[j])) ++j;
    if (j == s.size()) {
      i = j - 1;
      continue;
    }
    if (s[j] == '\n') {
      i = j;
      continue;
    }
    if (s[j] == '\r' && j + 1 < s.size() && s[j + 1] == '\n') {
      i = j + 1;
      continue;
    }
    out += c;  // a stray '=' stays (RFC 2045 6.7, note 1)
  }
  return out;
}

// base64 with line breaks and white space; missing padding is added.
std::optional<std::string> decodeBase64(std::string_view s) {
  std::string clean;
  clean.reserve(s.size());
  for (char c : s) {
    if (isWsp(c) || c == '\r' || c == '\n') continue;
    clean += c;
  }
  if (clean.find('=') == std::string::npos) {
    if (clean.size() % 4 == 2) clean += "==";
    if (clean.size() % 4 == 3) clean += "=";
  }
  auto bytes = base64Decode(clean, /*url_safe=*/false);
  if (!bytes) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

// windows-1252's 0x80..0x9f; 0 where it has none (the C1 control then).
constexpr uint16_t kCp1252High[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178};

void appendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xc0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    *out += static_cast<char>(0xe0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    *out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

enum class Charset { kUtf8, kLatin1, kCp1252, kOther };

Charset charsetOf(std::string_view name) {
  std::string n = asciiLower(name);
  // RFC 2231 language suffix: "utf-8*en".
  if (const size_t star = n.find('*'); star != std::string::npos) n.resize(star);
  if (n == "utf-8" || n == "utf8" || n == "us-ascii" || n == "ascii" || n.empty()) {
    return Charset::kUtf8;
  }
  if (n == "iso-8859-1" || n == "iso8859-1" || n == "iso_8859-1" || n == "latin1" ||
      n == "latin-1" || n == "l1" || n == "iso-ir-100" || n == "cp819" || n == "ibm819" ||
      n == "iso_8859-1:1987") {
    return Charset::kLatin1;
  }
  if (n == "windows-1252" || n == "cp1252" || n == "x-cp1252") return Charset::kCp1252;
  return Charset::kOther;
}

// Bytes in `charset` as UTF-8 (not yet validated: UTF-8 and other
// charsets pass through, to be checked whole).
std::string toUtf8(std::string_view bytes, Charset charset) {
  if (charset != Charset::kLatin1 && charset != Charset::kCp1252) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    uint32_t cp = c;
    if (charset == Charset::kCp1252 && c >= 0x80 && c < 0xa0 && kCp1252High[c - 0x80] != 0) {
      cp = kCp1252High[c - 0x80];
    }
    appendUtf8(&out, cp);
  }
  return out;
}

// "" when `s` is strict UTF-8 without NUL; else what is wrong.
std::string checkText(std::string_view s, std::string_view what, std::string_view charset) {
  if (s.find('\0') != std::string_view::npos) return std::string(what) + " holds a NUL character";
  if (smtp::isStrictUtf8(s)) return "";
  if (charsetOf(charset) == Charset::kOther) {
    return std::string(what) + ": charset \"" + printableAscii(charset, 40) +
           "\" is not supported and the text is not UTF-8";
  }
  return std::string(what) + " is not valid UTF-8";
}

// One RFC 2047 encoded-word at s[i] ("=?charset?B|Q?text?="): its decoded
// bytes (converted when the charset is a single-byte one we know), the
// charset in *charset, *end just past it; nullopt when none is there or
// it cannot be decoded (then it stays as text).
std::optional<std::string> encodedWord(std::string_view s, size_t i, size_t* end,
                                       std::string* charset) {
  if (s.compare(i, 2, "=?") != 0) return std::nullopt;
  const size_t q1 = s.find('?', i + 2);
  if (q1 == std::string_view::npos || q1 == i + 2 || q1 + 3 >= s.size() || s[q1 + 2] != '?') {
    return std::nullopt;
  }
  const std::string_view cs = s.substr(i + 2, q1 - i - 2);
  for (char c : cs) {
    if (static_cast<unsigned char>(c) <= 32 || static_cast<unsigned char>(c) >= 127) {
      return std::nullopt;
    }
  }
  const char enc = s[q1 + 1];
  const size_t text_start = q1 + 3;
  const size_t close = s.find("?=", text_start);
  if (close == std::string_view::npos) return std::nullopt;
  const std::string_view text = s.substr(text_start, close - text_start);
  for (char c : text) {
    if (isWsp(c) || c == '?') return std::nullopt;
  }
  std::string raw;
  if (enc == 'B' || enc == 'b') {
    auto d = decodeBase64(text);
    if (!d) return std::nullopt;
    raw = std::move(*d);
  } else if (enc == 'Q' || enc == 'q') {
    for (size_t k = 0; k < text.size(); ++k) {
      if (text[k] == '_') {
        raw += ' ';
      } else if (text[k] == '=' && k + 2 < text.size() && hexValue(text[k + 1]) >= 0 &&
                 hexValue(text[k + 2]) >= 0) {
        raw += static_cast<char>(hexValue(text[k + 1]) * 16 + hexValue(text[k + 2]));
        k += 2;
      } else {
        raw += text[k];
      }
    }
  } else {
    return std::nullopt;
  }
  *end = close + 2;
  *charset = std::string(cs);
  return toUtf8(raw, charsetOf(cs));
}

// The body of a text/plain entity: transfer encoding undone, charset
// applied, checked, CRLF -> LF.
Result<std::string> textBody(const Entity& e, const ContentType& ct) {
  const std::string cte = firstToken(e.find("content-transfer-encoding"));
  std::string bytes;
  if (cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary") {
    bytes = std::string(e.body);
  } else if (cte == "quoted-printable") {
    bytes = decodeQuotedPrintable(e.body);
  } else if (cte == "base64") {
    auto d = decodeBase64(e.body);
    if (!d) return Error(ErrorKind::kInvalid, "the text part's base64 is malformed");
    bytes = std::move(*d);
  } else {
    return Error(ErrorKind::kInvalid,
                 "Content-Transfer-Encoding \"" + printableAscii(cte, 40) + "\" not supported");
  }
  std::string text = toUtf8(bytes, charsetOf(ct.charset));
  if (std::string bad = checkText(text, "the text", ct.charset); !bad.empty()) {
    return Error(ErrorKind::kInvalid, bad);
  }
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out += text[i];
  }
  return out;
}

// The parts of a multipart body between its delimiter lines.
std::vector<std::string_view> splitParts(std::string_view body, std::string_view boundary) {
  std::vector<std::string_view> parts;
  const std::string dash = "--" + std::string(boundary);
  size_t pos = 0;
  std::optional<size_t> part_start;  // set once the first delimiter was seen
  while (pos < body.size()) {
    std::string_view line;
    const size_t line_start = pos;
    const size_t next = nextLine(body, pos, &line);
    pos = next;
    if (line.substr(0, dash.size()) != dash) continue;
    std::string_view rest = line.substr(dash.size());
    bool close = false;
    if (rest.substr(0, 2) == "--") {
      close = true;
      rest.remove_prefix(2);
    }
    bool blank = true;
    for (char c : rest) blank = blank && isWsp(c);
    if (!blank) continue;  // a longer boundary, or text that starts like one
    if (part_start) {
      // The line end before the delimiter belongs to it (RFC 2046 5.1.1).
      size_t end = line_start;
      if (end > *part_start && body[end - 1] == '\n') --end;
      if (end > *part_start && body[end - 1] == '\r') --end;
      parts.push_back(body.substr(*part_start, end > *part_start ? end - *part_start : 0));
    }
    if (close) return parts;
    part_start = next;
  }
  if (part_start && *part_start < body.size()) {
    parts.push_back(body.substr(*part_start));  // no close delimiter: to the end
  }
  return parts;
}

struct Search {
  const MailLimits& limits;
  size_t parts = 0;
  bool saw_html = false;
  bool too_deep = false;
};

struct TextPart {
  Entity entity;
  ContentType type;
};

// Depth first, the first inline text/plain part within the limits.
Result<std::optional<TextPart>> findText(std::string_view body, const ContentType& ct, size_t depth,
                                         Search* s) {
  if (ct.boundary.empty()) return Error(ErrorKind::kInvalid, "multipart without a boundary");
  if (ct.boundary.size() > kMaxBoundary) {
    return Error(ErrorKind::kInvalid, "multipart boundary longer than 200 characters");
  }
  ContentType fallback;  // text/plain; charset=us-ascii
  if (ct.subtype == "digest") {
    fallback.type = "message";
    fallback.subtype = "rfc822";
    fallback.charset.clear();
  }
  for (std::string_view raw : splitParts(body, ct.boundary)) {
    if (++s->parts > s->limits.max_parts) {
      return Error(ErrorKind::kLimit,
                   "more than " + std::to_string(s->limits.max_parts) + " MIME parts");
    }
    auto e = splitEntity(raw, s->limits);
    if (!e) return std::move(e).error();
    auto pct = readContentType(e->find("content-type"), fallback);
    if (!pct) continue;  // a part we cannot read is not the text
    if (pct->type == "text" && pct->subtype == "plain") {
      if (firstToken(e->find("content-disposition")) == "attachment") continue;
      return std::optional<TextPart>(TextPart{std::move(*e), std::move(*pct)});
    }
    if (pct->type == "text" && pct->subtype == "html") s->saw_html = true;
    if (pct->type == "multipart") {
      if (depth + 1 > s->limits.max_depth) {
        s->too_deep = true;
        continue;
      }
      auto inner = findText(e->body, *pct, depth + 1, s);
      if (!inner) return std::move(inner).error();
      if (*inner) return inner;
    }
  }
  return std::optional<TextPart>();
}

uint64_t counterOf(std::string_view token) {
  if (token.empty() || token.back() != ':') return 0;
  token.remove_suffix(1);
  const size_t colon = token.rfind(':');
  const std::string_view digits = colon == std::string_view::npos ? token : token.substr(colon + 1);
  if (digits.empty() || digits.size() > 15) return 0;  // JavaScript's safe integers
  uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

Result<std::string> decodeHeaderText(std::string_view value) {
  // Unfold: drop CR and LF (the white space after them stays).
  std::string unfolded;
  unfolded.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n') unfolded += c;
  }
  const std::string_view s = trim(unfolded);
  std::string out;
  std::string last_charset;
  size_t pending_space_from = std::string::npos;  // white space after an encoded-word
  size_t i = 0;
  bool after_word = false;
  while (i < s.size()) {
    size_t end = 0;
    std::string charset;
    if (s[i] == '=' && i + 1 < s.size() && s[i + 1] == '?') {
      if (auto w = encodedWord(s, i, &end, &charset)) {
        // White space between two encoded-words is not text (RFC 2047 6.2).
        if (after_word && pending_space_from != std::string::npos) out.resize(pending_space_from);
        out += *w;
        if (charsetOf(charset) == Charset::kOther) last_charset = charset;
        i = end;
        after_word = true;
        pending_space_from = out.size();
        continue;
      }
    }
    if (!isWsp(s[i])) after_word = false;
    if (!after_word) pending_space_from = std::string::npos;
    out += s[i];
    ++i;
  }
  if (std::string bad = checkText(out, "the header", last_charset); !bad.empty()) {
    return Error(ErrorKind::kInvalid, bad);
  }
  return out;
}

Result<MailContent> readMail(std::string_view message, const MailLimits& limits) {
  auto top = splitEntity(message, limits);
  if (!top) return std::move(top).error();
  MailContent c;
  if (const Field* f = top->find("subject")) {
    auto subject = decodeHeaderText(f->value);
    if (!subject) {
      return Error(subject.error().kind(), "Subject: " + subject.error().message());
    }
    if (subject->size() > limits.max_subject_bytes) {
      return Error(ErrorKind::kLimit,
                   "Subject longer than " + std::to_string(limits.max_subject_bytes) + " bytes");
    }
    c.subject = std::move(*subject);
  }
  if (const Field* f = top->find("x-mmtp-tags")) {
    auto text = decodeHeaderText(f->value);
    Json tags = text ? parseJson(*text) : Json(nullptr);
    if (!text || tags.is_discarded() || !tags.is_object()) {
      c.tags_ignored = "X-MMTP-Tags is not a JSON object";
    } else if (std::string bad = checkTags(tags); !bad.empty()) {
      c.tags_ignored = "X-MMTP-Tags: " + bad;
    } else {
      c.tags = std::move(tags);
    }
  }
  auto ct = readContentType(top->find("content-type"), ContentType{});
  if (!ct) return std::move(ct).error();
  std::optional<TextPart> text;
  Search search{limits};
  if (ct->type == "text" && ct->subtype == "plain") {
    text = TextPart{std::move(*top), std::move(*ct)};
  } else if (ct->type == "multipart" && limits.max_depth > 0) {
    auto found = findText(top->body, *ct, 1, &search);
    if (!found) return std::move(found).error();
    text = std::move(*found);
  } else if (ct->type == "text" && ct->subtype == "html") {
    search.saw_html = true;
  }
  if (!text) {
    if (search.saw_html) return Error(ErrorKind::kInvalid, "HTML only: MMTP carries plain text");
    if (search.too_deep) {
      return Error(
          ErrorKind::kInvalid,
          "no text/plain part within " + std::to_string(limits.max_depth) + " levels of multipart");
    }
    return Error(ErrorKind::kInvalid, "no text/plain part: MMTP carries plain text");
  }
  auto body = textBody(text->entity, text->type);
  if (!body) return std::move(body).error();
  c.body = std::move(*body);
  return c;
}

std::string stampResource(std::string_view sender, std::string_view recipient,
                          int64_t timestamp_ms) {
  return std::string(sender) + ":" + std::string(recipient) + ":" + std::to_string(timestamp_ms);
}

Json buildPacket(std::string_view sender, std::string_view recipient, const MailContent& content,
                 int64_t timestamp_ms, std::string_view stamp_token, std::string_view message_id) {
  Json body;
  body["subject"] = content.subject;
  body["body"] = content.body;
  Json packet;
  Json& meta = packet["meta"];
  meta["type"] = "SEND";
  meta["messageId"] = std::string(message_id);
  meta["timestamp"] = timestamp_ms;
  meta["hashcashToken"]["token"] = std::string(stamp_token);
  meta["hashcashToken"]["counter"] = counterOf(stamp_token);
  meta["encrypted"] = false;
  meta["signed"] = false;
  meta["tags"] = content.tags.is_object() ? content.tags : Json::object();
  packet["sender"] = std::string(sender);
  packet["recipient"] = std::string(recipient);
  const std::string hash = messageHash(body);
  packet["content"] = std::move(body);
  packet["verification"]["messageHash"] = hash;
  return packet;
}

}  // namespace mtep::mmtp
