// NAME
//   key_service_test.cc - mtepd's key service (AUTH HASHEDPASS, PUBKEY,
//   SETPUBKEY, GETSALT, RSTSALT) in the ESMTP session, without sockets
// DESCRIPTION
//   Sessions from SmtpSessionFactory with a UserBook on a real SQLite
//   store in a temp dir and a LoginLimiter on a FakeClock. After STARTTLS
//   answers kStartTls the session counts TLS as on, so plaintext goes on
//   being fed. Checked: the EHLO keywords (absent before TLS, with
//   user_keys off and without a UserBook), every reply code of the
//   service, the 334 continuation and "*", the limits per client and per
//   user and their windows, RSTSALT withdrawing the key, a store that
//   fails, the log lines (no payload in them), and one conversation in
//   every slicing.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "e2ee/e2ee.h"
#include "e2ee/login_limiter.h"
#include "e2ee/users.h"
#include "smtp_session.h"
#include "store/sqlite_store.h"
#include "unit/mtepd/test_tls.h"
#include "unit/netstring/slicing.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

namespace fs = std::filesystem;
using server::SessionAction;
using server::SessionStep;

const std::string kEhloInTls =
    "250-mx.test\r\n250-X-STARTMTEP\r\n250-AUTH HASHEDPASS\r\n250-SIGNMESSAGE\r\n"
    "250-ENCRYPTMESSAGE\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";
const std::string kEhloPlain =
    "250-mx.test\r\n250-STARTTLS\r\n250-X-STARTMTEP\r\n250-PIPELINING\r\n"
    "250 ENHANCEDSTATUSCODES\r\n";
const std::string kOk = "235 2.7.0 Authentication successful\r\n";
const std::string kBad = "535 5.7.8 Authentication credentials invalid\r\n";
const std::string kLimited = "454 4.7.0 Too many failed logins, try again later\r\n";
const std::string kNeedLogin = "530 5.7.0 Authentication required\r\n";
const std::string kNeedTls = "530 5.7.0 Must issue a STARTTLS command first\r\n";
const std::string kNotImplemented = "502 5.5.1 Error: command not implemented\r\n";
const std::string kStoreDown = "451 4.3.0 Key store unavailable, try again later\r\n";

e2ee::Hash hashOf(uint8_t fill) {
  e2ee::Hash h;
  h.fill(fill);
  return h;
}

e2ee::PublicKey keyOf(uint8_t seed_fill) {
  e2ee::Seed seed;
  seed.fill(seed_fill);
  auto pair = e2ee::keyPairFromSeed(seed);
  EXPECT_TRUE(pair.ok());
  return pair.ok() ? pair->pub : e2ee::PublicKey{};
}

std::string authLine(std::string_view user, uint8_t fill) {
  return "AUTH HASHEDPASS " + e2ee::formatHashedPassAuth(user, hashOf(fill)) + "\r\n";
}

// The real store, or failures with kTemporary while `down`.
class SwitchableStore final : public store::Store {
 public:
  explicit SwitchableStore(std::unique_ptr<store::Store> real) : real_(std::move(real)) {}
  const char* backendName() const override { return "switchable"; }
  Status revokeToken(std::string_view id, int64_t at) override {
    if (down) return fail();
    return real_->revokeToken(id, at);
  }
  Result<bool> isTokenRevoked(std::string_view id) override {
    if (down) return fail();
    return real_->isTokenRevoked(id);
  }
  Result<bool> recordOnce(std::string_view ns, std::string_view key, int64_t at) override {
    if (down) return fail();
    return real_->recordOnce(ns, key, at);
  }
  Status putValue(std::string_view ns, std::string_view key, std::string_view value,
                  int64_t at) override {
    if (down) return fail();
    return real_->putValue(ns, key, value, at);
  }
  Result<std::string> getValue(std::string_view ns, std::string_view key) override {
    if (down) return fail();
    return real_->getValue(ns, key);
  }
  Result<bool> eraseValue(std::string_view ns, std::string_view key) override {
    if (down) return fail();
    return real_->eraseValue(ns, key);
  }
  Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view ns,
                                                                      size_t limit) override {
    if (down) return fail();
    return real_->listValues(ns, limit);
  }
  Result<uint64_t> purgeExpired() override {
    if (down) return fail();
    return real_->purgeExpired();
  }
  bool down = false;

 private:
  static Error fail() { return Error(ErrorKind::kTemporary, "database is locked"); }
  std::unique_ptr<store::Store> real_;
};

