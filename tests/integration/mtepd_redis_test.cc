// NAME
//   mtepd_redis_test.cc - mtepd on [store] backend "redis" (a real
//   redis-server with a password): SIGHUP with a wrong password file, and
//   start-up with it
// DESCRIPTION
//   mtepd opens its store once; SIGHUP does not reopen it. A password file
//   rewritten with a password Redis refuses is reported by SIGHUP in one
//   error line, and the daemon keeps answering with the store it has (a
//   revocation made in Redis is still enforced, a fresh token still K).
//   Started with that file, mtepd exits 1 with one message naming Redis's
//   refusal and never the password; so does mtep-policyd.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "mtepd_harness.h"
#include "redis_harness.h"
#include "run_program.h"
#include "store/redis_store.h"
#include "token/token.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

// Runs `binary` -f on d's config to completion: its exit code, and what
// it wrote (stdout and stderr) in *output.
int runToExit(const char* binary, const Mtepd& d, std::string* output) {
  TempDir scratch;
  RunResult r = runProgram({binary, "-f", "-c", d.configPath()}, scratch.path());
  *output = r.out + r.err;
  return r.exit_code;
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class MtepdRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.start({"--requirepass", "right-pass"}));
    password_file_ = pw_dir_.path() + "/redis.pw";
    writePassword("right-pass");
  }

  void writePassword(const std::string& pw) {
    std::ofstream(password_file_, std::ios::trunc) << pw << "\n";
  }

  DaemonSettings settings() const {
    DaemonSettings s;
    s.extra = "[store]\nbackend = \"redis\"\nredis_server = \"127.0.0.1:" +
              std::to_string(redis_.port()) + "\"\nredis_password_file = \"" + password_file_ +
              "\"\nredis_timeout_ms = 500\n";
    return s;
  }

  // Revokes `token` in Redis, as another host's mtepctl would.
  ::testing::AssertionResult revokeInRedis(const std::string& token) {
    auto info = token::decode(token);
    if (!info) return ::testing::AssertionFailure() << info.error().message();
    store::RedisOptions o;
    o.server = {"127.0.0.1", redis_.port()};
    o.password = "right-pass";
    auto st = store::openRedis(o, SystemClock::instance());
    if (!st) return ::testing::AssertionFailure() << st.error().message();
    Status s = (*st)->revokeToken(info->revocationId(), info->expires);
    if (!s) return ::testing::AssertionFailure() << s.error().message();
    return ::testing::AssertionSuccess();
  }

  RedisServer redis_;
  TempDir pw_dir_;
  std::string password_file_;
};

TEST_F(MtepdRedisTest, SighupWithAWrongPasswordFileLogsOneErrorAndKeepsServing) {
  Mtepd d(settings());
  ASSERT_TRUE(d.start()) << d.logText();
  ASSERT_TRUE(stillServing(d)) << d.logText();
  const std::string revoked = d.mint("alice@example.org");
  ASSERT_TRUE(revokeInRedis(revoked));
  // Seen within the store's refresh (250 ms).
  std::optional<std::string> before;
  for (int i = 0; i < 60; ++i) {
    before = askOnce(d.port(), query(revoked, "alice@example.org"));
    if (before && !startsWith(before, "K")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(before);
  EXPECT_FALSE(startsWith(before, "K")) << "a token revoked in Redis passed: " << *before;

  writePassword("wrong-pass");
  d.signal(SIGHUP);
  ASSERT_TRUE(d.waitForLog("configuration reloaded")) << d.logText();
  ASSERT_TRUE(d.waitForLog("the new password is refused")) << d.logText();
  const std::string log = d.logText();
  EXPECT_EQ(count(log, "redis_password_file"), 1u) << log;
  EXPECT_NE(log.find(password_file_), std::string::npos) << log;
  EXPECT_NE(log.find("WRONGPASS"), std::string::npos) << log;
  EXPECT_EQ(log.find("wrong-pass"), std::string::npos) << "the password was logged:\n" << log;

  // Still serving with the store it has: fresh tokens pass, the revoked
  // one does not, and new Redis connections still log in (the store keeps
  // the password it was opened with).
  EXPECT_TRUE(stillServing(d)) << d.logText();
  auto after = askOnce(d.port(), query(revoked, "alice@example.org"));
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, *before);
  ASSERT_EQ(redis_.cli({"CLIENT", "KILL", "TYPE", "normal"}, "right-pass").exit_code, 0);
  EXPECT_TRUE(stillServing(d)) << d.logText();

  // The right password again: nothing to say at the next SIGHUP.
  writePassword("right-pass");
  d.signal(SIGHUP);
  ASSERT_TRUE(d.waitForLog("reloaded", 5000));
  EXPECT_EQ(count(d.logText(), "redis_password_file"), 1u) << d.logText();
}

TEST_F(MtepdRedisTest, StartUpWithAWrongPasswordExitsOneWithOneMessage) {
  writePassword("wrong-pass");
  Mtepd d(settings());
  std::string out;
  EXPECT_EQ(runToExit(MTEPD_PATH, d, &out), 1) << out;
  EXPECT_NE(out.find("redis 127.0.0.1:" + std::to_string(redis_.port())), std::string::npos) << out;
  EXPECT_NE(out.find("WRONGPASS"), std::string::npos) << out;
  EXPECT_EQ(count(out, "WRONGPASS"), 1u) << out;
  EXPECT_EQ(out.find("wrong-pass"), std::string::npos) << "the password was printed:\n" << out;
  EXPECT_EQ(out.find(d.dbPath()), std::string::npos) << "names the SQLite file:\n" << out;
}

// mtep-policyd opens the same [store]: a password Redis refuses fails its
// start-up too (a Redis that does not answer only tempfails its gates).
TEST_F(MtepdRedisTest, PolicydStartUpWithAWrongPasswordExitsWithOneMessage) {
  writePassword("wrong-pass");
  Mtepd d(settings());  // not started: its config file and free port serve mtep-policyd
  d.writeConfigText(readFile(d.configPath()) + "\n[policyd]\nlisten = [\"127.0.0.1:" + std::to_string(d.port()) +
                    "\"]\n");
  std::string out;
  int code = runToExit(MTEP_POLICYD_PATH, d, &out);
  EXPECT_NE(code, 0) << out;
  EXPECT_GT(code, 0) << "killed or not run: " << out;
  EXPECT_EQ(count(out, "WRONGPASS"), 1u) << out;
  EXPECT_EQ(out.find("wrong-pass"), std::string::npos) << "the password was printed:\n" << out;
  EXPECT_EQ(out.find(": ready"), std::string::npos) << "it started:\n" << out;
}

}  // namespace
}  // namespace mtep::itest
