// NAME
//   smtp_session.cc - the ESMTP session of [mtepd] smtp_listen
// DESCRIPTION
//   See smtp_session.h. One SMTP line at a time through smtp::LineReader;
//   each verb is a member function found in kVerbs. STARTMTEP hands the
//   bytes to a proto::ServerSession until it ends. The key service's
//   commands share one gate (keyGate: on, TLS, EHLO, login) and use the
//   factory's UserBook for reads (SQLite in WAL mode: a read never waits
//   for a writer) and the work queue for writes (SETPUBKEY, RSTSALT), so a
//   locked store never stalls the event loop (smtp_session.h KeyService).

#include "smtp_session.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <span>

#include "mtep_session.h"
#include "smtp/command.h"
#include "util/base64.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

using server::PeerInfo;
using server::ProtocolSession;
using server::SessionAction;
using server::SessionStep;

constexpr size_t kMaxLoggedHelo = 64;
constexpr size_t kMaxLoggedUser = 64;  // of a name that is no valid user name

constexpr std::string_view kStoreTrouble = "451 4.3.0 Key store unavailable, try again later";

// "192.0.2.1" from "192.0.2.1:4000", "2001:db8::1" from "[2001:db8::1]:4000":
// failed logins are counted per address, whatever the source port.
std::string hostOf(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    const size_t end = address.find(']');
    if (end != std::string_view::npos) return std::string(address.substr(1, end - 1));
  }
  const size_t colon = address.rfind(':');
  return std::string(colon == std::string_view::npos ? address : address.substr(0, colon));
}

class SmtpSession final : public ProtocolSession {
 public:
  SmtpSession(config::ConfigPtr config, const std::string& hostname, const PeerInfo& peer,
              proto::TokenChecker& checker, proto::FarewellRota& rota,
              std::shared_ptr<const server::TlsContext> tls, KeyService keys,
              const std::string& dummy_verifier)
      : config_(std::move(config)),
        hostname_(hostname),
        client_(peer.address),
        client_host_(hostOf(peer.address)),
        checker_(checker),
        rota_(rota),
        tls_(std::move(tls)),
        keys_(keys),
        dummy_verifier_(dummy_verifier),
        reader_({.max_line = config_->mtepd.smtp_max_line}) {}

  ~SmtpSession() override {
    log::info("NOQUEUE: client=%s smtp=end helo=<%s> tls=%s commands=%u mtep=%u errors=%u "
              "reason=%s",
              client_.c_str(), printableAscii(helo_, kMaxLoggedHelo).c_str(),
              tls_active_ ? "yes" : "no", commands_, mtep_requests_, errors_,
              end_reason_.c_str());
  }
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  void attach(server::ConnectionHandle handle) override { handle_ = std::move(handle); }

  SessionStep onConnect(std::string* out) override {
    *out += "220 " + hostname_ + " ESMTP mtepd\r\n";
    return {};
  }

  SessionStep onData(std::string_view in, std::string* out) override {
    SessionStep step;
    while (!in.empty()) {
      if (mtep_) return feedMtep(in, out, step);
      size_t used = 0;
      const smtp::LineState st = reader_.feed(in, &used);
      in.remove_prefix(used);
      if (st == smtp::LineState::kNeedMore) break;
      step.answered = true;
      const SessionAction a =
          st == smtp::LineState::kTooLong ? error("500 5.5.6 Error: line too long", out)
                                          : line(reader_.line(), out);
      if (a == SessionAction::kPending) {
        // A store write runs off the loop: the rest of `in` waits for it.
        step.action = a;
        step.unconsumed = in.size();
        return step;
      }
      if (a != SessionAction::kContinue) {
        step.action = a;  // STARTTLS or a close: whatever followed is dropped
        return step;
      }
    }
    return step;
  }

