// NAME
//   server.cc - mtepd's service: store, key ring and its watch, MTEP factory
// DESCRIPTION
//   See server.h. The skeleton calls these on the loop thread and logs
//   anything they throw.

#include "server.h"

#include "store/open.h"
#include "util/clock.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

bool tokenServerOn(const config::Config& c) {
  return !c.stoken.listen.empty() || !c.stoken.starttls_listen.empty();
}

Result<std::shared_ptr<const token::KeyRing>> loadRing(const std::string& path, bool create) {
  token::KeyRingOptions options;
  options.create = create;
  auto ring = token::KeyRing::load(path, options, SystemClock::instance());
  if (!ring) return std::move(ring).error();
  return std::shared_ptr<const token::KeyRing>(
      std::make_shared<const token::KeyRing>(std::move(*ring)));
}

}  // namespace

server::DaemonSettings Server::settings(const config::Config& config) const {
  server::DaemonSettings s;
  s.section = "mtepd";
  const config::MtepdConfig& m = config.mtepd;
  // Each group its own cap; the per-client cap on the public listeners
  // only (the relay's one client is the local MTA).
  s.listen.push_back({"listen", m.listen, m.max_connections, m.max_connections_per_client,
                      m.connection_lifetime});  // kMtepGroup
  s.listen.push_back({"smtp_listen", m.smtp_listen, m.smtp_max_connections,
                      m.max_connections_per_client, m.connection_lifetime});  // kSmtpGroup
  s.listen.push_back({"onion_relay", m.onion_relay, m.relay_max_connections, 0,
                      m.connection_lifetime});  // kRelayGroup
  // The token server's listeners, capped like smtp_listen.
  s.listen.push_back({"listen ([stoken])", config.stoken.listen, m.smtp_max_connections,
                      m.max_connections_per_client, m.connection_lifetime});  // kStokenGroup
  s.listen.push_back({"starttls_listen ([stoken])", config.stoken.starttls_listen,
                      m.smtp_max_connections, m.max_connections_per_client,
                      m.connection_lifetime});  // kStokenStarttlsGroup
  // Postfix's lmtp client: its own process limit caps it; the smtp cap.
  s.listen.push_back({"filter_listen ([stoken])", config.stoken.filter_listen,
                      m.smtp_max_connections, 0, m.connection_lifetime});  // kRouterGroup
  // The MMTP gateway's two listeners share one cap.
  s.listen.push_back({"listen ([mmtp])", config.mmtp.listen, config.mmtp.max_connections,
                      config.mmtp.max_connections_per_client, m.connection_lifetime});  // kMmtpGroup
  s.listen.push_back({"tls_listen ([mmtp])", config.mmtp.tls_listen, config.mmtp.max_connections,
                      config.mmtp.max_connections_per_client,
                      m.connection_lifetime});  // kMmtpTlsGroup
  // The MTA's lmtp client, like filter_listen: the smtp cap.
  s.listen.push_back({"lmtp_listen ([mmtp])", config.mmtp.lmtp_listen, m.smtp_max_connections, 0,
                      m.connection_lifetime});  // kMmtpLmtpGroup
  s.max_connections = m.max_connections;
  if (mmtpOn(config)) s.max_connections += config.mmtp.max_connections;
  if (!m.smtp_listen.empty()) s.max_connections += m.smtp_max_connections;
  if (tokenServerOn(config)) s.max_connections += 2 * m.smtp_max_connections;
  if (!m.onion_relay.empty()) s.max_connections += m.relay_max_connections;
  if (!config.stoken.filter_listen.empty()) s.max_connections += m.smtp_max_connections;
  if (!config.mmtp.lmtp_listen.empty()) s.max_connections += m.smtp_max_connections;
  s.pid_file = config.mtepd.pid_file;
  s.shutdown_grace = kShutdownGrace;
  return s;
}

