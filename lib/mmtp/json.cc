// MMTP's JSON: the stream framer, parsing through nlohmann, and
// JavaScript's JSON.stringify (for messageHash).
#include "mmtp/json.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>
#include <vector>

#include "util/base64.h"

namespace mtep::mmtp {

namespace {

// in_'s buffer is given back when it empties and has grown past this.
constexpr size_t kKeepCapacity = 64 * 1024;

bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

JsonFramer::JsonFramer(FrameLimits limits) : limits_(limits) {}

void JsonFramer::feed(std::string_view bytes) {
  // Drop what was worked through when it is at least half of the buffer:
  // each byte is moved a bounded number of times on average.
  if (pos_ > 0 && pos_ >= in_.size() - pos_) {
    in_.erase(0, pos_);
    pos_ = 0;
  }
  in_.append(bytes);
}

size_t JsonFramer::pending() const { return value_.size() + (in_.size() - pos_); }

size_t JsonFramer::unscanned() const { return state_ == State::kTop ? in_.size() - pos_ : 0; }

void JsonFramer::unfeed(size_t n) {
  n = std::min(n, unscanned());
  in_.resize(in_.size() - n);
  compact();
}

void JsonFramer::compact() {
  if (pos_ < in_.size()) return;
  if (in_.capacity() > kKeepCapacity) {
    std::string().swap(in_);
  } else {
    in_.clear();
  }
  pos_ = 0;
}

bool JsonFramer::scanValue() {
  const size_t n = in_.size();
  const size_t start = pos_;
  while (pos_ < n) {
    switch (state_) {
      case State::kString: {
        const size_t k = in_.find_first_of("\"\\", pos_);
        if (k == std::string::npos) {
          pos_ = n;
          break;
        }
        pos_ = k + 1;
        state_ = in_[k] == '"' ? State::kValue : State::kEscape;
        break;
      }
      case State::kEscape:
        ++pos_;
        state_ = State::kString;
        break;
      case State::kValue: {
        const size_t k = in_.find_first_of("\"{}[]", pos_);
        if (k == std::string::npos) {
          pos_ = n;
          break;
        }
        pos_ = k + 1;
        const char c = in_[k];
        if (c == '"') {
          state_ = State::kString;
        } else if (c == '{' || c == '[') {
          ++depth_;
          if (depth_ > limits_.max_depth && !too_deep_) {
            too_deep_ = true;
            too_deep_at_ = value_size_ + (k - start);
          }
        } else {
          --depth_;
          if (depth_ == 0) return true;
        }
        break;
      }
      case State::kTop:
        return false;  // not reached: next() calls this inside a value
    }
  }
  return false;
}

FrameStatus JsonFramer::next(std::string* value) {
  while (pos_ < in_.size()) {
    if (state_ == State::kTop) {
      const char c = in_[pos_];
      if (isJsonSpace(c)) {
        ++pos_;
        continue;
      }
      if (c != '{' && c != '[') {
        // A run that starts no value: up to a newline, the next '{' or
        // '[', or the end of what was fed.
        const size_t end = in_.find_first_of("\n{[", pos_);
        pos_ = end == std::string::npos ? in_.size() : end;
        compact();
        return FrameStatus::kGarbage;
      }
      state_ = State::kValue;
      depth_ = 0;
      value_size_ = 0;
      too_deep_ = false;
      too_deep_at_ = 0;
      value_.clear();
    }
    const size_t start = pos_;
    const bool kept_before = !too_deep_ && value_size_ <= limits_.max_value_bytes;
    const bool ended = scanValue();
    const size_t span = pos_ - start;
    value_size_ += span;
    if (!too_deep_ && value_size_ <= limits_.max_value_bytes) {
      value_.append(in_, start, span);
    } else if (kept_before) {
      std::string().swap(value_);  // over a limit: nothing more is stored
    }
    if (!ended) break;
    state_ = State::kTop;
    FrameStatus status = FrameStatus::kValue;
    if (too_deep_ && too_deep_at_ < limits_.max_value_bytes) {
      status = FrameStatus::kTooDeep;
    } else if (value_size_ > limits_.max_value_bytes) {
      status = FrameStatus::kTooLarge;
    } else if (too_deep_) {
      status = FrameStatus::kTooDeep;
    }
    if (status == FrameStatus::kValue) {
      *value = std::move(value_);
    }
    value_.clear();
    compact();
    return status;
  }
  compact();
  return FrameStatus::kNeedMore;
}

Json parseJson(std::string_view text) {
  // allow_exceptions = false: invalid JSON (or UTF-8) gives a discarded
  // value, not an exception. nlohmann's parser and destructor keep their
  // own stacks, so depth costs heap, not the call stack.
  return Json::parse(text.data(), text.data() + text.size(), nullptr, false);
}

namespace {

// JavaScript's JSON.stringify of a string (QuoteJSONString): only '"',
// '\' and control characters escaped.
void writeString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s, run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s, run, s.size() - run);
  out->push_back('"');
}

// ECMAScript Number::toString(x) for a finite double: the shortest digits
// that round-trip (std::to_chars), laid out by the spec's rules.
void writeNumber(double x, std::string* out) {
  if (!std::isfinite(x)) {
    out->append("null");  // JSON.stringify(NaN) and of Infinity
    return;
  }
  if (x == 0) {
    out->push_back('0');  // -0 too
    return;
  }
  if (x < 0) {
    out->push_back('-');
    x = -x;
  }
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  if (res.ec != std::errc()) {
    out->append("null");  // not reached: 64 bytes hold any double
    return;
  }
  // buf: d[.ddd]e(+|-)XX
  const std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  const size_t e = sci.find('e');
  std::string digits;
  digits.reserve(17);
  for (size_t i = 0; i < e; ++i) {
    if (sci[i] != '.') digits.push_back(sci[i]);
  }
  int exp10 = 0;
  for (size_t i = e + 2; i < sci.size(); ++i) exp10 = exp10 * 10 + (sci[i] - '0');
  if (sci[e + 1] == '-') exp10 = -exp10;
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // x = 0.digits * 10^n
  if (k <= n && n <= 21) {
    out->append(digits);
    out->append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out->append(digits, 0, static_cast<size_t>(n));
    out->push_back('.');
    out->append(digits, static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-n), '0');
    out->append(digits);
  } else {
    out->push_back(digits[0]);
    if (k > 1) {
      out->push_back('.');
      out->append(digits, 1);
    }
    out->push_back('e');
    out->push_back(n - 1 < 0 ? '-' : '+');
    out->append(std::to_string(std::abs(n - 1)));
  }
}