  SessionStep onEof(std::string* out) override {
    if (mtep_) {
      mtep_->onEof(out);
      leaveMtep();
    }
    end_reason_ = "eof";
    return {SessionAction::kCloseAfterFlush};
  }

  SessionStep onTimeout(std::string* out) override {
    if (mtep_) {
      mtep_->onTimeout(out);
      leaveMtep();
    } else {
      *out += "421 4.4.2 " + hostname_ + " Error: timeout exceeded\r\n";
    }
    end_reason_ = "timeout";
    return {SessionAction::kCloseAfterFlush};
  }

  SessionStep onLifetimeOver(std::string* out) override {
    if (mtep_) {  // MTEP's own goodbye
      mtep_->onLifetimeOver(out);
      leaveMtep();
      end_reason_ = "lifetime";
      return {SessionAction::kCloseAfterFlush};
    }
    *out += "421 4.4.2 " + hostname_ + " Error: connection time limit reached\r\n";
    end_reason_ = "lifetime";
    return {SessionAction::kCloseAfterFlush};
  }

  int64_t idleTimeoutSeconds() const override {
    return mtep_ ? config_->mtepd.idle_timeout : config_->mtepd.smtp_idle_timeout;
  }

  SSL_CTX* tlsContext() const override { return tls_ ? tls_->get() : nullptr; }

 private:
  using Handler = SessionAction (SmtpSession::*)(const std::string& args, std::string* out);
  using Keyword = std::string_view (SmtpSession::*)() const;
  struct Verb {
    std::string_view name;  // upper case
    Handler handler;
    bool needs_helo;        // 503 5.5.1 before EHLO/HELO
    Keyword keyword;        // EHLO keyword ("" = not now), or null for none
    bool key_service = false;  // listed by HELP only while the key service is on
  };
  static const Verb kVerbs[];
  static std::span<const Verb> verbs();  // kVerbs, complete

  // --- one SMTP line -------------------------------------------------------

  SessionAction line(const std::string& text, std::string* out) {
    if (skip_blank_line_ && text.empty()) {
      // The CRLF a client may send after MTEP's "Q" netstring.
      skip_blank_line_ = false;
      return SessionAction::kContinue;
    }
    skip_blank_line_ = false;
    if (!takeBudget()) {
      *out += "421 4.7.0 " + hostname_ + " Error: too many commands\r\n";
      end_reason_ = "too-many-commands";
      return SessionAction::kCloseAfterFlush;
    }
    ++commands_;
    if (auth_pending_) {  // the line after "334 " is the AUTH response, not a command
      auth_pending_ = false;
      return authResponse(text, out);
    }
    auto command = smtp::parseCommand(text);
    if (!command) return error("500 5.5.2 Error: bad syntax", out);
    const auto all = verbs();
    const auto verb = std::find_if(all.begin(), all.end(),
                                   [&](const Verb& v) { return v.name == command->verb; });
    if (verb == all.end()) return error("502 5.5.1 Error: command not implemented", out);
    if (verb->needs_helo && helo_.empty()) return error("503 5.5.1 Error: send EHLO first", out);
    return (this->*(verb->handler))(command->args, out);
  }

  SessionAction error(std::string_view reply, std::string* out) {
    if (++errors_ >= SmtpSessionFactory::kMaxErrors) {
      *out += "421 4.7.0 " + hostname_ + " Error: too many errors\r\n";
      end_reason_ = "too-many-errors";
      return SessionAction::kCloseAfterFlush;
    }
    out->append(reply);
    out->append("\r\n");
    return SessionAction::kContinue;
  }

  SessionAction reply(std::string_view text, std::string* out) {
    out->append(text);
    out->append("\r\n");
    return SessionAction::kContinue;
  }

  // One SMTP command or MTEP request more; false when none is left.
  bool takeBudget() const {
    const uint32_t max = std::max<uint32_t>(1, config_->mtepd.max_commands_per_connection);
    return commands_ + mtep_requests_ < max;
  }

