// NAME
//   mtepd_mmtp_bridge_test.cc - the real mtepd's MMTP bridge ([mmtp]
//   lmtp_listen): mail from the MTA into MMTP mailboxes and to a remote
//   MMTP domain served by a second real mtepd
// DESCRIPTION
//   Two mtepd, each with [mmtp] tls_listen and a certificate made by
//   `openssl req`: alpha (alpha.test mailboxes, the bridge on lmtp_listen)
//   and beta (beta.test mailboxes). lib/smtp's delivery client plays the
//   MTA's lmtp client; users are added with lib/e2ee's UserBook on each
//   daemon's store; mailboxes are read with RECEIVE over TLS by
//   lib/mmtp/client.h with data.auth (the key service's HASHEDPASS
//   login), the server's key pinned. Checked: a local mailbox gets the
//   message (Subject, text body, tags) and an unknown user 550 5.1.1 in
//   the same transaction; beta.test is reached over TLS with a stamp beta
//   checks, its refusal comes back as 550 5.1.1, a wrong pin and a port
//   nobody listens on as 451 4.4.1, a server that greets and then says
//   nothing as 451 4.4.2; a non-loopback lmtp_listen stops start-up.

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "e2ee/e2ee.h"
#include "e2ee/users.h"
#include "mmtp/client.h"
#include "mtepd_harness.h"
#include "run_program.h"
#include "smtp/delivery.h"
#include "store/sqlite_store.h"
#include "transport/tls.h"
#include "unit/smtp_client/scripted_server.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

using mmtp::Json;

e2ee::Hash hashOf(uint8_t fill) {
  e2ee::Hash h;
  h.fill(fill);
  return h;
}

// One mtepd with [mmtp] tls_listen and a fresh certificate.
struct Site {
  std::unique_ptr<Mtepd> d;
  uint16_t tls_port = 0;
  uint16_t lmtp_port = 0;  // 0: no lmtp_listen
  std::string pin;         // its certificate's key

  // The daemon and its certificate (not started).
  ::testing::AssertionResult prepare(bool lmtp) {
    d = std::make_unique<Mtepd>(DaemonSettings{});
    tls_port = freeLoopbackPort();
    if (lmtp) lmtp_port = freeLoopbackPort();
    RunResult r = runProgram(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=mmtp.test", "-days", "2", "-keyout", key(), "-out", cert()},
        d->dir());
    if (r.exit_code != 0) return ::testing::AssertionFailure() << "openssl: " << r.err;
    auto fp = transport::spkiFingerprintOfPemFile(cert());
    if (!fp) return ::testing::AssertionFailure() << fp.error().message();
    pin = *fp;
    return ::testing::AssertionSuccess();
  }
  std::string cert() const { return d->dir() + "/cert.pem"; }
  std::string key() const { return d->dir() + "/key.pem"; }

  // Starts it serving `domain`'s mailboxes; `mmtp` joins [mmtp], `tail`
  // is appended.
  ::testing::AssertionResult start(const std::string& domain, const std::string& mmtp,
                                   const std::string& tail = "") {
    DaemonSettings s;
    s.extra = "tls_cert_file = \"" + cert() + "\"\ntls_key_file = \"" + key() +
              "\"\nhostname = \"mx." + domain +
              "\"\n\n[mmtp]\ntls_listen = [\"127.0.0.1:" + std::to_string(tls_port) + "\"]\n" +
              (lmtp_port != 0 ? "lmtp_listen = [\"127.0.0.1:" + std::to_string(lmtp_port) + "\"]\n"
                              : std::string()) +
              "difficulty = 3\n" + mmtp + "\n[domain.\"" + domain +
              "\"]\nmmtp_delivery = \"mailbox\"\n" + tail;
    d->writeConfig(s);
    return d->start();
  }

  ::testing::AssertionResult addUser(const std::string& name, const e2ee::Hash& hash) const {
    auto st = store::openSqlite({.path = d->dbPath()}, SystemClock::instance());
    if (!st) return ::testing::AssertionFailure() << "store: " << st.error().message();
    e2ee::UserBook users(**st, SystemClock::instance());
    Status s = users.add(name, hash);
    if (!s) return ::testing::AssertionFailure() << "add: " << s.error().message();
    return ::testing::AssertionSuccess();
  }

