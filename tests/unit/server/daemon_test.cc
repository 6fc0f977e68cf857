// NAME
//   daemon_test.cc - the daemon skeleton with a fake service
// DESCRIPTION
//   A fake service listens on 127.0.0.1:0 (one group per [mtepd] listen
//   entry of the test config, ports zeroed) and echoes lines with its
//   group's tag. Checked: each listen group is served by its own factory;
//   a bind failure names the address; SIGHUP with a broken config keeps the
//   old one and does not call apply(); with a good one apply() gets it and
//   the new connection cap holds; restart-only settings, the skeleton's and
//   the service's, are warned about; a timer whose job throws keeps
//   running; SIGTERM closes idle connections and returns 0, busy ones are
//   cut when the grace is over, a second signal ends the loop at once; the
//   service is stopped after the loop.
//   Signals are raised inside the process: libevent's handler catches them.

#include "server/daemon.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "unit/server/loop_helpers.h"
#include "util/log.h"

namespace mtep::server {
namespace {

using testing::Peer;
using testing::runUntil;

// "LINE\n" -> "TAG:LINE\n".
class TagSession final : public ProtocolSession {
 public:
  explicit TagSession(std::string tag) : tag_(std::move(tag)) {}
  SessionStep onData(std::string_view in, std::string* out) override {
    SessionStep step;
    for (char ch : in) {
      if (ch != '\n') {
        line_ += ch;
        continue;
      }
      *out += tag_ + ":" + line_ + "\n";
      line_.clear();
      step.answered = true;
    }
    return step;
  }
  SessionStep onEof(std::string* /*out*/) override { return {SessionAction::kCloseAfterFlush}; }
  SessionStep onTimeout(std::string* /*out*/) override { return {SessionAction::kCloseAfterFlush}; }
  int64_t idleTimeoutSeconds() const override { return 60; }

 private:
  std::string tag_;
  std::string line_;
};

class TagFactory final : public SessionFactory {
 public:
  explicit TagFactory(std::string tag) : tag_(std::move(tag)) {}
  const char* protocolName() const override { return "tag"; }
  std::unique_ptr<ProtocolSession> create(const PeerInfo& /*peer*/) override {
    return std::make_unique<TagSession>(tag_);
  }
  std::string_view busyReply() const override { return "busy\n"; }

 private:
  std::string tag_;
};

// What the fake service saw; outlives the service (the Daemon owns that).
struct Record {
  bool opened = false;
  std::vector<config::ConfigPtr> applied;
  int restart_only_calls = 0;
  int stopped = 0;
  int timer_runs = 0;
};

class FakeService final : public Service {
 public:
  FakeService(Record& record, int64_t grace, bool throwing_timer = false)
      : record_(record), grace_(grace), throwing_timer_(throwing_timer) {}

  DaemonSettings settings(const config::Config& c) const override {
    DaemonSettings s;
    s.section = "fake";
    for (const auto& a : c.mtepd.listen) {
      config::ListenAddress any_port = a;
      any_port.port = 0;
      s.listen.push_back({"listen_" + std::to_string(s.listen.size()), {any_port}});
    }
    s.max_connections = c.mtepd.max_connections;
    s.pid_file = c.mtepd.pid_file;
    s.shutdown_grace = grace_;
    return s;
  }
  Status open(Daemon& daemon) override {
    record_.opened = true;
    for (size_t g = 0; g < settings(*daemon.config()).listen.size(); ++g) {
      factories_.push_back(std::make_unique<TagFactory>("g" + std::to_string(g)));
    }
    if (!throwing_timer_) return okStatus();
    return daemon.addTimer(1, "fake job", [this] {
      if (++record_.timer_runs == 1) throw std::runtime_error("first run fails");
    });
  }
  SessionFactory& factory(size_t group) override { return *factories_.at(group); }
  void apply(const config::ConfigPtr& next) override { record_.applied.push_back(next); }
  void restartOnly(const config::Config& current, const config::Config& next,
                   std::vector<std::string>* changed) const override {
    ++record_.restart_only_calls;
    if (next.store.path != current.store.path) changed->push_back("[store]");
  }
  void stopped() override { ++record_.stopped; }