  // --- the verbs -------------------------------------------------------------

  SessionAction ehlo(const std::string& args, std::string* out) {
    if (args.empty()) return error("501 5.5.4 Syntax: EHLO hostname", out);
    helo_ = args;
    *out += "250-" + hostname_ + "\r\n";
    for (const Verb& v : verbs()) {
      if (v.keyword == nullptr) continue;
      const std::string_view keyword = (this->*(v.keyword))();
      if (keyword.empty()) continue;
      *out += "250-";
      out->append(keyword);
      *out += "\r\n";
    }
    *out += "250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";
    return SessionAction::kContinue;
  }

  SessionAction helo(const std::string& args, std::string* out) {
    if (args.empty()) return error("501 5.5.4 Syntax: HELO hostname", out);
    helo_ = args;
    return reply("250 " + hostname_, out);
  }

  SessionAction startTls(const std::string& args, std::string* out) {
    if (!args.empty()) return error("501 5.5.4 Syntax: STARTTLS", out);
    if (tls_active_) return error("503 5.5.1 Error: TLS already active", out);
    if (!tls_) return reply("454 4.7.0 TLS not available", out);
    tls_active_ = true;
    helo_.clear();  // RFC 3207 4.2: forget what the client said before
    reader_.reset();
    reply("220 2.0.0 Ready to start TLS", out);
    return SessionAction::kStartTls;
  }
  std::string_view startTlsKeyword() const {
    return tls_ && !tls_active_ ? "STARTTLS" : std::string_view();
  }

  SessionAction startMtep(const std::string& args, std::string* out) {
    if (!args.empty()) return error("501 5.5.4 Syntax: STARTMTEP", out);
    proto::SessionLimits limits = sessionLimitsFrom(*config_);
    const uint32_t max = std::max<uint32_t>(1, config_->mtepd.max_commands_per_connection);
    limits.max_commands = std::max<uint32_t>(1, max - std::min(max, commands_ + mtep_requests_));
    mtep_ = std::make_unique<proto::ServerSession>(
        limits, checker_, rota_, [this](const proto::Decision& d) {
          mtep_answered_ = true;
          mtep_reason_ = std::string(d.reason);
          logMtepDecision(client_, d);
        });
    reader_.reset();
    return reply("220 2.0.0 Go ahead with MTEP", out);
  }
  std::string_view startMtepKeyword() const { return "X-STARTMTEP"; }

  SessionAction noop(const std::string& /*args*/, std::string* out) {
    return reply("250 2.0.0 Ok", out);
  }

  SessionAction rset(const std::string& args, std::string* out) {
    if (!args.empty()) return error("501 5.5.4 Syntax: RSET", out);
    return reply("250 2.0.0 Ok", out);
  }

  SessionAction help(const std::string& /*args*/, std::string* out) {
    std::string text = "214 2.0.0 Commands:";
    for (const Verb& v : verbs()) {
      if (v.key_service && !keyServiceOn()) continue;
      text += ' ';
      text.append(v.name);
    }
    return reply(text, out);
  }

  SessionAction quit(const std::string& /*args*/, std::string* out) {
    end_reason_ = "quit";
    reply("221 2.0.0 Bye", out);
    return SessionAction::kCloseAfterFlush;
  }

  // --- the key service (draft-korenenovak-smtp-e2eesign) -------------------

  bool keyServiceOn() const { return keys_.users != nullptr && config_->mtepd.user_keys; }

