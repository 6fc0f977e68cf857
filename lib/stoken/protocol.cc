// STOKEN protocol texts: AUTH payloads, RCPT parameters, management
// arguments, the delivery replies and the distribution header.
#include "stoken/protocol.h"

#include "util/base64.h"

namespace mtep::stoken {
namespace {

bool isWsp(char c) { return c == ' ' || c == '\t'; }

// Splits off the first space-separated word; *rest is what follows the spaces.
std::string_view nextWord(std::string_view in, std::string_view* rest) {
  size_t i = 0;
  while (i < in.size() && in[i] == ' ') ++i;
  size_t j = i;
  while (j < in.size() && in[j] != ' ') ++j;
  size_t k = j;
  while (k < in.size() && in[k] == ' ') ++k;
  *rest = in.substr(k);
  return in.substr(i, j - i);
}

// Reads "<...>" at the start of `in`, honouring quoted strings inside,
// and returns what is between the brackets; *rest after the '>'.
std::optional<std::string_view> bracketed(std::string_view in, std::string_view* rest) {
  if (in.empty() || in[0] != '<') return std::nullopt;
  bool quoted = false;
  for (size_t i = 1; i < in.size(); ++i) {
    const char c = in[i];
    if (quoted && c == '\\') {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '>') {
      *rest = in.substr(i + 1);
      return in.substr(1, i - 1);
    }
  }
  return std::nullopt;
}

bool isPrintableWord(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) return false;
  }
  return true;
}

bool isKeyword(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return s[0] != '-';
}

}  // namespace

Result<AuthPayload> parseAuthPayload(std::string_view base64_text) {
  if (base64_text.size() > kMaxAuthText) {
    return Error(ErrorKind::kLimit, "AUTH STOKEN data too long");
  }
  auto raw = base64Decode(base64_text, false);
  if (!raw) return Error(ErrorKind::kInvalid, "invalid base64");
  const std::string_view text(reinterpret_cast<const char*>(raw->data()), raw->size());
  size_t sep = text.find('\0');
  size_t sep_len = 1;
  if (sep != std::string_view::npos) {
    if (text.find('\0', sep + 1) != std::string_view::npos) {
      return Error(ErrorKind::kInvalid, "more than one NUL");
    }
  } else {
    sep = text.rfind("\\0");
    sep_len = 2;
    if (sep == std::string_view::npos) return Error(ErrorKind::kInvalid, "no NUL separator");
  }
  AuthPayload p;
  const std::string_view recipient = text.substr(0, sep);
  const std::string_view token = text.substr(sep + sep_len);
  if (recipient.empty() || recipient.size() > kMaxAddress) {
    return Error(ErrorKind::kInvalid, "bad recipient length");
  }
  for (char c : recipient) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Error(ErrorKind::kInvalid, "control byte in recipient");
  }
  if (!isForeignToken(token)) return Error(ErrorKind::kInvalid, "not a token");
  p.recipient = std::string(recipient);
  p.token = std::string(token);
  return p;
}

std::string formatAuthPayload(std::string_view recipient, std::string_view token) {
  std::string raw(recipient);
  raw.push_back('\0');
  raw += token;
  return base64Encode(reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), false, true);
}

Result<RcptParams> parseRcptParams(std::string_view params) {
  RcptParams out;
  std::string_view rest = params;
  while (true) {
    const std::string_view word = nextWord(rest, &rest);
    if (word.empty()) break;
    const size_t eq = word.find('=');
    const std::string_view keyword = word.substr(0, eq);
    if (!isKeyword(keyword)) {
      return Error(ErrorKind::kInvalid, "malformed parameter");
    }
    std::optional<std::string>* slot = nullptr;
    if (asciiIEquals(keyword, "STOKEN")) slot = &out.stoken;
    if (asciiIEquals(keyword, "MYSTOKEN")) slot = &out.mystoken;
    if (slot == nullptr) {
      if (!isPrintableWord(word)) return Error(ErrorKind::kInvalid, "malformed parameter");
      out.others.emplace_back(word);
      continue;
    }
    if (slot->has_value()) {
      return Error(ErrorKind::kInvalid, "duplicate " + asciiLower(keyword) + " parameter");
    }
    if (eq == std::string_view::npos || !isForeignToken(word.substr(eq + 1))) {
      return Error(ErrorKind::kInvalid, "bad " + asciiLower(keyword) + " value");
    }
    *slot = std::string(word.substr(eq + 1));
  }
  return out;
}

