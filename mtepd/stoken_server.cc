// NAME
//   stoken_server.cc - the token server's LMTP session and its deliveries
// DESCRIPTION
//   See stoken_server.h. A TokenSession is an SmtpAdapter with the
//   STOKEN verbs and transaction hooks; reads of the token book run on the
//   loop thread, everything that writes or waits (GENSTOKEN, REVSTOKEN,
//   the delivery to the backend and what follows it) on the work queue,
//   the session suspended meanwhile.

#include "stoken_server.h"

#include <openssl/rand.h>

#include <ctime>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "milter/session.h"  // authservIdOf
#include "server/smtp_adapter.h"
#include "smtp/delivery.h"
#include "smtp_session.h"  // smtpHostname
#include "stoken/protocol.h"
#include "stoken/token.h"
#include "util/base64.h"
#include "util/log.h"

namespace mtep::mtepd {

using smtp::EnhancedStatus;
using smtp::Reply;
using stoken::Kind;
using stoken::Outcome;

struct TokenServer::Shared {
  Shared(config::ConfigPtr c, std::shared_ptr<const token::KeyRing> r)
      : config(std::move(c)), ring(std::move(r)), rate(SystemClock::instance()) {}
  config::ConfigPtr config;
  std::shared_ptr<const token::KeyRing> ring;
  KeyLogin* login = nullptr;
  std::unique_ptr<store::Store> writer_store;
  std::mutex writer_mutex;  // writer_store is used by one worker at a time
  std::shared_ptr<const server::TlsContext> tls;
  std::unique_ptr<server::WorkQueue> queue;
  TokenRate rate;
  std::string hostname;
  std::string authserv_id;
  std::string busy_reply;
  std::string client_limit_reply;
};

namespace {

constexpr size_t kMaxLoggedHelo = 64;

stoken::BookLimits bookLimits(const config::Config& c) {
  return {c.stoken.temporary_ttl, c.stoken.permanent_ttl, c.stoken.permanent_refresh};
}

Reply rep(uint16_t code, EnhancedStatus esc, std::string text) {
  return Reply{code, esc, std::move(text)};
}

std::string domainOf(std::string_view canonical) {
  const size_t at = canonical.rfind('@');
  return at == std::string_view::npos ? std::string() : std::string(canonical.substr(at + 1));
}

std::string randomId() {
  uint8_t b[6] = {};
  if (RAND_bytes(b, sizeof b) != 1) {
    const auto t = static_cast<uint64_t>(std::time(nullptr));
    for (size_t i = 0; i < sizeof b; ++i) b[i] = static_cast<uint8_t>(t >> (8 * i));
  }
  std::string id = hexEncode(b, sizeof b);
  for (char& c : id) c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  return id;
}

// RFC 5322 date-time, UTC.
std::string mailDate(int64_t now) {
  const auto t = static_cast<time_t>(now);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  if (std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0) return "";
  return buf;
}

// A HELO argument fit for a trace field: printable, no space or parentheses.
std::string traceName(std::string_view helo) {
  std::string s = printableAscii(helo, kMaxLoggedHelo);
  for (char& c : s) {
    if (c == ' ' || c == '(' || c == ')' || c == ';') c = '_';
  }
  return s.empty() ? "unknown" : s;
}

// --- one recipient and the delivery job ----------------------------------------

struct RcptState {
  std::string address;    // as sent (RCPT TO)
  std::string canonical;  // canonicalAddress()
  std::string token;
  Kind kind = Kind::kTemporary;
  std::optional<std::string> mystoken;
};

struct DeliveryJob {
  std::string qid;
  std::string client;
  std::string mail_from;  // canonical
  std::string mail_params;
  std::vector<RcptState> rcpts;
  std::string message;
  config::ConfigPtr config;
  std::shared_ptr<const token::KeyRing> ring;
  std::string hostname;
};

struct DeliveryAnswer {
  std::vector<Reply> replies;
  std::vector<std::string> log_lines;  // written on the loop thread
};

// "<a> ID rest" from Dovecot's "250 2.0.0 <a> ID Saved": ID and rest.
bool splitDelivered(const std::string& text, std::string* id, std::string* rest) {
  const size_t close = text.find("> ");
  if (text.empty() || text.front() != '<' || close == std::string::npos) return false;
  std::string_view tail = std::string_view(text).substr(close + 2);
  const size_t sp = tail.find(' ');
  const std::string_view first = tail.substr(0, sp);
  if (first.empty() || first.size() > stoken::kMaxDeliveryId) return false;
  *id = std::string(first);
  *rest = sp == std::string_view::npos ? std::string() : std::string(tail.substr(sp + 1));
  return true;
}

DeliveryAnswer runDelivery(const DeliveryJob& job, TokenServer::Shared& shared) {
  const config::StokenConfig& sc = job.config->stoken;
  smtp::DeliveryRequest req;
  req.protocol = smtp::DeliveryProtocol::kLmtp;
  req.host = sc.deliver_to.host;
  req.port = sc.deliver_to.port;
  req.hello_name = job.hostname;
  req.mail_from = job.mail_from;
  req.mail_params = job.mail_params;
  for (const RcptState& r : job.rcpts) req.recipients.push_back({r.address, ""});
  req.message = job.message;
  req.drop_unadvertised_params = true;
  req.timeouts.dial_ms = static_cast<int>(std::min<int64_t>(sc.dial_timeout, 3600) * 1000);
  req.timeouts.command_ms = static_cast<int>(std::min<int64_t>(sc.delivery_timeout, 3600) * 1000);
  req.timeouts.data_ms = req.timeouts.command_ms;
  req.max_recipients = sc.max_recipients;
  const smtp::DeliveryResult d = smtp::deliver(req);

  DeliveryAnswer a;
  for (size_t i = 0; i < job.rcpts.size(); ++i) {
    const RcptState& r = job.rcpts[i];
    Reply reply;
    std::string perm_id;
    if (i < d.recipients.size() && d.recipients[i].delivered()) {
      const Reply& got = d.recipients[i].final_reply;
      std::string id, rest;
      if (!splitDelivered(got.text, &id, &rest)) {
        id = job.qid;
        rest = "Saved";
      }
      if (rest.empty()) rest = "Saved";
      std::optional<std::string> perm;
      {
        std::lock_guard<std::mutex> lock(shared.writer_mutex);
        stoken::TokenBook book(*shared.writer_store, *job.ring, SystemClock::instance(),
                               bookLimits(*job.config));
        auto after = book.afterDelivery(r.token, r.kind, job.mail_from, r.canonical);
        if (!after) {
          a.log_lines.push_back(
              job.qid + ": stoken to=<" + r.canonical +
              "> after-delivery=tempfail error=" + printableAscii(after.error().message(), 200));
        } else {
          perm = std::move(*after);
        }
        if (r.mystoken) {
          auto f = stoken::decode(*r.mystoken);
          if (f) {
            auto held = book.hold(r.canonical, job.mail_from, *r.mystoken, f->kind);
            a.log_lines.push_back(job.qid + ": stoken to=<" + r.canonical +
                                  "> mystoken=" + stoken::tokenLogId(*r.mystoken) +
                                  " kind=" + stoken::kindName(f->kind) + " held=" +
                                  (!held ? "tempfail" : (*held ? "yes" : "kept-permanent")));
          } else {
            a.log_lines.push_back(job.qid + ": stoken to=<" + r.canonical +
                                  "> mystoken=not-a-token");
          }
        }
      }
      if (perm) {
        reply = rep(250, {2, 1, 13}, "<" + r.address + "> " + *perm + " " + id + " " + rest);
        perm_id = stoken::tokenLogId(*perm);
      } else {
        reply = rep(250, {2, 1, 12}, "<" + r.address + "> " + id + " " + rest);
      }
    } else if (i < d.recipients.size()) {
      reply = d.recipients[i].final_reply;
      if (reply.code < 400 || reply.code > 599) {
        reply = rep(451, {4, 3, 0}, "Delivery failed, try again later");
      }
    } else {
      reply = rep(451, {4, 3, 0}, "Delivery failed, try again later");
    }
    std::string result = std::to_string(reply.code);
    if (reply.enhanced) result += " " + reply.enhanced->toString();
    std::string line = job.qid + ": stoken client=" + job.client + " from=<" + job.mail_from +
                       "> to=<" + r.canonical + "> token=" + stoken::tokenLogId(r.token) +
                       " kind=" + stoken::kindName(r.kind) + " result=" + result;
    if (!perm_id.empty()) line += " perm=" + perm_id;
    if (reply.code / 100 != 2) {
      line += " backend=\"" + printableAscii(reply.toString(), 200) + "\"";
      if (!d.session_ok) line += " step=" + std::string(smtp::deliveryStepName(d.failed_step));
    }
    a.log_lines.push_back(std::move(line));
    a.replies.push_back(std::move(reply));
  }
  return a;
}

// --- the session ------------------------------------------------------------------

enum class AuthKind { kNone, kToken, kLogin };

class TokenSession final : public server::SmtpAdapter {
 public:
  TokenSession(TokenServer::Shared& shared, const server::PeerInfo& peer, bool implicit_tls,
               smtp::ServerSettings settings)
      : SmtpAdapter(
            std::move(settings), shared.tls,
            {.idle_timeout = shared.config->mtepd.smtp_idle_timeout, .implicit_tls = implicit_tls}),
        shared_(shared),
        config_(shared.config),
        client_(peer.address),
        client_host_(hostOfPeer(peer.address)) {
    smtp::ServerSession& s = smtp();
    s.addAuthMechanism(
        {"STOKEN", [this](smtp::ServerSession& ss, const std::optional<std::string>& initial) {
           authStoken(ss, initial);
         }});
    if (shared_.login != nullptr && config_->mtepd.user_keys) {
      s.addAuthMechanism({"HASHEDPASS", [this](smtp::ServerSession& ss,
                                               const std::optional<std::string>& initial) {
                            authHashedPass(ss, initial);
                          }});
    }
    s.addVerb(
        {"GENSTOKEN",
         [this](smtp::ServerSession& ss, const std::string& a) { manage(ss, "GENSTOKEN", a); },
         smtp::kNeedsTls | smtp::kNeedsHelo});
    s.addVerb(
        {"REVSTOKEN",
         [this](smtp::ServerSession& ss, const std::string& a) { manage(ss, "REVSTOKEN", a); },
         smtp::kNeedsTls | smtp::kNeedsHelo});
    s.hooks().on_mail = [this](smtp::ServerSession& ss, const smtp::MailRequest& m) {
      return onMail(ss, m);
    };
    s.hooks().on_rcpt = [this](smtp::ServerSession& ss, const smtp::Recipient& r) {
      return onRcpt(ss, r);
    };
    s.hooks().on_message = [this](smtp::ServerSession& ss, smtp::Message&& m) {
      onMessage(ss, std::move(m));
    };
    s.hooks().on_reset = [this](smtp::ServerSession&, bool tls_started) {
      mail_from_.clear();
      rcpts_.clear();
      if (tls_started) {
        auth_ = AuthKind::kNone;
        auth_rcpt_.clear();
        auth_token_.clear();
        login_user_.clear();
      }
    };
  }

