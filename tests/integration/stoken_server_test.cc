// NAME
//   stoken_server_test.cc - the real mtepd's token server ([stoken] listen,
//   starttls_listen) delivering into a real Dovecot LMTP server
// DESCRIPTION
//   tests/lib/dovecot.sh starts Dovecot on loopback (its maildirs are read
//   back); mtepd runs with a certificate made by `openssl req`, [stoken]
//   deliver_to that Dovecot and beta.test accepting submission tokens.
//   Tokens are minted in-process on mtepd's key file (lib/stoken), with an
//   old issue time for expired ones; revocations and permanents go through
//   mtepd (REVSTOKEN, GENSTOKEN after AUTH HASHEDPASS) or lib/stoken on its
//   store. The client side is OpenSSL on a socket (this file) and, for one
//   raw session, `openssl s_client -starttls lmtp`.
//   Checked: the draft's Example 1 (two temporaries -> 2.1.13 with a
//   permanent each, MYSTOKEN held) and Example 2 (permanents -> 2.1.12),
//   the mail in Dovecot with "with LMTPSA" and our Authentication-Results
//   (a forged one with our authserv-id removed); revoked, expired,
//   wrong-pair and wrong-sender tokens refused with nothing delivered; one
//   of two recipients over quota (552 5.2.2 beside a 250); Dovecot down
//   (451 4.4.1); plain-text LHLO without STOKEN; HELO/EHLO refused; 10,000
//   AUTH STOKEN attempts with bad tokens limited (454) like HASHEDPASS;
//   bad input (malformed base64, a 10 MB token line, RCPT without STOKEN,
//   GENSTOKEN without login, pipelining, a client gone mid-DATA).
//   Skipped where Dovecot cannot run (dovecot.sh dv_missing).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "e2ee/e2ee.h"
#include "e2ee/users.h"
#include "integration/mtepd_harness.h"
#include "integration/run_program.h"
#include "stoken/book.h"
#include "stoken/protocol.h"
#include "stoken/token.h"
#include "store/sqlite_store.h"
#include "token/token.h"
#include "util/base64.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

namespace fs = std::filesystem;
using stoken::Kind;

constexpr const char* kAlice = "alice@alpha.test";
constexpr const char* kBob = "bob@beta.test";
constexpr const char* kCarol = "carol@beta.test";

// A blocking LMTP client over TLS (implicit, or after STARTTLS).
class LmtpClient {
 public:
  ~LmtpClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  static std::unique_ptr<LmtpClient> connect(uint16_t port, bool tls) {
    auto c = std::unique_ptr<LmtpClient>(new LmtpClient());
    c->fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c->fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return nullptr;
    if (tls && !c->startTls()) return nullptr;
    return c;
  }
  bool startTls() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const int n = ssl_ != nullptr
                        ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                        : static_cast<int>(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL));
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // One reply, every line joined by "\n" (CRLF removed); nullopt on close or timeout.
  std::optional<std::string> reply(int timeout_ms = 30000) {
    std::string all;
    for (;;) {
      auto line = readLine(timeout_ms);
      if (!line) return std::nullopt;
      if (!all.empty()) all += "\n";
      all += *line;
      if (line->size() < 4 || (*line)[3] != '-') return all;
    }
  }
  std::optional<std::string> readLine(int timeout_ms) {
    for (;;) {
      const size_t eol = buf_.find("\r\n");
      if (eol != std::string::npos) {
        std::string line = buf_.substr(0, eol);
        buf_.erase(0, eol + 2);
        return line;
      }
      if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
      }
      char tmp[4096];
      const int n = ssl_ != nullptr ? SSL_read(ssl_, tmp, sizeof tmp)
                                    : static_cast<int>(::recv(fd_, tmp, sizeof tmp, 0));
      if (n <= 0) return std::nullopt;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }
  // Sends `line` CRLF and reads the reply.
  std::string ask(const std::string& line) {
    if (!send(line + "\r\n")) return "<send failed>";
    auto r = reply();
    return r ? *r : "<no reply>";
  }
  void closeNow() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

 private:
  LmtpClient() = default;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