Status Server::prepare(const config::Config& c) {
  if (Status s = checkFilterListen(c); !s) return s;
  if (Status s = checkMmtpLmtpListen(c); !s) return s;
  if (tokenServerOn(c) && c.mtepd.tls_cert_file.empty()) {
    return Error(ErrorKind::kConfig,
                 "[stoken] listen/starttls_listen: the token server speaks only TLS and needs "
                 "[mtepd] tls_cert_file and tls_key_file");
  }
  if (!c.mmtp.tls_listen.empty() && c.mtepd.tls_cert_file.empty()) {
    return Error(ErrorKind::kConfig,
                 "[mmtp] tls_listen: the MMTP TLS listener needs [mtepd] tls_cert_file and "
                 "tls_key_file");
  }
  if ((c.mtepd.smtp_listen.empty() && !tokenServerOn(c) && c.mmtp.tls_listen.empty()) ||
      c.mtepd.tls_cert_file.empty()) {
    return okStatus();
  }
  auto tls = server::TlsContext::load(c.mtepd.tls_cert_file, c.mtepd.tls_key_file);
  if (!tls) return Error(tls.error().kind(), "[mtepd] tls_cert_file: " + tls.error().message());
  tls_ = std::move(*tls);
  log::info("STARTTLS certificate %s: %s", c.mtepd.tls_cert_file.c_str(),
            tls_->subject().c_str());
  return okStatus();
}

Status Server::open(server::Daemon& daemon) {
  daemon_ = &daemon;
  const config::ConfigPtr& config = daemon.config();
  const config::Config& c = *config;
  // Redis's errors name the server; SQLite's the file.
  const std::string where = c.store.backend == "redis" ? std::string() : " " + c.store.path;
  store_password_ = store::openedPassword(c.store);
  auto st = store::open(c.store, SystemClock::instance());
  if (!st) return Error(st.error().kind(), "store" + where + ": " + st.error().message());
  store_ = std::move(*st);

  key_watch_.setPath(c.tokens.key_file);
  const token::KeyFileWatch::Stamp before = key_watch_.stamp();  // before reading it
  auto ring = loadRing(c.tokens.key_file, /*create=*/true);
  if (!ring) {
    return Error(ring.error().kind(),
                 "key file " + c.tokens.key_file + ": " + ring.error().message());
  }
  ring_ = std::move(*ring);
  key_watch_.loaded(before);
  log::info("key ring %s: %zu keys, current key id %u", c.tokens.key_file.c_str(),
            ring_->keys().size(), static_cast<unsigned>(ring_->current().id));

  authority_ =
      std::make_unique<proto::TokenAuthority>(config, ring_, *store_, SystemClock::instance());
  // The authority's revocation checks are the loop's only store reads.
  // Redis answers them from a list its store keeps fresh on a thread of
  // its own (redis_store.h), whose first load the first check waits for:
  // that wait is taken here, at start-up, instead of by the first query.
  (void)store_->isTokenRevoked("");
  factory_ = std::make_unique<MtepSessionFactory>(config, *authority_);
  // The key service's reads and writes go to one worker with a store
  // handle of its own, so that a locked SQLite (up to [store]
  // busy_timeout) or a slow Redis (up to redis_timeout_ms) never stalls
  // the loop. users_ is what KeyLogin::attempt() would read; every
  // listener logs in with start(), lookup() on a handle of its own, finish().
  users_ = std::make_unique<e2ee::UserBook>(*store_, SystemClock::instance());
  limiter_ = std::make_unique<e2ee::LoginLimiter>(SystemClock::instance());
  KeyService keys{users_.get(), limiter_.get()};
  if (!c.mtepd.smtp_listen.empty()) {
    auto ks = store::open(c.store, SystemClock::instance());
    if (!ks) {
      return Error(ks.error().kind(),
                   "store" + where + " (key service): " + ks.error().message());
    }
    key_store_ = std::move(*ks);
    key_writer_ = std::make_unique<e2ee::UserBook>(*key_store_, SystemClock::instance());
    auto queue = server::WorkQueue::create(daemon.base(), 1);
    if (!queue) return std::move(queue).error();
    key_queue_ = std::move(*queue);
    keys.writer = key_writer_.get();
    keys.queue = key_queue_.get();
  }
  smtp_factory_ = std::make_unique<SmtpSessionFactory>(config, *authority_, tls_, keys);
  login_ = std::make_unique<KeyLogin>(users_.get(), limiter_.get());
  if (tokenServerOn(c)) {
    auto ws = store::open(c.store, SystemClock::instance());
    if (!ws) {
      return Error(ws.error().kind(),
                   "store" + where + " (token server): " + ws.error().message());
    }
    TokenServer::Parts parts;
    parts.login = login_.get();
    parts.writer_store = std::move(*ws);
    parts.tls = tls_;
    auto ts = TokenServer::create(config, ring_, std::move(parts), daemon.base());
    if (!ts) return std::move(ts).error();
    token_server_ = std::move(*ts);
  }
  if (mmtpOn(c)) {
    auto m = MmtpService::create(config, tls_, login_.get(), daemon.base());
    if (!m) return std::move(m).error();
    mmtp_ = std::move(*m);
  }
  if (!c.mmtp.lmtp_listen.empty()) {
    auto b = MmtpBridge::create(config, daemon.base());
    if (!b) return std::move(b).error();
    mmtp_bridge_ = std::move(*b);
  }
  auto relay = RelayFactory::create(config, daemon.base());
  if (!relay) return std::move(relay).error();
  relay_factory_ = std::move(*relay);
  auto router = StokenRouter::create(config, ring_, daemon.base());
  if (!router) return std::move(router).error();
  router_ = std::move(*router);

  // The purge runs on a worker of its own with a store handle of its own.
  auto ps = store::open(c.store, SystemClock::instance());
  if (!ps) return Error(ps.error().kind(), "store" + where + " (purge): " + ps.error().message());
  purge_store_ = std::move(*ps);
  auto pq = server::WorkQueue::create(daemon.base(), 1);
  if (!pq) return std::move(pq).error();
  purge_queue_ = std::move(*pq);

  Status s = daemon.addTimer(kKeyCheckInterval, "key file check", [this] { checkKeyFile(); });
  if (s) s = daemon.addTimer(kPurgeInterval, "store purge", [this] { purgeStore(); });
  return s;
}

