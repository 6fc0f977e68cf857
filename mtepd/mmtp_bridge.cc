// NAME
//   mmtp_bridge.cc - the MMTP gateway's LMTP listener: mail from the MTA
//   into MMTP mailboxes and to remote MMTP domains
// DESCRIPTION
//   See mmtp_bridge.h. deliverToMmtp() decides on an MmtpBridgeBackend;
//   this file also has the real backend (the bridge's store handle, the
//   MMTP client) and the LMTP session that hands messages to the workers.

#include "mmtp_bridge.h"

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "e2ee/users.h"
#include "mmtp/address.h"
#include "mmtp/mail.h"
#include "mmtp/packet.h"
#include "outbound.h"
#include "pow/pow.h"
#include "lmtp_intake.h"
#include "server/smtp_adapter.h"
#include "smtp_session.h"
#include "store/open.h"
#include "util/base64.h"
#include "util/clock.h"
#include "util/log.h"

namespace mtep::mtepd {

struct MmtpBridge::Shared {
  std::mutex store_mu;                  // guards store
  std::unique_ptr<store::Store> store;  // the bridge's own handle
};

namespace {

using mmtp::Json;
using server::ConnectionHandle;
using server::PeerInfo;
using server::ProtocolSession;
using smtp::Reply;

constexpr size_t kMaxQuoted = 200;  // bytes of a remote server's text in a reply
constexpr uint16_t kMmtpTlsPort = 8026;

std::string domainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  return asciiLower(address.substr(at + 1));
}

const Json* member(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string stringMember(const Json& obj, std::string_view key, size_t max) {
  const Json* v = member(obj, key);
  if (v == nullptr || !v->is_string()) return {};
  return printableAscii(v->get_ref<const std::string&>(), max);
}

std::string codeOf(const Reply& r) {
  std::string s = std::to_string(r.code);
  if (r.enhanced) s += " " + r.enhanced->toString();
  return s;
}

// The real world: the bridge's store handle under its lock, the client.
class Remote final : public MmtpRemote {
 public:
  explicit Remote(mmtp::MmtpConnection c, std::string via)
      : c_(std::move(c)), via_(std::move(via)) {}
  Result<Json> request(const Json& request) override { return c_.request(request); }
  std::string via() const override { return via_; }

 private:
  mmtp::MmtpConnection c_;
  std::string via_;
};

class StoreBackend final : public MmtpBridgeBackend {
 public:
  explicit StoreBackend(MmtpBridge::Shared& shared) : shared_(shared) {}

  mmtp::AuthResult known(std::string_view user) override {
    std::lock_guard<std::mutex> lock(shared_.store_mu);
    e2ee::UserBook users(*shared_.store, SystemClock::instance());
    auto u = users.find(user);
    if (u) return mmtp::AuthResult::kOk;
    return u.error().kind() == ErrorKind::kNotFound || u.error().kind() == ErrorKind::kInvalid
               ? mmtp::AuthResult::kFailed
               : mmtp::AuthResult::kTempfail;
  }

  Status store(std::string_view owner, std::string_view message_id, std::string_view packet_json,
               const mmtp::MailboxLimits& limits) override {
    std::lock_guard<std::mutex> lock(shared_.store_mu);
    mmtp::Mailboxes boxes(*shared_.store, SystemClock::instance());
    return boxes.add(owner, message_id, packet_json, limits);
  }

  Result<std::unique_ptr<MmtpRemote>> connect(const config::Config& config, std::string_view domain,
                                              mmtp::ClientStep* failed) override {
    const mmtp::MmtpClientOptions o = mmtpRemoteOptions(config, domain);
    auto c = mmtp::connectMmtp(o, transport::systemResolver(), failed);
    if (!c) return std::move(c).error();
    return std::unique_ptr<MmtpRemote>(
        std::make_unique<Remote>(std::move(*c), transport::hostPort(o.host, o.port)));
  }

  int64_t nowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

 private:
  MmtpBridge::Shared& shared_;
};

enum class Route { kNone, kMailbox, kRemote };

// One message's work (deliverToMmtp).
class Delivery {
 public:
  Delivery(const config::Config& c, const smtp::Message& m, MmtpBridgeBackend& b)
      : c_(c),
        m_(m),
        b_(b),
        replies_(m.recipients.size()),
        ids_(m.recipients.size()),
        via_(m.recipients.size()) {}

  MmtpBridgeOutcome run() {
    const size_t n = m_.recipients.size();
    std::vector<Route> routes(n, Route::kNone);
    std::vector<std::string> domains(n);
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      domains[i] = domainOf(m_.recipients[i].address);
      if (!domains[i].empty() &&
          c_.policyFor(domains[i]).mmtp_delivery == config::MmtpDelivery::kMailbox) {
        routes[i] = Route::kMailbox;
      } else if (!domains[i].empty() && c_.mmtp.isMmtpDomain(domains[i])) {
        routes[i] = Route::kRemote;
      } else {
        decide(i, makeReply(550, {5, 1, 2}, "Not an MMTP mailbox or MMTP domain"));
        continue;
      }
      any = true;
    }
    if (any) prepare();
    if (content_) {
      for (size_t i = 0; i < n; ++i) {
        if (routes[i] == Route::kMailbox && !replies_[i]) toMailbox(i);
      }
      // Remote domains in the order they first appear; one connection each.
      std::vector<std::string> order;
      for (size_t i = 0; i < n; ++i) {
        if (routes[i] != Route::kRemote || replies_[i]) continue;
        bool seen = false;
        for (const std::string& d : order) seen = seen || d == domains[i];
        if (!seen) order.push_back(domains[i]);
      }
      for (const std::string& d : order) {
        std::vector<size_t> rcpts;
        for (size_t i = 0; i < n; ++i) {
          if (routes[i] == Route::kRemote && !replies_[i] && domains[i] == d) rcpts.push_back(i);
        }
        toRemote(d, rcpts);
      }
    }
    MmtpBridgeOutcome out;
    for (size_t i = 0; i < n; ++i) {
      out.replies.push_back(replies_[i]
                                ? *replies_[i]
                                : makeReply(451, {4, 3, 0}, "internal error in the MMTP bridge"));
    }
    out.log = logLine(out.replies);
    out.notes = std::move(notes_);
    return out;
  }

 private:
  void decide(size_t i, Reply r) {
    if (r.code / 100 != 2) note(i, r.toString());
    replies_[i] = std::move(r);
  }
  void note(size_t i, const std::string& why) {
    notes_.push_back("<" + m_.recipients[i].address + ">: " + why);
  }
  // Every MMTP recipient not yet answered gets `r`.
  void decideRest(const Reply& r) {
    for (size_t i = 0; i < replies_.size(); ++i) {
      if (!replies_[i]) decide(i, r);
    }
  }

  // The sender's MMTP form and the content, once for all recipients.
  void prepare() {
    if (!m_.from.path.empty()) sender_ = mmtp::fromMail(m_.from.path).value_or("");
    if (sender_.empty()) {
      decideRest(makeReply(550, {5, 1, 7},
                           m_.from.path.empty() ? "The null sender has no MMTP address"
                                                : "Sender <" + printableAscii(m_.from.path, 256) +
                                                      "> has no MMTP form (name)%(domain)"));
      return;
    }
    auto content = mmtp::readMail(m_.data);
    if (!content) {
      const bool limit = content.error().kind() == ErrorKind::kLimit;
      decideRest(makeReply(
          limit ? 552 : 550, limit ? smtp::EnhancedStatus{5, 3, 4} : smtp::EnhancedStatus{5, 6, 3},
          "Cannot be carried by MMTP: " + printableAscii(content.error().message(), kMaxQuoted)));
      return;
    }
    if (!content->tags_ignored.empty()) {
      notes_.push_back("tags ignored: " + printableAscii(content->tags_ignored, kMaxQuoted));
    }
    content_ = std::move(*content);
  }

  // The recipient's MMTP address; nullopt (and answered) when none.
  std::optional<std::string> recipientAddress(size_t i) {
    auto r = mmtp::fromMail(m_.recipients[i].address);
    if (!r) {
      decide(i, makeReply(550, {5, 1, 3}, "Recipient has no MMTP form (name)%(domain)"));
      return std::nullopt;
    }
    return r;
  }

  // The packet for `recipient` with a token of `difficulty`; nullopt (and
  // answered) when the token or the id cannot be made.
  std::optional<Json> packetFor(size_t i, const std::string& recipient, int difficulty,
                                std::string* id) {
    const int64_t ts = b_.nowMs();
    auto token = pow::mintMmtp(mmtp::stampResource(sender_, recipient, ts), difficulty, ts);
    if (!token) {
      decide(i,
             makeReply(451, {4, 3, 0}, "Cannot mint the MMTP stamp: " + token.error().message()));
      return std::nullopt;
    }
    *id = mmtp::newMessageId();
    if (id->empty()) {
      decide(i, makeReply(451, {4, 3, 0}, "No random message id"));
      return std::nullopt;
    }
    return mmtp::buildPacket(sender_, recipient, *content_, ts, *token, *id);
  }

  void toMailbox(size_t i) {
    auto recipient = recipientAddress(i);
    if (!recipient) return;
    const std::string user = mmtp::toMail(mmtp::canonical(*recipient)).value_or("");
    switch (b_.known(user)) {
      case mmtp::AuthResult::kOk:
        break;
      case mmtp::AuthResult::kTempfail:
        return decide(i, makeReply(451, {4, 3, 0}, "Cannot look the recipient up now"));
      default:
        return decide(i, makeReply(550, {5, 1, 1}, "No such MMTP mailbox here"));
    }
    std::string id;
    auto packet = packetFor(i, *recipient, 0, &id);  // no stamp: see mmtp_bridge.h
    if (!packet) return;
    const std::string json = packet->dump(-1, ' ', false, Json::error_handler_t::replace);
    const uint64_t max_reply = c_.mmtp.max_reply_size;
    if (json.size() + 4096 > max_reply) {
      return decide(i, makeReply(552, {5, 3, 4},
                                 "Message too large for an MMTP mailbox ([mmtp] max_reply_size)"));
    }
    mmtp::MailboxLimits limits;
    limits.quota = c_.mmtp.mailbox_quota;
    limits.size_limit = c_.mmtp.mailbox_size_limit;
    limits.message_ttl = c_.mmtp.message_ttl;
    Status st = b_.store(*recipient, id, json, limits);
    if (!st.ok()) {
      if (st.error().kind() == ErrorKind::kInvalid) {
        return decide(i, makeReply(552, {5, 2, 2}, "Mailbox full: " + st.error().message()));
      }
      return decide(i, makeReply(451, {4, 3, 0}, "Mailbox store unavailable, try again later"));
    }
    ids_[i] = id;
    decide(i, makeReply(250, {2, 0, 0}, id + " delivered to mailbox"));
  }

  void toRemote(const std::string& domain, const std::vector<size_t>& rcpts) {
    mmtp::ClientStep failed = mmtp::ClientStep::kNone;
    auto remote = b_.connect(c_, domain, &failed);
    if (!remote) {
      const bool before = failed == mmtp::ClientStep::kDial || failed == mmtp::ClientStep::kTls ||
                          failed == mmtp::ClientStep::kRequest;
      const Reply r = makeReply(
          451, before ? smtp::EnhancedStatus{4, 4, 1} : smtp::EnhancedStatus{4, 4, 2},
          "MMTP server of " + domain + ": " + printableAscii(remote.error().message(), kMaxQuoted));
      for (size_t i : rcpts) decide(i, r);
      return;
    }
    MmtpRemote& server = **remote;
    const int difficulty = c_.mmtpDifficultyFor(domain);
    for (size_t i : rcpts) {
      auto recipient = recipientAddress(i);
      if (!recipient) continue;
      std::string id;
      auto packet = packetFor(i, *recipient, difficulty, &id);
      if (!packet) continue;
      Json request;
      request["action"] = "SEND";
      request["data"]["packet"] = std::move(*packet);
      auto reply = server.request(request);
      via_[i] = server.via();
      if (!reply) {
        decide(i, makeReply(
                      451, {4, 4, 2},
                      server.via() + ": " + printableAscii(reply.error().message(), kMaxQuoted)));
        continue;
      }
      Reply r = lmtpReplyForSend(*reply, server.via());
      if (r.code / 100 == 2) ids_[i] = stringMember(*reply, "messageId", mmtp::kMaxMessageIdBytes);
      decide(i, std::move(r));
    }
  }

  std::string logLine(const std::vector<Reply>& replies) const {
    std::string mailbox, sent, refused, deferred;
    auto add = [](std::string* list, const std::string& item) {
      if (!list->empty()) list->push_back(',');
      list->append(item);
    };
    for (size_t i = 0; i < replies.size(); ++i) {
      const std::string who = "<" + printableAscii(m_.recipients[i].address, 330) + ">";
      const Reply& r = replies[i];
      if (r.code / 100 == 2) {
        if (via_[i].empty()) {
          add(&mailbox, who + ":" + ids_[i]);
        } else {
          add(&sent, who + ":" + ids_[i] + ":via=" + via_[i]);
        }
      } else if (r.code / 100 == 5) {
        add(&refused, who + ":" + codeOf(r));
      } else {
        add(&deferred, who + ":" + codeOf(r));
      }
    }
    return "from=<" + printableAscii(m_.from.path, 330) +
           "> size=" + std::to_string(m_.data.size()) + " mailbox=" + mailbox + " sent=" + sent +
           " refused=" + refused + " deferred=" + deferred;
  }

  const config::Config& c_;
  const smtp::Message& m_;
  MmtpBridgeBackend& b_;
  std::vector<std::optional<Reply>> replies_;
  std::vector<std::string> ids_;  // the message id, once delivered
  std::vector<std::string> via_;  // host:port of the remote server asked
  std::vector<std::string> notes_;
  std::string sender_;                        // MMTP form of MAIL FROM
  std::optional<mmtp::MailContent> content_;  // set once the message could be read
};

// The LMTP session: the engine's transaction, the message to a worker.
class BridgeSession final : public server::SmtpAdapter {
 public:
  BridgeSession(config::ConfigPtr config, std::shared_ptr<MmtpBridge::Shared> shared,
                server::WorkQueue& queue, const std::string& hostname)
      : SmtpAdapter(settingsOf(*config, hostname), nullptr,
                    {.idle_timeout = config->mtepd.smtp_idle_timeout}),
        config_(std::move(config)),
        shared_(std::move(shared)),
        queue_(queue) {
    installIntakeHooks(smtp().hooks(),
                       [this](smtp::ServerSession&, smtp::Message&& m) { submit(std::move(m)); });
  }

