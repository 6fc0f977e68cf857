// The STOKEN router ([stoken] filter_listen) in the real mtepd: driven by
// an LMTP client as Postfix's content filter transport would (lib/smtp's
// delivery client), with a scripted LMTP-over-TLS token server for beta.test
// and a scripted SMTP sink as Postfix's re-injection smtpd. Each case
// checks what reached which server and what Postfix was answered:
// no token -> re-injected once; 2.1.13 -> not re-injected and the new
// permanent held; 2.1.12; 535 -> token dropped and re-injected; server
// down, STOKEN missing, untrusted certificate, wrong pin, no TLS ->
// re-injected; lost after the dot -> 451 and not re-injected;
// re-injection 4xx/5xx -> the same to Postfix; one recipient by token and
// one re-injected; deliver_by_token off -> no token attempt.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

#include "mtepd_harness.h"
#include "smtp/delivery.h"
#include "stoken/book.h"
#include "stoken/protocol.h"
#include "store/open.h"
#include "token/token.h"
#include "unit/smtp_client/scripted_server.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

using mtep::testing::body;
using mtep::testing::Credentials;
using mtep::testing::hangUp;
using mtep::testing::line;
using mtep::testing::ScriptedServer;
using mtep::testing::send;
using mtep::testing::Step;
using mtep::testing::tls;

const std::string kAlice = "alice@alpha.test";
const std::string kBob = "bob@beta.test";
const std::string kCarol = "carol@gamma.test";
const std::string kHeld(52, 'T');  // a token beta gave alice for bob (opaque to alpha)
const std::string kNewPerm(52, 'P');
const std::string kMessage = "From: alice@alpha.test\r\nSubject: hi\r\n\r\nhello bob\r\n.dot\r\n";

const char* kLhloStoken =
    "250-tokens.beta.test\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-AUTH STOKEN\r\n"
    "250 STOKEN\r\n";
const char* kLhloNoStoken = "250-tokens.beta.test\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n";

// The token server's side of one delivery to `rcpts`, ending with `finals`.
std::vector<Step> tokenScript(size_t rcpts, std::vector<std::string> finals,
                              bool hang_up_after_body = false) {
  std::vector<Step> s = {
      tls(),  send("220 tokens.beta.test LMTP\r\n"),           line(), send(kLhloStoken),
      line(), send("235 2.7.0 Authentication successful\r\n"), line(), send("250 2.1.0 Ok\r\n")};
  for (size_t i = 0; i < rcpts; ++i) {
    s.push_back(line());
    s.push_back(send("250 2.1.5 Ok\r\n"));
  }
  s.push_back(line());
  s.push_back(send("354 go ahead\r\n"));
  s.push_back(body());
  if (hang_up_after_body) {
    s.push_back(hangUp());
    return s;
  }
  for (const std::string& f : finals) s.push_back(send(f + "\r\n"));
  s.push_back(line());
  s.push_back(send("221 2.0.0 Bye\r\n"));
  return s;
}

// Postfix's re-injection smtpd: one transaction, `rcpt_reply` to each
// RCPT, `final` after the message.
std::vector<Step> sinkScript(size_t rcpts, const std::string& rcpt_reply = "250 2.1.5 Ok",
                             const std::string& final = "250 2.0.0 Ok: queued as ABC") {
  std::vector<Step> s = {send("220 alpha.test ESMTP\r\n"), line(),
                         send("250-alpha.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n"), line(),
                         send("250 2.1.0 Ok\r\n")};
  bool any = false;
  for (size_t i = 0; i < rcpts; ++i) {
    s.push_back(line());
    s.push_back(send(rcpt_reply + "\r\n"));
    any = any || rcpt_reply[0] == '2';
  }
  if (any) {
    s.push_back(line());
    s.push_back(send("354 go ahead\r\n"));
    s.push_back(body());
    s.push_back(send(final + "\r\n"));
  }
  s.push_back(line());
  s.push_back(send("221 2.0.0 Bye\r\n"));
  return s;
}