bool startsWithText(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

class TokenServer : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mtep-stoken-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work_ = tmpl;
    RunResult why = shell("dv_missing");
    if (why.exit_code == 0) GTEST_SKIP() << why.out;
  }
  void TearDown() override {
    d_.reset();
    if (dv_started_) (void)shell("dv_load \"$W/dv\" && dv_stop");
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  RunResult shell(const std::string& script) {
    const std::string full = "W=" + work_.string() + "; source " DOVECOT_SH "; " + script;
    return runProgram({"bash", "-c", full}, work_);
  }
  std::string inDovecot(const std::string& script) {
    RunResult r = shell("dv_load \"$W/dv\" && " + script);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  int count(const std::string& addr) { return std::stoi("0" + inDovecot("dv_count " + addr)); }
  std::string mailOf(const std::string& addr) {
    const std::string files = inDovecot("dv_files " + addr);
    return readFile(files.substr(0, files.find('\n')));
  }

  // Dovecot with `users`, then mtepd with its token server; `more_stoken`
  // joins [stoken], `tail` is appended (more sections).
  void start(const std::string& users = "bob@beta.test carol@beta.test",
             const std::string& more_stoken = "", const std::string& tail = "") {
    RunResult r = shell("dv_start \"$W/dv\" " + users + " && echo $DV_PORT");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << readFile(work_ / "dv" / "dovecot.log");
    dv_started_ = true;
    const uint16_t dv_port = static_cast<uint16_t>(std::stoi(r.out));
    tls_port_ = freeLoopbackPort();
    starttls_port_ = freeLoopbackPort();
    d_ = std::make_unique<Mtepd>(DaemonSettings{});
    const std::string cert = d_->dir() + "/cert.pem";
    const std::string key = d_->dir() + "/key.pem";
    r = runProgram(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=mx.beta.test", "-days", "2", "-keyout", key, "-out", cert},
        d_->dir());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string mtepd_keys = "hostname = \"mx.beta.test\"\ntls_cert_file = \"" + cert +
                                   "\"\ntls_key_file = \"" + key + "\"\nuser_keys = true\n" +
                                   mtepd_extra_;
    std::string text = readFile(d_->configPath());
    const size_t eol = text.find('\n', text.find("idle_timeout"));
    text.insert(eol + 1, mtepd_keys);
    text += "\n[stoken]\nlisten = [\"127.0.0.1:" + std::to_string(tls_port_) +
            "\"]\nstarttls_listen = [\"127.0.0.1:" + std::to_string(starttls_port_) +
            "\"]\ndeliver_to = \"127.0.0.1:" + std::to_string(dv_port) +
            "\"\nrefuse_recipients = [\"dave@beta.test\"]\n" + more_stoken +
            "\n[domain.\"beta.test\"]\naccept_submission_tokens = true\n" + tail;
    d_->writeConfigText(text);
    ASSERT_TRUE(d_->start());
  }

  std::shared_ptr<token::KeyRing> ring() {
    auto r = token::KeyRing::load(d_->keyFile(), {}, SystemClock::instance());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    if (!r) return nullptr;
    return std::make_shared<token::KeyRing>(std::move(*r));
  }
  // A token of mtepd's for (remote, local), issued `age` seconds ago.
  std::string mint(Kind kind, const std::string& remote, const std::string& local,
                   int64_t age = 0) {
    auto k = ring();
    if (!k) return {};
    auto t = stoken::mint(kind, *k, remote, local, SystemClock::instance().now() - age);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : std::string();
  }
  // Runs `f` on a TokenBook over mtepd's store.
  template <typename F>
  auto withBook(F f) {
    auto st = store::openSqlite({.path = d_->dbPath()}, SystemClock::instance());
    EXPECT_TRUE(st.ok());
    auto k = ring();
    stoken::TokenBook book(**st, *k, SystemClock::instance(), {});
    return f(book);
  }
  ::testing::AssertionResult addUser(const std::string& name, const e2ee::Hash& hash) {
    auto st = store::openSqlite({.path = d_->dbPath()}, SystemClock::instance());
    if (!st) return ::testing::AssertionFailure() << "store: " << st.error().message();
    e2ee::UserBook users(**st, SystemClock::instance());
    Status s = users.add(name, hash);
    if (!s) return ::testing::AssertionFailure() << "add: " << s.error().message();
    return ::testing::AssertionSuccess();
  }

  // Connected over implicit TLS, greeted, LHLO answered.
  std::unique_ptr<LmtpClient> session() {
    auto c = LmtpClient::connect(tls_port_, true);
    EXPECT_TRUE(c);
    if (!c) return nullptr;
    auto greeting = c->reply();
    EXPECT_TRUE(greeting && startsWithText(*greeting, "220 mx.beta.test")) << greeting.value_or("");
    const std::string lhlo = c->ask("LHLO alpha.test");
    EXPECT_NE(lhlo.find("250-STOKEN"), std::string::npos) << lhlo;
    return c;
  }
  static std::string auth(const std::string& rcpt, const std::string& token) {
    return "AUTH STOKEN " + stoken::formatAuthPayload(rcpt, token);
  }
  static std::string message(const std::string& subject, size_t padding = 0) {
    std::string m = "From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: " + subject +
                    "\r\nAuthentication-Results: mx.beta.test; stoken=pass (forged)\r\n"
                    "Authentication-Results: other.test; spf=pass\r\n\r\n.dotted line\r\nbody\r\n";
    if (padding > 0) m += std::string(padding, 'y') + "\r\n";
    std::string stuffed;
    for (size_t i = 0; i < m.size();) {
      const size_t eol = m.find("\r\n", i);
      const std::string line = m.substr(i, eol - i);
      stuffed += (line.empty() || line[0] != '.' ? "" : ".") + line + "\r\n";
      i = eol + 2;
    }
    return stuffed + ".\r\n";
  }
  // The replies to DATA's dot, one per recipient.
  std::vector<std::string> data(LmtpClient& c, const std::string& msg, size_t n) {
    std::vector<std::string> out;
    const std::string go = c.ask("DATA");
    EXPECT_TRUE(startsWithText(go, "354")) << go;
    c.send(msg);
    for (size_t i = 0; i < n; ++i) {
      auto r = c.reply(60000);
      out.push_back(r.value_or("<no reply>"));
    }
    return out;
  }

  std::string mtepd_extra_;  // joins [mtepd]
  fs::path work_;
  bool dv_started_ = false;
  std::unique_ptr<Mtepd> d_;
  uint16_t tls_port_ = 0;
  uint16_t starttls_port_ = 0;
};

// The token in "250 2.1.13 <a> TOKEN ID Saved".
std::string permanentOf(const std::string& reply) {
  auto p = stoken::parseDeliveryReply(reply.substr(4));
  if (!p || !p->permanent) return {};
  return *p->permanent;
}

// --- the draft's examples ------------------------------------------------------

TEST_F(TokenServer, Example1TemporaryTokensGetPermanentsAndTheMailIsInDovecot) {
  start();
  const std::string t_bob = mint(Kind::kTemporary, kAlice, kBob);
  const std::string t_carol = mint(Kind::kTemporary, kAlice, kCarol);
  const std::string my_bob = mint(Kind::kPermanent, kBob, kAlice);  // alpha's, for the test
  const std::string my_carol = mint(Kind::kTemporary, kCarol, kAlice);
  auto c = session();
  ASSERT_TRUE(c);
  // The draft's example encodes a literal backslash-zero: accepted.
  const std::string literal =
      base64Encode(reinterpret_cast<const uint8_t*>((std::string(kBob) + "\\0" + t_bob).data()),
                   std::string(kBob).size() + 2 + t_bob.size(), false, true);
  EXPECT_EQ(c->ask("AUTH STOKEN " + literal), "235 2.7.0 Authentication successful");
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test> STOKEN=" + t_bob + " MYSTOKEN=" + my_bob),
            "250 2.1.5 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<carol@beta.test> STOKEN=" + t_carol + " MYSTOKEN=" + my_carol),
            "250 2.1.5 Ok");
  const auto replies = data(*c, message("example 1"), 2);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_TRUE(startsWithText(replies[0], "250 2.1.13 <bob@beta.test> ")) << replies[0];
  EXPECT_TRUE(startsWithText(replies[1], "250 2.1.13 <carol@beta.test> ")) << replies[1];
  EXPECT_NE(replies[0].find(" Saved"), std::string::npos) << replies[0];
  const std::string p_bob = permanentOf(replies[0]);
  const std::string p_carol = permanentOf(replies[1]);
  ASSERT_FALSE(p_bob.empty()) << replies[0];
  ASSERT_FALSE(p_carol.empty()) << replies[1];
  auto fb = stoken::decode(p_bob);
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ(fb->kind, Kind::kPermanent);
  EXPECT_EQ(c->ask("QUIT"), "221 2.0.0 Bye");

  EXPECT_EQ(count(kBob), 1);
  EXPECT_EQ(count(kCarol), 1);
  const std::string mail = mailOf(kBob);
  EXPECT_NE(mail.find("Received: from alpha.test (127.0.0.1)"), std::string::npos) << mail;
  EXPECT_NE(mail.find("by mx.beta.test with LMTPSA id "), std::string::npos) << mail;
  EXPECT_NE(mail.find("Authentication-Results: mx.beta.test; stoken=pass (temporary) "
                      "smtp.mailfrom=alice@alpha.test"),
            std::string::npos)
      << mail;
  EXPECT_EQ(mail.find("(forged)"), std::string::npos) << mail;
  EXPECT_NE(mail.find("Authentication-Results: other.test; spf=pass"), std::string::npos) << mail;
  EXPECT_NE(mail.find("\n.dotted line"), std::string::npos) << mail;
  EXPECT_EQ(mail.find(t_bob), std::string::npos);
  // MYSTOKEN held for (local bob, remote alice); never a whole token in the log.
  auto held = withBook([&](stoken::TokenBook& b) { return b.held(kBob, kAlice); });
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->token, my_bob);
  EXPECT_EQ(held->kind, Kind::kPermanent);
  EXPECT_TRUE(d_->waitForLog("kind=temporary result=250 2.1.13 perm="));
  const std::string log = d_->logText();
  for (const std::string& t : {t_bob, t_carol, my_bob, p_bob, p_carol}) {
    EXPECT_EQ(log.find(t), std::string::npos) << "token in the log";
  }

  // Example 2: the permanents -> 2.1.12, bob without STOKEN (the AUTH recipient).
  c = session();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ask(auth(kBob, p_bob)), "235 2.7.0 Authentication successful");
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test>"), "250 2.1.5 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<carol@beta.test> STOKEN=" + p_carol), "250 2.1.5 Ok");
  const auto again = data(*c, message("example 2"), 2);
  EXPECT_TRUE(startsWithText(again[0], "250 2.1.12 <bob@beta.test> ")) << again[0];
  EXPECT_TRUE(startsWithText(again[1], "250 2.1.12 <carol@beta.test> ")) << again[1];
  EXPECT_EQ(count(kBob), 2);
  EXPECT_EQ(count(kCarol), 2);
  // A temporary MYSTOKEN never replaces a held permanent.
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test> MYSTOKEN=" + mint(Kind::kTemporary, kBob, kAlice)),
            "250 2.1.5 Ok");
  const auto third = data(*c, message("third"), 1);
  EXPECT_TRUE(startsWithText(third[0], "250 2.1.12 <bob@beta.test> ")) << third[0];
  held = withBook([&](stoken::TokenBook& b) { return b.held(kBob, kAlice); });
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->token, my_bob);
}

