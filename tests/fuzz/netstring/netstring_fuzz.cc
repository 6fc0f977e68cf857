// netstring_fuzz - netstring::Decoder fed the input whole and in slices.
// Invariants: both feeds agree on every message and on the error; payloads
// respect max_length; each message re-encodes and decodes to itself; splitAll
// succeeds exactly when the stream decoder ends cleanly, with the same pieces.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_slices.h"
#include "netstring/netstring.h"

using mtep::netstring::DecodeError;
using mtep::netstring::Decoder;
using mtep::netstring::DecodeState;
using mtep::netstring::Limits;

namespace {

struct Outcome {
  std::vector<std::string> messages;
  DecodeError error = DecodeError::kNone;
  bool mid = false;
};

Outcome decode(const std::vector<std::string_view>& pieces, const Limits& limits) {
  Decoder d(limits);
  Outcome o;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      const DecodeState st = d.feed(piece, &used);
      FUZZ_CHECK(used <= piece.size());
      if (st == DecodeState::kError) {
        FUZZ_CHECK(d.error() != DecodeError::kNone);
        size_t again = 1;
        FUZZ_CHECK(d.feed(piece, &again) == DecodeState::kError && again == 0);
        o.error = d.error();
        return o;
      }
      piece.remove_prefix(used);
      if (st == DecodeState::kMessage) {
        FUZZ_CHECK(d.payload().size() <= limits.max_length);
        FUZZ_CHECK(!d.midMessage());
        o.messages.push_back(d.payload());
      } else {
        FUZZ_CHECK(piece.empty());
      }
    }
  }
  o.mid = d.midMessage();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  const Limits limits{.max_length = (h & 1) != 0 ? size_t{16} : size_t{4096},
                      .skip_crlf = (h & 2) != 0};

  const Outcome whole = decode({in}, limits);
  const Outcome sliced = decode(mtep::fuzz::slices(in, h >> 2), limits);
  FUZZ_CHECK(whole.messages == sliced.messages);
  FUZZ_CHECK(whole.error == sliced.error);
  FUZZ_CHECK(whole.mid == sliced.mid);

  for (const std::string& m : whole.messages) {
    const std::string wire = mtep::netstring::encode(m);
    Decoder d(limits);
    size_t used = 0;
    FUZZ_CHECK(d.feed(wire, &used) == DecodeState::kMessage);
    FUZZ_CHECK(used == wire.size() && d.payload() == m);
  }

  std::vector<std::string_view> elements;
  DecodeError why = DecodeError::kNone;
  const bool ok = mtep::netstring::splitAll(in, limits, static_cast<size_t>(-1), &elements, &why);
  const bool clean = whole.error == DecodeError::kNone && !whole.mid;
  FUZZ_CHECK(ok == clean);
  if (ok) {
    FUZZ_CHECK(why == DecodeError::kNone);
    FUZZ_CHECK(elements.size() == whole.messages.size());
    for (size_t i = 0; i < elements.size(); ++i) FUZZ_CHECK(elements[i] == whole.messages[i]);
  } else if (whole.error != DecodeError::kNone) {
    FUZZ_CHECK(why == whole.error);
  } else {
    FUZZ_CHECK(why == DecodeError::kTrailingGarbage);
  }
  return 0;
}