class NoChecker final : public proto::TokenChecker {
 public:
  proto::CheckResult check(const proto::Query&) override {
    return {{proto::Verdict::kNo, smtp::EnhancedStatus{5, 7, 8}, "unknown"}, "bad-mac"};
  }
};

class KeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "mtep-keyservice-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto st = store::openSqlite({.path = dir_ + "/mtep.db"}, clock_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    store_ = std::make_unique<SwitchableStore>(std::move(*st));
    users_ = std::make_unique<e2ee::UserBook>(*store_, clock_);
    limiter_ = std::make_unique<e2ee::LoginLimiter>(clock_);
    tls_ = testTls();
    ASSERT_TRUE(users_->add("alice@alpha.test", hashOf(1)).ok());
    ASSERT_TRUE(users_->add("bob@alpha.test", hashOf(2)).ok());
  }
  void TearDown() override {
    session_.reset();
    factory_.reset();
    users_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  config::ConfigPtr config() const {
    auto c = std::make_shared<config::Config>();
    c->mtepd.hostname = "mx.test";
    c->mtepd.smtp_max_line = 512;
    c->mtepd.max_commands_per_connection = 1000;
    c->mtepd.user_keys = user_keys_;
    c->mtepd.auth_failures_per_client = per_client_;
    c->mtepd.auth_failures_per_user = per_user_;
    return c;
  }

  // A new session from `client`; with_keys false: a factory without UserBook.
  void make(const std::string& client = "192.0.2.1:4000", bool with_keys = true) {
    session_.reset();
    KeyService keys;
    if (with_keys) keys = {users_.get(), limiter_.get()};
    factory_ = std::make_unique<SmtpSessionFactory>(config(), checker_, tls_, keys);
    session_ = factory_->create({client, "127.0.0.1:25"});
    std::string out;
    session_->onConnect(&out);
  }
  // A new session, inside TLS, after the second EHLO.
  void makeInTls(const std::string& client = "192.0.2.1:4000") {
    make(client);
    SessionStep step;
    ASSERT_EQ(feed("EHLO client.test\r\nSTARTTLS\r\n", &step),
              kEhloPlain + "220 2.0.0 Ready to start TLS\r\n");
    ASSERT_EQ(step.action, SessionAction::kStartTls);
    ASSERT_EQ(feed("EHLO client.test\r\n"), kEhloInTls);
  }
  std::string feed(std::string_view in, SessionStep* step = nullptr) {
    std::string out;
    SessionStep s = session_->onData(in, &out);
    if (step != nullptr) *step = s;
    return out;
  }

  FakeClock clock_{1'700'000'000};
  std::string dir_;
  std::unique_ptr<SwitchableStore> store_;
  std::unique_ptr<e2ee::UserBook> users_;
  std::unique_ptr<e2ee::LoginLimiter> limiter_;
  std::shared_ptr<const server::TlsContext> tls_;
  NoChecker checker_;
  bool user_keys_ = true;
  config::RateLimit per_client_{5, 900};
  config::RateLimit per_user_{10, 3600};
  std::unique_ptr<SmtpSessionFactory> factory_;
  std::unique_ptr<server::ProtocolSession> session_;
};

// --- advertising and the TLS gate -------------------------------------------

TEST_F(KeyServiceTest, KeywordsAreAbsentBeforeTlsAndPresentInsideIt) {
  make();
  EXPECT_EQ(feed("EHLO client.test\r\n"), kEhloPlain);
  SessionStep step;
  feed("STARTTLS\r\n", &step);
  ASSERT_EQ(step.action, SessionAction::kStartTls);
  EXPECT_EQ(feed("EHLO client.test\r\n"), kEhloInTls);
}

TEST_F(KeyServiceTest, EveryCommandBeforeTlsIs530) {
  make();
  feed("EHLO client.test\r\n");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kNeedTls);
  EXPECT_EQ(feed("AUTH HASHEDPASS\r\n"), kNeedTls);
  EXPECT_EQ(feed("PUBKEY alice@alpha.test\r\n"), kNeedTls);
  EXPECT_EQ(feed("SETPUBKEY " + e2ee::formatRaw(keyOf(1)) + "\r\n"), kNeedTls);
  EXPECT_EQ(feed("GETSALT\r\n"), kNeedTls);
  EXPECT_EQ(feed("RSTSALT\r\n"), kNeedTls);
}

