// Tests for the MTEP client's STARTMTEP fallback (client.h): port 6211
// refuses, the client asks over ESMTP on a scripted SMTP server thread
// (STARTTLS when offered, STARTMTEP, "?" and "Q", QUIT).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "mtep/client.h"
#include "unit/smtp_client/scripted_server.h"

namespace mtep::proto {
namespace {

using mtep::testing::line;
using mtep::testing::request;
using mtep::testing::ScriptedServer;
using mtep::testing::send;
using mtep::testing::Step;
using mtep::testing::tls;
using mtep::testing::waitClose;
using Lines = std::vector<std::string>;

// A bound, not listening, socket: connecting to its port is refused.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
      port_ = ntohs(sa.sin_port);
    }
  }
  uint16_t port() const { return port_; }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
};

std::string ns(const std::string& payload) {
  return std::to_string(payload.size()) + ":" + payload + ",";
}

// The payload of a request netstring as the client encodes it.
std::string payloadOf(const std::string& wire) {
  const size_t colon = wire.find(':');
  return wire.substr(colon + 1, wire.size() - colon - 2);
}

ClientOptions fallbackOptions(uint16_t smtp_port) {
  ClientOptions o;
  o.connect_timeout_ms = 2000;
  o.read_timeout_ms = 3000;
  o.total_timeout_ms = 10000;
  o.startmtep_fallback = true;
  o.smtp_port = smtp_port;
  o.helo_name = "client.test";
  return o;
}

std::vector<Step> mtepPart(const std::string& answer) {
  return {line(), send("220 2.0.0 Go ahead with MTEP\r\n"), request(), send(ns(answer)),
          request(), send(ns("K2.3.0 CYA Thanks for the chat")), line(),
          send("221 2.0.0 Bye\r\n")};
}

TEST(StartMtepFallback, AsksOverStartTlsAndStartMtepWhen6211Refuses) {
  mtep::testing::Credentials creds = mtep::testing::selfSigned();
  ClosedPort closed;
  std::vector<Step> script = {
      send("220 peer.test ESMTP\r\n"), line(),
      send("250-peer.test\r\n250-STARTTLS\r\n250 X-STARTMTEP\r\n"), line(),
      send("220 2.0.0 Ready to start TLS\r\n"), tls(), line(),
      send("250-peer.test\r\n250-X-MTEP\r\n250 X-STARTMTEP\r\n")};
  for (Step& s : mtepPart("K2.0.0 I know this token")) script.push_back(std::move(s));
  ScriptedServer server(std::move(script), &creds);

  auto r = MtepClient(fallbackOptions(server.port()))
               .ask("127.0.0.1", closed.port(), "tok", "a@peer.test");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->response.verdict, Verdict::kYes);
  EXPECT_EQ(r->response.text, "I know this token");
  EXPECT_TRUE(r->via_startmtep);
  EXPECT_EQ(r->tls_fingerprint, mtep::testing::expectedFingerprint(creds.key.get()));
  EXPECT_FALSE(r->tls_protocol.empty());
  server.join();
  EXPECT_TRUE(server.tlsDone());
  EXPECT_EQ(server.received(),
            (Lines{"EHLO client.test", "STARTTLS", "EHLO client.test", "STARTMTEP",
                   payloadOf(encodeQuery("tok", "a@peer.test")), payloadOf(encodeQuit()),
                   "QUIT"}));
}

// A certificate for another name than the host asked: the client stops
// after the handshake; no EHLO, STARTMTEP or token goes over that session.
TEST(StartMtepFallback, CertificateForAnotherNameStopsBeforeTheQuestion) {
  mtep::testing::Credentials creds = mtep::testing::selfSignedFor("DNS:mx.mallory.test");
  ASSERT_TRUE(creds.cert);
  const std::string ca = mtep::testing::writePemFile(creds.cert.get());
  ClosedPort closed;
  std::vector<Step> script = {
      send("220 peer.test ESMTP\r\n"), line(),
      send("250-peer.test\r\n250-STARTTLS\r\n250 X-STARTMTEP\r\n"), line(),
      send("220 2.0.0 Ready to start TLS\r\n"), tls(), waitClose()};
  ScriptedServer server(std::move(script), &creds);
  ClientOptions o = fallbackOptions(server.port());
  o.tls.verify_certificate = true;
  o.tls.name = "mx.peer.test";
  o.tls.ca_file = ca;
  auto r = MtepClient(o).ask("127.0.0.1", closed.port(), "tok", "a@peer.test");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(r.error().message().find("not trusted for mx.peer.test"), std::string::npos)
      << r.error().message();
  server.join();
  ::unlink(ca.c_str());
  EXPECT_EQ(server.received(), (Lines{"EHLO client.test", "STARTTLS"}));
}

