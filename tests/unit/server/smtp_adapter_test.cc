// NAME
//   smtp_adapter_test.cc - the SMTP engine on real connections over loopback
// DESCRIPTION
//   A ConnectionPool with SmtpAdapter sessions on TCP 127.0.0.1, a client
//   in a thread with blocking OpenSSL: implicit TLS (RFC 8314) greets only
//   after the handshake; STARTTLS drops the command pipelined behind it
//   (CVE-2011-0411); a suspended verb is answered through resume().

#include "server/smtp_adapter.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/connection_pool.h"
#include "unit/mtepd/test_tls.h"
#include "unit/server/loop_helpers.h"

namespace mtep::server {
namespace {

using testing::runUntil;

smtp::ServerSettings settings() {
  smtp::ServerSettings s;
  s.dialect = smtp::Dialect::kLmtp;
  s.hostname = "mx.test";
  s.greeting = "LMTP ready";
  s.extensions = {{"STARTTLS"}, {"X-SECRET", true}, {"PIPELINING"}, {"ENHANCEDSTATUSCODES"}};
  return s;
}

class Factory final : public SessionFactory {
 public:
  Factory(std::shared_ptr<const TlsContext> tls, bool implicit) : tls_(std::move(tls)), implicit_(implicit) {}
  const char* protocolName() const override { return "lmtp"; }
  std::unique_ptr<ProtocolSession> create(const PeerInfo&) override {
    auto a = std::make_unique<SmtpAdapter>(settings(), tls_,
                                           SmtpAdapterOptions{.idle_timeout = 30, .implicit_tls = implicit_});
    a->smtp().addVerb({"SLOW", [](smtp::ServerSession& s, const std::string&) { s.suspend(); },
                       smtp::kNeedsHelo});
    adapters.push_back(a.get());
    return a;
  }
  std::string_view busyReply() const override { return "421 4.7.0 busy\r\n"; }
  std::vector<SmtpAdapter*> adapters;  // not owned

 private:
  std::shared_ptr<const TlsContext> tls_;
  bool implicit_;
};

// A blocking client on a TCP socket, TLS when asked.
class Client {
 public:
  explicit Client(int fd) : fd_(fd) {}
  ~Client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  bool startTls() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }
  void send(const std::string& s) {
    if (ssl_ != nullptr) {
      SSL_write(ssl_, s.data(), static_cast<int>(s.size()));
    } else {
      ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
    }
  }
  // Reads until `replies` whole replies arrived ("NNN " lines), or the
  // peer closed (0: read to the close).
  std::string read(size_t replies) {
    std::string got;
    while (replies == 0 || complete(got) < replies) {
      char buf[4096];
      const int n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof buf)
                                    : static_cast<int>(::recv(fd_, buf, sizeof buf, 0));
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }

 private:
  static size_t complete(const std::string& text) {
    size_t n = 0;
    for (size_t start = 0, nl; (nl = text.find("\r\n", start)) != std::string::npos; start = nl + 2) {
      if (nl - start >= 4 && text[start + 3] == ' ') ++n;
    }
    return n;
  }
  int fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

class SmtpAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto base = makeEventBase();
    ASSERT_TRUE(base);
    base_ = std::move(*base);
    pool_ = std::make_unique<ConnectionPool>(base_.get(), 10);
    tls_ = mtepd::testTls();
  }
  void TearDown() override { pool_.reset(); }

  // A loopback TCP connection: the server end goes into the pool, the
  // client end (blocking, 10 s receive timeout) is returned.
  int connect(Factory& factory) {
    const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(lfd, 1), 0);
    EXPECT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    const int cfd = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const int sfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::close(lfd);
    timeval tv{10, 0};
    ::setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pool_->onAccept(sfd, PeerInfo{"127.0.0.1:4000", "127.0.0.1:24"}, factory, 0);
    return cfd;
  }
  // Runs the loop while `client` runs in a thread.
  void run(const std::function<void()>& client) {
    std::atomic<bool> done{false};
    std::thread t([&] {
      client();
      done = true;
    });
    EXPECT_TRUE(runUntil(base_.get(), [&] { return done.load(); }, 20000));
    t.join();
  }

  EventBasePtr base_;
  std::unique_ptr<ConnectionPool> pool_;
  std::shared_ptr<const TlsContext> tls_;
};

