#include "smtp/address.h"

#include <arpa/inet.h>
#include <idn2.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "util/base64.h"

namespace mtep::smtp {
namespace {

constexpr size_t kMaxLocalPart = 64;  // RFC 5321 4.5.3.1.1
constexpr size_t kMaxDomain = 255;    // RFC 5321 4.5.3.1.2
constexpr size_t kMaxLabel = 63;      // RFC 1035 2.3.4
constexpr size_t kMaxPath = 256;      // RFC 5321 4.5.3.1.3

Error invalid(std::string message) { return Error(ErrorKind::kInvalid, std::move(message)); }

bool isAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool isLetDig(unsigned char c) { return isAlpha(c) || isDigit(c); }

// RFC 5322 atext, ASCII part.
bool isAtext(unsigned char c) {
  if (isLetDig(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

// Names a byte for an error message without echoing arbitrary input.
std::string describe(unsigned char c) {
  char buf[8];
  if (c > 0x20 && c < 0x7f) {
    std::snprintf(buf, sizeof buf, "'%c'", c);
  } else {
    std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(c));
  }
  return buf;
}

// Length (2..4) of the strict UTF-8 sequence starting at the non-ASCII byte
// s[pos], or 0 when it is not valid strict UTF-8.
size_t utf8SequenceLength(std::string_view s, size_t pos) {
  auto at = [&](size_t i) -> unsigned {
    return pos + i < s.size() ? static_cast<unsigned char>(s[pos + i]) : 0u;
  };
  auto cont = [](unsigned b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
  unsigned b0 = at(0);
  if (b0 == 0xC2) return cont(at(1), 0xA0, 0xBF) ? 2 : 0;  // U+0080..U+009F are C1 controls
  if (b0 >= 0xC3 && b0 <= 0xDF) return cont(at(1), 0x80, 0xBF) ? 2 : 0;
  unsigned lo = 0x80;
  unsigned hi = 0xBF;
  size_t len = 0;
  if (b0 == 0xE0) {
    lo = 0xA0;  // no overlong 3-byte forms
    len = 3;
  } else if (b0 == 0xED) {
    hi = 0x9F;  // no surrogates
    len = 3;
  } else if (b0 >= 0xE1 && b0 <= 0xEF) {
    len = 3;
  } else if (b0 == 0xF0) {
    lo = 0x90;  // no overlong 4-byte forms
    len = 4;
  } else if (b0 >= 0xF1 && b0 <= 0xF3) {
    len = 4;
  } else if (b0 == 0xF4) {
    hi = 0x8F;  // nothing above U+10FFFF
    len = 4;
  } else {
    return 0;  // C0, C1, F5..FF, or a stray continuation byte
  }
  if (!cont(at(1), lo, hi)) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (!cont(at(i), 0x80, 0xBF)) return 0;
  }
  return len;
}

// Accepts the UTF-8 sequence at s[*pos] (a non-ASCII byte) in `where`.
Status takeUtf8(std::string_view s, size_t* pos, bool smtputf8, const char* where) {
  size_t n = utf8SequenceLength(s, *pos);
  if (n == 0) return invalid(std::string("invalid UTF-8 in ") + where);
  if (!smtputf8)
    return invalid(std::string("non-ASCII character in ") + where + " without SMTPUTF8");
  *pos += n;
  return okStatus();
}

bool hasNonAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

// Dot-string (RFC 5321 4.1.2) at the start of `in`, ending at '@' or the end.
// Returns the number of bytes used.
Result<size_t> parseDotString(std::string_view in, bool smtputf8) {
  size_t i = 0;
  bool atom_start = true;
  while (i < in.size() && in[i] != '@') {
    auto c = static_cast<unsigned char>(in[i]);
    if (c == '.') {
      if (atom_start) {
        return invalid(i == 0 ? "local part starts with '.'" : "local part has consecutive dots");
      }
      atom_start = true;
      ++i;
    } else if (c >= 0x80) {
      if (auto st = takeUtf8(in, &i, smtputf8, "local part"); !st) return std::move(st).error();
      atom_start = false;
    } else if (isAtext(c)) {
      atom_start = false;
      ++i;
    } else {
      return invalid("invalid character " + describe(c) + " in local part");
    }
  }
  if (i == 0) return invalid("empty local part");
  if (atom_start) return invalid("local part ends with '.'");
  return i;
}

// Quoted-string at the start of `in` (in[0] == '"'); *value gets the content
// with quoted-pairs resolved. Returns the number of bytes used.
Result<size_t> parseQuotedString(std::string_view in, bool smtputf8, std::string* value) {
  size_t i = 1;
  for (;;) {
    if (i >= in.size()) return invalid("unterminated quoted local part");
    auto c = static_cast<unsigned char>(in[i]);
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (i + 1 >= in.size()) return invalid("unterminated quoted local part");
      auto d = static_cast<unsigned char>(in[i + 1]);
      if (d < 32 || d > 126)
        return invalid("invalid quoted-pair " + describe(d) + " in local part");
      value->push_back(static_cast<char>(d));
      i += 2;
    } else if (c >= 0x80) {
      size_t start = i;
      if (auto st = takeUtf8(in, &i, smtputf8, "local part"); !st) return std::move(st).error();
      value->append(in.substr(start, i - start));
    } else if (c < 32 || c == 127) {
      return invalid("invalid character " + describe(c) + " in quoted local part");
    } else {
      value->push_back(static_cast<char>(c));
      ++i;
    }
  }
}

Status checkLabel(std::string_view label, bool smtputf8) {
  if (label.empty()) return invalid("empty label in domain");
  if (label.size() > kMaxLabel) return invalid("domain label longer than 63 octets");
  if (label.front() == '-') return invalid("domain label starts with '-'");
  if (label.back() == '-') return invalid("domain label ends with '-'");
  size_t i = 0;
  while (i < label.size()) {
    auto c = static_cast<unsigned char>(label[i]);
    if (c >= 0x80) {
      if (auto st = takeUtf8(label, &i, smtputf8, "domain"); !st) return st;
    } else if (isLetDig(c) || c == '-') {
      ++i;
    } else {
      return invalid("invalid character " + describe(c) + " in domain");
    }
  }
  return okStatus();
}

// Snum 3("." Snum), each 0..255 without leading zeros, confirmed by inet_pton.
Status checkIpv4(std::string_view s) {
  size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i >= s.size() || s[i] != '.') return invalid("IPv4 address literal needs four octets");
      ++i;
    }
    size_t start = i;
    unsigned value = 0;
    while (i < s.size() && isDigit(static_cast<unsigned char>(s[i])) && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    if (i == start) return invalid("IPv4 address literal has an empty or non-numeric octet");
    if (i < s.size() && isDigit(static_cast<unsigned char>(s[i]))) {
      return invalid("IPv4 address literal octet has more than 3 digits");
    }
    if (value > 255) return invalid("IPv4 address literal octet above 255");
    if (i - start > 1 && s[start] == '0')
      return invalid("IPv4 address literal octet has a leading zero");
  }
  if (i != s.size()) return invalid("IPv4 address literal has trailing characters");
  std::string text(s);
  in_addr addr{};
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1) return invalid("invalid IPv4 address literal");
  return okStatus();
}