TEST(StartMtepFallback, PinnedSelfSignedCertificateIsAsked) {
  mtep::testing::Credentials creds = mtep::testing::selfSigned();
  ClosedPort closed;
  std::vector<Step> script = {
      send("220 peer.test ESMTP\r\n"), line(),
      send("250-peer.test\r\n250-STARTTLS\r\n250 X-STARTMTEP\r\n"), line(),
      send("220 2.0.0 Ready to start TLS\r\n"), tls(), line(),
      send("250-peer.test\r\n250 X-STARTMTEP\r\n")};
  for (Step& s : mtepPart("K2.0.0 I know this token")) script.push_back(std::move(s));
  ScriptedServer server(std::move(script), &creds);
  ClientOptions o = fallbackOptions(server.port());
  o.tls.pins = {mtep::testing::expectedFingerprint(creds.key.get())};
  auto r = MtepClient(o).ask("127.0.0.1", closed.port(), "tok", "a@peer.test");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->response.verdict, Verdict::kYes);
  server.join();
}

TEST(StartMtepFallback, WorksWithoutStartTls) {
  ClosedPort closed;
  std::vector<Step> script = {send("220 peer.test ESMTP\r\n"), line(),
                              send("250-peer.test\r\n250 X-STARTMTEP\r\n")};
  for (Step& s : mtepPart("D5.7.8 not mine")) script.push_back(std::move(s));
  ScriptedServer server(std::move(script));

  auto r = MtepClient(fallbackOptions(server.port())).ask("127.0.0.1", closed.port(), "tok");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->response.verdict, Verdict::kNo);
  EXPECT_TRUE(r->via_startmtep);
  EXPECT_EQ(r->tls_fingerprint, "");
  // query() gives the same answer without the details.
  server.join();
  EXPECT_EQ(server.received(),
            (Lines{"EHLO client.test", "STARTMTEP", payloadOf(encodeQuery("tok")),
                   payloadOf(encodeQuit()), "QUIT"}));
}

TEST(StartMtepFallback, ServerWithoutXStartMtepIsTemporary) {
  ClosedPort closed;
  ScriptedServer server({send("220 peer.test ESMTP\r\n"), line(),
                         send("250-peer.test\r\n250 8BITMIME\r\n"), line(),
                         send("221 2.0.0 Bye\r\n")});
  auto r = MtepClient(fallbackOptions(server.port())).query("127.0.0.1", closed.port(), "tok");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  const std::string& msg = r.error().message();
  EXPECT_NE(msg.find("127.0.0.1 offers no MTEP (no X-STARTMTEP)"), std::string::npos) << msg;
  // Both attempts are in the message.
  EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(closed.port())), std::string::npos) << msg;
  server.join();
  EXPECT_EQ(server.received(), (Lines{"EHLO client.test", "QUIT"}));
}

TEST(StartMtepFallback, RefusedStartMtepIsTemporaryAndQuotesTheReply) {
  ClosedPort closed;
  ScriptedServer server({send("220 peer.test ESMTP\r\n"), line(),
                         send("250-peer.test\r\n250 X-STARTMTEP\r\n"), line(),
                         send("454 4.3.0 MTEP unavailable\r\n"), line(), send("221 Bye\r\n")});
  auto r = MtepClient(fallbackOptions(server.port())).query("127.0.0.1", closed.port(), "tok");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(r.error().message().find("454 4.3.0 MTEP unavailable"), std::string::npos)
      << r.error().message();
  server.join();
  EXPECT_EQ(server.received(), (Lines{"EHLO client.test", "STARTMTEP", "QUIT"}));
}