size_t countPrefix(const std::vector<std::string>& lines, std::string_view prefix) {
  size_t n = 0;
  for (const std::string& l : lines) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

bool hasPendingConnection(int listen_fd) {
  pollfd p{listen_fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

struct Options {
  bool deliver_by_token = true;
  bool accept_tokens = true;  // alpha.test accepts tokens: MYSTOKEN is sent
  uint16_t token_port = 0;    // beta.test's static token server; 0: none listed
  uint16_t sink_port = 0;     // reinject_to
  std::string ca_file = {};   // [stoken] tls_ca_file
  std::string pin = {};       // [stoken] tls_pins for beta.test
};

class RouterTest : public ::testing::Test {
 protected:
  void startMtepd(const Options& o) {
    filter_port_ = freeLoopbackPort();
    DaemonSettings s;
    s.extra = "[stoken]\nfilter_listen = [\"127.0.0.1:" + std::to_string(filter_port_) +
              "\"]\nreinject_to = \"127.0.0.1:" + std::to_string(o.sink_port) +
              "\"\ndelivery_timeout = \"10s\"\ndial_timeout = \"5s\"\n";
    if (o.token_port != 0) {
      s.extra +=
          "servers = { \"beta.test\" = \"127.0.0.1:" + std::to_string(o.token_port) + "\" }\n";
    }
    if (!o.ca_file.empty()) s.extra += "tls_ca_file = \"" + o.ca_file + "\"\n";
    if (!o.pin.empty()) s.extra += "tls_pins = { \"beta.test\" = \"" + o.pin + "\" }\n";
    s.extra += "\n[domain.\"alpha.test\"]\ndeliver_by_token = " +
               std::string(o.deliver_by_token ? "true" : "false") +
               "\naccept_submission_tokens = " + (o.accept_tokens ? "true" : "false") + "\n";
    d_.emplace(s);
    ASSERT_TRUE(d_->start());
    ASSERT_TRUE(waitForPort(filter_port_));
  }

  static bool waitForPort(uint16_t port) {
    for (int i = 0; i < 100; ++i) {
      UniqueFd fd = mtep::testing::connectLoopback(port);
      if (fd.valid()) return true;
      ::usleep(50000);
    }
    return false;
  }

  // The token book on mtepd's store, with its key ring.
  template <typename Fn>
  void withBook(Fn fn) {
    config::StoreConfig sc;
    sc.path = d_->dbPath();
    auto st = store::open(sc, SystemClock::instance());
    ASSERT_TRUE(st.ok()) << st.error().message();
    auto ring = token::KeyRing::load(d_->keyFile(), {}, SystemClock::instance());
    ASSERT_TRUE(ring.ok()) << ring.error().message();
    stoken::TokenBook book(**st, *ring, SystemClock::instance(), {});
    fn(book);
  }

  void holdToken(const std::string& rcpt, const std::string& token = kHeld,
                 stoken::Kind kind = stoken::Kind::kTemporary) {
    withBook([&](stoken::TokenBook& b) {
      auto h = b.hold(kAlice, rcpt, token, kind);
      ASSERT_TRUE(h.ok()) << h.error().message();
    });
  }
  std::optional<stoken::HeldToken> held(const std::string& rcpt) {
    std::optional<stoken::HeldToken> out;
    withBook([&](stoken::TokenBook& b) {
      auto h = b.held(kAlice, rcpt);
      if (h) out = *h;
    });
    return out;
  }

  // Postfix's lmtp client: one transaction through the router.
  smtp::DeliveryResult postfix(std::vector<std::string> rcpts, std::string from = kAlice) {
    smtp::DeliveryRequest r;
    r.protocol = smtp::DeliveryProtocol::kLmtp;
    r.host = "127.0.0.1";
    r.port = filter_port_;
    r.hello_name = "alpha.test";
    r.mail_from = std::move(from);
    r.mail_params = "BODY=8BITMIME";
    for (auto& a : rcpts) r.recipients.push_back({a, ""});
    r.message = kMessage;
    r.timeouts.command_ms = 30000;
    r.timeouts.data_ms = 30000;
    return smtp::deliver(r);
  }

  std::optional<Mtepd> d_;
  uint16_t filter_port_ = 0;
  uint16_t sink_port_ = 0;
};

// A trusted token server certificate for 127.0.0.1 and its CA file.
struct Tls {
  Credentials creds = mtep::testing::selfSignedFor("IP:127.0.0.1");
  std::string ca = mtep::testing::writePemFile(creds.cert.get());
  ~Tls() {
    if (!ca.empty()) ::unlink(ca.c_str());
  }
};

TEST_F(RouterTest, NoHeldTokenIsReinjectedOnce) {
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(startMtepd({.sink_port = sink.port()}));
  const smtp::DeliveryResult r = postfix({kBob});
  sink.join();
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_TRUE(r.recipients[0].delivered()) << r.recipients[0].final_reply.toString() << r.error;
  EXPECT_EQ(countPrefix(sink.received(), "MAIL FROM:<alice@alpha.test> BODY=8BITMIME"), 1u);
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
  ASSERT_GE(sink.received().size(), 5u);
  EXPECT_NE(sink.received()[4].find("hello bob\r\n..dot\r\n"), std::string::npos);  // stuffed
  EXPECT_TRUE(d_->waitForLog("reinjected=<bob@beta.test>"));
}

TEST_F(RouterTest, TokenAccepted2113IsNotReinjectedAndTheNewPermanentIsHeld) {
  Tls t;
  ScriptedServer token(tokenScript(1, {"250 2.1.13 <bob@beta.test> " + kNewPerm + " D1 Saved"}),
                       &t.creds);
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = 1, .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_TRUE(r.recipients[0].delivered()) << r.recipients[0].final_reply.toString();
  EXPECT_EQ(r.recipients[0].final_reply.toString().find(kNewPerm), std::string::npos);
  const auto& got = token.received();
  ASSERT_GE(got.size(), 5u);
  EXPECT_EQ(got[0].rfind("LHLO ", 0), 0u);
  ASSERT_EQ(got[1].rfind("AUTH STOKEN ", 0), 0u);
  auto a = stoken::parseAuthPayload(got[1].substr(12));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->recipient, kBob);
  EXPECT_EQ(a->token, kHeld);
  EXPECT_EQ(got[2], "MAIL FROM:<alice@alpha.test> BODY=8BITMIME");
  ASSERT_EQ(got[3].rfind("RCPT TO:<bob@beta.test> STOKEN=" + kHeld + " MYSTOKEN=", 0), 0u)
      << got[3];
  // MYSTOKEN is alpha's permanent for (remote bob, local alice): the stored one.
  const std::string mine = got[3].substr(got[3].find("MYSTOKEN=") + 9);
  withBook([&](stoken::TokenBook& b) {
    auto p = b.generate(stoken::Kind::kPermanent, kBob, kAlice);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, mine);
    EXPECT_EQ(b.check(mine, kBob, kAlice).outcome, stoken::Outcome::kValid);
  });
  auto h = held(kBob);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->token, kNewPerm);
  EXPECT_EQ(h->kind, stoken::Kind::kPermanent);
  EXPECT_TRUE(d_->waitForLog("by-token=<bob@beta.test>:token="));
  EXPECT_EQ(d_->logText().find(kHeld), std::string::npos);  // never a token in the log
  EXPECT_EQ(d_->logText().find(kNewPerm), std::string::npos);
}