// --- tokens that must not work ------------------------------------------------------

TEST_F(TokenServer, RevokedExpiredWrongPairAndWrongSenderTokensDeliverNothing) {
  // More than the default 5 failures are made here (each counts).
  mtepd_extra_ = "auth_failures_per_client = \"100/15m\"\n";
  start();
  // Expired: issued eight days ago (temporary_ttl 7 days).
  const std::string expired = mint(Kind::kTemporary, kAlice, kBob, 8 * 86400);
  // Wrong pair: alice's token for carol used for bob.
  const std::string for_carol = mint(Kind::kTemporary, kAlice, kCarol);
  // Revoked: issued before REVSTOKEN's revocation of (alice, bob).
  const std::string revoked = mint(Kind::kTemporary, kAlice, kBob, 60);
  ASSERT_TRUE(withBook([&](stoken::TokenBook& b) { return b.revoke(kAlice, kBob); }).ok());
  // Issued after the revocation (a second on, as TokenBook::generate does).
  const std::string good = mint(Kind::kTemporary, kAlice, kBob, -1);
  const std::string forged = good.substr(0, 40) + (good[40] == 'A' ? "B" : "A") + good.substr(41);

  auto c = session();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ask(auth(kBob, expired)), "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(c->ask(auth(kBob, for_carol)), "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(c->ask(auth(kBob, forged)), "535 5.7.8 Authentication credentials invalid");
  // The revoked one is genuine: AUTH takes it, MAIL refuses it.
  EXPECT_EQ(c->ask(auth(kBob, revoked)), "235 2.7.0 Authentication successful");
  EXPECT_TRUE(startsWithText(c->ask("MAIL FROM:<alice@alpha.test>"), "550 5.7.8"));
  EXPECT_TRUE(startsWithText(c->ask("DATA"), "503 5.5.1"));

  // Wrong sender: a co-recipient (mallory) with bob's token from alice.
  c = session();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ask(auth(kBob, good)), "235 2.7.0 Authentication successful");
  EXPECT_EQ(c->ask("MAIL FROM:<mallory@evil.test>"),
            "550 5.7.8 Sender is not the one this token was given to");
  // The right sender, but RCPT with a token of another pair, an expired
  // one, a revoked one: 550 5.7.8 each; refused recipients 550 5.7.1.
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_TRUE(startsWithText(c->ask("RCPT TO:<bob@beta.test> STOKEN=" + for_carol), "550 5.7.8"));
  EXPECT_TRUE(startsWithText(c->ask("RCPT TO:<bob@beta.test> STOKEN=" + expired), "550 5.7.8"));
  EXPECT_TRUE(startsWithText(c->ask("RCPT TO:<bob@beta.test> STOKEN=" + revoked), "550 5.7.8"));
  EXPECT_TRUE(startsWithText(
      c->ask("RCPT TO:<dave@beta.test> STOKEN=" + mint(Kind::kTemporary, kAlice, "dave@beta.test")),
      "550 5.7.1"));
  EXPECT_TRUE(startsWithText(
      c->ask("RCPT TO:<eve@other.test> STOKEN=" + mint(Kind::kTemporary, kAlice, "eve@other.test")),
      "550 5.7.1"));
  EXPECT_TRUE(startsWithText(c->ask("DATA"), "503 5.5.1"));
  EXPECT_EQ(count(kBob), 0);
  EXPECT_EQ(count(kCarol), 0);
}

