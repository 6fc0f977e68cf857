#include "smtp/status.h"

namespace mtep::smtp {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Reads a sub-code of 1 to 3 digits without leading zeros at in[*pos].
// `what` names the field for the error message.
Result<uint16_t> parseSubCode(std::string_view in, size_t* pos, const char* what) {
  size_t start = *pos;
  size_t i = start;
  unsigned value = 0;
  while (i < in.size() && isDigit(in[i])) {
    if (i - start == 3) {
      return Error(ErrorKind::kInvalid,
                   std::string("enhanced status ") + what + " has more than 3 digits");
    }
    value = value * 10 + static_cast<unsigned>(in[i] - '0');
    ++i;
  }
  if (i == start) {
    return Error(ErrorKind::kInvalid, std::string("enhanced status ") + what + " is missing");
  }
  if (i - start > 1 && in[start] == '0') {
    return Error(ErrorKind::kInvalid,
                 std::string("enhanced status ") + what + " has a leading zero");
  }
  *pos = i;
  return static_cast<uint16_t>(value);
}

bool validClass(unsigned c) { return c == 2 || c == 4 || c == 5; }

}  // namespace

std::string EnhancedStatus::toString() const {
  return std::to_string(cls) + "." + std::to_string(subject) + "." + std::to_string(detail);
}

Result<EnhancedStatus> parseEnhancedStatus(std::string_view in, size_t* consumed,
                                           bool allow_missing_class, uint8_t implied_class) {
  EnhancedStatus st;
  size_t pos = 0;
  if (!in.empty() && in[0] == '.' && allow_missing_class) {
    if (!validClass(implied_class)) {
      return Error(ErrorKind::kInternal, "implied enhanced status class must be 2, 4 or 5");
    }
    st.cls = implied_class;
  } else {
    if (in.empty()) return Error(ErrorKind::kInvalid, "enhanced status code is missing");
    if (!isDigit(in[0])) {
      return Error(ErrorKind::kInvalid, "enhanced status class is not a digit");
    }
    unsigned c = static_cast<unsigned>(in[0] - '0');
    if (!validClass(c)) {
      return Error(ErrorKind::kInvalid, "enhanced status class must be 2, 4 or 5");
    }
    st.cls = static_cast<uint8_t>(c);
    pos = 1;
  }
  if (pos >= in.size() || in[pos] != '.') {
    return Error(ErrorKind::kInvalid, "enhanced status class must be followed by '.'");
  }
  ++pos;
  auto subject = parseSubCode(in, &pos, "subject");
  if (!subject) return std::move(subject).error();
  st.subject = *subject;
  if (pos >= in.size() || in[pos] != '.') {
    return Error(ErrorKind::kInvalid, "enhanced status subject must be followed by '.'");
  }
  ++pos;
  auto detail = parseSubCode(in, &pos, "detail");
  if (!detail) return std::move(detail).error();
  st.detail = *detail;
  if (pos < in.size() && in[pos] != ' ') {
    return Error(ErrorKind::kInvalid,
                 "enhanced status code must be followed by a space or the end");
  }
  if (consumed != nullptr) *consumed = pos;
  return st;
}

std::string Reply::toString() const {
  std::string out = std::to_string(code);
  if (enhanced) {
    out += ' ';
    out += enhanced->toString();
  }
  if (!text.empty()) {
    out += ' ';
    for (char c : text) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
  }
  return out;
}

}  // namespace mtep::smtp