// "[...]": IPv4, "IPv6:" + inet_pton, or Standardized-tag ":" 1*dcontent.
Status checkAddressLiteral(std::string_view lit) {
  if (lit.size() > kMaxDomain) return invalid("domain longer than 255 octets");
  if (lit.size() < 2 || lit.back() != ']') return invalid("address literal missing closing ']'");
  std::string_view body = lit.substr(1, lit.size() - 2);
  if (body.empty()) return invalid("empty address literal");
  size_t colon = body.find(':');
  if (colon == std::string_view::npos) return checkIpv4(body);
  std::string_view tag = body.substr(0, colon);
  std::string_view content = body.substr(colon + 1);
  if (asciiIEquals(tag, "IPv6")) {
    // inet_pton reads a C string: refuse anything it could stop early on.
    for (char ch : content) {
      auto c = static_cast<unsigned char>(ch);
      if (!isxdigit(c) && c != ':' && c != '.') {
        return invalid("invalid character " + describe(c) + " in IPv6 address literal");
      }
    }
    std::string text(content);
    in6_addr addr{};
    if (text.empty() || inet_pton(AF_INET6, text.c_str(), &addr) != 1) {
      return invalid("invalid IPv6 address literal");
    }
    return okStatus();
  }
  if (tag.empty()) return invalid("address literal tag is empty");
  for (char ch : tag) {
    auto c = static_cast<unsigned char>(ch);
    if (!isLetDig(c) && c != '-')
      return invalid("invalid character " + describe(c) + " in address literal tag");
  }
  if (tag.back() == '-') return invalid("address literal tag ends with '-'");
  if (content.empty()) return invalid("general address literal has no content");
  for (char ch : content) {
    auto c = static_cast<unsigned char>(ch);
    bool dcontent = (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
    if (!dcontent) return invalid("invalid character " + describe(c) + " in address literal");
  }
  return okStatus();
}

// Source route "@a,@b:" at the start of `in`; returns the bytes used.
Result<size_t> skipSourceRoute(std::string_view in, bool smtputf8) {
  size_t i = 0;
  for (;;) {
    if (i >= in.size() || in[i] != '@') return invalid("source route element must start with '@'");
    ++i;
    size_t end = in.find_first_of(",:", i);
    if (end == std::string_view::npos) return invalid("source route not terminated by ':'");
    if (auto st = checkDomain(in.substr(i, end - i), smtputf8); !st) {
      return Error(ErrorKind::kInvalid, "source route: " + st.error().message());
    }
    i = end + 1;
    if (in[end] == ':') return i;
  }
}

bool dotStringOk(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '.' && prev == '.') return false;
    if (c != '.' && c < 0x80 && !isAtext(c)) return false;
    prev = ch;
  }
  return true;
}

}  // namespace

