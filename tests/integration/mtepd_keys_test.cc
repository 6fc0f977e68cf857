// NAME
//   mtepd_keys_test.cc - the real mtepd's key service on [mtepd] smtp_listen
// DESCRIPTION
//   mtepd runs with smtp_listen and a certificate made by `openssl req`;
//   users are provisioned in its store with lib/e2ee's UserBook (the
//   server keeps only a verifier of whatever 32-byte hash arrives, so any
//   hash will do: no 64 MiB Argon2id here). Checked over the socket:
//   before TLS the EHLO keywords are absent and every command is 530;
//   inside TLS, driven by `openssl s_client -starttls smtp` (a client no
//   one here wrote): PUBKEY of an unknown user 550, a wrong hash 535, bad
//   base64 501, the right hash 235, SETPUBKEY 250, PUBKEY 220 with the
//   key, GETSALT 220 SALT, RSTSALT a new salt and PUBKEY 550 after; the
//   per-client limit (454 even with the right hash); the log lines and
//   that no payload is in them. And lib/e2ee's KeyClient against it. With
//   the store file locked by the test (BEGIN EXCLUSIVE), SETPUBKEY waits
//   off the event loop: another client is greeted and answered meanwhile.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "e2ee/client.h"
#include "e2ee/e2ee.h"
#include "e2ee/users.h"
#include "key_fixtures.h"
#include "mtepd_harness.h"
#include "run_program.h"
#include "store/sqlite_store.h"

namespace mtep::itest {
namespace {

class KeyService : public ::testing::Test {
 protected:
  // mtepd with smtp_listen and a certificate; `more` joins [mtepd].
  // `tail` is appended to the file (more sections).
  void start(const std::string& more = "", const std::string& tail = "") {
    smtp_port_ = freeLoopbackPort();
    d_ = std::make_unique<Mtepd>(DaemonSettings{});
    const std::string cert = d_->dir() + "/cert.pem";
    const std::string key = d_->dir() + "/key.pem";
    RunResult r = runProgram({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=test", "-days",
                              "2", "-keyout", key, "-out", cert},
                             d_->dir());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string keys = "smtp_listen = [\"127.0.0.1:" + std::to_string(smtp_port_) +
                             "\"]\nhostname = \"mx.test\"\ntls_cert_file = \"" + cert +
                             "\"\ntls_key_file = \"" + key + "\"\nuser_keys = true\n" + more;
    // The harness's [mtepd] section ends with idle_timeout; these keys join it.
    std::string text = readFile(d_->configPath());
    const size_t eol = text.find('\n', text.find("idle_timeout"));
    text.insert(eol + 1, keys);
    d_->writeConfigText(text + "\n" + tail);
    ASSERT_TRUE(d_->start());
    ASSERT_TRUE(addUser("alice@alpha.test", hashOf(1)));
  }

  // A user in mtepd's store, as `mtepctl user add` would make it.
  ::testing::AssertionResult addUser(const std::string& name, const e2ee::Hash& hash) {
    auto st = store::openSqlite({.path = d_->dbPath()}, SystemClock::instance());
    if (!st) return ::testing::AssertionFailure() << "store: " << st.error().message();
    e2ee::UserBook users(**st, SystemClock::instance());
    Status s = users.add(name, hash);
    if (!s) return ::testing::AssertionFailure() << "add: " << s.error().message();
    return ::testing::AssertionSuccess();
  }
  std::optional<e2ee::UserRecord> findUser(const std::string& name) {
    auto st = store::openSqlite({.path = d_->dbPath()}, SystemClock::instance());
    if (!st) return std::nullopt;
    e2ee::UserBook users(**st, SystemClock::instance());
    auto u = users.find(name);
    if (!u) return std::nullopt;
    return *u;
  }

  // `openssl s_client -starttls smtp`, the lines written one by one with a
  // pause, so each reply comes before the next line is sent.
  RunResult sClient(const std::vector<std::string>& lines) {
    std::string script = "sleep 0.5";
    for (const std::string& l : lines) script += "; printf '%s\\n' '" + l + "'; sleep 0.2";
    script += "; sleep 0.5";
    const std::string cmd = "(" + script + ") | openssl s_client -starttls smtp -crlf -quiet "
                            "-ign_eof -connect 127.0.0.1:" + std::to_string(smtp_port_);
    return runProgram({"timeout", "30", "sh", "-c", cmd}, d_->dir());
  }

