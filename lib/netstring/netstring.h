#pragma once
// NAME
//   netstring.h - incremental netstring decoder and encoder
// SUMMARY
//   netstring::Decoder d({.max_length = 4096, .skip_crlf = true});
//   d.feed(bytes, &consumed) -> kNeedMore | kMessage | kError
// DESCRIPTION
//   A netstring is "<len>:<payload>," (D. J. Bernstein). The decoder is fed
//   arbitrary slices and consumes exactly one netstring at a time: after
//   kMessage, payload() holds it and the caller feeds the rest again.
//   Length digits are checked against max_length as each digit arrives, before
//   any allocation, and more than kMaxLengthDigits digits are refused whatever
//   max_length says; leading zeros ("01:") are refused ("0:," is the empty
//   netstring); an empty length (":") is refused.
//   With skip_crlf, CR and LF bytes BEFORE a netstring's first length digit
//   are skipped (MTEP: CR/LF are tolerated after any comma).
//   After kError the decoder stays in error until reset().

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mtep::netstring {

// "9999999999:" is the longest length accepted, whatever the limits say.
inline constexpr size_t kMaxLengthDigits = 10;

struct Limits {
  size_t max_length = 4096;  // largest payload accepted, in bytes
  bool skip_crlf = false;    // skip CR/LF before a netstring (MTEP)
};

enum class DecodeState { kNeedMore, kMessage, kError };

// Why decoding failed; each maps to a protocol error (close the stream),
// except kTooLong and kTooManyElements, which are limit errors.
enum class DecodeError {
  kNone,
  kBadLengthDigit,   // a byte other than a digit or ':' in the length
  kLeadingZero,      // "0" followed by another digit
  kEmptyLength,      // ':' with no digit before it
  kTooLong,          // declared length exceeds Limits::max_length or 10 digits
  kMissingComma,     // the byte after the payload is not ','
  kTrailingGarbage,  // splitAll: input ends inside a netstring
  kTooManyElements,  // splitAll: more than max_elements netstrings
};

// A short lower-case English phrase ("leading zero in the length"); never null.
const char* decodeErrorText(DecodeError e) noexcept;

class Decoder {
 public:
  explicit Decoder(Limits limits = {}) : limits_(limits) {}

  // Consumes bytes from `in` up to the end of one netstring. *consumed is set
  // to how many bytes of `in` were used: all of them on kNeedMore, up to and
  // including the comma on kMessage, up to and including the offending byte
  // on the first kError, and 0 when called again in error.
  DecodeState feed(std::string_view in, size_t* consumed);

  // Valid after kMessage until the next feed() or reset().
  const std::string& payload() const noexcept { return payload_; }
  DecodeError error() const noexcept { return error_; }
  // True when some bytes of a netstring have been consumed but it is not
  // complete (skipped CR/LF do not count).
  bool midMessage() const noexcept;
  void reset();

 private:
  enum class Phase { kLength, kPayload, kComma, kDone, kError };
  DecodeState failWith(DecodeError e);

  Limits limits_;
  Phase phase_ = Phase::kLength;
  size_t length_ = 0;
  size_t digits_ = 0;
  std::string payload_;
  DecodeError error_ = DecodeError::kNone;
};

// Appends "<len>:<payload>," to *out.
void encode(std::string_view payload, std::string* out);
std::string encode(std::string_view payload);

// Splits a complete buffer into consecutive netstrings (e.g. the payload of an
// MTEP request). With skip_crlf, CR/LF before each element are skipped and
// trailing CR/LF is allowed. Returns false on any framing error or trailing
// garbage; elements view into `in` and are cleared first.
// The element count is capped at max_elements (kTooManyElements past it).
// When `error` is given it says why on false, kNone on true.
bool splitAll(std::string_view in, const Limits& limits, size_t max_elements,
              std::vector<std::string_view>* elements, DecodeError* error = nullptr);

}  // namespace mtep::netstring
