// PidFile, raiseFileLimit and disableNagleOnTcpListeners (lib/sys/daemon.h). Daemonizer forks and
// exits the parent: it is exercised through the real daemons
// (tests/integration/mtepd_lifecycle_test.cc, tests/milter/).
#include "sys/daemon.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace mtep::sys {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mtep-daemon-test.XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(PidFile, HoldsOurPidAndIsRemovedWhenDestroyed) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/x.pid";
  {
    auto pid = PidFile::create(path);
    ASSERT_TRUE(pid.ok()) << pid.error().message();
    EXPECT_EQ(readFile(path), std::to_string(::getpid()) + "\n");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(PidFile, OverwritesAStaleFile) {
  TempDir dir;
  const std::string path = dir.path() + "/x.pid";
  std::ofstream(path) << "999999999\nleftover text\n";
  auto pid = PidFile::create(path);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  EXPECT_EQ(readFile(path), std::to_string(::getpid()) + "\n");
}

// O_EXCL: the old open(O_CREAT) without it truncated and wrote whatever
// file stood at the path, as root: a hard link to /etc/passwd, say.
TEST(PidFile, NeverWritesIntoAFilePlacedAtThePath) {
  TempDir dir;
  const std::string victim = dir.path() + "/passwd";
  const std::string path = dir.path() + "/x.pid";
  std::ofstream(victim) << "root:x:0:0:root:/root:/bin/sh\n";
  ASSERT_EQ(::link(victim.c_str(), path.c_str()), 0);
  auto pid = PidFile::create(path);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  EXPECT_EQ(readFile(victim), "root:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(readFile(path), std::to_string(::getpid()) + "\n");
}

// A daemon holds its pid file's lock for life: a second start-up is
// refused, naming the pid, and the running daemon's file stays as it is.
TEST(PidFile, FileOfARunningDaemonIsRefusedNamingItsPid) {
  TempDir dir;
  const std::string path = dir.path() + "/x.pid";
  auto first = PidFile::create(path);
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = PidFile::create(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(second.error().message().find(path), std::string::npos) << second.error().message();
  EXPECT_NE(second.error().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.error().message();
  EXPECT_EQ(readFile(path), std::to_string(::getpid()) + "\n");
}

// After a crash the lock is gone with the process: the file is stale
// whatever pid it names (after a reboot that pid may be someone else's).
TEST(PidFile, StaleFileNamingALiveUnrelatedPidIsReplaced) {
  TempDir dir;
  const std::string path = dir.path() + "/x.pid";
  std::ofstream(path) << "1\n";  // init: alive, and not us
  auto pid = PidFile::create(path);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  EXPECT_EQ(readFile(path), std::to_string(::getpid()) + "\n");
}

TEST(PidFile, EmptiedFileLeftByAnExitWithoutUnlinkIsReplaced) {
  TempDir dir;
  const std::string path = dir.path() + "/x.pid";
  std::ofstream{path};
  auto pid = PidFile::create(path);
  ASSERT_TRUE(pid.ok()) << pid.error().message();
  EXPECT_EQ(readFile(path), std::to_string(::getpid()) + "\n");
}

TEST(PidFile, RefusesSomethingThatIsNotARegularFile) {
  TempDir dir;
  const std::string path = dir.path() + "/x.pid";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto pid = PidFile::create(path);
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.error().message().find("not a regular file"), std::string::npos)
      << pid.error().message();
}

TEST(PidFile, RefusesASymlink) {
  TempDir dir;
  const std::string target = dir.path() + "/target";
  const std::string link = dir.path() + "/x.pid";
  std::ofstream(target) << "keep\n";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto pid = PidFile::create(link);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(pid.error().message().find(link), std::string::npos) << pid.error().message();
  EXPECT_EQ(readFile(target), "keep\n");
}

TEST(PidFile, NamesTheFileWhenItsDirectoryIsMissing) {
  TempDir dir;
  const std::string path = dir.path() + "/no/such/dir/x.pid";
  auto pid = PidFile::create(path);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.error().kind(), ErrorKind::kConfig);
  EXPECT_NE(pid.error().message().find(path), std::string::npos) << pid.error().message();
}

TEST(RaiseFileLimit, KeepsALimitThatIsAlreadyHighEnough) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  EXPECT_EQ(raiseFileLimit(1), before.rlim_cur);
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_cur);
}

TEST(RaiseFileLimit, RaisesTheSoftLimitUpToTheHardOne) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_max < 64) GTEST_SKIP() << "hard limit too low to test";
  // Lower the soft limit first, then ask for the hard limit back.
  rlimit lowered = lim;
  lowered.rlim_cur = 32;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  EXPECT_EQ(raiseFileLimit(lim.rlim_max), lim.rlim_max);
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, lim.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

int noDelayOf(int fd) {
  int value = -1;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &len) != 0) return -1;
  return value;
}

TEST(DisableNagleOnTcpListeners, AcceptedConnectionsInheritNoDelayOthersUntouched) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  // A TCP socket that is not listening, and a unix listener: left alone.
  const int idle = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(idle, 0);
  const int unix_listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(unix_listener, 0);
  TempDir dir;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  const std::string path = dir.path() + "/s";
  ASSERT_LT(path.size(), sizeof un.sun_path);
  std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(unix_listener, reinterpret_cast<sockaddr*>(&un), sizeof un), 0);
  ASSERT_EQ(::listen(unix_listener, 1), 0);

  ASSERT_EQ(noDelayOf(listener), 0);
  EXPECT_GE(disableNagleOnTcpListeners(), 1);
  EXPECT_EQ(noDelayOf(listener), 1);
  EXPECT_EQ(noDelayOf(idle), 0);

  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const int accepted = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  EXPECT_EQ(noDelayOf(accepted), 1);  // what libmilter's connections get
  EXPECT_EQ(noDelayOf(client), 0);
  for (int fd : {accepted, client, unix_listener, idle, listener}) ::close(fd);
}

}  // namespace
}  // namespace mtep::sys