  // RECEIVE of `email` over TLS, logged in as `user`.
  std::optional<Json> receive(const std::string& email, const std::string& user,
                              const e2ee::Hash& hash) const {
    mmtp::MmtpClientOptions o;
    o.host = "127.0.0.1";
    o.port = tls_port;
    o.tls_options.trust.pins = {pin};
    o.dial_timeout_ms = 10000;
    o.reply_timeout_ms = 10000;
    auto c = mmtp::connectMmtp(o);
    EXPECT_TRUE(c.ok()) << c.error().message();
    if (!c) return std::nullopt;
    Json req;
    req["action"] = "RECEIVE";
    req["data"]["email"] = email;
    req["data"]["auth"] = e2ee::formatHashedPassAuth(user, hash);
    auto r = c->request(req);
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (!r) return std::nullopt;
    return *r;
  }

  // The MTA's lmtp client: one transaction to the bridge.
  smtp::DeliveryResult lmtp(const std::string& from, const std::vector<std::string>& rcpts,
                            const std::string& message) const {
    smtp::DeliveryRequest r;
    r.protocol = smtp::DeliveryProtocol::kLmtp;
    r.host = "127.0.0.1";
    r.port = lmtp_port;
    r.hello_name = "mta.alpha.test";
    r.mail_from = from;
    r.mail_params = "BODY=8BITMIME";
    for (const std::string& a : rcpts) r.recipients.push_back({a, ""});
    r.message = message;
    r.max_recipients = rcpts.size();
    r.timeouts.command_ms = 30000;
    r.timeouts.data_ms = 30000;
    r.timeouts.session_ms = 60000;
    return smtp::deliver(r);
  }
};

std::string codeOf(const smtp::Reply& r) {
  return std::to_string(r.code) + (r.enhanced ? " " + r.enhanced->toString() : "");
}

const std::string kMessage =
    "From: Alice <alice@alpha.test>\r\n"
    "To: carol@alpha.test\r\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= from LMTP\r\n"
    "X-MMTP-Tags: {\"priority\":[\"high\"]}\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"b\"\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Hello Carol,=\r\n"
    " caf=C3=A9 at noon?\r\n"
    "--b\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>Hello</p>\r\n"
    "--b--\r\n";

TEST(MmtpBridge, MailFromTheMtaLandsInAnMmtpMailbox) {
  Site alpha;
  ASSERT_TRUE(alpha.prepare(/*lmtp=*/true));
  ASSERT_TRUE(alpha.start("alpha.test", ""));
  ASSERT_TRUE(alpha.addUser("carol@alpha.test", hashOf(1)));

  const smtp::DeliveryResult d = alpha.lmtp(
      "alice@alpha.test", {"carol@alpha.test", "nobody@alpha.test", "x@other.test"}, kMessage);
  ASSERT_TRUE(d.session_ok) << d.error;
  ASSERT_EQ(d.recipients.size(), 3u);
  EXPECT_EQ(codeOf(d.recipients[0].final_reply), "250 2.0.0") << d.recipients[0].final_reply.text;
  EXPECT_EQ(codeOf(d.recipients[1].final_reply), "550 5.1.1");
  EXPECT_EQ(codeOf(d.recipients[2].final_reply), "550 5.1.2");
  EXPECT_TRUE(alpha.d->waitForLog("mmtp-bridge: from=<alice@alpha.test>"));
  EXPECT_TRUE(alpha.d->waitForLog("mailbox=<carol@alpha.test>:"));

  // Another user cannot read it; its owner can, once.
  ASSERT_TRUE(alpha.addUser("dave@alpha.test", hashOf(2)));
  auto other = alpha.receive("(carol)%(alpha.test)", "dave@alpha.test", hashOf(2));
  ASSERT_TRUE(other);
  EXPECT_EQ((*other)["status"], "ERROR") << other->dump();
  auto r = alpha.receive("(carol)%(alpha.test)", "carol@alpha.test", hashOf(1));
  ASSERT_TRUE(r);
  ASSERT_EQ((*r)["status"], "OK") << r->dump();
  ASSERT_EQ((*r)["count"], 1) << r->dump();
  const Json& p = (*r)["messages"][0];
  EXPECT_EQ(p["sender"], "(alice)%(alpha.test)");
  EXPECT_EQ(p["recipient"], "(carol)%(alpha.test)");
  EXPECT_EQ(p["content"]["subject"],
            "Gr\xc3\xbc\xc3\x9f"
            "e from LMTP");
  EXPECT_EQ(p["content"]["body"], "Hello Carol, caf\xc3\xa9 at noon?");
  EXPECT_EQ(p["meta"]["tags"]["priority"][0], "high");
  EXPECT_EQ(p["meta"]["encrypted"], false);
  EXPECT_EQ(p["verification"]["messageHash"], mmtp::messageHash(p["content"]));
  EXPECT_NE(d.recipients[0].final_reply.text.find(p["meta"]["messageId"].get<std::string>()),
            std::string::npos);
  auto again = alpha.receive("(carol)%(alpha.test)", "carol@alpha.test", hashOf(1));
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["count"], 0);
}

