#include "mtep/protocol.h"

#include <utility>

namespace mtep::proto {
namespace {

bool isVerdict(char c) { return c == 'K' || c == 'Z' || c == 'D' || c == 'I'; }

// Text for humans must not break the framing of whatever carries it next.
void appendCleanText(std::string_view text, std::string* out) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out->push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
}

}  // namespace

uint8_t impliedClass(Verdict v) noexcept {
  switch (v) {
    case Verdict::kYes:
      return 2;
    case Verdict::kTemporary:
      return 4;
    case Verdict::kNo:
    case Verdict::kInfo:
      return 5;
  }
  return 5;
}

std::string Response::payload() const {
  std::string out(1, static_cast<char>(verdict));
  if (code) out += code->toString();
  if (!text.empty()) {
    out.push_back(' ');
    appendCleanText(text, &out);
  }
  return out;
}

Result<Request> parseRequestPayload(std::string_view payload, const Limits& limits) {
  const netstring::Limits inner{.max_length = limits.max_request_size, .skip_crlf = true};
  std::vector<std::string_view> parts;
  netstring::DecodeError why = netstring::DecodeError::kNone;
  if (!netstring::splitAll(payload, inner, limits.max_elements, &parts, &why)) {
    if (why == netstring::DecodeError::kTooManyElements) {
      return Error(ErrorKind::kLimit,
                   "more than " + std::to_string(limits.max_elements) + " elements in one request");
    }
    return Error(ErrorKind::kProtocol,
                 std::string("bad request framing: ") + netstring::decodeErrorText(why));
  }
  if (parts.empty()) return Error(ErrorKind::kInvalid, "empty request");
  Request r;
  r.elements.reserve(parts.size());
  for (const std::string_view p : parts) r.elements.emplace_back(p);
  return r;
}

std::string encodeQuery(std::string_view token, std::string_view sender,
                        std::string_view recipient) {
  std::string inner;
  netstring::encode("?", &inner);
  netstring::encode(token, &inner);
  if (!sender.empty() || !recipient.empty()) netstring::encode(sender, &inner);
  if (!recipient.empty()) netstring::encode(recipient, &inner);
  return netstring::encode(inner);
}

std::string encodeQuit() { return netstring::encode(netstring::encode("Q")); }

std::string encodeResponse(const Response& r) { return netstring::encode(r.payload()); }

Result<Response> parseResponsePayload(std::string_view payload) {
  if (payload.empty()) return Error(ErrorKind::kProtocol, "empty response");
  if (!isVerdict(payload[0])) {
    return Error(ErrorKind::kProtocol, "response does not start with K, Z, D or I");
  }
  Response r;
  r.verdict = static_cast<Verdict>(payload[0]);
  std::string_view rest = payload.substr(1);
  if (!rest.empty() && rest[0] != ' ') {
    size_t used = 0;
    auto code = smtp::parseEnhancedStatus(rest, &used, true, impliedClass(r.verdict));
    if (!code) {
      return Error(ErrorKind::kProtocol, "bad status code in response: " + code.error().message());
    }
    r.code = *code;
    rest.remove_prefix(used);
  }
  if (!rest.empty()) {  // parseEnhancedStatus guarantees a space here
    rest.remove_prefix(1);
    appendCleanText(rest, &r.text);
  }
  return r;
}

ResponseDecoder::ResponseDecoder(size_t max_size)
    : decoder_(netstring::Limits{.max_length = max_size, .skip_crlf = true}) {}

netstring::DecodeState ResponseDecoder::feed(std::string_view in, size_t* consumed) {
  if (failed_) {
    if (consumed != nullptr) *consumed = 0;
    return netstring::DecodeState::kError;
  }
  const netstring::DecodeState state = decoder_.feed(in, consumed);
  if (state == netstring::DecodeState::kError) {
    failed_ = true;
    error_ = std::string("bad response framing: ") + netstring::decodeErrorText(decoder_.error());
    return state;
  }
  if (state == netstring::DecodeState::kMessage) {
    auto parsed = parseResponsePayload(decoder_.payload());
    if (!parsed) {
      failed_ = true;
      error_ = parsed.error().message();
      return netstring::DecodeState::kError;
    }
    response_ = std::move(parsed).value();
  }
  return state;
}

}  // namespace mtep::proto
