// NAME
//   stoken_router.cc - the STOKEN router: Postfix's content filter that
//   delivers by token and re-injects the rest
// DESCRIPTION
//   See stoken_router.h. The decisions are lib/stoken/router.h's; this
//   file does the I/O: the LMTP listener, the store, discovery, and the
//   deliveries (lib/smtp/delivery.h) on the work queue's threads.

#include "stoken_router.h"


#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "dns/resolver.h"
#include "outbound.h"
#include "lmtp_intake.h"
#include "server/smtp_adapter.h"
#include "smtp/delivery.h"
#include "smtp/server_session.h"
#include "smtp_session.h"
#include "stoken/book.h"
#include "stoken/discovery.h"
#include "stoken/router.h"
#include "store/open.h"
#include "util/base64.h"
#include "util/clock.h"
#include "util/log.h"

namespace mtep::mtepd {

using stoken::MessageRoute;
using stoken::RouteState;
using stoken::TokenBatch;

struct StokenRouter::Shared {
  std::mutex store_mu;                      // guards store
  std::unique_ptr<store::Store> store;      // the router's own handle
  std::unique_ptr<dns::Resolver> resolver;  // thread-safe (per-call state)

  struct Cached {
    int64_t expires_ms = 0;
    bool ok = false;  // servers found
    std::vector<stoken::TokenServer> servers;
    std::string why;  // when not ok
  };
  std::mutex cache_mu;  // guards cache
  std::map<std::string, Cached> cache;
};

namespace {

using server::ConnectionHandle;
using server::PeerInfo;
using server::ProtocolSession;
using smtp::Reply;

constexpr size_t kMaxCacheEntries = 10000;

std::string domainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  return asciiLower(address.substr(at + 1));
}

// What an smtp::deliver result says per recipient, for router.h.
stoken::Attempt toAttempt(const smtp::DeliveryResult& d) {
  using S = smtp::DeliveryStep;
  stoken::Attempt a;
  switch (d.failed_step) {
    case S::kRequest:
    case S::kDial:
    case S::kTls:
    case S::kGreeting:
    case S::kHello:
    case S::kKeyword:
    case S::kAuth:
      a.before_mail = true;
      break;
    default:
      break;
  }
  if ((d.failed_step == S::kAuth || d.failed_step == S::kMail) && d.failed_reply.code != 0) {
    a.credentials_refused = d.failed_reply;
  }
  const bool answered_session = d.failed_step == S::kNone || d.failed_step == S::kFinal;
  for (const smtp::RecipientOutcome& o : d.recipients) {
    stoken::AttemptReply r;
    r.reply = o.final_reply;
    r.delivered = o.delivered();
    r.maybe_delivered = o.maybe_delivered;
    const bool refused_at_rcpt = o.rcpt_reply.code != 0 && !o.rcpt_accepted;
    r.own = o.final_from_server &&
            (refused_at_rcpt || (o.rcpt_accepted && answered_session && !o.maybe_delivered));
    a.recipients.push_back(std::move(r));
  }
  return a;
}

// The session failed before any token went out: another server may do.
bool failedBeforeTokens(const smtp::DeliveryResult& d) {
  using S = smtp::DeliveryStep;
  return d.failed_step == S::kDial || d.failed_step == S::kTls || d.failed_step == S::kGreeting ||
         d.failed_step == S::kHello || d.failed_step == S::kKeyword;
}

// Each wait delivery_timeout, the whole session at most `session_ms`.
smtp::DeliveryTimeouts timeoutsOf(const config::StokenConfig& s, int64_t session_ms) {
  smtp::DeliveryTimeouts t;
  t.dial_ms = static_cast<int>(s.dial_timeout * 1000);
  t.command_ms = static_cast<int>(s.delivery_timeout * 1000);
  t.data_ms = static_cast<int>(s.delivery_timeout * 1000);
  t.session_ms = static_cast<int>(std::max<int64_t>(session_ms, 1000));
  return t;
}

// The work of one message, on a worker thread.
class MessageJob {
 public:
  MessageJob(StokenRouter::Shared& shared, const config::Config& config, const token::KeyRing& ring,
             const smtp::Message& message, std::string hostname)
      : shared_(shared),
        c_(config),
        ring_(ring),
        msg_(message),
        hostname_(std::move(hostname)),
        route_(addresses(message)) {}

