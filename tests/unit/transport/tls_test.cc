// Tests for transport::startTls and the key fingerprints, against an
// in-process OpenSSL server thread with a certificate made in the test.

#include "transport/tls.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include "transport/stream.h"
#include "unit/transport/tls_test_util.h"

namespace mtep::transport {
namespace {

using mtep::testing::Credentials;
using mtep::testing::CtxPtr;
using mtep::testing::SslPtr;

// Accepts one connection and runs `serve` on its SSL (after SSL_accept
// when `handshake`); joins on destruction.
class TlsServer {
 public:
  TlsServer(CtxPtr ctx, std::function<void(SSL*, bool accepted)> serve)
      : ctx_(std::move(ctx)) {
    listener_ = mtep::testing::listenLoopback(&port_);
    thread_ = std::thread([this, serve = std::move(serve)] {
      mtep::testing::blockSigpipeInThisThread();
      UniqueFd conn(::accept(listener_.get(), nullptr, nullptr));
      if (!conn.valid()) return;
      SslPtr ssl(SSL_new(ctx_.get()));
      SSL_set_fd(ssl.get(), conn.get());
      const bool accepted = SSL_accept(ssl.get()) == 1;
      serve(ssl.get(), accepted);
      if (accepted) SSL_shutdown(ssl.get());
      ERR_clear_error();
    });
  }
  ~TlsServer() { thread_.join(); }
  uint16_t port() const { return port_; }

 private:
  CtxPtr ctx_;
  UniqueFd listener_;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::unique_ptr<Stream> plainTo(uint16_t port, int read_timeout_ms = 5000) {
  UniqueFd fd = mtep::testing::connectLoopback(port);
  EXPECT_TRUE(fd.valid());
  Timeouts t;
  t.read_timeout_ms = read_timeout_ms;
  t.deadline = SteadyClock::now() + std::chrono::seconds(30);
  return makeSocketStream(std::move(fd), "127.0.0.1:" + std::to_string(port), t);
}

TEST(StartTls, ReportsTheServerKeyFingerprintAndCarriesData) {
  Credentials creds = mtep::testing::selfSigned();
  ASSERT_TRUE(creds.cert);
  const std::string want = mtep::testing::expectedFingerprint(creds.key.get());
  ASSERT_EQ(want.size(), 52u);
  TlsServer server(mtep::testing::serverContext(creds), [](SSL* ssl, bool accepted) {
    if (!accepted) return;
    char buf[64];
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      std::string reply = "echo:" + std::string(buf, static_cast<size_t>(n));
      SSL_write(ssl, reply.data(), static_cast<int>(reply.size()));
    }
  });
  auto session = startTls(plainTo(server.port()), {.server_name = "test.onion"});
  ASSERT_TRUE(session.ok()) << session.error().message();
  EXPECT_EQ(session->fingerprint, want);
  EXPECT_TRUE(session->protocol == "TLSv1.3" || session->protocol == "TLSv1.2")
      << session->protocol;
  EXPECT_FALSE(session->cipher.empty());
  ASSERT_TRUE(session->stream->writeAll("ping").ok());
  std::string got;
  char buf[64];
  while (got.size() < 9) {
    auto n = session->stream->readSome(buf, sizeof buf);
    ASSERT_TRUE(n.ok()) << n.error().message();
    if (*n == 0) break;
    got.append(buf, *n);
  }
  EXPECT_EQ(got, "echo:ping");
  // The server shuts down: a clean end reads as 0.
  auto end = session->stream->readSome(buf, sizeof buf);
  ASSERT_TRUE(end.ok()) << end.error().message();
  EXPECT_EQ(*end, 0u);
}

TEST(StartTls, WritingToAClosedPeerIsAnErrorNotSigpipe) {
  Credentials creds = mtep::testing::selfSigned();
  TlsServer server(mtep::testing::serverContext(creds), [](SSL*, bool) {});
  auto session = startTls(plainTo(server.port()), {.server_name = "x.onion"});
  ASSERT_TRUE(session.ok()) << session.error().message();
  // The server has shut down and closed; keep writing until the kernel says so.
  const std::string chunk(16384, 'x');
  Status st = okStatus();
  for (int i = 0; i < 200 && st.ok(); ++i) {
    st = session->stream->writeAll(chunk);
    if (st.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kTemporary);
}

TEST(StartTls, SendsServerNameForNamesOnly) {
  for (const std::string name : {"abc.onion", "127.0.0.1"}) {
    Credentials creds = mtep::testing::selfSigned();
    std::string seen = "<unset>";
    {
      TlsServer server(mtep::testing::serverContext(creds), [&seen](SSL* ssl, bool accepted) {
        if (!accepted) return;
        const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        seen = sni != nullptr ? sni : "";
      });
      auto session = startTls(plainTo(server.port()), {.server_name = name});
      ASSERT_TRUE(session.ok()) << session.error().message();
    }
    EXPECT_EQ(seen, name == "127.0.0.1" ? "" : name);
  }
}

TEST(StartTls, Tls12OnlyServerIsAccepted) {
  Credentials creds = mtep::testing::selfSigned();
  TlsServer server(mtep::testing::serverContext(creds, TLS1_2_VERSION, TLS1_2_VERSION),
                   [](SSL*, bool) {});
  auto session = startTls(plainTo(server.port()), {.server_name = "x.onion"});
  ASSERT_TRUE(session.ok()) << session.error().message();
  EXPECT_EQ(session->protocol, "TLSv1.2");
}

TEST(StartTls, Tls11OnlyServerIsRefused) {
  Credentials creds = mtep::testing::selfSigned();
  bool server_accepted = true;
  {
    TlsServer server(mtep::testing::serverContext(creds, TLS1_1_VERSION, TLS1_1_VERSION),
                     [&server_accepted](SSL*, bool accepted) { server_accepted = accepted; });
    auto session = startTls(plainTo(server.port()), {.server_name = "x.onion"});
    ASSERT_FALSE(session.ok());
    EXPECT_EQ(session.error().kind(), ErrorKind::kTemporary);
    const std::string& msg = session.error().message();
    EXPECT_NE(msg.find("TLS"), std::string::npos) << msg;
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server.port())), std::string::npos) << msg;
    EXPECT_EQ(msg.find("timed out"), std::string::npos) << msg;
  }
  EXPECT_FALSE(server_accepted);
}