TEST(StartMtepFallback, GarbageAfterStartMtepIsAProtocolError) {
  ClosedPort closed;
  ScriptedServer server({send("220 peer.test ESMTP\r\n"), line(),
                         send("250-peer.test\r\n250 X-STARTMTEP\r\n"), line(),
                         send("220 go\r\n"), request(), send("250 this is SMTP again\r\n"),
                         waitClose()});
  auto r = MtepClient(fallbackOptions(server.port())).query("127.0.0.1", closed.port(), "tok");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kProtocol) << r.error().message();
}

TEST(StartMtepFallback, SilentSmtpServerHitsTheReadTimeout) {
  ClosedPort closed;
  ScriptedServer server({waitClose()});
  ClientOptions o = fallbackOptions(server.port());
  o.read_timeout_ms = 200;
  auto r = MtepClient(o).query("127.0.0.1", closed.port(), "tok");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(r.error().message().find("200 ms"), std::string::npos) << r.error().message();
}

TEST(StartMtepFallback, SmtpTimeoutBoundsTheWaitsWhenSmaller) {
  ClosedPort closed;
  ScriptedServer server({waitClose()});
  ClientOptions o = fallbackOptions(server.port());
  o.smtp_timeout_ms = 150;
  auto r = MtepClient(o).query("127.0.0.1", closed.port(), "tok");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("150 ms"), std::string::npos) << r.error().message();
}

TEST(StartMtepFallback, OffMeansNoSmtpAttempt) {
  ClosedPort closed;
  ClosedPort smtp;
  ClientOptions o = fallbackOptions(smtp.port());
  o.startmtep_fallback = false;
  auto r = MtepClient(o).query("127.0.0.1", closed.port(), "tok");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().find("over SMTP"), std::string::npos) << r.error().message();
  o.startmtep_fallback = true;
  auto both = MtepClient(o).query("127.0.0.1", closed.port(), "tok");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message().find("over SMTP"), std::string::npos) << both.error().message();
  EXPECT_NE(both.error().message().find(std::to_string(smtp.port())), std::string::npos)
      << both.error().message();
}

TEST(StartMtepFallback, NotTriedWhenTheProxyIsMissing) {
  // No onion proxy: the dial fails for a reason other than the peer, so
  // trying its SMTP port through the same (missing) proxy makes no sense.
  ClientOptions o = fallbackOptions(25);
  auto r = MtepClient(o).query(
      "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion", 6211, "tok");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary);
  EXPECT_EQ(r.error().message().find("over SMTP"), std::string::npos) << r.error().message();
}

TEST(ClientOptionsFor, TakesProxiesAndFallbackFromOutbound) {
  config::OutboundConfig out;
  out.onion_proxy = {"127.0.0.1", 9150};
  out.i2p_proxy = {"", 0};
  out.proxy_username = "u";
  out.proxy_password = "p";
  out.isolate_streams = false;
  out.proxy_timeout = 7;
  out.startmtep_fallback = true;
  out.smtp_port = 2525;
  out.smtp_timeout = 9;
  ClientOptions base;
  base.total_timeout_ms = 1234;
  const ClientOptions o = clientOptionsFor(out, base);
  EXPECT_EQ(o.total_timeout_ms, 1234);
  EXPECT_EQ(o.dial.onion_proxy.host, "127.0.0.1");
  EXPECT_EQ(o.dial.onion_proxy.port, 9150);
  EXPECT_FALSE(o.dial.i2p_proxy.enabled());
  EXPECT_EQ(o.dial.proxy_username, "u");
  EXPECT_EQ(o.dial.proxy_password, "p");
  EXPECT_FALSE(o.dial.isolate_streams);
  EXPECT_EQ(o.dial.proxy_timeout_ms, 7000);
  EXPECT_TRUE(o.startmtep_fallback);
  EXPECT_EQ(o.smtp_port, 2525);
  EXPECT_EQ(o.smtp_timeout_ms, 9000);
}

}  // namespace
}  // namespace mtep::proto