bool isStrictUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

Status checkDomain(std::string_view domain, bool smtputf8) {
  if (domain.empty()) return invalid("empty domain");
  if (domain.size() > kMaxDomain) return invalid("domain longer than 255 octets");
  size_t start = 0;
  for (;;) {
    size_t dot = domain.find('.', start);
    std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? domain.npos : dot - start);
    if (auto st = checkLabel(label, smtputf8); !st) return st;
    if (dot == std::string_view::npos) return okStatus();
    start = dot + 1;
  }
}

Result<Mailbox> parseMailbox(std::string_view in, const AddressOptions& opts) {
  if (in.empty()) return invalid("empty address");
  Mailbox box;
  size_t used = 0;
  if (in[0] == '"') {
    auto r = parseQuotedString(in, opts.smtputf8, &box.local_part);
    if (!r) return std::move(r).error();
    used = *r;
    box.quoted = true;
  } else {
    auto r = parseDotString(in, opts.smtputf8);
    if (!r) return std::move(r).error();
    used = *r;
    box.local_part.assign(in.substr(0, used));
  }
  if (used > kMaxLocalPart) return invalid("local part longer than 64 octets");
  if (used >= in.size()) return invalid("missing '@' after the local part");
  if (in[used] != '@') return invalid("expected '@' after the local part");
  std::string_view domain = in.substr(used + 1);
  if (domain.empty()) return invalid("empty domain");
  if (domain.front() == '[') {
    if (auto st = checkAddressLiteral(domain); !st) return std::move(st).error();
    box.literal = true;
  } else if (auto st = checkDomain(domain, opts.smtputf8); !st) {
    return std::move(st).error();
  }
  box.domain.assign(domain);
  box.utf8 = hasNonAscii(in);
  return box;
}

Result<Mailbox> parsePath(std::string_view in, const AddressOptions& opts) {
  if (in.empty()) return invalid("empty address");
  if (in.front() != '<') {
    if (in.size() + 2 > kMaxPath) return invalid("path longer than 256 octets");
    return parseMailbox(in, opts);
  }
  if (in.size() < 2 || in.back() != '>') return invalid("path missing closing '>'");
  if (in.size() > kMaxPath) return invalid("path longer than 256 octets");
  std::string_view inner = in.substr(1, in.size() - 2);
  if (inner.empty()) {
    if (opts.allow_null) return Mailbox{};
    return invalid("null path <> not allowed here");
  }
  if (inner.front() == '@') {
    auto r = skipSourceRoute(inner, opts.smtputf8);
    if (!r) return std::move(r).error();
    inner.remove_prefix(*r);
  }
  return parseMailbox(inner, opts);
}

namespace {

// A loosely found domain: see envelopeAddress() in the header.
bool looseDomainOk(std::string_view d) {
  if (d.empty()) return false;
  if (d.front() == '[') {
    // An address literal: printable ASCII between the brackets.
    if (d.size() < 3 || d.back() != ']') return false;
    d = d.substr(1, d.size() - 2);
    return std::all_of(d.begin(), d.end(), [](char ch) {
      const auto c = static_cast<unsigned char>(ch);
      return c > 0x20 && c < 0x7f && c != '[' && c != ']' && c != '\\';
    });
  }
  for (char ch : d) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return false;
    switch (c) {
      case '"':
      case '(':
      case ')':
      case '<':
      case '>':
      case '[':
      case ']':
      case '\\':
      case ',':
      case ';':
      case ':':
      case '@':
        return false;
      default:
        break;
    }
  }
  return isStrictUtf8(d);
}

