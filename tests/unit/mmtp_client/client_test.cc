// lib/mmtp/client.h against a one-connection JSON server thread on
// loopback (plain or TLS with a throwaway certificate): the greeting, the
// request's exact bytes, replies in pieces, two requests on one
// connection; pins and a CA file trusted, a wrong pin and an unknown CA
// refused; a server that stalls (kTemporary), sends garbage or bad JSON
// (kProtocol), closes (kTemporary), sends too much (kLimit) or too deep a
// value, and a port nobody listens on.
#include "mmtp/client.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "unit/transport/tls_test_util.h"

namespace mtep::mmtp {
namespace {

using testing::Credentials;

// One connection, one script, optionally TLS.
class JsonServer {
 public:
  class Peer {
   public:
    Peer(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
    void write(std::string_view data) {
      if (ssl_ != nullptr) {
        SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
      } else {
        testing::sendText(fd_, data);
      }
    }
    // One JSON value from the client; nullopt on close.
    std::optional<std::string> readValue() {
      std::string value;
      while (true) {
        if (framer_.next(&value) == FrameStatus::kValue) {
          received_.push_back(value);
          return value;
        }
        char buf[4096];
        const int n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof buf)
                                      : static_cast<int>(::recv(fd_, buf, sizeof buf, 0));
        if (n <= 0) return std::nullopt;
        framer_.feed(std::string_view(buf, static_cast<size_t>(n)));
      }
    }
    void waitClose() {
      char buf[4096];
      while ((ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof buf)
                              : static_cast<int>(::recv(fd_, buf, sizeof buf, 0))) > 0) {
      }
    }
    std::vector<std::string> received_;

   private:
    int fd_;
    SSL* ssl_;
    JsonFramer framer_{{.max_value_bytes = 1 << 20, .max_depth = 64}};
  };

  explicit JsonServer(std::function<void(Peer&)> script, const Credentials* creds = nullptr)
      : script_(std::move(script)) {
    if (creds != nullptr) ctx_ = testing::serverContext(*creds);
    listener_ = testing::listenLoopback(&port_);
    thread_ = std::thread([this] { run(); });
  }
  ~JsonServer() { join(); }
  uint16_t port() const { return port_; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<std::string>& received() const { return received_; }
  bool tlsFailed() const { return tls_failed_; }

 private:
  void run() {
    testing::blockSigpipeInThisThread();
    UniqueFd conn(::accept(listener_.get(), nullptr, nullptr));
    if (!conn.valid()) return;
    testing::SslPtr ssl;
    if (ctx_) {
      ssl.reset(SSL_new(ctx_.get()));
      SSL_set_fd(ssl.get(), conn.get());
      if (SSL_accept(ssl.get()) != 1) {
        tls_failed_ = true;
        ERR_clear_error();
        return;
      }
    }
    Peer peer(conn.get(), ssl.get());
    script_(peer);
    received_ = peer.received_;
    if (ssl) SSL_shutdown(ssl.get());
    ERR_clear_error();
  }

  std::function<void(Peer&)> script_;
  testing::CtxPtr ctx_;
  UniqueFd listener_;
  uint16_t port_ = 0;
  std::vector<std::string> received_;
  bool tls_failed_ = false;
  std::thread thread_;
};

constexpr const char* kGreeting =
    R"({"status":"OK","message":"MMTP Server Ready","features":{"tls":false,"pgp":true}})"
    "\n";

MmtpClientOptions plainTo(uint16_t port) {
  MmtpClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.tls = false;
  o.dial_timeout_ms = 5000;
  o.reply_timeout_ms = 5000;
  return o;
}

Json sendRequest() {
  Json r;
  r["action"] = "SEND";
  r["data"]["packet"]["content"]["subject"] =
      "Gr\xc3\xbc\xc3\x9f"
      "e";
  r["data"]["packet"]["content"]["body"] = "a\nb";
  return r;
}

TEST(MmtpClient, GreetingRequestAndReplyInPieces) {
  JsonServer server([](JsonServer::Peer& p) {
    p.write(kGreeting);
    if (!p.readValue()) return;
    // The reply in three writes, as a server may send it.
    p.write(R"({"status":"OK","mess)");
    p.write(R"(age":"Message delivered successfully",)");
    p.write(R"("messageId":"abc"})"
            "\n");
    if (!p.readValue()) return;
    p.write(R"({"status":"ERROR","message":"Unknown action"} )");
    p.waitClose();
  });
  ClientStep step = ClientStep::kRequest;
  {
    auto c = connectMmtp(plainTo(server.port()), transport::systemResolver(), &step);
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(step, ClientStep::kNone);
    EXPECT_EQ(c->greeting()["message"], "MMTP Server Ready");
    EXPECT_EQ(c->tlsFingerprint(), "");
    auto r = c->request(sendRequest());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ((*r)["status"], "OK");
    EXPECT_EQ((*r)["messageId"], "abc");
    Json other;
    other["action"] = "NOPE";
    auto r2 = c->request(other);
    ASSERT_TRUE(r2.ok()) << r2.error().message();
    EXPECT_EQ((*r2)["message"], "Unknown action");
  }
  server.join();
  // The request's bytes are JSON.stringify's.
  ASSERT_EQ(server.received().size(), 2u);
  EXPECT_EQ(server.received()[0], jsStringify(sendRequest()));
  EXPECT_EQ(server.received()[1], R"({"action":"NOPE"})");
}

TEST(MmtpClient, TlsWithAPinnedKey) {
  Credentials creds = testing::selfSigned("mmtp.beta.test");
  const std::string pin = testing::expectedFingerprint(creds.key.get());
  JsonServer server(
      [](JsonServer::Peer& p) {
        p.write(R"j({"status":"OK","message":"MMTP Server Ready (Secure Connection)"})j");
        if (!p.readValue()) return;
        p.write(R"({"status":"OK"})");
        p.waitClose();
      },
      &creds);
  MmtpClientOptions o = plainTo(server.port());
  o.tls = true;
  o.tls_options.server_name = "mmtp.beta.test";
  o.tls_options.trust.pins = {pin};
  {
    auto c = connectMmtp(o);
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->trustedBy(), "pin");
    EXPECT_EQ(c->tlsFingerprint(), pin);
    EXPECT_EQ(c->greeting()["message"], "MMTP Server Ready (Secure Connection)");
    auto r = c->request(sendRequest());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ((*r)["status"], "OK");
  }
  server.join();
  EXPECT_EQ(server.received().size(), 1u);
}

TEST(MmtpClient, TlsWithACaFile) {
  Credentials creds = testing::selfSignedFor("IP:127.0.0.1");
  const std::string ca = testing::writePemFile(creds.cert.get());
  ASSERT_FALSE(ca.empty());
  JsonServer server(
      [](JsonServer::Peer& p) {
        p.write(R"({"status":"OK"})");
        p.waitClose();
      },
      &creds);
  MmtpClientOptions o = plainTo(server.port());
  o.tls = true;
  o.tls_options.trust.verify_certificate = true;
  o.tls_options.trust.ca_file = ca;
  {
    auto c = connectMmtp(o);
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->trustedBy(), "ca");
  }
  server.join();
  ::unlink(ca.c_str());
}