TEST(StartTls, SilentServerHitsTheReadTimeout) {
  // Accepts TCP (the kernel does) but never answers the ClientHello.
  uint16_t port = 0;
  UniqueFd listener = mtep::testing::listenLoopback(&port);
  ASSERT_TRUE(listener.valid());
  auto session = startTls(plainTo(port, 200), {.server_name = "x.onion"});
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.error().kind(), ErrorKind::kTemporary);
  const std::string& msg = session.error().message();
  EXPECT_NE(msg.find("timed out after 200 ms"), std::string::npos) << msg;
  EXPECT_NE(msg.find("handshake"), std::string::npos) << msg;
}

TEST(StartTls, SilentServerHitsTheDeadline) {
  uint16_t port = 0;
  UniqueFd listener = mtep::testing::listenLoopback(&port);
  UniqueFd fd = mtep::testing::connectLoopback(port);
  ASSERT_TRUE(fd.valid());
  Timeouts t;
  t.read_timeout_ms = 60000;
  t.deadline = SteadyClock::now() + std::chrono::milliseconds(200);
  auto session = startTls(makeSocketStream(std::move(fd), "silent", t), {.server_name = "x"});
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.error().message().find("deadline"), std::string::npos)
      << session.error().message();
}

TEST(StartTls, PeerClosingDuringHandshakeIsTemporary) {
  uint16_t port = 0;
  UniqueFd listener = mtep::testing::listenLoopback(&port);
  std::thread closer([&listener] {
    UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
    char buf[512];
    (void)::recv(conn.get(), buf, sizeof buf, 0);  // the ClientHello, then hang up
  });
  auto session = startTls(plainTo(port), {.server_name = "x.onion"});
  closer.join();
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(session.error().message().find("handshake"), std::string::npos)
      << session.error().message();
}

TEST(StartTls, GarbageInsteadOfServerHelloIsAnError) {
  uint16_t port = 0;
  UniqueFd listener = mtep::testing::listenLoopback(&port);
  std::thread server([&listener] {
    UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
    char buf[512];
    (void)::recv(conn.get(), buf, sizeof buf, 0);
    mtep::testing::sendText(conn.get(), "220 this is not TLS at all\r\n");
    (void)::recv(conn.get(), buf, sizeof buf, 0);  // until the client gives up
  });
  auto session = startTls(plainTo(port), {.server_name = "x.onion"});
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.error().kind(), ErrorKind::kTemporary);
  server.join();
}

