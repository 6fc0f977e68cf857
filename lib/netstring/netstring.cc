#include "netstring/netstring.h"

#include <algorithm>

namespace mtep::netstring {
namespace {

// The payload buffer grows as bytes arrive beyond this, so a large declared
// length costs memory only once the peer has actually sent the bytes.
constexpr size_t kReserveCap = 64 * 1024;

bool isCrLf(char c) { return c == '\r' || c == '\n'; }

}  // namespace

const char* decodeErrorText(DecodeError e) noexcept {
  switch (e) {
    case DecodeError::kNone:
      return "no error";
    case DecodeError::kBadLengthDigit:
      return "unexpected byte in the length";
    case DecodeError::kLeadingZero:
      return "leading zero in the length";
    case DecodeError::kEmptyLength:
      return "empty length";
    case DecodeError::kTooLong:
      return "netstring too long";
    case DecodeError::kMissingComma:
      return "missing comma after the payload";
    case DecodeError::kTrailingGarbage:
      return "incomplete netstring at the end";
    case DecodeError::kTooManyElements:
      return "too many elements";
  }
  return "unknown error";
}

DecodeState Decoder::failWith(DecodeError e) {
  phase_ = Phase::kError;
  error_ = e;
  return DecodeState::kError;
}

bool Decoder::midMessage() const noexcept {
  return phase_ == Phase::kPayload || phase_ == Phase::kComma ||
         (phase_ == Phase::kLength && digits_ > 0);
}

void Decoder::reset() {
  phase_ = Phase::kLength;
  length_ = 0;
  digits_ = 0;
  payload_.clear();
  error_ = DecodeError::kNone;
}

DecodeState Decoder::feed(std::string_view in, size_t* consumed) {
  size_t pos = 0;
  auto finish = [&](DecodeState s) {
    if (consumed != nullptr) *consumed = pos;
    return s;
  };
  if (phase_ == Phase::kError) return finish(DecodeState::kError);
  if (phase_ == Phase::kDone) reset();

  while (pos < in.size()) {
    switch (phase_) {
      case Phase::kLength: {
        const char c = in[pos++];
        if (c >= '0' && c <= '9') {
          const auto digit = static_cast<size_t>(c - '0');
          if (digits_ == 1 && length_ == 0) return finish(failWith(DecodeError::kLeadingZero));
          if (digits_ == kMaxLengthDigits) return finish(failWith(DecodeError::kTooLong));
          // length_ * 10 + digit > max_length, written so it cannot overflow.
          if (limits_.max_length < digit || length_ > (limits_.max_length - digit) / 10) {
            return finish(failWith(DecodeError::kTooLong));
          }
          length_ = length_ * 10 + digit;
          ++digits_;
        } else if (c == ':') {
          if (digits_ == 0) return finish(failWith(DecodeError::kEmptyLength));
          payload_.reserve(std::min(length_, kReserveCap));
          phase_ = length_ == 0 ? Phase::kComma : Phase::kPayload;
        } else if (!(limits_.skip_crlf && digits_ == 0 && isCrLf(c))) {
          return finish(failWith(DecodeError::kBadLengthDigit));
        }
        break;
      }
      case Phase::kPayload: {
        const size_t take = std::min(length_ - payload_.size(), in.size() - pos);
        payload_.append(in.substr(pos, take));
        pos += take;
        if (payload_.size() == length_) phase_ = Phase::kComma;
        break;
      }
      case Phase::kComma:
        if (in[pos++] != ',') return finish(failWith(DecodeError::kMissingComma));
        phase_ = Phase::kDone;
        return finish(DecodeState::kMessage);
      case Phase::kDone:
      case Phase::kError:
        return finish(DecodeState::kError);  // unreachable: handled above
    }
  }
  return finish(DecodeState::kNeedMore);
}

void encode(std::string_view payload, std::string* out) {
  out->append(std::to_string(payload.size()));
  out->push_back(':');
  out->append(payload);
  out->push_back(',');
}

std::string encode(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 12);
  encode(payload, &out);
  return out;
}

bool splitAll(std::string_view in, const Limits& limits, size_t max_elements,
              std::vector<std::string_view>* elements, DecodeError* error) {
  elements->clear();
  auto result = [&](DecodeError e) {
    if (error != nullptr) *error = e;
    return e == DecodeError::kNone;
  };
  Decoder decoder(limits);
  size_t pos = 0;
  while (pos < in.size()) {
    size_t used = 0;
    const DecodeState state = decoder.feed(in.substr(pos), &used);
    pos += used;
    if (state == DecodeState::kError) return result(decoder.error());
    if (state == DecodeState::kNeedMore) break;
    if (elements->size() == max_elements) return result(DecodeError::kTooManyElements);
    // The payload ends just before the comma at pos - 1.
    const size_t size = decoder.payload().size();
    elements->push_back(in.substr(pos - 1 - size, size));
  }
  if (decoder.midMessage()) return result(DecodeError::kTrailingGarbage);
  return result(DecodeError::kNone);
}

}  // namespace mtep::netstring