TEST_F(SmtpAdapterTest, ImplicitTlsGreetsAfterTheHandshakeAndCountsAsTls) {
  Factory factory(tls_, true);
  Client c(connect(factory));
  bool handshake = false;
  std::string greeting, lhlo, rest;
  run([&] {
    handshake = c.startTls();
    if (!handshake) return;
    greeting = c.read(1);
    c.send("LHLO client.test\r\n");
    lhlo = c.read(1);
    c.send("STARTTLS\r\nQUIT\r\n");
    rest = c.read(0);  // until the close
  });
  ASSERT_TRUE(handshake);
  EXPECT_EQ(greeting, "220 mx.test LMTP ready\r\n");
  // Under TLS from the start: no STARTTLS offered, the TLS-only keyword is.
  EXPECT_EQ(lhlo, "250-mx.test\r\n250-X-SECRET\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(rest, "503 5.5.1 Error: TLS already active\r\n221 2.0.0 Bye\r\n");
}

TEST_F(SmtpAdapterTest, ImplicitTlsSaysNothingInPlainText) {
  Factory factory(tls_, true);
  Client c(connect(factory));
  std::string got;
  run([&] {
    c.send("LHLO client.test\r\n");  // not a ClientHello: the handshake fails
    got = c.read(0);
  });
  EXPECT_EQ(got.find("220"), std::string::npos);
  EXPECT_EQ(got.find("250"), std::string::npos);
}

TEST_F(SmtpAdapterTest, StartTlsDropsTheCommandPipelinedBehindIt) {
  Factory factory(tls_, false);
  Client c(connect(factory));
  std::string greeting, lhlo, starttls, after;
  bool handshake = false;
  run([&] {
    greeting = c.read(1);
    c.send("LHLO a\r\n");
    lhlo = c.read(1);
    // One packet: the NOOP must never be answered (CVE-2011-0411).
    c.send("STARTTLS\r\nNOOP\r\n");
    starttls = c.read(1);
    handshake = c.startTls();
    if (!handshake) return;
    c.send("LHLO b\r\nQUIT\r\n");
    after = c.read(0);
  });
  EXPECT_EQ(greeting, "220 mx.test LMTP ready\r\n");
  EXPECT_EQ(lhlo, "250-mx.test\r\n250-STARTTLS\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(starttls, "220 2.0.0 Ready to start TLS\r\n");
  ASSERT_TRUE(handshake);
  EXPECT_EQ(after,
            "250-mx.test\r\n250-X-SECRET\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
            "221 2.0.0 Bye\r\n");
}

TEST_F(SmtpAdapterTest, ASuspendedVerbIsAnsweredThroughResumeAndTheRestFollows) {
  Factory factory(nullptr, false);
  Client c(connect(factory));
  std::atomic<bool> waiting{false};
  std::string first, rest;
  std::atomic<bool> done{false};
  std::thread t([&] {
    first = c.read(1);
    c.send("LHLO a\r\nSLOW\r\nNOOP\r\nQUIT\r\n");
    first += c.read(1);
    waiting = true;
    rest = c.read(0);
    done = true;
  });
  ASSERT_TRUE(runUntil(base_.get(), [&] { return waiting.load(); }));
  testing::runFor(base_.get(), 50);
  ASSERT_EQ(factory.adapters.size(), 1u);
  EXPECT_TRUE(factory.adapters[0]->smtp().suspended());
  // False: the QUIT it fed afterwards ended the connection during the call.
  EXPECT_FALSE(factory.adapters[0]->resume({{250, smtp::EnhancedStatus{2, 0, 0}, "slow done"}}));
  EXPECT_TRUE(runUntil(base_.get(), [&] { return done.load(); }));
  t.join();
  EXPECT_EQ(first,
            "220 mx.test LMTP ready\r\n250-mx.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(rest, "250 2.0.0 slow done\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
}

}  // namespace
}  // namespace mtep::server