  // True when a key-service command may go on; else its reply is written
  // and *action says what follows.
  bool keyGate(bool needs_login, std::string* out, SessionAction* action) {
    std::string_view refusal;
    if (!keyServiceOn()) {
      refusal = "502 5.5.1 Error: command not implemented";
    } else if (!tls_active_) {
      refusal = "530 5.7.0 Must issue a STARTTLS command first";
    } else if (helo_.empty()) {
      refusal = "503 5.5.1 Error: send EHLO first";
    } else if (needs_login && user_.empty()) {
      refusal = "530 5.7.0 Authentication required";
    } else {
      return true;
    }
    *action = error(refusal, out);
    return false;
  }
  // The EHLO keywords: inside TLS only.
  std::string_view authKeyword() const {
    return keyServiceOn() && tls_active_ ? "AUTH HASHEDPASS" : std::string_view();
  }
  std::string_view signKeyword() const {
    return keyServiceOn() && tls_active_ ? "SIGNMESSAGE" : std::string_view();
  }
  std::string_view encryptKeyword() const {
    return keyServiceOn() && tls_active_ ? "ENCRYPTMESSAGE" : std::string_view();
  }

  // A 451 for a store that cannot answer, logged with the command.
  SessionAction storeTrouble(const char* what, const Error& e, std::string* out) {
    log::warning("NOQUEUE: client=%s user=<%s> %s=tempfail error=%s", client_.c_str(),
                 user_.c_str(), what, printableAscii(e.message(), 200).c_str());
    return reply(kStoreTrouble, out);
  }

  void logAuth(const std::string& user, const char* result, const std::string& more = "") {
    log::info("NOQUEUE: client=%s auth=hashedpass user=<%s> result=%s%s", client_.c_str(),
              user.c_str(), result, more.c_str());
  }

  SessionAction auth(const std::string& args, std::string* out) {
    SessionAction action = SessionAction::kContinue;
    if (!keyGate(false, out, &action)) return action;
    if (!user_.empty()) return error("503 5.5.1 Already authenticated", out);
    const std::string_view all(args);
    const size_t sp = all.find(' ');
    const std::string_view mechanism = all.substr(0, sp);
    if (mechanism.empty()) return error("501 5.5.4 Syntax: AUTH mechanism [response]", out);
    if (!asciiIEquals(mechanism, "HASHEDPASS")) {
      return error("504 5.5.4 Unrecognized authentication type", out);
    }
    if (sp == std::string_view::npos) {
      auth_pending_ = true;
      return reply("334 ", out);
    }
    return authResponse(all.substr(sp + 1), out);
  }

  // The AUTH HASHEDPASS response, initial or after "334 ".
  SessionAction authResponse(std::string_view payload, std::string* out) {
    if (payload == "*") {
      logAuth("", "cancelled");
      return error("501 5.0.0 Authentication cancelled", out);
    }
    auto parsed = e2ee::parseHashedPassAuth(payload);
    if (!parsed) {
      logAuth("", "malformed");
      return error("501 5.5.2 Invalid base64 data", out);
    }
    // A name that cannot be a user is "" for the limiter (counted per
    // client only) and checked like an unknown user.
    auto name = e2ee::normalizeUserName(parsed->username);
    const std::string user = name ? std::move(*name) : std::string();
    const std::string shown = user.empty() ? printableAscii(parsed->username, kMaxLoggedUser) : user;
    const e2ee::LoginLimits limits{config_->mtepd.auth_failures_per_client,
                                   config_->mtepd.auth_failures_per_user};
    if (keys_.limiter != nullptr) {
      const e2ee::LoginVerdict v = keys_.limiter->check(client_host_, user, limits);
      if (v != e2ee::LoginVerdict::kAllowed) {
        logAuth(shown, "limited",
                v == e2ee::LoginVerdict::kClientLimited ? " limit=client" : " limit=user");
        return error("454 4.7.0 Too many failed logins, try again later", out);
      }
    }
    std::optional<e2ee::UserRecord> record;
    if (!user.empty()) {
      auto found = keys_.users->find(user);
      if (found) {
        record = std::move(*found);
      } else if (found.error().kind() != ErrorKind::kNotFound) {
        logAuth(shown, "tempfail", " error=" + printableAscii(found.error().message(), 200));
        return reply(kStoreTrouble, out);
      }
    }
    // Always one verifier check, a dummy one for unknown users: the same
    // reply and about the same time as a wrong password.
    const bool matches = e2ee::checkVerifier(record ? record->verifier : dummy_verifier_,
                                             parsed->hash);
    if (!record || !matches) {
      if (keys_.limiter != nullptr) {
        // Made-up names are counted apart, so they cannot evict the
        // counter of an account under attack (login_limiter.h).
        keys_.limiter->recordFailure(client_host_, user, limits,
                                     record ? e2ee::Account::kExists : e2ee::Account::kUnknown);
      }
      logAuth(shown, "fail");
      return error("535 5.7.8 Authentication credentials invalid", out);
    }
    user_ = user;
    logAuth(user_, "ok");
    return reply("235 2.7.0 Authentication successful", out);
  }

