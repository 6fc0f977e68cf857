// Tests for smtp::deliver() against a scripted LMTP/SMTP peer on 127.0.0.1:
// per-recipient replies, refusals, a peer that drops, keyword and AUTH
// checks, dot-stuffing, STARTTLS, reply limits, parameter stripping.

#include "smtp/delivery.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/smtp_client/scripted_server.h"

namespace mtep::smtp {
namespace {

using mtep::testing::body;
using mtep::testing::hangUp;
using mtep::testing::line;
using mtep::testing::ScriptedServer;
using mtep::testing::send;
using mtep::testing::tls;
using mtep::testing::waitClose;
using Lines = std::vector<std::string>;

const char* kLhlo = "250-store.test\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING\r\n";
const char* kLhloStoken =
    "250-tokens.test\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH STOKEN HASHEDPASS\r\n250 STOKEN\r\n";

DeliveryRequest request(const ScriptedServer& s, std::vector<std::string> rcpts,
                        std::string_view message = "Subject: t\n\nhello\n") {
  DeliveryRequest r;
  r.protocol = DeliveryProtocol::kLmtp;
  r.host = "127.0.0.1";
  r.port = s.port();
  r.hello_name = "client.test";
  r.mail_from = "bob@beta.test";
  for (auto& a : rcpts) r.recipients.push_back({a, ""});
  r.message = message;
  r.timeouts.command_ms = 5000;
  r.timeouts.data_ms = 5000;
  return r;
}

TEST(Delivery, LmtpGivesOneFinalReplyPerAcceptedRecipientInOrder) {
  ScriptedServer s({send("220 store.test LMTP\r\n"), line(), send(kLhlo), line(),
                    send("250 2.1.0 OK\r\n"), line(), send("250 2.1.5 OK\r\n"), line(),
                    send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send("250 2.0.0 <a@alpha.test> id1 Saved\r\n"
                         "552 5.2.2 <b@alpha.test> Quota exceeded\r\n"),
                    line(), send("221 2.0.0 Bye\r\n")});
  DeliveryResult d = deliver(request(s, {"a@alpha.test", "b@alpha.test"}));
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_EQ(d.failed_step, DeliveryStep::kNone);
  ASSERT_EQ(d.recipients.size(), 2u);
  EXPECT_TRUE(d.recipients[0].delivered());
  EXPECT_EQ(d.recipients[0].final_reply.toString(), "250 2.0.0 <a@alpha.test> id1 Saved");
  EXPECT_FALSE(d.recipients[1].delivered());
  EXPECT_TRUE(d.recipients[1].rcpt_accepted);
  EXPECT_EQ(d.recipients[1].final_reply.toString(), "552 5.2.2 <b@alpha.test> Quota exceeded");
  EXPECT_FALSE(d.recipients[0].maybe_delivered || d.recipients[1].maybe_delivered);
  EXPECT_EQ(s.received(), (Lines{"LHLO client.test", "MAIL FROM:<bob@beta.test>",
                                 "RCPT TO:<a@alpha.test>", "RCPT TO:<b@alpha.test>", "DATA",
                                 "Subject: t\r\n\r\nhello\r\n.\r\n", "QUIT"}));
}

TEST(Delivery, RefusedRecipientKeepsItsRcptReplyAndGetsNoFinalReply) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("250 2.1.0 OK\r\n"),
                    line(), send("550 5.1.1 <n@alpha.test> User doesn't exist\r\n"), line(),
                    send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send("250 2.0.0 <a@alpha.test> id2 Saved\r\n"), line(), send("221 bye\r\n")});
  DeliveryResult d = deliver(request(s, {"n@alpha.test", "a@alpha.test"}));
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_FALSE(d.recipients[0].rcpt_accepted);
  EXPECT_FALSE(d.recipients[0].delivered());
  EXPECT_EQ(d.recipients[0].final_reply.code, 550);
  EXPECT_TRUE(d.recipients[1].delivered());
  EXPECT_EQ(d.recipients[1].final_reply.text, "<a@alpha.test> id2 Saved");
}

TEST(Delivery, NoRecipientAcceptedSendsNoData) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("250 2.1.0 OK\r\n"),
                    line(), send("550 5.1.1 no\r\n"), line(), send("221 bye\r\n")});
  DeliveryResult d = deliver(request(s, {"n@alpha.test"}));
  s.join();
  EXPECT_TRUE(d.session_ok);
  EXPECT_EQ(d.recipients[0].final_reply.code, 550);
  EXPECT_EQ(s.received().back(), "QUIT");
}