  std::vector<Reply> run() {
    const std::string& sender = msg_.from.path;
    const std::string sender_domain = domainOf(sender);
    body_ = smtp::findParam(msg_.from.params, "BODY");
    bool by_token = false;
    if (!sender.empty() && !sender_domain.empty()) {
      by_token = c_.policyFor(sender_domain).deliver_by_token;
    }
    // All token deliveries of the message share one delivery_timeout, the
    // re-injection has another: Postfix waits for both (doc/stoken.md).
    token_deadline_ms_ = dns::monotonicMs() + c_.stoken.delivery_timeout * 1000;
    if (by_token) lookUpHeld();
    for (const TokenBatch& b : route_.tokenBatches()) deliverBatch(b);
    reinject();
    logLine();
    return route_.replies();
  }

 private:
  static std::vector<std::string> addresses(const smtp::Message& m) {
    std::vector<std::string> out;
    for (const smtp::Recipient& r : m.recipients) out.push_back(r.address);
    return out;
  }

  stoken::BookLimits limits() const {
    return {c_.stoken.temporary_ttl, c_.stoken.permanent_ttl, c_.stoken.permanent_refresh};
  }

  void lookUpHeld() {
    std::lock_guard<std::mutex> lock(shared_.store_mu);
    stoken::TokenBook book(*shared_.store, ring_, SystemClock::instance(), limits());
    for (size_t i = 0; i < route_.size(); ++i) {
      auto h = book.held(msg_.from.path, route_.address(i));
      if (h) {
        route_.setHeld(i, std::move(*h));
      } else if (h.error().kind() != ErrorKind::kNotFound &&
                 h.error().kind() != ErrorKind::kInvalid) {
        // Fail closed: no token path for it, the ordinary one instead.
        log::warning("stoken-router: held token for <%s> -> <%s>: %s; re-injecting",
                     msg_.from.path.c_str(), route_.address(i).c_str(),
                     h.error().message().c_str());
      }
    }
  }

  // The domain's token servers, from [stoken] servers, the cache or DNS.
  std::optional<std::vector<stoken::TokenServer>> servers(const std::string& domain,
                                                          std::string* why) {
    if (const config::ServerAddress* s = c_.stoken.serverFor(domain)) {
      stoken::TokenServer t;
      t.host = s->host;
      t.port = s->port;
      t.implicit_tls = true;
      t.source = stoken::ServerSource::kStatic;
      return std::vector<stoken::TokenServer>{t};
    }
    const int64_t now = dns::monotonicMs();
    {
      std::lock_guard<std::mutex> lock(shared_.cache_mu);
      auto it = shared_.cache.find(domain);
      if (it != shared_.cache.end() && it->second.expires_ms > now) {
        if (it->second.ok) return it->second.servers;
        *why = it->second.why + " (cached)";
        return std::nullopt;
      }
    }
    stoken::DiscoveryOptions o;
    o.submission_port = static_cast<uint16_t>(c_.stoken.submission_port);
    o.max_candidates = StokenRouter::kMaxCandidates;
    auto found = stoken::discoverTokenServers(o, *shared_.resolver, domain,
                                              now + c_.stoken.dial_timeout * 1000);
    StokenRouter::Shared::Cached entry;
    if (found) {
      entry.ok = true;
      entry.servers = *found;
      entry.expires_ms = now + StokenRouter::kDiscoveryTtl * 1000;
    } else {
      entry.why = "no token server: " + found.error().message();
      const bool temporary = found.error().kind() == ErrorKind::kTemporary;
      entry.expires_ms =
          now + (temporary ? StokenRouter::kDiscoveryFailTtl : StokenRouter::kDiscoveryTtl) * 1000;
      *why = entry.why;
    }
    {
      std::lock_guard<std::mutex> lock(shared_.cache_mu);
      if (shared_.cache.size() >= kMaxCacheEntries) shared_.cache.clear();
      shared_.cache[domain] = entry;
    }
    if (!entry.ok) return std::nullopt;
    return entry.servers;
  }