TEST(MmtpBridge, HtmlOnlyMailIsRefusedWithTheReason) {
  Site alpha;
  ASSERT_TRUE(alpha.prepare(true));
  ASSERT_TRUE(alpha.start("alpha.test", ""));
  ASSERT_TRUE(alpha.addUser("carol@alpha.test", hashOf(1)));
  const smtp::DeliveryResult d =
      alpha.lmtp("alice@alpha.test", {"carol@alpha.test"},
                 "Subject: x\r\nContent-Type: text/html\r\n\r\n<p>only</p>\r\n");
  ASSERT_EQ(d.recipients.size(), 1u);
  EXPECT_EQ(codeOf(d.recipients[0].final_reply), "550 5.6.3");
  EXPECT_NE(d.recipients[0].final_reply.text.find("HTML only"), std::string::npos);
  // And the null sender has no MMTP address.
  const smtp::DeliveryResult n = alpha.lmtp("", {"carol@alpha.test"}, kMessage);
  ASSERT_EQ(n.recipients.size(), 1u);
  EXPECT_EQ(codeOf(n.recipients[0].final_reply), "550 5.1.7");
}

class MmtpBridgeRemote : public ::testing::Test {
 protected:
  // beta serves beta.test; alpha's bridge reaches it at its tls_listen
  // (pinned), plus stall.test and down.test at `extra_servers`.
  void startBoth(const std::string& extra_servers = "", const std::string& extra_pins = "",
                 bool right_pin = true) {
    ASSERT_TRUE(beta_.prepare(false));
    ASSERT_TRUE(beta_.start("beta.test", ""));
    ASSERT_TRUE(beta_.addUser("bob@beta.test", hashOf(7)));
    ASSERT_TRUE(alpha_.prepare(true));
    const std::string pin = right_pin ? beta_.pin : std::string(52, 'a');
    ASSERT_TRUE(alpha_.start(
        "alpha.test", "servers = { \"beta.test\" = \"127.0.0.1:" + std::to_string(beta_.tls_port) +
                          "\"" + extra_servers + " }\ntls_pins = { \"beta.test\" = \"" + pin +
                          "\"" + extra_pins +
                          " }\ndial_timeout = \"3s\"\nreply_timeout = \"3s\"\n"));
  }
  Site alpha_, beta_;
};