  ~TokenSession() override {
    log::info(
        "NOQUEUE: client=%s stoken=end helo=<%s> tls=%s commands=%u errors=%u "
        "reason=%s",
        client_.c_str(), printableAscii(smtp().helo(), kMaxLoggedHelo).c_str(),
        smtp().tlsActive() ? "yes" : "no", smtp().commands(), smtp().errors(),
        smtp().endReason().c_str());
  }

 private:
  e2ee::LoginLimits limits() const {
    return {config_->mtepd.auth_failures_per_client, config_->mtepd.auth_failures_per_user};
  }
  // Failed token uses count per client address only (see stoken_server.h).
  bool limited() {
    if (shared_.login == nullptr || shared_.login->limiter() == nullptr) return false;
    return shared_.login->limiter()->check(client_host_, "", limits()) !=
           e2ee::LoginVerdict::kAllowed;
  }
  void recordFailure() {
    if (shared_.login == nullptr || shared_.login->limiter() == nullptr) return;
    shared_.login->limiter()->recordFailure(client_host_, "", limits(), e2ee::Account::kUnknown);
  }
  // Runs `read` on a worker over the workers' store handle, then `answer`
  // on the loop thread (which must resume() the session), the session
  // suspended meanwhile: with Redis a store read is a network round trip
  // of up to redis_timeout_ms, and the loop serves every other connection.
  template <typename T>
  void offLoop(smtp::ServerSession& ss, std::function<T(store::Store&)> read,
               std::function<void(TokenSession&, T)> answer, T if_failed) {
    ss.suspend();
    TokenServer::Shared* shared = &shared_;
    shared_.queue->submit<T>(
        [shared, read = std::move(read)] {
          std::lock_guard<std::mutex> lock(shared->writer_mutex);
          return read(*shared->writer_store);
        },
        [handle = handle(), answer = std::move(answer)](T result) {
          auto* s = static_cast<TokenSession*>(handle.session());
          if (s == nullptr) return;  // the client left meanwhile
          answer(*s, std::move(result));
        },
        std::move(if_failed));
  }