TEST_F(KeyServiceTest, UserKeysOffMeansNoKeywordsAnd502) {
  user_keys_ = false;
  make();
  feed("EHLO client.test\r\nSTARTTLS\r\n");
  EXPECT_EQ(feed("EHLO client.test\r\n"),
            "250-mx.test\r\n250-X-STARTMTEP\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  for (const char* line : {"AUTH HASHEDPASS x\r\n", "PUBKEY alice@alpha.test\r\n",
                           "SETPUBKEY x\r\n", "GETSALT\r\n", "RSTSALT\r\n"}) {
    EXPECT_EQ(feed(line), kNotImplemented) << line;
  }
  EXPECT_EQ(feed("HELP\r\n"),
            "214 2.0.0 Commands: EHLO HELO STARTTLS STARTMTEP NOOP RSET HELP QUIT\r\n");
}

TEST_F(KeyServiceTest, FactoryWithoutUserBookHasNoKeyService) {
  make("192.0.2.1:4000", /*with_keys=*/false);
  feed("EHLO client.test\r\nSTARTTLS\r\n");
  EXPECT_EQ(feed("EHLO client.test\r\n"),
            "250-mx.test\r\n250-X-STARTMTEP\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(feed("PUBKEY alice@alpha.test\r\n"), kNotImplemented);
}

TEST_F(KeyServiceTest, HelpListsTheKeyCommandsWhenOn) {
  makeInTls();
  EXPECT_EQ(feed("HELP\r\n"),
            "214 2.0.0 Commands: EHLO HELO STARTTLS STARTMTEP AUTH PUBKEY SETPUBKEY GETSALT "
            "RSTSALT NOOP RSET HELP QUIT\r\n");
}

TEST_F(KeyServiceTest, InsideTlsEhloIsNeededAgainFirst) {
  make();
  feed("EHLO client.test\r\nSTARTTLS\r\n");
  EXPECT_EQ(feed("PUBKEY alice@alpha.test\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
}

// --- PUBKEY -----------------------------------------------------------------

TEST_F(KeyServiceTest, PubkeyOfUnknownUserOrUserWithoutKeyIs550) {
  makeInTls();
  EXPECT_EQ(feed("PUBKEY nobody@alpha.test\r\n"),
            "550 5.1.1 No public key available for <nobody@alpha.test>\r\n");
  EXPECT_EQ(feed("PUBKEY <alice@alpha.test>\r\n"),
            "550 5.1.1 No public key available for <alice@alpha.test>\r\n");
}

TEST_F(KeyServiceTest, PubkeyAnswersThePublishedKeyWithoutLogin) {
  ASSERT_TRUE(users_->setPublicKey("alice@alpha.test", keyOf(9)).ok());
  makeInTls();
  const std::string want = "220 ed25519 " + e2ee::formatPubkeyReply(keyOf(9)) + "\r\n";
  EXPECT_EQ(feed("PUBKEY alice@alpha.test\r\n"), want);
  EXPECT_EQ(feed("PUBKEY <Alice@Alpha.TEST>\r\n"), want);
  // The reply reads back as the key (what the milter will do).
  auto back = e2ee::parsePublicKey(want.substr(12, want.size() - 14));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, keyOf(9));
}

TEST_F(KeyServiceTest, PubkeyWithABadArgumentIs501) {
  makeInTls();
  EXPECT_EQ(feed("PUBKEY\r\n"), "501 5.5.4 Syntax: PUBKEY address\r\n");
  EXPECT_EQ(feed("PUBKEY <>\r\n"), "501 5.5.4 Syntax: PUBKEY address\r\n");
  EXPECT_EQ(feed("PUBKEY a b\r\n"), "501 5.5.4 Syntax: PUBKEY address\r\n");
  EXPECT_EQ(feed("PUBKEY " + std::string(300, 'a') + "\r\n"),
            "501 5.5.4 Syntax: PUBKEY address\r\n");
}

// --- AUTH HASHEDPASS ----------------------------------------------------------

TEST_F(KeyServiceTest, RightHashLogsIn235AndSecondAuthIs503) {
  makeInTls();
  EXPECT_EQ(feed(authLine("Alice@Alpha.Test", 1)), kOk);
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), "503 5.5.1 Already authenticated\r\n");
}