TEST_F(RouterTest, TokenAccepted2112KeepsTheHeldToken) {
  Tls t;
  ScriptedServer token(tokenScript(1, {"250 2.1.12 <bob@beta.test> D2 Saved"}), &t.creds);
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = 1, .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  EXPECT_TRUE(r.recipients.at(0).delivered()) << r.recipients[0].final_reply.toString();
  auto h = held(kBob);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->token, kHeld);
}

TEST_F(RouterTest, WithoutAcceptSubmissionTokensNoMystokenIsSent) {
  Tls t;
  ScriptedServer token(tokenScript(1, {"250 2.1.12 <bob@beta.test> D2 Saved"}), &t.creds);
  ASSERT_NO_FATAL_FAILURE(startMtepd(
      {.accept_tokens = false, .token_port = token.port(), .sink_port = 1, .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  ASSERT_GE(token.received().size(), 4u);
  EXPECT_EQ(token.received()[3], "RCPT TO:<bob@beta.test> STOKEN=" + kHeld);
}

TEST_F(RouterTest, AuthRefused535DropsTheHeldTokenAndReinjects) {
  Tls t;
  ScriptedServer token(
      {tls(), send("220 tokens.beta.test LMTP\r\n"), line(), send(kLhloStoken), line(),
       send("535 5.7.8 Authentication credentials invalid\r\n"), line(), send("221 2.0.0 Bye\r\n")},
      &t.creds);
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = sink.port(), .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered()) << r.recipients[0].final_reply.toString();
  EXPECT_EQ(countPrefix(token.received(), "MAIL"), 0u);
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
  EXPECT_FALSE(held(kBob).has_value());
}

TEST_F(RouterTest, RcptRefused57DropsTheHeldToken) {
  Tls t;
  ScriptedServer token({tls(), send("220 tokens.beta.test LMTP\r\n"), line(), send(kLhloStoken),
                        line(), send("235 2.7.0 ok\r\n"), line(), send("250 2.1.0 Ok\r\n"), line(),
                        send("550 5.7.8 token not valid\r\n"), line(), send("221 2.0.0 Bye\r\n")},
                       &t.creds);
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = sink.port(), .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
  EXPECT_FALSE(held(kBob).has_value());
}

TEST_F(RouterTest, TokenServerDownIsReinjectedAndTheTokenKept) {
  ScriptedServer sink(sinkScript(1));
  const uint16_t nobody = freeLoopbackPort();
  ASSERT_NO_FATAL_FAILURE(startMtepd({.token_port = nobody, .sink_port = sink.port()}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
  EXPECT_TRUE(held(kBob).has_value());
}

TEST_F(RouterTest, StokenNotAdvertisedIsReinjectedWithoutSendingTheToken) {
  Tls t;
  ScriptedServer token({tls(), send("220 tokens.beta.test LMTP\r\n"), line(), send(kLhloNoStoken),
                        line(), send("221 2.0.0 Bye\r\n")},
                       &t.creds);
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = sink.port(), .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  EXPECT_EQ(countPrefix(token.received(), "AUTH"), 0u);
  EXPECT_EQ(countPrefix(token.received(), "QUIT"), 1u);
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
  EXPECT_TRUE(held(kBob).has_value());
}

TEST_F(RouterTest, UntrustedCertificateGetsNoToken) {
  Tls trusted;
  Credentials other = mtep::testing::selfSignedFor("IP:127.0.0.1");  // not in the CA file
  ScriptedServer token({tls(), line()}, &other);
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = sink.port(), .ca_file = trusted.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  for (const std::string& l : token.received()) EXPECT_EQ(l.find("STOKEN"), std::string::npos);
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
  EXPECT_TRUE(held(kBob).has_value());
}

TEST_F(RouterTest, WrongPinGetsNoTokenEvenWithATrustedCertificate) {
  Tls t;
  ScriptedServer token({tls(), line()}, &t.creds);
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(startMtepd({.token_port = token.port(),
                                      .sink_port = sink.port(),
                                      .ca_file = t.ca,
                                      .pin = std::string(52, 'a')}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  for (const std::string& l : token.received()) EXPECT_EQ(l.find("STOKEN"), std::string::npos);
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
}

TEST_F(RouterTest, APlainTextServerGetsNoToken) {
  Tls t;
  ScriptedServer token({send("220 tokens.beta.test LMTP\r\n"), line()});
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = sink.port(), .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  for (const std::string& l : token.received()) EXPECT_EQ(l.find("STOKEN"), std::string::npos);
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
}

TEST_F(RouterTest, LostAfterTheDotIs451AndNotReinjected) {
  Tls t;
  ScriptedServer token(tokenScript(1, {}, /*hang_up_after_body=*/true), &t.creds);
  const UniqueFd sink = mtep::testing::listenLoopback(&sink_port_);
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = sink_port_, .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  token.join();
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_FALSE(r.recipients[0].delivered());
  EXPECT_EQ(r.recipients[0].final_reply.code, 451);
  ASSERT_TRUE(r.recipients[0].final_reply.enhanced.has_value());
  EXPECT_EQ(r.recipients[0].final_reply.enhanced->toString(), "4.4.2");
  EXPECT_FALSE(hasPendingConnection(sink.get()));  // nothing re-injected
  EXPECT_TRUE(held(kBob).has_value());
}

TEST_F(RouterTest, ReinjectionTempfailIsTempfailToPostfix) {
  ScriptedServer sink(sinkScript(1, "451 4.3.0 try later"));
  ASSERT_NO_FATAL_FAILURE(startMtepd({.sink_port = sink.port()}));
  const smtp::DeliveryResult r = postfix({kBob});
  sink.join();
  EXPECT_EQ(r.recipients.at(0).final_reply.code, 451);
  EXPECT_TRUE(r.recipients[0].final_from_server);
}

TEST_F(RouterTest, ReinjectionRefusalIsARefusalToPostfix) {
  ScriptedServer sink(sinkScript(1, "550 5.1.1 no such user"));
  ASSERT_NO_FATAL_FAILURE(startMtepd({.sink_port = sink.port()}));
  const smtp::DeliveryResult r = postfix({kBob});
  sink.join();
  EXPECT_EQ(r.recipients.at(0).final_reply.code, 550);
}

TEST_F(RouterTest, ReinjectionListenerDownIsTempfailNeverABounce) {
  ASSERT_NO_FATAL_FAILURE(startMtepd({.sink_port = freeLoopbackPort()}));
  const smtp::DeliveryResult r = postfix({kBob, kCarol});
  ASSERT_EQ(r.recipients.size(), 2u);
  for (const auto& o : r.recipients)
    EXPECT_EQ(o.final_reply.code / 100, 4) << o.final_reply.toString();
}

TEST_F(RouterTest, OneRecipientByTokenAndOneReinjected) {
  Tls t;
  ScriptedServer token(tokenScript(1, {"250 2.1.12 <bob@beta.test> D3 Saved"}), &t.creds);
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.token_port = token.port(), .sink_port = sink.port(), .ca_file = t.ca}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kCarol, kBob});
  token.join();
  sink.join();
  ASSERT_EQ(r.recipients.size(), 2u);
  EXPECT_TRUE(r.recipients[0].delivered()) << r.recipients[0].final_reply.toString();
  EXPECT_TRUE(r.recipients[1].delivered()) << r.recipients[1].final_reply.toString();
  EXPECT_NE(r.recipients[1].final_reply.text.find("submission token"), std::string::npos);
  EXPECT_EQ(countPrefix(token.received(), "RCPT TO:<bob@beta.test>"), 1u);
  EXPECT_EQ(countPrefix(token.received(), "RCPT TO:<carol"), 0u);
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<carol@gamma.test>"), 1u);
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob"), 0u);
}

TEST_F(RouterTest, DeliverByTokenOffMakesNoTokenAttempt) {
  uint16_t token_port = 0;
  const UniqueFd token = mtep::testing::listenLoopback(&token_port);
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(
      startMtepd({.deliver_by_token = false, .token_port = token_port, .sink_port = sink.port()}));
  holdToken(kBob);
  const smtp::DeliveryResult r = postfix({kBob});
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  EXPECT_FALSE(hasPendingConnection(token.get()));
  EXPECT_EQ(countPrefix(sink.received(), "RCPT TO:<bob@beta.test>"), 1u);
}

TEST_F(RouterTest, NullSenderTakesTheFastPath) {
  uint16_t token_port = 0;
  const UniqueFd token = mtep::testing::listenLoopback(&token_port);
  ScriptedServer sink(sinkScript(1));
  ASSERT_NO_FATAL_FAILURE(startMtepd({.token_port = token_port, .sink_port = sink.port()}));
  const smtp::DeliveryResult r = postfix({kBob}, "");
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered());
  EXPECT_FALSE(hasPendingConnection(token.get()));
  EXPECT_EQ(countPrefix(sink.received(), "MAIL FROM:<>"), 1u);
}

TEST_F(RouterTest, UnknownParametersAreRefused) {
  ASSERT_NO_FATAL_FAILURE(startMtepd({.sink_port = 1}));
  auto c = Client::connect(filter_port_);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(startsWith(c->readUntil("\r\n"), "220 "));
  c->send("LHLO alpha.test\r\nMAIL FROM:<alice@alpha.test> SMTPUTF8\r\n");
  auto lhlo = c->readUntil("250 SIZE");
  ASSERT_TRUE(lhlo.has_value());
  EXPECT_NE(lhlo->find("8BITMIME"), std::string::npos);
  c->readUntil("\r\n");
  EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "555 5.5.4"));
}

TEST(RouterConfig, ANonLoopbackFilterListenStopsStartUp) {
  DaemonSettings s;
  s.extra = "[stoken]\nfilter_listen = [\"0.0.0.0:" + std::to_string(freeLoopbackPort()) + "\"]\n";
  Mtepd d(s);
  EXPECT_FALSE(d.start());
  EXPECT_NE(d.logText().find("not a loopback address"), std::string::npos) << d.logText();
}

}  // namespace
}  // namespace mtep::itest
