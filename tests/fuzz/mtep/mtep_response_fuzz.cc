// mtep_response_fuzz - ResponseDecoder fed the input whole and in slices, and
// parseResponsePayload on the raw input.
// Invariants: both feeds agree on every response and on failure; a parsed
// response has no control characters in its text, and encoding it then
// parsing it again gives the same response.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "mtep/protocol.h"

using mtep::netstring::DecodeState;
using mtep::proto::Response;

namespace {

bool same(const Response& a, const Response& b) {
  return a.verdict == b.verdict && a.code == b.code && a.text == b.text;
}

struct Outcome {
  std::vector<Response> responses;
  bool failed = false;
};

Outcome decode(const std::vector<std::string_view>& pieces, size_t max_size) {
  mtep::proto::ResponseDecoder d(max_size);
  Outcome o;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      const DecodeState st = d.feed(piece, &used);
      FUZZ_CHECK(used <= piece.size());
      if (st == DecodeState::kError) {
        FUZZ_CHECK(!d.error().empty());
        FUZZ_CHECK(d.feed(piece, &used) == DecodeState::kError && used == 0);
        o.failed = true;
        return o;
      }
      piece.remove_prefix(used);
      if (st == DecodeState::kMessage) o.responses.push_back(d.response());
    }
  }
  return o;
}

void checkParsed(std::string_view payload) {
  auto parsed = mtep::proto::parseResponsePayload(payload);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().kind() == mtep::ErrorKind::kProtocol);
    return;
  }
  for (const char c : parsed->text) {
    FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  }
  const std::string again = parsed->payload();
  auto reparsed = mtep::proto::parseResponsePayload(again);
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(same(*parsed, *reparsed));
  FUZZ_CHECK(reparsed->payload() == again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  const size_t max_size = (h & 1) != 0 ? 32 : 4096;

  checkParsed(in);

  const Outcome whole = decode({in}, max_size);
  const Outcome sliced = decode(mtep::fuzz::slices(in, h >> 1), max_size);
  FUZZ_CHECK(whole.failed == sliced.failed);
  FUZZ_CHECK(whole.responses.size() == sliced.responses.size());
  for (size_t i = 0; i < whole.responses.size(); ++i) {
    FUZZ_CHECK(same(whole.responses[i], sliced.responses[i]));
    checkParsed(whole.responses[i].payload());
  }
  return 0;
}
