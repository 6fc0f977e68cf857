// NAME
//   mtepd_protocol_test.cc - the real mtepd answering MTEP over loopback
// DESCRIPTION
//   The seed's exchange byte for byte, and the token verdicts: ours with its
//   sender (K), another sender, expired and revoked (D). Requests are sent
//   whole, one byte at a time and split at random points.

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "mtepd_harness.h"

namespace mtep::itest {
namespace {

constexpr std::string_view kSeedQuery = "22:1:?,\r\n12:unvanquished,,";
constexpr std::string_view kSeedQuit = "4:1:Q,,";

class MtepdSplitTest : public ::testing::TestWithParam<int> {};

TEST_P(MtepdSplitTest, SeedExchangeGetsNoThenFarewellAndClose) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::mt19937 rng(20221007u + static_cast<unsigned>(GetParam()));
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->sendSplit(kSeedQuery, GetParam(), rng));
  auto no = c->readReply();
  ASSERT_TRUE(no.has_value()) << d.logText();
  EXPECT_TRUE(startsWith(no, "D5.")) << *no;

  ASSERT_TRUE(c->sendSplit(kSeedQuit, GetParam(), rng));
  auto bye = c->readReply();
  ASSERT_TRUE(bye.has_value());
  EXPECT_TRUE(startsWith(bye, "K2.3.0 CYA ")) << *bye;
  EXPECT_GT(bye->size(), std::string_view("K2.3.0 CYA ").size()) << "farewell text missing";
  std::string rest;
  EXPECT_TRUE(c->waitClosed(3000, &rest)) << "server must close after Q";
  EXPECT_EQ(rest, "") << "nothing may follow the farewell";
}

TEST_P(MtepdSplitTest, MintedTokenWithItsSenderIsRecognised) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::mt19937 rng(7u + static_cast<unsigned>(GetParam()));
  std::string tok = d.mint("alice@example.org");
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->sendSplit(query(tok, "alice@example.org"), GetParam(), rng));
  auto reply = c->readReply();
  EXPECT_TRUE(startsWith(reply, "K2.7.0")) << reply.value_or("<nothing>") << "\n" << d.logText();
}

INSTANTIATE_TEST_SUITE_P(WholeBytewiseRandom, MtepdSplitTest, ::testing::Values(0, 1, 2),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(i.param == 0   ? "Whole"
                                              : i.param == 1 ? "OneByteAtATime"
                                                             : "RandomSplits");
                         });

TEST(Mtepd, TokenAskedWithAnotherSenderIsRefusedWith578) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  auto reply = askOnce(d.port(), query(tok, "mallory@example.org"));
  EXPECT_TRUE(startsWith(reply, "D5.7.8")) << reply.value_or("<nothing>");
}

TEST(Mtepd, SenderIsComparedCaseInsensitively) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(tok, "Alice@Example.ORG")), "K2.7.0"));
}

TEST(Mtepd, ExpiredTokenIsRefused) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  // Minted two hours ago with a one hour lifetime.
  std::string tok = d.mint("alice@example.org", 3600, -7200);
  auto reply = askOnce(d.port(), query(tok, "alice@example.org"));
  EXPECT_TRUE(startsWith(reply, "D5.7.8")) << reply.value_or("<nothing>");
  EXPECT_TRUE(d.waitForLog("reason=expired")) << d.logText();
}

TEST(Mtepd, RevokedTokenIsRefused) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(query(tok, "alice@example.org")));
  ASSERT_TRUE(startsWith(c->readReply(), "K2.7.0")) << "valid before the revocation";

  ASSERT_TRUE(d.revoke(tok));
  // The store re-reads revocations made by other processes at most every
  // 250 ms (store::SqliteOptions::revocation_refresh_ms): ask until refused.
  std::optional<std::string> reply;
  auto t0 = std::chrono::steady_clock::now();
  do {
    ASSERT_TRUE(c->send(query(tok, "alice@example.org")));
    reply = c->readReply();
    if (startsWith(reply, "D")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  EXPECT_TRUE(startsWith(reply, "D5.7.8")) << reply.value_or("<nothing>");
  EXPECT_TRUE(d.waitForLog("reason=revoked")) << d.logText();
}

TEST(Mtepd, SenderlessQueryForOurTokenIsRecognised) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(tok)), "K"));
}

TEST(Mtepd, PipelinedRequestsAreAnsweredInOrder) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string good = d.mint("alice@example.org");
  std::string bytes;
  for (int i = 0; i < 50; ++i) {
    bytes += query(good, i % 2 == 0 ? "alice@example.org" : "bob@example.org");
    bytes += "\r\n";
  }
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(bytes));
  for (int i = 0; i < 50; ++i) {
    auto reply = c->readReply();
    ASSERT_TRUE(reply.has_value()) << "reply " << i;
    EXPECT_EQ(reply->substr(0, 1), i % 2 == 0 ? "K" : "D") << "reply " << i << ": " << *reply;
  }
}

