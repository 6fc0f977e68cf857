// NAME
//   smtp_session_test.cc - mtepd's ESMTP session with a fake token checker
// DESCRIPTION
//   The session from SmtpSessionFactory driven directly (no sockets): the
//   greeting, EHLO keywords with and without a TLS context, STARTTLS (its
//   step, its replies, pipelined bytes dropped), STARTMTEP and back to SMTP
//   after Q, the errors, the limits and the timeouts. A whole conversation
//   gives the same replies whole, byte by byte and split at random points.

#include "smtp_session.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "unit/mtepd/test_tls.h"
#include "unit/netstring/slicing.h"

namespace mtep::mtepd {
namespace {

using server::SessionAction;
using server::SessionStep;

// "good" is known (K2.7.0), anything else forged (D5.7.8).
class FakeChecker final : public proto::TokenChecker {
 public:
  proto::CheckResult check(const proto::Query& q) override {
    ++calls;
    if (q.token == "good") {
      return {{proto::Verdict::kYes, smtp::EnhancedStatus{2, 7, 0}, "known"}, "valid"};
    }
    return {{proto::Verdict::kNo, smtp::EnhancedStatus{5, 7, 8}, "unknown"}, "bad-mac"};
  }
  int calls = 0;
};

std::string ns(std::string_view payload) {
  return std::to_string(payload.size()) + ":" + std::string(payload) + ",";
}
std::string ask(std::string_view token) { return ns(ns("?") + ns(token)); }
const std::string kQuit = ns(ns("Q"));

config::ConfigPtr testConfig(uint32_t max_commands = 1000) {
  auto c = std::make_shared<config::Config>();
  c->mtepd.hostname = "mx.test";
  c->mtepd.smtp_max_line = 512;
  c->mtepd.smtp_idle_timeout = 300;
  c->mtepd.idle_timeout = 30;
  c->mtepd.max_commands_per_connection = max_commands;
  return c;
}

class SmtpSessionTest : public ::testing::Test {
 protected:
  void make(bool with_tls, uint32_t max_commands = 1000) {
    factory_ = std::make_unique<SmtpSessionFactory>(testConfig(max_commands), checker_,
                                                    with_tls ? testTls() : nullptr);
    session_ = factory_->create({"192.0.2.1:4000", "127.0.0.1:25"});
    std::string out;
    session_->onConnect(&out);
    greeting_ = out;
  }
  // Feeds `in`; returns what the session wrote, and its step in *step.
  std::string feed(std::string_view in, SessionStep* step = nullptr) {
    std::string out;
    SessionStep s = session_->onData(in, &out);
    if (step != nullptr) *step = s;
    return out;
  }