TEST_F(MmtpBridgeRemote, MailToARemoteMmtpDomainIsSentOverTlsWithAStamp) {
  startBoth();
  const smtp::DeliveryResult d =
      alpha_.lmtp("alice@alpha.test", {"bob@beta.test", "nobody@beta.test"}, kMessage);
  ASSERT_TRUE(d.session_ok) << d.error;
  ASSERT_EQ(d.recipients.size(), 2u);
  EXPECT_EQ(codeOf(d.recipients[0].final_reply), "250 2.0.0") << d.recipients[0].final_reply.text;
  // beta's refusal, as beta worded it.
  EXPECT_EQ(codeOf(d.recipients[1].final_reply), "550 5.1.1");
  EXPECT_NE(d.recipients[1].final_reply.text.find("Unknown recipient"), std::string::npos)
      << d.recipients[1].final_reply.text;
  EXPECT_TRUE(alpha_.d->waitForLog("sent=<bob@beta.test>:"));
  // beta checked the stamp (its log says ok) and keeps it for bob.
  EXPECT_TRUE(beta_.d->waitForLog("to=<(bob)%(beta.test)>"));
  EXPECT_TRUE(beta_.d->waitForLog("result=ok"));
  auto r = beta_.receive("(bob)%(beta.test)", "bob@beta.test", hashOf(7));
  ASSERT_TRUE(r);
  ASSERT_EQ((*r)["count"], 1) << r->dump();
  const Json& p = (*r)["messages"][0];
  EXPECT_EQ(p["sender"], "(alice)%(alpha.test)");
  EXPECT_EQ(p["content"]["body"], "Hello Carol, caf\xc3\xa9 at noon?");
  // The reply's id is beta's.
  EXPECT_NE(d.recipients[0].final_reply.text.find(p["meta"]["messageId"].get<std::string>()),
            std::string::npos)
      << d.recipients[0].final_reply.text;
  const std::string token = p["meta"]["hashcashToken"]["token"].get<std::string>();
  EXPECT_EQ(token.rfind("1:3:", 0), 0u) << token;
}

TEST_F(MmtpBridgeRemote, AWrongPinIsTemporaryAndNothingIsSent) {
  startBoth("", "", /*right_pin=*/false);
  const smtp::DeliveryResult d = alpha_.lmtp("alice@alpha.test", {"bob@beta.test"}, kMessage);
  ASSERT_EQ(d.recipients.size(), 1u);
  EXPECT_EQ(codeOf(d.recipients[0].final_reply), "451 4.4.1") << d.recipients[0].final_reply.text;
  auto r = beta_.receive("(bob)%(beta.test)", "bob@beta.test", hashOf(7));
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["count"], 0);
}

TEST_F(MmtpBridgeRemote, UnreachableAndStalledServersAreTemporary) {
  // A TLS server that greets, reads, and never answers.
  testing::Credentials creds = testing::selfSigned("stall.test");
  testing::ScriptedServer stall(
      {testing::tls(), testing::send(R"({"status":"OK","message":"MMTP Server Ready"})"),
       testing::waitClose()},
      &creds);
  uint16_t down = 0;
  { UniqueFd l = testing::listenLoopback(&down); }  // bound, then closed: refused
  startBoth(", \"stall.test\" = \"127.0.0.1:" + std::to_string(stall.port()) +
                "\", \"down.test\" = \"127.0.0.1:" + std::to_string(down) + "\"",
            ", \"stall.test\" = \"" + testing::expectedFingerprint(creds.key.get()) +
                "\", \"down.test\" = \"" + std::string(52, 'a') + "\"");
  const smtp::DeliveryResult d =
      alpha_.lmtp("alice@alpha.test", {"s@stall.test", "d@down.test", "bob@beta.test"}, kMessage);
  ASSERT_EQ(d.recipients.size(), 3u);
  EXPECT_EQ(codeOf(d.recipients[0].final_reply), "451 4.4.2") << d.recipients[0].final_reply.text;
  EXPECT_EQ(codeOf(d.recipients[1].final_reply), "451 4.4.1") << d.recipients[1].final_reply.text;
  EXPECT_EQ(codeOf(d.recipients[2].final_reply), "250 2.0.0") << d.recipients[2].final_reply.text;
  stall.join();
  EXPECT_TRUE(stall.tlsDone());
  EXPECT_TRUE(alpha_.d->waitForLog("deferred=<s@stall.test>:451 4.4.2,<d@down.test>:451 4.4.1"));
}

TEST(MmtpBridgeConfig, ANonLoopbackLmtpListenStopsStartUp) {
  DaemonSettings s;
  s.extra = "[mmtp]\nlmtp_listen = [\"0.0.0.0:" + std::to_string(freeLoopbackPort()) + "\"]\n";
  Mtepd d(s);
  EXPECT_FALSE(d.start());
  EXPECT_NE(d.logText().find("lmtp_listen 0.0.0.0"), std::string::npos) << d.logText();
  EXPECT_NE(d.logText().find("not a loopback address"), std::string::npos) << d.logText();
}

}  // namespace
}  // namespace mtep::itest
