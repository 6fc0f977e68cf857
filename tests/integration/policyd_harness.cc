// NAME
//   policyd_harness.cc - mtep-policyd's config and policy requests
// DESCRIPTION
//   See policyd_harness.h.

#include "policyd_harness.h"

#include <sstream>

#ifndef MTEP_POLICYD_PATH
#error "MTEP_POLICYD_PATH must name the mtep-policyd binary"
#endif

namespace mtep::itest {

Policyd::Policyd(PolicydSettings settings)
    : DaemonUnderTest(MTEP_POLICYD_PATH, "mtep-policyd", settings.foreground),
      settings_(std::move(settings)) {
  writeConfig(settings_);
}

void Policyd::writeConfig(const PolicydSettings& s) {
  std::ostringstream text;
  text << "[global]\nuser = \"\"\nstate_dir = \"" << stateDir() << "\"\n\n"
       << "[log]\nlevel = \"" << s.log_level << "\"\n\n"
       << "[policyd]\nlisten = [\"127.0.0.1:" << port() << "\"]\n"
       << "max_connections = " << s.max_connections << "\n"
       << "max_requests_per_connection = " << s.max_requests << "\n"
       << "max_request_size = " << s.max_request_size << "\n"
       << "idle_timeout = " << s.idle_timeout << "\n"
       << "lookup_timeout = " << s.lookup_timeout << "\n"
       << "lookup_threads = " << s.lookup_threads << "\n";
  if (s.pid_file) text << "pid_file = \"" << pidFilePath() << "\"\n";
  text << "\n" << s.extra;
  writeConfigText(text.str());
}

std::string policyRequest(const Attributes& attributes) {
  std::string out;
  for (const auto& [name, value] : attributes) out += name + "=" + value + "\n";
  return out + "\n";
}

std::string rcptRequest(std::string_view sender, std::string_view recipient,
                        std::string_view instance, std::string_view queue_id) {
  return policyRequest({{"request", "smtpd_access_policy"},
                        {"protocol_state", "RCPT"},
                        {"protocol_name", "ESMTP"},
                        {"client_address", "192.0.2.10"},
                        {"client_name", "mail.example.net"},
                        {"client_port", "40000"},
                        {"helo_name", "mail.example.net"},
                        {"sender", std::string(sender)},
                        {"recipient", std::string(recipient)},
                        {"recipient_count", "0"},
                        {"queue_id", std::string(queue_id)},
                        {"instance", std::string(instance)},
                        {"size", "0"},
                        {"server_address", "127.0.0.1"},
                        {"server_port", "25"}});
}

std::optional<std::string> readAction(Client& c, int timeout_ms) {
  auto reply = c.readUntil("\n\n", timeout_ms);
  if (!reply || reply->rfind("action=", 0) != 0) return std::nullopt;
  return reply->substr(7);
}

std::optional<std::string> askPolicy(uint16_t port, std::string_view request) {
  auto c = Client::connect(port);
  if (!c || !c->send(request)) return std::nullopt;
  return readAction(*c);
}

::testing::AssertionResult policydServing(const Policyd& d) {
  auto reply = askPolicy(d.port(), rcptRequest("check@example.org", "rcpt@example.net"));
  if (reply != "DUNNO") {
    return ::testing::AssertionFailure() << "a fresh connection got "
                                         << reply.value_or("<nothing>") << "\n"
                                         << d.logText();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace mtep::itest
