// mtep_request_fuzz - ServerSession fed the input whole and in slices, with a
// fake checker whose answer (verdict, code or none, text = the token, which
// may hold CR/LF) depends on the token.
// Invariants: the output is always a sequence of complete netstrings, each a
// valid response starting with K, Z, D or I, D/Z/I with a code and no
// control characters; one decision per reply, with printable, bounded
// command and sender; nothing after kClose; commands answered never exceed
// max_commands; whole and sliced feeds give the same bytes and the same end.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "mtep/server_session.h"

using mtep::proto::CheckResult;
using mtep::proto::Decision;
using mtep::proto::FarewellRota;
using mtep::proto::Query;
using mtep::proto::Response;
using mtep::proto::ServerSession;
using mtep::proto::SessionLimits;
using mtep::proto::Verdict;

namespace {

class FakeChecker final : public mtep::proto::TokenChecker {
 public:
  CheckResult check(const Query& q) override {
    FUZZ_CHECK(!q.token.empty());
    FUZZ_CHECK(q.has_sender || q.sender.empty());
    const auto first = static_cast<unsigned char>(q.token[0]);
    static constexpr Verdict kVerdicts[] = {Verdict::kYes, Verdict::kTemporary, Verdict::kNo,
                                            Verdict::kInfo};
    Response r{kVerdicts[first % 4], std::nullopt, std::string(q.token)};
    if ((first & 4) == 0) {
      r.code = mtep::smtp::EnhancedStatus{mtep::proto::impliedClass(r.verdict), 7, 8};
    }
    return {r, "fuzz"};
  }
};

bool printable(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

// Checks that `out` is whole valid replies; returns how many.
size_t checkReplies(std::string_view out) {
  mtep::proto::ResponseDecoder decoder(1 << 20);
  size_t n = 0;
  while (!out.empty()) {
    size_t used = 0;
    FUZZ_CHECK(out[0] >= '1' && out[0] <= '9');  // no CR/LF, no empty reply
    FUZZ_CHECK(decoder.feed(out, &used) == mtep::netstring::DecodeState::kMessage);
    const Response& r = decoder.response();
    FUZZ_CHECK(r.verdict == Verdict::kYes || r.code.has_value());
    for (const char c : r.text) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    out.remove_prefix(used);
    ++n;
  }
  return n;
}

struct Outcome {
  std::string out;
  bool closed = false;
  size_t decisions = 0;
  uint32_t answered = 0;
};

Outcome run(const std::vector<std::string_view>& pieces, const SessionLimits& limits, int end) {
  FakeChecker checker;
  FarewellRota rota;
  Outcome o;
  ServerSession session(limits, checker, rota, [&o](const Decision& d) {
    ++o.decisions;
    FUZZ_CHECK(d.command.size() <= mtep::proto::kMaxLoggedCommand && printable(d.command));
    FUZZ_CHECK(d.sender.size() <= mtep::proto::kMaxLoggedSender && printable(d.sender));
    FUZZ_CHECK(!d.reason.empty());
  });
  for (const std::string_view piece : pieces) {
    if (session.feed(piece, &o.out) == ServerSession::Action::kClose) {
      o.closed = true;
      break;
    }
    FUZZ_CHECK(checkReplies(o.out) == o.decisions);
  }
  if (!o.closed) {
    if (end == 1) o.closed = session.onTimeout(&o.out) == ServerSession::Action::kClose;
    if (end == 2) o.closed = session.onEof(&o.out) == ServerSession::Action::kClose;
  }
  if (o.closed) {
    const size_t before = o.out.size();
    FUZZ_CHECK(session.feed("4:1:Q,,", &o.out) == ServerSession::Action::kClose);
    FUZZ_CHECK(o.out.size() == before);
  }
  FUZZ_CHECK(checkReplies(o.out) == o.decisions);
  o.answered = session.commandsAnswered();
  FUZZ_CHECK(o.answered <= limits.max_commands || (limits.max_commands == 0 && o.answered <= 1));
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  SessionLimits limits;
  limits.request.max_request_size = (h & 1) != 0 ? 64 : 4096;
  limits.request.max_elements = (h & 2) != 0 ? 3 : 16;
  limits.max_commands = (h & 4) != 0 ? 3 : 1000;
  const int end = static_cast<int>((h >> 3) % 3);

  const Outcome whole = run({in}, limits, end);
  const Outcome sliced = run(mtep::fuzz::slices(in, h >> 5), limits, end);
  FUZZ_CHECK(whole.out == sliced.out);
  FUZZ_CHECK(whole.closed == sliced.closed);
  FUZZ_CHECK(whole.answered == sliced.answered);
  return 0;
}