std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The pieces of a local part an MTA could route by (see the header).
std::vector<std::string> routedDomains(std::string_view local_part) {
  std::string bare;
  for (size_t i = 0; i < local_part.size(); ++i) {
    const char c = local_part[i];
    if (c == '"') continue;
    if (c == '\\' && i + 1 < local_part.size()) ++i;
    bare.push_back(local_part[i]);
  }
  std::vector<std::string> out;
  if (bare.find_first_of("%!@") == std::string::npos) return out;
  size_t start = 0;
  for (;;) {
    const size_t end = bare.find_first_of("%!@", start);
    std::string_view piece = std::string_view(bare).substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    while (!piece.empty() && piece.back() == '.') piece.remove_suffix(1);
    if (!piece.empty()) out.push_back(asciiLower(piece));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

EnvelopeAddress envelopeAddress(std::string_view in, const AddressOptions& opts) {
  using Kind = EnvelopeAddress::Kind;
  EnvelopeAddress out;
  in = trimBlanks(in);
  auto parsed = parsePath(in, opts);
  if (parsed.ok()) {
    if (parsed->isNull()) {
      out.kind = Kind::kNull;
      return out;
    }
    out.kind = Kind::kMailbox;
    out.domain = parsed->domainLower();
    out.address = parsed->canonicalLower();
    out.routed_domains = routedDomains(parsed->local_part);
    out.mailbox = std::move(*parsed);
    return out;
  }
  out.error = parsed.error().message();
  std::string_view inner = in;
  if (!inner.empty() && inner.front() == '<') {
    if (inner.size() < 2 || inner.back() != '>') return out;
    inner = trimBlanks(inner.substr(1, inner.size() - 2));
  }
  if (!inner.empty() && inner.front() == '@') {
    const size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return out;
    inner.remove_prefix(colon + 1);
  }
  size_t at = std::string_view::npos;
  bool quoted = false;
  for (size_t i = 0; i < inner.size(); ++i) {
    const char c = inner[i];
    if (c == '\\') {
      ++i;  // the next character is taken as it is
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '@' && !quoted) {
      at = i;
    }
  }
  if (quoted) return out;
  if (at == std::string_view::npos) {
    if (asciiIEquals(inner, "postmaster")) {
      out.kind = Kind::kPostmaster;
      out.address = "postmaster";
    }
    return out;
  }
  std::string_view domain = inner.substr(at + 1);
  while (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (!looseDomainOk(domain)) return out;
  out.kind = Kind::kLoose;
  out.domain = asciiLower(domain);
  out.address = asciiLower(inner.substr(0, at)) + "@" + out.domain;
  out.routed_domains = routedDomains(inner.substr(0, at));
  return out;
}

std::string domainKey(std::string_view domain) {
  while (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  std::string lower = asciiLower(domain);
  if (!hasNonAscii(lower)) return lower;
  const bool parent = !lower.empty() && lower.front() == '.';
  const std::string bare = lower.substr(parent ? 1 : 0);
  char* ascii = nullptr;
  const int rc = idn2_to_ascii_8z(bare.c_str(), &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  std::string out = lower;
  if (rc == IDN2_OK && ascii != nullptr && bare.find('\0') == std::string::npos) {
    std::string_view converted = ascii;  // the mapping may leave dots at the end, or nothing
    while (!converted.empty() && converted.back() == '.') converted.remove_suffix(1);
    if (!converted.empty()) out = asciiLower(std::string(parent ? "." : "") + std::string(converted));
  }
  idn2_free(ascii);
  return out;
}

std::string Mailbox::domainLower() const { return asciiLower(domain); }

std::string Mailbox::toString() const {
  if (isNull()) return {};
  std::string out;
  if (dotStringOk(local_part)) {
    out = local_part;
  } else {
    out.push_back('"');
    for (char c : local_part) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('@');
  out += domain;
  return out;
}

std::string Mailbox::canonicalLower() const { return asciiLower(toString()); }

}  // namespace mtep::smtp
