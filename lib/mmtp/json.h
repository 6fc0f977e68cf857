#pragma once
// NAME
//   json.h - MMTP's JSON: framing a byte stream into values, and the
//   JavaScript JSON.stringify that messageHash is taken over
// SUMMARY
//   mmtp::JsonFramer framer({.max_value_bytes = 1 << 20, .max_depth = 32});
//   framer.feed(bytes);
//   std::string text;
//   while (true) {
//     FrameStatus s = framer.next(&text);
//     if (s == FrameStatus::kNeedMore) break;
//     if (s == FrameStatus::kValue) { Json v = parseJson(text); ... }
//     else reply ERROR for that value (kGarbage, kTooLarge, kTooDeep) and go on
//   }
//   std::string js = jsStringify(value);        // JSON.stringify(value), byte for byte
//   std::string hex = messageHash(content);     // hex SHA-256 of jsStringify(content)
// DESCRIPTION
//   The library (nlohmann::ordered_json: keys kept in the order received,
//   the last of duplicate keys wins at the first one's place, as
//   JSON.parse does) parses; this module only frames and serialises.
//
//   JsonFramer finds where each top-level JSON object or array ends in a
//   stream of them, concatenated or separated by JSON white space
//   (RFC 8259: space, tab, CR, LF), in any slicing of the bytes. It tracks
//   strings (with their backslash escapes) and the nesting of {} and [];
//   it does not validate (the parser does). Limits:
//   - a value longer than max_value_bytes is not kept: its bytes are
//     skipped (state tracked, nothing stored) until it ends, then next()
//     says kTooLarge once;
//   - nesting deeper than max_depth: the same, kTooDeep once the value ends
//     (a value over both limits: the one its bytes crossed first);
//   - a run of bytes at top level that cannot start an object or array
//     ("hello", a bare number or string, a stray '}'): kGarbage once per
//     run; the run ends at a newline, at '{' or '[' (which start the next
//     value), or at the end of the bytes fed so far (a peer that sends
//     "hello" and waits gets its answer).
//   Memory is bounded by max_value_bytes plus the bytes of one feed().
//
//   parseJson() parses one framed value, with no exceptions: a value that
//   is not valid JSON (or not UTF-8) is discarded() (is_discarded()).
//
//   jsStringify() writes what JavaScript's JSON.stringify writes for the
//   value JSON.parse would have made of the same text:
//   - object keys in JavaScript's property order: keys that are array
//     indices (canonical decimal integers 0 .. 2^32-2) first, ascending,
//     then the others in the order received;
//   - strings: '"' and '\' escaped, \b \f \n \r \t, other characters below
//     U+0020 as \u00xx (lower-case hex); everything else, U+007F and
//     U+2028/U+2029 included, as raw UTF-8;
//   - numbers as JavaScript's Number::toString: integers beyond 2^53 and
//     every float go through double, shortest round-trip digits, fixed
//     notation for 1e-7 < |x| < 1e21, else d[.ddd]e+N / e-N; -0 is "0";
//   - no white space anywhere.
//   Vector: {"subject":"Hi","body":"Hello"} ->
//   51d4eaa38f7bdb2e1beb88a5eaf9fb63d2fdb146f415b270d3eddbc89df42199.
// SEE ALSO
//   packet.h, doc/mmtp.md, nlohmann/json.hpp (Debian nlohmann-json3-dev)

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mtep::mmtp {

using Json = nlohmann::ordered_json;

struct FrameLimits {
  size_t max_value_bytes = 1024 * 1024;
  size_t max_depth = 32;
};

enum class FrameStatus {
  kNeedMore,  // no whole value (or garbage run) left in what was fed
  kValue,     // *value holds one whole top-level object or array
  kGarbage,   // a run of bytes that starts no value was skipped
  kTooLarge,  // a value over max_value_bytes ended and was skipped
  kTooDeep,   // a value over max_depth ended and was skipped
};

class JsonFramer {
 public:
  explicit JsonFramer(FrameLimits limits = {});

  // Appends bytes to what next() works through.
  void feed(std::string_view bytes);
  // The next event in what was fed; kNeedMore when there is none. *value
  // is set only with kValue.
  FrameStatus next(std::string* value);
  // Bytes held for a value not yet complete (for tests and limits).
  size_t pending() const;
  // Bytes at the end of what was fed that next() has not looked at yet
  // (0 while a value is under way: the bytes fed belong to it).
  size_t unscanned() const;
  // Takes back the last `n` bytes fed (at most unscanned()): the caller
  // feeds them again later (a session that stops answering for now).
  void unfeed(size_t n);

 private:
  enum class State { kTop, kValue, kString, kEscape };
  // Works through in_ from pos_ inside a value; true when it ended (pos_
  // just past its last byte).
  bool scanValue();
  void compact();
  FrameLimits limits_;
  std::string in_;     // fed; bytes before pos_ are worked through
  size_t pos_ = 0;     // next byte of in_ to look at
  std::string value_;  // the value so far (released once it cannot be kept)
  State state_ = State::kTop;
  size_t depth_ = 0;        // open {} and [] of the current value
  size_t value_size_ = 0;   // bytes of the current value worked through
  bool too_deep_ = false;   // the current value went over max_depth ...
  size_t too_deep_at_ = 0;  // ... at this byte of it (0-based)
};

// One framed value parsed; is_discarded() when it is not valid JSON.
Json parseJson(std::string_view text);

// JSON.stringify(value), as described above.
std::string jsStringify(const Json& value);

// Lower-case hex SHA-256 of jsStringify(content); "" if hashing fails
// (which matches no hash).
std::string messageHash(const Json& content);

}  // namespace mtep::mmtp