server::SessionFactory& Server::factory(size_t group) {
  if (group == kSmtpGroup) return *smtp_factory_;
  if (group == kRelayGroup) return *relay_factory_;
  if ((group == kStokenGroup || group == kStokenStarttlsGroup) && token_server_) {
    return token_server_->factory(group == kStokenGroup);
  }
  if (group == kRouterGroup) return *router_;
  if ((group == kMmtpGroup || group == kMmtpTlsGroup) && mmtp_) {
    return mmtp_->factory(group == kMmtpTlsGroup);
  }
  if (group == kMmtpLmtpGroup && mmtp_bridge_) return *mmtp_bridge_;
  return *factory_;
}

void Server::apply(const config::ConfigPtr& next) {
  if (next->tokens.key_file != key_watch_.path()) {
    token::KeyFileWatch watch(next->tokens.key_file);
    const token::KeyFileWatch::Stamp before = watch.stamp();  // before reading it
    auto ring = loadRing(next->tokens.key_file, /*create=*/false);
    if (ring) {
      ring_ = std::move(*ring);
      watch.loaded(before);
      key_watch_ = std::move(watch);
      log::notice("SIGHUP: now using key file %s", next->tokens.key_file.c_str());
    } else {
      log::error("SIGHUP: key file %s: %s; keeping %s", next->tokens.key_file.c_str(),
                 ring.error().message().c_str(), key_watch_.path().c_str());
    }
  }
  factory_->setConfig(next);
  smtp_factory_->setConfig(next);
  relay_factory_->setConfig(next);
  if (token_server_) {
    token_server_->setConfig(next);
    token_server_->setRing(ring_);
  }
  router_->setConfig(next);
  router_->setRing(ring_);
  if (mmtp_) mmtp_->setConfig(next);
  if (mmtp_bridge_) mmtp_bridge_->setConfig(next);
  authority_->update(next, ring_);
}

