// RelaySession: the relay's SMTP server side, driven with whole and
// trickled input; the next hop is a real NextHop over a scripted peer, its
// jobs run inline as a worker would run them.

#include "relay/session.h"

#include <gtest/gtest.h>

#include <random>

#include "fakes.h"

namespace mtep::relay {
namespace {

using testing::FakeLinks;
using testing::FakePins;
using testing::kKeyOne;
using testing::kKeyTwo;
using testing::kOnionA;
using testing::kOnionB;
using testing::PeerScript;

class RelaySessionTest : public ::testing::Test {
 protected:
  RelaySessionTest() : links_(peer_) {}

  void SetUp() override { restart(); }

  void restart(uint64_t max_size = 1000) {
    SessionLimits limits;
    limits.hostname = "relay.test";
    limits.max_message_size = max_size;
    limits.max_line = 512;
    HopSettings hs;
    hs.helo_name = "relay.test";
    hop_ = std::make_shared<NextHop>(hs, links_, pins_);
    session_ = std::make_unique<RelaySession>(limits, hop_, "127.0.0.1:40000");
    greeting_.clear();
    session_->start(&greeting_);
    closed_ = false;
  }

  // Feeds `in` in pieces of at most `chunk` bytes, runs every job handed
  // out, and returns all output.
  std::string talk(std::string_view in, size_t chunk = SIZE_MAX) {
    std::string out;
    std::string rest(in);
    while (!rest.empty() && !closed_) {
      size_t n = std::min(chunk, rest.size());
      std::string piece = rest.substr(0, n);
      rest.erase(0, n);
      auto st = session_->feed(piece, &out);
      while (st.action == RelaySession::Action::kWork) {
        std::string kept = piece.substr(piece.size() - st.unconsumed);
        RelaySession::Job job = session_->takeWork();
        requireJob(job);
        HopReply r = job();
        st = session_->complete(r, &out);
        if (st.action == RelaySession::Action::kContinue && !kept.empty()) {
          piece = kept;
          st = session_->feed(piece, &out);
        }
      }
      if (st.action == RelaySession::Action::kClose) closed_ = true;
    }
    return out;
  }
  static void requireJob(const RelaySession::Job& job) { ASSERT_TRUE(job != nullptr); }

  static std::string envelope(const std::string& to) {
    return "EHLO postfix.test\r\nMAIL FROM:<alice@example.org> SIZE=20 BODY=8BITMIME\r\nRCPT TO:<" +
           to + ">\r\n";
  }
  static bool has(const std::string& out, const std::string& what) {
    return out.find(what) != std::string::npos;
  }