  std::unique_ptr<Mtepd> d_;
  uint16_t smtp_port_ = 0;
};

// `needles` occur in `text` in this order.
::testing::AssertionResult inOrder(const std::string& text,
                                   const std::vector<std::string>& needles) {
  size_t at = 0;
  for (const std::string& n : needles) {
    const size_t found = text.find(n, at);
    if (found == std::string::npos) {
      return ::testing::AssertionFailure() << "no \"" << n << "\" after offset " << at
                                           << " in:\n" << text;
    }
    at = found + n.size();
  }
  return ::testing::AssertionSuccess();
}

TEST_F(KeyService, BeforeTlsNothingIsOfferedAndEveryCommandIs530) {
  start();
  auto c = Client::connect(smtp_port_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(startsWith(c->readUntil("\r\n"), "220 mx.test ESMTP"));
  c->send("EHLO client.test\r\n");
  const auto ehlo = c->readUntil("250 ENHANCEDSTATUSCODES\r\n");
  ASSERT_TRUE(ehlo);
  EXPECT_NE(ehlo->find("250-STARTTLS"), std::string::npos) << *ehlo;
  EXPECT_EQ(ehlo->find("AUTH"), std::string::npos) << *ehlo;
  EXPECT_EQ(ehlo->find("SIGNMESSAGE"), std::string::npos) << *ehlo;
  EXPECT_EQ(ehlo->find("ENCRYPTMESSAGE"), std::string::npos) << *ehlo;
  for (const std::string& line :
       {"AUTH HASHEDPASS " + e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(1)),
        std::string("PUBKEY alice@alpha.test"), std::string("GETSALT"), std::string("RSTSALT"),
        "SETPUBKEY " + e2ee::formatRaw(keyOf(3))}) {
    c->send(line + "\r\n");
    EXPECT_EQ(c->readUntil("\r\n").value_or("(none)"),
              "530 5.7.0 Must issue a STARTTLS command first")
        << line;
  }
}

TEST_F(KeyService, OpensslClientWalksThroughEveryCommand) {
  start();
  const std::string old_salt = findUser("alice@alpha.test").value().salt;
  const std::string right = e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(1));
  const std::string wrong = e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(2));
  const std::string key = e2ee::formatRaw(keyOf(3));
  RunResult r = sClient({"EHLO client.test", "PUBKEY nobody@alpha.test", "GETSALT",
                         "AUTH HASHEDPASS " + wrong, "AUTH HASHEDPASS !!!notbase64",
                         "AUTH HASHEDPASS " + right, "SETPUBKEY " + key,
                         "PUBKEY <alice@alpha.test>", "GETSALT", "RSTSALT",
                         "PUBKEY alice@alpha.test", "QUIT"});
  const auto after = findUser("alice@alpha.test");
  ASSERT_TRUE(after);
  EXPECT_NE(after->salt, old_salt);
  EXPECT_FALSE(after->pubkey.has_value());  // withdrawn by RSTSALT
  EXPECT_TRUE(inOrder(
      r.out, {"250-X-STARTMTEP\r\n250-AUTH HASHEDPASS\r\n250-SIGNMESSAGE\r\n"
              "250-ENCRYPTMESSAGE\r\n",
              "550 5.1.1 No public key available for <nobody@alpha.test>\r\n",
              "530 5.7.0 Authentication required\r\n",
              "535 5.7.8 Authentication credentials invalid\r\n",
              "501 5.5.2 Invalid base64 data\r\n", "235 2.7.0 Authentication successful\r\n",
              "250 2.0.0 OK\r\n", "220 ed25519 " + e2ee::formatPubkeyReply(keyOf(3)) + "\r\n",
              "220 SALT " + e2ee::formatSalt(old_salt) + "\r\n",
              "220 SALT " + e2ee::formatSalt(after->salt) + "\r\n",
              "550 5.1.1 No public key available for <alice@alpha.test>\r\n", "221 2.0.0"}))
      << r.err;
  EXPECT_EQ(r.out.find("250-STARTTLS"), std::string::npos) << r.out;
  EXPECT_TRUE(d_->waitForLog("auth=hashedpass user=<alice@alpha.test> result=fail"));
  EXPECT_TRUE(d_->waitForLog("auth=hashedpass user=<> result=malformed"));
  EXPECT_TRUE(d_->waitForLog("auth=hashedpass user=<alice@alpha.test> result=ok"));
  EXPECT_TRUE(d_->waitForLog("user=<alice@alpha.test> setpubkey=ok"));
  EXPECT_TRUE(d_->waitForLog("user=<alice@alpha.test> rstsalt=ok"));
  const std::string log = d_->logText();
  EXPECT_EQ(log.find(right), std::string::npos) << "payload logged";
  EXPECT_EQ(log.find(wrong), std::string::npos) << "payload logged";
  EXPECT_EQ(log.find(key), std::string::npos) << "key logged";
}