  // TokenBook::check() off the loop (offLoop), for (local = `rcpt`,
  // remote = `from`) with the session's ring and config.
  void checkOffLoop(smtp::ServerSession& ss, const std::string& token, const std::string& from,
                    const std::string& rcpt,
                    std::function<void(TokenSession&, stoken::Checked)> answer) {
    std::shared_ptr<const token::KeyRing> ring = ring_ ? ring_ : shared_.ring;
    offLoop<stoken::Checked>(
        ss,
        [ring, config = config_, token, from, rcpt](store::Store& st) {
          stoken::TokenBook book(st, *ring, SystemClock::instance(), bookLimits(*config));
          return book.check(token, from, rcpt);
        },
        std::move(answer), stoken::Checked{Outcome::kTemporary, Kind::kTemporary});
  }

  void logAuth(const std::string& rcpt, const std::string& token_id, const char* result) {
    log::info("NOQUEUE: client=%s auth=stoken rcpt=<%s> token=%s result=%s", client_.c_str(),
              printableAscii(rcpt, 100).c_str(), token_id.c_str(), result);
  }

  // --- AUTH -------------------------------------------------------------------

  void authStoken(smtp::ServerSession& ss, const std::optional<std::string>& initial) {
    if (!initial) {
      ss.reply("334 ");
      ss.expectLine([this](smtp::ServerSession& s2, const std::string& line) {
        authStokenResponse(s2, line);
      });
      return;
    }
    authStokenResponse(ss, *initial);
  }

