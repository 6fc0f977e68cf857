// NAME
//   mtepd_lifecycle_test.cc - start-up, signals, key rotation, privileges
// DESCRIPTION
//   SIGHUP with a broken config keeps the old one; with a good one the new
//   limits apply; SIGTERM exits 0 quickly; a key rotated on disk is picked
//   up without a restart, also when the first load of it failed; the daemon runs as [global] user; start-up errors
//   exit 1 with a clear message; without -f it detaches and keeps a pid file.

#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

#include "mtepd_harness.h"
#include "token/token.h"
#include "util/clock.h"

namespace mtep::itest {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// True once `pid` has exited (a zombie counts: init may be slow to reap it).
bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

// Runs mtepd in the foreground to completion; returns its exit status.
int runToExit(const Mtepd& d, std::string* output) {
  std::string cmd = std::string(MTEPD_PATH) + " -f -c " + d.configPath() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MtepdLifecycle, BrokenConfigOnSighupKeepsTheOldOne) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  d.writeConfigText("[mtepd]\nmax_connections = \"many\"\n");
  d.signal(SIGHUP);
  EXPECT_TRUE(d.waitForLog("keeping the previous configuration")) << d.logText();
  EXPECT_TRUE(d.waitForLog(d.configPath() + ":")) << "the error names the file and line";
  EXPECT_TRUE(stillServing(d));
}

TEST(MtepdLifecycle, GoodConfigOnSighupAppliesALowerLimit) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string tok = d.mint("alice@example.org");
  DaemonSettings lower;
  lower.max_commands = 2;
  d.writeConfig(lower);
  d.signal(SIGHUP);
  ASSERT_TRUE(d.waitForLog("configuration reloaded")) << d.logText();

  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  std::string bytes;
  for (int i = 0; i < 4; ++i) bytes += query(tok, "alice@example.org");
  c->send(bytes);
  EXPECT_TRUE(startsWith(c->readReply(), "K"));
  EXPECT_TRUE(startsWith(c->readReply(), "K"));
  std::string rest;
  EXPECT_TRUE(c->waitClosed(3000, &rest)) << "closed after the new max of 2 commands";
  EXPECT_EQ(rest, "");
}

TEST(MtepdLifecycle, SighupWarnsThatNewListenAddressesNeedARestart) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  d.writeConfigText("[global]\nuser = \"\"\nstate_dir = \"" + d.stateDir() +
                    "\"\n[mtepd]\nlisten = [\"127.0.0.1:" + std::to_string(freeLoopbackPort()) +
                    "\"]\n");
  d.signal(SIGHUP);
  EXPECT_TRUE(d.waitForLog("listen changed; restart")) << d.logText();
  EXPECT_TRUE(stillServing(d)) << "still on the old address";
}

TEST(MtepdLifecycle, SigtermWithIdleConnectionsExitsZeroAndClosesThem) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  auto idle = Client::connect(d.port());
  ASSERT_TRUE(idle);
  std::this_thread::sleep_for(milliseconds(100));
  d.signal(SIGTERM);
  // Well before the 30 s idle timeout could have closed the connection.
  auto rc = d.waitExit(15000);
  ASSERT_TRUE(rc.has_value()) << "did not exit with only idle connections";
  EXPECT_EQ(*rc, 0);
  EXPECT_TRUE(idle->waitClosed(1000));
}

TEST(MtepdLifecycle, SigtermDoesNotWaitForAStalledRequest) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  auto busy = Client::connect(d.port());
  ASSERT_TRUE(busy);
  ASSERT_TRUE(busy->send("22:1:?,\r\n12:unv"));  // half a request, never finished
  std::this_thread::sleep_for(milliseconds(100));
  d.signal(SIGTERM);
  // The shutdown grace (2 s) ends it, not the 30 s idle timeout.
  auto rc = d.waitExit(15000);
  ASSERT_TRUE(rc.has_value()) << "did not exit while a request was stalled";
  EXPECT_EQ(*rc, 0);
  EXPECT_TRUE(busy->waitClosed(1000));
}

TEST(MtepdLifecycle, BusyConnectionFinishingItsRequestIsAnsweredDuringShutdown) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  auto busy = Client::connect(d.port());
  ASSERT_TRUE(busy);
  ASSERT_TRUE(busy->send("22:1:?,\r\n12:unv"));
  std::this_thread::sleep_for(milliseconds(100));
  d.signal(SIGTERM);
  std::this_thread::sleep_for(milliseconds(200));
  ASSERT_TRUE(busy->send("anquished,,"));
  EXPECT_TRUE(startsWith(busy->readReply(2000), "D5."));
  EXPECT_TRUE(busy->waitClosed(2000));
  auto rc = d.waitExit(3000);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0);
}

