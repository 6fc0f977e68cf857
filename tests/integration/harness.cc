// NAME
//   harness.cc - temp dirs, a daemon child process, a raw client
// DESCRIPTION
//   See harness.h.

#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace mtep::itest {
namespace {

using Clock = std::chrono::steady_clock;

int64_t msSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

bool canConnect(uint16_t port) {
  auto c = Client::connect(port);
  return c.has_value();
}

}  // namespace

TempDir::TempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "mtepd-it.XXXXXX").string();
  char* made = ::mkdtemp(templ.data());
  if (made == nullptr) std::abort();
  path_ = made;
  // Traversable, so that a daemon running as "nobody" reaches its state_dir.
  ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

uint16_t freeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t len = sizeof sa;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    std::abort();
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

// --- the daemon ----------------------------------------------------------

DaemonUnderTest::DaemonUnderTest(std::string binary, std::string name, bool foreground)
    : foreground_(foreground), binary_(std::move(binary)), name_(std::move(name)) {
  port_ = freeLoopbackPort();
  std::filesystem::create_directories(stateDir());
}

DaemonUnderTest::~DaemonUnderTest() {
  if (pid_ > 0 && foreground_) {
    // A clean stop lets LeakSanitizer report in sanitizer builds.
    ::kill(pid_, SIGTERM);
    if (!waitExit(3000)) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  } else if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
  }
  // Sanitizer reports from the daemon end up in its log: fail the test.
  std::string log = logText();
  for (const char* marker : {"AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
    EXPECT_EQ(log.find(marker), std::string::npos) << name_ << " reported a sanitizer error:\n" << log;
  }
}

void DaemonUnderTest::writeConfigText(const std::string& text) {
  std::string tmp = configPath() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, configPath());
}

::testing::AssertionResult DaemonUnderTest::start() {
  std::string log_path = dir() + "/" + name_ + ".log";
  pid_t pid = ::fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork failed";
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDERR_FILENO);
      ::dup2(fd, STDOUT_FILENO);
    }
    std::string conf = configPath();
    if (foreground_) {
      ::execl(binary_.c_str(), name_.c_str(), "-f", "-c", conf.c_str(), static_cast<char*>(nullptr));
    } else {
      ::execl(binary_.c_str(), name_.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
    }
    ::_exit(127);
  }
  if (!foreground_) {
    // The parent process exits with the start-up verdict once the daemon is ready.
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return ::testing::AssertionFailure() << name_ << " failed to detach:\n" << logText();
    }
    auto t0 = Clock::now();
    while (msSince(t0) < 5000) {
      std::ifstream in(pidFilePath());
      pid_t p = 0;
      if (in >> p && p > 0) {
        pid_ = p;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ <= 0) return ::testing::AssertionFailure() << "no pid file\n" << logText();
    if (!canConnect(port_)) return ::testing::AssertionFailure() << "not listening\n" << logText();
    return ::testing::AssertionSuccess();
  }
  pid_ = pid;
  auto t0 = Clock::now();
  while (msSince(t0) < 10000) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return ::testing::AssertionFailure() << name_ << " exited during start-up:\n" << logText();
    }
    // The port listens before the store and keys are open: wait for "ready".
    if (logText().find(": ready\n") != std::string::npos && canConnect(port_)) {
      return ::testing::AssertionSuccess();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ::testing::AssertionFailure() << name_ << " did not get ready:\n" << logText();
}

std::string DaemonUnderTest::logText() const {
  std::ifstream in(dir() + "/" + name_ + ".log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t DaemonUnderTest::countInLog(std::string_view needle) const {
  std::string log = logText();
  size_t n = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}

bool DaemonUnderTest::waitForLog(std::string_view needle, int timeout_ms) const {
  auto t0 = Clock::now();
  do {
    if (logText().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (msSince(t0) < timeout_ms);
  return false;
}

void DaemonUnderTest::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> DaemonUnderTest::waitExit(int timeout_ms) {
  auto t0 = Clock::now();
  do {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (msSince(t0) < timeout_ms);
  return std::nullopt;
}

// --- the client ----------------------------------------------------------

std::optional<Client> Client::connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return Client(fd);
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

bool Client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool Client::sendSplit(std::string_view bytes, int mode, std::mt19937& rng) {
  if (mode == 0) return send(bytes);
  while (!bytes.empty()) {
    size_t n = 1;
    if (mode == 2) n = std::uniform_int_distribution<size_t>(1, bytes.size())(rng);
    if (!send(bytes.substr(0, n))) return false;
    bytes.remove_prefix(n);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void Client::shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

bool Client::readByte(char* c, int timeout_ms) {
  if (!pending_.empty()) {
    *c = pending_.front();
    pending_.erase(0, 1);
    return true;
  }
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char buf[4096];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) return false;
  pending_.assign(buf + 1, static_cast<size_t>(n - 1));
  *c = buf[0];
  return true;
}

std::optional<std::string> Client::readReply(int timeout_ms) {
  auto t0 = Clock::now();
  auto left = [&] { return std::max<int>(1, timeout_ms - static_cast<int>(msSince(t0))); };
  size_t len = 0;
  int digits = 0;
  char c = 0;
  for (;;) {
    if (!readByte(&c, left())) return std::nullopt;
    if (c == ':') break;
    if (c < '0' || c > '9' || ++digits > 6) return std::nullopt;
    len = len * 10 + static_cast<size_t>(c - '0');
  }
  if (digits == 0) return std::nullopt;
  std::string payload;
  for (size_t i = 0; i < len; ++i) {
    if (!readByte(&c, left())) return std::nullopt;
    payload.push_back(c);
  }
  if (!readByte(&c, left()) || c != ',') return std::nullopt;
  return payload;
}

bool Client::waitClosed(int timeout_ms, std::string* rest) {
  auto t0 = Clock::now();
  if (rest != nullptr) rest->append(pending_);
  pending_.clear();
  for (;;) {
    int left = timeout_ms - static_cast<int>(msSince(t0));
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset
    if (rest != nullptr) rest->append(buf, static_cast<size_t>(n));
  }
}

std::optional<std::string> Client::readUntil(std::string_view terminator, int timeout_ms) {
  auto t0 = Clock::now();
  for (;;) {
    size_t at = pending_.find(terminator);
    if (at != std::string::npos) {
      std::string out = pending_.substr(0, at);
      pending_.erase(0, at + terminator.size());
      return out;
    }
    int left = timeout_ms - static_cast<int>(msSince(t0));
    if (left <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    pending_.append(buf, static_cast<size_t>(n));
  }
}

int connectFrom(const char* source, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace mtep::itest