  void authStokenResponse(smtp::ServerSession& ss, const std::string& payload) {
    if (payload == "*") {
      ss.error("501 5.0.0 Authentication cancelled");
      return;
    }
    if (limited()) {
      logAuth("", "-", "limited");
      ss.error("454 4.7.0 Too many failed logins, try again later");
      return;
    }
    auto parsed = stoken::parseAuthPayload(payload);
    if (!parsed) {
      recordFailure();
      logAuth("", "-", "malformed");
      ss.error("535 5.7.8 Authentication credentials invalid");
      return;
    }
    auto rcpt = stoken::canonicalAddress(parsed->recipient);
    const std::string id = stoken::isTokenText(parsed->token) ? stoken::tokenLogId(parsed->token)
                                                              : std::string("not-a-token");
    if (!rcpt) {
      recordFailure();
      logAuth(parsed->recipient, id, "fail");
      ss.error("535 5.7.8 Authentication credentials invalid");
      return;
    }
    ring_ = shared_.ring;
    // The remote (MAIL FROM) is not known yet: a genuine token for this
    // recipient fails only its remote check here, which MAIL makes.
    const int64_t now = SystemClock::instance().now();
    const stoken::Verified v =
        stoken::verify(parsed->token, "", *rcpt, *ring_, now, {config_->stoken.temporary_ttl, 0});
    const bool expired =
        v.kind == Kind::kTemporary &&
        (v.issued + config_->stoken.temporary_ttl <= now || v.issued > now + stoken::kClockSkew);
    if (v.outcome != Outcome::kWrongRemote || expired) {
      recordFailure();
      logAuth(*rcpt, id, "fail");
      ss.error("535 5.7.8 Authentication credentials invalid");
      return;
    }
    auth_ = AuthKind::kToken;
    auth_rcpt_ = *rcpt;
    auth_token_ = parsed->token;
    auth_kind_ = v.kind;
    ss.setUser(*rcpt);
    logAuth(*rcpt, id, "ok");
    ss.reply("235 2.7.0 Authentication successful");
  }

  void authHashedPass(smtp::ServerSession& ss, const std::optional<std::string>& initial) {
    if (!initial) {
      ss.reply("334 ");
      ss.expectLine([this](smtp::ServerSession& s2, const std::string& line) {
        hashedPassResponse(s2, line);
      });
      return;
    }
    hashedPassResponse(ss, *initial);
  }

  // The login's store read runs off the loop (key_login.h, offLoop).
  void hashedPassResponse(smtp::ServerSession& ss, const std::string& payload) {
    LoginStart started = shared_.login->start(client_, client_host_, payload, limits());
    if (started.done) return hashedPassAnswer(ss, *started.done);
    const std::string user = started.user;
    offLoop<Result<e2ee::UserRecord>>(
        ss,
        [user](store::Store& st) {
          e2ee::UserBook book(st, SystemClock::instance());
          return KeyLogin::lookup(book, user);
        },
        [started = std::move(started)](TokenSession& self, Result<e2ee::UserRecord> found) {
          const LoginAttempt a = self.shared_.login->finish(self.client_, self.client_host_,
                                                            started, found, self.limits());
          self.resume([&](smtp::ServerSession& s2) { self.hashedPassAnswer(s2, a); });
        },
        Result<e2ee::UserRecord>(
            Error(ErrorKind::kInternal, "the store read failed unexpectedly")));
  }

  void hashedPassAnswer(smtp::ServerSession& ss, const LoginAttempt& a) {
    if (a.result == LoginResult::kOk) {
      auth_ = AuthKind::kLogin;
      login_user_ = a.user;
      ss.setUser(a.user);
    }
    if (a.counts_as_error()) {
      ss.error(a.reply);
    } else {
      ss.reply(a.reply);
    }
  }