void Server::restartOnly(const config::Config& current, const config::Config& next,
                         std::vector<std::string>* changed) const {
  if (store::restartNeeded(current.store, next.store)) {
    changed->push_back("[store]");
  } else if (purge_queue_) {
    // A new Redis password is tried on Redis (a connection, up to
    // redis_timeout_ms): on the purge's worker, not the loop.
    purge_queue_->submit(
        [next = next.store, opened = store_password_] {
          store::reviewPassword(next, opened, "mtepd");
        },
        [] {});
  } else {
    store::reviewPassword(next.store, store_password_, "mtepd");
  }
  if (next.mtepd.tls_cert_file != current.mtepd.tls_cert_file ||
      next.mtepd.tls_key_file != current.mtepd.tls_key_file) {
    changed->push_back("[mtepd] tls_cert_file/tls_key_file");
  }
}

std::string Server::shutdownNote() const {
  std::string note;
  const size_t n = relay_factory_ ? relay_factory_->outstanding() : 0;
  if (n > 0) note += ", " + std::to_string(n) + " relay step(s) running";
  const size_t k = key_queue_ ? key_queue_->outstanding() : 0;
  if (k > 0) note += ", " + std::to_string(k) + " key store write(s) running";
  const size_t t = token_server_ ? token_server_->outstanding() : 0;
  if (t > 0) note += ", " + std::to_string(t) + " token delivery/write(s) running";
  const size_t r = router_ ? router_->outstanding() : 0;
  if (r > 0) note += ", " + std::to_string(r) + " routed message(s) running";
  const size_t g = mmtp_ ? mmtp_->outstanding() : 0;
  if (g > 0) note += ", " + std::to_string(g) + " MMTP message(s) being handed to the MTA";
  const size_t b = mmtp_bridge_ ? mmtp_bridge_->outstanding() : 0;
  if (b > 0) note += ", " + std::to_string(b) + " message(s) from the MTA being delivered over MMTP";
  return note;
}

void Server::stopped() {
  if (relay_factory_) relay_factory_->stop();
  if (key_queue_) key_queue_->stop();
  if (token_server_) token_server_->stop();
  if (router_) router_->stop();
  if (mmtp_) mmtp_->stop();
  if (mmtp_bridge_) mmtp_bridge_->stop();
  if (purge_queue_) purge_queue_->stop();
}

void Server::checkKeyFile() {
  // Until a load succeeds, every check tries again (key_watch.h).
  const token::KeyFileWatch::Outcome outcome = key_watch_.reload([this]() -> Status {
    auto ring = loadRing(key_watch_.path(), /*create=*/false);
    if (!ring) return std::move(ring).error();
    ring_ = std::move(*ring);
    return okStatus();
  });
  if (outcome == token::KeyFileWatch::Outcome::kFailed) {
    log::error("key file %s changed but cannot be used: %s; keeping the previous keys and "
               "trying again every %d s",
               key_watch_.path().c_str(), key_watch_.lastError().c_str(), kKeyCheckInterval);
  }
  if (outcome != token::KeyFileWatch::Outcome::kLoaded) return;
  authority_->update(daemon_->config(), ring_);
  if (token_server_) token_server_->setRing(ring_);
  if (router_) router_->setRing(ring_);
  log::notice("key file %s reloaded: %zu keys, current key id %u", key_watch_.path().c_str(),
              ring_->keys().size(), static_cast<unsigned>(ring_->current().id));
}

void Server::purgeStore() {
  // One purge at a time: a store slower than kPurgeInterval skips a turn.
  if (purge_queue_->outstanding() > 0) return;
  store::Store* st = purge_store_.get();
  purge_queue_->submit<Result<uint64_t>>(
      [st] { return st->purgeExpired(); },
      [](Result<uint64_t> purged) {
        if (!purged) {
          log::warning("store purge failed: %s", purged.error().message().c_str());
        } else if (*purged > 0) {
          log::info("store: purged %llu expired entries", static_cast<unsigned long long>(*purged));
        }
      },
      Result<uint64_t>(Error(ErrorKind::kInternal, "the purge failed unexpectedly")));
}

}  // namespace mtep::mtepd