 private:
  static smtp::ServerSettings settingsOf(const config::Config& c, const std::string& hostname) {
    return intakeSettings(c, hostname, "LMTP mtepd MMTP bridge", MmtpBridge::kMaxRecipients, c.mmtp.max_reply_size);
  }

  void submit(smtp::Message&& m) {
    ConnectionHandle h = handle();
    auto message = std::make_shared<const smtp::Message>(std::move(m));
    const size_t n = message->recipients.size();
    queue_.submit<std::vector<Reply>>(
        [shared = shared_, config = config_, message] {
          StoreBackend backend(*shared);
          MmtpBridgeOutcome out = deliverToMmtp(*config, *message, backend);
          for (const std::string& why : out.notes) log::debug("mmtp-bridge: %s", why.c_str());
          log::info("mmtp-bridge: %s", out.log.c_str());
          return std::move(out.replies);
        },
        [h](std::vector<Reply> replies) {
          ProtocolSession* s = h.session();
          if (s == nullptr) return;  // the MTA left meanwhile: it retries the message
          static_cast<BridgeSession*>(s)->resume(replies);
        },
        std::vector<Reply>(n, makeReply(451, {4, 3, 0}, "internal error in the MMTP bridge")));
  }

  config::ConfigPtr config_;
  std::shared_ptr<MmtpBridge::Shared> shared_;
  server::WorkQueue& queue_;
};

}  // namespace