ManageParse parseManageArgs(std::string_view verb, std::string_view args) {
  ManageParse m;
  const bool gen = asciiIEquals(verb, "GENSTOKEN");
  if (!gen && !asciiIEquals(verb, "REVSTOKEN")) {
    m.error = ManageError::kSyntax;
    return m;
  }
  std::vector<std::string_view> words;
  std::string_view rest = args;
  while (true) {
    const std::string_view w = nextWord(rest, &rest);
    if (w.empty()) break;
    if (words.size() == 4) {
      m.error = ManageError::kSyntax;
      return m;
    }
    words.push_back(w);
  }
  size_t i = 0;
  if (gen) {
    if (words.empty()) {
      m.error = ManageError::kSyntax;
      return m;
    }
    if (asciiIEquals(words[0], "PERM")) {
      m.args.kind = Kind::kPermanent;
    } else if (asciiIEquals(words[0], "TEMP")) {
      m.args.kind = Kind::kTemporary;
    } else {
      m.error = ManageError::kSyntax;
      return m;
    }
    i = 1;
  }
  const size_t n = words.size() - i;
  if (n < 1 || n > 2) {
    m.error = ManageError::kSyntax;
    return m;
  }
  auto remote = canonicalAddress(words[i]);
  if (!remote) {
    m.error = ManageError::kBadRemote;
    return m;
  }
  m.args.remote = std::move(*remote);
  if (n == 2) {
    auto local = canonicalAddress(words[i + 1]);
    if (!local) {
      m.error = ManageError::kBadLocal;
      return m;
    }
    m.args.local = std::move(*local);
  }
  return m;
}

std::string formatGenerated(std::string_view token, std::string_view text) {
  std::string out = "250 2.1.11 ";
  out += token;
  if (!text.empty()) {
    out += ' ';
    out += text;
  }
  return out;
}

Result<std::string> parseGenerated(std::string_view text) {
  std::string_view rest;
  const std::string_view code = nextWord(text, &rest);
  if (code != "2.1.11") return Error(ErrorKind::kInvalid, "not a 2.1.11 reply");
  const std::string_view token = nextWord(rest, &rest);
  if (!isForeignToken(token)) return Error(ErrorKind::kInvalid, "no token in the reply");
  return std::string(token);
}

std::string formatDelivered(std::string_view address, std::string_view delivery_id,
                            std::string_view text) {
  std::string out = "250 2.1.12 <";
  out += address;
  out += "> ";
  out += delivery_id;
  if (!text.empty()) {
    out += ' ';
    out += text;
  }
  return out;
}

std::string formatDeliveredWithToken(std::string_view address, std::string_view token,
                                     std::string_view delivery_id, std::string_view text) {
  std::string out = "250 2.1.13 <";
  out += address;
  out += "> ";
  out += token;
  out += ' ';
  out += delivery_id;
  if (!text.empty()) {
    out += ' ';
    out += text;
  }
  return out;
}

Result<DeliveryReply> parseDeliveryReply(std::string_view text) {
  std::string_view rest;
  const std::string_view code = nextWord(text, &rest);
  const bool with_token = code == "2.1.13";
  if (!with_token && code != "2.1.12") {
    return Error(ErrorKind::kInvalid, "not a 2.1.12 or 2.1.13 reply");
  }
  DeliveryReply r;
  std::string_view after;
  auto address = bracketed(rest, &after);
  if (!address || address->size() > kMaxAddress || (!after.empty() && after[0] != ' ')) {
    return Error(ErrorKind::kInvalid, "no <address> in the reply");
  }
  r.address = std::string(*address);
  rest = after;
  if (with_token) {
    const std::string_view token = nextWord(rest, &rest);
    if (!isForeignToken(token)) return Error(ErrorKind::kInvalid, "no token in the reply");
    r.permanent = std::string(token);
  }
  const std::string_view id = nextWord(rest, &rest);
  if (!isPrintableWord(id) || id.size() > kMaxDeliveryId) {
    return Error(ErrorKind::kInvalid, "no delivery id in the reply");
  }
  r.delivery_id = std::string(id);
  r.text = std::string(rest);
  return r;
}

Result<std::string> parseSubmissionTokenHeader(std::string_view value) {
  if (value.size() > kMaxHeaderValue) return Error(ErrorKind::kLimit, "header field too long");
  std::string unfolded;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\r' || c == '\n') {
      // Folding only: a line break must be followed by white space.
      size_t j = i;
      if (value[j] == '\r') ++j;
      if (j < value.size() && value[j] == '\n') ++j;
      if (j >= value.size() || !isWsp(value[j])) {
        if (j >= value.size()) break;  // a trailing CRLF
        return Error(ErrorKind::kInvalid, "bare line break in the field");
      }
      i = j - 1;
      continue;
    }
    unfolded.push_back(isWsp(c) ? ' ' : c);
  }
  std::string_view rest;
  std::string_view word = nextWord(unfolded, &rest);
  if (word.empty()) return Error(ErrorKind::kInvalid, "empty Submission-Token field");
  if (!rest.empty()) return Error(ErrorKind::kInvalid, "more than one word in the field");
  if (word.size() >= 2 && word.front() == '<' && word.back() == '>') {
    word = word.substr(1, word.size() - 2);
  }
  if (!isForeignToken(word) || word.find_first_of("<>") != std::string_view::npos) {
    return Error(ErrorKind::kInvalid, "not a token");
  }
  return std::string(word);
}

}  // namespace mtep::stoken