  // Our permanent token for (remote = recipient, local = sender), when our
  // token server would accept it; "" otherwise.
  std::string ourToken(stoken::TokenBook& book, const std::string& recipient) {
    const std::string sender_domain = domainOf(msg_.from.path);
    if (!c_.policyFor(sender_domain).accept_submission_tokens) return {};
    auto t = book.generate(stoken::Kind::kPermanent, recipient, msg_.from.path);
    if (!t) {
      log::warning("stoken-router: MYSTOKEN for <%s> -> <%s>: %s; sent without", recipient.c_str(),
                   msg_.from.path.c_str(), t.error().message().c_str());
      return {};
    }
    return *t;
  }

  smtp::DeliveryRequest tokenRequest(const TokenBatch& b, const stoken::TokenServer& s) {
    smtp::DeliveryRequest r;
    r.protocol = smtp::DeliveryProtocol::kLmtp;
    r.host = s.host;
    r.port = s.port;
    r.hello_name = hostname_;
    r.tls = s.implicit_tls ? smtp::DeliveryTls::kImplicit : smtp::DeliveryTls::kRequired;
    r.tls_options.server_name = s.host;
    if (const auto* pins = c_.stoken.tlsPinsFor(b.domain)) {
      r.tls_options.trust.pins = *pins;
    } else if (!dns::isOverlayName(s.host)) {
      r.tls_options.trust.verify_certificate = true;
      r.tls_options.trust.name = s.host;
      r.tls_options.trust.ca_file = c_.stoken.tls_ca_file;
    }
    // Overlay names without pins: the address is the key (as the milter).
    r.require_keyword = "STOKEN";
    const size_t first = b.recipients.front();
    r.auth_line = stoken::tokenAuthLine(route_.address(first), route_.held(first)->token);
    r.mail_from = msg_.from.path;
    if (body_) r.mail_params = "BODY=" + *body_;
    {
      std::lock_guard<std::mutex> lock(shared_.store_mu);
      stoken::TokenBook book(*shared_.store, ring_, SystemClock::instance(), limits());
      for (size_t i : b.recipients) {
        r.recipients.push_back(
            {route_.address(i),
             stoken::tokenRcptParams(route_.held(i)->token, ourToken(book, route_.address(i)))});
      }
    }
    r.message = msg_.data;
    r.drop_unadvertised_params = true;
    r.timeouts = timeoutsOf(c_.stoken, token_deadline_ms_ - dns::monotonicMs());
    r.dial = outboundDialOptions(c_);
    if (s.source != stoken::ServerSource::kStatic) r.dial.targets.refuse_non_public = true;
    r.max_recipients = b.recipients.size();
    return r;
  }

  void deliverBatch(const TokenBatch& b) {
    std::string why;
    auto candidates = servers(b.domain, &why);
    if (!candidates || candidates->empty()) {
      route_.reinjectBatch(b, why.empty() ? "no token server" : why);
      return;
    }
    std::optional<smtp::DeliveryResult> result;
    std::string used;
    size_t tried = 0;
    for (const stoken::TokenServer& s : *candidates) {
      if (tried++ >= StokenRouter::kMaxCandidates) break;
      if (dns::monotonicMs() >= token_deadline_ms_) {
        log::info("stoken-router: no time left for %s's token server", b.domain.c_str());
        break;
      }
      smtp::DeliveryRequest req = tokenRequest(b, s);
      result = smtp::deliver(req);
      used = s.host + ":" + std::to_string(s.port);
      if (!failedBeforeTokens(*result)) break;
      log::info("stoken-router: token server %s for %s: %s", used.c_str(), b.domain.c_str(),
                result->error.c_str());
    }
    if (!result) {
      route_.reinjectBatch(b, "no token server tried");
      return;
    }
    if (!result->session_ok) {
      log::debug("stoken-router: %s: %s", used.c_str(), result->error.c_str());
    }
    // Token log ids before effects change what is held.
    for (size_t i : b.recipients) token_ids_[i] = stoken::tokenLogId(route_.held(i)->token);
    const std::vector<stoken::TokenEffect> effects =
        route_.applyTokenAttempt(b, toAttempt(*result));
    for (size_t i : b.recipients) via_[i] = used;
    if (effects.empty()) return;
    std::lock_guard<std::mutex> lock(shared_.store_mu);
    stoken::TokenBook book(*shared_.store, ring_, SystemClock::instance(), limits());
    for (const stoken::TokenEffect& e : effects) {
      const std::string& rcpt = route_.address(e.recipient);
      if (e.what == stoken::TokenEffect::What::kHold) {
        auto h = book.hold(msg_.from.path, rcpt, e.permanent, stoken::Kind::kPermanent);
        if (!h) {
          log::warning("stoken-router: holding the permanent token for <%s> -> <%s>: %s",
                       msg_.from.path.c_str(), rcpt.c_str(), h.error().message().c_str());
        } else {
          perm_ids_[e.recipient] = stoken::tokenLogId(e.permanent);
        }
      } else {
        auto d = book.dropHeld(msg_.from.path, rcpt);
        if (!d) {
          log::warning("stoken-router: dropping the held token for <%s> -> <%s>: %s",
                       msg_.from.path.c_str(), rcpt.c_str(), d.error().message().c_str());
        }
        dropped_[e.recipient] = true;
      }
    }
  }