TEST(Delivery, PeerDropAfterTheDotLeavesUnansweredRecipientsMaybeDeliveredWith451) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("250 2.1.0 OK\r\n"),
                    line(), send("250 2.1.5 OK\r\n"), line(), send("250 2.1.5 OK\r\n"), line(),
                    send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send("250 2.0.0 <a@alpha.test> id3 Saved\r\n"), hangUp()});
  DeliveryResult d = deliver(request(s, {"a@alpha.test", "b@alpha.test", "c@alpha.test"}));
  s.join();
  EXPECT_FALSE(d.session_ok);
  EXPECT_EQ(d.failed_step, DeliveryStep::kFinal);
  EXPECT_TRUE(d.recipients[0].delivered());
  EXPECT_FALSE(d.recipients[0].maybe_delivered);
  for (size_t i : {1u, 2u}) {
    EXPECT_FALSE(d.recipients[i].delivered());
    EXPECT_TRUE(d.recipients[i].maybe_delivered);
    EXPECT_FALSE(d.recipients[i].final_from_server);
    EXPECT_EQ(d.recipients[i].final_reply.code, 451);
    ASSERT_TRUE(d.recipients[i].final_reply.enhanced.has_value());
    EXPECT_EQ(d.recipients[i].final_reply.enhanced->toString(), "4.4.2");
  }
}

TEST(Delivery, PeerDropDuringRcptIs451AndNotMaybeDelivered) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("250 2.1.0 OK\r\n"),
                    line(), send("250 2.1.5 OK\r\n"), line(), hangUp()});
  DeliveryResult d = deliver(request(s, {"a@alpha.test", "b@alpha.test"}));
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kRcpt);
  for (const auto& r : d.recipients) {
    EXPECT_FALSE(r.delivered());
    EXPECT_FALSE(r.maybe_delivered);
    EXPECT_EQ(r.final_reply.toString().substr(0, 9), "451 4.4.2");
  }
}

TEST(Delivery, SmtpCopiesTheOneDataReplyToEveryAcceptedRecipient) {
  ScriptedServer s({send("220 x ESMTP\r\n"), line(), send("250-x\r\n250 8BITMIME\r\n"), line(),
                    send("250 2.1.0 OK\r\n"), line(), send("250 2.1.5 OK\r\n"), line(),
                    send("250 2.1.5 OK\r\n"), line(), send("354 go\r\n"), body(),
                    send("250 2.0.0 queued as ABC\r\n"), line(), send("221 bye\r\n")});
  DeliveryRequest r = request(s, {"a@alpha.test", "b@alpha.test"});
  r.protocol = DeliveryProtocol::kSmtp;
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_EQ(s.received()[0], "EHLO client.test");
  for (const auto& x : d.recipients) {
    EXPECT_TRUE(x.delivered());
    EXPECT_EQ(x.final_reply.toString(), "250 2.0.0 queued as ABC");
  }
}

TEST(Delivery, MissingRequiredKeywordFailsBeforeAnyTransaction) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("221 bye\r\n")});
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.require_keyword = "STOKEN";
  r.auth_line = "AUTH STOKEN c2VjcmV0";
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_FALSE(d.session_ok);
  EXPECT_EQ(d.failed_step, DeliveryStep::kKeyword);
  EXPECT_EQ(d.auth_reply.code, 0);
  EXPECT_FALSE(d.recipients[0].delivered());
  EXPECT_EQ(d.recipients[0].final_reply.code, 451);
  // Nothing but LHLO and QUIT: the token never left.
  EXPECT_EQ(s.received(), (Lines{"LHLO client.test", "QUIT"}));
}

TEST(Delivery, KeywordInAnotherLinesTextDoesNotCount) {
  ScriptedServer s({send("220 x\r\n"), line(),
                    send("250-x STOKEN\r\n250-X-NOT STOKEN\r\n250 XSTOKEN\r\n"), line(),
                    send("221 bye\r\n")});
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.require_keyword = "STOKEN";
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kKeyword);
}