// --- the limits -------------------------------------------------------------------------

TEST_F(TokenServer, RateRecipientsAndSizeLimits) {
  start("bob@beta.test carol@beta.test", "max_recipients = 2\nmax_message_size = 2048\n",
        "submission_token_rate = 2\n");
  const std::string t_bob = mint(Kind::kTemporary, kAlice, kBob);
  auto c = session();
  ASSERT_TRUE(c);
  const std::string lhlo = c->ask("LHLO alpha.test");
  EXPECT_NE(lhlo.find("250-SIZE 2048"), std::string::npos) << lhlo;
  EXPECT_EQ(c->ask(auth(kBob, t_bob)), "235 2.7.0 Authentication successful");
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test> SIZE=4096"),
            "552 5.3.4 Message size exceeds fixed limit");
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test> BODY=8BITMIME"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test>"), "250 2.1.5 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<carol@beta.test> STOKEN=" + mint(Kind::kTemporary, kAlice, kCarol)),
            "250 2.1.5 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<carol@beta.test> STOKEN=" + mint(Kind::kTemporary, kAlice, kCarol)),
            "452 4.5.3 Error: too many recipients");
  // Too big: read to its end and refused per recipient, nothing delivered.
  const auto big = data(*c, message("too big", 4000), 2);
  EXPECT_EQ(big[0], "552 5.3.4 Error: message too big");
  EXPECT_EQ(big[1], "552 5.3.4 Error: message too big");
  EXPECT_EQ(count(kBob), 0);
  // submission_token_rate 2: each accepted RCPT is a use; the third waits for the hour.
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test> STOKEN=" + t_bob), "250 2.1.5 Ok");
  EXPECT_EQ(c->ask("RSET"), "250 2.0.0 Ok");
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test>"), "450 4.7.1 Token used too often, try again later");
  EXPECT_EQ(c->ask("QUIT"), "221 2.0.0 Bye");
}