  // --- GENSTOKEN, REVSTOKEN ---------------------------------------------------------

  void manage(smtp::ServerSession& ss, const char* verb, const std::string& args) {
    if (auth_ != AuthKind::kLogin) {
      ss.error("530 5.7.0 Authentication required");
      return;
    }
    const stoken::ManageParse p = stoken::parseManageArgs(verb, args);
    const bool gen = std::string_view(verb) == "GENSTOKEN";
    switch (p.error) {
      case stoken::ManageError::kNone:
        break;
      case stoken::ManageError::kSyntax:
        ss.error(gen ? "501 5.5.4 Syntax: GENSTOKEN (PERM|TEMP) remote-address [local-address]"
                     : "501 5.5.4 Syntax: REVSTOKEN remote-address [local-address]");
        return;
      case stoken::ManageError::kBadRemote:
        ss.error("501 5.1.3 Incorrect remote address");
        return;
      case stoken::ManageError::kBadLocal:
        ss.error("501 5.1.7 Incorrect local address");
        return;
    }
    auto own = stoken::canonicalAddress(login_user_);
    const std::string local = p.args.local.empty() ? (own ? *own : std::string()) : p.args.local;
    if (!own || local != *own) {
      ss.error("501 5.1.7 Incorrect local address: not yours");
      return;
    }
    if (gen && !config_->policyFor(domainOf(local)).accept_submission_tokens) {
      ss.error("550 5.7.1 Submission tokens are not accepted for this address");
      return;
    }
    ss.suspend();
    const std::string remote = p.args.remote;
    const Kind kind = p.args.kind;
    auto ring = shared_.ring;
    auto config = config_;
    TokenServer::Shared* shared = &shared_;
    const std::string client = client_;
    const std::string user = login_user_;
    shared_.queue->submit<Reply>(
        [shared, ring, config, gen, kind, remote, local]() -> Reply {
          std::lock_guard<std::mutex> lock(shared->writer_mutex);
          stoken::TokenBook book(*shared->writer_store, *ring, SystemClock::instance(),
                                 bookLimits(*config));
          if (gen) {
            auto t = book.generate(kind, remote, local);
            if (!t) return rep(451, {4, 5, 0}, "Token could not be generated, try again later");
            return rep(250, {2, 1, 11},
                       *t + (kind == Kind::kPermanent ? " Permanent token generated"
                                                      : " Temporary token generated"));
          }
          Status s = book.revoke(remote, local);
          if (!s) return rep(451, {4, 5, 0}, "Tokens could not be revoked, try again later");
          return rep(250, {2, 1, 0}, "All tokens successfully revoked");
        },
        [handle = handle(), client, user, remote, gen, kind](Reply r) {
          std::string result = std::to_string(r.code);
          if (r.code == 250 && gen) {
            const std::string t = r.text.substr(0, r.text.find(' '));
            result += " token=" + stoken::tokenLogId(t) + " kind=" + stoken::kindName(kind);
          }
          log::info("NOQUEUE: client=%s user=<%s> %s remote=<%s> result=%s", client.c_str(),
                    user.c_str(), gen ? "genstoken" : "revstoken", remote.c_str(), result.c_str());
          auto* s = static_cast<TokenSession*>(handle.session());
          if (s == nullptr) return;  // the client left meanwhile
          s->resume(std::vector<Reply>{std::move(r)});
        },
        rep(451, {4, 5, 0}, "Token store failed, try again later"));
  }

  // --- the transaction ------------------------------------------------------------

  Reply onMail(smtp::ServerSession& ss, const smtp::MailRequest& m) {
    if (auth_ != AuthKind::kToken) {
      return rep(530, {5, 7, 0}, "Authentication required: AUTH STOKEN");
    }
    std::string body;
    for (const smtp::Param& p : m.params) {
      if (p.keyword == "BODY" &&
          (asciiIEquals(p.value, "8BITMIME") || asciiIEquals(p.value, "7BIT"))) {
        body = asciiIEquals(p.value, "7BIT") ? "BODY=7BIT" : "BODY=8BITMIME";
        continue;
      }
      return rep(555, {5, 5, 4}, "Unsupported parameter " + p.keyword);
    }
    auto from = stoken::canonicalAddress(m.path);
    if (!from) {
      recordFailure();
      return rep(550, {5, 7, 8}, "Sender is not the one this token was given to");
    }
    // The check reads the store: off the loop, MAIL answered when it is back.
    checkOffLoop(ss, auth_token_, *from, auth_rcpt_,
                 [from = *from, body](TokenSession& self, stoken::Checked c) {
                   self.resume(std::vector<Reply>{self.mailAnswer(c, from, body)});
                 });
    return rep(451, {4, 3, 0}, "Suspended");  // ignored: the session is suspended
  }

