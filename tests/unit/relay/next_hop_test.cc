// NextHop: the relay's transaction to an overlay peer, over a scripted peer
// (and, for the message of a peer that reads too slowly, a real socket).

#include "relay/next_hop.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "transport/stream.h"

#include "fakes.h"

namespace mtep::relay {
namespace {

using testing::FakeLinks;
using testing::FakePins;
using testing::kKeyOne;
using testing::kKeyTwo;
using testing::kOnionA;
using testing::PeerScript;

class NextHopTest : public ::testing::Test {
 protected:
  NextHopTest() : links_(peer_) {}

  Destination dest(std::string label = "") {
    return Destination{overlay::Kind::kOnion, kOnionA, std::move(label)};
  }
  HopSettings settings() {
    HopSettings s;
    s.send_timeout_ms = send_timeout_ms_;
    s.port = 2525;
    s.helo_name = "relay.example";
    s.trust_on_first_use = tofu_;
    return s;
  }
  HopReply open(const std::string& label = "") {
    hop_ = std::make_unique<NextHop>(settings(), links_, pins_);
    return hop_->open(dest(label), mail_);
  }
  static std::string text(const HopReply& r) { return r.reply.toString(); }
  bool sent(const std::string& prefix) const {
    for (const auto& c : peer_.commands) {
      if (c.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

  PeerScript peer_;
  FakeLinks links_;
  FakePins pins_;
  bool tofu_ = true;
  int send_timeout_ms_ = 1800000;
  MailFrom mail_{"alice@example.org", 1234, "8BITMIME"};
  std::unique_ptr<NextHop> hop_;
};

TEST_F(NextHopTest, OpensThroughTlsThenChecksKeyThenSendsMail) {
  HopReply r = open(kKeyOne.substr(0, 20));
  ASSERT_TRUE(r.ok()) << text(r);
  ASSERT_EQ(links_.dialed.size(), 1u);
  EXPECT_EQ(links_.dialed[0], kOnionA + ":2525");
  std::vector<std::string> want = {"EHLO relay.example", "STARTTLS", "EHLO relay.example",
                                   "MAIL FROM:<alice@example.org> SIZE=1234 BODY=8BITMIME"};
  EXPECT_EQ(peer_.commands, want);
  EXPECT_EQ(pins_.calls, 1);
  EXPECT_EQ(hop_->fingerprint(), kKeyOne);
  HopReply rc = hop_->rcpt(dest(kKeyOne.substr(0, 20)), "bob@" + kOnionA);
  EXPECT_EQ(rc.reply.code, 250) << text(rc);
  EXPECT_EQ(peer_.commands.back(), "RCPT TO:<bob@" + kOnionA + ">");
  EXPECT_EQ(pins_.calls, 1) << "the same label is checked once per connection";
  EXPECT_EQ(text(rc), "250 2.1.5 " + kOnionA + " said: Ok");
}

TEST_F(NextHopTest, SizeAndBodyOnlyWhenThePeerOffersThem) {
  peer_.offer_size = false;
  peer_.offer_8bitmime = false;
  ASSERT_TRUE(open().ok());
  EXPECT_EQ(peer_.commands.back(), "MAIL FROM:<alice@example.org>");
}

TEST_F(NextHopTest, NullSenderIsSentAsEmptyPath) {
  mail_ = MailFrom{"", 0, ""};
  ASSERT_TRUE(open().ok());
  EXPECT_EQ(peer_.commands.back(), "MAIL FROM:<>");
}

TEST_F(NextHopTest, NoStartTlsIsTemporary474AndNothingSent) {
  peer_.offer_starttls = false;
  HopReply r = open();
  EXPECT_EQ(r.reply.code, 451);
  EXPECT_EQ(r.reply.enhanced, (smtp::EnhancedStatus{4, 7, 4}));
  EXPECT_NE(text(r).find("does not offer STARTTLS"), std::string::npos) << text(r);
  EXPECT_FALSE(sent("MAIL"));
  EXPECT_FALSE(hop_->connected());
  EXPECT_EQ(pins_.calls, 0);
}

TEST_F(NextHopTest, TlsHandshakeFailureIsTemporary470) {
  peer_.tls_fails = true;
  HopReply r = open();
  EXPECT_EQ(r.reply.code, 451);
  EXPECT_EQ(r.reply.enhanced, (smtp::EnhancedStatus{4, 7, 0}));
  EXPECT_NE(text(r).find("no shared cipher"), std::string::npos) << text(r);
  EXPECT_FALSE(sent("MAIL"));
}

TEST_F(NextHopTest, FingerprintMismatchIsPermanentNamingHostAndBothKeys) {
  std::string label = kKeyTwo.substr(0, 24);
  HopReply r = open(label);
  EXPECT_EQ(r.reply.code, 550);
  EXPECT_EQ(r.reply.enhanced, (smtp::EnhancedStatus{5, 7, 0}));
  std::string t = text(r);
  EXPECT_NE(t.find(kOnionA), std::string::npos) << t;
  EXPECT_NE(t.find(label.substr(0, 16)), std::string::npos) << "expected key named: " << t;
  EXPECT_NE(t.find(kKeyOne), std::string::npos) << "seen key named: " << t;
  EXPECT_FALSE(sent("MAIL")) << "an impostor must not learn the sender";
  EXPECT_FALSE(hop_->connected());
  EXPECT_EQ(peer_.quits, 1);
}

TEST_F(NextHopTest, ChangedKeyAfterFirstUseIsPermanent) {
  ASSERT_TRUE(open().ok());
  EXPECT_EQ(pins_.pins[kOnionA], kKeyOne) << "first use pins the key";
  hop_->close();
  peer_.fingerprint = kKeyTwo;
  HopReply r = open();
  EXPECT_EQ(r.reply.code, 550);
  EXPECT_NE(text(r).find("changed"), std::string::npos) << text(r);
  EXPECT_NE(text(r).find(kKeyTwo), std::string::npos) << text(r);
}

TEST_F(NextHopTest, UnpinnedKeyWithoutTrustOnFirstUseIsRefused) {
  tofu_ = false;
  HopReply r = open();
  EXPECT_EQ(r.reply.code, 550);
  EXPECT_NE(text(r).find("not pinned"), std::string::npos) << text(r);
  EXPECT_TRUE(pins_.pins.empty());
}

TEST_F(NextHopTest, PinStoreDownIsTemporary430) {
  pins_.store_down = true;
  HopReply r = open();
  EXPECT_EQ(r.reply.code, 451);
  EXPECT_EQ(r.reply.enhanced, (smtp::EnhancedStatus{4, 3, 0}));
  EXPECT_FALSE(sent("MAIL"));
}

TEST_F(NextHopTest, DialFailureIsTemporary441NamingHostAndPort) {
  links_.fail = true;
  HopReply r = open();
  EXPECT_EQ(r.reply.code, 451);
  EXPECT_EQ(r.reply.enhanced, (smtp::EnhancedStatus{4, 4, 1}));
  EXPECT_NE(text(r).find(kOnionA + ":2525"), std::string::npos) << text(r);
  EXPECT_NE(text(r).find("connection refused"), std::string::npos) << text(r);
}

TEST_F(NextHopTest, PeerRefusingSenderIsPassedOnAndClosed) {
  peer_.mail_code = 553;
  HopReply r = open();
  EXPECT_EQ(r.reply.code, 553);
  EXPECT_EQ(r.reply.enhanced, (smtp::EnhancedStatus{5, 0, 0}));
  EXPECT_NE(text(r).find(kOnionA + " said:"), std::string::npos) << text(r);
  EXPECT_FALSE(hop_->connected());
}

TEST_F(NextHopTest, RecipientReplyIsPassedOnWithItsCodes) {
  smtp::ParsedReply nouser = testing::reply(550, {"no such user", "really"});
  nouser.enhanced = smtp::EnhancedStatus{5, 1, 1};
  peer_.rcpt_replies["nobody@" + kOnionA] = nouser;
  ASSERT_TRUE(open().ok());
  HopReply r = hop_->rcpt(dest(), "nobody@" + kOnionA);
  EXPECT_EQ(text(r), "550 5.1.1 " + kOnionA + " said: no such user; really");
  EXPECT_TRUE(hop_->connected()) << "one refused recipient does not end the transaction";
}

TEST_F(NextHopTest, Peer421BecomesTemporary451AndCloses) {
  peer_.rcpt_replies["bob@" + kOnionA] = testing::reply(421, {"shutting down"});
  ASSERT_TRUE(open().ok());
  HopReply r = hop_->rcpt(dest(), "bob@" + kOnionA);
  EXPECT_EQ(r.reply.code, 451);
  EXPECT_FALSE(hop_->connected());
}

TEST_F(NextHopTest, ConnectionLostAtRcptIsTemporary442) {
  peer_.drop_at = "RCPT";
  ASSERT_TRUE(open().ok());
  HopReply r = hop_->rcpt(dest(), "bob@" + kOnionA);
  EXPECT_EQ(r.reply.code, 451);
  EXPECT_EQ(r.reply.enhanced, (smtp::EnhancedStatus{4, 4, 2}));
  EXPECT_FALSE(hop_->connected());
}

TEST_F(NextHopTest, SecondLabelIsCheckedAgainstTheSameKey) {
  ASSERT_TRUE(open(kKeyOne.substr(0, 16)).ok());
  HopReply bad = hop_->rcpt(dest(kKeyTwo.substr(0, 16)), "carol@" + kOnionA);
  EXPECT_EQ(bad.reply.code, 550);
  EXPECT_FALSE(sent("RCPT TO:<carol@")) << "a recipient whose key does not match is not sent";
  EXPECT_TRUE(hop_->connected());
  HopReply good = hop_->rcpt(dest(kKeyOne.substr(0, 30)), "dave@" + kOnionA);
  EXPECT_EQ(good.reply.code, 250) << text(good);
}

TEST_F(NextHopTest, DataWaitsForPeers354AndFinalReplyIsThePeers) {
  ASSERT_TRUE(open().ok());
  ASSERT_TRUE(hop_->rcpt(dest(), "bob@" + kOnionA).ok());
  HopReply d = hop_->startData();
  EXPECT_EQ(d.reply.code, 354);
  HopReply f = hop_->sendMessage("Subject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(text(f), "250 2.0.0 " + kOnionA + " said: Ok: queued as 4ABC");
  ASSERT_EQ(peer_.messages.size(), 1u);
  EXPECT_EQ(peer_.messages[0], "Subject: hi\r\n\r\nbody\r\n");
  EXPECT_FALSE(hop_->connected());
  EXPECT_EQ(peer_.quits, 1);
}

TEST_F(NextHopTest, DataRefusedByPeerIsPassedOn) {
  peer_.data_code = 554;
  ASSERT_TRUE(open().ok());
  ASSERT_TRUE(hop_->rcpt(dest(), "bob@" + kOnionA).ok());
  HopReply d = hop_->startData();
  EXPECT_EQ(d.reply.code, 554);
}

TEST_F(NextHopTest, NoReplyToMessageIsTemporary) {
  peer_.drop_at = "MESSAGE";
  ASSERT_TRUE(open().ok());
  ASSERT_TRUE(hop_->rcpt(dest(), "bob@" + kOnionA).ok());
  ASSERT_EQ(hop_->startData().reply.code, 354);
  HopReply f = hop_->sendMessage("x\r\n");
  EXPECT_EQ(f.reply.code, 451);
  EXPECT_EQ(f.reply.enhanced, (smtp::EnhancedStatus{4, 4, 2}));
}

TEST_F(NextHopTest, PeerReadingTooSlowlyIsGivenUpAtTheSendTimeoutAndTheNextDeliveryGoesThrough) {
  // The message goes to a real socket whose far end reads 1 KiB every
  // 10 ms, each wait well inside the read timeout: without a deadline for
  // the whole message the worker would be held for minutes (here until the
  // reader gives up after 20 s, with a different error).
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ASSERT_EQ(::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK), 0);  // as dialled
  int small = 4096;
  ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    char buf[1024];
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!stop && std::chrono::steady_clock::now() < until) {
      if (::recv(fds[1], buf, sizeof buf, MSG_DONTWAIT) == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::close(fds[1]);
  });
  auto stream = transport::makeSocketStream(UniqueFd(fds[0]), "slow.onion:25", {});
  peer_.send_hook = [&](std::string_view message,
                        SteadyClock::time_point deadline) -> Result<smtp::ParsedReply> {
    stream->setTimeouts({2000, deadline});  // the read timeout: [outbound] smtp_timeout
    if (Status st = stream->writeAll(message); !st) return std::move(st).error();
    return testing::reply(250, {"2.0.0 Ok"});
  };
  send_timeout_ms_ = 1000;
  ASSERT_TRUE(open().ok());
  ASSERT_TRUE(hop_->rcpt(dest(), "bob@" + kOnionA).ok());
  ASSERT_EQ(hop_->startData().reply.code, 354);
  HopReply f = hop_->sendMessage(std::string(4 * 1024 * 1024, 'x'));
  stop = true;
  reader.join();
  EXPECT_EQ(f.reply.code, 451);
  EXPECT_EQ(f.reply.enhanced, (smtp::EnhancedStatus{4, 4, 2}));
  EXPECT_NE(text(f).find("deadline passed sending to slow.onion:25"), std::string::npos)
      << text(f);
  EXPECT_FALSE(hop_->connected());
  // The next delivery, to a peer that reads, goes through.
  peer_.send_hook = nullptr;
  ASSERT_TRUE(open().ok());
  ASSERT_TRUE(hop_->rcpt(dest(), "carol@" + kOnionA).ok());
  ASSERT_EQ(hop_->startData().reply.code, 354);
  HopReply g = hop_->sendMessage("Subject: next\r\n\r\nbody\r\n");
  EXPECT_EQ(g.reply.code, 250) << text(g);
}

TEST(PassOn, LongPeerTextIsCutAndControlCharactersReplaced) {
  smtp::ParsedReply r = testing::reply(550, {std::string(1000, 'x') + "\x01"});
  HopReply h = passOn("h.onion", r);
  EXPECT_LT(h.reply.text.size(), 420u);
  EXPECT_EQ(h.reply.text.find('\x01'), std::string::npos);
  smtp::ParsedReply ctl = testing::reply(451, {"a\x7f" "b"});
  EXPECT_EQ(passOn("h.onion", ctl).reply.text, "h.onion said: a?b");
}

TEST(PassOn, EnhancedCodeOfOtherClassIsReplaced) {
  smtp::ParsedReply r = testing::reply(550, {"nope"});
  r.enhanced = smtp::EnhancedStatus{4, 1, 1};
  EXPECT_EQ(passOn("h.onion", r).reply.toString(), "550 5.0.0 h.onion said: nope");
}

}  // namespace
}  // namespace mtep::relay