// Without a certificate the token server does not start (it speaks only TLS).
TEST(TokenServerConfig, NoCertificateRefusesToStart) {
  DaemonSettings s;
  s.extra = "[stoken]\nlisten = [\"127.0.0.1:" + std::to_string(freeLoopbackPort()) + "\"]\n";
  Mtepd d(s);
  EXPECT_FALSE(d.start());
  EXPECT_TRUE(d.waitForLog("needs [mtepd] tls_cert_file and tls_key_file")) << d.logText();
}

// --- Dovecot's answers ------------------------------------------------------------------

TEST_F(TokenServer, OneOfTwoOverQuotaIs552BesideA250) {
  start("bob@beta.test carol@beta.test:1K");
  auto c = session();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ask(auth(kBob, mint(Kind::kTemporary, kAlice, kBob))),
            "235 2.7.0 Authentication successful");
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<carol@beta.test> STOKEN=" + mint(Kind::kTemporary, kAlice, kCarol)),
            "250 2.1.5 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test>"), "250 2.1.5 Ok");
  const auto r = data(*c, message("quota", 3000), 2);
  EXPECT_TRUE(startsWithText(r[0], "552 5.2.2 <carol@beta.test>")) << r[0];
  EXPECT_TRUE(startsWithText(r[1], "250 2.1.13 <bob@beta.test> ")) << r[1];
  EXPECT_EQ(count(kCarol), 0);
  EXPECT_EQ(count(kBob), 1);
}

