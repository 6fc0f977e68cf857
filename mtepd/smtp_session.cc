// NAME
//   smtp_session.cc - the ESMTP session of [mtepd] smtp_listen
// DESCRIPTION
//   See smtp_session.h. The SMTP state machine is lib/smtp/server_session
//   on server::SmtpAdapter; this file registers mtepd's verbs on it.
//   STARTMTEP diverts the bytes to a proto::ServerSession until it ends.
//   The key service's verbs exist only when it is on; the engine checks
//   TLS, then EHLO; the login is checked here. Every store read (the
//   AUTH HASHEDPASS lookup, PUBKEY, GETSALT) and write (SETPUBKEY, RSTSALT)
//   runs on the work queue's worker, the session suspended meanwhile, so a
//   locked SQLite or a slow Redis never stalls the event loop
//   (smtp_session.h KeyService).

#include "smtp_session.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>
#include <utility>

#include "mtep_session.h"
#include "server/smtp_adapter.h"
#include "smtp/server_session.h"
#include "util/base64.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

using server::PeerInfo;
using server::ProtocolSession;

constexpr size_t kMaxLoggedHelo = 64;

constexpr std::string_view kStoreTrouble = "451 4.3.0 Key store unavailable, try again later";

class SmtpSession;

// MTEP after STARTMTEP (PROTOCOLS.md section 1): the netstrings go to a
// proto::ServerSession until it ends; "Q" gives the connection back to SMTP.
class MtepDiversion final : public smtp::Diversion {
 public:
  MtepDiversion(SmtpSession& owner, std::unique_ptr<proto::ServerSession> mtep)
      : owner_(owner), mtep_(std::move(mtep)) {}
  Result feed(std::string_view in, std::string* out) override;
  void onEof(std::string* out) override;
  void onTimeout(std::string* out) override;
  void onLifetimeOver(std::string* out) override;

 private:
  SmtpSession& owner_;
  std::unique_ptr<proto::ServerSession> mtep_;
};

smtp::ServerSettings smtpSettings(const config::Config& config, const std::string& hostname,
                                  bool key_service) {
  smtp::ServerSettings s;
  s.dialect = smtp::Dialect::kSmtp;
  s.hostname = hostname;
  s.greeting = "ESMTP mtepd";
  s.extensions = {{"STARTTLS"}, {"X-STARTMTEP"}};
  if (key_service) {
    // The draft's order; inside TLS only.
    s.extensions.push_back({"AUTH", true});
    s.extensions.push_back({"SIGNMESSAGE", true});
    s.extensions.push_back({"ENCRYPTMESSAGE", true});
  }
  s.extensions.push_back({"PIPELINING"});
  s.extensions.push_back({"ENHANCEDSTATUSCODES"});
  s.limits.max_line = config.mtepd.smtp_max_line;
  s.limits.max_errors = SmtpSessionFactory::kMaxErrors;
  s.limits.max_commands = std::max<uint32_t>(1, config.mtepd.max_commands_per_connection);
  return s;
}

class SmtpSession final : public server::SmtpAdapter {
 public:
  SmtpSession(config::ConfigPtr config, const std::string& hostname, const PeerInfo& peer,
              proto::TokenChecker& checker, proto::FarewellRota& rota,
              std::shared_ptr<const server::TlsContext> tls, KeyService keys,
              const KeyLogin& login)
      : SmtpAdapter(smtpSettings(*config, hostname,
                                 keys.users != nullptr && config->mtepd.user_keys),
                    tls, {.idle_timeout = config->mtepd.smtp_idle_timeout}),
        config_(std::move(config)),
        client_(peer.address),
        client_host_(hostOfPeer(peer.address)),
        checker_(checker),
        rota_(rota),
        keys_(keys),
        login_(login) {
    using smtp::kNeedsHelo;
    using smtp::kNeedsTls;
    smtp::ServerSession& s = smtp();
    s.addVerb({"STARTMTEP", [this](smtp::ServerSession&, const std::string& a) { startMtep(a); },
               kNeedsHelo});
    // The key service exists only when it is on (else its verbs are "502
    // 5.5.1" like any unknown one); every command needs TLS, then EHLO.
    if (keyServiceOn()) {
      s.addAuthMechanism({"HASHEDPASS",
                          [this](smtp::ServerSession&, const std::optional<std::string>& initial) {
                            auth(initial);
                          },
                          true});
      s.addVerb({"PUBKEY", [this](smtp::ServerSession&, const std::string& a) { pubkey(a); },
                 kNeedsTls | kNeedsHelo});
      s.addVerb({"SETPUBKEY", [this](smtp::ServerSession&, const std::string& a) { setPubkey(a); },
                 kNeedsTls | kNeedsHelo});
      s.addVerb({"GETSALT", [this](smtp::ServerSession&, const std::string& a) { getSalt(a); },
                 kNeedsTls | kNeedsHelo});
      s.addVerb({"RSTSALT", [this](smtp::ServerSession&, const std::string& a) { rstSalt(a); },
                 kNeedsTls | kNeedsHelo});
    }
  }