TEST(MmtpClient, UntrustedCertificatesAreTemporaryAndNothingIsSent) {
  Credentials creds = testing::selfSigned("mmtp.beta.test");
  Credentials other = testing::selfSigned("other");
  for (int variant = 0; variant < 2; ++variant) {
    bool sent_anything = false;
    JsonServer server(
        [&sent_anything](JsonServer::Peer& p) {
          p.write(R"({"status":"OK"})");
          sent_anything = p.readValue().has_value();
        },
        &creds);
    MmtpClientOptions o = plainTo(server.port());
    o.tls = true;
    if (variant == 0) {
      o.tls_options.trust.pins = {testing::expectedFingerprint(other.key.get())};
    } else {
      o.tls_options.trust.verify_certificate = true;  // the system store: not this one
      o.tls_options.trust.name = "127.0.0.1";
    }
    ClientStep step = ClientStep::kNone;
    auto c = connectMmtp(o, transport::systemResolver(), &step);
    ASSERT_FALSE(c.ok()) << variant;
    EXPECT_EQ(c.error().kind(), ErrorKind::kTemporary) << c.error().message();
    EXPECT_EQ(step, ClientStep::kTls) << variant;
    server.join();
    EXPECT_FALSE(sent_anything);
  }
}

TEST(MmtpClient, StalledServerTimesOutAsTemporary) {
  // Silent before the greeting.
  {
    JsonServer server([](JsonServer::Peer& p) { p.waitClose(); });
    MmtpClientOptions o = plainTo(server.port());
    o.dial_timeout_ms = 300;
    ClientStep step = ClientStep::kNone;
    auto c = connectMmtp(o, transport::systemResolver(), &step);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind(), ErrorKind::kTemporary) << c.error().message();
    EXPECT_EQ(step, ClientStep::kGreeting);
  }
  // Silent after the request.
  JsonServer server([](JsonServer::Peer& p) {
    p.write(kGreeting);
    if (!p.readValue()) return;
    p.write(R"({"status":"OK")");  // half a reply, then nothing
    p.waitClose();
  });
  MmtpClientOptions o = plainTo(server.port());
  o.reply_timeout_ms = 300;
  auto c = connectMmtp(o);
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto r = c->request(sendRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary) << r.error().message();
  // Not used again after an error.
  auto again = c->request(sendRequest());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kTemporary);
}