TEST_F(TokenServer, DovecotDownIs451ForEveryRecipient) {
  start();
  (void)inDovecot("dv_stop");
  auto c = session();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ask(auth(kBob, mint(Kind::kTemporary, kAlice, kBob))),
            "235 2.7.0 Authentication successful");
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test>"), "250 2.1.5 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<carol@beta.test> STOKEN=" + mint(Kind::kTemporary, kAlice, kCarol)),
            "250 2.1.5 Ok");
  const auto r = data(*c, message("down"), 2);
  EXPECT_TRUE(startsWithText(r[0], "451 4.4.1")) << r[0];
  EXPECT_TRUE(startsWithText(r[1], "451 4.4.1")) << r[1];
  // No permanent was made for a delivery that did not happen.
  auto list = withBook([&](stoken::TokenBook& b) { return b.list(kBob, 10); });
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

// --- the listeners ----------------------------------------------------------------------

TEST_F(TokenServer, PlainLhloOffersNoStokenAndHeloEhloAreRefused) {
  start();
  auto c = LmtpClient::connect(starttls_port_, false);
  ASSERT_TRUE(c);
  ASSERT_TRUE(startsWithText(c->reply().value_or(""), "220 mx.beta.test"));
  // ENHANCEDSTATUSCODES is offered under TLS only: plain replies have none.
  EXPECT_EQ(c->ask("HELO alpha.test"), "500 Error: this is LMTP, say LHLO");
  EXPECT_EQ(c->ask("EHLO alpha.test"), "500 Error: this is LMTP, say LHLO");
  const std::string plain = c->ask("LHLO alpha.test");
  EXPECT_EQ(plain, "250-mx.beta.test\n250 STARTTLS");
  EXPECT_TRUE(startsWithText(c->ask(auth(kBob, mint(Kind::kTemporary, kAlice, kBob))), "530 "));
  EXPECT_TRUE(startsWithText(c->ask("GENSTOKEN TEMP alice@alpha.test"), "530 "));
  EXPECT_TRUE(startsWithText(c->ask("MAIL FROM:<alice@alpha.test>"), "530 "));
  EXPECT_EQ(c->ask("STARTTLS"), "220 Ready to start TLS");
  ASSERT_TRUE(c->startTls());
  const std::string tls = c->ask("LHLO alpha.test");
  EXPECT_NE(tls.find("250-STOKEN"), std::string::npos) << tls;
  EXPECT_NE(tls.find("250-ENHANCEDSTATUSCODES"), std::string::npos) << tls;
  EXPECT_NE(tls.find("250-AUTH STOKEN HASHEDPASS"), std::string::npos) << tls;
  EXPECT_EQ(tls.find("STARTTLS"), std::string::npos) << tls;
  EXPECT_TRUE(startsWithText(c->ask("EHLO alpha.test"), "500 5.5.1"));
}

