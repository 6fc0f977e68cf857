// NAME
//   stoken_router_test.cc - two real mtepd: alpha's router ([stoken]
//   filter_listen) delivering by token to beta's token server ([stoken]
//   listen) into a real Dovecot
// DESCRIPTION
//   beta: mtepd with its token server (implicit TLS, a certificate made by
//   `openssl req`) delivering to Dovecot (tests/lib/dovecot.sh). alpha:
//   mtepd with the router, beta.test's token server as a static entry with
//   its key pinned, deliver_by_token and accept_submission_tokens on for
//   alpha.test, and a scripted SMTP sink as Postfix's re-injection smtpd.
//   "Postfix" is lib/smtp's delivery client speaking LMTP to the router.
//   The flow: alice holds beta's temporary token for bob (as her milter
//   would have recorded it); her first mail goes by token into bob's
//   maildir, beta answers 2.1.13 with a permanent that alpha now holds, and
//   beta holds alpha's MYSTOKEN (so bob can answer by token); her second
//   mail goes by the permanent (2.1.12); after bob revokes alice, the third
//   is refused (5.7.8 at MAIL), alpha drops the token and re-injects it:
//   Dovecot sees it never, the sink once.
//   Skipped where Dovecot cannot run (dovecot.sh dv_missing).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "integration/mtepd_harness.h"
#include "integration/run_program.h"
#include "smtp/delivery.h"
#include "stoken/book.h"
#include "stoken/token.h"
#include "store/store.h"
#include "token/token.h"
#include "transport/tls.h"
#include "unit/smtp_client/scripted_server.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

namespace fs = std::filesystem;
using mtep::testing::body;
using mtep::testing::line;
using mtep::testing::ScriptedServer;
using mtep::testing::send;
using stoken::Kind;

const std::string kAlice = "alice@alpha.test";
const std::string kBob = "bob@beta.test";

class RouterToRealTokenServer : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mtep-router-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work_ = tmpl;
    RunResult why = shell("dv_missing");
    if (why.exit_code == 0) GTEST_SKIP() << why.out;
  }
  void TearDown() override {
    alpha_.reset();
    beta_.reset();
    if (dv_started_) (void)shell("dv_load \"$W/dv\" && dv_stop");
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  RunResult shell(const std::string& script) {
    const std::string full = "W=" + work_.string() + "; source " DOVECOT_SH "; " + script;
    return runProgram({"bash", "-c", full}, work_);
  }
  int count(const std::string& addr) {
    RunResult r = shell("dv_load \"$W/dv\" && dv_count " + addr);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return std::stoi("0" + r.out);
  }
  std::string firstMail(const std::string& addr) {
    RunResult r = shell("dv_load \"$W/dv\" && dv_files " + addr);
    return readFile(r.out.substr(0, r.out.find('\n')));
  }

  void startBeta() {
    RunResult r = shell("dv_start \"$W/dv\" " + kBob + " && echo $DV_PORT");
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    dv_started_ = true;
    const uint16_t dv_port = static_cast<uint16_t>(std::stoi(r.out));
    token_port_ = freeLoopbackPort();
    beta_ = std::make_unique<Mtepd>(DaemonSettings{});
    const std::string cert = beta_->dir() + "/cert.pem";
    const std::string key = beta_->dir() + "/key.pem";
    r = runProgram(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=mx.beta.test", "-days", "2", "-keyout", key, "-out", cert},
        beta_->dir());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto fp = transport::spkiFingerprintOfPemFile(cert);
    ASSERT_TRUE(fp.ok());
    beta_pin_ = *fp;
    std::string text = readFile(beta_->configPath());
    const size_t eol = text.find('\n', text.find("idle_timeout"));
    text.insert(eol + 1, "hostname = \"mx.beta.test\"\ntls_cert_file = \"" + cert +
                             "\"\ntls_key_file = \"" + key + "\"\n");
    text += "\n[stoken]\nlisten = [\"127.0.0.1:" + std::to_string(token_port_) +
            "\"]\ndeliver_to = \"127.0.0.1:" + std::to_string(dv_port) +
            "\"\n\n[domain.\"beta.test\"]\naccept_submission_tokens = true\n";
    beta_->writeConfigText(text);
    ASSERT_TRUE(beta_->start()) << beta_->logText();
  }

  void startAlpha(uint16_t sink_port) {
    filter_port_ = freeLoopbackPort();
    DaemonSettings s;
    s.extra = "[stoken]\nfilter_listen = [\"127.0.0.1:" + std::to_string(filter_port_) +
              "\"]\nreinject_to = \"127.0.0.1:" + std::to_string(sink_port) +
              "\"\nservers = { \"beta.test\" = \"127.0.0.1:" + std::to_string(token_port_) +
              "\" }\ntls_pins = { \"beta.test\" = \"" + beta_pin_ +
              "\" }\n\n[domain.\"alpha.test\"]\ndeliver_by_token = true\n"
              "accept_submission_tokens = true\n";
    alpha_ = std::make_unique<Mtepd>(s);
    ASSERT_TRUE(alpha_->start()) << alpha_->logText();
  }

  template <typename F>
  auto withBook(const Mtepd& d, F f) {
    auto st = store::openSqlite({.path = d.dbPath()}, SystemClock::instance());
    EXPECT_TRUE(st.ok());
    auto k = token::KeyRing::load(d.keyFile(), {}, SystemClock::instance());
    EXPECT_TRUE(k.ok());
    stoken::TokenBook book(**st, *k, SystemClock::instance(), {});
    return f(book);
  }

  smtp::DeliveryResult postfix(const std::string& subject) {
    message_ = "From: alice@alpha.test\r\nTo: bob@beta.test\r\nSubject: " + subject +
               "\r\n\r\nhello bob\r\n";
    smtp::DeliveryRequest r;
    r.protocol = smtp::DeliveryProtocol::kLmtp;
    r.host = "127.0.0.1";
    r.port = filter_port_;
    r.hello_name = "alpha.test";
    r.mail_from = kAlice;
    r.recipients = {{kBob, ""}};
    r.message = message_;
    r.timeouts.command_ms = 60000;
    r.timeouts.data_ms = 60000;
    return smtp::deliver(r);
  }

  fs::path work_;
  bool dv_started_ = false;
  std::unique_ptr<Mtepd> beta_;
  std::unique_ptr<Mtepd> alpha_;
  uint16_t token_port_ = 0;
  uint16_t filter_port_ = 0;
  std::string beta_pin_;
  std::string message_;
};