  ~SmtpSession() override {
    const smtp::ServerSession& s = smtp();
    log::info("NOQUEUE: client=%s smtp=end helo=<%s> tls=%s commands=%u mtep=%u errors=%u "
              "reason=%s",
              client_.c_str(), printableAscii(s.helo(), kMaxLoggedHelo).c_str(),
              s.tlsActive() ? "yes" : "no", s.commands(), mtep_requests_, s.errors(),
              s.endReason().c_str());
  }
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  // MTEP has its own idle timeout per request.
  int64_t idleTimeoutSeconds() const override {
    return smtp().diverted() ? config_->mtepd.idle_timeout : config_->mtepd.smtp_idle_timeout;
  }

  // --- for the MTEP diversion ---------------------------------------------------
  bool takeMtepAnswered() { return std::exchange(mtep_answered_, false); }
  const std::string& mtepReason() const { return mtep_reason_; }
  void leaveMtep(const proto::ServerSession& mtep) {
    const uint32_t n = mtep.commandsAnswered();
    mtep_requests_ += n;
    smtp().chargeCommands(n);
  }

 private:
  // --- STARTMTEP -------------------------------------------------------------------

  void startMtep(const std::string& args) {
    smtp::ServerSession& s = smtp();
    if (!args.empty()) return s.error("501 5.5.4 Syntax: STARTMTEP");
    proto::SessionLimits limits = sessionLimitsFrom(*config_);
    limits.max_commands = std::max<uint32_t>(1, s.commandsLeft());
    auto mtep = std::make_unique<proto::ServerSession>(
        limits, checker_, rota_, [this](const proto::Decision& d) {
          mtep_answered_ = true;
          mtep_reason_ = std::string(d.reason);
          logMtepDecision(client_, d);
        });
    s.reply("220 2.0.0 Go ahead with MTEP");
    s.divert(std::make_unique<MtepDiversion>(*this, std::move(mtep)));
  }

  // --- the key service (draft-korenenovak-smtp-e2eesign) -------------------

  bool keyServiceOn() const { return keys_.users != nullptr && config_->mtepd.user_keys; }

  // True when a command that needs a login may go on; else refused.
  bool loggedIn() {
    if (!smtp().user().empty()) return true;
    smtp().error("530 5.7.0 Authentication required");
    return false;
  }

  // A 451 for a store that cannot answer, logged with the command.
  void storeTrouble(const char* what, const Error& e) {
    log::warning("NOQUEUE: client=%s user=<%s> %s=tempfail error=%s", client_.c_str(),
                 smtp().user().c_str(), what, printableAscii(e.message(), 200).c_str());
    smtp().reply(kStoreTrouble);
  }

  // AUTH HASHEDPASS: the engine checked TLS, EHLO, no login yet, the
  // mechanism's name.
  void auth(const std::optional<std::string>& initial) {
    if (!initial) {
      smtp().reply("334 ");
      // The next line is the response, not a command.
      smtp().expectLine(
          [this](smtp::ServerSession&, const std::string& line) { authResponse(line); });
      return;
    }
    authResponse(*initial);
  }

  // The AUTH HASHEDPASS response, initial or after "334 ": the key
  // service's login, shared with the token server (key_login.h).
  void authResponse(std::string_view payload) {
    LoginStart started = login_.start(client_, client_host_, payload, loginLimits());
    if (started.done) return authAnswer(*started.done);
    const std::string user = started.user;
    offLoop<Result<e2ee::UserRecord>>(
        [user](e2ee::UserBook& book) { return KeyLogin::lookup(book, user); },
        [started = std::move(started)](SmtpSession& self, const Result<e2ee::UserRecord>& found) {
          self.authAnswer(self.login_.finish(self.client_, self.client_host_, started, found,
                                             self.loginLimits()));
        });
  }