  void reinject() {
    const std::vector<size_t> rest = route_.toReinject();
    if (rest.empty()) return;
    smtp::DeliveryRequest r;
    r.protocol = smtp::DeliveryProtocol::kSmtp;
    r.host = c_.stoken.reinject_to.host;
    r.port = static_cast<uint16_t>(c_.stoken.reinject_to.port);
    r.hello_name = hostname_;
    r.tls = smtp::DeliveryTls::kNone;
    r.mail_from = msg_.from.path;
    if (body_) r.mail_params = "BODY=" + *body_;
    for (size_t i : rest) r.recipients.push_back({route_.address(i), ""});
    r.message = msg_.data;
    r.timeouts = timeoutsOf(c_.stoken, c_.stoken.delivery_timeout * 1000);
    r.max_recipients = rest.size();
    const smtp::DeliveryResult d = smtp::deliver(r);
    if (!d.session_ok) {
      log::warning("stoken-router: re-injection to %s:%u: %s", r.host.c_str(),
                   static_cast<unsigned>(r.port), d.error.c_str());
    }
    route_.applyReinjectAttempt(rest, toAttempt(d));
  }

  void logLine() {
    std::string by_token, reinjected, refused, deferred;
    auto add = [](std::string* list, const std::string& item) {
      if (!list->empty()) list->push_back(',');
      list->append(item);
    };
    for (size_t i = 0; i < route_.size(); ++i) {
      const std::string who = "<" + route_.address(i) + ">";
      std::string code = std::to_string(route_.reply(i).code);
      if (route_.reply(i).enhanced) code += " " + route_.reply(i).enhanced->toString();
      switch (route_.state(i)) {
        case RouteState::kByToken: {
          std::string item = who + ":token=" + token_ids_[i] + ":via=" + via_[i];
          if (perm_ids_.count(i)) item += ":perm=" + perm_ids_[i];
          add(&by_token, item);
          break;
        }
        case RouteState::kDone:
          add(&reinjected, who + (token_ids_.count(i) ? ":token=" + token_ids_[i] : "") +
                               (dropped_.count(i) ? ":dropped" : ""));
          break;
        case RouteState::kRefused:
          add(&refused, who + ":" + code);
          break;
        default:
          add(&deferred, who + ":" + code);
          break;
      }
      if (!route_.note(i).empty()) {
        log::debug("stoken-router: <%s>: %s", route_.address(i).c_str(), route_.note(i).c_str());
      }
    }
    log::info("stoken-router: from=<%s> size=%zu by-token=%s reinjected=%s refused=%s deferred=%s",
              msg_.from.path.c_str(), msg_.data.size(), by_token.c_str(), reinjected.c_str(),
              refused.c_str(), deferred.c_str());
  }

