// json_fuzz - mmtp::JsonFramer fed the input whole and in slices, and what
// it frames parsed and written back with jsStringify.
// Invariants: pending() stays within max_value_bytes plus one feed; both
// feeds give the same values and limit events (a garbage run may be cut by
// the slicing, so consecutive garbage counts once); the values are the
// input's own bytes, in order; each starts with '{' or '[', ends with its
// matching close, stays within both limits and is balanced outside its
// strings; jsStringify writes valid JSON that reads back to the same text
// (JSON.stringify(JSON.parse(JSON.stringify(x))) === JSON.stringify(x)),
// the same as nlohmann's dump() where numbers and index keys (which
// JavaScript writes its own way) are absent; messageHash is 64 hex digits.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "mmtp/json.h"

using mtep::mmtp::FrameLimits;
using mtep::mmtp::FrameStatus;
using mtep::mmtp::Json;
using mtep::mmtp::JsonFramer;

namespace {

struct Event {
  FrameStatus status;
  std::string value;  // kValue only
  bool operator==(const Event& o) const { return status == o.status && value == o.value; }
};

std::vector<Event> frame(const std::vector<std::string_view>& pieces, const FrameLimits& limits) {
  JsonFramer framer(limits);
  std::vector<Event> events;
  for (std::string_view piece : pieces) {
    framer.feed(piece);
    FUZZ_CHECK(framer.pending() <= limits.max_value_bytes + piece.size());
    while (true) {
      std::string value;
      const FrameStatus s = framer.next(&value);
      FUZZ_CHECK(framer.pending() <= limits.max_value_bytes + piece.size());
      if (s == FrameStatus::kNeedMore) break;
      if (s != FrameStatus::kValue) FUZZ_CHECK(value.empty());
      if (s == FrameStatus::kGarbage && !events.empty() &&
          events.back().status == FrameStatus::kGarbage) {
        continue;
      }
      events.push_back({s, std::move(value)});
    }
  }
  return events;
}

// The framer's own promise, checked independently: one whole value.
void checkFramed(const std::string& v, const FrameLimits& limits) {
  FUZZ_CHECK(!v.empty() && v.size() <= limits.max_value_bytes);
  FUZZ_CHECK(v.front() == '{' || v.front() == '[');
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
        FUZZ_CHECK(i < v.size());
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
      FUZZ_CHECK(depth <= limits.max_depth);
    } else if (c == '}' || c == ']') {
      FUZZ_CHECK(depth > 0);
      --depth;
      FUZZ_CHECK(depth > 0 || i + 1 == v.size());  // ends at its matching close
    }
  }
  FUZZ_CHECK(depth == 0 && !in_string);
}

// No numbers anywhere and no array-index keys: JavaScript's writing and
// nlohmann's dump() (raw UTF-8, lower-case \u00xx) agree.
bool dumpComparable(const Json& v) {
  if (v.is_number()) return false;
  if (v.is_array()) {
    for (const Json& e : v) {
      if (!dumpComparable(e)) return false;
    }
  }
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string& k = it.key();
      if (!k.empty() && k.find_first_not_of("0123456789") == std::string::npos) return false;
      if (!dumpComparable(it.value())) return false;
    }
  }
  return true;
}

void checkStringify(const Json& v, bool compare_dump) {
  const std::string js = mtep::mmtp::jsStringify(v);
  const Json again = mtep::mmtp::parseJson(js);
  FUZZ_CHECK(!again.is_discarded());
  FUZZ_CHECK(mtep::mmtp::jsStringify(again) == js);
  if (compare_dump && dumpComparable(v)) {
    FUZZ_CHECK(v.dump(-1, ' ', false, Json::error_handler_t::replace) == js);
  }
  const std::string hash = mtep::mmtp::messageHash(v);
  FUZZ_CHECK(hash.size() == 64 && hash.find_first_not_of("0123456789abcdef") == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  static constexpr size_t kSizes[] = {8, 64, 512, 1 << 20};
  const FrameLimits limits{.max_value_bytes = kSizes[h & 3], .max_depth = 1 + ((h >> 2) & 31)};

  const std::vector<Event> whole = frame({in}, limits);
  const std::vector<Event> sliced = frame(mtep::fuzz::slices(in, h >> 7), limits);
  FUZZ_CHECK(whole == sliced);

  size_t at = 0;
  for (const Event& e : whole) {
    if (e.status != FrameStatus::kValue) continue;
    const size_t found = in.find(e.value, at);
    FUZZ_CHECK(found != std::string_view::npos);
    at = found + e.value.size();
    checkFramed(e.value, limits);
    const Json v = mtep::mmtp::parseJson(e.value);
    if (!v.is_discarded()) checkStringify(v, /*compare_dump=*/true);
  }

  // The parser on the raw input too (any depth: nothing here recurses
  // except the dump comparison, which is left out).
  const Json raw = mtep::mmtp::parseJson(in);
  if (!raw.is_discarded()) checkStringify(raw, /*compare_dump=*/false);
  return 0;
}
