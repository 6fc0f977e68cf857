#pragma once
// NAME
//   mtepd_harness.h - runs the real mtepd on loopback for integration tests
// SUMMARY
//   Mtepd d({.max_commands = 3});
//   ASSERT_TRUE(d.start());
//   auto c = Client::connect(d.port());
//   c->send(query(d.mint("alice@example.org"), "alice@example.org"));
//   EXPECT_THAT(c->readReply(), ...);
// DESCRIPTION
//   Each Mtepd gets its own temp directory (config, state_dir, stderr log),
//   a free loopback port found by binding port 0, and user "" (tests may run
//   as root). start() runs `mtepd -f -c CONFIG` with stderr sent to a file
//   and waits until the port answers. Tokens are minted in-process with
//   lib/token on the key file mtepd created. Requests are written as raw
//   bytes; replies are read as raw netstrings.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace mtep::itest {

// Settings rendered into the test's mtep.conf.
struct DaemonSettings {
  std::string user;  // [global] user
  uint32_t max_connections = 100;
  uint32_t max_commands = 1000;
  uint32_t max_request_size = 4096;
  int idle_timeout = 30;            // seconds
  bool foreground = true;           // -f
  bool pid_file = false;            // write <dir>/mtepd.pid
  std::string log_level = "debug";  // [log] level
  std::string extra;                // appended verbatim (more sections)
};

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

uint16_t freeLoopbackPort();

// "<len>:<payload>,"
std::string ns(std::string_view payload);
// One "?" request: token, then the sender when given.
std::string query(std::string_view token, std::string_view sender = {});

class Mtepd {
 public:
  explicit Mtepd(DaemonSettings settings = {});
  ~Mtepd();  // SIGKILL if still running
  Mtepd(const Mtepd&) = delete;
  Mtepd& operator=(const Mtepd&) = delete;

  // Starts mtepd and waits (up to 10 s) until it accepts connections.
  ::testing::AssertionResult start();
  // Rewrites the config file from settings (for SIGHUP tests).
  void writeConfig(const DaemonSettings& settings);
  void writeConfigText(const std::string& text);

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string configPath() const { return dir() + "/mtep.conf"; }
  std::string stateDir() const { return dir() + "/state"; }
  std::string keyFile() const { return stateDir() + "/token.keys"; }
  std::string dbPath() const { return stateDir() + "/mtep.db"; }
  std::string pidFilePath() const { return dir() + "/mtepd.pid"; }
  std::string logText() const;

  // Polls the stderr log for `needle`.
  bool waitForLog(std::string_view needle, int timeout_ms = 5000) const;
  void signal(int sig) const;
  // Exit status once the process exited within timeout_ms, else nullopt.
  // Only for a foreground (child) mtepd.
  std::optional<int> waitExit(int timeout_ms);

  // Mints a token with the daemon's key file: expires at now + offset + ttl.
  std::string mint(const std::string& sender, int64_t ttl = 3600, int64_t now_offset = 0) const;
  // Revokes `token` through lib/store on the daemon's database.
  ::testing::AssertionResult revoke(const std::string& token) const;

 private:
  TempDir dir_;
  DaemonSettings settings_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

class Client {
 public:
  static std::optional<Client> connect(uint16_t port);
  Client(Client&& other) noexcept : fd_(other.fd_), pending_(std::move(other.pending_)) {
    other.fd_ = -1;
  }
  Client& operator=(Client&&) = delete;
  Client(const Client&) = delete;
  ~Client();

  bool send(std::string_view bytes);
  // Sends `bytes` in pieces: mode 0 whole, 1 one byte at a time, 2 split at
  // random points chosen by `rng`; a short pause between pieces makes them
  // separate TCP segments.
  bool sendSplit(std::string_view bytes, int mode, std::mt19937& rng);
  void shutdownWrite();
  // Reads one reply netstring; its payload, or nullopt on close, timeout or
  // bad framing.
  std::optional<std::string> readReply(int timeout_ms = 5000);
  // True when the server closes (EOF or reset) within timeout_ms; bytes
  // read meanwhile are appended to *rest.
  bool waitClosed(int timeout_ms = 5000, std::string* rest = nullptr);
  int fd() const { return fd_; }

 private:
  explicit Client(int fd) : fd_(fd) {}
  bool readByte(char* c, int timeout_ms);
  int fd_ = -1;
  std::string pending_;  // bytes read but not yet consumed
};

// Connects, sends `bytes` and reads one reply: its payload, or nullopt when
// the connection or the reply failed.
std::optional<std::string> askOnce(uint16_t port, std::string_view bytes);

// Connects anew and checks that a fresh token for `sender` gets K: the daemon
// is still serving correctly.
::testing::AssertionResult stillServing(const Mtepd& d);

inline bool startsWith(const std::optional<std::string>& s, std::string_view prefix) {
  return s && s->compare(0, prefix.size(), prefix) == 0;
}

}  // namespace mtep::itest