TEST(Mtepd, EachDecisionIsLoggedOnOneLine) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(query(tok, "alice@example.org")));
  ASSERT_TRUE(startsWith(c->readReply(), "K"));
  EXPECT_TRUE(d.waitForLog("NOQUEUE: client=127.0.0.1:")) << d.logText();
  EXPECT_TRUE(d.waitForLog(" cmd=? sender=<alice@example.org> action=K2.7.0 reason=valid"))
      << d.logText();
}

// ---- tokens bound to the recipient domain (issue 13) ----

TEST(Mtepd, TokenForItsSenderAndRecipientDomainIsRecognised) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mintFor("alice@example.org", "beta.test");
  auto reply = askOnce(d.port(), query(tok, "alice@example.org", "<bob@beta.test>"));
  EXPECT_TRUE(startsWith(reply, "K2.7.0")) << reply.value_or("<nothing>") << "\n" << d.logText();
  EXPECT_TRUE(d.waitForLog(
      " cmd=? sender=<alice@example.org> action=K2.7.0 reason=valid rcpt=<<bob@beta.test>>"))
      << d.logText();
}

TEST(Mtepd, TokenMintedForBetaReplayedToGammaIsRefusedWith578) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mintFor("alice@example.org", "beta.test");
  auto reply = askOnce(d.port(), query(tok, "alice@example.org", "mallory@gamma.test"));
  EXPECT_TRUE(startsWith(reply, "D5.7.8")) << reply.value_or("<nothing>");
  EXPECT_TRUE(d.waitForLog("reason=recipient-mismatch")) << d.logText();
  // A bare domain names the recipient domain too.
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(tok, "alice@example.org", "gamma.test")),
                         "D5.7.8"));
}

TEST(Mtepd, MessageToTwoDomainsPassesAtEachWithItsOwnToken) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  const std::string to_beta = d.mintFor("alice@example.org", "beta.test");
  const std::string to_gamma = d.mintFor("alice@example.org", "gamma.test");
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(query(to_beta, "alice@example.org", "bob@beta.test") +
                      query(to_gamma, "alice@example.org", "carol@gamma.test") +
                      query(to_gamma, "alice@example.org", "bob@beta.test") +
                      query(to_beta, "alice@example.org", "carol@gamma.test")));
  EXPECT_TRUE(startsWith(c->readReply(), "K2.7.0"));
  EXPECT_TRUE(startsWith(c->readReply(), "K2.7.0"));
  EXPECT_TRUE(startsWith(c->readReply(), "D5.7.8"));
  EXPECT_TRUE(startsWith(c->readReply(), "D5.7.8"));
}

TEST(Mtepd, BoundTokenAskedWithoutRecipientIsNotVouchedForByDefault) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mintFor("alice@example.org", "beta.test");
  auto reply = askOnce(d.port(), query(tok, "alice@example.org"));
  EXPECT_TRUE(startsWith(reply, "D5.5.4")) << reply.value_or("<nothing>");
  EXPECT_TRUE(d.waitForLog("reason=recipient-required")) << d.logText();
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(tok)), "D5.5.4"));
}

TEST(Mtepd, BoundTokenWithoutRecipientIsAnsweredWhenTheSiteAllowsIt) {
  DaemonSettings settings;
  settings.extra = "answer_without_recipient = true\n";
  Mtepd d(settings);
  ASSERT_TRUE(d.start());
  std::string tok = d.mintFor("alice@example.org", "beta.test");
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(tok, "alice@example.org")), "K2.7.0"));
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(tok, "bob@example.org")), "D5.7.8"));
  // A recipient that is given is still checked.
  EXPECT_TRUE(
      startsWith(askOnce(d.port(), query(tok, "alice@example.org", "gamma.test")), "D5.7.8"));
}

// Rolling upgrade: tokens minted before the binding (version 1) keep
// passing, whatever recipient is named, until they expire.
TEST(Mtepd, TokenInTodaysFormStillPassesUntilItsExpiry) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string old_form = d.mint("alice@example.org");
  ASSERT_EQ(old_form.size(), 62u);
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(old_form, "alice@example.org", "bob@beta.test")),
                         "K2.7.0"));
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(old_form, "alice@example.org")), "K2.7.0"));
  std::string expired = d.mint("alice@example.org", 3600, -7200);
  EXPECT_TRUE(startsWith(askOnce(d.port(), query(expired, "alice@example.org", "bob@beta.test")),
                         "D5.7.8"));
}

}  // namespace
}  // namespace mtep::itest