TEST(Delivery, RefusedAuthFailsTheSessionAndKeepsTheReply) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhloStoken), line(),
                    send("535 5.7.8 Authentication credentials invalid\r\n"), line(),
                    send("221 bye\r\n")});
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.require_keyword = "STOKEN";
  r.auth_line = "AUTH STOKEN c2VjcmV0";
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kAuth);
  EXPECT_EQ(d.auth_reply.toString(), "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(d.recipients[0].final_reply.code, 535);
  EXPECT_TRUE(d.recipients[0].final_from_server);
  EXPECT_FALSE(d.recipients[0].delivered());
  EXPECT_EQ(s.received(), (Lines{"LHLO client.test", "AUTH STOKEN c2VjcmV0", "QUIT"}));
}

TEST(Delivery, AcceptedAuthThenTokenParametersOnRcpt) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhloStoken), line(),
                    send("235 2.7.0 ok\r\n"), line(), send("250 2.1.0 OK\r\n"), line(),
                    send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send("250 2.1.13 <a@alpha.test> PERM id Saved\r\n"), line(),
                    send("221 bye\r\n")});
  DeliveryRequest r = request(s, {});
  r.recipients = {{"a@alpha.test", "STOKEN=abc MYSTOKEN=def"}};
  r.require_keyword = "STOKEN";
  r.auth_line = "AUTH STOKEN c2VjcmV0";
  r.drop_unadvertised_params = true;
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_EQ(d.auth_reply.code, 235);
  EXPECT_TRUE(d.recipients[0].delivered());
  EXPECT_EQ(d.recipients[0].final_reply.enhanced->toString(), "2.1.13");
  EXPECT_EQ(s.received()[3], "RCPT TO:<a@alpha.test> STOKEN=abc MYSTOKEN=def");
  EXPECT_TRUE(d.dropped_params.empty());
}

TEST(Delivery, UnadvertisedParametersAreDroppedWhenAsked) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("250 2.1.0 OK\r\n"),
                    line(), send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send("250 2.0.0 <a@alpha.test> id Saved\r\n"), line(), send("221 bye\r\n")});
  DeliveryRequest r = request(s, {});
  r.mail_params = "BODY=8BITMIME SIZE=100";
  r.recipients = {{"a@alpha.test", "STOKEN=abc  MYSTOKEN=def NOTIFY=NEVER"}};
  r.drop_unadvertised_params = true;
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_EQ(s.received()[1], "MAIL FROM:<bob@beta.test> BODY=8BITMIME");
  EXPECT_EQ(s.received()[2], "RCPT TO:<a@alpha.test>");
  EXPECT_EQ(d.dropped_params, (Lines{"SIZE=100", "STOKEN=abc", "MYSTOKEN=def", "NOTIFY=NEVER"}));
}

TEST(Delivery, MessageIsDotStuffedWithCrlfLineEnds) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("250 2.1.0 OK\r\n"),
                    line(), send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send("250 2.0.0 <a@alpha.test> id Saved\r\n"), line(), send("221 bye\r\n")});
  // A lone "." line would end the message early: the attacker's next
  // "MAIL FROM" would then be a command (SMTP smuggling).
  DeliveryResult d = deliver(request(s, {"a@alpha.test"},
                                     ".hidden\n\nbody\n.\nMAIL FROM:<evil@x>\r\n..two\nx\r.\rQUIT\nlast"));
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_EQ(s.received()[4],
            "..hidden\r\n\r\nbody\r\n..\r\nMAIL FROM:<evil@x>\r\n...two\r\nx\r\n..\r\nQUIT\r\n"
            "last\r\n.\r\n");
}

TEST(Delivery, GiantReplyLineFailsTheSessionWithoutGrowingWithoutBound) {
  const std::string giant = "250 " + std::string(100000, 'x') + "\r\n";
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send(giant), waitClose()});
  DeliveryResult d = deliver(request(s, {"a@alpha.test"}));
  s.join();
  EXPECT_FALSE(d.session_ok);
  EXPECT_EQ(d.failed_step, DeliveryStep::kMail);
  EXPECT_EQ(d.recipients[0].final_reply.toString().substr(0, 9), "451 4.5.0");
  EXPECT_LT(d.error.size(), 1000u);
}