  Reply mailAnswer(const stoken::Checked& c, const std::string& from, const std::string& body) {
    if (c.outcome == Outcome::kTemporary) {
      return rep(451, {4, 7, 0}, "Token store unavailable, try again later");
    }
    if (c.outcome != Outcome::kValid) {
      recordFailure();
      log::info("NOQUEUE: client=%s stoken mail from=<%s> token=%s result=%s", client_.c_str(),
                from.c_str(), stoken::tokenLogId(auth_token_).c_str(),
                stoken::outcomeName(c.outcome));
      return rep(550, {5, 7, 8},
                 c.outcome == Outcome::kWrongRemote
                     ? "Sender is not the one this token was given to"
                     : std::string("Token not valid: ") + stoken::outcomeName(c.outcome));
    }
    mail_from_ = from;
    mail_params_ = body;
    return rep(250, {2, 1, 0}, "Ok");
  }

  Reply onRcpt(smtp::ServerSession& ss, const smtp::Recipient& r) {
    std::string text;
    for (const smtp::Param& p : r.params) {
      if (!text.empty()) text += ' ';
      text += p.keyword;
      if (p.has_value) text += "=" + p.value;
    }
    auto params = stoken::parseRcptParams(text);
    if (!params) return rep(501, {5, 5, 4}, params.error().message());
    if (!params->others.empty()) {
      return rep(555, {5, 5, 4}, "Unsupported parameter " + params->others.front());
    }
    auto rcpt = stoken::canonicalAddress(r.address);
    if (!rcpt) return rep(501, {5, 1, 3}, "Bad recipient address syntax");
    if (rcpts_.size() >= config_->stoken.max_recipients) {
      return rep(452, {4, 5, 3}, "Error: too many recipients");
    }
    const config::DomainPolicy& policy = config_->policyFor(domainOf(*rcpt));
    if (!policy.accept_submission_tokens) {
      return rep(550, {5, 7, 1}, "Submission tokens are not accepted for this recipient");
    }
    if (config_->stoken.refuses(*rcpt)) {
      return rep(550, {5, 7, 1}, "Delivery by token refused for this recipient, send by mail");
    }
    std::string token;
    if (params->stoken) {
      token = *params->stoken;
    } else if (*rcpt == auth_rcpt_) {
      token = auth_token_;
    } else {
      return rep(550, {5, 7, 8}, "A STOKEN parameter is required for this recipient");
    }
    if (limited()) return rep(454, {4, 7, 0}, "Too many failed logins, try again later");
    // The check reads the store: off the loop, RCPT answered when it is back.
    checkOffLoop(
        ss, token, mail_from_, *rcpt,
        [address = r.address, rcpt = *rcpt, token, mystoken = params->mystoken,
         rate = policy.submission_token_rate](TokenSession& self, stoken::Checked c) {
          self.resume(std::vector<Reply>{self.rcptAnswer(c, address, rcpt, token, mystoken, rate)});
        });
    return rep(451, {4, 3, 0}, "Suspended");  // ignored: the session is suspended
  }

  Reply rcptAnswer(const stoken::Checked& c, const std::string& address, const std::string& rcpt,
                   const std::string& token, const std::optional<std::string>& mystoken,
                   int64_t rate) {
    const std::string id =
        stoken::isTokenText(token) ? stoken::tokenLogId(token) : std::string("not-a-token");
    if (c.outcome == Outcome::kTemporary) {
      return rep(451, {4, 7, 0}, "Token store unavailable, try again later");
    }
    if (c.outcome != Outcome::kValid) {
      recordFailure();
      log::info("NOQUEUE: client=%s stoken rcpt from=<%s> to=<%s> token=%s result=%s",
                client_.c_str(), mail_from_.c_str(), rcpt.c_str(), id.c_str(),
                stoken::outcomeName(c.outcome));
      return rep(
          550, {5, 7, 8},
          std::string("Token not valid for this recipient: ") + stoken::outcomeName(c.outcome));
    }
    if (!shared_.rate.take(id, rate)) {
      return rep(450, {4, 7, 1}, "Token used too often, try again later");
    }
    rcpts_.push_back({address, rcpt, token, c.kind, mystoken});
    return rep(250, {2, 1, 5}, "Ok");
  }

