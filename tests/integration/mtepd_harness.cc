// NAME
//   mtepd_harness.cc - temp dirs, the mtepd child process, a raw client
// DESCRIPTION
//   See mtepd_harness.h.

#include "mtepd_harness.h"

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

#include "store/store.h"
#include "token/token.h"
#include "util/clock.h"

#ifndef MTEPD_PATH
#error "MTEPD_PATH must name the mtepd binary"
#endif

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

std::string ns(std::string_view payload) {
  return std::to_string(payload.size()) + ":" + std::string(payload) + ",";
}

std::string query(std::string_view token, std::string_view sender) {
  std::string inner = ns("?") + ns(token);
  if (!sender.empty()) inner += ns(sender);
  return ns(inner);
}

// --- the daemon ----------------------------------------------------------

Mtepd::Mtepd(DaemonSettings settings) : settings_(std::move(settings)) {
  port_ = freeLoopbackPort();
  std::filesystem::create_directories(stateDir());
  writeConfig(settings_);
}

Mtepd::~Mtepd() {
  if (pid_ > 0 && settings_.foreground) {
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
    EXPECT_EQ(log.find(marker), std::string::npos) << "mtepd reported a sanitizer error:\n" << log;
  }
}

void Mtepd::writeConfig(const DaemonSettings& s) {
  std::ostringstream text;
  text << "[global]\nuser = \"" << s.user << "\"\nstate_dir = \"" << stateDir() << "\"\n\n"
       << "[log]\nlevel = \"" << s.log_level << "\"\n\n"
       << "[mtepd]\nlisten = [\"127.0.0.1:" << port_ << "\"]\n"
       << "max_connections = " << s.max_connections << "\n"
       << "max_commands_per_connection = " << s.max_commands << "\n"
       << "max_request_size = " << s.max_request_size << "\n"
       << "idle_timeout = " << s.idle_timeout << "\n";
  if (s.pid_file) text << "pid_file = \"" << pidFilePath() << "\"\n";
  text << "\n" << s.extra;
  writeConfigText(text.str());
}

void Mtepd::writeConfigText(const std::string& text) {
  std::string tmp = configPath() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, configPath());
}

::testing::AssertionResult Mtepd::start() {
  std::string log_path = dir() + "/mtepd.log";
  pid_t pid = ::fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork failed";
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDERR_FILENO);
      ::dup2(fd, STDOUT_FILENO);
    }
    std::string conf = configPath();
    if (settings_.foreground) {
      ::execl(MTEPD_PATH, "mtepd", "-f", "-c", conf.c_str(), static_cast<char*>(nullptr));
    } else {
      ::execl(MTEPD_PATH, "mtepd", "-c", conf.c_str(), static_cast<char*>(nullptr));
    }
    ::_exit(127);
  }
  if (!settings_.foreground) {
    // The parent process exits with the start-up verdict once the daemon is ready.
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return ::testing::AssertionFailure() << "mtepd failed to detach:\n" << logText();
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
      return ::testing::AssertionFailure() << "mtepd exited during start-up:\n" << logText();
    }
    // The port listens before the store and keys are open: wait for "ready".
    if (logText().find(": ready\n") != std::string::npos && canConnect(port_)) {
      return ::testing::AssertionSuccess();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ::testing::AssertionFailure() << "mtepd did not get ready:\n" << logText();
}

std::string Mtepd::logText() const {
  std::ifstream in(dir() + "/mtepd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Mtepd::waitForLog(std::string_view needle, int timeout_ms) const {
  auto t0 = Clock::now();
  do {
    if (logText().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (msSince(t0) < timeout_ms);
  return false;
}

void Mtepd::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> Mtepd::waitExit(int timeout_ms) {
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

std::string Mtepd::mint(const std::string& sender, int64_t ttl, int64_t now_offset) const {
  auto ring = token::KeyRing::load(keyFile(), {}, SystemClock::instance());
  if (!ring) {
    ADD_FAILURE() << "cannot load " << keyFile() << ": " << ring.error().message();
    return {};
  }
  auto tok = token::mint(*ring, sender, SystemClock::instance().now() + now_offset, ttl);
  if (!tok) {
    ADD_FAILURE() << "mint failed: " << tok.error().message();
    return {};
  }
  return *tok;
}

::testing::AssertionResult Mtepd::revoke(const std::string& token) const {
  auto info = token::decode(token);
  if (!info) return ::testing::AssertionFailure() << "decode: " << info.error().message();
  store::SqliteOptions options;
  options.path = dbPath();
  auto st = store::openSqlite(options, SystemClock::instance());
  if (!st) return ::testing::AssertionFailure() << "store: " << st.error().message();
  Status s = (*st)->revokeToken(info->revocationId(), info->expires);
  if (!s) return ::testing::AssertionFailure() << "revoke: " << s.error().message();
  return ::testing::AssertionSuccess();
}

// --- the client ----------------------------------------------------------

std::optional<std::string> askOnce(uint16_t port, std::string_view bytes) {
  auto c = Client::connect(port);
  if (!c || !c->send(bytes)) return std::nullopt;
  return c->readReply();
}

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

::testing::AssertionResult stillServing(const Mtepd& d) {
  std::string tok = d.mint("check@example.org");
  auto c = Client::connect(d.port());
  if (!c) return ::testing::AssertionFailure() << "cannot connect any more";
  if (!c->send(query(tok, "check@example.org"))) {
    return ::testing::AssertionFailure() << "cannot send";
  }
  auto reply = c->readReply();
  if (!startsWith(reply, "K2.7.0")) {
    return ::testing::AssertionFailure() << "fresh connection got " << reply.value_or("<nothing>");
  }
  return ::testing::AssertionSuccess();
}

}  // namespace mtep::itest