TEST_F(RouterToRealTokenServer, TemporaryThenPermanentThenRevokedFallsBack) {
  ASSERT_NO_FATAL_FAILURE(startBeta());
  // The re-injection smtpd: expected once, for the third message only.
  ScriptedServer sink({send("220 alpha.test ESMTP\r\n"), line(), send("250 alpha.test\r\n"), line(),
                       send("250 2.1.0 Ok\r\n"), line(), send("250 2.1.5 Ok\r\n"), line(),
                       send("354 go ahead\r\n"), body(), send("250 2.0.0 Ok: queued as Q3\r\n"),
                       line(), send("221 2.0.0 Bye\r\n")});
  ASSERT_NO_FATAL_FAILURE(startAlpha(sink.port()));

  // beta's temporary token for (remote alice, local bob), held by alice at alpha.
  const std::string temporary = withBook(*beta_, [](stoken::TokenBook& b) {
    auto t = b.generate(Kind::kTemporary, kAlice, kBob);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : std::string();
  });
  withBook(*alpha_, [&](stoken::TokenBook& b) {
    auto h = b.hold(kAlice, kBob, temporary, Kind::kTemporary);
    EXPECT_TRUE(h.ok() && *h);
    return 0;
  });

  // 1: by the temporary token; beta answers 2.1.13.
  smtp::DeliveryResult r = postfix("first");
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_TRUE(r.recipients[0].delivered()) << r.recipients[0].final_reply.toString() << "\n"
                                           << alpha_->logText();
  EXPECT_EQ(count(kBob), 1);
  const std::string mail = firstMail(kBob);
  EXPECT_NE(mail.find("with LMTPSA"), std::string::npos) << mail;
  EXPECT_NE(mail.find("stoken=pass (temporary)"), std::string::npos) << mail;
  const std::string beta_perm = withBook(*beta_, [](stoken::TokenBook& b) {
    auto p = b.generate(Kind::kPermanent, kAlice, kBob);  // the stored one
    return p.ok() ? *p : std::string();
  });
  auto held = withBook(*alpha_, [](stoken::TokenBook& b) { return b.held(kAlice, kBob); });
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->kind, Kind::kPermanent);
  EXPECT_EQ(held->token, beta_perm);
  // beta holds alpha's permanent for (remote bob, local alice): bob can answer by token.
  const std::string alpha_perm = withBook(*alpha_, [](stoken::TokenBook& b) {
    auto p = b.generate(Kind::kPermanent, kBob, kAlice);
    return p.ok() ? *p : std::string();
  });
  auto beta_held = withBook(*beta_, [](stoken::TokenBook& b) { return b.held(kBob, kAlice); });
  ASSERT_TRUE(beta_held.ok());
  EXPECT_EQ(beta_held->token, alpha_perm);

  // 2: by the permanent token; 2.1.12.
  r = postfix("second");
  EXPECT_TRUE(r.recipients.at(0).delivered()) << r.recipients[0].final_reply.toString();
  EXPECT_EQ(count(kBob), 2);
  held = withBook(*alpha_, [](stoken::TokenBook& b) { return b.held(kAlice, kBob); });
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->token, beta_perm);

  // 3: bob revoked alice: the token is refused, dropped, the mail re-injected once.
  withBook(*beta_, [](stoken::TokenBook& b) {
    EXPECT_TRUE(b.revoke(kAlice, kBob).ok());
    return 0;
  });
  r = postfix("third");
  sink.join();
  EXPECT_TRUE(r.recipients.at(0).delivered()) << r.recipients[0].final_reply.toString();
  EXPECT_EQ(count(kBob), 2);
  size_t rcpts = 0;
  for (const std::string& l : sink.received()) rcpts += l == "RCPT TO:<bob@beta.test>" ? 1 : 0;
  EXPECT_EQ(rcpts, 1u);
  held = withBook(*alpha_, [](stoken::TokenBook& b) { return b.held(kAlice, kBob); });
  EXPECT_FALSE(held.ok());
  EXPECT_EQ(alpha_->logText().find(temporary), std::string::npos);
  EXPECT_EQ(alpha_->logText().find(beta_perm), std::string::npos);
}

}  // namespace
}  // namespace mtep::itest
