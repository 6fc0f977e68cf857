// NAME
//   mtepd_harness.cc - mtepd's config, tokens minted and revoked on its files
// DESCRIPTION
//   See mtepd_harness.h.

#include "mtepd_harness.h"

#include <sstream>

#include "store/store.h"
#include "token/token.h"
#include "util/clock.h"

#ifndef MTEPD_PATH
#error "MTEPD_PATH must name the mtepd binary"
#endif

namespace mtep::itest {

std::string ns(std::string_view payload) {
  return std::to_string(payload.size()) + ":" + std::string(payload) + ",";
}

std::string query(std::string_view token, std::string_view sender, std::string_view recipient) {
  std::string inner = ns("?") + ns(token);
  if (!sender.empty() || !recipient.empty()) inner += ns(sender);
  if (!recipient.empty()) inner += ns(recipient);
  return ns(inner);
}

// --- the daemon ----------------------------------------------------------

Mtepd::Mtepd(DaemonSettings settings)
    : DaemonUnderTest(MTEPD_PATH, "mtepd", settings.foreground), settings_(std::move(settings)) {
  writeConfig(settings_);
}

void Mtepd::writeConfig(const DaemonSettings& s) {
  std::ostringstream text;
  text << "[global]\nuser = \"" << s.user << "\"\nstate_dir = \"" << stateDir() << "\"\n\n"
       << "[log]\nlevel = \"" << s.log_level << "\"\n\n"
       << "[mtepd]\nlisten = [\"127.0.0.1:" << port() << "\"]\n"
       << "max_connections = " << s.max_connections << "\n"
       << "max_commands_per_connection = " << s.max_commands << "\n"
       << "max_request_size = " << s.max_request_size << "\n"
       << "idle_timeout = " << s.idle_timeout << "\n";
  if (s.pid_file) text << "pid_file = \"" << pidFilePath() << "\"\n";
  text << "\n" << s.extra;
  writeConfigText(text.str());
}

std::string Mtepd::mint(const std::string& sender, int64_t ttl, int64_t now_offset) const {
  return mintFor(sender, "", ttl, now_offset);
}

std::string Mtepd::mintFor(const std::string& sender, const std::string& recipient_domain,
                           int64_t ttl, int64_t now_offset) const {
  auto ring = token::KeyRing::load(keyFile(), {}, SystemClock::instance());
  if (!ring) {
    ADD_FAILURE() << "cannot load " << keyFile() << ": " << ring.error().message();
    return {};
  }
  const int64_t now = SystemClock::instance().now() + now_offset;
  auto tok = recipient_domain.empty()
                 ? token::mintV1(*ring, sender, now, ttl)
                 : token::mint(*ring, sender, recipient_domain, now, ttl);
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
