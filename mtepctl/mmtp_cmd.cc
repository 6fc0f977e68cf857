// mtepctl mmtp send | receive: a user's MMTP client (lib/mmtp/client.h):
// SEND a message with a stamp minted here, RECEIVE (or CHECK) one's own
// mailbox with the key service's login (doc/mmtp.md).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "e2ee/e2ee.h"
#include "e2ee_session.h"
#include "mmtp/address.h"
#include "mmtp/client.h"
#include "mmtp/json.h"
#include "mmtp/mail.h"
#include "mmtp/packet.h"
#include "mtep/client.h"
#include "pow/pow.h"
#include "util/base64.h"
#include "util/clock.h"

namespace mtep::ctl {
namespace {

// "(a)%(b)" for "(a)%(b)" or "a@b"; "" when neither.
std::string mmtpAddress(const std::string& text) {
  if (mmtp::isAddress(text)) return text;
  return mmtp::fromMail(text).value_or("");
}

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The connection: --server, TLS unless --plain; trust by --tls-fingerprint,
// else [mmtp] tls_pins for `domain`, else a certificate from --ca-file,
// [mmtp] tls_ca_file or the system store.
Result<mmtp::MmtpConnection> connect(const config::Config& cfg, const MmtpOptions& o,
                                     const std::string& domain) {
  auto at = config::parseServerAddress(o.server.server, o.plain ? 8025 : 8026);
  if (!at) return Error(ErrorKind::kInvalid, "--server: " + at.error().message());
  mmtp::MmtpClientOptions c;
  c.host = at->host;
  c.port = at->port;
  c.tls = !o.plain;
  c.dial = proto::clientOptionsFor(cfg.outbound).dial;
  c.dial_timeout_ms = o.server.timeout_seconds * 1000;
  c.reply_timeout_ms = o.server.timeout_seconds * 1000;
  if (!o.server.tls_fingerprint.empty()) {
    c.tls_options.trust.pins = {asciiLower(o.server.tls_fingerprint)};
  } else if (const auto* pins = cfg.mmtp.tlsPinsFor(domain); pins != nullptr) {
    c.tls_options.trust.pins = *pins;
  } else {
    c.tls_options.trust.verify_certificate = true;
    c.tls_options.trust.ca_file = !o.server.ca_file.empty() ? o.server.ca_file : cfg.mmtp.tls_ca_file;
  }
  mmtp::ClientStep step = mmtp::ClientStep::kNone;
  auto conn = mmtp::connectMmtp(c, transport::systemResolver(), &step);
  if (!conn) {
    return Error(conn.error().kind(), at->toString() + ": " + mmtp::clientStepName(step) + ": " +
                                          conn.error().message());
  }
  return conn;
}

// data.auth for --user, asking for the password; "" without --user.
Result<std::string> login(const MmtpOptions& o) {
  if (o.user.empty()) return std::string();
  auto password = readPassword(o.password_fd, "Password for " + o.user + ": ", false);
  if (!password) return std::move(password).error();
  auto hash = e2ee::hashedPass(o.user, *password);
  if (!hash) return std::move(hash).error();
  return e2ee::formatHashedPassAuth(o.user, *hash);
}

// Prints an ERROR reply; 2 when it says "temporary", else 1.
int refused(const mmtp::Json& reply) {
  const auto* m = reply.contains("message") && reply["message"].is_string()
                      ? &reply["message"].get_ref<const std::string&>()
                      : nullptr;
  const auto* r = reply.contains("reason") && reply["reason"].is_string()
                      ? &reply["reason"].get_ref<const std::string&>()
                      : nullptr;
  printError("server said: %s%s%s", m ? printableAscii(*m, 300).c_str() : "(no message)",
             r ? " - " : "", r ? printableAscii(*r, 300).c_str() : "");
  return reply.contains("temporary") ? kExitTrouble : kExitNo;
}

bool isOk(const mmtp::Json& reply) {
  return reply.is_object() && reply.contains("status") && reply["status"] == "OK";
}

}  // namespace

int mmtpSend(const GlobalOptions& global, const MmtpOptions& o) {
  auto cfgr = optionalConfig(global);
  if (!cfgr) return failed(cfgr.error());
  const config::Config& cfg = **cfgr;
  const std::string from = mmtpAddress(o.from);
  const std::string to = mmtpAddress(o.to);
  if (from.empty() || to.empty()) {
    printError("FROM and TO must be MMTP addresses (name)%%(domain) or mail addresses a@b");
    return kExitUsage;
  }
  auto body = readMessage(o.file);
  if (!body) return failed(body.error());
  auto auth = login(o);
  if (!auth) return failed(auth.error());
  const std::string domain(mmtp::domainOf(to));
  const int digits = o.difficulty >= 0 ? o.difficulty : cfg.mmtpDifficultyFor(domain);
  const int64_t ts = nowMs();
  auto stamp = pow::mintMmtp(mmtp::stampResource(from, to, ts), digits, ts);
  if (!stamp) return failed(stamp.error());
  mmtp::MailContent content;
  content.subject = o.subject;
  content.body = *body;
  mmtp::Json request;
  request["action"] = "SEND";
  request["data"]["packet"] = mmtp::buildPacket(from, to, content, ts, *stamp, mmtp::newMessageId());
  if (!auth->empty()) request["data"]["auth"] = *auth;
  auto conn = connect(cfg, o, domain);
  if (!conn) return failed(conn.error());
  auto reply = conn->request(request);
  if (!reply) return failed(reply.error());
  if (!isOk(*reply)) return refused(*reply);
  std::printf("sent %s\n",
              (*reply).contains("messageId") && (*reply)["messageId"].is_string()
                  ? printableAscii((*reply)["messageId"].get<std::string>(), 80).c_str()
                  : "");
  return kExitOk;
}

int mmtpReceive(const GlobalOptions& global, const MmtpOptions& o) {
  auto cfgr = optionalConfig(global);
  if (!cfgr) return failed(cfgr.error());
  const config::Config& cfg = **cfgr;
  const std::string box = mmtpAddress(o.user);
  if (box.empty()) {
    printError("--user must be a mail address with an MMTP form (a@b)");
    return kExitUsage;
  }
  mmtp::Json filters = mmtp::Json::object();
  for (const std::string& t : o.tags) {
    const size_t eq = t.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == t.size()) {
      printError("--tag must be CATEGORY=VALUE, not \"%s\"", printableAscii(t, 80).c_str());
      return kExitUsage;
    }
    filters[t.substr(0, eq)].push_back(t.substr(eq + 1));
  }
  auto auth = login(o);
  if (!auth) return failed(auth.error());
  auto conn = connect(cfg, o, std::string(mmtp::domainOf(box)));
  if (!conn) return failed(conn.error());
  mmtp::Json request;
  request["action"] = o.check ? "CHECK" : (filters.empty() ? "RECEIVE" : "RECEIVE_FILTERED");
  request["data"]["email"] = box;
  if (!filters.empty()) request["data"]["tagFilters"] = filters;
  request["data"]["auth"] = *auth;
  // RECEIVE pages ("more": true): ask again until the mailbox is empty.
  for (int page = 0; page < 1000; ++page) {
    auto reply = conn->request(request);
    if (!reply) return failed(reply.error());
    if (!isOk(*reply)) return refused(*reply);
    if (o.check) {
      std::printf("%s\n", reply->dump(-1, ' ', false, mmtp::Json::error_handler_t::replace).c_str());
      return kExitOk;
    }
    if (reply->contains("messages") && (*reply)["messages"].is_array()) {
      for (const mmtp::Json& m : (*reply)["messages"]) {
        std::printf("%s\n", m.dump(-1, ' ', false, mmtp::Json::error_handler_t::replace).c_str());
      }
    }
    if (!reply->contains("more") || request["action"] == "RECEIVE_FILTERED") break;
  }
  return kExitOk;
}

}  // namespace mtep::ctl