  e2ee::LoginLimits loginLimits() const {
    return {config_->mtepd.auth_failures_per_client, config_->mtepd.auth_failures_per_user};
  }

  void authAnswer(const LoginAttempt& a) {
    smtp::ServerSession& s = smtp();
    if (a.result == LoginResult::kOk) s.setUser(a.user);
    if (a.counts_as_error()) {
      s.error(a.reply);
    } else {
      s.reply(a.reply);
    }
  }

  // Runs `read` on the key service's worker, over its store handle, and
  // then `answer` on the loop thread, the session suspended meanwhile (a
  // store read is a network round trip with Redis). Without a queue both
  // at once, over the loop's UserBook.
  template <typename T>
  void offLoop(std::function<T(e2ee::UserBook&)> read,
               std::function<void(SmtpSession&, const T&)> answer) {
    if (keys_.queue == nullptr || keys_.writer == nullptr) {
      return answer(*this, read(*keys_.users));
    }
    e2ee::UserBook* book = keys_.writer;
    smtp().suspend();
    keys_.queue->submit<T>(
        [book, read = std::move(read)] { return read(*book); },
        [handle = handle(), answer = std::move(answer)](T result) {
          auto* self = static_cast<SmtpSession*>(handle.session());
          if (self == nullptr) return;  // the client left meanwhile
          self->resume([&](smtp::ServerSession&) { answer(*self, result); });
        },
        T(Error(ErrorKind::kInternal, "the key store read failed unexpectedly")));
  }