TEST_F(KeyServiceTest, WrongHashAndUnknownUserGetTheSame535) {
  makeInTls();
  EXPECT_EQ(feed(authLine("alice@alpha.test", 2)), kBad);
  EXPECT_EQ(feed(authLine("nobody@alpha.test", 1)), kBad);
  EXPECT_EQ(feed(authLine("bad\x01name", 1)), kBad);
  EXPECT_EQ(feed("GETSALT\r\n"), kNeedLogin);  // still not logged in
}

TEST_F(KeyServiceTest, MalformedPayloadIs501AndOtherMechanismsAre504) {
  makeInTls();
  EXPECT_EQ(feed("AUTH HASHEDPASS !!!notbase64\r\n"), "501 5.5.2 Invalid base64 data\r\n");
  EXPECT_EQ(feed("AUTH HASHEDPASS " + std::string("YWxpY2U=") + "\r\n"),  // "alice": no NULs
            "501 5.5.2 Invalid base64 data\r\n");
  EXPECT_EQ(feed("AUTH HASHEDPASS =\r\n"), "501 5.5.2 Invalid base64 data\r\n");
  EXPECT_EQ(feed("AUTH PLAIN AGFsaWNlAHB3\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
  EXPECT_EQ(feed("AUTH\r\n"), "501 5.5.4 Syntax: AUTH mechanism [response]\r\n");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);  // malformed ones were not failures
}

TEST_F(KeyServiceTest, AuthWithoutInitialResponseTakesTheNextLine) {
  makeInTls();
  EXPECT_EQ(feed("auth hashedpass\r\n"), "334 \r\n");
  EXPECT_EQ(feed(e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(1)) + "\r\n"), kOk);
}

