// Tests for smtp::SmtpClient against a scripted SMTP server thread on
// 127.0.0.1 (plain and STARTTLS), and for dotStuff().

#include "smtp/client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "unit/smtp_client/scripted_server.h"

namespace mtep::smtp {
namespace {

using mtep::testing::hangUp;
using mtep::testing::line;
using mtep::testing::ScriptedServer;
using mtep::testing::send;
using mtep::testing::Step;
using mtep::testing::tls;
using mtep::testing::waitClose;
using Lines = std::vector<std::string>;

SmtpClient clientFor(const ScriptedServer& server, int read_timeout_ms = 5000) {
  UniqueFd fd = mtep::testing::connectLoopback(server.port());
  EXPECT_TRUE(fd.valid());
  transport::Timeouts t;
  t.read_timeout_ms = read_timeout_ms;
  t.deadline = transport::SteadyClock::now() + std::chrono::seconds(30);
  return SmtpClient(transport::makeSocketStream(std::move(fd), "fake-smtp", t));
}

const char* kEhloReply =
    "250-fake.test greets you\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 X-STARTMTEP\r\n";

TEST(SmtpClient, ReadsGreetingAndEhloCapabilities) {
  ScriptedServer server({send("220 fake.test ESMTP\r\n"), line(), send(kEhloReply), line(),
                         send("221 2.0.0 bye\r\n")});
  SmtpClient c = clientFor(server);
  auto g = c.greeting();
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(g->code, 220);
  auto e = c.ehlo("client.test");
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(e->code, 250);
  EXPECT_TRUE(c.capabilities().hasKeyword("STARTTLS"));
  EXPECT_TRUE(c.capabilities().hasKeyword("X-STARTMTEP"));
  EXPECT_EQ(c.capabilities().keywordParams("SIZE").value_or(""), "1000");
  c.quit();
  server.join();
  EXPECT_EQ(server.received(), (Lines{"EHLO client.test", "QUIT"}));
}

TEST(SmtpClient, EhloRefusedFallsBackToHelo) {
  ScriptedServer server({send("220 old\r\n"), line(), send("502 5.5.1 what\r\n"), line(),
                         send("250 old.test\r\n")});
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  auto e = c.ehlo("client.test");
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(e->code, 250);
  EXPECT_TRUE(c.capabilities().lines.empty());
  server.join();
  EXPECT_EQ(server.received(), (Lines{"EHLO client.test", "HELO client.test"}));
}

TEST(SmtpClient, TemporaryEhloRefusalIsReturnedWithoutHelo) {
  ScriptedServer server({send("220 x\r\n"), line(), send("421 4.3.2 busy\r\n"), waitClose()});
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  auto e = c.ehlo("client.test");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, 421);
}

TEST(SmtpClient, StartTlsUpgradesAndReportsTheKey) {
  mtep::testing::Credentials creds = mtep::testing::selfSigned();
  ScriptedServer server({send("220 x\r\n"), line(), send(kEhloReply), line(),
                         send("220 2.0.0 go ahead\r\n"), tls(), line(),
                         send("250-x\r\n250 X-STARTMTEP\r\n"), line(), send("221 bye\r\n")},
                        &creds);
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  ASSERT_TRUE(c.ehlo("client.test").ok());
  auto t = c.startTls({.server_name = "x.onion"});
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->fingerprint, mtep::testing::expectedFingerprint(creds.key.get()));
  EXPECT_EQ(t->stream, nullptr);
  EXPECT_TRUE(c.capabilities().lines.empty());  // RFC 3207: forget what was said in plain text
  auto e = c.ehlo("client.test");
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_FALSE(c.capabilities().hasKeyword("STARTTLS"));
  EXPECT_TRUE(c.capabilities().hasKeyword("X-STARTMTEP"));
  c.quit();
  server.join();
  EXPECT_TRUE(server.tlsDone());
  EXPECT_EQ(server.received(), (Lines{"EHLO client.test", "STARTTLS", "EHLO client.test", "QUIT"}));
}

TEST(SmtpClient, RefusedStartTlsIsTemporaryAndTheSessionStaysUsable) {
  ScriptedServer server({send("220 x\r\n"), line(), send("454 4.7.0 TLS not available\r\n"),
                         line(), send("250 2.0.0 ok\r\n")});
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  auto t = c.startTls({.server_name = "x"});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(t.error().message().find("454 4.7.0 TLS not available"), std::string::npos)
      << t.error().message();
  auto noop = c.command("NOOP");
  ASSERT_TRUE(noop.ok()) << noop.error().message();
  EXPECT_EQ(noop->code, 250);
}

TEST(SmtpClient, PlainTextAfterTheStartTlsReplyIsRefused) {
  // RFC 3207 section 5: nothing the server sent before the handshake may
  // pass for part of the encrypted session.
  ScriptedServer server({send("220 x\r\n"), line(), send("220 go\r\n250 injected\r\n"),
                         waitClose()});
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  auto t = c.startTls({.server_name = "x"});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind(), ErrorKind::kProtocol);
}

