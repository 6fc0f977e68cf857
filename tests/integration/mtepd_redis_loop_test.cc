// NAME
//   mtepd_redis_loop_test.cc - mtepd on [store] backend "redis" never
//   blocks its event loop on Redis (issue 16)
// DESCRIPTION
//   mtepd runs with the key service ([mtepd] smtp_listen, a certificate
//   made by `openssl req`) on a real redis-server, redis_timeout_ms 3000.
//   With Redis paused (SIGSTOP: it accepts connections and never answers),
//   lib/e2ee's KeyClient asks PUBKEY and then logs in: each gets 451 4.3.0
//   after about the timeout, while MTEP "?" queries on other connections
//   keep being answered, each promptly, several of them before the PUBKEY
//   answer comes back (with the store read on the loop thread they would
//   all wait for it). After SIGCONT the key service and MTEP work again.
//   The same for the MMTP gateway ([mmtp] listen), which runs on a worker
//   of its own with Redis: REQUEST_PUBLIC_KEY gets a temporary ERROR while
//   MTEP is answered, and the right answer after SIGCONT. And for the token
//   server's AUTH HASHEDPASS ([stoken] starttls_listen, lib/smtp's client):
//   451 4.3.0 while MTEP is answered, 235 after SIGCONT.
//   No tight timings are asserted: "promptly" is under a third of the
//   store's timeout.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "e2ee/client.h"
#include "e2ee/e2ee.h"
#include "e2ee/users.h"
#include "key_fixtures.h"
#include "mtepd_harness.h"
#include "redis_harness.h"
#include "run_program.h"
#include "smtp/client.h"
#include "store/redis_store.h"
#include "transport/dialer.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

using Steady = std::chrono::steady_clock;

constexpr int kTimeoutMs = 3000;  // redis_timeout_ms

int64_t msSince(Steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t).count();
}

class MtepdRedisLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.start());
    smtp_port_ = freeLoopbackPort();
    mmtp_port_ = freeLoopbackPort();
    stoken_port_ = freeLoopbackPort();
    DaemonSettings s;
    s.extra = "[store]\nbackend = \"redis\"\nredis_server = \"127.0.0.1:" +
              std::to_string(redis_.port()) +
              "\"\nredis_timeout_ms = " + std::to_string(kTimeoutMs) + "\n";
    d_ = std::make_unique<Mtepd>(s);
    const std::string cert = d_->dir() + "/cert.pem";
    const std::string key = d_->dir() + "/key.pem";
    RunResult r = runProgram(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=test", "-days", "2", "-keyout", key, "-out", cert},
        d_->dir());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string keys = "smtp_listen = [\"127.0.0.1:" + std::to_string(smtp_port_) +
                             "\"]\nhostname = \"mx.test\"\ntls_cert_file = \"" + cert +
                             "\"\ntls_key_file = \"" + key + "\"\nuser_keys = true\n";
    // The harness's [mtepd] section ends with idle_timeout; these keys join it.
    std::string text = readFile(d_->configPath());
    const size_t eol = text.find('\n', text.find("idle_timeout"));
    text.insert(eol + 1, keys);
    text += "\n[mmtp]\nlisten = [\"127.0.0.1:" + std::to_string(mmtp_port_) + "\"]\n";
    // The token server; nothing is delivered here.
    text += "\n[stoken]\nstarttls_listen = [\"127.0.0.1:" + std::to_string(stoken_port_) +
            "\"]\ndeliver_to = \"127.0.0.1:" + std::to_string(freeLoopbackPort()) + "\"\n";
    d_->writeConfigText(text);
    ASSERT_TRUE(d_->start()) << d_->logText();
    ASSERT_TRUE(addUser("alice@alpha.test", hashOf(1)));
  }

  void TearDown() override { redis_.resume(); }  // never leave it stopped

  // A user in Redis, as `mtepctl user add` on any host would make it.
  ::testing::AssertionResult addUser(const std::string& name, const e2ee::Hash& hash) {
    store::RedisOptions o;
    o.server = {"127.0.0.1", redis_.port()};
    auto st = store::openRedis(o, SystemClock::instance());
    if (!st) return ::testing::AssertionFailure() << "store: " << st.error().message();
    e2ee::UserBook users(**st, SystemClock::instance());
    Status s = users.add(name, hash);
    if (!s) return ::testing::AssertionFailure() << "add: " << s.error().message();
    return ::testing::AssertionSuccess();
  }

  Result<std::unique_ptr<e2ee::KeyClient>> keyClient() {
    e2ee::KeyClientOptions options;
    options.read_timeout_ms = 20000;
    return e2ee::KeyClient::open("127.0.0.1", smtp_port_, options);
  }

  // MTEP queries on new connections, one every 100 ms, until `done` (or
  // twice the store's timeout): how many were answered before `done`, and
  // the slowest answer. A query not answered fails the test.
  struct Measured {
    int answered_before_done = 0;
    int64_t slowest_ms = 0;
  };
  Measured askWhile(const std::atomic<bool>& done, const std::string& token) {
    Measured m;
    const Steady::time_point window = Steady::now();
    while (!done && msSince(window) < 2 * kTimeoutMs) {
      const Steady::time_point t = Steady::now();
      const std::optional<std::string> reply = askOnce(d_->port(), query(token, "bob@example.org"));
      const int64_t took = msSince(t);
      EXPECT_TRUE(reply) << "an MTEP query was not answered while Redis was paused";
      if (!reply) break;
      m.slowest_ms = std::max(m.slowest_ms, took);
      if (!done) ++m.answered_before_done;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return m;
  }

  // An LMTP session with the token server: LHLO, STARTTLS, LHLO again.
  Result<std::unique_ptr<smtp::SmtpClient>> tokenServer() {
    transport::DialOptions o;
    o.timeouts.read_timeout_ms = 20000;
    auto stream = transport::dial("127.0.0.1", stoken_port_, o, transport::systemResolver());
    if (!stream) return std::move(stream).error();
    auto c = std::make_unique<smtp::SmtpClient>(std::move(*stream));
    auto g = c->greeting();
    if (!g) return std::move(g).error();
    auto l = c->lhlo("client.test");
    if (!l) return std::move(l).error();
    auto tls = c->startTls({.server_name = "mx.test"});
    if (!tls) return std::move(tls).error();
    l = c->lhlo("client.test");
    if (!l) return std::move(l).error();
    return c;
  }
  static std::string authLine() {
    return "AUTH HASHEDPASS " + e2ee::formatHashedPassAuth("alice@alpha.test", hashOf(1));
  }

  RedisServer redis_;
  std::unique_ptr<Mtepd> d_;
  uint16_t smtp_port_ = 0;
  uint16_t mmtp_port_ = 0;
  uint16_t stoken_port_ = 0;
};

