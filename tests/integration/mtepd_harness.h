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
//   Each Mtepd is a DaemonUnderTest (harness.h): its own temp directory, a
//   free loopback port, and user "" (tests may run as root). start() runs
//   `mtepd -f -c CONFIG` with stderr sent to a file and waits until the
//   port answers. Tokens are minted in-process with
//   lib/token on the key file mtepd created. Requests are written as raw
//   bytes; replies are read as raw netstrings.

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "harness.h"

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

// "<len>:<payload>,"
std::string ns(std::string_view payload);
// One "?" request: token, then the sender when given.
std::string query(std::string_view token, std::string_view sender = {},
                  std::string_view recipient = {});

class Mtepd final : public DaemonUnderTest {
 public:
  explicit Mtepd(DaemonSettings settings = {});
  ~Mtepd() override = default;

  // Rewrites the config file from settings (for SIGHUP tests).
  void writeConfig(const DaemonSettings& settings);

  std::string keyFile() const { return stateDir() + "/token.keys"; }
  std::string dbPath() const { return stateDir() + "/mtep.db"; }

  // Mints a token with the daemon's key file: expires at now + offset + ttl.
  // A token in the version-1 form (bound to the sender only, as minted
  // before tokens were bound to a recipient domain; still answered).
  std::string mint(const std::string& sender, int64_t ttl = 3600, int64_t now_offset = 0) const;
  // A token bound to `sender` and `recipient_domain` (the form minted
  // today); "" gives the version-1 form.
  std::string mintFor(const std::string& sender, const std::string& recipient_domain,
                      int64_t ttl = 3600, int64_t now_offset = 0) const;
  // Revokes `token` through lib/store on the daemon's database.
  ::testing::AssertionResult revoke(const std::string& token) const;

 private:
  DaemonSettings settings_;
};

// Connects, sends `bytes` and reads one reply: its payload, or nullopt when
// the connection or the reply failed.
std::optional<std::string> askOnce(uint16_t port, std::string_view bytes);

// Connects anew and checks that a fresh token for `sender` gets K: the daemon
// is still serving correctly.
::testing::AssertionResult stillServing(const Mtepd& d);

}  // namespace mtep::itest