TEST(Delivery, TooManyReplyLinesFailTheHello) {
  std::string many;
  for (int i = 0; i < 500; ++i) many += "250-X" + std::to_string(i) + "\r\n";
  many += "250 END\r\n";
  ScriptedServer s({send("220 x\r\n"), line(), send(many), waitClose()});
  DeliveryResult d = deliver(request(s, {"a@alpha.test"}));
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kHello);
  EXPECT_EQ(d.recipients[0].final_reply.code, 451);
}

TEST(Delivery, GiantFinalReplyLeavesTheRecipientMaybeDelivered) {
  const std::string giant = "250 " + std::string(100000, 'y') + "\r\n";
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("250 2.1.0 OK\r\n"),
                    line(), send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send(giant), waitClose()});
  DeliveryResult d = deliver(request(s, {"a@alpha.test"}));
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kFinal);
  EXPECT_TRUE(d.recipients[0].maybe_delivered);
  EXPECT_FALSE(d.recipients[0].delivered());
}

TEST(Delivery, GreetingRefusalIsCopiedToEveryRecipient) {
  ScriptedServer s({send("421 4.3.2 busy\r\n"), waitClose()});
  DeliveryResult d = deliver(request(s, {"a@alpha.test", "b@alpha.test"}));
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kGreeting);
  for (const auto& r : d.recipients) EXPECT_EQ(r.final_reply.toString(), "421 4.3.2 busy");
}

TEST(Delivery, MailRefusalIsCopiedToEveryRecipient) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(),
                    send("550 5.7.8 wrong sender\r\n"), line(), send("221 bye\r\n")});
  DeliveryResult d = deliver(request(s, {"a@alpha.test"}));
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kMail);
  EXPECT_EQ(d.recipients[0].final_reply.toString(), "550 5.7.8 wrong sender");
  EXPECT_EQ(d.failed_reply.code, 550);
}

TEST(Delivery, DialFailureIs451Dial) {
  uint16_t port = 0;
  {
    UniqueFd l = mtep::testing::listenLoopback(&port);
  }  // closed: nothing listens there now
  DeliveryRequest r;
  r.host = "127.0.0.1";
  r.port = port;
  r.mail_from = "bob@beta.test";
  r.recipients = {{"a@alpha.test", ""}};
  r.message = "x\n";
  DeliveryResult d = deliver(r);
  EXPECT_EQ(d.failed_step, DeliveryStep::kDial);
  EXPECT_EQ(d.recipients[0].final_reply.toString().substr(0, 9), "451 4.4.1");
}

TEST(Delivery, MalformedRequestsAreRefusedBeforeDialling) {
  DeliveryRequest base;
  base.host = "127.0.0.1";
  base.port = 1;  // never dialled
  base.mail_from = "bob@beta.test";
  base.recipients = {{"a@alpha.test", ""}};
  std::vector<DeliveryRequest> bad(6, base);
  bad[0].recipients[0].address = "a@alpha.test>\r\nRCPT TO:<evil@x";
  bad[1].recipients[0].params = "STOKEN=x\r\nRSET";
  bad[2].mail_from = "a b@x";
  bad[3].auth_line = "AUTH X\nDATA";
  bad[4].recipients.clear();
  bad[5].max_recipients = 0;
  for (size_t i = 0; i < bad.size(); ++i) {
    DeliveryResult d = deliver(bad[i]);
    EXPECT_EQ(d.failed_step, DeliveryStep::kRequest) << "case " << i;
  }
}

TEST(Delivery, RequiredStartTlsNotOfferedFails) {
  ScriptedServer s({send("220 x\r\n"), line(), send(kLhlo), line(), send("221 bye\r\n")});
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.tls = DeliveryTls::kRequired;
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kTls);
  EXPECT_EQ(s.received(), (Lines{"LHLO client.test", "QUIT"}));
}

TEST(Delivery, StartTlsThenKeywordSeenOnlyAfterTls) {
  mtep::testing::Credentials creds = mtep::testing::selfSigned();
  ScriptedServer s({send("220 x\r\n"), line(), send("250-x\r\n250 STARTTLS\r\n"), line(),
                    send("220 2.0.0 go\r\n"), tls(), line(), send(kLhloStoken), line(),
                    send("235 2.7.0 ok\r\n"), line(), send("250 2.1.0 OK\r\n"), line(),
                    send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send("250 2.1.12 <a@alpha.test> id Saved\r\n"), line(), send("221 bye\r\n")},
                   &creds);
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.tls = DeliveryTls::kRequired;
  r.require_keyword = "STOKEN";
  r.auth_line = "AUTH STOKEN c2VjcmV0";
  r.tls_options.trust.pins = {transport::spkiFingerprint(creds.cert.get())};
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_TRUE(s.tlsDone());
  EXPECT_FALSE(d.tls_protocol.empty());
  EXPECT_EQ(d.tls_fingerprint, transport::spkiFingerprint(creds.cert.get()));
  EXPECT_TRUE(d.recipients[0].delivered());
}