TEST(SpkiFingerprint, EqualsSha256OfTheKeyInBase32) {
  Credentials creds = mtep::testing::selfSigned();
  ASSERT_TRUE(creds.cert);
  const std::string fp = spkiFingerprint(creds.cert.get());
  EXPECT_EQ(fp, mtep::testing::expectedFingerprint(creds.key.get()));
  EXPECT_EQ(fp.size(), 52u);
  EXPECT_EQ(fp.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567"), std::string::npos) << fp;
  // Another key, another fingerprint.
  Credentials other = mtep::testing::selfSigned();
  EXPECT_NE(spkiFingerprint(other.cert.get()), fp);
  EXPECT_EQ(spkiFingerprint(nullptr), "");
}

TEST(SpkiFingerprint, KnownVectorForBase32) {
  // RFC 4648 section 10 vectors through the test's base32 ("foobar").
  const unsigned char foobar[] = {'f', 'o', 'o', 'b', 'a', 'r'};
  EXPECT_EQ(mtep::testing::testBase32(foobar, 6), "mzxw6ytboi");
}

TEST(SpkiFingerprint, ReadsTheFirstCertificateOfAPemFile) {
  Credentials creds = mtep::testing::selfSigned();
  char path[] = "/tmp/mtep-tls-test-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  FILE* f = ::fdopen(fd, "w");
  PEM_write_X509(f, creds.cert.get());
  std::fclose(f);
  auto fp = spkiFingerprintOfPemFile(path);
  ASSERT_TRUE(fp.ok()) << fp.error().message();
  EXPECT_EQ(*fp, mtep::testing::expectedFingerprint(creds.key.get()));

  f = std::fopen(path, "w");
  std::fputs("not a certificate\n", f);
  std::fclose(f);
  auto bad = spkiFingerprintOfPemFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(bad.error().message().find(path), std::string::npos) << bad.error().message();
  ::unlink(path);

  auto missing = spkiFingerprintOfPemFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(missing.error().message().find(path), std::string::npos);
}

// ---- trust: CA and name, pins ----------------------------------------------

// A server that completes the handshake with `creds` and then waits for
// the client to go away (reads until close).
CtxPtr quietServer(const Credentials& creds) { return mtep::testing::serverContext(creds); }
void drain(SSL* ssl, bool accepted) {
  if (!accepted) return;
  char buf[64];
  while (SSL_read(ssl, buf, sizeof buf) > 0) {
  }
}

TlsTrust caTrust(std::string ca_file, std::string name = "") {
  TlsTrust t;
  t.verify_certificate = true;
  t.ca_file = std::move(ca_file);
  t.name = std::move(name);
  return t;
}

TlsTrust pinTrust(std::vector<std::string> pins) {
  TlsTrust t;
  t.pins = std::move(pins);
  t.verify_certificate = true;
  return t;
}

struct TempFile {
  std::string path;
  ~TempFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

TEST(StartTlsTrust, CertificateForAnotherNameIsRefusedWithItsKeyFingerprint) {
  Credentials creds = mtep::testing::selfSignedFor("DNS:mx.mallory.test");
  ASSERT_TRUE(creds.cert);
  TempFile ca{mtep::testing::writePemFile(creds.cert.get())};
  ASSERT_FALSE(ca.path.empty());
  TlsServer server(quietServer(creds), drain);
  TlsClientOptions o{.server_name = "mx.alpha.test",
                     .trust = caTrust(ca.path)};
  auto session = startTls(plainTo(server.port()), o);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(session.error().message().find("not trusted for mx.alpha.test"), std::string::npos)
      << session.error().message();
  EXPECT_NE(session.error().message().find(mtep::testing::expectedFingerprint(creds.key.get())),
            std::string::npos)
      << session.error().message();
}

TEST(StartTlsTrust, CertificateForTheNameFromTheCaFileIsTrusted) {
  Credentials creds = mtep::testing::selfSignedFor("DNS:mx.alpha.test");
  ASSERT_TRUE(creds.cert);
  TempFile ca{mtep::testing::writePemFile(creds.cert.get())};
  TlsServer server(quietServer(creds), drain);
  // The name checked is trust.name: the connection itself went to a number.
  TlsClientOptions o{.server_name = "127.0.0.1",
                     .trust = caTrust(ca.path, "MX.Alpha.Test.")};
  auto session = startTls(plainTo(server.port()), o);
  ASSERT_TRUE(session.ok()) << session.error().message();
  EXPECT_EQ(session->trusted_by, "ca");
}

// CA files are cached per process; a file that changes is read again.
TEST(StartTlsTrust, ChangedCaFileIsReadAgain) {
  Credentials creds = mtep::testing::selfSignedFor("DNS:mx.alpha.test");
  Credentials other = mtep::testing::selfSignedFor("DNS:mx.alpha.test");
  ASSERT_TRUE(creds.cert && other.cert);
  TempFile ca{mtep::testing::writePemFile(other.cert.get())};
  TlsClientOptions o{.server_name = "mx.alpha.test", .trust = caTrust(ca.path)};
  {
    TlsServer server(quietServer(creds), drain);
    EXPECT_FALSE(startTls(plainTo(server.port()), o).ok());
  }
  FILE* f = std::fopen(ca.path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, creds.cert.get());
  PEM_write_X509(f, other.cert.get());  // a different size, whatever the clock's resolution
  std::fclose(f);
  {
    TlsServer server(quietServer(creds), drain);
    auto session = startTls(plainTo(server.port()), o);
    EXPECT_TRUE(session.ok()) << session.error().message();
  }
}

TEST(StartTlsTrust, CertificateNotFromTheCaFileIsRefused) {
  Credentials creds = mtep::testing::selfSignedFor("DNS:mx.alpha.test");
  Credentials other = mtep::testing::selfSignedFor("DNS:mx.alpha.test");
  ASSERT_TRUE(creds.cert && other.cert);
  TempFile ca{mtep::testing::writePemFile(other.cert.get())};
  TlsServer server(quietServer(creds), drain);
  TlsClientOptions o{.server_name = "mx.alpha.test",
                     .trust = caTrust(ca.path)};
  auto session = startTls(plainTo(server.port()), o);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(session.error().message().find("not trusted"), std::string::npos)
      << session.error().message();
}

TEST(StartTlsTrust, SelfSignedCertificateIsRefusedByTheSystemStore) {
  Credentials creds = mtep::testing::selfSignedFor("DNS:mx.alpha.test");
  TlsServer server(quietServer(creds), drain);
  TlsClientOptions o{.server_name = "mx.alpha.test", .trust = caTrust("")};
  auto session = startTls(plainTo(server.port()), o);
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.error().message().find("not trusted"), std::string::npos)
      << session.error().message();
}

TEST(StartTlsTrust, NumericAddressIsCheckedAgainstIpAddressNames) {
  Credentials by_ip = mtep::testing::selfSignedFor("IP:127.0.0.1");
  Credentials by_name = mtep::testing::selfSignedFor("DNS:127.0.0.1.example");
  ASSERT_TRUE(by_ip.cert && by_name.cert);
  {
    TempFile ca{mtep::testing::writePemFile(by_ip.cert.get())};
    TlsServer server(quietServer(by_ip), drain);
    auto session = startTls(plainTo(server.port()),
                            {.server_name = "127.0.0.1",
                             .trust = caTrust(ca.path)});
    ASSERT_TRUE(session.ok()) << session.error().message();
  }
  {
    TempFile ca{mtep::testing::writePemFile(by_name.cert.get())};
    TlsServer server(quietServer(by_name), drain);
    auto session = startTls(plainTo(server.port()),
                            {.server_name = "127.0.0.1",
                             .trust = caTrust(ca.path)});
    ASSERT_FALSE(session.ok());
  }
}

TEST(StartTlsTrust, PinnedSelfSignedCertificateIsTrustedWithoutACa) {
  Credentials creds = mtep::testing::selfSigned("whatever");
  const std::string fp = mtep::testing::expectedFingerprint(creds.key.get());
  TlsServer server(quietServer(creds), drain);
  // A pin replaces the CA check: verify_certificate and the name do not matter.
  TlsClientOptions o{.server_name = "mx.alpha.test",
                     .trust = pinTrust({"x", fp})};
  auto session = startTls(plainTo(server.port()), o);
  ASSERT_TRUE(session.ok()) << session.error().message();
  EXPECT_EQ(session->trusted_by, "pin");
}

TEST(StartTlsTrust, KeyThatIsNotPinnedIsRefusedEvenWithAValidCertificate) {
  Credentials creds = mtep::testing::selfSignedFor("DNS:mx.alpha.test");
  Credentials pinned = mtep::testing::selfSigned();
  TempFile ca{mtep::testing::writePemFile(creds.cert.get())};
  TlsServer server(quietServer(creds), drain);
  TlsClientOptions o{
      .server_name = "mx.alpha.test",
      .trust = pinTrust({mtep::testing::expectedFingerprint(pinned.key.get())})};
  o.trust.ca_file = ca.path;
  auto session = startTls(plainTo(server.port()), o);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.error().kind(), ErrorKind::kTemporary);
  EXPECT_NE(session.error().message().find("not pinned"), std::string::npos)
      << session.error().message();
}

TEST(StartTlsTrust, UnreadableCaFileIsAConfigErrorNamingIt) {
  Credentials creds = mtep::testing::selfSignedFor("DNS:mx.alpha.test");
  TlsServer server(quietServer(creds), drain);
  TlsClientOptions o{.server_name = "mx.alpha.test",
                     .trust = caTrust("/nonexistent/ca.pem")};
  auto session = startTls(plainTo(server.port()), o);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(session.error().message().find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(StartTlsTrust, NoTrustChecksNothing) {
  Credentials creds = mtep::testing::selfSigned();
  TlsServer server(quietServer(creds), drain);
  auto session = startTls(plainTo(server.port()), {.server_name = "x.onion"});
  ASSERT_TRUE(session.ok()) << session.error().message();
  EXPECT_EQ(session->trusted_by, "");
}

}  // namespace
}  // namespace mtep::transport
