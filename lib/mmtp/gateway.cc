#include "mmtp/gateway.h"

#include <chrono>
#include <ctime>
#include <utility>

#include "mmtp/address.h"
#include "util/base64.h"
#include "util/log.h"

namespace mtep::mmtp {

namespace {

const Json* member(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// data.email when it is an MMTP address; nullptr otherwise.
const std::string* emailOf(const Json& data) {
  const Json* e = member(data, "email");
  if (e == nullptr || !e->is_string() || !isAddress(e->get_ref<const std::string&>())) {
    return nullptr;
  }
  return &e->get_ref<const std::string&>();
}

Json ok() {
  Json j;
  j["status"] = "OK";
  return j;
}

bool asciiPrintable(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// A header value: as is when printable ASCII, else RFC 2047 B-encoded
// UTF-8 words (never a raw CR or LF: no header injection).
std::string headerText(std::string_view s) {
  if (asciiPrintable(s) && s.size() <= 900) return std::string(s);
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = std::min<size_t>(45, s.size() - i);
    // Never split a UTF-8 sequence.
    while (n > 1 && i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xc0) == 0x80) --n;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" +
           base64Encode(reinterpret_cast<const uint8_t*>(s.data() + i), n, false, true) + "?=";
    i += n;
  }
  return out;
}

std::string rfc5322Date(int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string dumpSafe(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// "from=<S> to=<R>" of a SEND request, printable and bounded, for logs.
std::string sendSummary(const Json& data) {
  const Json* packet = member(data, "packet");
  const Json* from = packet == nullptr ? nullptr : member(*packet, "sender");
  const Json* to = packet == nullptr ? nullptr : member(*packet, "recipient");
  auto text = [](const Json* v) {
    return v != nullptr && v->is_string() ? printableAscii(v->get_ref<const std::string&>(), 330)
                                          : std::string("?");
  };
  return "from=<" + text(from) + "> to=<" + text(to) + ">";
}

}  // namespace

Gateway::Gateway(store::Store& store, const Clock& clock, Authenticator* auth, Injector* injector,
                 std::string authserv_id, std::function<int64_t()> now_ms)
    : store_(store),
      clock_(clock),
      auth_(auth),
      injector_(injector),
      authserv_id_(std::move(authserv_id)),
      now_ms_(std::move(now_ms)),
      boxes_(store, clock) {
  if (!now_ms_) {
    now_ms_ = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

Json Gateway::greeting(bool secure, bool tls_offered) {
  Json j;
  j["status"] = "OK";
  j["message"] = secure ? "MMTP Server Ready (Secure Connection)" : "MMTP Server Ready";
  j["features"]["tls"] = tls_offered;
  j["features"]["pgp"] = true;
  return j;
}

Json Gateway::error(std::string_view message, std::string_view reason, bool temporary) {
  Json j;
  j["status"] = "ERROR";
  j["message"] = std::string(message);
  if (!reason.empty()) j["reason"] = std::string(reason);
  if (temporary) j["temporary"] = true;
  return j;
}

std::optional<Json> Gateway::handle(const Json& request, const Client& client,
                                    const config::Config& config,
                                    std::function<void(Json)> later) {
  const Json* action = member(request, "action");
  if (!request.is_object() || action == nullptr || !action->is_string()) {
    return error("Unknown action");
  }
  static const Json kEmpty = Json::object();
  const Json* d = member(request, "data");
  const Json& data = d != nullptr && d->is_object() ? *d : kEmpty;
  const std::string& a = action->get_ref<const std::string&>();
  if (a == "SEND") {
    // One log line per SEND, when its answer is known.
    auto note = [client, summary = sendSummary(data)](const Json& reply) {
      const Json* status = member(reply, "status");
      const Json* reason = member(reply, "reason");
      const Json* message = member(reply, "message");
      const Json* id = member(reply, "messageId");
      const bool okay = status != nullptr && *status == "OK";
      const bool temporary = member(reply, "temporary") != nullptr;
      log::info("mmtp: client=%s tls=%s SEND %s id=%s result=%s reason=\"%s\"",
                client.address.c_str(), client.tls ? "yes" : "no", summary.c_str(),
                id != nullptr && id->is_string() ? id->get_ref<const std::string&>().c_str() : "-",
                okay ? "ok" : (temporary ? "tempfail" : "refused"),
                printableAscii(reason != nullptr && reason->is_string()
                                   ? reason->get<std::string>()
                                   : (okay || message == nullptr ? "" : message->get<std::string>()),
                               200)
                    .c_str());
    };
    bool pending = false;
    std::function<void(Json)> logged = [later = std::move(later), note](Json reply) {
      note(reply);
      later(std::move(reply));
    };
    Json reply = send(data, client, config, &logged, &pending);
    if (pending) return std::nullopt;
    note(reply);
    return reply;
  }
  if (a == "RECEIVE") return receive(data, client, config, false);
  if (a == "RECEIVE_FILTERED") return receive(data, client, config, true);
  if (a == "CHECK") return check(data, client, config);
  if (a == "REGISTER_KEY") return registerKey(data, client);
  if (a == "REQUEST_PUBLIC_KEY") return requestKey(data);
  if (a == "GET_TAG_CATEGORIES") {
    Json j = ok();
    j["tagCategories"] = tagCategories();
    return j;
  }
  return error("Unknown action");
}

std::optional<Json> Gateway::requireOwner(const Json& data, const Client& client,
                                          std::string_view email) {
  const Json* auth = member(data, "auth");
  if (auth == nullptr) {
    return error("Authentication required",
                 "this action needs data.auth (the HASHEDPASS login) over TLS");
  }
  if (!client.tls) {
    return error("Authentication requires TLS", "log in only on the TLS listener");
  }
  if (!auth->is_string() || auth_ == nullptr) return error("Authentication failed");
  std::string user;
  switch (auth_->login(client, auth->get_ref<const std::string&>(), &user)) {
    case AuthResult::kOk:
      break;
    case AuthResult::kLimited:
      return error("Rate limit exceeded. Try again later.", "too many failed logins", true);
    case AuthResult::kTempfail:
      return error("Temporary failure, try again later", "cannot check the login now", true);
    case AuthResult::kMalformed:
      return error("Authentication failed", "data.auth is not a HASHEDPASS payload");
    case AuthResult::kFailed:
      return error("Authentication failed");
  }
  const auto mail = toMail(canonical(email));
  if (!mail || *mail != user) {
    return error("Authentication failed", "logged in as another user than the address's owner");
  }
  return std::nullopt;
}

Json Gateway::send(const Json& data, const Client& client, const config::Config& config,
                   std::function<void(Json)>* later, bool* pending) {
  const Json* packet_json = member(data, "packet");
  if (packet_json == nullptr) return error("Invalid packet", "data.packet is missing");
  PacketRead read = readPacket(*packet_json, newMessageId());
  if (!read.ok) return error(read.refusal.message, read.refusal.reason);
  Packet& p = read.packet;
  if (p.message_id.empty()) return error("Temporary failure, try again later", "no random", true);

  const std::string rdomain = std::string(domainOf(p.recipient));
  const config::DomainPolicy& rpolicy = config.policyFor(rdomain);
  if (rpolicy.mmtp_delivery == config::MmtpDelivery::kOff) {
    return error("Recipient domain not served here", "this gateway is not a relay");
  }
  const std::string sdomain = std::string(domainOf(p.sender));
  if (config.policyFor(sdomain).mmtp_delivery != config::MmtpDelivery::kOff) {
    // Our own users' addresses: only their owner sends as them.
    if (auto refused = requireOwner(data, client, p.sender)) return *refused;
  }
  if (rpolicy.mmtp_delivery == config::MmtpDelivery::kMailbox) {
    // Only a user who can log in can ever RECEIVE: mail for anyone else
    // would only fill the store.
    const AuthResult k =
        auth_ == nullptr ? AuthResult::kFailed : auth_->known(toMail(canonical(p.recipient)).value_or(""));
    if (k == AuthResult::kTempfail) {
      return error("Temporary failure, try again later", "cannot look the recipient up now", true);
    }
    if (k != AuthResult::kOk) return error("Unknown recipient", "no such mailbox here");
  }
  const int64_t now_ms = now_ms_();
  StampRead stamp = checkStamp(p, config.mmtpDifficultyFor(rdomain), now_ms,
                               config.mmtp.stamp_window * 1000);
  if (!stamp.ok) return error(stamp.refusal.message, stamp.refusal.reason, stamp.temporary);
  const std::string key = stampKey(p);
  if (key.empty()) return error("Temporary failure, try again later", "cannot hash", true);
  if (batch_ != nullptr) {
    if (Status st = batch_->open(); !st.ok()) {
      return error("Temporary failure, try again later", st.error().message(), true);
    }
  }
  auto fresh = store_.recordOnce(kStampNamespace, key, stamp.expires_at);
  if (!fresh) {
    return error("Temporary failure, try again later", "the store cannot record the stamp", true);
  }
  if (!*fresh) return error(kStampFailed, "stamp already spent");

  Json reply = ok();
  reply["message"] = "Message delivered successfully";
  reply["messageId"] = p.message_id;
  reply["encrypted"] = p.encrypted;
  reply["signed"] = p.is_signed;

  if (rpolicy.mmtp_delivery == config::MmtpDelivery::kMailbox) {
    MailboxLimits limits;
    limits.quota = config.mmtp.mailbox_quota;
    limits.size_limit = config.mmtp.mailbox_size_limit;
    limits.message_ttl = config.mmtp.message_ttl;
    Status st = boxes_.add(p.recipient, p.message_id, dumpSafe(p.json), limits);
    if (!st.ok()) {
      const bool temporary = st.error().kind() != ErrorKind::kInvalid;
      return error(temporary ? "Temporary failure, try again later" : "Mailbox full",
                   st.error().message(), temporary);
    }
    if (batch_ == nullptr) return reply;
    *pending = true;
    batch_->whenCommitted([done = std::move(*later), reply](Status committed) {
      done(committed.ok() ? reply
                          : error("Temporary failure, try again later",
                                  committed.error().message(), true));
    });
    return {};
  }
  // "mta": hand it over; the answer comes when the MTA has answered.
  if (injector_ == nullptr) {
    return error("Temporary failure, try again later", "no MTA to hand the message to", true);
  }
  const auto from = toMail(p.sender);
  const auto to = toMail(p.recipient);
  Injection inj;
  inj.mail_from = from.value_or("");
  inj.rcpt_to = to.value_or("");
  inj.message = toMessage(p, authserv_id_);
  *pending = true;
  auto hand_over = [injector = injector_, inj = std::move(inj), done = *later,
                    reply]() mutable {
    injector->inject(std::move(inj), [done = std::move(done), reply](Status st) {
      if (st.ok()) {
        done(reply);
      } else {
        const bool temporary = st.error().kind() != ErrorKind::kInvalid;
        done(error(temporary ? "Temporary failure, try again later" : "Message refused by the MTA",
                   st.error().message(), temporary));
      }
    });
  };
  if (batch_ == nullptr) {
    hand_over();
    return {};
  }
  // The stamp's record first: a packet whose spend a failed commit lost
  // is never handed over (its stamp could be used again).
  batch_->whenCommitted([hand_over = std::move(hand_over), later = std::move(*later)](
                            Status committed) mutable {
    if (committed.ok()) {
      hand_over();
    } else {
      later(error("Temporary failure, try again later", committed.error().message(), true));
    }
  });
  return {};
}

std::optional<Json> Gateway::ownerRequest(const Json& data, const Client& client,
                                          const std::string** email, const Json** filters) {
  *email = emailOf(data);
  if (*email == nullptr) return error(kInvalidEmail);
  *filters = member(data, "tagFilters");
  if (*filters != nullptr) {
    if (std::string bad = checkFilters(**filters); !bad.empty()) {
      return error("Invalid tag filters", bad);
    }
  }
  return requireOwner(data, client, **email);
}

Json Gateway::receive(const Json& data, const Client& client, const config::Config& config,
                      bool filtered) {
  const std::string* email = nullptr;
  const Json* filters = nullptr;
  if (auto refused = ownerRequest(data, client, &email, &filters)) return *refused;
  static const Json kNone;
  const Json& f = filters == nullptr ? kNone : *filters;

  auto page = boxes_.list(*email, config.mmtp.max_reply_size - 4096, config.mmtp.mailbox_quota);
  if (!page) return error("Temporary failure, try again later", page.error().message(), true);
  Json messages = Json::array();
  std::vector<std::string> taken;
  bool left = page->more;
  for (const StoredMessage& m : page->messages) {
    Json packet = parseJson(m.json);
    if (packet.is_discarded()) continue;  // cannot happen: we wrote it
    if (filtered) {
      const Json* meta = member(packet, "meta");
      const Json* tags = meta == nullptr ? nullptr : member(*meta, "tags");
      if (!matchesFilters(tags == nullptr ? kNone : *tags, f)) {
        left = true;  // stays for a later RECEIVE
        continue;
      }
    }
    messages.push_back(std::move(packet));
    taken.push_back(m.key);
  }
  if (page->too_large) {
    return error("Message too large for one reply", "raise [mmtp] max_reply_size");
  }
  // The removals join the loop turn's batch (one commit, not one per
  // message). The reply goes out before that commit: should it fail, the
  // messages are offered again, never lost.
  Status st = batch_ != nullptr && !taken.empty() ? batch_->open() : okStatus();
  if (st.ok()) st = boxes_.remove(*email, taken);
  if (!st.ok()) return error("Temporary failure, try again later", st.error().message(), true);
  // The reference's fields, in its order; "more": messages were left.
  Json out = ok();
  const size_t count = messages.size();
  out["messages"] = std::move(messages);
  out["count"] = count;
  if (filtered) out["tagFilters"] = filters == nullptr ? Json::object() : f;
  if (left) out["more"] = true;
  return out;
}

Json Gateway::check(const Json& data, const Client& client, const config::Config& config) {
  const std::string* email = nullptr;
  const Json* filters = nullptr;
  if (auto refused = ownerRequest(data, client, &email, &filters)) return *refused;
  static const Json kNone;
  const Json& f = filters == nullptr ? kNone : *filters;
  auto page = boxes_.list(*email, UINT64_MAX, config.mmtp.mailbox_quota);
  if (!page) return error("Temporary failure, try again later", page.error().message(), true);
  uint64_t matching = 0;
  Json counts = Json::object();
  for (const StoredMessage& m : page->messages) {
    const Json packet = parseJson(m.json);
    if (packet.is_discarded()) continue;
    const Json* meta = member(packet, "meta");
    const Json* tags = meta == nullptr ? nullptr : member(*meta, "tags");
    if (matchesFilters(tags == nullptr ? kNone : *tags, f)) ++matching;
    if (tags == nullptr || !tags->is_object()) continue;
    for (const auto& [category, values] : tags->items()) {
      if (!values.is_array()) continue;
      Json& c = counts[category];
      for (const Json& v : values) {
        if (!v.is_string()) continue;
        const std::string& tag = v.get_ref<const std::string&>();
        c[tag] = (c.contains(tag) ? c[tag].get<uint64_t>() : 0) + 1;
      }
    }
  }
  Json j = ok();
  j["count"] = matching;
  j["totalCount"] = page->messages.size();
  j["tagCounts"] = std::move(counts);
  return j;
}

Json Gateway::registerKey(const Json& data, const Client& client) {
  const std::string* email = emailOf(data);
  if (email == nullptr) return error(kInvalidEmail);
  const Json* key = member(data, "publicKey");
  if (key == nullptr || !key->is_string()) {
    return error("Failed to register key: publicKey must be a string");
  }
  if (auto refused = requireOwner(data, client, *email)) return *refused;
  if (std::string bad = checkPublicKey(key->get_ref<const std::string&>()); !bad.empty()) {
    return error("Failed to register key: " + bad);
  }
  Status st = boxes_.putKey(*email, key->get_ref<const std::string&>());
  if (!st.ok()) return error("Temporary failure, try again later", st.error().message(), true);
  Json j = ok();
  j["message"] = "Public key registered successfully";
  return j;
}

Json Gateway::requestKey(const Json& data) {
  const std::string* email = emailOf(data);
  if (email == nullptr) return error(kInvalidEmail);
  auto key = boxes_.getKey(*email);
  if (!key) {
    if (key.error().kind() == ErrorKind::kNotFound) {
      return error("Public key not found for this email");
    }
    return error("Temporary failure, try again later", key.error().message(), true);
  }
  Json j = ok();
  j["email"] = *email;
  j["publicKey"] = std::move(*key);
  return j;
}

std::string toMessage(const Packet& packet, std::string_view authserv_id) {
  const std::string from = toMail(packet.sender).value_or("");
  const std::string to = toMail(packet.recipient).value_or("");
  std::string m;
  m += "Authentication-Results: " + std::string(authserv_id) + "; x-mmtp-stamp=pass smtp.mailfrom=" +
       from + "\r\n";
  m += "From: <" + from + ">\r\n";
  m += "To: <" + to + ">\r\n";
  m += "Subject: " + headerText(packet.encrypted ? "Encrypted Message" : packet.subject) + "\r\n";
  m += "Date: " + rfc5322Date(packet.timestamp_ms / 1000) + "\r\n";
  m += "Message-ID: <" + packet.message_id + "@" + std::string(authserv_id) + ">\r\n";
  m += "X-MMTP-Id: " + packet.message_id + "\r\n";
  m += "X-MMTP-Timestamp: " + std::to_string(packet.timestamp_ms) + "\r\n";
  m += "X-MMTP-Type: " + packet.type + "\r\n";
  const Json* meta = member(packet.json, "meta");
  const Json* tags = meta == nullptr ? nullptr : member(*meta, "tags");
  if (tags != nullptr && tags->is_object() && !tags->empty()) {
    m += "X-MMTP-Tags: " + headerText(dumpSafe(*tags)) + "\r\n";
  }
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "\r\n";
  std::string body = packet.body;
  if (packet.encrypted) {
    const Json* content = member(packet.json, "content");
    const Json* e = content == nullptr ? nullptr : member(*content, "encrypted");
    if (e != nullptr && e->is_string()) body = e->get<std::string>();
  }
  const std::string b64 =
      base64Encode(reinterpret_cast<const uint8_t*>(body.data()), body.size(), false, true);
  for (size_t i = 0; i < b64.size(); i += 76) m += b64.substr(i, 76) + "\r\n";
  return m;
}

}  // namespace mtep::mmtp