  SessionAction pubkey(const std::string& args, std::string* out) {
    SessionAction action = SessionAction::kContinue;
    if (!keyGate(false, out, &action)) return action;
    std::string_view address(args);
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
      address = address.substr(1, address.size() - 2);
    }
    auto name = e2ee::normalizeUserName(address);
    if (!name) return error("501 5.5.4 Syntax: PUBKEY address", out);
    auto found = keys_.users->find(*name);
    if (!found && found.error().kind() != ErrorKind::kNotFound) {
      return storeTrouble("pubkey", found.error(), out);
    }
    if (!found || !found->pubkey) {
      // `address` passed normalizeUserName: printable, no spaces.
      return reply("550 5.1.1 No public key available for <" + std::string(address) + ">", out);
    }
    return reply("220 ed25519 " + e2ee::formatPubkeyReply(*found->pubkey), out);
  }

  // The logged-in user was removed meanwhile: logged out.
  SessionAction userGone(const char* what, std::string* out) {
    log::info("NOQUEUE: client=%s user=<%s> %s=no-such-user", client_.c_str(), user_.c_str(),
              what);
    user_.clear();
    return error("530 5.7.0 Authentication required", out);
  }

  SessionAction setPubkey(const std::string& args, std::string* out) {
    SessionAction action = SessionAction::kContinue;
    if (!keyGate(true, out, &action)) return action;
    if (args.empty()) return error("501 5.5.4 Syntax: SETPUBKEY key", out);
    auto key = e2ee::parsePublicKey(args);
    if (!key) {
      log::info("NOQUEUE: client=%s user=<%s> setpubkey=invalid", client_.c_str(), user_.c_str());
      return error("501 5.5.4 Invalid public key", out);
    }
    if (keys_.queue == nullptr || keys_.writer == nullptr) {
      return setPubkeyAnswer(keys_.users->setPublicKey(user_, *key), out);
    }
    e2ee::UserBook* writer = keys_.writer;
    keys_.queue->submit<Status>(
        [writer, user = user_, pub = *key] { return writer->setPublicKey(user, pub); },
        [handle = handle_](Status st) {
          auto* s = static_cast<SmtpSession*>(handle.session());
          if (s == nullptr) return;  // the client left meanwhile
          s->resumeWith([&](std::string* o) { return s->setPubkeyAnswer(st, o); });
        },
        Status(Error(ErrorKind::kInternal, "the key store write failed unexpectedly")));
    return SessionAction::kPending;
  }

  SessionAction setPubkeyAnswer(const Status& st, std::string* out) {
    if (!st) {
      if (st.error().kind() == ErrorKind::kNotFound) return userGone("setpubkey", out);
      return storeTrouble("setpubkey", st.error(), out);
    }
    log::info("NOQUEUE: client=%s user=<%s> setpubkey=ok", client_.c_str(), user_.c_str());
    return reply("250 2.0.0 OK", out);
  }

  // Ends a kPending key-service command with the reply `answer` writes.
  template <typename Answer>
  void resumeWith(const Answer& answer) {
    std::string out;
    SessionStep step;
    step.action = answer(&out);
    step.answered = true;
    const server::ConnectionHandle handle = handle_;  // resume() may end this session
    handle.resume(step, out);
  }

  SessionAction getSalt(const std::string& args, std::string* out) {
    SessionAction action = SessionAction::kContinue;
    if (!keyGate(true, out, &action)) return action;
    if (!args.empty()) return error("501 5.5.4 Syntax: GETSALT", out);
    auto found = keys_.users->find(user_);
    if (!found) {
      if (found.error().kind() == ErrorKind::kNotFound) return userGone("getsalt", out);
      return storeTrouble("getsalt", found.error(), out);
    }
    return reply("220 SALT " + e2ee::formatSalt(found->salt), out);
  }

  SessionAction rstSalt(const std::string& args, std::string* out) {
    SessionAction action = SessionAction::kContinue;
    if (!keyGate(true, out, &action)) return action;
    if (!args.empty()) return error("501 5.5.4 Syntax: RSTSALT", out);
    if (keys_.queue == nullptr || keys_.writer == nullptr) {
      return rstSaltAnswer(keys_.users->resetSalt(user_), out);
    }
    e2ee::UserBook* writer = keys_.writer;
    keys_.queue->submit<Result<std::string>>(
        [writer, user = user_] { return writer->resetSalt(user); },
        [handle = handle_](Result<std::string> salt) {
          auto* s = static_cast<SmtpSession*>(handle.session());
          if (s == nullptr) return;  // the client left meanwhile
          s->resumeWith([&](std::string* o) { return s->rstSaltAnswer(salt, o); });
        },
        Result<std::string>(Error(ErrorKind::kInternal, "the key store write failed unexpectedly")));
    return SessionAction::kPending;
  }

  SessionAction rstSaltAnswer(const Result<std::string>& salt, std::string* out) {
    if (!salt) {
      if (salt.error().kind() == ErrorKind::kNotFound) return userGone("rstsalt", out);
      return storeTrouble("rstsalt", salt.error(), out);
    }
    log::info("NOQUEUE: client=%s user=<%s> rstsalt=ok", client_.c_str(), user_.c_str());
    return reply("220 SALT " + e2ee::formatSalt(*salt), out);
  }

  // --- MTEP inside the session -----------------------------------------------

  SessionStep feedMtep(std::string_view in, std::string* out, SessionStep step) {
    const auto action = mtep_->feed(in, out);
    step.answered = step.answered || mtep_answered_;
    mtep_answered_ = false;
    if (action == proto::ServerSession::Action::kClose) {
      const bool quit = mtep_reason_ == "quit";
      leaveMtep();
      if (quit) {
        skip_blank_line_ = true;  // SMTP again; the rest of `in` was dropped
      } else {
        end_reason_ = "mtep-" + mtep_reason_;
        step.action = SessionAction::kCloseAfterFlush;
      }
    }
    return step;
  }

  void leaveMtep() {
    mtep_requests_ += mtep_->commandsAnswered();
    mtep_.reset();
    reader_.reset();
  }

  config::ConfigPtr config_;  // snapshot for the life of the connection
  const std::string hostname_;
  const std::string client_;  // "ADDR:PORT" for the log
  const std::string client_host_;  // "ADDR": the login limiter counts its /64 (IPv6) or itself
  proto::TokenChecker& checker_;
  proto::FarewellRota& rota_;
  std::shared_ptr<const server::TlsContext> tls_;  // null: no STARTTLS
  KeyService keys_;                       // users null: no key service
  server::ConnectionHandle handle_;       // for the answers of store writes (kPending)
  const std::string dummy_verifier_;      // checked for unknown users
  std::string user_;                      // logged in (lower case); "" before AUTH
  smtp::LineReader reader_;
  std::unique_ptr<proto::ServerSession> mtep_;  // set between STARTMTEP and the end of MTEP
  std::string helo_;                   // the EHLO/HELO argument; "" before it (and after STARTTLS)
  std::string mtep_reason_;            // the reason of the last MTEP decision
  std::string end_reason_ = "disconnect";  // for the session-end log line
  uint32_t commands_ = 0;              // SMTP command lines taken
  uint32_t mtep_requests_ = 0;         // MTEP requests answered in finished episodes
  uint32_t errors_ = 0;
  bool tls_active_ = false;            // STARTTLS accepted
  bool mtep_answered_ = false;         // set by the decision sink during one feed
  bool skip_blank_line_ = false;       // just back from MTEP
  bool auth_pending_ = false;          // "334 " sent: the next line is the AUTH response
};

