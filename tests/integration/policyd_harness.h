#pragma once
// NAME
//   policyd_harness.h - runs the real mtep-policyd on loopback
// SUMMARY
//   Policyd d({.idle_timeout = 1});
//   ASSERT_TRUE(d.start());
//   EXPECT_EQ(askPolicy(d.port(), rcptRequest("a@b.example", "c@d.example")), "DUNNO");
// DESCRIPTION
//   A DaemonUnderTest (harness.h) with a config rendered from
//   PolicydSettings; `extra` adds sections ([domain."x"], [milter]).
//   Requests are built as Postfix sends them at RCPT; replies are read up
//   to their empty line and returned without "action=".

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness.h"

namespace mtep::itest {

struct PolicydSettings {
  uint32_t max_connections = 100;
  uint32_t max_requests = 1000000;   // max_requests_per_connection
  uint32_t max_request_size = 65536;
  int idle_timeout = 30;             // seconds
  int lookup_timeout = 3;            // seconds
  uint32_t lookup_threads = 2;
  bool foreground = true;            // -f
  bool pid_file = false;             // write <dir>/mtep-policyd.pid
  std::string log_level = "debug";
  std::string extra{};               // appended verbatim (more sections)
};

class Policyd final : public DaemonUnderTest {
 public:
  explicit Policyd(PolicydSettings settings = {});
  void writeConfig(const PolicydSettings& settings);

 private:
  PolicydSettings settings_;
};

using Attributes = std::vector<std::pair<std::string, std::string>>;

// "name=value\n" lines and the empty line.
std::string policyRequest(const Attributes& attributes);
// What Postfix sends at RCPT (request, protocol_state, sender, recipient,
// instance, client_address, ...).
std::string rcptRequest(std::string_view sender, std::string_view recipient,
                        std::string_view instance = "1A2B.1", std::string_view queue_id = "");

// Reads one reply; the action (without "action="), or nullopt when the
// connection closed or timed out, or the reply is not "action=...".
std::optional<std::string> readAction(Client& c, int timeout_ms = 5000);
// Connects, sends, reads one reply.
std::optional<std::string> askPolicy(uint16_t port, std::string_view request);

// A fresh connection still gets DUNNO for a plain request.
::testing::AssertionResult policydServing(const Policyd& d);

}  // namespace mtep::itest