  StokenRouter::Shared& shared_;
  const config::Config& c_;
  const token::KeyRing& ring_;
  const smtp::Message& msg_;
  std::string hostname_;
  MessageRoute route_;
  std::optional<std::string> body_;
  int64_t token_deadline_ms_ = 0;  // dns::monotonicMs() past which no token server is tried
  std::map<size_t, std::string> token_ids_;  // recipient -> log id of the held token tried
  std::map<size_t, std::string> perm_ids_;   // recipient -> log id of a new permanent held
  std::map<size_t, std::string> via_;        // recipient -> token server host:port
  std::map<size_t, bool> dropped_;           // recipient -> its held token was dropped
};

// The LMTP session: the engine's transaction, the message to a worker.
class RouterSession final : public server::SmtpAdapter {
 public:
  RouterSession(config::ConfigPtr config, std::shared_ptr<const token::KeyRing> ring,
                std::shared_ptr<StokenRouter::Shared> shared, server::WorkQueue& queue,
                const std::string& hostname)
      : SmtpAdapter(settingsOf(*config, hostname), nullptr,
                    {.idle_timeout = config->mtepd.smtp_idle_timeout}),
        config_(std::move(config)),
        ring_(std::move(ring)),
        shared_(std::move(shared)),
        queue_(queue),
        hostname_(hostname) {
    installIntakeHooks(smtp().hooks(),
                       [this](smtp::ServerSession&, smtp::Message&& m) { submit(std::move(m)); });
  }

 private:
  static smtp::ServerSettings settingsOf(const config::Config& c, const std::string& hostname) {
    return intakeSettings(c, hostname, "LMTP mtepd token router", c.stoken.max_recipients, c.stoken.max_message_size);
  }

  void submit(smtp::Message&& m) {
    ConnectionHandle h = handle();
    auto message = std::make_shared<const smtp::Message>(std::move(m));
    const size_t n = message->recipients.size();
    queue_.submit<std::vector<Reply>>(
        [shared = shared_, config = config_, ring = ring_, message, hostname = hostname_] {
          MessageJob job(*shared, *config, *ring, *message, hostname);
          return job.run();
        },
        [h](std::vector<Reply> replies) {
          ProtocolSession* s = h.session();
          if (s == nullptr) return;  // Postfix left meanwhile: it retries the message
          static_cast<RouterSession*>(s)->resume(replies);
        },
        std::vector<Reply>(n, makeReply(451, {4, 3, 0}, "internal error in the token router")));
  }

  config::ConfigPtr config_;
  std::shared_ptr<const token::KeyRing> ring_;
  std::shared_ptr<StokenRouter::Shared> shared_;
  server::WorkQueue& queue_;
  std::string hostname_;
};

}  // namespace

Status checkFilterListen(const config::Config& config) {
  return requireLoopback(config.stoken.filter_listen, "[stoken] filter_listen",
                         "whoever reaches the token router sends mail as any local user");
}

Result<std::unique_ptr<StokenRouter>> StokenRouter::create(
    config::ConfigPtr config, std::shared_ptr<const token::KeyRing> ring, event_base* base) {
  if (Status s = checkFilterListen(*config); !s) return std::move(s).error();
  std::unique_ptr<StokenRouter> r(new StokenRouter());
  r->shared_ = std::make_shared<Shared>();
  const bool on = !config->stoken.filter_listen.empty();
  if (on) {
    auto st = store::open(config->store, SystemClock::instance());
    if (!st) {
      return Error(st.error().kind(),
                   "token router: store " + config->store.path + ": " + st.error().message());
    }
    r->shared_->store = std::move(*st);
    r->shared_->resolver = dns::makeSystemResolver();
  }
  auto queue = server::WorkQueue::create(base, on ? kWorkers : 1);
  if (!queue) return std::move(queue).error();
  r->queue_ = std::move(*queue);
  r->ring_ = std::move(ring);
  r->setConfig(std::move(config));
  return r;
}

StokenRouter::~StokenRouter() { stop(); }

void StokenRouter::setConfig(config::ConfigPtr config) {
  config_ = std::move(config);
  busy_reply_ = "421 4.3.2 " + smtpHostname(*config_) + " token router busy, try again later\r\n";
}

void StokenRouter::setRing(std::shared_ptr<const token::KeyRing> ring) { ring_ = std::move(ring); }

void StokenRouter::stop() {
  if (queue_) queue_->stop();
}

size_t StokenRouter::outstanding() const { return queue_ ? queue_->outstanding() : 0; }

std::unique_ptr<ProtocolSession> StokenRouter::create(const PeerInfo& /*peer*/) {
  return std::make_unique<RouterSession>(config_, ring_, shared_, *queue_, smtpHostname(*config_));
}

}  // namespace mtep::mtepd
