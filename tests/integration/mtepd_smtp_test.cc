// NAME
//   mtepd_smtp_test.cc - the real mtepd's ESMTP listener ([mtepd] smtp_listen)
// DESCRIPTION
//   mtepd runs with smtp_listen on a second free port, with and without a
//   certificate made by `openssl req`. Checked over the socket: greeting and
//   EHLO keywords, STARTTLS driven by `openssl s_client -starttls smtp` (a
//   client written elsewhere) then STARTMTEP with a minted token (K) and a
//   forged one (D), Q and back to SMTP, QUIT; plaintext pipelined after
//   STARTTLS never answered (our own OpenSSL client); a peer that never
//   starts its handshake closed after smtp_idle_timeout; 502 for unknown
//   commands and MAIL; 500 5.5.6 for an over-long line; swaks sees
//   X-STARTMTEP. Connection limits: with the MTEP listener full the onion
//   relay and the ESMTP listener still greet; max_connections_per_client
//   refuses one address's next connection with 421 4.7.0 while another
//   address (127.0.0.2) gets in; a client sending NOOP now and then is
//   closed with 421 4.4.2 at connection_lifetime.

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "mtepd_harness.h"
#include "run_program.h"

namespace mtep::itest {
namespace {

class SmtpListener : public ::testing::Test {
 protected:
  // Starts mtepd with smtp_listen; with a certificate when `tls`.
  // `more` joins [mtepd]; `settings` is the harness's.
  void start(bool tls, int idle = 300, const std::string& more = "",
             DaemonSettings s = DaemonSettings{}) {
    smtp_port_ = freeLoopbackPort();
    std::string keys = "smtp_listen = [\"127.0.0.1:" + std::to_string(smtp_port_) +
                       "\"]\nhostname = \"mx.test\"\nsmtp_idle_timeout = " +
                       std::to_string(idle) + "\nsmtp_max_line = 512\n" + more;
    d_ = std::make_unique<Mtepd>(s);
    if (tls) {
      cert_ = d_->dir() + "/cert.pem";
      key_ = d_->dir() + "/key.pem";
      RunResult r = runProgram({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=test", "-days",
                                "2", "-keyout", key_, "-out", cert_},
                               d_->dir());
      ASSERT_EQ(r.exit_code, 0) << r.err;
      keys += "tls_cert_file = \"" + cert_ + "\"\ntls_key_file = \"" + key_ + "\"\n";
    }
    // The harness's [mtepd] section ends with idle_timeout; these keys join it.
    std::string text = readFile(d_->configPath());
    const size_t at = text.find("idle_timeout");
    const size_t eol = text.find('\n', at);
    text.insert(eol + 1, keys);
    d_->writeConfigText(text);
    ASSERT_TRUE(d_->start());
  }

  std::optional<Client> connect() {
    auto c = Client::connect(smtp_port_);
    EXPECT_TRUE(c);
    if (c) {
      EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "220 mx.test ESMTP"));
    }
    return c;
  }

  // `openssl s_client -starttls smtp`, stdin from a shell script.
  RunResult sClient(const std::string& script) {
    const std::string cmd = "(" + script + ") | openssl s_client -starttls smtp -crlf -quiet "
                            "-ign_eof -connect 127.0.0.1:" + std::to_string(smtp_port_);
    return runProgram({"timeout", "20", "sh", "-c", cmd}, d_->dir());
  }

  std::unique_ptr<Mtepd> d_;
  uint16_t smtp_port_ = 0;
  std::string cert_, key_;
};

std::string ehloReply(Client& c) {
  c.send("EHLO client.test\r\n");
  auto r = c.readUntil("250 ENHANCEDSTATUSCODES\r\n");
  return r ? *r : "(none)";
}

TEST_F(SmtpListener, EhloWithoutCertificateOffersStartMtepOnly) {
  start(false);
  auto c = connect();
  ASSERT_TRUE(c);
  const std::string ehlo = ehloReply(*c);
  EXPECT_NE(ehlo.find("250-X-STARTMTEP\r\n"), std::string::npos) << ehlo;
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos) << ehlo;
  c->send("STARTTLS\r\n");
  EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "454 4.7.0"));
}

TEST_F(SmtpListener, EhloWithCertificateOffersStartTls) {
  start(true);
  auto c = connect();
  ASSERT_TRUE(c);
  const std::string ehlo = ehloReply(*c);
  EXPECT_NE(ehlo.find("250-STARTTLS\r\n"), std::string::npos) << ehlo;
  EXPECT_NE(ehlo.find("250-X-STARTMTEP\r\n"), std::string::npos) << ehlo;
}

