#include "mtep/server_session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/mtep/seed.h"
#include "unit/mtep/session_harness.h"
#include "unit/netstring/slicing.h"

namespace mtep::proto {
namespace {

using harness::End;
using harness::runSession;
using harness::SessionRun;
using mtep::testing::allSlicings;
using mtep::testing::Slicing;
using Heads = std::vector<std::string>;

// A request netstring built from its elements, CR/LF-free.
std::string request(const std::vector<std::string>& elements) {
  std::string inner;
  for (const auto& e : elements) netstring::encode(e, &inner);
  return netstring::encode(inner);
}

TEST(MtepServerSession, SeedExchangeIsByteExact) {
  const std::string in = seed::kQuery + seed::kQuit;
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s);
    EXPECT_EQ(r.out, seed::kDenyResponse + seed::kQuitResponse);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.answered, 2u);
    ASSERT_EQ(r.seen.size(), 1u);
    EXPECT_EQ(r.seen[0].token, "unvanquished");
    EXPECT_FALSE(r.seen[0].has_sender);
    ASSERT_EQ(r.log.size(), 2u);
    EXPECT_EQ(r.log[0].command, "?");
    EXPECT_EQ(r.log[0].reason, "unknown");
    EXPECT_EQ(r.log[1].command, "Q");
    EXPECT_EQ(r.log[1].reason, "quit");
  }
}

TEST(MtepServerSession, QuitClosesAndDropsWhatFollows) {
  const std::string in = seed::kQuit + seed::kQuery;
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s);
    EXPECT_EQ(r.out, seed::kQuitResponse);
    EXPECT_TRUE(r.closed);
    EXPECT_TRUE(r.seen.empty());
  }
}

TEST(MtepServerSession, EachSessionTakesTheNextFarewell) {
  FarewellRota rota;
  const auto all = FarewellRota::all();
  for (size_t i = 0; i < all.size() + 1; ++i) {
    const SessionRun r = runSession({"whole", {seed::kQuit}}, {}, End::kNothing, &rota);
    ASSERT_EQ(r.replies.size(), 1u);
    EXPECT_EQ(r.replies[0].text, "CYA " + std::string(all[i % all.size()]));
  }
}

TEST(MtepServerSession, PipelinedRequestsAreAnsweredInOrder) {
  const std::string in = encodeQuery("good") + encodeQuery("unvanquished") + "\r\n" +
                         encodeQuery("maybe") + seed::kQuit;
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s);
    EXPECT_EQ(r.heads(), (Heads{"K2.7.0", "D5.7.8", "Z4.3.0", "K2.3.0"}));
    EXPECT_TRUE(r.closed);
  }
}

TEST(MtepServerSession, CrLfBetweenRequestsIsIgnored) {
  const std::string in = "\r\n" + seed::kQuery + "\r\n\n\r" + seed::kQuit + "\r\n";
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s);
    EXPECT_EQ(r.out, seed::kDenyResponse + seed::kQuitResponse);
  }
}

TEST(MtepServerSession, PassesSenderAndRecipientAndIgnoresExtraElements) {
  const std::string in = encodeQuery("good", "a@b.example", "c@d.example") +
                         encodeQuery("good", "a@b.example") +
                         request({"?", "good", "x@y.example", "z@w.example", "extra", "more"});
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s);
    EXPECT_EQ(r.heads(), (Heads{"K2.7.0", "K2.7.0", "K2.7.0"}));
    EXPECT_FALSE(r.closed);
    ASSERT_EQ(r.seen.size(), 3u);
    EXPECT_EQ(r.seen[0].sender, "a@b.example");
    EXPECT_EQ(r.seen[0].recipient, "c@d.example");
    EXPECT_TRUE(r.seen[0].has_sender);
    EXPECT_EQ(r.seen[1].recipient, "");
    EXPECT_EQ(r.seen[2].sender, "x@y.example");
    EXPECT_EQ(r.seen[2].recipient, "z@w.example");
    EXPECT_EQ(r.log[0].sender, "a@b.example");
  }
}