TEST_F(KeyServiceTest, StarCancelsTheContinuationWith501) {
  makeInTls();
  EXPECT_EQ(feed("AUTH HASHEDPASS\r\n"), "334 \r\n");
  EXPECT_EQ(feed("*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
  EXPECT_EQ(feed("NOOP\r\n"), "250 2.0.0 Ok\r\n");  // a command again
  EXPECT_EQ(feed("AUTH HASHEDPASS\r\n"), "334 \r\n");
  EXPECT_EQ(feed("NOOP\r\n"), "501 5.5.2 Invalid base64 data\r\n");  // the response, not a command
}

// --- the commands that need a login ----------------------------------------

TEST_F(KeyServiceTest, SetpubkeyGetsaltRstsaltNeedALogin) {
  makeInTls();
  EXPECT_EQ(feed("SETPUBKEY " + e2ee::formatRaw(keyOf(1)) + "\r\n"), kNeedLogin);
  EXPECT_EQ(feed("GETSALT\r\n"), kNeedLogin);
  EXPECT_EQ(feed("RSTSALT\r\n"), kNeedLogin);
}

TEST_F(KeyServiceTest, SetpubkeyPublishesWhatPubkeyThenAnswers) {
  makeInTls();
  ASSERT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
  EXPECT_EQ(feed("SETPUBKEY " + e2ee::formatRaw(keyOf(3)) + "\r\n"), "250 2.0.0 OK\r\n");
  EXPECT_EQ(feed("PUBKEY alice@alpha.test\r\n"),
            "220 ed25519 " + e2ee::formatPubkeyReply(keyOf(3)) + "\r\n");
  // Any form parsePublicKey reads: the OpenSSH text with a comment.
  EXPECT_EQ(feed("SETPUBKEY " + e2ee::formatOpensshText(keyOf(4)) + " alice\r\n"),
            "250 2.0.0 OK\r\n");
  EXPECT_EQ(users_->find("alice@alpha.test")->pubkey, keyOf(4));
  EXPECT_EQ(feed("SETPUBKEY not-a-key\r\n"), "501 5.5.4 Invalid public key\r\n");
  EXPECT_EQ(feed("SETPUBKEY\r\n"), "501 5.5.4 Syntax: SETPUBKEY key\r\n");
  EXPECT_EQ(users_->find("alice@alpha.test")->pubkey, keyOf(4));
  // Bob's record is untouched.
  EXPECT_FALSE(users_->find("bob@alpha.test")->pubkey.has_value());
}

TEST_F(KeyServiceTest, GetsaltAnswersTheStoredSalt) {
  makeInTls();
  ASSERT_EQ(feed(authLine("bob@alpha.test", 2)), kOk);
  auto u = users_->find("bob@alpha.test");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(feed("GETSALT\r\n"), "220 SALT " + e2ee::formatSalt(u->salt) + "\r\n");
  EXPECT_EQ(feed("GETSALT x\r\n"), "501 5.5.4 Syntax: GETSALT\r\n");
}

TEST_F(KeyServiceTest, RstsaltGivesANewSaltAndWithdrawsTheKey) {
  ASSERT_TRUE(users_->setPublicKey("alice@alpha.test", keyOf(9)).ok());
  const std::string old_salt = users_->find("alice@alpha.test")->salt;
  makeInTls();
  ASSERT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
  ASSERT_EQ(feed("PUBKEY alice@alpha.test\r\n").substr(0, 4), "220 ");
  const std::string reply = feed("RSTSALT\r\n");
  ASSERT_EQ(reply.substr(0, 9), "220 SALT ") << reply;
  auto fresh = e2ee::parseSalt(reply.substr(9, reply.size() - 11));
  ASSERT_TRUE(fresh.ok()) << reply;
  EXPECT_NE(*fresh, old_salt);
  EXPECT_EQ(users_->find("alice@alpha.test")->salt, *fresh);
  EXPECT_EQ(feed("PUBKEY alice@alpha.test\r\n"),
            "550 5.1.1 No public key available for <alice@alpha.test>\r\n");
  EXPECT_EQ(feed("GETSALT\r\n"), reply);
  EXPECT_EQ(feed("RSTSALT now\r\n"), "501 5.5.4 Syntax: RSTSALT\r\n");
}

TEST_F(KeyServiceTest, UserRemovedAfterLoginIsLoggedOut) {
  makeInTls();
  ASSERT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
  ASSERT_TRUE(users_->remove("alice@alpha.test").ok());
  EXPECT_EQ(feed("GETSALT\r\n"), kNeedLogin);
  EXPECT_EQ(feed("SETPUBKEY " + e2ee::formatRaw(keyOf(3)) + "\r\n"), kNeedLogin);
}

// --- store trouble -------------------------------------------------------------

TEST_F(KeyServiceTest, StoreTroubleIs451AndNotAFailedLogin) {
  per_client_ = {1, 900};
  makeInTls();
  store_->down = true;
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kStoreDown);
  EXPECT_EQ(feed("PUBKEY alice@alpha.test\r\n"), kStoreDown);
  store_->down = false;
  ASSERT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);  // the 451 was not counted
  store_->down = true;
  EXPECT_EQ(feed("GETSALT\r\n"), kStoreDown);
  EXPECT_EQ(feed("RSTSALT\r\n"), kStoreDown);
  EXPECT_EQ(feed("SETPUBKEY " + e2ee::formatRaw(keyOf(3)) + "\r\n"), kStoreDown);
}

// --- limits ---------------------------------------------------------------------

TEST_F(KeyServiceTest, ClientOverItsLimitGets454EvenWithTheRightPassword) {
  per_client_ = {3, 900};
  makeInTls("192.0.2.1:4000");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(feed(authLine("alice@alpha.test", 7)), kBad) << i;
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kLimited);
  // A new connection from the same address (another port) is limited too.
  makeInTls("192.0.2.1:4001");
  EXPECT_EQ(feed(authLine("bob@alpha.test", 2)), kLimited);
  // Another address is not; Alice (3 failures < 10) may log in from there.
  makeInTls("198.51.100.9:5000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
  // After the window the first address may try again.
  clock_.advance(900);
  makeInTls("192.0.2.1:4002");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
}