TEST(SmtpClient, DataStuffsDotsAndReturnsTheFinalReply) {
  ScriptedServer server({send("220 x\r\n"), line(), send("354 go\r\n"), line(), line(), line(),
                         line(), send("250 2.0.0 queued as ABC\r\n")});
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  auto r = c.data("Subject: x\n.hidden\nend");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->code, 250);
  EXPECT_EQ(r->lines[0], "queued as ABC");
  server.join();
  EXPECT_EQ(server.received(), (Lines{"DATA", "Subject: x", "..hidden", "end", "."}));
}

TEST(SmtpClient, DataRefusedIsReturnedAndTheMessageNotSent) {
  ScriptedServer server({send("220 x\r\n"), line(), send("554 5.5.1 no valid recipients\r\n"),
                         line(), send("221 bye\r\n")});
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  auto r = c.data("body\n");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->code, 554);
  c.quit();
  server.join();
  EXPECT_EQ(server.received(), (Lines{"DATA", "QUIT"}));
}

TEST(SmtpClient, GarbageReplyIsAProtocolError) {
  ScriptedServer server({send("hello there\r\n"), waitClose()});
  SmtpClient c = clientFor(server);
  auto g = c.greeting();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().kind(), ErrorKind::kProtocol);
  EXPECT_NE(g.error().message().find("fake-smtp"), std::string::npos) << g.error().message();
}

TEST(SmtpClient, CloseBeforeAFullReplyIsTemporary) {
  ScriptedServer server({send("220-first line\r\n"), hangUp()});
  SmtpClient c = clientFor(server);
  auto g = c.greeting();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(g.error().message().find("closed"), std::string::npos) << g.error().message();
}

TEST(SmtpClient, SilentServerHitsTheReadTimeout) {
  ScriptedServer server({waitClose()});
  SmtpClient c = clientFor(server, 200);
  auto g = c.greeting();
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(g.error().message().find("200 ms"), std::string::npos) << g.error().message();
}

TEST(SmtpClient, CommandsWithCrOrLfAreRefusedUnsent) {
  ScriptedServer server({send("220 x\r\n"), line(), send("250 ok\r\n")});
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  for (const char* bad : {"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>", "NOOP\n", "NO\rOP"}) {
    auto r = c.command(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalid);
  }
  auto ok = c.command("NOOP");
  ASSERT_TRUE(ok.ok());
  server.join();
  EXPECT_EQ(server.received(), (Lines{"NOOP"}));
}

TEST(SmtpClient, BytesAfterAReplyStayPending) {
  // What a protocol switch (STARTMTEP) sends right after its reply.
  ScriptedServer server({send("220 x\r\n"), line(), send("220 2.0.0 MTEP now\r\n12:2:K2.0.0,,"),
                         waitClose()});
  SmtpClient c = clientFor(server);
  ASSERT_TRUE(c.greeting().ok());
  auto r = c.command("STARTMTEP");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->code, 220);
  // Whatever arrived with the reply is pending; the rest is in the stream.
  std::string rest = c.pending();
  char buf[64];
  while (rest.size() < 13) {
    auto n = c.stream().readSome(buf, sizeof buf);
    ASSERT_TRUE(n.ok() && *n > 0);
    rest.append(buf, *n);
  }
  EXPECT_EQ(rest, "12:2:K2.0.0,,");
}

struct StuffCase {
  std::string in;
  std::string want;
};

TEST(DotStuff, StuffsLeadingDotsAndNormalisesLineEnds) {
  const std::vector<StuffCase> cases = {
      {"", ".\r\n"},
      {"a", "a\r\n.\r\n"},
      {"a\r\n", "a\r\n.\r\n"},
      {"a\n", "a\r\n.\r\n"},
      {".", "..\r\n.\r\n"},
      {".\r\n", "..\r\n.\r\n"},
      {"a\n.b\n..c\n", "a\r\n..b\r\n...c\r\n.\r\n"},
      {"a\r\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n"},
      {"x.y\n", "x.y\r\n.\r\n"},
      {"\n.\n", "\r\n..\r\n.\r\n"},
      // SMTP smuggling: a bare CR ends a line too, and its dot is stuffed.
      {"a\r.\r\nMAIL FROM:<x>", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"},
      {"a\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n"},
      {"a\r\n.\rb", "a\r\n..\r\nb\r\n.\r\n"},
      {"\r", "\r\n.\r\n"},
      {"a\r\r\n", "a\r\n\r\n.\r\n"},
  };
  for (const StuffCase& c : cases) {
    EXPECT_EQ(dotStuff(c.in), c.want) << "in=" << c.in;
  }
}

}  // namespace
}  // namespace mtep::smtp