MmtpBridgeOutcome deliverToMmtp(const config::Config& config, const smtp::Message& message,
                                MmtpBridgeBackend& backend) {
  return Delivery(config, message, backend).run();
}

mmtp::MmtpClientOptions mmtpRemoteOptions(const config::Config& config, std::string_view domain) {
  const config::MmtpConfig& m = config.mmtp;
  mmtp::MmtpClientOptions o;
  o.dial = outboundDialOptions(config);
  if (const config::ServerAddress* s = m.serverFor(domain)) {
    o.host = s->host;
    o.port = s->port;
  } else {
    // Reached at its own name: a name whose addresses are ours or private
    // is not dialled (a static servers entry may be).
    o.host = asciiLower(domain);
    o.port = kMmtpTlsPort;
    o.dial.targets.refuse_non_public = true;
  }
  o.tls = true;
  o.tls_options.server_name = o.host;
  if (const auto* pins = m.tlsPinsFor(domain)) {
    o.tls_options.trust.pins = *pins;
  } else {
    o.tls_options.trust.verify_certificate = true;
    o.tls_options.trust.name = o.host;
    o.tls_options.trust.ca_file = m.tls_ca_file;
  }
  o.dial_timeout_ms = static_cast<int>(m.dial_timeout * 1000);
  o.reply_timeout_ms = static_cast<int>(m.reply_timeout * 1000);
  o.max_reply_bytes = MmtpBridge::kMaxSendReply;
  o.max_reply_depth = 32;
  return o;
}