 private:
  Record& record_;
  int64_t grace_;
  bool throwing_timer_;
  std::vector<std::unique_ptr<TagFactory>> factories_;
};

// A temporary config file the daemon reloads from.
class ConfigFile {
 public:
  ConfigFile() {
    char tmpl[] = "/tmp/mtep-daemon-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/mtep.conf";
  }
  ~ConfigFile() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  void write(const std::string& text) const {
    std::ofstream(path_, std::ios::trunc)
        << "[global]\nuser = \"\"\nstate_dir = \"" << dir_ << "\"\n"
        << text;
  }
  config::ConfigPtr load() const {
    auto c = config::loadFile(path_);
    EXPECT_TRUE(c) << c.error().message();
    return c ? *c : nullptr;
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the peer of `fd` closed (EOF or reset), looking once, now.
bool closedNow(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char buf[256];
  return ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0;
}

void raiseCallback(evutil_socket_t, short, void* arg) {
  std::raise(static_cast<int>(reinterpret_cast<intptr_t>(arg)));
}

// Raises `sig` from inside the loop once `base` runs.
void raiseFromLoop(event_base* base, int sig) {
  timeval now{0, 0};
  event_base_once(base, -1, EV_TIMEOUT, &raiseCallback,
                  reinterpret_cast<void*>(static_cast<intptr_t>(sig)), &now);
}

struct Running {
  Record record;
  ConfigFile file;
  std::unique_ptr<Daemon> daemon;

  // Binds and opens a daemon on the config `text` ([mtepd] listen entries
  // become groups on port 0).
  ::testing::AssertionResult start(const std::string& text, int64_t grace = 1,
                                   bool throwing_timer = false) {
    file.write(text);
    auto config = file.load();
    if (!config) return ::testing::AssertionFailure() << "config";
    auto d =
        Daemon::bind("fake-daemon", std::make_unique<FakeService>(record, grace, throwing_timer),
                     config, file.path());
    if (!d) return ::testing::AssertionFailure() << d.error().message();
    daemon = std::move(*d);
    Status s = daemon->open();
    if (!s) return ::testing::AssertionFailure() << s.error().message();
    return ::testing::AssertionSuccess();
  }
  // Connects to listener `i` and waits until the daemon took the connection.
  int connect(size_t i) {
    size_t before = daemon->connections();
    int fd = connectTo(daemon->boundPorts().at(i));
    runUntil(daemon->base(), [&] { return daemon->connections() > before; });
    return fd;
  }
};

TEST(Daemon, EachListenGroupIsServedByItsOwnFactory) {
  Running r;
  ASSERT_TRUE(r.start("[mtepd]\nlisten = [\"127.0.0.1:6211\", \"127.0.0.1:6212\"]\n"));
  ASSERT_TRUE(r.record.opened);
  ASSERT_EQ(r.daemon->boundPorts().size(), 2u);
  EXPECT_EQ(r.daemon->listenSummary(), "127.0.0.1:0, 127.0.0.1:0");
  Peer a(r.connect(0));
  Peer b(r.connect(1));
  ASSERT_TRUE(a.send("x\n"));
  ASSERT_TRUE(b.send("y\n"));
  EXPECT_EQ(a.read(r.daemon->base(), 5), "g0:x\n");
  EXPECT_EQ(b.read(r.daemon->base(), 5), "g1:y\n");
}

TEST(Daemon, BindFailureNamesTheAddress) {
  int busy = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(busy, 1), 0);
  ASSERT_EQ(::getsockname(busy, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  uint16_t port = ntohs(sa.sin_port);

  // A service whose one group is the busy port (no zeroing): a plain
  // ListenAddress through the Listener.
  class BusyPortService final : public Service {
   public:
    explicit BusyPortService(uint16_t busy_port) : port_(busy_port) {}
    DaemonSettings settings(const config::Config& /*c*/) const override {
      DaemonSettings s;
      s.section = "fake";
      s.listen.push_back({"listen", {config::ListenAddress{"127.0.0.1", port_}}});
      s.max_connections = 1;
      return s;
    }
    Status open(Daemon& /*daemon*/) override { return okStatus(); }
    SessionFactory& factory(size_t /*group*/) override { return factory_; }
    void apply(const config::ConfigPtr& /*next*/) override {}

   private:
    uint16_t port_;
    TagFactory factory_{"x"};
  };
  ConfigFile file;
  file.write("");
  auto d = Daemon::bind("fake-daemon", std::make_unique<BusyPortService>(port), file.load(),
                        file.path());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(d.error().message().find("cannot listen on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << d.error().message();
  ::close(busy);
}

TEST(Daemon, SighupWithABrokenConfigKeepsTheOldOneAndDoesNotApply) {
  Running r;
  ASSERT_TRUE(r.start("[mtepd]\nmax_connections = 7\n"));
  config::ConfigPtr before = r.daemon->config();
  r.file.write("[mtepd]\nmax_connections = \"many\"\n");
  log::open("fake-daemon", true);
  ::testing::internal::CaptureStderr();
  std::raise(SIGHUP);
  testing::runFor(r.daemon->base(), 200);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("SIGHUP: " + r.file.path() + ":"), std::string::npos) << err;
  EXPECT_NE(err.find("; keeping the previous configuration"), std::string::npos) << err;
  EXPECT_TRUE(r.record.applied.empty());
  EXPECT_EQ(r.record.restart_only_calls, 0);
  EXPECT_EQ(r.daemon->config(), before);

  // The next good SIGHUP applies, from the config that was kept.
  r.file.write("[mtepd]\nmax_connections = 8\n");
  std::raise(SIGHUP);
  ASSERT_TRUE(runUntil(r.daemon->base(), [&] { return !r.record.applied.empty(); }));
  EXPECT_EQ(r.record.applied.size(), 1u);
  EXPECT_EQ(r.daemon->config()->mtepd.max_connections, 8u);
}

TEST(Daemon, SighupWithAGoodConfigAppliesItAndTheNewConnectionCap) {
  Running r;
  ASSERT_TRUE(r.start("[mtepd]\nmax_connections = 7\n"));
  r.file.write("[mtepd]\nmax_connections = 1\n");
  std::raise(SIGHUP);
  ASSERT_TRUE(runUntil(r.daemon->base(), [&] { return !r.record.applied.empty(); }));
  ASSERT_EQ(r.record.applied.size(), 1u);
  EXPECT_EQ(r.record.applied[0]->mtepd.max_connections, 1u);
  EXPECT_EQ(r.daemon->config(), r.record.applied[0]);

  Peer first(r.connect(0));
  Peer second(connectTo(r.daemon->boundPorts()[0]));
  bool closed = false;
  EXPECT_EQ(second.read(r.daemon->base(), 100, &closed), "busy\n");
  EXPECT_TRUE(closed);
  ASSERT_TRUE(first.send("still\n"));
  EXPECT_EQ(first.read(r.daemon->base(), 9), "g0:still\n");
}

TEST(Daemon, SighupWarnsAboutSettingsOnlyARestartApplies) {
  Running r;
  ASSERT_TRUE(r.start("[mtepd]\nlisten = [\"127.0.0.1:6211\"]\n"));
  r.file.write(
      "[mtepd]\nlisten = [\"127.0.0.2:6211\"]\npid_file = \"/tmp/x.pid\"\n"
      "[store]\npath = \"/tmp/elsewhere.db\"\n");
  log::open("fake-daemon", true);
  ::testing::internal::CaptureStderr();
  std::raise(SIGHUP);
  runUntil(r.daemon->base(), [&] { return !r.record.applied.empty(); });
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("SIGHUP: [fake] listen_0 changed; restart fake-daemon to apply it (still on "
                     "127.0.0.1:0)"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("SIGHUP: [fake] pid_file changed; restart fake-daemon"), std::string::npos)
      << err;
  EXPECT_NE(err.find("SIGHUP: [store] changed; restart fake-daemon"), std::string::npos) << err;
  EXPECT_EQ(err.find("[global] user changed"), std::string::npos) << err;
  EXPECT_NE(err.find("SIGHUP: configuration reloaded from " + r.file.path()), std::string::npos)
      << err;
}

TEST(Daemon, TimerWhoseJobThrowsKeepsRunning) {
  Running r;
  ASSERT_TRUE(r.start("", 1, /*throwing_timer=*/true));
  EXPECT_TRUE(runUntil(r.daemon->base(), [&] { return r.record.timer_runs >= 2; }))
      << "runs: " << r.record.timer_runs;
}

// Runs the daemon to its end; its exit status, and its log in *err.
int runCapturing(Daemon& daemon, std::string* err) {
  log::open("fake-daemon", true);
  ::testing::internal::CaptureStderr();
  int rc = daemon.run();
  *err = ::testing::internal::GetCapturedStderr();
  return rc;
}

TEST(Daemon, SigtermClosesIdleConnectionsAndReturnsZero) {
  Running r;
  ASSERT_TRUE(r.start("", /*grace=*/3600));
  int idle = r.connect(0);
  raiseFromLoop(r.daemon->base(), SIGTERM);
  // An idle connection must not wait for the hour of grace.
  std::string err;
  EXPECT_EQ(runCapturing(*r.daemon, &err), 0);
  EXPECT_NE(err.find("SIGTERM received: shutting down, 1 connection(s) open\n"), std::string::npos)
      << err;
  EXPECT_NE(err.find("stopped (0 connections cut at shutdown)"), std::string::npos) << err;
  EXPECT_EQ(r.record.stopped, 1);
  r.daemon.reset();  // what exit() does: libevent closes the last sockets
  EXPECT_TRUE(closedNow(idle));
  ::close(idle);
}

TEST(Daemon, SigtermCutsABusyConnectionWhenTheGraceIsOver) {
  Running r;
  ASSERT_TRUE(r.start("", /*grace=*/1));
  int busy = r.connect(0);
  ASSERT_EQ(::send(busy, "half a line", 11, MSG_NOSIGNAL), 11);
  testing::runFor(r.daemon->base(), 100);  // the daemon reads it
  raiseFromLoop(r.daemon->base(), SIGTERM);
  std::string err;
  EXPECT_EQ(runCapturing(*r.daemon, &err), 0);
  EXPECT_NE(err.find("shutdown grace of 1 s over, closing 1 busy connection(s)"), std::string::npos)
      << err;
  EXPECT_NE(err.find("stopped (1 connections cut at shutdown)"), std::string::npos) << err;
  EXPECT_EQ(r.record.stopped, 1);
  r.daemon.reset();
  EXPECT_TRUE(closedNow(busy));
  ::close(busy);
}

TEST(Daemon, SecondStopSignalEndsTheLoopAtOnce) {
  Running r;
  ASSERT_TRUE(r.start("", /*grace=*/3600));
  int busy = r.connect(0);
  ASSERT_EQ(::send(busy, "half a line", 11, MSG_NOSIGNAL), 11);
  testing::runFor(r.daemon->base(), 100);
  raiseFromLoop(r.daemon->base(), SIGTERM);
  raiseFromLoop(r.daemon->base(), SIGINT);
  // Without the second signal this would wait an hour (the ctest timeout fails it).
  std::string err;
  EXPECT_EQ(runCapturing(*r.daemon, &err), 0);
  EXPECT_NE(err.find("second stop signal: exiting now"), std::string::npos) << err;
  EXPECT_NE(err.find("stopped (1 connections cut at shutdown)"), std::string::npos) << err;
  ::close(busy);
}

}  // namespace
}  // namespace mtep::server
