#pragma once
// NAME
//   session_harness.h - drives a ServerSession with a fake checker
// DESCRIPTION
//   runSession() feeds one slicing of the input to a fresh session, records
//   its output, every decision and every query the fake checker saw, and
//   checks the invariants every run must keep: replies are complete
//   netstrings, one decision per reply with the same payload, nothing is
//   written after kClose.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mtep/server_session.h"
#include "unit/mtep/seed.h"
#include "unit/netstring/slicing.h"

namespace mtep::proto::harness {

// Answers by token: "unvanquished" is the seed's unknown token.
class FakeChecker final : public TokenChecker {
 public:
  struct Seen {
    std::string token, sender, recipient;
    bool has_sender;
  };
  std::vector<Seen> seen;

  CheckResult check(const Query& q) override {
    seen.push_back(
        {std::string(q.token), std::string(q.sender), std::string(q.recipient), q.has_sender});
    if (q.token == "unvanquished") {
      return {{Verdict::kNo, smtp::EnhancedStatus{5, 7, 8}, seed::kDenyText}, "unknown"};
    }
    if (q.token == "good") {
      return {{Verdict::kYes, smtp::EnhancedStatus{2, 7, 0}, "I know that token."}, "valid"};
    }
    if (q.token == "nocode") return {{Verdict::kNo, std::nullopt, ""}, "bare"};
    if (q.token == "messy") {
      return {{Verdict::kNo, smtp::EnhancedStatus{5, 7, 8}, "line\r\nbreak"}, "messy"};
    }
    return {{Verdict::kTemporary, smtp::EnhancedStatus{4, 3, 0}, "Ask again later."}, "unsure"};
  }
};

struct Logged {
  std::string command, payload, reason, sender;
};

enum class End { kNothing, kTimeout, kEof, kLifetime };

struct SessionRun {
  std::string out;
  bool closed = false;
  std::vector<Logged> log;
  std::vector<FakeChecker::Seen> seen;
  std::vector<Response> replies;
  uint32_t answered = 0;
  // "D5.5.2" for each reply: verdict and code, the part a test pins down.
  std::vector<std::string> heads() const {
    std::vector<std::string> h;
    for (const Response& r : replies) {
      const std::string p = r.payload();
      h.push_back(p.substr(0, p.find(' ')));
    }
    return h;
  }
};

inline SessionRun runSession(const mtep::testing::Slicing& s, const SessionLimits& limits = {},
                             End end = End::kNothing, FarewellRota* shared_rota = nullptr) {
  FakeChecker checker;
  FarewellRota own_rota;
  FarewellRota& rota = shared_rota != nullptr ? *shared_rota : own_rota;
  SessionRun run;
  ServerSession session(limits, checker, rota, [&run](const Decision& d) {
    run.log.push_back({std::string(d.command), d.response.payload(), std::string(d.reason),
                       std::string(d.sender)});
  });
  for (const std::string_view piece : s.pieces) {
    if (session.feed(piece, &run.out) == ServerSession::Action::kClose) {
      run.closed = true;
      break;
    }
  }
  if (!run.closed && end == End::kTimeout) {
    run.closed = session.onTimeout(&run.out) == ServerSession::Action::kClose;
  } else if (!run.closed && end == End::kLifetime) {
    run.closed = session.onLifetimeOver(&run.out) == ServerSession::Action::kClose;
  } else if (!run.closed && end == End::kEof) {
    run.closed = session.onEof(&run.out) == ServerSession::Action::kClose;
  }
  if (run.closed) {  // a closed session stays closed and silent
    const size_t before = run.out.size();
    EXPECT_EQ(session.feed(seed::kQuit, &run.out), ServerSession::Action::kClose);
    EXPECT_EQ(session.onTimeout(&run.out), ServerSession::Action::kClose);
    EXPECT_EQ(run.out.size(), before);
  }
  run.answered = session.commandsAnswered();
  run.seen = checker.seen;

  ResponseDecoder decoder;
  std::string_view rest = run.out;
  while (!rest.empty()) {
    size_t used = 0;
    const auto st = decoder.feed(rest, &used);
    EXPECT_EQ(st, netstring::DecodeState::kMessage) << "output is not whole replies: " << run.out;
    if (st != netstring::DecodeState::kMessage) break;
    rest.remove_prefix(used);
    run.replies.push_back(decoder.response());
  }
  EXPECT_EQ(run.log.size(), run.replies.size()) << "one decision per reply";
  for (size_t i = 0; i < run.log.size() && i < run.replies.size(); ++i) {
    EXPECT_EQ(run.log[i].payload, run.replies[i].payload()) << "decision " << i;
  }
  return run;
}

}  // namespace mtep::proto::harness