TEST(MmtpClient, GarbageIsAProtocolError) {
  struct Case {
    const char* greeting;  // nullptr: kGreeting
    const char* reply;
    ErrorKind want;
  } cases[] = {
      {"hello there\n", nullptr, ErrorKind::kProtocol},
      {"220 smtp.beta.test ESMTP\r\n", nullptr, ErrorKind::kProtocol},
      {R"({"status":"ERROR","message":"Rate limit exceeded. Try again later."})", nullptr,
       ErrorKind::kProtocol},
      {R"(["OK"])", nullptr, ErrorKind::kProtocol},
      {kGreeting, "garbage\n", ErrorKind::kProtocol},
      {kGreeting, R"({"status":})", ErrorKind::kProtocol},
      {kGreeting, "{\"status\":\"OK\",\"message\":\"\xff\"}", ErrorKind::kProtocol},
  };
  for (const Case& k : cases) {
    JsonServer server([&k](JsonServer::Peer& p) {
      p.write(k.greeting);
      if (k.reply == nullptr || !p.readValue()) return p.waitClose();
      p.write(k.reply);
      p.waitClose();
    });
    ClientStep step = ClientStep::kNone;
    auto c = connectMmtp(plainTo(server.port()), transport::systemResolver(), &step);
    if (k.reply == nullptr) {
      ASSERT_FALSE(c.ok()) << k.greeting;
      EXPECT_EQ(c.error().kind(), k.want) << k.greeting << ": " << c.error().message();
      EXPECT_EQ(step, ClientStep::kGreeting);
      continue;
    }
    ASSERT_TRUE(c.ok()) << c.error().message();
    auto r = c->request(sendRequest());
    ASSERT_FALSE(r.ok()) << k.reply;
    EXPECT_EQ(r.error().kind(), k.want) << k.reply << ": " << r.error().message();
  }
}

TEST(MmtpClient, ServerClosingIsTemporary) {
  {
    JsonServer server([](JsonServer::Peer&) {});  // closes at once
    ClientStep step = ClientStep::kNone;
    auto c = connectMmtp(plainTo(server.port()), transport::systemResolver(), &step);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind(), ErrorKind::kTemporary) << c.error().message();
    EXPECT_EQ(step, ClientStep::kGreeting);
  }
  JsonServer server([](JsonServer::Peer& p) {
    p.write(kGreeting);
    (void)p.readValue();
    p.write(R"({"status":"OK","mes)");  // then closes mid-reply
  });
  auto c = connectMmtp(plainTo(server.port()));
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto r = c->request(sendRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kTemporary) << r.error().message();
  EXPECT_NE(r.error().message().find("closed"), std::string::npos) << r.error().message();
}

TEST(MmtpClient, RepliesOverTheLimits) {
  // Too large: the client stops reading long before the server's 4 MB end.
  {
    JsonServer server([](JsonServer::Peer& p) {
      p.write(kGreeting);
      if (!p.readValue()) return;
      p.write(R"({"status":"OK","messages":")");
      const std::string chunk(64 * 1024, 'x');
      for (int i = 0; i < 64; ++i) p.write(chunk);
      p.write("\"}");
      p.waitClose();
    });
    MmtpClientOptions o = plainTo(server.port());
    o.max_reply_bytes = 4096;
    auto c = connectMmtp(o);
    ASSERT_TRUE(c.ok()) << c.error().message();
    auto r = c->request(sendRequest());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::kLimit) << r.error().message();
  }
  // Too deep.
  JsonServer server([](JsonServer::Peer& p) {
    p.write(kGreeting);
    if (!p.readValue()) return;
    p.write(std::string(100, '[') + std::string(100, ']'));
    p.waitClose();
  });
  MmtpClientOptions o = plainTo(server.port());
  o.max_reply_depth = 10;
  auto c = connectMmtp(o);
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto r = c->request(sendRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kProtocol) << r.error().message();
}

TEST(MmtpClient, NobodyListeningIsATemporaryDialFailure) {
  uint16_t port = 0;
  { UniqueFd l = testing::listenLoopback(&port); }  // bound, then closed: refused
  ClientStep step = ClientStep::kNone;
  auto c = connectMmtp(plainTo(port), transport::systemResolver(), &step);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kTemporary) << c.error().message();
  EXPECT_EQ(step, ClientStep::kDial);
}

TEST(MmtpClient, NoHostIsInvalid) {
  MmtpClientOptions o;
  ClientStep step = ClientStep::kNone;
  auto c = connectMmtp(o, transport::systemResolver(), &step);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(step, ClientStep::kRequest);
}

}  // namespace
}  // namespace mtep::mmtp