TEST(MtepServerSession, EmptySenderElementCountsAsSent) {
  const SessionRun r = runSession({"whole", {encodeQuery("good", "", "c@d.example")}});
  ASSERT_EQ(r.seen.size(), 1u);
  EXPECT_TRUE(r.seen[0].has_sender);
  EXPECT_EQ(r.seen[0].sender, "");
}

// Cases the session answers with I and then keeps going: the Q after them
// must still be answered.
TEST(MtepServerSession, InformationalRepliesKeepTheConversation) {
  struct Case {
    const char* name;
    std::string request;
    std::string head;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"unknown command", request({"X"}), "I5.5.1", "unknown-command"},
      {"lower-case quit", request({"q"}), "I5.5.1", "unknown-command"},
      {"empty command", request({""}), "I5.5.1", "unknown-command"},
      {"query without token", request({"?"}), "I5.5.2", "missing-token"},
      {"query with empty token", request({"?", ""}), "I5.5.2", "missing-token"},
      {"empty request", "0:,", "I5.5.2", "empty-request"},
      {"request of only CRLF", "2:\r\n,", "I5.5.2", "empty-request"},
  };
  for (const Case& c : cases) {
    const std::string in = c.request + seed::kQuit;
    for (const Slicing& s : allSlicings(in)) {
      SCOPED_TRACE(std::string(c.name) + " / " + s.name);
      const SessionRun r = runSession(s);
      EXPECT_EQ(r.heads(), (Heads{c.head, "K2.3.0"}));
      ASSERT_EQ(r.log.size(), 2u);
      EXPECT_EQ(r.log[0].reason, c.reason);
      EXPECT_FALSE(r.replies[0].text.empty());
      EXPECT_TRUE(r.seen.empty());
    }
  }
}

// Cases the session answers with D and a close. A good query goes first so
// the earlier answer must survive.
TEST(MtepServerSession, FramingAndLimitErrorsReplyThenClose) {
  struct Case {
    const char* name;
    std::string bad;
    SessionLimits limits;
    std::string head;
    std::string reason;
  };
  const SessionLimits small{.request = {.max_request_size = 64, .max_elements = 3},
                            .max_commands = 1000};
  const std::vector<Case> cases = {
      {"leading zero", "01:x,", {}, "D5.5.2", "bad-framing"},
      {"letter for a length", "x", {}, "D5.5.2", "bad-framing"},
      {"empty length", ":,", {}, "D5.5.2", "bad-framing"},
      {"missing comma", "4:1:Q,X", {}, "D5.5.2", "bad-framing"},
      {"inner missing comma", "3:1:Q,", {}, "D5.5.2", "bad-framing"},
      {"inner leading zero", "5:01:Q,,", {}, "D5.5.2", "bad-framing"},
      {"inner garbage", "5:1:Q,x,", {}, "D5.5.2", "bad-framing"},
      {"over the size limit", "65:", small, "D5.3.4", "request-too-big"},
      {"eleven digits", "12345678901:", {}, "D5.3.4", "request-too-big"},
      {"too many elements", request({"?", "good", "a@b.example", "c@d.example"}), small, "D5.3.4",
       "too-many-elements"},
  };
  for (const Case& c : cases) {
    const std::string in = encodeQuery("good") + c.bad + seed::kQuit;
    for (const Slicing& s : allSlicings(in)) {
      SCOPED_TRACE(std::string(c.name) + " / " + s.name);
      const SessionRun r = runSession(s, c.limits);
      EXPECT_EQ(r.heads(), (Heads{"K2.7.0", c.head}));
      EXPECT_TRUE(r.closed);
      ASSERT_EQ(r.log.size(), 2u);
      EXPECT_EQ(r.log[1].reason, c.reason);
      EXPECT_EQ(r.log[1].command, "");
      EXPECT_FALSE(r.replies[1].text.empty());
    }
  }
}

TEST(MtepServerSession, OversizedLengthClosesBeforeAnyPayloadArrives) {
  const SessionRun r = runSession({"whole", {"4097"}});
  EXPECT_EQ(r.heads(), Heads{"D5.3.4"});
  EXPECT_TRUE(r.closed);
  const SessionRun ok = runSession({"whole", {"4096:"}});
  EXPECT_TRUE(ok.out.empty());
  EXPECT_FALSE(ok.closed);
}