smtp::Reply lmtpReplyForSend(const Json& reply, std::string_view via) {
  const std::string server(via);
  const std::string status = stringMember(reply, "status", 16);
  if (status == "OK") {
    std::string id = stringMember(reply, "messageId", mmtp::kMaxMessageIdBytes);
    return makeReply(250, {2, 0, 0}, (id.empty() ? "" : id + " ") + "sent to " + server);
  }
  if (status != "ERROR") {
    return makeReply(451, {4, 4, 2}, server + ": not an MMTP reply");
  }
  const std::string message = stringMember(reply, "message", kMaxQuoted);
  const std::string reason = stringMember(reply, "reason", kMaxQuoted);
  std::string text = server + ": " + (message.empty() ? "refused" : message);
  if (!reason.empty()) text += " (" + reason + ")";
  const Json* temporary = member(reply, "temporary");
  if (temporary != nullptr && temporary->is_boolean() && temporary->get<bool>()) {
    return makeReply(451, {4, 3, 0}, text);
  }
  if (message == "Mailbox full") return makeReply(552, {5, 2, 2}, text);
  if (message == "Unknown recipient") return makeReply(550, {5, 1, 1}, text);
  if (message == "Recipient domain not served here") return makeReply(550, {5, 1, 2}, text);
  if (message == mmtp::kInvalidEmail) return makeReply(550, {5, 1, 3}, text);
  return makeReply(550, {5, 7, 0}, text);
}