// Adding a command: a member function above and one line here. The order is
// the EHLO keyword order and HELP's.
const SmtpSession::Verb SmtpSession::kVerbs[] = {
    {"EHLO", &SmtpSession::ehlo, false, nullptr},
    {"HELO", &SmtpSession::helo, false, nullptr},
    {"STARTTLS", &SmtpSession::startTls, true, &SmtpSession::startTlsKeyword},
    {"STARTMTEP", &SmtpSession::startMtep, true, &SmtpSession::startMtepKeyword},
    // The key service checks EHLO itself, after TLS (keyGate). Its three
    // EHLO keywords ride on these entries, in the draft's order.
    {"AUTH", &SmtpSession::auth, false, &SmtpSession::authKeyword, true},
    {"PUBKEY", &SmtpSession::pubkey, false, &SmtpSession::signKeyword, true},
    {"SETPUBKEY", &SmtpSession::setPubkey, false, nullptr, true},
    {"GETSALT", &SmtpSession::getSalt, false, nullptr, true},
    {"RSTSALT", &SmtpSession::rstSalt, false, &SmtpSession::encryptKeyword, true},
    {"NOOP", &SmtpSession::noop, false, nullptr},
    {"RSET", &SmtpSession::rset, false, nullptr},
    {"HELP", &SmtpSession::help, false, nullptr},
    {"QUIT", &SmtpSession::quit, false, nullptr},
};