TEST(Delivery, WrongPinFailsTlsAndTheTokenIsNeverSent) {
  mtep::testing::Credentials creds = mtep::testing::selfSigned();
  ScriptedServer s({send("220 x\r\n"), line(), send("250-x\r\n250 STARTTLS\r\n"), line(),
                    send("220 2.0.0 go\r\n"), tls(), line()},
                   &creds);
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.tls = DeliveryTls::kRequired;
  r.auth_line = "AUTH STOKEN c2VjcmV0";
  r.tls_options.trust.pins = {std::string(52, 'a')};
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kTls);
  for (const auto& got : s.received()) EXPECT_EQ(got.find("AUTH"), std::string::npos) << got;
}

TEST(Delivery, OpportunisticStartTlsRefusedGoesOnInPlainText) {
  ScriptedServer s({send("220 x\r\n"), line(), send("250-x\r\n250 STARTTLS\r\n"), line(),
                    send("454 4.7.0 not now\r\n"), line(), send("250 2.1.0 OK\r\n"), line(),
                    send("250 2.1.5 OK\r\n"), line(), send("354 OK\r\n"), body(),
                    send("250 2.0.0 <a@alpha.test> id Saved\r\n"), line(), send("221 bye\r\n")});
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.tls = DeliveryTls::kOpportunistic;
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_TRUE(d.tls_protocol.empty());
  EXPECT_TRUE(d.recipients[0].delivered());
}

TEST(Delivery, RequiredStartTlsRefusedFailsAndTheKeywordCheckNeverRuns) {
  ScriptedServer s({send("220 x\r\n"), line(), send("250-x\r\n250-STARTTLS\r\n250 STOKEN\r\n"),
                    line(), send("454 4.7.0 not now\r\n"), line(), send("221 bye\r\n")});
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.tls = DeliveryTls::kRequired;
  r.require_keyword = "STOKEN";
  r.auth_line = "AUTH STOKEN c2VjcmV0";
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_EQ(d.failed_step, DeliveryStep::kTls);
  EXPECT_EQ(s.received(), (Lines{"LHLO client.test", "STARTTLS", "QUIT"}));
}

TEST(Delivery, ImplicitTlsFromTheFirstByte) {
  mtep::testing::Credentials creds = mtep::testing::selfSigned();
  ScriptedServer s({tls(), send("220 x\r\n"), line(), send(kLhloStoken), line(),
                    send("250 2.1.0 OK\r\n"), line(), send("250 2.1.5 OK\r\n"), line(),
                    send("354 OK\r\n"), body(), send("250 2.1.12 <a@alpha.test> id Saved\r\n"),
                    line(), send("221 bye\r\n")},
                   &creds);
  DeliveryRequest r = request(s, {"a@alpha.test"});
  r.tls = DeliveryTls::kImplicit;
  r.require_keyword = "STOKEN";
  r.tls_options.trust.pins = {transport::spkiFingerprint(creds.cert.get())};
  DeliveryResult d = deliver(r);
  s.join();
  EXPECT_TRUE(d.session_ok) << d.error;
  EXPECT_FALSE(d.tls_protocol.empty());
  EXPECT_TRUE(d.recipients[0].delivered());
}

TEST(AdvertisedParams, KeepsOnlyWhatTheHelloAdvertises) {
  ParsedReply hello;
  hello.code = 250;
  hello.lines = {"x", "SIZE 100", "DSN", "stoken"};
  std::vector<std::string> dropped;
  EXPECT_EQ(advertisedParams("SIZE=5 BODY=8BITMIME NOTIFY=NEVER STOKEN=a MYSTOKEN=b XFOO",
                             hello, &dropped),
            "SIZE=5 NOTIFY=NEVER STOKEN=a MYSTOKEN=b");
  EXPECT_EQ(dropped, (Lines{"BODY=8BITMIME", "XFOO"}));
}

}  // namespace
}  // namespace mtep::smtp
