// smtp_reply_fuzz - ReplyParser fed the input whole and in slices, with
// limits derived from the input's hash.
// Invariants: both feeds agree on every reply and on failure; feed() never
// claims more bytes than given; an error sticks until reset(); a parsed
// reply has a code 200..599, 1..max_lines lines without CR, LF or NUL;
// written back as lines ("NNN-..." / "NNN ...") it parses to the same reply.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "smtp/reply.h"

using mtep::smtp::ParsedReply;
using mtep::smtp::ReplyLimits;
using mtep::smtp::ReplyParser;
using mtep::smtp::ReplyState;

namespace {

bool same(const ParsedReply& a, const ParsedReply& b) {
  return a.code == b.code && a.enhanced == b.enhanced && a.lines == b.lines;
}

struct Outcome {
  std::vector<ParsedReply> replies;
  bool failed = false;
};

Outcome parse(const std::vector<std::string_view>& pieces, const ReplyLimits& limits) {
  ReplyParser p(limits);
  Outcome o;
  for (std::string_view piece : pieces) {
    while (!piece.empty()) {
      size_t used = 0;
      const ReplyState st = p.feed(piece, &used);
      FUZZ_CHECK(used <= piece.size());
      if (st == ReplyState::kError) {
        FUZZ_CHECK(!p.error().empty());
        FUZZ_CHECK(p.feed(piece, &used) == ReplyState::kError && used == 0);
        o.failed = true;
        return o;
      }
      if (st == ReplyState::kNeedMore) FUZZ_CHECK(used == piece.size());
      piece.remove_prefix(used);
      if (st == ReplyState::kMessage) o.replies.push_back(p.reply());
    }
  }
  return o;
}

void checkReply(const ParsedReply& r, const ReplyLimits& limits) {
  FUZZ_CHECK(r.code >= 200 && r.code <= 599);
  FUZZ_CHECK(!r.lines.empty() && r.lines.size() <= limits.max_lines);
  for (const std::string& line : r.lines) {
    FUZZ_CHECK(line.find_first_of(std::string("\r\n\0", 3)) == std::string::npos);
  }
  if (r.enhanced) FUZZ_CHECK(r.enhanced->cls == r.code / 100);
  const std::string one = r.toReply().toString();
  FUZZ_CHECK(one.find_first_of(std::string("\r\n\0", 3)) == std::string::npos);

  // Written back, it parses to the same reply (generous limits: the
  // enhanced code makes the first line longer again).
  std::string wire;
  for (size_t i = 0; i < r.lines.size(); ++i) {
    wire += std::to_string(r.code);
    wire += i + 1 == r.lines.size() ? ' ' : '-';
    if (i == 0 && r.enhanced) {
      wire += r.enhanced->toString();
      wire += ' ';
    }
    wire += r.lines[i];
    wire += "\r\n";
  }
  ReplyParser again(ReplyLimits{.max_line = wire.size() + 1, .max_lines = r.lines.size()});
  size_t used = 0;
  FUZZ_CHECK(again.feed(wire, &used) == ReplyState::kMessage);
  FUZZ_CHECK(used == wire.size());
  FUZZ_CHECK(same(again.reply(), r));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  const ReplyLimits limits{.max_line = 8 + static_cast<size_t>(h % 600),
                           .max_lines = 1 + static_cast<size_t>((h >> 16) % 30)};

  const Outcome whole = parse({in}, limits);
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < in.size(); ++i) bytes.push_back(in.substr(i, 1));
  const Outcome trickled = parse(bytes, limits);
  const Outcome sliced = parse(mtep::fuzz::slices(in, h), limits);

  for (const Outcome* o : {&trickled, &sliced}) {
    FUZZ_CHECK(o->failed == whole.failed);
    FUZZ_CHECK(o->replies.size() == whole.replies.size());
    for (size_t i = 0; i < whole.replies.size(); ++i) {
      FUZZ_CHECK(same(o->replies[i], whole.replies[i]));
    }
  }
  for (const ParsedReply& r : whole.replies) checkReply(r, limits);
  return 0;
}
