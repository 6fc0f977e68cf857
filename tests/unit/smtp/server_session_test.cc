// NAME
//   server_session_test.cc - the I/O-free SMTP/LMTP server session
// DESCRIPTION
//   Driven directly: every limit (line, errors, commands, recipients,
//   message size with the data drained), pipelining order, the STARTTLS
//   injection (CVE-2011-0411), LMTP's per-recipient replies and their
//   padding, HELO/EHLO refused in LMTP, suspend/resume, AUTH's 334
//   continuation, parameters seen by the daemon, diversions.

#include "smtp/server_session.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace mtep::smtp {
namespace {

ServerSettings smtpSettings() {
  ServerSettings s;
  s.hostname = "mx.test";
  s.greeting = "ESMTP test";
  s.extensions = {{"STARTTLS"}, {"AUTH"}, {"SIZE"}, {"PIPELINING"}, {"ENHANCEDSTATUSCODES"}};
  s.tls_available = true;
  s.limits.max_line = 512;
  s.limits.max_message_size = 1000;
  s.limits.max_recipients = 3;
  return s;
}

ServerSettings lmtpSettings() {
  ServerSettings s = smtpSettings();
  s.dialect = Dialect::kLmtp;
  s.greeting = "LMTP test";
  return s;
}

// A daemon that accepts everything and records the messages.
struct Recorder {
  std::vector<Message> messages;
  std::vector<Reply> answers;  // given to answerMessage at once
  bool suspend = false;
  void install(ServerSession& s) {
    s.hooks().on_message = [this](ServerSession& ss, Message&& m) {
      messages.push_back(std::move(m));
      if (suspend) {
        ss.suspend();
        return;
      }
      ss.answerMessage(answers);
    };
  }
};

// Feeds like a connection: bytes a suspended session did not take are kept
// and fed again after resume.
class Driver {
 public:
  explicit Driver(ServerSettings settings) : session(std::move(settings)) {}
  std::string greet() { return session.greet().out; }
  std::string feed(std::string_view in) {
    kept_.append(in);
    return drain();
  }
  std::string resume(const std::vector<Reply>& replies) {
    last = session.resume(replies);
    std::string out = last.out;
    if (!last.suspended) out += drain();
    return out;
  }
  ServerSession session;
  ServerStep last;