TEST_F(SmtpListener, OpensslClientDoesStartTlsThenStartMtepThenSmtpAgain) {
  start(true);
  const std::string good = query(d_->mint("alice@example.org"), "alice@example.org");
  const std::string forged = query("v1.forged.token", "alice@example.org");
  RunResult r = sClient("sleep 0.5; printf 'EHLO client.test\\nSTARTMTEP\\n'; sleep 0.5; "
                        "printf '" + good + "\\n'; sleep 0.5; printf '" + forged +
                        "\\n'; sleep 0.5; printf '4:1:Q,,\\n'; sleep 0.5; "
                        "printf 'NOOP\\nQUIT\\n'; sleep 0.5");
  EXPECT_NE(r.out.find("250-X-STARTMTEP"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.out.find("250-STARTTLS"), std::string::npos) << r.out;  // not inside TLS
  EXPECT_NE(r.out.find("220 2.0.0 Go ahead with MTEP"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":K2.7.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":D5.7."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":K2.3.0 CYA "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("250 2.0.0 Ok"), std::string::npos) << r.out;  // NOOP, SMTP again
  EXPECT_NE(r.out.find("221 2.0.0"), std::string::npos) << r.out;
  EXPECT_TRUE(d_->waitForLog("smtp=end helo=<client.test> tls=yes"));
  EXPECT_TRUE(d_->waitForLog("reason=quit"));
}

TEST_F(SmtpListener, PlaintextPipelinedAfterStartTlsIsNeverAnswered) {
  start(true);
  auto c = connect();
  ASSERT_TRUE(c);
  ehloReply(*c);
  c->send("STARTTLS\r\nNOOP\r\n");
  ASSERT_TRUE(startsWith(c->readUntil("\r\n"), "220 2.0.0"));
  timeval tv{5, 0};
  setsockopt(c->fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, c->fd());
  ASSERT_EQ(SSL_connect(ssl), 1) << d_->logText();
  const std::string ehlo = "EHLO again.test\r\n";
  ASSERT_GT(SSL_write(ssl, ehlo.data(), static_cast<int>(ehlo.size())), 0);
  std::string got;
  char buf[1024];
  while (got.find("250 ENHANCEDSTATUSCODES\r\n") == std::string::npos) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  // The first reply inside TLS answers EHLO: the pipelined NOOP was dropped.
  EXPECT_EQ(got.rfind("250-mx.test\r\n", 0), 0u) << got;
  EXPECT_EQ(got.find("2.0.0 Ok"), std::string::npos) << got;
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

TEST_F(SmtpListener, PeerThatNeverFinishesTheHandshakeIsClosedAfterTheIdleTimeout) {
  start(true, 2);
  auto c = connect();
  ASSERT_TRUE(c);
  ehloReply(*c);
  c->send("STARTTLS\r\n");
  ASSERT_TRUE(startsWith(c->readUntil("\r\n"), "220 2.0.0"));
  EXPECT_TRUE(c->waitClosed(10000));
  EXPECT_TRUE(d_->waitForLog("TLS handshake failed: handshake not finished in time"));
}

TEST_F(SmtpListener, GarbageInsteadOfAHandshakeIsLoggedAndClosed) {
  start(true);
  auto c = connect();
  ASSERT_TRUE(c);
  ehloReply(*c);
  c->send("STARTTLS\r\n");
  ASSERT_TRUE(startsWith(c->readUntil("\r\n"), "220 2.0.0"));
  c->send("NOOP this is no ClientHello\r\n\r\n\r\n\r\n\r\n\r\n");
  std::string rest;
  EXPECT_TRUE(c->waitClosed(5000, &rest));
  EXPECT_EQ(rest.find("250"), std::string::npos) << rest;
  EXPECT_TRUE(d_->waitForLog("TLS handshake failed"));
}

TEST_F(SmtpListener, UnknownCommandsAndMailAre502) {
  start(false);
  auto c = connect();
  ASSERT_TRUE(c);
  ehloReply(*c);
  c->send("XYZZY\r\n");
  EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "502 5.5.1"));
  c->send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "502 5.5.1"));
  c->send(std::string(1000, 'x') + "\r\n");
  EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "500 5.5.6"));
  c->send("NOOP\r\n");
  EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "250 2.0.0"));
  c->send("QUIT\r\n");
  EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "221 2.0.0"));
  EXPECT_TRUE(c->waitClosed());
}

TEST_F(SmtpListener, MtepWithoutTlsAnswersMintedAndForgedTokens) {
  start(false);
  auto c = connect();
  ASSERT_TRUE(c);
  ehloReply(*c);
  c->send("STARTMTEP\r\n");
  ASSERT_TRUE(startsWith(c->readUntil("\r\n"), "220 2.0.0"));
  c->send(query(d_->mint("bob@example.org"), "bob@example.org"));
  EXPECT_TRUE(startsWith(c->readReply(), "K2.7.0"));
  c->send(query("v1.forged.token", "bob@example.org"));
  EXPECT_TRUE(startsWith(c->readReply(), "D5.7."));
  c->send("4:1:Q,,");
  EXPECT_TRUE(startsWith(c->readReply(), "K2.3.0 CYA "));
  c->send("NOOP\r\n");
  EXPECT_TRUE(startsWith(c->readUntil("\r\n"), "250 2.0.0"));
  EXPECT_TRUE(d_->waitForLog("cmd=? sender=<bob@example.org> action=K2.7.0"));
}