// An IPv6 host holds a whole /64: its addresses share one client count.
TEST_F(KeyServiceTest, ClientsOfOneIpv6Slash64ShareTheClientLimit) {
  per_client_ = {2, 900};
  makeInTls("[2001:db8:1:2::1]:4000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 7)), kBad);
  makeInTls("[2001:db8:1:2::2]:4000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 7)), kBad);
  makeInTls("[2001:db8:1:2:dead:beef:0:1]:4000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kLimited);
  makeInTls("[2001:db8:1:3::1]:4000");  // the next /64 is another client
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
}

TEST_F(KeyServiceTest, UserOverItsLimitGets454FromEveryClient) {
  per_client_ = {100, 900};
  per_user_ = {2, 3600};
  makeInTls("192.0.2.1:4000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 7)), kBad);
  makeInTls("[2001:db8::1]:4000");
  EXPECT_EQ(feed(authLine("ALICE@alpha.test", 8)), kBad);
  makeInTls("203.0.113.5:4000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kLimited);
  EXPECT_EQ(feed(authLine("bob@alpha.test", 2)), kOk);  // other users are not
  clock_.advance(3600);
  makeInTls("203.0.113.5:4001");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
}

TEST_F(KeyServiceTest, ASuccessfulLoginDoesNotResetTheUserCount) {
  per_client_ = {100, 900};
  per_user_ = {2, 3600};
  makeInTls("192.0.2.1:4000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 7)), kBad);
  makeInTls("192.0.2.2:4000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
  makeInTls("192.0.2.3:4000");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 7)), kBad);
  makeInTls("192.0.2.2:4001");
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kLimited);
}

TEST_F(KeyServiceTest, UnknownUserFailuresCountForTheClient) {
  per_client_ = {2, 900};
  makeInTls();
  EXPECT_EQ(feed(authLine("nobody@alpha.test", 1)), kBad);
  EXPECT_EQ(feed(authLine("bad\x01name", 1)), kBad);
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kLimited);
}

TEST_F(KeyServiceTest, EmptyLimitMeansNoLimit) {
  per_client_ = {0, 0};
  per_user_ = {0, 0};
  makeInTls();
  for (int i = 0; i < 12; ++i) EXPECT_EQ(feed(authLine("alice@alpha.test", 7)), kBad) << i;
  EXPECT_EQ(feed(authLine("alice@alpha.test", 1)), kOk);
}

// --- logs and slicing -------------------------------------------------------------

TEST_F(KeyServiceTest, LogLinesNameClientUserAndResultButNoPayload) {
  log::open("key_service_test", true);
  ::testing::internal::CaptureStderr();
  makeInTls("192.0.2.1:4000");
  const std::string good = authLine("alice@alpha.test", 1);
  feed(authLine("alice@alpha.test", 7));
  feed("AUTH HASHEDPASS !!!\r\n");
  feed(good);
  const std::string key = e2ee::formatRaw(keyOf(3));
  feed("SETPUBKEY " + key + "\r\n");
  feed("RSTSALT\r\n");
  session_.reset();
  const std::string err = ::testing::internal::GetCapturedStderr();
  log::open("key_service_test", false);
  EXPECT_NE(err.find("NOQUEUE: client=192.0.2.1:4000 auth=hashedpass user=<alice@alpha.test> "
                     "result=fail"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("auth=hashedpass user=<> result=malformed"), std::string::npos) << err;
  EXPECT_NE(err.find("auth=hashedpass user=<alice@alpha.test> result=ok"), std::string::npos)
      << err;
  EXPECT_NE(err.find("user=<alice@alpha.test> setpubkey=ok"), std::string::npos) << err;
  EXPECT_NE(err.find("user=<alice@alpha.test> rstsalt=ok"), std::string::npos) << err;
  const std::string payload = good.substr(16, good.size() - 18);
  EXPECT_EQ(err.find(payload), std::string::npos) << err;
  EXPECT_EQ(err.find(key), std::string::npos) << err;
}

TEST_F(KeyServiceTest, AConversationIsAnsweredTheSameInEverySlicing) {
  ASSERT_TRUE(users_->setPublicKey("bob@alpha.test", keyOf(5)).ok());
  const std::string in = "EHLO client.test\r\nPUBKEY <bob@alpha.test>\r\nAUTH HASHEDPASS\r\n" +
                         e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(1)) +
                         "\r\nGETSALT\r\nPUBKEY nobody@alpha.test\r\nSETPUBKEY\r\nQUIT\r\n";
  auto run = [&](const std::vector<std::string_view>& pieces) {
    make();
    feed("EHLO a\r\nSTARTTLS\r\n");
    std::string got;
    for (std::string_view piece : pieces) got += feed(piece);
    return got;
  };
  const std::string want = run({in});
  ASSERT_NE(want.find(kOk), std::string::npos) << want;
  ASSERT_NE(want.find("220 SALT "), std::string::npos) << want;
  ASSERT_NE(want.find("221 2.0.0"), std::string::npos) << want;
  for (const auto& s : mtep::testing::allSlicings(in)) EXPECT_EQ(run(s.pieces), want) << s.name;
}

}  // namespace
}  // namespace mtep::mtepd
