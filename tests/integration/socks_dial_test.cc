// socks_dial_test - transport::dial() and the SOCKS5 codec against real
// SOCKS servers on loopback: the tests' own tests/tools/fake-socks (which
// maps fake onion names to local ports and logs how each name arrived) and
// microsocks (skipped when it is not installed).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "run_program.h"
#include "socks/socks.h"
#include "transport/dialer.h"
#include "unit/transport/fake_servers.h"

namespace mtep::itest {
namespace {

using transport::DialFailure;
using transport::DialOptions;
using transport::Proxy;
using transport::Stream;
using transport::testing::CountingResolver;
using transport::testing::LoopbackServer;

// A syntactically valid-looking v3 onion name (56 base32 characters).
const std::string kOnion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
const std::string kGreeting = "220 onion peer ready\r\n";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Greets, then echoes one line.
void peerHandler(int fd) {
  transport::testing::sendAll(fd, kGreeting);
  std::string line;
  char c;
  while (line.size() < 512 && ::recv(fd, &c, 1, 0) == 1) {
    line.push_back(c);
    if (c == '\n') break;
  }
  transport::testing::sendAll(fd, "echo " + line);
}

// A child process with its output in dir/NAME.log; SIGTERM on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& log_path) {
    pid_ = spawnLogged(args, log_path);
  }
  ~Child() { (void)stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  // SIGTERM, then SIGKILL after 3 s; the exit status (-1 when killed).
  int stop() {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 300; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = -1;
    return exit_code_;
  }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

bool waitForFile(const std::string& path, Child& child, int timeout_ms = 10000) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (!readFile(path).empty()) return true;
    if (!child.running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool waitForPort(uint16_t port, Child& child, int timeout_ms = 10000) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss = transport::testing::loopbackAddress(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in)) == 0;
    ::close(fd);
    if (ok) return true;
    if (!child.running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// fake-socks with its arguments, in a temp dir; port() once it listens.
class FakeSocksProcess {
 public:
  explicit FakeSocksProcess(std::vector<std::string> extra)
      : port_file_(dir_.path() + "/port"), log_(dir_.path() + "/requests.log") {
    std::vector<std::string> args = {FAKE_SOCKS_PATH, "--port-file", port_file_, "--log", log_};
    args.insert(args.end(), extra.begin(), extra.end());
    child_.emplace(args, dir_.path() + "/fake-socks.out");
  }
  ::testing::AssertionResult start() {
    if (!child_->started() || !waitForFile(port_file_, *child_)) {
      return ::testing::AssertionFailure()
             << "fake-socks did not start: " << readFile(dir_.path() + "/fake-socks.out");
    }
    port_ = static_cast<uint16_t>(std::stoi(readFile(port_file_)));
    return ::testing::AssertionSuccess();
  }
  uint16_t port() const { return port_; }
  Proxy proxy() const { return Proxy{"127.0.0.1", port_}; }
  std::string requests() const { return readFile(log_); }
  int stop() { return child_->stop(); }

 private:
  TempDir dir_;
  std::string port_file_, log_;
  std::optional<Child> child_;
  uint16_t port_ = 0;
};

DialOptions options() {
  DialOptions o;
  o.connect_timeout_ms = 3000;
  o.proxy_timeout_ms = 3000;
  o.timeouts.read_timeout_ms = 3000;
  o.isolate_streams = false;
  return o;
}

std::string readLine(Stream& s) {
  std::string out;
  char c;
  while (out.size() < 512) {
    auto n = s.readSome(&c, 1);
    if (!n || *n == 0) break;
    out.push_back(c);
    if (c == '\n') break;
  }
  return out;
}

void expectConversation(Stream& s) {
  EXPECT_EQ(readLine(s), kGreeting);
  ASSERT_TRUE(s.writeAll("EHLO client\r\n").ok());
  EXPECT_EQ(readLine(s), "echo EHLO client\r\n");
}

TEST(FakeSocksDial, OnionNameReachesTheMappedListenerAsAName) {
  LoopbackServer peer(peerHandler);
  FakeSocksProcess proxy({"--map", kOnion + "=127.0.0.1:" + std::to_string(peer.port())});
  ASSERT_TRUE(proxy.start());
  CountingResolver resolver;
  DialOptions o = options();
  o.onion_proxy = proxy.proxy();
  DialFailure why = DialFailure::kOther;
  auto s = transport::dial(kOnion, 25, o, resolver, &why);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(why, DialFailure::kNone);
  expectConversation(**s);
  EXPECT_EQ(resolver.calls, 0);
  EXPECT_TRUE(contains(proxy.requests(), "CONNECT " + kOnion + ":25 atyp=3 user=- pass=- reply=0"))
      << proxy.requests();
}

TEST(FakeSocksDial, IsolationCredentialsArriveAtTheProxy) {
  LoopbackServer peer(peerHandler);
  FakeSocksProcess proxy({"--map", kOnion + "=127.0.0.1:" + std::to_string(peer.port())});
  ASSERT_TRUE(proxy.start());
  CountingResolver resolver;
  DialOptions o = options();
  o.onion_proxy = proxy.proxy();
  o.isolate_streams = true;
  auto s = transport::dial(kOnion, 6211, o, resolver);
  ASSERT_TRUE(s.ok()) << s.error().message();
  expectConversation(**s);
  EXPECT_TRUE(contains(proxy.requests(), "atyp=3 user=mtep pass=" + kOnion + ":6211 reply=0"))
      << proxy.requests();
}

TEST(FakeSocksDial, RequiredCredentials) {
  LoopbackServer peer(peerHandler);
  FakeSocksProcess proxy({"--map", kOnion + "=127.0.0.1:" + std::to_string(peer.port()),
                          "--require-auth", "alice:s3cret"});
  ASSERT_TRUE(proxy.start());
  CountingResolver resolver;
  DialOptions o = options();
  o.onion_proxy = proxy.proxy();
  o.proxy_username = "alice";
  o.proxy_password = "s3cret";
  auto s = transport::dial(kOnion, 25, o, resolver);
  ASSERT_TRUE(s.ok()) << s.error().message();
  expectConversation(**s);

  o.proxy_password = "wrong";
  DialFailure why = DialFailure::kNone;
  auto bad = transport::dial(kOnion, 25, o, resolver, &why);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(why, DialFailure::kProxy);
  EXPECT_TRUE(contains(bad.error().message(), "refused the username/password"))
      << bad.error().message();
}

TEST(FakeSocksDial, UnmappedNameIsHostUnreachable) {
  FakeSocksProcess proxy({});
  ASSERT_TRUE(proxy.start());
  CountingResolver resolver;
  DialOptions o = options();
  o.onion_proxy = proxy.proxy();
  DialFailure why = DialFailure::kNone;
  auto s = transport::dial(kOnion, 25, o, resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(why, DialFailure::kPeerNoAnswer);
  EXPECT_TRUE(contains(s.error().message(), "proxy replied 4 (host unreachable)"))
      << s.error().message();
  EXPECT_TRUE(contains(proxy.requests(), "CONNECT " + kOnion + ":25 atyp=3")) << proxy.requests();
}

TEST(FakeSocksDial, BadProxyModesAreClearErrors) {
  struct Case {
    const char* mode;
    DialFailure why;
    const char* text;
  };
  const std::vector<Case> cases = {
      {"garbage", DialFailure::kProxy, "broke SOCKS5"},
      {"silent", DialFailure::kProxy, "no answer within 500 ms waiting for the method reply"},
      {"close", DialFailure::kProxy, "closed the connection"},
      {"refuse", DialFailure::kPeerNoAnswer, "proxy replied 5 (connection refused)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.mode);
    FakeSocksProcess proxy({"--mode", c.mode, "--map", kOnion + "=127.0.0.1:1"});
    ASSERT_TRUE(proxy.start());
    CountingResolver resolver;
    DialOptions o = options();
    o.proxy_timeout_ms = 500;
    o.onion_proxy = proxy.proxy();
    DialFailure why = DialFailure::kNone;
    auto s = transport::dial(kOnion, 25, o, resolver, &why);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind(), ErrorKind::kTemporary);
    EXPECT_EQ(why, c.why);
    EXPECT_TRUE(contains(s.error().message(), c.text)) << s.error().message();
    EXPECT_EQ(proxy.stop(), 0) << "fake-socks exits cleanly on SIGTERM";
  }
}

// --- microsocks -------------------------------------------------------------

std::optional<std::string> findMicrosocks() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/microsocks";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

class Microsocks {
 public:
  Microsocks(const std::string& binary, std::vector<std::string> extra)
      : port_(freeLoopbackPort()) {
    std::vector<std::string> args = {binary, "-i", "127.0.0.1", "-p", std::to_string(port_)};
    args.insert(args.end(), extra.begin(), extra.end());
    child_.emplace(args, dir_.path() + "/microsocks.out");
  }
  ::testing::AssertionResult start() {
    if (!child_->started() || !waitForPort(port_, *child_)) {
      return ::testing::AssertionFailure()
             << "microsocks did not start: " << readFile(dir_.path() + "/microsocks.out");
    }
    return ::testing::AssertionSuccess();
  }
  uint16_t port() const { return port_; }

 private:
  TempDir dir_;
  uint16_t port_;
  std::optional<Child> child_;
};

// Runs the SOCKS5 codec over `s` (a plain connection to the proxy).
Status socksConnect(Stream& s, socks::Request request, socks::Client** out_client,
                    std::optional<socks::Client>* holder) {
  auto c = socks::Client::create(std::move(request));
  if (!c) return std::move(c).error();
  holder->emplace(std::move(c).value());
  socks::Client& client = **holder;
  *out_client = &client;
  if (auto st = s.writeAll(client.greeting()); !st) return st;
  char buf[300];
  for (;;) {
    auto n = s.readSome(buf, client.wanted());
    if (!n) return std::move(n).error();
    if (*n == 0) return Error(ErrorKind::kTemporary, "proxy closed");
    size_t used = 0;
    std::string out;
    switch (client.feed(std::string_view(buf, *n), &used, &out)) {
      case socks::State::kNeedMore:
        break;
      case socks::State::kSend:
        if (auto st = s.writeAll(out); !st) return st;
        break;
      case socks::State::kDone:
        return okStatus();
      case socks::State::kError:
        return Error(ErrorKind::kTemporary, client.errorText());
    }
  }
}

class MicrosocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = findMicrosocks();
    if (!binary_) GTEST_SKIP() << "microsocks is not installed";
  }
  std::optional<std::string> binary_;
};

TEST_F(MicrosocksTest, CodecConnectsToANumericLoopbackAddress) {
  LoopbackServer peer(peerHandler);
  Microsocks proxy(*binary_, {});
  ASSERT_TRUE(proxy.start());
  CountingResolver resolver;
  auto plain = transport::dial("127.0.0.1", proxy.port(), options(), resolver);
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  std::optional<socks::Client> holder;
  socks::Client* client = nullptr;
  auto st = socksConnect(**plain, {.host = "127.0.0.1", .port = peer.port(), .credentials = {}},
                         &client, &holder);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(client->method(), socks::Method::kNoAuth);
  expectConversation(**plain);
}

TEST_F(MicrosocksTest, CodecWithUsernameAndPassword) {
  LoopbackServer peer(peerHandler);
  Microsocks proxy(*binary_, {"-u", "alice", "-P", "s3cret"});
  ASSERT_TRUE(proxy.start());
  CountingResolver resolver;
  {
    auto plain = transport::dial("127.0.0.1", proxy.port(), options(), resolver);
    ASSERT_TRUE(plain.ok()) << plain.error().message();
    std::optional<socks::Client> holder;
    socks::Client* client = nullptr;
    auto st = socksConnect(**plain,
                           {.host = "127.0.0.1",
                            .port = peer.port(),
                            .credentials = socks::Credentials{"alice", "s3cret"}},
                           &client, &holder);
    ASSERT_TRUE(st.ok()) << st.error().message();
    EXPECT_EQ(client->method(), socks::Method::kUserPass);
    expectConversation(**plain);
  }
  {
    auto plain = transport::dial("127.0.0.1", proxy.port(), options(), resolver);
    ASSERT_TRUE(plain.ok()) << plain.error().message();
    std::optional<socks::Client> holder;
    socks::Client* client = nullptr;
    auto st = socksConnect(**plain,
                           {.host = "127.0.0.1",
                            .port = peer.port(),
                            .credentials = socks::Credentials{"alice", "wrong"}},
                           &client, &holder);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(client->failure(), socks::Failure::kAuthRejected) << client->errorText();
  }
}

TEST_F(MicrosocksTest, RefusedPortIsAnErrorReply) {
  Microsocks proxy(*binary_, {});
  ASSERT_TRUE(proxy.start());
  CountingResolver resolver;
  auto plain = transport::dial("127.0.0.1", proxy.port(), options(), resolver);
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  std::optional<socks::Client> holder;
  socks::Client* client = nullptr;
  auto st = socksConnect(
      **plain, {.host = "127.0.0.1", .port = transport::testing::closedPort(), .credentials = {}},
      &client, &holder);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(client->failure(), socks::Failure::kReply) << client->errorText();
  EXPECT_EQ(client->blame(), socks::Blame::kPeer) << client->errorText();
}

// dial() itself through microsocks: the onion name goes as a name, which
// microsocks cannot resolve, so it answers with an error reply; with -u/-P
// the credentials are checked first.
TEST_F(MicrosocksTest, DialSendsOnionNamesAndCredentials) {
  Microsocks proxy(*binary_, {"-u", "alice", "-P", "s3cret"});
  ASSERT_TRUE(proxy.start());
  CountingResolver resolver;
  DialOptions o = options();
  o.onion_proxy = Proxy{"127.0.0.1", proxy.port()};
  o.proxy_username = "alice";
  o.proxy_password = "s3cret";
  DialFailure why = DialFailure::kNone;
  auto s = transport::dial(kOnion, 25, o, resolver, &why);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message(), "proxy replied")) << s.error().message();
  EXPECT_EQ(resolver.calls, 0);

  o.proxy_password = "wrong";
  auto bad = transport::dial(kOnion, 25, o, resolver, &why);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(why, DialFailure::kProxy);
  EXPECT_TRUE(contains(bad.error().message(), "refused the username/password"))
      << bad.error().message();
}

}  // namespace
}  // namespace mtep::itest