  void onMessage(smtp::ServerSession& ss, smtp::Message&& m) {
    // The engine ends the transaction with DATA's answer (no on_reset):
    // this session's part of it ends here.
    std::vector<RcptState> rcpts = std::move(rcpts_);
    rcpts_.clear();
    if (rcpts.size() != m.recipients.size()) {  // cannot happen: the hooks saw every RCPT
      ss.answerMessage({});
      return;
    }
    auto job = std::make_shared<DeliveryJob>();
    job->qid = randomId();
    job->client = client_;
    job->mail_from = mail_from_;
    job->mail_params = mail_params_;
    job->rcpts = std::move(rcpts);
    job->config = config_;
    job->ring = ring_ ? ring_ : shared_.ring;
    job->hostname = shared_.hostname;
    bool temporary = false, permanent = false;
    for (const RcptState& r : job->rcpts)
      (r.kind == Kind::kTemporary ? temporary : permanent) = true;
    const std::string kinds = temporary && permanent ? "temporary and permanent"
                              : temporary            ? "temporary"
                                                     : "permanent";
    const std::string received = "Received: from " + traceName(ss.helo()) + " (" + client_host_ +
                                 ")\r\n\tby " + shared_.hostname + " with LMTPSA id " + job->qid +
                                 ";\r\n\t" + mailDate(SystemClock::instance().now());
    const std::string ar = "Authentication-Results: " +
                           milter::appendAuthResult("", shared_.authserv_id, "stoken", "pass") +
                           " (" + kinds + ") smtp.mailfrom=" + mail_from_;
    job->message = tokenMessage(m.data, received, ar, shared_.authserv_id);
    m.data.clear();
    ss.suspend();
    TokenServer::Shared* shared = &shared_;
    shared_.queue->submit<std::shared_ptr<DeliveryAnswer>>(
        [job, shared] { return std::make_shared<DeliveryAnswer>(runDelivery(*job, *shared)); },
        [handle = handle(), n = job->rcpts.size()](std::shared_ptr<DeliveryAnswer> a) {
          for (const std::string& l : a->log_lines) log::info("%s", l.c_str());
          auto* s = static_cast<TokenSession*>(handle.session());
          if (s == nullptr) return;  // the client left: its replies go nowhere
          if (a->replies.size() < n) {
            a->replies.resize(n, rep(451, {4, 3, 0}, "Delivery failed, try again later"));
          }
          s->resume(a->replies);
        },
        std::make_shared<DeliveryAnswer>());
  }