TEST(MtepdLifecycle, RotatedKeyIsPickedUpWithoutRestart) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  std::string old_tok = d.mint("alice@example.org");
  auto rotated = token::KeyRing::rotate(d.keyFile(), {}, SystemClock::instance());
  ASSERT_TRUE(rotated) << rotated.error().message();
  auto new_tok = token::mintV1(*rotated, "alice@example.org", SystemClock::instance().now(), 3600);
  ASSERT_TRUE(new_tok);
  ASSERT_NE(token::decode(*new_tok)->key_id, token::decode(old_tok)->key_id);

  bool recognised = false;
  auto t0 = steady_clock::now();
  while (!recognised &&
         std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0).count() < 4000) {
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(query(*new_tok, "alice@example.org")));
    recognised = startsWith(c->readReply(), "K2.7.0");
    if (!recognised) std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_TRUE(recognised) << "token of the new key not accepted within 4 s\n" << d.logText();
  EXPECT_TRUE(d.waitForLog("reloaded")) << d.logText();

  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(query(old_tok, "alice@example.org")));
  EXPECT_TRUE(startsWith(c->readReply(), "K2.7.0")) << "tokens of the old key stay valid";
}

// A rotated key file renamed into place with mode 0644 is refused; the
// chmod 600 that repairs it changes neither inode, size nor mtime. mtepd
// must keep trying the file until it loads, or it never learns the key
// the milter (which loads the same file) mints with.
TEST(MtepdLifecycle, KeyFileRefusedOnceAfterARotationIsRetriedUntilItLoads) {
  Mtepd d;
  ASSERT_TRUE(d.start());
  const std::string next = d.keyFile() + ".new";
  {
    std::ifstream in(d.keyFile(), std::ios::binary);
    std::ofstream out(next, std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
  }
  ASSERT_EQ(::chmod(next.c_str(), 0600), 0);
  auto rotated = token::KeyRing::rotate(next, {}, SystemClock::instance());
  ASSERT_TRUE(rotated) << rotated.error().message();
  auto new_tok = token::mint(*rotated, "alice@example.org", "beta.test",
                              SystemClock::instance().now(), 3600);
  ASSERT_TRUE(new_tok);
  ASSERT_EQ(::chmod(next.c_str(), 0644), 0);
  ASSERT_EQ(::rename(next.c_str(), d.keyFile().c_str()), 0);
  ASSERT_TRUE(d.waitForLog("open to group or others")) << d.logText();
  ASSERT_EQ(::chmod(d.keyFile().c_str(), 0600), 0);

  bool recognised = false;
  auto t0 = steady_clock::now();
  while (!recognised &&
         std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0).count() < 10000) {
    auto c = Client::connect(d.port());
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(query(*new_tok, "alice@example.org", "bob@beta.test")));
    recognised = startsWith(c->readReply(), "K2.7.0");
    if (!recognised) std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_TRUE(recognised) << "token of the repaired file's key not accepted\n" << d.logText();
  EXPECT_TRUE(d.waitForLog("reloaded")) << d.logText();
}

TEST(MtepdLifecycle, RunsAsTheConfiguredUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop privileges";
  passwd* pw = ::getpwnam("nobody");
  if (pw == nullptr) GTEST_SKIP() << "no user nobody";
  DaemonSettings s;
  s.user = "nobody";
  Mtepd d(s);
  ASSERT_TRUE(d.start());
  std::ifstream status("/proc/" + std::to_string(d.pid()) + "/status");
  std::string line;
  std::string uid_line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) uid_line = line;
  }
  std::istringstream fields(uid_line.substr(4));
  unsigned real = 0, effective = 0, saved = 0, fs = 0;
  fields >> real >> effective >> saved >> fs;
  EXPECT_EQ(real, pw->pw_uid) << uid_line;
  EXPECT_EQ(effective, pw->pw_uid) << uid_line;
  EXPECT_EQ(saved, pw->pw_uid) << uid_line;
  EXPECT_EQ(fs, pw->pw_uid) << uid_line;
  EXPECT_TRUE(stillServing(d)) << "the unprivileged daemon can use its store and keys";
}

TEST(MtepdLifecycle, BrokenConfigAtStartExitsOneNamingFileAndLine) {
  Mtepd d;
  d.writeConfigText("[global]\nuser = \"\"\n[mtepd]\nmax_connections = \"many\"\n");
  std::string out;
  EXPECT_EQ(runToExit(d, &out), 1);
  EXPECT_NE(out.find(d.configPath() + ":4"), std::string::npos) << out;
}

TEST(MtepdLifecycle, PortInUseAtStartExitsOneWithAClearMessage) {
  Mtepd first;
  ASSERT_TRUE(first.start());
  Mtepd second;
  // Same port as the first daemon.
  second.writeConfigText("[global]\nuser = \"\"\nstate_dir = \"" + second.stateDir() +
                         "\"\n[mtepd]\nlisten = [\"127.0.0.1:" + std::to_string(first.port()) +
                         "\"]\n");
  std::string out;
  EXPECT_EQ(runToExit(second, &out), 1);
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << out;
}

TEST(MtepdLifecycle, DetachesWritesPidFileAndRemovesItOnExit) {
  DaemonSettings s;
  s.foreground = false;
  s.pid_file = true;
  Mtepd d(s);
  ASSERT_TRUE(d.start());
  EXPECT_TRUE(stillServing(d));
  EXPECT_EQ(::getsid(d.pid()), d.pid()) << "the daemon leads its own session";
  d.signal(SIGTERM);
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    gone = processGone(d.pid());
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(gone);
  std::ifstream pid(d.pidFilePath());
  EXPECT_FALSE(pid.good()) << "pid file removed on exit";
}

}  // namespace
}  // namespace mtep::itest