std::span<const SmtpSession::Verb> SmtpSession::verbs() { return kVerbs; }

}  // namespace

std::string smtpHostname(const config::Config& config) {
  if (!config.mtepd.hostname.empty()) return config.mtepd.hostname;
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return printableAscii(buf, sizeof buf);
}

SmtpSessionFactory::SmtpSessionFactory(config::ConfigPtr config, proto::TokenChecker& checker,
                                       std::shared_ptr<const server::TlsContext> tls,
                                       KeyService keys)
    : checker_(checker), tls_(std::move(tls)), keys_(keys) {
  setConfig(std::move(config));
  // A verifier of a random hash nobody knows: unknown users are checked
  // against it. Without one (no randomness) an unknown name still fails,
  // checkVerifier() is false for "", only a little faster.
  if (keys_.users != nullptr) {
    e2ee::Hash h{};
    auto salt = e2ee::randomSalt();
    if (salt) std::copy_n(salt->begin(), std::min(h.size(), salt->size()), h.begin());
    auto verifier = e2ee::makeVerifier(h);
    if (verifier) dummy_verifier_ = std::move(*verifier);
  }
}

void SmtpSessionFactory::setConfig(config::ConfigPtr config) {
  config_ = std::move(config);
  hostname_ = smtpHostname(*config_);
  busy_reply_ = "421 4.7.0 " + hostname_ + " Error: too many connections, try again later\r\n";
  client_limit_reply_ =
      "421 4.7.0 " + hostname_ + " Error: too many connections from your address\r\n";
}

std::unique_ptr<ProtocolSession> SmtpSessionFactory::create(const PeerInfo& peer) {
  return std::make_unique<SmtpSession>(config_, hostname_, peer, checker_, rota_, tls_, keys_,
                                       dummy_verifier_);
}

}  // namespace mtep::mtepd