  TokenServer::Shared& shared_;
  config::ConfigPtr config_;                    // snapshot for the connection
  std::shared_ptr<const token::KeyRing> ring_;  // the one current at AUTH STOKEN
  const std::string client_;
  const std::string client_host_;
  AuthKind auth_ = AuthKind::kNone;
  std::string auth_rcpt_;  // canonical
  std::string auth_token_;
  Kind auth_kind_ = Kind::kTemporary;
  std::string login_user_;  // AUTH HASHEDPASS
  std::string mail_from_;   // canonical, "" outside a transaction
  std::string mail_params_;
  std::vector<RcptState> rcpts_;  // accepted, in order
};

class TokenFactory final : public server::SessionFactory {
 public:
  TokenFactory(TokenServer::Shared& shared, bool implicit_tls)
      : shared_(shared), implicit_tls_(implicit_tls) {}
  const char* protocolName() const override { return implicit_tls_ ? "stoken" : "stoken-starttls"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override {
    const config::Config& c = *shared_.config;
    smtp::ServerSettings s;
    s.dialect = smtp::Dialect::kLmtp;
    s.hostname = shared_.hostname;
    s.greeting = "LMTP mtepd token server";
    s.extensions = {{"STARTTLS"},        {"STOKEN", true},   {"ENHANCEDSTATUSCODES", true},
                    {"AUTH", true},      {"8BITMIME", true}, {"SIZE", true},
                    {"PIPELINING", true}};
    s.starttls = !implicit_tls_;
    s.limits.max_line = c.mtepd.smtp_max_line;
    s.limits.max_recipients = c.stoken.max_recipients;
    s.limits.max_message_size = c.stoken.max_message_size;
    s.limits.max_commands = c.mtepd.max_commands_per_connection;
    return std::make_unique<TokenSession>(shared_, peer, implicit_tls_, std::move(s));
  }
  std::string_view busyReply() const override { return shared_.busy_reply; }
  std::string_view clientLimitReply() const override { return shared_.client_limit_reply; }

 private:
  TokenServer::Shared& shared_;
  bool implicit_tls_;
};

}  // namespace

// --- TokenRate -------------------------------------------------------------------

TokenRate::TokenRate(const Clock& clock, size_t max_entries)
    : clock_(clock), max_entries_(max_entries == 0 ? 1 : max_entries) {}

bool TokenRate::take(const std::string& token_id, int64_t per_hour) {
  if (per_hour <= 0) return true;
  const int64_t now = clock_.now();
  auto it = map_.find(token_id);
  if (it != map_.end() && it->second.ends <= now) {
    order_.erase(it->second.pos);
    map_.erase(it);
    it = map_.end();
  }
  if (it == map_.end()) {
    while (map_.size() >= max_entries_ && !order_.empty()) {
      map_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(token_id);
    Entry e;
    e.ends = now + 3600;
    e.pos = std::prev(order_.end());
    it = map_.emplace(token_id, e).first;
  }
  if (it->second.used >= per_hour) return false;
  ++it->second.used;
  return true;
}

// --- the message -------------------------------------------------------------------

std::string tokenMessage(std::string_view data, std::string_view received,
                         std::string_view auth_results, std::string_view authserv_id) {
  std::string out;
  out.reserve(data.size() + received.size() + auth_results.size() + 8);
  out.append(received);
  out.append("\r\n");
  out.append(auth_results);
  out.append("\r\n");
  // The header: fields start at a line not beginning with WSP; drop the
  // Authentication-Results fields claiming our authserv-id (a forged
  // stoken=pass must not reach the mailbox looking like ours).
  size_t pos = 0;
  while (pos < data.size()) {
    size_t eol = data.find('\n', pos);
    size_t next = eol == std::string_view::npos ? data.size() : eol + 1;
    std::string_view line = data.substr(pos, next - pos);
    if (line == "\r\n" || line == "\n") break;  // end of the header
    // The whole field: this line and its continuation lines.
    while (next < data.size() && (data[next] == ' ' || data[next] == '\t')) {
      eol = data.find('\n', next);
      next = eol == std::string_view::npos ? data.size() : eol + 1;
    }
    const std::string_view field = data.substr(pos, next - pos);
    const size_t colon = field.find(':');
    bool drop = false;
    if (colon != std::string_view::npos) {
      std::string_view name = field.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (asciiIEquals(name, "Authentication-Results")) {
        drop = asciiIEquals(milter::authservIdOf(field.substr(colon + 1)), authserv_id);
      }
    }
    if (!drop) out.append(field);
    pos = next;
  }
  out.append(data.substr(pos));
  return out;
}

// --- TokenServer ---------------------------------------------------------------------

Result<std::unique_ptr<TokenServer>> TokenServer::create(config::ConfigPtr config,
                                                         std::shared_ptr<const token::KeyRing> ring,
                                                         Parts parts, event_base* base) {
  if (!parts.tls) {
    return Error(ErrorKind::kInvalid,
                 "the token server ([stoken] listen, starttls_listen) needs [mtepd] "
                 "tls_cert_file and tls_key_file");
  }
  std::unique_ptr<TokenServer> ts(new TokenServer());
  ts->shared_ = std::make_unique<Shared>(std::move(config), std::move(ring));
  Shared& s = *ts->shared_;
  s.login = parts.login;
  s.writer_store = std::move(parts.writer_store);
  s.tls = std::move(parts.tls);
  auto queue = server::WorkQueue::create(base, kWorkers);
  if (!queue) return std::move(queue).error();
  s.queue = std::move(*queue);
  ts->setConfig(s.config);
  ts->implicit_ = std::make_unique<TokenFactory>(s, true);
  ts->starttls_ = std::make_unique<TokenFactory>(s, false);
  return ts;
}

TokenServer::~TokenServer() { stop(); }

server::SessionFactory& TokenServer::factory(bool implicit_tls) {
  return implicit_tls ? *implicit_ : *starttls_;
}

void TokenServer::setConfig(config::ConfigPtr config) {
  Shared& s = *shared_;
  s.config = std::move(config);
  s.hostname = smtpHostname(*s.config);
  s.authserv_id = s.config->milter.authserv_id.empty() ? s.hostname : s.config->milter.authserv_id;
  s.busy_reply = "421 4.7.0 " + s.hostname + " Error: too many connections, try again later\r\n";
  s.client_limit_reply =
      "421 4.7.0 " + s.hostname + " Error: too many connections from your address\r\n";
}

void TokenServer::setRing(std::shared_ptr<const token::KeyRing> ring) {
  shared_->ring = std::move(ring);
}

void TokenServer::stop() {
  if (shared_ && shared_->queue) shared_->queue->stop();
}

size_t TokenServer::outstanding() const {
  return shared_ && shared_->queue ? shared_->queue->outstanding() : 0;
}

}  // namespace mtep::mtepd