  void pubkey(const std::string& args) {
    smtp::ServerSession& s = smtp();
    std::string_view address(args);
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
      address = address.substr(1, address.size() - 2);
    }
    auto name = e2ee::normalizeUserName(address);
    if (!name) return s.error("501 5.5.4 Syntax: PUBKEY address");
    offLoop<Result<e2ee::UserRecord>>(
        [user = *name](e2ee::UserBook& book) { return book.find(user); },
        [shown = std::string(address)](SmtpSession& self, const Result<e2ee::UserRecord>& found) {
          self.pubkeyAnswer(shown, found);
        });
  }

  void pubkeyAnswer(const std::string& address, const Result<e2ee::UserRecord>& found) {
    smtp::ServerSession& s = smtp();
    if (!found && found.error().kind() != ErrorKind::kNotFound) {
      return storeTrouble("pubkey", found.error());
    }
    if (!found || !found->pubkey) {
      // `address` passed normalizeUserName: printable, no spaces. A lookup
      // answer, not the peer's error.
      return s.replyUncounted("550 5.1.1 No public key available for <" + address + ">");
    }
    s.reply("220 ed25519 " + e2ee::formatPubkeyReply(*found->pubkey));
  }

  // The logged-in user was removed meanwhile: logged out.
  void userGone(const char* what) {
    log::info("NOQUEUE: client=%s user=<%s> %s=no-such-user", client_.c_str(),
              smtp().user().c_str(), what);
    smtp().setUser("");
    smtp().error("530 5.7.0 Authentication required");
  }

  void setPubkey(const std::string& args) {
    smtp::ServerSession& s = smtp();
    if (!loggedIn()) return;
    if (args.empty()) return s.error("501 5.5.4 Syntax: SETPUBKEY key");
    auto key = e2ee::parsePublicKey(args);
    if (!key) {
      log::info("NOQUEUE: client=%s user=<%s> setpubkey=invalid", client_.c_str(),
                s.user().c_str());
      return s.error("501 5.5.4 Invalid public key");
    }
    if (keys_.queue == nullptr || keys_.writer == nullptr) {
      return setPubkeyAnswer(keys_.users->setPublicKey(s.user(), *key));
    }
    e2ee::UserBook* writer = keys_.writer;
    s.suspend();  // a store write runs off the loop: the next commands wait for it
    keys_.queue->submit<Status>(
        [writer, user = s.user(), pub = *key] { return writer->setPublicKey(user, pub); },
        [handle = handle()](Status st) {
          auto* self = static_cast<SmtpSession*>(handle.session());
          if (self == nullptr) return;  // the client left meanwhile
          self->resume([&](smtp::ServerSession&) { self->setPubkeyAnswer(st); });
        },
        Status(Error(ErrorKind::kInternal, "the key store write failed unexpectedly")));
  }

  void setPubkeyAnswer(const Status& st) {
    if (!st) {
      if (st.error().kind() == ErrorKind::kNotFound) return userGone("setpubkey");
      return storeTrouble("setpubkey", st.error());
    }
    log::info("NOQUEUE: client=%s user=<%s> setpubkey=ok", client_.c_str(),
              smtp().user().c_str());
    smtp().reply("250 2.0.0 OK");
  }

  void getSalt(const std::string& args) {
    smtp::ServerSession& s = smtp();
    if (!loggedIn()) return;
    if (!args.empty()) return s.error("501 5.5.4 Syntax: GETSALT");
    offLoop<Result<e2ee::UserRecord>>(
        [user = s.user()](e2ee::UserBook& book) { return book.find(user); },
        [](SmtpSession& self, const Result<e2ee::UserRecord>& found) {
          if (!found) {
            if (found.error().kind() == ErrorKind::kNotFound) return self.userGone("getsalt");
            return self.storeTrouble("getsalt", found.error());
          }
          self.smtp().reply("220 SALT " + e2ee::formatSalt(found->salt));
        });
  }

  void rstSalt(const std::string& args) {
    smtp::ServerSession& s = smtp();
    if (!loggedIn()) return;
    if (!args.empty()) return s.error("501 5.5.4 Syntax: RSTSALT");
    if (keys_.queue == nullptr || keys_.writer == nullptr) {
      return rstSaltAnswer(keys_.users->resetSalt(s.user()));
    }
    e2ee::UserBook* writer = keys_.writer;
    s.suspend();
    keys_.queue->submit<Result<std::string>>(
        [writer, user = s.user()] { return writer->resetSalt(user); },
        [handle = handle()](Result<std::string> salt) {
          auto* self = static_cast<SmtpSession*>(handle.session());
          if (self == nullptr) return;  // the client left meanwhile
          self->resume([&](smtp::ServerSession&) { self->rstSaltAnswer(salt); });
        },
        Result<std::string>(Error(ErrorKind::kInternal, "the key store write failed unexpectedly")));
  }

  void rstSaltAnswer(const Result<std::string>& salt) {
    if (!salt) {
      if (salt.error().kind() == ErrorKind::kNotFound) return userGone("rstsalt");
      return storeTrouble("rstsalt", salt.error());
    }
    log::info("NOQUEUE: client=%s user=<%s> rstsalt=ok", client_.c_str(), smtp().user().c_str());
    smtp().reply("220 SALT " + e2ee::formatSalt(*salt));
  }

  config::ConfigPtr config_;  // snapshot for the life of the connection
  const std::string client_;  // "ADDR:PORT" for the log
  const std::string client_host_;  // "ADDR": the login limiter counts its /64 (IPv6) or itself
  proto::TokenChecker& checker_;
  proto::FarewellRota& rota_;
  KeyService keys_;                       // users null: no key service
  const KeyLogin& login_;                 // AUTH HASHEDPASS (key_login.h)
  std::string mtep_reason_;            // the reason of the last MTEP decision
  uint32_t mtep_requests_ = 0;         // MTEP requests answered in finished episodes
  bool mtep_answered_ = false;         // set by the decision sink during one feed
};

smtp::Diversion::Result MtepDiversion::feed(std::string_view in, std::string* out) {
  Result r;
  const auto action = mtep_->feed(in, out);
  r.answered = owner_.takeMtepAnswered();
  if (action == proto::ServerSession::Action::kClose) {
    const bool quit = owner_.mtepReason() == "quit";
    owner_.leaveMtep(*mtep_);
    if (quit) {
      // SMTP again; the rest of `in` was dropped, and the CRLF a client
      // may send after the "Q" netstring is skipped.
      r.next = Next::kBack;
      r.skip_blank_line = true;
    } else {
      owner_.smtp().setEndReason("mtep-" + owner_.mtepReason());
      r.next = Next::kClose;
    }
  }
  return r;
}

void MtepDiversion::onEof(std::string* out) {
  mtep_->onEof(out);
  owner_.leaveMtep(*mtep_);
}

void MtepDiversion::onTimeout(std::string* out) {
  mtep_->onTimeout(out);
  owner_.leaveMtep(*mtep_);
}

void MtepDiversion::onLifetimeOver(std::string* out) {
  mtep_->onLifetimeOver(out);  // MTEP's own goodbye
  owner_.leaveMtep(*mtep_);
}

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
    : checker_(checker), tls_(std::move(tls)), keys_(keys), login_(keys.users, keys.limiter) {
  setConfig(std::move(config));
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
                                       login_);
}

}  // namespace mtep::mtepd