// A raw session by a client no one here wrote: openssl s_client -starttls lmtp.
TEST_F(TokenServer, OpensslSClientStarttlsLmtpDeliversByToken) {
  start();
  const std::vector<std::string> lines = {"LHLO alpha.test",
                                          auth(kBob, mint(Kind::kTemporary, kAlice, kBob)),
                                          "MAIL FROM:<alice@alpha.test>",
                                          "RCPT TO:<bob@beta.test>",
                                          "DATA",
                                          "Subject: by s_client",
                                          "",
                                          "hello",
                                          ".",
                                          "QUIT"};
  std::string script = "sleep 0.5";
  for (const std::string& l : lines) script += "; printf '%s\\n' '" + l + "'; sleep 0.3";
  script += "; sleep 1";
  const std::string cmd = "(" + script +
                          ") | openssl s_client -starttls lmtp -name alpha.test -crlf -quiet "
                          "-ign_eof -connect 127.0.0.1:" +
                          std::to_string(starttls_port_);
  RunResult r = runProgram({"timeout", "30", "sh", "-c", cmd}, work_);
  EXPECT_NE(r.out.find("250-STOKEN"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("235 2.7.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("250 2.1.13 <bob@beta.test> "), std::string::npos) << r.out;
  EXPECT_EQ(count(kBob), 1);
}

// --- the limiter --------------------------------------------------------------------------

TEST_F(TokenServer, TenThousandBadAuthStokenAttemptsAreLimitedLikeHashedPass) {
  start();
  size_t sent = 0, refused = 0, limited = 0, other = 0;
  const std::string bad_base = mint(Kind::kTemporary, kAlice, kCarol);  // genuine, wrong pair
  while (sent < 10000) {
    auto c = LmtpClient::connect(tls_port_, true);
    ASSERT_TRUE(c);
    (void)c->reply();
    std::string batch = "LHLO alpha.test\r\n";
    const size_t n = std::min<size_t>(19, 10000 - sent);  // the 20th error closes
    for (size_t i = 0; i < n; ++i) batch += auth(kBob, bad_base) + "\r\n";
    c->send(batch);
    (void)c->reply();
    for (size_t i = 0; i < n; ++i) {
      auto r = c->reply();
      if (!r) break;
      if (startsWithText(*r, "535 5.7.8")) {
        ++refused;
      } else if (startsWithText(*r, "454 4.7.0")) {
        ++limited;
      } else {
        ++other;
      }
    }
    sent += n;
  }
  // [mtepd] auth_failures_per_client defaults to 5 in 15 minutes.
  EXPECT_EQ(refused, 5u);
  EXPECT_EQ(limited, 10000u - 5u);
  EXPECT_EQ(other, 0u);
  // A good token is refused too now, and so is a HASHEDPASS login from here.
  auto c = session();
  ASSERT_TRUE(c);
  EXPECT_TRUE(
      startsWithText(c->ask(auth(kBob, mint(Kind::kTemporary, kAlice, kBob))), "454 4.7.0"));
  e2ee::Hash h;
  h.fill(7);
  ASSERT_TRUE(addUser(kBob, h));
  EXPECT_TRUE(startsWithText(c->ask("AUTH HASHEDPASS " + e2ee::formatHashedPassAuth(kBob, h)),
                             "454 4.7.0"));
}

// --- bad input ----------------------------------------------------------------------------

TEST_F(TokenServer, BadInputGetsClearRepliesAndNothingHalfDelivered) {
  start();
  const std::string t_bob = mint(Kind::kTemporary, kAlice, kBob);
  auto c = session();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ask("AUTH STOKEN abcdefg"), "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(c->ask("AUTH STOKEN !!!notbase64"), "535 5.7.8 Authentication credentials invalid");
  // A 10 MB token line: refused whole, the session goes on.
  c->send("AUTH STOKEN " + std::string(10u << 20, 'A') + "\r\n");
  EXPECT_EQ(c->reply().value_or(""), "500 5.5.6 Error: line too long");
  EXPECT_EQ(c->ask("NOOP"), "250 2.0.0 Ok");
  EXPECT_EQ(c->ask("GENSTOKEN TEMP alice@alpha.test"), "530 5.7.0 Authentication required");
  EXPECT_EQ(c->ask("REVSTOKEN alice@alpha.test"), "530 5.7.0 Authentication required");
  EXPECT_TRUE(startsWithText(c->ask("MAIL FROM:<alice@alpha.test>"), "530 5.7.0"));
  // Pipelined: every reply, in order.
  c->send(auth(kBob, t_bob) +
          "\r\nMAIL FROM:<alice@alpha.test>\r\nRCPT TO:<carol@beta.test>\r\n"
          "RCPT TO:<bob@beta.test> STOKEN=" +
          t_bob + " STOKEN=" + t_bob + "\r\nRCPT TO:<bob@beta.test>\r\nNOOP\r\n");
  EXPECT_EQ(c->reply().value_or(""), "235 2.7.0 Authentication successful");
  EXPECT_EQ(c->reply().value_or(""), "250 2.1.0 Ok");
  EXPECT_EQ(c->reply().value_or(""), "550 5.7.8 A STOKEN parameter is required for this recipient");
  EXPECT_TRUE(startsWithText(c->reply().value_or(""), "501 5.5.4"));
  EXPECT_EQ(c->reply().value_or(""), "250 2.1.5 Ok");
  EXPECT_EQ(c->reply().value_or(""), "250 2.0.0 Ok");
  // Gone mid-DATA: nothing delivered.
  EXPECT_TRUE(startsWithText(c->ask("DATA"), "354"));
  c->send("Subject: half\r\n\r\nthe first half of a message\r\n");
  c->closeNow();
  c.reset();
  EXPECT_TRUE(d_->waitForLog("stoken=end"));
  // A later full delivery shows the server still works, and bob has just that one.
  c = session();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ask(auth(kBob, t_bob)), "235 2.7.0 Authentication successful");
  EXPECT_EQ(c->ask("MAIL FROM:<alice@alpha.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(c->ask("RCPT TO:<bob@beta.test>"), "250 2.1.5 Ok");
  const auto r = data(*c, message("whole"), 1);
  EXPECT_TRUE(startsWithText(r[0], "250 2.1.13 <bob@beta.test> ")) << r[0];
  EXPECT_EQ(count(kBob), 1);
  EXPECT_EQ(mailOf(kBob).find("first half"), std::string::npos);
}

// --- GENSTOKEN, REVSTOKEN -----------------------------------------------------------------

TEST_F(TokenServer, GenstokenAndRevstokenAfterHashedPassLogin) {
  start();
  e2ee::Hash h;
  h.fill(9);
  ASSERT_TRUE(addUser(kBob, h));
  auto c = session();
  ASSERT_TRUE(c);
  e2ee::Hash wrong;
  wrong.fill(1);
  EXPECT_EQ(c->ask("AUTH HASHEDPASS " + e2ee::formatHashedPassAuth(kBob, wrong)),
            "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(c->ask("AUTH HASHEDPASS " + e2ee::formatHashedPassAuth(kBob, h)),
            "235 2.7.0 Authentication successful");
  const std::string temp = c->ask("GENSTOKEN TEMP alice@alpha.test");
  auto t = stoken::parseGenerated(temp.substr(4));
  ASSERT_TRUE(startsWithText(temp, "250 2.1.11 ") && t.ok()) << temp;
  auto k = ring();
  EXPECT_EQ(stoken::verify(*t, kAlice, kBob, *k, SystemClock::instance().now(), {}).outcome,
            stoken::Outcome::kValid);
  const std::string perm = c->ask("GENSTOKEN PERM <alice@alpha.test> bob@beta.test");
  auto p = stoken::parseGenerated(perm.substr(4));
  ASSERT_TRUE(p.ok()) << perm;
  EXPECT_EQ(stoken::decode(*p)->kind, Kind::kPermanent);
  EXPECT_EQ(c->ask("GENSTOKEN PERM alice@alpha.test"), perm) << "the stored permanent again";
  EXPECT_EQ(c->ask("GENSTOKEN TEMP alice@alpha.test carol@beta.test"),
            "501 5.1.7 Incorrect local address: not yours");
  EXPECT_EQ(c->ask("GENSTOKEN TEMP not..an@address@"), "501 5.1.3 Incorrect remote address");
  EXPECT_TRUE(startsWithText(c->ask("GENSTOKEN SOMETIMES alice@alpha.test"), "501 5.5.4"));
  EXPECT_EQ(c->ask("REVSTOKEN nobody@nowhere.test"), "250 2.1.0 All tokens successfully revoked");
  EXPECT_TRUE(startsWithText(c->ask("MAIL FROM:<alice@alpha.test>"), "530 5.7.0"));
  EXPECT_EQ(c->ask("REVSTOKEN alice@alpha.test"), "250 2.1.0 All tokens successfully revoked");
  // Both are dead now: the temporary at MAIL, the permanent too.
  for (const std::string& tok : {*t, *p}) {
    auto s = session();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->ask(auth(kBob, tok)), "235 2.7.0 Authentication successful");
    EXPECT_TRUE(startsWithText(s->ask("MAIL FROM:<alice@alpha.test>"), "550 5.7.8"));
  }
  EXPECT_TRUE(d_->waitForLog("genstoken remote=<alice@alpha.test> result=250 token="));
  EXPECT_EQ(d_->logText().find(*p), std::string::npos);
}

}  // namespace
}  // namespace mtep::itest