  FakeChecker checker_;
  std::unique_ptr<SmtpSessionFactory> factory_;
  std::unique_ptr<server::ProtocolSession> session_;
  std::string greeting_;
};

TEST_F(SmtpSessionTest, GreetsWithTheConfiguredHostname) {
  make(false);
  EXPECT_EQ(greeting_, "220 mx.test ESMTP mtepd\r\n");
}

TEST_F(SmtpSessionTest, EhloWithoutCertificateOffersStartMtepButNotStartTls) {
  make(false);
  EXPECT_EQ(feed("EHLO client.example\r\n"),
            "250-mx.test\r\n250-X-STARTMTEP\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(feed("STARTTLS\r\n"), "454 4.7.0 TLS not available\r\n");
}

TEST_F(SmtpSessionTest, EhloWithCertificateOffersStartTlsUntilTlsStarts) {
  make(true);
  EXPECT_EQ(feed("EHLO client.example\r\n"),
            "250-mx.test\r\n250-STARTTLS\r\n250-X-STARTMTEP\r\n250-PIPELINING\r\n"
            "250 ENHANCEDSTATUSCODES\r\n");
  ASSERT_NE(session_->tlsContext(), nullptr);
  SessionStep step;
  EXPECT_EQ(feed("STARTTLS\r\n", &step), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(step.action, SessionAction::kStartTls);
  // RFC 3207: EHLO again; STARTTLS is no longer offered nor accepted.
  EXPECT_EQ(feed("STARTMTEP\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  EXPECT_EQ(feed("EHLO client.example\r\n"),
            "250-mx.test\r\n250-X-STARTMTEP\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(feed("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
}

TEST_F(SmtpSessionTest, StartTlsIgnoresWhatWasPipelinedAfterIt) {
  make(true);
  feed("EHLO a\r\n");
  SessionStep step;
  EXPECT_EQ(feed("STARTTLS\r\nNOOP\r\nMAIL FROM:<a@b>\r\n", &step),
            "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(step.action, SessionAction::kStartTls);
  // A half line pipelined after it is forgotten too.
  make(true);
  feed("EHLO a\r\n");
  EXPECT_EQ(feed("STARTTLS\r\nNO", &step), "220 2.0.0 Ready to start TLS\r\n");
  // "OP" is a line of its own now, not the end of "NOOP".
  EXPECT_EQ(feed("OP\r\n"), "502 5.5.1 Error: command not implemented\r\n");
}

TEST_F(SmtpSessionTest, StartTlsAndStartMtepNeedEhloFirst) {
  make(true);
  EXPECT_EQ(feed("STARTTLS\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  EXPECT_EQ(feed("STARTMTEP\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  EXPECT_EQ(feed("HELO a\r\n"), "250 mx.test\r\n");
  SessionStep step;
  EXPECT_EQ(feed("STARTTLS\r\n", &step), "220 2.0.0 Ready to start TLS\r\n");
}

TEST_F(SmtpSessionTest, StartMtepAnswersTokensThenQuitReturnsToSmtp) {
  make(false);
  feed("EHLO a\r\n");
  EXPECT_EQ(feed("STARTMTEP\r\n"), "220 2.0.0 Go ahead with MTEP\r\n");
  EXPECT_EQ(session_->idleTimeoutSeconds(), 30);  // MTEP's idle_timeout now
  EXPECT_EQ(feed(ask("good")), ns("K2.7.0 known"));
  EXPECT_EQ(feed(ask("forged")), ns("D5.7.8 unknown"));
  SessionStep step;
  const std::string bye = feed(kQuit, &step);
  EXPECT_NE(bye.find("K2.3.0 CYA "), std::string::npos) << bye;
  EXPECT_EQ(step.action, SessionAction::kContinue);
  EXPECT_EQ(session_->idleTimeoutSeconds(), 300);  // SMTP again
  // A CRLF after the Q netstring is not an SMTP error.
  EXPECT_EQ(feed("\r\nNOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(feed("STARTMTEP\r\n"), "220 2.0.0 Go ahead with MTEP\r\n");  // again
  EXPECT_EQ(feed(ask("good")), ns("K2.7.0 known"));
  EXPECT_EQ(checker_.calls, 3);
}

TEST_F(SmtpSessionTest, BytesPipelinedAfterStartMtepAreMtep) {
  make(false);
  EXPECT_EQ(feed("EHLO a\r\nSTARTMTEP\r\n" + ask("good")),
            "250-mx.test\r\n250-X-STARTMTEP\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
            "220 2.0.0 Go ahead with MTEP\r\n" + ns("K2.7.0 known"));
}

TEST_F(SmtpSessionTest, MtepFramingErrorClosesTheConnection) {
  make(false);
  feed("EHLO a\r\nSTARTMTEP\r\n");
  SessionStep step;
  const std::string out = feed("NOOP\r\n", &step);
  EXPECT_NE(out.find(":D5.5.2 "), std::string::npos) << out;
  EXPECT_EQ(step.action, SessionAction::kCloseAfterFlush);
}

TEST_F(SmtpSessionTest, EverythingElseIsNotImplemented) {
  make(false);
  feed("EHLO a\r\n");
  EXPECT_EQ(feed("MAIL FROM:<a@b.example>\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(feed("RCPT TO:<a@b.example>\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(feed("DATA\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(feed("VRFY root\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(feed("XYZZY\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(feed("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(feed("RSET\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(feed("HELP\r\n"),
            "214 2.0.0 Commands: EHLO HELO STARTTLS STARTMTEP NOOP RSET HELP QUIT\r\n");
}

TEST_F(SmtpSessionTest, SyntaxErrorsGetTheirCodes) {
  make(false);
  EXPECT_EQ(feed("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
  EXPECT_EQ(feed("HELO\r\n"), "501 5.5.4 Syntax: HELO hostname\r\n");
  EXPECT_EQ(feed("\r\n"), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(feed("N0OP\r\n"), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(feed(std::string("NO\0OP\r\n", 7)), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(feed("RSET x\r\n"), "501 5.5.4 Syntax: RSET\r\n");
  feed("EHLO a\r\n");
  EXPECT_EQ(feed("STARTMTEP now\r\n"), "501 5.5.4 Syntax: STARTMTEP\r\n");
  EXPECT_EQ(feed(std::string(600, 'x') + "\r\nNOOP\r\n"),
            "500 5.5.6 Error: line too long\r\n250 2.0.0 Ok\r\n");
}

TEST_F(SmtpSessionTest, TooManyErrorsEndWith421) {
  make(false);
  for (uint32_t i = 1; i < SmtpSessionFactory::kMaxErrors; ++i) {
    EXPECT_EQ(feed("BOGUS\r\n"), "502 5.5.1 Error: command not implemented\r\n") << i;
  }
  SessionStep step;
  EXPECT_EQ(feed("BOGUS\r\nNOOP\r\n", &step), "421 4.7.0 mx.test Error: too many errors\r\n");
  EXPECT_EQ(step.action, SessionAction::kCloseAfterFlush);
}

TEST_F(SmtpSessionTest, CommandsAndMtepRequestsShareTheCommandLimit) {
  make(false, 4);
  SessionStep step;
  // EHLO, STARTMTEP (2 commands); then 2 MTEP requests are left.
  feed("EHLO a\r\nSTARTMTEP\r\n");
  EXPECT_EQ(feed(ask("good")), ns("K2.7.0 known"));
  EXPECT_EQ(feed(ask("good"), &step), ns("K2.7.0 known"));
  EXPECT_EQ(step.action, SessionAction::kCloseAfterFlush);

  make(false, 2);
  EXPECT_EQ(feed("NOOP\r\nNOOP\r\nNOOP\r\n", &step),
            "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n421 4.7.0 mx.test Error: too many commands\r\n");
  EXPECT_EQ(step.action, SessionAction::kCloseAfterFlush);
}

TEST_F(SmtpSessionTest, QuitSays221AndCloses) {
  make(false);
  SessionStep step;
  EXPECT_EQ(feed("QUIT\r\nNOOP\r\n", &step), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(step.action, SessionAction::kCloseAfterFlush);
}

TEST_F(SmtpSessionTest, IdleTimeoutSays421InSmtpAndI442InMtep) {
  make(false);
  std::string out;
  SessionStep step = session_->onTimeout(&out);
  EXPECT_EQ(out, "421 4.4.2 mx.test Error: timeout exceeded\r\n");
  EXPECT_EQ(step.action, SessionAction::kCloseAfterFlush);

  make(false);
  feed("EHLO a\r\nSTARTMTEP\r\n");
  out.clear();
  step = session_->onTimeout(&out);
  EXPECT_EQ(out.find("I4.4.2"), out.find(':') + 1) << out;
  EXPECT_EQ(step.action, SessionAction::kCloseAfterFlush);
}

TEST_F(SmtpSessionTest, EofClosesWithoutAWord) {
  make(false);
  std::string out;
  EXPECT_EQ(session_->onEof(&out).action, SessionAction::kCloseAfterFlush);
  EXPECT_EQ(out, "");
}

TEST_F(SmtpSessionTest, BusyReplyIs421) {
  make(false);
  EXPECT_EQ(factory_->busyReply(),
            "421 4.7.0 mx.test Error: too many connections, try again later\r\n");
}

TEST_F(SmtpSessionTest, AConversationIsAnsweredTheSameInEverySlicing) {
  const std::string in = "ehlo a\r\nNOOP\r\nBOGUS\r\nSTARTMTEP\r\n" + ask("good") + ask("bad");
  make(false);
  const std::string want = feed(in);
  ASSERT_NE(want.find("D5.7.8"), std::string::npos) << want;
  for (const auto& s : mtep::testing::allSlicings(in)) {
    make(false);
    std::string got;
    for (std::string_view piece : s.pieces) got += feed(piece);
    EXPECT_EQ(got, want) << s.name;
  }
}

}  // namespace
}  // namespace mtep::mtepd
