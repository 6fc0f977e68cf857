#pragma once
// NAME
//   harness.h - running a real mtep daemon on loopback for integration tests
// SUMMARY
//   class Mtepd : public DaemonUnderTest { ... writes its config ... };
//   ASSERT_TRUE(d.start());
//   auto c = Client::connect(d.port());
//   c->send(bytes); c->readReply();  c->readUntil("\n\n");
// DESCRIPTION
//   Each DaemonUnderTest gets its own temp directory (config, state_dir,
//   NAME.log with the daemon's stderr and stdout, NAME.pid), and a free
//   loopback port found by binding port 0. start() runs `BINARY -f -c
//   CONFIG` (without -f: detached, found through its pid file) and waits
//   until the log says ": ready" and the port answers. The destructor stops
//   it (SIGTERM, then SIGKILL) and fails the test if the log holds a
//   sanitizer report. Client speaks raw bytes: netstring replies for MTEP,
//   replies up to a terminator for line protocols (the policy protocol).
//   The daemons under test: mtepd_harness.h, policyd_harness.h.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace mtep::itest {

// Whether this build runs under AddressSanitizer (its quarantine keeps freed
// memory, so a daemon's RSS says little there).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

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

class DaemonUnderTest {
 public:
  // `binary`: the executable; `name`: the log and pid file stem ("mtepd").
  DaemonUnderTest(std::string binary, std::string name, bool foreground);
  virtual ~DaemonUnderTest();  // SIGTERM (SIGKILL after 3 s); sanitizer check
  DaemonUnderTest(const DaemonUnderTest&) = delete;
  DaemonUnderTest& operator=(const DaemonUnderTest&) = delete;

  // Starts the daemon and waits (up to 10 s) until it accepts connections.
  ::testing::AssertionResult start();
  void writeConfigText(const std::string& text);

  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string configPath() const { return dir() + "/mtep.conf"; }
  std::string stateDir() const { return dir() + "/state"; }
  std::string pidFilePath() const { return dir() + "/" + name_ + ".pid"; }
  std::string logText() const;

  // Polls the log for `needle`.
  bool waitForLog(std::string_view needle, int timeout_ms = 5000) const;
  // How often `needle` occurs in the log now.
  size_t countInLog(std::string_view needle) const;
  void signal(int sig) const;
  // Exit status once the process exited within timeout_ms, else nullopt.
  // Only for a foreground (child) daemon.
  std::optional<int> waitExit(int timeout_ms);

 protected:
  bool foreground_;

 private:
  std::string binary_;
  std::string name_;
  TempDir dir_;
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
  // Reads up to and including `terminator`; what came before it, or
  // nullopt on close or timeout (bytes read stay for waitClosed()).
  std::optional<std::string> readUntil(std::string_view terminator, int timeout_ms = 5000);
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

// A raw TCP connection from `source` (any 127/8 address) to
// 127.0.0.1:port, for per-client limits; the fd, or -1 on failure.
int connectFrom(const char* source, uint16_t port);

inline bool startsWith(const std::optional<std::string>& s, std::string_view prefix) {
  return s && s->compare(0, prefix.size(), prefix) == 0;
}

}  // namespace mtep::itest