// One MMTP request on `c` (greeted already): its reply line.
std::string mmtpAsk(Client& c, const std::string& request) {
  c.send(request + "\n");
  return c.readUntil("\n").value_or("(no reply)");
}

TEST_F(MtepdRedisLoopTest, PausedRedisTempfailsTheKeyServiceWhileMtepQueriesAreAnswered) {
  {
    auto c = keyClient();
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_TRUE((*c)->login("alice@alpha.test", hashOf(1)));
    ASSERT_TRUE((*c)->setPublicKey(keyOf(5)));
    (*c)->quit();
  }
  ASSERT_TRUE(stillServing(*d_)) << d_->logText();
  const std::string token = d_->mint("bob@example.org");

  // Connected, TLS and EHLO done (none of it reads the store): the next
  // command is the first that needs Redis.
  auto client = keyClient();
  ASSERT_TRUE(client) << client.error().message();

  redis_.pause();
  std::atomic<bool> pubkey_done{false};
  Result<e2ee::PublicKey> pubkey = Error(ErrorKind::kInternal, "not asked");
  Status login = okStatus();
  int64_t pubkey_ms = -1;
  std::thread asker([&] {
    const Steady::time_point t0 = Steady::now();
    pubkey = (*client)->pubkey("alice@alpha.test");
    pubkey_ms = msSince(t0);
    pubkey_done = true;
    login = (*client)->login("alice@alpha.test", hashOf(1));
  });

  // MTEP queries on other connections while PUBKEY waits for Redis.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Measured m = askWhile(pubkey_done, token);
  asker.join();

  // PUBKEY and the login got 4xx once the store gave up (about the timeout).
  ASSERT_FALSE(pubkey);
  EXPECT_EQ(pubkey.error().kind(), ErrorKind::kTemporary) << pubkey.error().message();
  EXPECT_NE(pubkey.error().message().find("451"), std::string::npos) << pubkey.error().message();
  EXPECT_GE(pubkey_ms, kTimeoutMs / 2) << "PUBKEY was answered before the store timed out?";
  ASSERT_FALSE(login);
  EXPECT_EQ(login.error().kind(), ErrorKind::kTemporary) << login.error().message();
  EXPECT_NE(login.error().message().find("451"), std::string::npos) << login.error().message();
  // The loop went on: queries answered, each well within the timeout, and
  // several of them while PUBKEY was still waiting.
  EXPECT_GE(m.answered_before_done, 3) << "the loop waited for Redis";
  EXPECT_LT(m.slowest_ms, kTimeoutMs / 3) << "an MTEP query waited for Redis";
  (*client)->quit();

  // Back: the key service and MTEP work again (the revocation list is
  // confirmed within its refresh, 250 ms).
  redis_.resume();
  bool serving = false;
  for (int i = 0; i < 50 && !serving; ++i) {
    serving = stillServing(*d_);
    if (!serving) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(serving) << d_->logText();
  auto again = keyClient();
  ASSERT_TRUE(again) << again.error().message();
  auto key = (*again)->pubkey("alice@alpha.test");
  ASSERT_TRUE(key) << key.error().message();
  EXPECT_EQ(*key, keyOf(5));
  EXPECT_TRUE((*again)->login("alice@alpha.test", hashOf(1)));
  auto salt = (*again)->getSalt();
  EXPECT_TRUE(salt) << salt.error().message();
  (*again)->quit();
}

TEST_F(MtepdRedisLoopTest, PausedRedisTempfailsMmtpWhileMtepQueriesAreAnswered) {
  const std::string ask_key =
      R"j({"action":"REQUEST_PUBLIC_KEY","data":{"email":"(alice)%(alpha.test)"}})j";
  auto c = Client::connect(mmtp_port_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->readUntil("\n"));  // the greeting
  // The gateway answers from its worker: no key yet.
  const std::string first = mmtpAsk(*c, ask_key);
  EXPECT_NE(first.find("Public key not found"), std::string::npos) << first;
  ASSERT_TRUE(stillServing(*d_)) << d_->logText();
  const std::string token = d_->mint("bob@example.org");

  redis_.pause();
  std::atomic<bool> done{false};
  std::string paused_reply;
  int64_t paused_ms = -1;
  std::thread asker([&] {
    const Steady::time_point t0 = Steady::now();
    paused_reply = mmtpAsk(*c, ask_key);
    paused_ms = msSince(t0);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Measured m = askWhile(done, token);
  asker.join();

  EXPECT_NE(paused_reply.find("\"temporary\":true"), std::string::npos) << paused_reply;
  EXPECT_GE(paused_ms, kTimeoutMs / 2) << paused_reply;
  EXPECT_GE(m.answered_before_done, 3) << "the loop waited for Redis";
  EXPECT_LT(m.slowest_ms, kTimeoutMs / 3) << "an MTEP query waited for Redis";

  redis_.resume();
  std::string after;
  for (int i = 0; i < 50; ++i) {
    after = mmtpAsk(*c, ask_key);
    if (after.find("Public key not found") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(after.find("Public key not found"), std::string::npos) << after;
  // MTEP too, once the revocation list is confirmed again (its refresh is
  // its own: it may still be waiting out a call to the paused Redis).
  bool serving = false;
  for (int i = 0; i < 100 && !serving; ++i) {
    serving = stillServing(*d_);
    if (!serving) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(serving) << d_->logText();
}

TEST_F(MtepdRedisLoopTest, PausedRedisTempfailsTheTokenServerLoginWhileMtepQueriesAreAnswered) {
  {
    auto c = tokenServer();
    ASSERT_TRUE(c) << c.error().message();
    auto r = (*c)->command(authLine());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->code, 235) << r->toReply().toString();
    (*c)->quit();
  }
  ASSERT_TRUE(stillServing(*d_)) << d_->logText();
  const std::string token = d_->mint("bob@example.org");
  auto c = tokenServer();
  ASSERT_TRUE(c) << c.error().message();

  redis_.pause();
  std::atomic<bool> done{false};
  Result<smtp::ParsedReply> paused = Error(ErrorKind::kInternal, "not asked");
  int64_t paused_ms = -1;
  std::thread asker([&] {
    const Steady::time_point t0 = Steady::now();
    paused = (*c)->command(authLine());
    paused_ms = msSince(t0);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const Measured m = askWhile(done, token);
  asker.join();

  ASSERT_TRUE(paused) << paused.error().message();
  EXPECT_EQ(paused->toReply().toString().substr(0, 9), "451 4.3.0") << paused->toReply().toString();
  EXPECT_GE(paused_ms, kTimeoutMs / 2);
  EXPECT_GE(m.answered_before_done, 3) << "the loop waited for Redis";
  EXPECT_LT(m.slowest_ms, kTimeoutMs / 3) << "an MTEP query waited for Redis";
  (*c)->quit();

  redis_.resume();
  int code = 0;
  for (int i = 0; i < 50 && code != 235; ++i) {
    auto again = tokenServer();
    ASSERT_TRUE(again) << again.error().message();
    auto r = (*again)->command(authLine());
    code = r ? r->code : 0;
    (*again)->quit();
    if (code != 235) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(code, 235);
}

}  // namespace
}  // namespace mtep::itest
