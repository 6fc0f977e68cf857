// NAME
//   policyd_lifecycle_test.cc - mtep-policyd's start-up, signals and reload
// DESCRIPTION
//   -t checks the config; SIGHUP with a broken config keeps the old one and
//   keeps serving, with a good one applies the new policy; SIGTERM exits 0,
//   after answering a request that waits for a lookup; without -f it
//   detaches and keeps a pid file; a port in use fails start-up with 1.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "policyd_harness.h"

namespace mtep::itest {
namespace {

// Runs mtep-policyd with `args` to completion; its exit status and output.
int runToExit(const std::string& args, std::string* output) {
  std::string cmd = std::string(MTEP_POLICYD_PATH) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A loopback TCP port that accepts connections (the kernel's backlog) but
// never answers: an MTEP server that hangs.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      ADD_FAILURE() << "cannot set up the silent server";
    }
    port_ = ntohs(sa.sin_port);
  }
  ~SilentServer() {
    if (fd_ >= 0) ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(PolicydLifecycle, CheckOnlyReportsOkOrTheErrorWithFileAndLine) {
  Policyd d;
  std::string out;
  EXPECT_EQ(runToExit("-t -c " + d.configPath(), &out), 0) << out;
  EXPECT_NE(out.find(": OK (listen 127.0.0.1:"), std::string::npos) << out;

  d.writeConfigText("[policyd]\nmax_connections = \"many\"\n");
  out.clear();
  EXPECT_EQ(runToExit("-t -c " + d.configPath(), &out), 1) << out;
  EXPECT_NE(out.find(d.configPath() + ":2:"), std::string::npos) << out;
}

TEST(PolicydLifecycle, BrokenConfigOnSighupKeepsTheOldOneAndServing) {
  Policyd d;
  ASSERT_TRUE(d.start());
  d.writeConfigText("[policyd]\nmax_connections = \"many\"\n");
  d.signal(SIGHUP);
  EXPECT_TRUE(d.waitForLog("keeping the previous configuration")) << d.logText();
  EXPECT_TRUE(d.waitForLog(d.configPath() + ":")) << "the error names the file and line";
  EXPECT_TRUE(policydServing(d));
}

TEST(PolicydLifecycle, GoodConfigOnSighupAppliesTheNewPolicy) {
  Policyd d;
  ASSERT_TRUE(d.start());
  EXPECT_EQ(askPolicy(d.port(), rcptRequest("a@example.org", "b@example.net", "R.1")), "DUNNO");
  EXPECT_EQ(askPolicy(d.port(), rcptRequest("a@example.org", "c@xyz.onion", "R.1")), "DUNNO");

  PolicydSettings strict;
  strict.extra = "[domain_defaults]\nrefuse_mixed_onion = true\n";
  d.writeConfig(strict);
  d.signal(SIGHUP);
  ASSERT_TRUE(d.waitForLog("configuration reloaded")) << d.logText();
  EXPECT_EQ(askPolicy(d.port(), rcptRequest("a@example.org", "b@example.net", "R.2")), "DUNNO");
  auto mixed = askPolicy(d.port(), rcptRequest("a@example.org", "c@xyz.onion", "R.2"));
  EXPECT_TRUE(startsWith(mixed, "452 4.5.3")) << mixed.value_or("<nothing>");
}

TEST(PolicydLifecycle, SigtermExitsZero) {
  Policyd d;
  ASSERT_TRUE(d.start());
  auto idle = Client::connect(d.port());  // Postfix keeps its connection open
  ASSERT_TRUE(idle);
  ASSERT_TRUE(policydServing(d));
  d.signal(SIGTERM);
  auto status = d.waitExit(10000);
  ASSERT_TRUE(status) << d.logText();
  EXPECT_EQ(*status, 0) << d.logText();
  EXPECT_TRUE(idle->waitClosed(1000));
}

TEST(PolicydLifecycle, SigtermAnswersARequestWaitingForALookupFirst) {
  SilentServer silent;
  PolicydSettings s;
  s.lookup_timeout = 2;
  s.extra = "[milter.mtep_servers]\n\"alpha.test\" = \"127.0.0.1:" +
            std::to_string(silent.port()) + "\"\n\n[domain.\"beta.test\"]\nrequire_mtep = true\n";
  Policyd d(s);
  ASSERT_TRUE(d.start());
  auto c = Client::connect(d.port());
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(policyRequest({{"request", "smtpd_access_policy"},
                                     {"protocol_state", "DATA"},
                                     {"sender", "alice@alpha.test"},
                                     {"mtep_recipients", "bob@beta.test"},
                                     {"mtep_token", "unvanquished"},
                                     {"mtep_instance", "T.1"}})));
  // The lookup hangs on the silent server until lookup_timeout.
  ASSERT_TRUE(d.waitForLog("connect from")) << d.logText();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  d.signal(SIGTERM);
  ASSERT_TRUE(d.waitForLog("SIGTERM received")) << d.logText();
  auto reply = readAction(*c, 10000);
  EXPECT_TRUE(startsWith(reply, "451 4.7.25 ")) << reply.value_or("<nothing>") << "\n"
                                                << d.logText();
  EXPECT_TRUE(c->waitClosed());
  auto status = d.waitExit(10000);
  ASSERT_TRUE(status) << d.logText();
  EXPECT_EQ(*status, 0);
}

TEST(PolicydLifecycle, DetachesAndWritesThePidFile) {
  Policyd d({.foreground = false, .pid_file = true});
  ASSERT_TRUE(d.start());
  EXPECT_GT(d.pid(), 0);
  EXPECT_NE(d.pid(), ::getpid());
  EXPECT_TRUE(policydServing(d));
}

TEST(PolicydLifecycle, PortInUseFailsStartUpWithStatusOne) {
  Policyd first;
  ASSERT_TRUE(first.start());
  Policyd second;
  second.writeConfigText("[global]\nuser = \"\"\nstate_dir = \"" + second.stateDir() +
                         "\"\n[policyd]\nlisten = [\"127.0.0.1:" + std::to_string(first.port()) +
                         "\"]\n");
  std::string out;
  EXPECT_EQ(runToExit("-f -c " + second.configPath(), &out), 1) << out;
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace mtep::itest