Status checkMmtpLmtpListen(const config::Config& config) {
  return requireLoopback(config.mmtp.lmtp_listen, "[mmtp] lmtp_listen",
                         "whoever reaches the MMTP bridge writes into any MMTP mailbox and sends as any local user");
}

Result<std::unique_ptr<MmtpBridge>> MmtpBridge::create(config::ConfigPtr config, event_base* base) {
  if (Status s = checkMmtpLmtpListen(*config); !s) return std::move(s).error();
  std::unique_ptr<MmtpBridge> b(new MmtpBridge());
  b->shared_ = std::make_shared<Shared>();
  auto st = store::open(config->store, SystemClock::instance());
  if (!st) {
    return Error(st.error().kind(),
                 "MMTP bridge: store " + config->store.path + ": " + st.error().message());
  }
  b->shared_->store = std::move(*st);
  auto queue = server::WorkQueue::create(base, kWorkers);
  if (!queue) return std::move(queue).error();
  b->queue_ = std::move(*queue);
  b->setConfig(std::move(config));
  return b;
}

MmtpBridge::~MmtpBridge() { stop(); }

void MmtpBridge::setConfig(config::ConfigPtr config) {
  config_ = std::move(config);
  busy_reply_ = "421 4.3.2 " + smtpHostname(*config_) + " MMTP bridge busy, try again later\r\n";
}

void MmtpBridge::stop() {
  if (queue_) queue_->stop();
}

size_t MmtpBridge::outstanding() const { return queue_ ? queue_->outstanding() : 0; }

std::unique_ptr<ProtocolSession> MmtpBridge::create(const PeerInfo& /*peer*/) {
  return std::make_unique<BridgeSession>(config_, shared_, *queue_, smtpHostname(*config_));
}

}  // namespace mtep::mtepd