 private:
  std::string drain() {
    std::string in = std::move(kept_);
    kept_.clear();
    last = session.feed(in);
    if (last.suspended) kept_ = in.substr(in.size() - last.unconsumed);
    return last.out;
  }
  std::string kept_;
};

TEST(ServerSession, GreetsAndAnswersEhloWithTheExtensionsShownNow) {
  Driver d(smtpSettings());
  EXPECT_EQ(d.greet(), "220 mx.test ESMTP test\r\n");
  // No AUTH mechanism: no AUTH line; SIZE carries the limit.
  EXPECT_EQ(d.feed("EHLO client.test\r\n"),
            "250-mx.test\r\n250-STARTTLS\r\n250-SIZE 1000\r\n250-PIPELINING\r\n"
            "250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(d.feed("HELO client.test\r\n"), "250 mx.test\r\n");
  EXPECT_EQ(d.feed("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
}

TEST(ServerSession, WithoutEnhancedStatusCodesTheBuiltInRepliesHaveNone) {
  ServerSettings s = smtpSettings();
  s.extensions = {{"PIPELINING"}};
  Driver d(s);
  EXPECT_EQ(d.feed("NOOP\r\nFOO\r\n"), "250 Ok\r\n502 Error: command not implemented\r\n");
}

TEST(ServerSession, TlsOnlyExtensionsAndEnhancedCodesAppearWithTls) {
  // The token server's shape: STOKEN and ENHANCEDSTATUSCODES only under TLS.
  ServerSettings s = lmtpSettings();
  s.extensions = {{"STARTTLS"}, {"STOKEN", true}, {"PIPELINING"}, {"ENHANCEDSTATUSCODES", true}};
  Driver d(s);
  EXPECT_EQ(d.feed("LHLO c\r\nNOOP\r\n"),
            "250-mx.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n250 Ok\r\n");
  EXPECT_EQ(d.feed("STARTTLS\r\n"), "220 Ready to start TLS\r\n");
  EXPECT_EQ(d.feed("LHLO c\r\nNOOP\r\n"),
            "250-mx.test\r\n250-STOKEN\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
            "250 2.0.0 Ok\r\n");
}

TEST(ServerSession, LmtpRefusesHeloAndEhloAndTakesLhlo) {
  Driver d(lmtpSettings());
  EXPECT_EQ(d.greet(), "220 mx.test LMTP test\r\n");
  EXPECT_EQ(d.feed("HELO client.test\r\n"), "500 5.5.1 Error: this is LMTP, say LHLO\r\n");
  EXPECT_EQ(d.feed("EHLO client.test\r\n"), "500 5.5.1 Error: this is LMTP, say LHLO\r\n");
  EXPECT_TRUE(d.session.helo().empty());
  EXPECT_EQ(d.feed("LHLO client.test\r\n").substr(0, 13), "250-mx.test\r\n");
  EXPECT_EQ(d.session.helo(), "client.test");
  // And SMTP does not know LHLO.
  Driver smtp(smtpSettings());
  EXPECT_EQ(smtp.feed("LHLO client.test\r\n"), "502 5.5.1 Error: command not implemented\r\n");
}

TEST(ServerSession, PipelinedCommandsAreAnsweredInOrderHoweverSliced) {
  const std::string in =
      "EHLO c\r\nNOOP\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nRSET\r\nBOGUS\r\nQUIT\r\n";
  const std::string want =
      "250-mx.test\r\n250-STARTTLS\r\n250-SIZE 1000\r\n250-PIPELINING\r\n"
      "250 ENHANCEDSTATUSCODES\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
      "250 2.0.0 Ok\r\n502 5.5.1 Error: command not implemented\r\n221 2.0.0 Bye\r\n";
  for (size_t step : {in.size(), size_t{1}, size_t{3}, size_t{7}}) {
    Driver d(smtpSettings());
    Recorder r;
    r.install(d.session);
    std::string out;
    for (size_t i = 0; i < in.size(); i += step) out += d.feed(in.substr(i, step));
    EXPECT_EQ(out, want) << "slices of " << step;
    EXPECT_TRUE(d.last.close);
    EXPECT_EQ(d.session.endReason(), "quit");
  }
}

TEST(ServerSession, StartTlsDropsWhatWasPipelinedAfterIt) {
  // CVE-2011-0411: a command in the same packet as STARTTLS must never run.
  Driver d(smtpSettings());
  Recorder r;
  r.install(d.session);
  d.feed("EHLO c\r\n");
  EXPECT_EQ(d.feed("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<v@y.test>\r\n"),
            "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(d.last.start_tls);
  EXPECT_EQ(d.last.unconsumed, 0u);
  EXPECT_TRUE(d.session.tlsActive());
  EXPECT_FALSE(d.session.inTransaction());
  // The HELO is forgotten; a half line sent before the handshake too.
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test>\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  EXPECT_EQ(d.feed("EHLO c\r\n"),
            "250-mx.test\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(d.feed("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
}

TEST(ServerSession, StartTlsForgetsAHalfLineAndTheLogin) {
  Driver d(smtpSettings());
  d.session.addAuthMechanism({"X", [](ServerSession& s, const std::optional<std::string>&) {
                                s.setUser("u");
                                s.reply("235 2.7.0 Ok");
                              }, false});
  d.feed("EHLO c\r\nAUTH X\r\n");
  EXPECT_EQ(d.session.user(), "u");
  EXPECT_EQ(d.feed("STARTTLS\r\nNO"), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(d.session.user(), "");
  EXPECT_EQ(d.feed("OP\r\n"), "502 5.5.1 Error: command not implemented\r\n");
}

TEST(ServerSession, StartTlsRules) {
  ServerSettings s = smtpSettings();
  s.tls_available = false;
  Driver d(s);
  EXPECT_EQ(d.feed("STARTTLS\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  EXPECT_EQ(d.feed("EHLO c\r\nSTARTTLS x\r\nSTARTTLS\r\n"),
            "250-mx.test\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
            "501 5.5.4 Syntax: STARTTLS\r\n454 4.7.0 TLS not available\r\n");
  s.starttls = false;
  Driver off(s);
  off.feed("EHLO c\r\n");
  EXPECT_EQ(off.feed("STARTTLS\r\n"),
            "502 5.5.1 Error: command not implemented\r\n");
  // Implicit TLS: no STARTTLS offered, refused as TLS is on.
  s = smtpSettings();
  s.tls_active = true;
  Driver tls(s);
  EXPECT_EQ(tls.feed("EHLO c\r\nSTARTTLS\r\n"),
            "250-mx.test\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
            "503 5.5.1 Error: TLS already active\r\n");
}

TEST(ServerSession, TooManyErrorsCloses) {
  ServerSettings s = smtpSettings();
  s.limits.max_errors = 3;
  Driver d(s);
  EXPECT_EQ(d.feed("X\r\nY\r\nZ\r\nNOOP\r\n"),
            "502 5.5.1 Error: command not implemented\r\n"
            "502 5.5.1 Error: command not implemented\r\n"
            "421 4.7.0 mx.test Error: too many errors\r\n");
  EXPECT_TRUE(d.last.close);
  EXPECT_EQ(d.session.endReason(), "too-many-errors");
  // The default is 20.
  Driver twenty(smtpSettings());
  std::string out;
  for (int i = 0; i < 19; ++i) out = twenty.feed("X\r\n");
  EXPECT_EQ(out, "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_EQ(twenty.feed("X\r\n"), "421 4.7.0 mx.test Error: too many errors\r\n");
}

TEST(ServerSession, TooManyCommandsCloses) {
  ServerSettings s = smtpSettings();
  s.limits.max_commands = 2;
  Driver d(s);
  EXPECT_EQ(d.feed("NOOP\r\nNOOP\r\nNOOP\r\n"),
            "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n421 4.7.0 mx.test Error: too many commands\r\n");
  EXPECT_TRUE(d.last.close);
  EXPECT_EQ(d.session.endReason(), "too-many-commands");
}

TEST(ServerSession, ALineOfTenMegabytesIsRefusedWithoutBufferingIt) {
  Driver d(smtpSettings());
  d.feed("EHLO c\r\n");
  const std::string chunk(64 * 1024, 'A');
  std::string out;
  for (int i = 0; i < 160; ++i) out += d.feed(chunk);  // 10 MiB
  EXPECT_EQ(out, "");
  EXPECT_EQ(d.feed("\r\nNOOP\r\n"), "500 5.5.6 Error: line too long\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(d.session.errors(), 1u);
}

TEST(ServerSession, RecipientLimitGives452AndTheMessageGoesToTheOthers) {
  Driver d(smtpSettings());
  Recorder r;
  r.install(d.session);
  r.answers = {{250, EnhancedStatus{2, 0, 0}, "queued"}};
  d.feed("EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(d.feed("RCPT TO:<1@y.test>\r\nRCPT TO:<2@y.test>\r\nRCPT TO:<3@y.test>\r\n"
                   "RCPT TO:<4@y.test>\r\n"),
            "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
            "452 4.5.3 Error: too many recipients\r\n");
  EXPECT_EQ(d.feed("DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 queued\r\n");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].recipients.size(), 3u);
  EXPECT_EQ(r.messages[0].data, "Subject: x\r\n\r\n.dot\r\n");
  EXPECT_EQ(d.last.messages, 1u);
  EXPECT_FALSE(d.session.inTransaction());
}

TEST(ServerSession, AMessageOverTheSizeLimitIsDrainedThenRefused) {
  Driver d(lmtpSettings());
  Recorder r;
  r.install(d.session);
  d.feed("LHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<1@y.test>\r\nRCPT TO:<2@y.test>\r\n");
  EXPECT_EQ(d.feed("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  // 10 MB through a 1000-byte limit: nothing answered until the end.
  const std::string line(999, 'x');
  std::string out;
  for (int i = 0; i < 10000; ++i) out += d.feed(line + "\r\n");
  EXPECT_EQ(out, "");
  EXPECT_EQ(d.feed(".\r\nNOOP\r\n"),
            "552 5.3.4 Error: message too big\r\n552 5.3.4 Error: message too big\r\n"
            "250 2.0.0 Ok\r\n");
  EXPECT_TRUE(r.messages.empty());
  EXPECT_FALSE(d.session.inTransaction());
  // SIZE= says so at MAIL already.
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test> SIZE=1001\r\n"),
            "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test> SIZE=99999999999999999999999\r\n"),
            "501 5.5.4 Bad SIZE parameter\r\n");
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test> SIZE=1000\r\n"), "250 2.1.0 Ok\r\n");
}

TEST(ServerSession, LmtpAnswersPerRecipientInOrderAndPadsMissingReplies) {
  Driver d(lmtpSettings());
  Recorder r;
  r.install(d.session);
  r.answers = {{250, EnhancedStatus{2, 0, 0}, "<1@y.test> Saved"},
               {552, EnhancedStatus{5, 2, 2}, "<2@y.test> Quota exceeded"}};
  d.feed("LHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<1@y.test>\r\nRCPT TO:<2@y.test>\r\n"
         "RCPT TO:<3@y.test>\r\n");
  EXPECT_EQ(d.feed("DATA\r\nhi\r\n.\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 <1@y.test> Saved\r\n"
            "552 5.2.2 <2@y.test> Quota exceeded\r\n"
            "451 4.3.0 Error: no answer for this recipient\r\n");
  // A daemon that answers nothing: 451 for each.
  r.answers.clear();
  d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<1@y.test>\r\nRCPT TO:<2@y.test>\r\n");
  EXPECT_EQ(d.feed("DATA\r\nhi\r\n.\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n"
            "451 4.3.0 Error: no answer for this recipient\r\n"
            "451 4.3.0 Error: no answer for this recipient\r\n");
  // SMTP takes one reply whatever the recipients.
  Driver smtp(smtpSettings());
  Recorder sr;
  sr.install(smtp.session);
  sr.answers = {{250, EnhancedStatus{2, 0, 0}, "one"}, {250, EnhancedStatus{2, 0, 0}, "two"}};
  smtp.feed("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<1@y.test>\r\nRCPT TO:<postmaster>\r\n");
  EXPECT_EQ(smtp.feed("DATA\r\nhi\r\n.\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 one\r\n");
}

TEST(ServerSession, OnMessageSuspendsAndLaterCommandsWaitForItsAnswer) {
  Driver d(lmtpSettings());
  Recorder r;
  r.suspend = true;
  r.install(d.session);
  d.feed("LHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<1@y.test>\r\nRCPT TO:<2@y.test>\r\n");
  EXPECT_EQ(d.feed("DATA\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_TRUE(d.last.suspended);
  EXPECT_EQ(d.last.unconsumed, std::string("NOOP\r\nQUIT\r\n").size());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(d.feed(""), "");  // nothing moves while suspended
  EXPECT_EQ(d.resume({{250, EnhancedStatus{2, 1, 12}, "<1@y.test> id Saved"}}),
            "250 2.1.12 <1@y.test> id Saved\r\n451 4.3.0 Error: no answer for this recipient\r\n"
            "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
}

TEST(ServerSession, AVerbSuspendsAndResumes) {
  Driver d(smtpSettings());
  d.session.addVerb({"SLOW", [](ServerSession& s, const std::string&) { s.suspend(); }, kNeedsHelo});
  d.feed("EHLO c\r\n");
  EXPECT_EQ(d.feed("SLOW\r\nNOOP\r\n"), "");
  EXPECT_TRUE(d.last.suspended);
  EXPECT_EQ(d.resume({{250, EnhancedStatus{2, 0, 0}, "done"}}), "250 2.0.0 done\r\n250 2.0.0 Ok\r\n");
}

TEST(ServerSession, VerbFlagsTlsBeforeHeloAndHelpListsVisibleVerbs) {
  Driver d(smtpSettings());
  d.session.addVerb({"KEY", [](ServerSession& s, const std::string& a) { s.reply("250 " + a); },
                     kNeedsTls | kNeedsHelo});
  d.session.addVerb({"SECRET", [](ServerSession& s, const std::string&) { s.reply("250 s"); },
                     kHidden});
  EXPECT_EQ(d.feed("KEY x\r\n"), "530 5.7.0 Must issue a STARTTLS command first\r\n");
  EXPECT_EQ(d.feed("HELP\r\n"),
            "214 2.0.0 Commands: EHLO HELO STARTTLS KEY NOOP RSET HELP QUIT\r\n");
  d.feed("EHLO c\r\nSTARTTLS\r\n");
  EXPECT_EQ(d.feed("KEY x\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  d.feed("EHLO c\r\n");
  EXPECT_EQ(d.feed("KEY x\r\n"), "250 x\r\n");
  EXPECT_EQ(d.feed("SECRET\r\n"), "250 s\r\n");
}

TEST(ServerSession, AuthMechanismWithContinuationLine) {
  Driver d(smtpSettings());
  std::vector<std::string> seen;
  d.session.addAuthMechanism(
      {"TEST", [&seen](ServerSession& s, const std::optional<std::string>& initial) {
         if (initial) {
           seen.push_back("initial:" + *initial);
           s.reply("535 5.7.8 no");
           return;
         }
         s.reply("334 ");
         s.expectLine([&seen](ServerSession& ss, const std::string& line) {
           seen.push_back("line:" + line);
           if (line == "*") {
             ss.reply("501 5.0.0 Authentication cancelled");
             return;
           }
           ss.setUser(line);
           ss.reply("235 2.7.0 Authentication successful");
         });
       }});
  // TLS-only: before TLS AUTH is not offered nor accepted.
  d.feed("EHLO c\r\n");
  EXPECT_EQ(d.feed("AUTH TEST\r\n"),
            "530 5.7.0 Must issue a STARTTLS command first\r\n");
  d.feed("STARTTLS\r\n");
  EXPECT_EQ(d.feed("AUTH TEST\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  EXPECT_EQ(d.feed("EHLO c\r\n"),
            "250-mx.test\r\n250-AUTH TEST\r\n250-SIZE 1000\r\n250-PIPELINING\r\n"
            "250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(d.feed("AUTH\r\nAUTH OTHER\r\nAUTH TEST =\r\n"),
            "501 5.5.4 Syntax: AUTH mechanism [response]\r\n"
            "504 5.5.4 Unrecognized authentication type\r\n535 5.7.8 no\r\n");
  // The line after 334 is the response, even when it looks like a command.
  EXPECT_EQ(d.feed("AUTH TEST\r\nQUIT\r\n"), "334 \r\n235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(d.session.user(), "QUIT");
  EXPECT_EQ(d.feed("AUTH TEST\r\n"), "503 5.5.1 Already authenticated\r\n");
  EXPECT_EQ(seen, (std::vector<std::string>{"initial:", "line:QUIT"}));
  EXPECT_EQ(d.feed("HELP\r\n"), "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH NOOP RSET HELP QUIT\r\n");
}

TEST(ServerSession, ParametersReachTheDaemonAndUnknownOnesAreRefusedByDefault) {
  Driver d(lmtpSettings());
  Recorder r;
  r.install(d.session);
  d.feed("LHLO c\r\n");
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test> BODY=8BITMIME\r\n"),
            "555 5.5.4 Unsupported parameter BODY\r\n");
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test> =x\r\nMAIL FROM:<a@b.test> K=\r\n"),
            "501 5.5.4 Syntax error in parameters\r\n501 5.5.4 Syntax error in parameters\r\n");
  EXPECT_EQ(d.feed("MAIL FROM:<a@@b>\r\n"), "501 5.1.7 Bad sender address syntax\r\n");
  d.feed("MAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(d.feed("RCPT TO:<x@y.test> STOKEN=abc\r\n"), "555 5.5.4 Unsupported parameter STOKEN\r\n");
  EXPECT_EQ(d.feed("RCPT TO:<>\r\nRCPT TO:<a b>\r\n"),
            "501 5.1.3 Bad recipient address syntax\r\n501 5.1.3 Bad recipient address syntax\r\n");
  // A daemon that knows STOKEN and MYSTOKEN.
  std::vector<Recipient> seen;
  d.session.hooks().on_rcpt = [&seen](ServerSession&, const Recipient& rc) {
    seen.push_back(rc);
    if (!findParam(rc.params, "STOKEN")) return Reply{550, EnhancedStatus{5, 7, 1}, "need a token"};
    return Reply{250, EnhancedStatus{2, 1, 5}, "token ok"};
  };
  EXPECT_EQ(d.feed("RCPT TO:<x@y.test> stoken=abc MYSTOKEN=def\r\nRCPT TO:<z@y.test>\r\n"),
            "250 2.1.5 token ok\r\n550 5.7.1 need a token\r\n");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].address, "x@y.test");
  EXPECT_EQ(findParam(seen[0].params, "STOKEN"), "abc");
  EXPECT_EQ(findParam(seen[0].params, "MYSTOKEN"), "def");
  EXPECT_EQ(d.session.recipients().size(), 1u);
}

TEST(ServerSession, RcptAndMailHooksMaySuspend) {
  Driver d(lmtpSettings());
  Recorder r;
  r.install(d.session);
  d.session.hooks().on_mail = [](ServerSession& s, const MailRequest&) {
    s.suspend();
    return Reply{};
  };
  d.session.hooks().on_rcpt = [](ServerSession& s, const Recipient&) {
    s.suspend();
    return Reply{};
  };
  d.feed("LHLO c\r\n");
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<1@y.test> STOKEN=t\r\nRCPT TO:<2@y.test>\r\n"),
            "");
  EXPECT_EQ(d.resume({{250, EnhancedStatus{2, 1, 0}, "sender ok"}}), "250 2.1.0 sender ok\r\n");
  EXPECT_TRUE(d.session.inTransaction());
  EXPECT_EQ(d.resume({{250, EnhancedStatus{2, 1, 5}, "token ok"}}), "250 2.1.5 token ok\r\n");
  EXPECT_EQ(d.resume({{550, EnhancedStatus{5, 7, 1}, "no token"}}), "550 5.7.1 no token\r\n");
  ASSERT_EQ(d.session.recipients().size(), 1u);
  EXPECT_EQ(d.session.recipients()[0].address, "1@y.test");
  EXPECT_EQ(findParam(d.session.recipients()[0].params, "STOKEN"), "t");
  // A resume that says nothing: 451, the recipient not taken.
  d.feed("RCPT TO:<3@y.test>\r\n");
  EXPECT_EQ(d.resume(std::vector<Reply>{}), "451 4.3.0 Error: no answer, try again later\r\n");
  EXPECT_EQ(d.session.recipients().size(), 1u);
}

TEST(ServerSession, TransactionOrderRules) {
  Driver d(smtpSettings());
  Recorder r;
  r.install(d.session);
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test>\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  d.feed("EHLO c\r\n");
  EXPECT_EQ(d.feed("RCPT TO:<x@y.test>\r\nDATA\r\n"),
            "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(d.feed("MAIL FROM:<a@b.test>\r\nMAIL FROM:<a@b.test>\r\nDATA\r\nVRFY x\r\n"),
            "250 2.1.0 Ok\r\n503 5.5.1 Error: nested MAIL command\r\n"
            "503 5.5.1 Error: need RCPT command\r\n"
            "252 2.0.0 Cannot VRFY user, but will accept message\r\n");
  // Without on_message there are no transactions at all.
  Driver none(smtpSettings());
  none.feed("EHLO c\r\n");
  EXPECT_EQ(none.feed("MAIL FROM:<a@b.test>\r\n"),
            "502 5.5.1 Error: command not implemented\r\n");
}

// A toy protocol: echoes lines until "BYE" (back) or "DIE" (close).
class Echo final : public Diversion {
 public:
  Result feed(std::string_view in, std::string* out) override {
    buf_.append(in);
    Result r;
    for (size_t nl; (nl = buf_.find('\n')) != std::string::npos;) {
      const std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      r.answered = true;
      if (line == "BYE") {
        *out += "bye\n";
        r.next = Next::kBack;
        r.skip_blank_line = true;
        return r;
      }
      if (line == "DIE") {
        *out += "dead\n";
        r.next = Next::kClose;
        return r;
      }
      *out += "echo " + line + "\n";
    }
    return r;
  }
  void onEof(std::string* out) override { *out += "eof\n"; }
  void onTimeout(std::string* out) override { *out += "timeout\n"; }
  void onLifetimeOver(std::string* out) override { *out += "lifetime\n"; }

 private:
  std::string buf_;
};

TEST(ServerSession, ADiversionTakesTheBytesAfterItsReplyAndGivesThemBack) {
  Driver d(smtpSettings());
  d.session.addVerb({"ECHO", [](ServerSession& s, const std::string&) {
                       s.reply("220 2.0.0 Go ahead");
                       s.divert(std::make_unique<Echo>());
                     }, kNeedsHelo});
  d.feed("EHLO c\r\n");
  EXPECT_EQ(d.feed("ECHO\r\nhello\nBYE\nNOOP\r\n"),
            "220 2.0.0 Go ahead\r\necho hello\nbye\n");  // the NOOP after BYE is dropped
  EXPECT_FALSE(d.session.diverted());
  EXPECT_EQ(d.feed("\r\nNOOP\r\n"), "250 2.0.0 Ok\r\n");  // one blank line skipped
  EXPECT_EQ(d.feed("ECHO\r\nDIE\n"), "220 2.0.0 Go ahead\r\ndead\n");
  EXPECT_TRUE(d.last.close);
  Driver t(smtpSettings());
  t.session.addVerb({"ECHO", [](ServerSession& s, const std::string&) {
                       s.reply("220 go");
                       s.divert(std::make_unique<Echo>());
                     }});
  t.feed("ECHO\r\n");
  EXPECT_EQ(t.session.onTimeout().out, "timeout\n");
}

TEST(ServerSession, TimeoutsEofAndLifetime) {
  Driver d(smtpSettings());
  ServerStep s = d.session.onTimeout();
  EXPECT_EQ(s.out, "421 4.4.2 mx.test Error: timeout exceeded\r\n");
  EXPECT_TRUE(s.close);
  Driver l(smtpSettings());
  EXPECT_EQ(l.session.onLifetimeOver().out,
            "421 4.4.2 mx.test Error: connection time limit reached\r\n");
  EXPECT_EQ(l.session.endReason(), "lifetime");
  Driver e(smtpSettings());
  EXPECT_EQ(e.session.onEof().out, "");
  EXPECT_EQ(e.session.endReason(), "eof");
}

TEST(ServerSession, AClientThatStopsMidDataDeliversNothing) {
  Driver d(lmtpSettings());
  Recorder r;
  r.install(d.session);
  int resets = 0;
  d.session.hooks().on_reset = [&resets](ServerSession&, bool) { ++resets; };
  d.feed("LHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<1@y.test>\r\nDATA\r\nhalf a mess");
  const ServerStep s = d.session.onEof();
  EXPECT_EQ(s.out, "");
  EXPECT_TRUE(s.close);
  EXPECT_TRUE(r.messages.empty());
  // RSET forgets a transaction and tells the daemon.
  Driver rs(lmtpSettings());
  Recorder rr;
  rr.install(rs.session);
  rs.session.hooks().on_reset = [&resets](ServerSession&, bool) { ++resets; };
  rs.feed("LHLO c\r\nMAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(rs.feed("RSET\r\nRCPT TO:<1@y.test>\r\n"),
            "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(resets, 1);
}

TEST(ServerSession, NothingIsReadAfterClose) {
  Driver d(smtpSettings());
  EXPECT_EQ(d.feed("QUIT\r\nNOOP\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(d.feed("NOOP\r\n"), "");
}

}  // namespace
}  // namespace mtep::smtp
