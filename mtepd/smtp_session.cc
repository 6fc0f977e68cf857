// NAME
//   smtp_session.cc - the ESMTP session of [mtepd] smtp_listen
// DESCRIPTION
//   See smtp_session.h. One SMTP line at a time through smtp::LineReader;
//   each verb is a member function found in kVerbs. STARTMTEP hands the
//   bytes to a proto::ServerSession until it ends.

#include "smtp_session.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <span>

#include "mtep_session.h"
#include "smtp/command.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

using server::PeerInfo;
using server::ProtocolSession;
using server::SessionAction;
using server::SessionStep;

constexpr size_t kMaxLoggedHelo = 64;

// Printable ASCII only, cut at `max`, for log lines.
std::string sanitize(std::string_view in, size_t max) {
  std::string out;
  for (const char c : in.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

class SmtpSession final : public ProtocolSession {
 public:
  SmtpSession(config::ConfigPtr config, const std::string& hostname, const PeerInfo& peer,
              proto::TokenChecker& checker, proto::FarewellRota& rota,
              std::shared_ptr<const server::TlsContext> tls)
      : config_(std::move(config)),
        hostname_(hostname),
        client_(peer.address),
        checker_(checker),
        rota_(rota),
        tls_(std::move(tls)),
        reader_({.max_line = config_->mtepd.smtp_max_line}) {}

  ~SmtpSession() override {
    log::info("NOQUEUE: client=%s smtp=end helo=<%s> tls=%s commands=%u mtep=%u errors=%u "
              "reason=%s",
              client_.c_str(), sanitize(helo_, kMaxLoggedHelo).c_str(),
              tls_active_ ? "yes" : "no", commands_, mtep_requests_, errors_,
              end_reason_.c_str());
  }
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

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
  proto::TokenChecker& checker_;
  proto::FarewellRota& rota_;
  std::shared_ptr<const server::TlsContext> tls_;  // null: no STARTTLS
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
};

// Adding a command: a member function above and one line here. The order is
// the EHLO keyword order and HELP's.
const SmtpSession::Verb SmtpSession::kVerbs[] = {
    {"EHLO", &SmtpSession::ehlo, false, nullptr},
    {"HELO", &SmtpSession::helo, false, nullptr},
    {"STARTTLS", &SmtpSession::startTls, true, &SmtpSession::startTlsKeyword},
    {"STARTMTEP", &SmtpSession::startMtep, true, &SmtpSession::startMtepKeyword},
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
  return sanitize(buf, sizeof buf);
}

SmtpSessionFactory::SmtpSessionFactory(config::ConfigPtr config, proto::TokenChecker& checker,
                                       std::shared_ptr<const server::TlsContext> tls)
    : checker_(checker), tls_(std::move(tls)) {
  setConfig(std::move(config));
}

void SmtpSessionFactory::setConfig(config::ConfigPtr config) {
  config_ = std::move(config);
  hostname_ = smtpHostname(*config_);
  busy_reply_ = "421 4.7.0 " + hostname_ + " Error: too many connections, try again later\r\n";
}

std::unique_ptr<ProtocolSession> SmtpSessionFactory::create(const PeerInfo& peer) {
  return std::make_unique<SmtpSession>(config_, hostname_, peer, checker_, rota_, tls_);
}

}  // namespace mtep::mtepd