TEST_F(KeyService, ClientOverTheFailureLimitGets454EvenWithTheRightHash) {
  start("auth_failures_per_client = \"2/15m\"\n");
  const std::string right = e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(1));
  const std::string wrong = e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(2));
  RunResult r = sClient({"EHLO client.test", "AUTH HASHEDPASS " + wrong,
                         "AUTH HASHEDPASS " + wrong, "AUTH HASHEDPASS " + right, "QUIT"});
  EXPECT_TRUE(inOrder(r.out, {"535 5.7.8", "535 5.7.8",
                              "454 4.7.0 Too many failed logins, try again later\r\n",
                              "221 2.0.0"}))
      << r.err;
  EXPECT_TRUE(d_->waitForLog("user=<alice@alpha.test> result=limited limit=client"));
  // A new connection from the same address is still limited.
  r = sClient({"EHLO client.test", "AUTH HASHEDPASS " + right, "QUIT"});
  EXPECT_TRUE(inOrder(r.out, {"454 4.7.0", "221 2.0.0"})) << r.err;
}

TEST_F(KeyService, AuthContinuationAndCancelOverTls) {
  start();
  const std::string right = e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(1));
  RunResult r = sClient({"EHLO client.test", "AUTH HASHEDPASS", "*", "AUTH HASHEDPASS", right,
                         "QUIT"});
  EXPECT_TRUE(inOrder(r.out, {"334 \r\n", "501 5.0.0", "334 \r\n", "235 2.7.0", "221 2.0.0"}))
      << r.err;
}

TEST_F(KeyService, KeyClientPublishesAndReadsBack) {
  start();
  e2ee::KeyClientOptions options;
  options.read_timeout_ms = 10000;
  auto client = e2ee::KeyClient::open("127.0.0.1", smtp_port_, options);
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE((*client)->offersHashedPass());
  auto none = (*client)->pubkey("alice@alpha.test");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::kNotFound);
  auto bad = (*client)->login("alice@alpha.test", hashOf(9));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::kInvalid);
  ASSERT_TRUE((*client)->login("alice@alpha.test", hashOf(1)));
  auto salt = (*client)->getSalt();
  ASSERT_TRUE(salt) << salt.error().message();
  EXPECT_EQ(*salt, findUser("alice@alpha.test").value().salt);
  ASSERT_TRUE((*client)->setPublicKey(keyOf(5)));
  auto got = (*client)->pubkey("alice@alpha.test");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, keyOf(5));
  (*client)->quit();
}

TEST_F(KeyService, LoopAnswersOtherClientsWhileSetPubkeyWaitsForALockedStore) {
  // A long busy_timeout: a store write on the loop thread would hold every
  // connection that long.
  start("", "[store]\nbusy_timeout = \"20s\"\n");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(d_->dbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::atomic<bool> answered{false};
  Status result = okStatus();
  std::thread writer([&] {
    e2ee::KeyClientOptions options;
    options.read_timeout_ms = 30000;
    auto client = e2ee::KeyClient::open("127.0.0.1", smtp_port_, options);
    if (!client) {
      result = client.error();
    } else if (Status login = (*client)->login("alice@alpha.test", hashOf(1)); !login) {
      result = login;
    } else {
      result = (*client)->setPublicKey(keyOf(7));
      (*client)->quit();
    }
    answered = true;
  });
  const bool logged_in = d_->waitForLog("user=<alice@alpha.test> result=ok", 20000);
  // SETPUBKEY follows the login at once; let it reach mtepd and the store.
  if (logged_in) ::usleep(500 * 1000);
  auto other = Client::connect(smtp_port_);
  std::string greeting, noop;
  if (other) {
    greeting = other->readUntil("\r\n").value_or("(none)");
    other->send("NOOP\r\n");
    noop = other->readUntil("\r\n").value_or("(none)");
  }
  const bool first = !answered.load();
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  writer.join();
  ASSERT_TRUE(logged_in);
  EXPECT_TRUE(startsWith(greeting, "220 mx.test ESMTP")) << greeting;
  EXPECT_EQ(noop, "250 2.0.0 Ok");
  EXPECT_TRUE(first) << "SETPUBKEY was answered before the other client: the loop waited";
  // Released well within busy_timeout: the write went through.
  EXPECT_TRUE(result) << result.error().message();
  const auto after = findUser("alice@alpha.test");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->pubkey, std::optional<e2ee::PublicKey>(keyOf(7)));
}

TEST_F(KeyService, SetPubkeyOnAStoreLockedPastItsBusyTimeoutIs451) {
  start("", "[store]\nbusy_timeout = \"1s\"\n");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(d_->dbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  RunResult r = sClient({"EHLO client.test",
                         "AUTH HASHEDPASS " + e2ee::formatHashedPassAuth("alice@alpha.test",
                                                                         hashOf(1)),
                         "SETPUBKEY " + e2ee::formatRaw(keyOf(3)), "NOOP", "QUIT"});
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_TRUE(inOrder(r.out, {"235 2.7.0", "451 4.3.0 Key store unavailable, try again later\r\n",
                              "250 2.0.0 Ok\r\n", "221 2.0.0"}))
      << r.err;
  EXPECT_TRUE(d_->waitForLog("user=<alice@alpha.test> setpubkey=tempfail"));
}

}  // namespace
}  // namespace mtep::itest