// What JSON.parse would make of an integer: exact up to 2^53, else the
// nearest double (the cast rounds to nearest, as parsing the digits does).
constexpr int64_t kMaxSafe = int64_t{1} << 53;

void writeInteger(int64_t v, std::string* out) {
  if (v >= -kMaxSafe && v <= kMaxSafe) {
    char buf[24];
    const auto res = std::to_chars(buf, buf + sizeof buf, v);
    out->append(buf, res.ptr);
  } else {
    writeNumber(static_cast<double>(v), out);
  }
}

void writeUnsigned(uint64_t v, std::string* out) {
  if (v <= static_cast<uint64_t>(kMaxSafe)) {
    writeInteger(static_cast<int64_t>(v), out);
  } else {
    writeNumber(static_cast<double>(v), out);
  }
}

// A canonical array index, 0 .. 2^32 - 2: JavaScript lists these keys
// first, ascending.
bool arrayIndex(std::string_view key, uint32_t* index) {
  if (key.empty() || key.size() > 10) return false;
  if (key.size() > 1 && key[0] == '0') return false;
  uint64_t v = 0;
  for (const char c : key) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xfffffffeu) return false;
  *index = static_cast<uint32_t>(v);
  return true;
}

using Member = Json::object_t::value_type;

// One open object or array on jsStringify's own stack (no recursion:
// depth costs heap, never the call stack).
struct Frame {
  const Json::array_t* array = nullptr;  // or
  std::vector<const Member*> members;    // an object's, in JavaScript's order
  size_t next = 0;
  size_t size() const { return array != nullptr ? array->size() : members.size(); }
};

// Writes a scalar, or the opening of a container and pushes its frame.
void open(const Json& v, std::string* out, std::vector<Frame>* stack) {
  switch (v.type()) {
    case Json::value_t::object: {
      const auto* obj = v.get_ptr<const Json::object_t*>();
      Frame f;
      f.members.reserve(obj->size());
      std::vector<std::pair<uint32_t, const Member*>> indexed;
      for (const Member& m : *obj) {
        uint32_t index = 0;
        if (arrayIndex(m.first, &index)) indexed.emplace_back(index, &m);
      }
      std::sort(indexed.begin(), indexed.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [index, m] : indexed) f.members.push_back(m);
      for (const Member& m : *obj) {
        uint32_t index = 0;
        if (!arrayIndex(m.first, &index)) f.members.push_back(&m);
      }
      out->push_back('{');
      stack->push_back(std::move(f));
      return;
    }
    case Json::value_t::array: {
      Frame f;
      f.array = v.get_ptr<const Json::array_t*>();
      out->push_back('[');
      stack->push_back(std::move(f));
      return;
    }
    case Json::value_t::string:
      writeString(*v.get_ptr<const Json::string_t*>(), out);
      return;
    case Json::value_t::boolean:
      out->append(*v.get_ptr<const Json::boolean_t*>() ? "true" : "false");
      return;
    case Json::value_t::number_integer:
      writeInteger(*v.get_ptr<const Json::number_integer_t*>(), out);
      return;
    case Json::value_t::number_unsigned:
      writeUnsigned(*v.get_ptr<const Json::number_unsigned_t*>(), out);
      return;
    case Json::value_t::number_float:
      writeNumber(*v.get_ptr<const Json::number_float_t*>(), out);
      return;
    case Json::value_t::null:
    case Json::value_t::binary:     // not made by parseJson; JSON has no bytes
    case Json::value_t::discarded:  // not a value
      out->append("null");
      return;
  }
  out->append("null");
}

}  // namespace

std::string jsStringify(const Json& value) {
  std::string out;
  std::vector<Frame> stack;
  open(value, &out, &stack);
  while (!stack.empty()) {
    Frame& f = stack.back();
    const bool object = f.array == nullptr;
    if (f.next == f.size()) {
      out.push_back(object ? '}' : ']');
      stack.pop_back();
      continue;
    }
    if (f.next > 0) out.push_back(',');
    const Json* child = nullptr;
    if (object) {
      const Member* m = f.members[f.next];
      writeString(m->first, &out);
      out.push_back(':');
      child = &m->second;
    } else {
      child = &(*f.array)[f.next];
    }
    ++f.next;
    open(*child, &out, &stack);  // may push: f is not used after this
  }
  return out;
}

std::string messageHash(const Json& content) {
  const std::string text = jsStringify(content);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return {};  // matches no hash: the check fails closed
  }
  return hexEncode(md, len);
}

}  // namespace mtep::mmtp
