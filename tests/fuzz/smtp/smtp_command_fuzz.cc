// libFuzzer target for the server side of SMTP (smtp/command.h): LineReader,
// parseCommand, splitPathArg and DataReader on the same bytes, sliced and
// limited as fuzz_slices.h derives from the input. Checked: every feed()
// consumes at most its input and makes progress, a line never exceeds its
// limit nor holds an LF, a parsed verb is 1..16 upper-case letters, the
// message never exceeds max_size, and the results do not depend on the
// slicing (compared with the input fed whole).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "smtp/command.h"

namespace {

using mtep::fuzz::asView;
using mtep::fuzz::hashBytes;
using mtep::fuzz::slices;
using namespace mtep::smtp;

std::vector<std::string> lines(const std::vector<std::string_view>& pieces, size_t max_line) {
  LineReader r({.max_line = max_line});
  std::vector<std::string> out;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      const LineState st = r.feed(piece, &used);
      FUZZ_CHECK(used <= piece.size());
      FUZZ_CHECK(used > 0);
      piece.remove_prefix(used);
      if (st == LineState::kTooLong) out.push_back("\n too long");
      if (st != LineState::kLine) continue;
      const std::string& line = r.line();
      FUZZ_CHECK(line.size() + 1 <= max_line);
      FUZZ_CHECK(line.find('\n') == std::string::npos);
      out.push_back(line);
      auto c = parseCommand(line);
      if (c) {
        FUZZ_CHECK(!c->verb.empty() && c->verb.size() <= 16);
        for (const char ch : c->verb) FUZZ_CHECK(ch >= 'A' && ch <= 'Z');
        FUZZ_CHECK(c->args.empty() || c->args.back() != ' ');
        auto p = splitPathArg(c->args, c->verb == "RCPT" ? "TO:" : "FROM:");
        if (p) FUZZ_CHECK(p->path.size() < c->args.size());
      }
    }
  }
  return out;
}

std::vector<std::string> data(const std::vector<std::string_view>& pieces, DataLimits limits) {
  DataReader r(limits);
  std::vector<std::string> out;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      const DataState st = r.feed(piece, &used);
      FUZZ_CHECK(used <= piece.size());
      FUZZ_CHECK(used > 0);
      piece.remove_prefix(used);
      FUZZ_CHECK(r.message().size() <= limits.max_size);
      if (st == DataState::kMessage) out.push_back(r.message());
      if (st == DataState::kTooBig) out.push_back("\n too big");
      if (st == DataState::kLineTooLong) out.push_back("\n line too long");
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view in = asView(bytes, size);
  const uint64_t h = hashBytes(in);
  const size_t max_line = 4 + static_cast<size_t>(h % 200);
  const DataLimits limits{.max_size = 1 + static_cast<size_t>((h >> 8) % 4096),
                          .max_line = 3 + static_cast<size_t>((h >> 20) % 300)};
  const std::vector<std::string_view> whole{in};
  const std::vector<std::string_view> sliced = slices(in, h);
  FUZZ_CHECK(lines(whole, max_line) == lines(sliced, max_line));
  FUZZ_CHECK(data(whole, limits) == data(sliced, limits));
  return 0;
}