TEST(MtepServerSession, ClosesAfterAnsweringMaxCommands) {
  const std::string in = encodeQuery("good") + request({"X"}) + encodeQuery("good");
  const SessionLimits limits{.request = {}, .max_commands = 2};
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s, limits);
    EXPECT_EQ(r.heads(), (Heads{"K2.7.0", "I5.5.1"}));
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.answered, 2u);
    EXPECT_EQ(r.seen.size(), 1u);
  }
}

TEST(MtepServerSession, TimeoutRepliesI442ThenCloses) {
  const std::string in = encodeQuery("good") + "22:1:?";
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s, {}, End::kTimeout);
    EXPECT_EQ(r.heads(), (Heads{"K2.7.0", "I4.4.2"}));
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.log[1].reason, "timeout");
  }
}

TEST(MtepServerSession, LifetimeOverRepliesI442SayingSoThenCloses) {
  const std::string in = encodeQuery("good");
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s, {}, End::kLifetime);
    EXPECT_EQ(r.heads(), (Heads{"K2.7.0", "I4.4.2"}));
    EXPECT_TRUE(r.closed);
    ASSERT_EQ(r.log.size(), 2u);
    EXPECT_EQ(r.log[1].reason, "lifetime");
    EXPECT_NE(r.out.find("open as long as I allow"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("No request arrived"), std::string::npos) << r.out;
  }
}

TEST(MtepServerSession, EofClosesSilentlyAndDropsAPartialRequest) {
  const std::string in = encodeQuery("good") + "22:1:?,\r\n12:unvanq";
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s, {}, End::kEof);
    EXPECT_EQ(r.heads(), Heads{"K2.7.0"});
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(r.seen.size(), 1u);
  }
}

TEST(MtepServerSession, LoggedCommandAndSenderAreTruncatedAndPrintable) {
  std::string command =
      "\x01"
      "BADCMD\xff";
  command += std::string(40, 'x');
  std::string sender = "evil\r\nQUEUEID: action=accept@x";
  sender += std::string(300, 'y');
  const std::string in = request({command}) + request({"?", "good", sender});
  const SessionRun r = runSession({"whole", {in}});
  ASSERT_EQ(r.log.size(), 2u);
  EXPECT_EQ(r.log[0].command.size(), kMaxLoggedCommand);
  EXPECT_EQ(r.log[0].command.substr(0, 9), "?BADCMD?x");
  EXPECT_EQ(r.log[1].sender.size(), kMaxLoggedSender);
  EXPECT_EQ(r.log[1].sender.substr(0, 8), "evil??QU");
  ASSERT_EQ(r.seen.size(), 1u);
  EXPECT_EQ(r.seen[0].sender, sender) << "the checker sees the sender as sent";
}

TEST(MtepServerSession, CheckerAnswersAreMadeSafeToSend) {
  const std::string in = encodeQuery("nocode") + encodeQuery("messy");
  for (const Slicing& s : allSlicings(in)) {
    SCOPED_TRACE(s.name);
    const SessionRun r = runSession(s);
    EXPECT_EQ(r.heads(), (Heads{"D5.0.0", "D5.7.8"}));
    ASSERT_EQ(r.replies.size(), 2u);
    EXPECT_EQ(r.replies[1].text, "line  break");
    EXPECT_EQ(r.out.find('\n'), std::string::npos);
  }
}

TEST(MtepServerSession, MaxCommandsZeroStillAnswersOnce) {
  const SessionRun r = runSession({"whole", {encodeQuery("good") + encodeQuery("good")}},
                                  {.request = {}, .max_commands = 0});
  EXPECT_EQ(r.heads(), Heads{"K2.7.0"});
  EXPECT_TRUE(r.closed);
}

TEST(MtepServerSession, WorksWithoutASink) {
  harness::FakeChecker checker;
  FarewellRota rota;
  ServerSession session({}, checker, rota);
  std::string out;
  EXPECT_EQ(session.feed(seed::kQuery + seed::kQuit, &out), ServerSession::Action::kClose);
  EXPECT_EQ(out, seed::kDenyResponse + seed::kQuitResponse);
}

}  // namespace
}  // namespace mtep::proto