TEST_F(SmtpListener, SwaksSeesStartMtep) {
  start(true);
  RunResult r = runProgram({"swaks", "--server", "127.0.0.1:" + std::to_string(smtp_port_),
                            "--quit-after", "EHLO"},
                           d_->dir());
  if (r.exit_code == -1) GTEST_SKIP() << "swaks not installed";
  EXPECT_NE(r.out.find("X-STARTMTEP"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("STARTTLS"), std::string::npos) << r.out;
}

// --- connection limits ---------------------------------------------------


// Everything `fd` sends until it closes or `timeout_ms` passes without a byte.
std::string readToClose(int fd, int timeout_ms = 5000) {
  std::string got;
  char buf[512];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return got + "(no close)";
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

// One line (up to CRLF) from `fd`, or "(none)".
std::string readLine(int fd, int timeout_ms = 5000) {
  std::string got;
  char c = 0;
  while (got.size() < 1024) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0 || ::read(fd, &c, 1) != 1) return "(none)";
    got += c;
    if (got.size() >= 2 && got.compare(got.size() - 2, 2, "\r\n") == 0) return got;
  }
  return got;
}

TEST_F(SmtpListener, FullMtepListenerLeavesTheOnionRelayAndSmtpListenerGreeting) {
  const uint16_t relay_port = freeLoopbackPort();
  DaemonSettings s;
  s.max_connections = 2;  // [mtepd] max_connections: the MTEP listener's own cap
  start(false, 300, "onion_relay = [\"127.0.0.1:" + std::to_string(relay_port) + "\"]\n", s);
  // The harness's start-up probe of the MTEP port must be gone first.
  ASSERT_TRUE(d_->waitForLog("disconnect from"));
  auto m1 = Client::connect(d_->port());
  auto m2 = Client::connect(d_->port());
  ASSERT_TRUE(m1 && m2);
  // Both are served (so the daemon counts them) before the third comes.
  for (Client* c : {&*m1, &*m2}) {
    c->send(query("not-a-token"));
    ASSERT_TRUE(startsWith(c->readReply(), "D5.")) << d_->logText();
  }
  auto m3 = Client::connect(d_->port());
  ASSERT_TRUE(m3);
  std::string rest;
  EXPECT_TRUE(m3->waitClosed(5000, &rest));
  EXPECT_NE(rest.find(":I4.3.2 "), std::string::npos) << "the MTEP listener is full: " << rest;
  const int relay = connectFrom("127.0.0.1", relay_port);
  ASSERT_GE(relay, 0);
  EXPECT_EQ(readLine(relay).substr(0, 4), "220 ");
  ::close(relay);
  EXPECT_TRUE(connect());  // smtp_listen greets too
}

TEST_F(SmtpListener, PerClientCapRefusesTheNextConnectionFromOneAddressOnly) {
  start(false, 300, "max_connections_per_client = 2\n");
  std::vector<int> mine;
  for (int i = 0; i < 2; ++i) {
    mine.push_back(connectFrom("127.0.0.1", smtp_port_));
    ASSERT_GE(mine.back(), 0);
    EXPECT_EQ(readLine(mine.back()), "220 mx.test ESMTP mtepd\r\n");
  }
  const int third = connectFrom("127.0.0.1", smtp_port_);
  ASSERT_GE(third, 0);
  EXPECT_EQ(readToClose(third),
            "421 4.7.0 mx.test Error: too many connections from your address\r\n");
  ::close(third);
  const int other = connectFrom("127.0.0.2", smtp_port_);
  ASSERT_GE(other, 0);
  EXPECT_EQ(readLine(other), "220 mx.test ESMTP mtepd\r\n");
  EXPECT_TRUE(d_->waitForLog("open from 127.0.0.1 = max_connections_per_client"));
  // A slot freed is a slot again.
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ASSERT_EQ(::getsockname(mine[0], reinterpret_cast<sockaddr*>(&local), &len), 0);
  ::close(mine[0]);
  EXPECT_TRUE(d_->waitForLog("client=127.0.0.1:" + std::to_string(ntohs(local.sin_port)) +
                             " smtp=end"));
  const int again = connectFrom("127.0.0.1", smtp_port_);
  ASSERT_GE(again, 0);
  EXPECT_EQ(readLine(again), "220 mx.test ESMTP mtepd\r\n");
  for (int fd : {mine[1], other, again}) ::close(fd);
}

TEST_F(SmtpListener, NoopEverySoOftenIsClosedAtTheConnectionLifetime) {
  start(false, 300, "connection_lifetime = \"2s\"\n");
  auto c = connect();
  ASSERT_TRUE(c);
  // NOOP every 300 ms, each answered, until the server says goodbye.
  std::string last;
  for (int i = 0; i < 100; ++i) {
    c->send("NOOP\r\n");
    last = c->readUntil("\r\n").value_or("(none)");
    if (last != "250 2.0.0 Ok") break;
    ::usleep(300 * 1000);
  }
  EXPECT_EQ(last, "421 4.4.2 mx.test Error: connection time limit reached") << last;
  EXPECT_TRUE(c->waitClosed(5000));
  EXPECT_TRUE(d_->waitForLog("connection lifetime of 2 s reached"));
  EXPECT_TRUE(d_->waitForLog("reason=lifetime"));
}

}  // namespace
}  // namespace mtep::itest