  PeerScript peer_;
  FakeLinks links_;
  FakePins pins_;
  std::shared_ptr<NextHop> hop_;
  std::unique_ptr<RelaySession> session_;
  std::string greeting_;
  bool closed_ = false;
};

TEST_F(RelaySessionTest, GreetingAndEhloOfferSizeAnd8bitmimeOnly) {
  EXPECT_EQ(greeting_, "220 2.0.0 relay.test ESMTP mtepd onion relay\r\n");
  std::string out = talk("EHLO postfix.test\r\n");
  EXPECT_EQ(out, "250-relay.test\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
}

TEST_F(RelaySessionTest, DeliversAndStripsFingerprintLabelForThePeer) {
  std::string label = kKeyOne.substr(0, 20);
  std::string out = talk(envelope("bob@" + label + "." + kOnionA) +
                         "DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(has(out, "250 2.1.5 " + kOnionA + " said: Ok\r\n")) << out;
  EXPECT_TRUE(has(out, "354 End data")) << out;
  EXPECT_TRUE(has(out, "250 2.0.0 " + kOnionA + " said: Ok: queued as 4ABC\r\n")) << out;
  EXPECT_TRUE(has(out, "221 2.3.0 Bye\r\n")) << out;
  EXPECT_TRUE(closed_);
  ASSERT_EQ(links_.dialed.size(), 1u);
  EXPECT_EQ(links_.dialed[0], kOnionA + ":25");
  EXPECT_EQ(peer_.commands.at(4), "RCPT TO:<bob@" + kOnionA + ">");
  ASSERT_EQ(peer_.messages.size(), 1u);
  EXPECT_EQ(peer_.messages[0], "Subject: x\r\n\r\n.dot\r\n");
  EXPECT_EQ(pins_.pins[kOnionA], kKeyOne);
}

TEST_F(RelaySessionTest, TrickledInputGivesTheSameConversation) {
  std::string script = envelope("bob@" + kOnionA) + "RCPT TO:<carol@" + kOnionA +
                       ">\r\nDATA\r\nhello\r\n.\r\nNOOP\r\nQUIT\r\n";
  std::string whole = talk(script);
  std::vector<std::string> whole_cmds = peer_.commands;
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{7}}) {
    peer_ = PeerScript{};
    pins_.pins.clear();
    links_.dialed.clear();
    restart();
    EXPECT_EQ(talk(script, chunk), whole) << "chunk " << chunk;
    EXPECT_EQ(peer_.commands, whole_cmds) << "chunk " << chunk;
  }
}

TEST_F(RelaySessionTest, PipelinedCommandsAfterDataEndAreKept) {
  talk(envelope("bob@" + kOnionA) + "DATA\r\n");
  std::string out = talk("body\r\n.\r\nRSET\r\nNOOP\r\n");
  EXPECT_EQ(out, "250 2.0.0 " + kOnionA + " said: Ok: queued as 4ABC\r\n250 2.0.0 Ok\r\n"
                 "250 2.0.0 Ok\r\n");
}

TEST_F(RelaySessionTest, NonOverlayRecipientRefusedNotAnOpenRelay) {
  std::string out = talk(envelope("bob@example.org"));
  EXPECT_TRUE(has(out, "550 5.1.2 <bob@example.org>: not an overlay address")) << out;
  EXPECT_TRUE(links_.dialed.empty());
  out = talk("RCPT TO:<bob@[127.0.0.1]>\r\n");
  EXPECT_TRUE(has(out, "550 5.1.2 ")) << out;
  EXPECT_TRUE(links_.dialed.empty());
}

TEST_F(RelaySessionTest, BadOnionChecksumRefusedWithTheReason) {
  std::string bad = kOnionA;
  bad[10] = bad[10] == 'a' ? 'b' : 'a';
  std::string out = talk(envelope("bob@" + bad));
  EXPECT_TRUE(has(out, "550 5.1.2 <bob@" + bad + ">: bad overlay address: ")) << out;
  EXPECT_TRUE(has(out, "checksum")) << out;
  EXPECT_TRUE(links_.dialed.empty());
}

TEST_F(RelaySessionTest, BadFingerprintLabelRefused) {
  std::string out = talk(envelope("bob@abcdefghijklmnop1." + kOnionA));
  EXPECT_TRUE(has(out, "550 5.1.2 ")) << out;
  EXPECT_TRUE(links_.dialed.empty());
}

TEST_F(RelaySessionTest, SecondDestinationInOneTransactionIs452) {
  std::string out = talk(envelope("bob@" + kOnionA) + "RCPT TO:<carol@" + kOnionB + ">\r\n");
  EXPECT_TRUE(has(out, "452 4.5.3 <carol@" + kOnionB + ">: one destination per transaction"))
      << out;
  EXPECT_EQ(links_.dialed.size(), 1u);
}

TEST_F(RelaySessionTest, WrongFingerprintIsPermanentAndNothingDelivered) {
  std::string out = talk(envelope("bob@" + kKeyTwo.substr(0, 16) + "." + kOnionA) + "DATA\r\n");
  EXPECT_TRUE(has(out, "550 5.7.0 TLS key of " + kOnionA + " does not match")) << out;
  EXPECT_TRUE(has(out, kKeyOne)) << out;
  EXPECT_FALSE(has(out, "354")) << out;
  EXPECT_TRUE(peer_.messages.empty());
}

TEST_F(RelaySessionTest, ProxyDownDefersEveryRecipientWithOneAttempt) {
  links_.fail = true;
  std::string out = talk(envelope("bob@" + kOnionA) + "RCPT TO:<carol@" + kOnionA +
                         ">\r\nDATA\r\n");
  EXPECT_EQ(links_.dialed.size(), 1u);
  size_t first = out.find("451 4.4.1 cannot reach " + kOnionA);
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_NE(out.find("451 4.4.1 cannot reach", first + 1), std::string::npos) << out;
  EXPECT_FALSE(has(out, "354")) << out;
}

TEST_F(RelaySessionTest, PeerRefusingDataMeansNo354FromUs) {
  peer_.data_code = 554;
  std::string out = talk(envelope("bob@" + kOnionA) + "DATA\r\n");
  EXPECT_FALSE(has(out, "354")) << out;
  EXPECT_TRUE(has(out, "554 5.0.0 " + kOnionA + " said: go ahead")) << out;
}

TEST_F(RelaySessionTest, MessageTooBigDropsPeerWithoutFinishingIt) {
  restart(100);
  std::string out = talk(envelope("bob@" + kOnionA) + "DATA\r\n" + std::string(300, 'x') +
                         "\r\n.\r\n");
  EXPECT_TRUE(has(out, "552 5.3.4 ")) << out;
  EXPECT_TRUE(peer_.messages.empty());
  EXPECT_FALSE(hop_->connected());
  EXPECT_EQ(peer_.quits, 0) << "dropped, not quit: the peer saw no final dot";
}

TEST_F(RelaySessionTest, ClientLeavingDuringDataDropsPeer) {
  talk(envelope("bob@" + kOnionA) + "DATA\r\nhalf a mess");
  ASSERT_TRUE(hop_->connected());
  std::string out;
  auto st = session_->onEof(&out);
  EXPECT_EQ(st.action, RelaySession::Action::kClose);
  EXPECT_FALSE(hop_->connected());
  EXPECT_TRUE(peer_.messages.empty());
}

TEST_F(RelaySessionTest, TimeoutAnswers421AndDropsPeer) {
  talk(envelope("bob@" + kOnionA));
  std::string out;
  auto st = session_->onTimeout(&out);
  EXPECT_EQ(st.action, RelaySession::Action::kClose);
  EXPECT_EQ(out.rfind("421 4.4.2 ", 0), 0u) << out;
  EXPECT_FALSE(hop_->connected());
}

TEST_F(RelaySessionTest, RsetClosesThePeerConnection) {
  std::string out = talk(envelope("bob@" + kOnionA) + "RSET\r\n");
  EXPECT_TRUE(has(out, "250 2.0.0 Ok\r\n")) << out;
  EXPECT_EQ(peer_.quits, 1);
  EXPECT_FALSE(hop_->connected());
  out = talk("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@" + kOnionB + ">\r\n");
  EXPECT_TRUE(has(out, "250 2.1.5 " + kOnionB)) << "a new transaction may go elsewhere: " << out;
}

TEST_F(RelaySessionTest, SequenceErrors) {
  EXPECT_EQ(talk("MAIL FROM:<a@b.example>\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  EXPECT_EQ(talk("HELO x\r\nRCPT TO:<b@" + kOnionA + ">\r\n"),
            "250 2.0.0 relay.test\r\n503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(talk("DATA\r\n"), "503 5.5.1 Error: need RCPT command\r\n");
  EXPECT_EQ(talk("MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n"),
            "250 2.1.0 Ok\r\n503 5.5.1 Error: nested MAIL command\r\n");
  EXPECT_EQ(talk("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_TRUE(links_.dialed.empty());
}

TEST_F(RelaySessionTest, UnsupportedCommandsAndParameters) {
  EXPECT_EQ(talk("STARTTLS\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(talk("FROB\r\n"), "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(talk("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
  talk("EHLO x\r\n");
  EXPECT_EQ(talk("MAIL FROM:<a@b.example> SMTPUTF8\r\n"),
            "555 5.5.4 Unsupported option: SMTPUTF8\r\n");
  EXPECT_EQ(talk("MAIL FROM:<a@b.example> SIZE=5000\r\n"),
            "552 5.3.4 Message size exceeds fixed limit\r\n");
  talk("MAIL FROM:<a@b.example>\r\n");
  EXPECT_EQ(talk("RCPT TO:<b@" + kOnionA + "> NOTIFY=NEVER\r\n"),
            "555 5.5.4 Unsupported option: NOTIFY=NEVER\r\n");
}

TEST_F(RelaySessionTest, LongLineIs500AndTooManyErrorsCloses) {
  std::string out = talk("NOOP " + std::string(600, 'x') + "\r\n");
  EXPECT_EQ(out, "500 5.5.6 Error: line too long\r\n");
  std::string many;
  for (int i = 0; i < 30; ++i) many += "FROB\r\n";
  out = talk(many);
  EXPECT_TRUE(has(out, "421 4.7.0 relay.test Error: too many errors\r\n")) << out;
  EXPECT_TRUE(closed_);
}

TEST_F(RelaySessionTest, RandomSplitsOfAFullConversation) {
  std::string script = envelope("bob@" + kKeyOne.substr(0, 16) + "." + kOnionA) +
                       "DATA\r\nSubject: s\r\n\r\n..\r\n...\r\n.\r\nQUIT\r\n";
  std::string want = talk(script);
  std::mt19937 rng(5);
  for (int round = 0; round < 20; ++round) {
    peer_ = PeerScript{};
    restart();
    size_t pos = 0;
    std::string got;
    while (pos < script.size() && !closed_) {
      size_t n = 1 + rng() % 9;
      got += talk(script.substr(pos, n));
      pos += n;
    }
    EXPECT_EQ(got, want) << "round " << round;
  }
}

}  // namespace
}  // namespace mtep::relay
