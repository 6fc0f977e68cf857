// NAME
//   server.cc - mtepd's event loop, signals, reload, key watch, shutdown
// DESCRIPTION
//   See server.h. Every libevent callback here is noexcept and catches
//   everything: a surprise is logged, never allowed to end the process.

#include "server.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>

#include "store/open.h"
#include "util/clock.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

using server::EventPtr;
using server::Listener;

std::vector<std::string> listenNames(const config::Config& c) {
  std::vector<std::string> out;
  for (const auto& a : c.mtepd.listen) out.push_back(a.toString());
  return out;
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

Result<std::unique_ptr<Server>> Server::bind(config::ConfigPtr config, std::string config_path) {
  std::unique_ptr<Server> server(new Server(std::move(config), std::move(config_path)));
  for (const auto& address : server->config_->mtepd.listen) {
    auto listener = Listener::bind(address);
    if (!listener) return std::move(listener).error();
    server->listeners_.push_back(std::move(*listener));
  }
  return server;
}

Server::~Server() {
  // Connections hold bufferevents of base_: free them before anything else.
  pool_.reset();
}

Status Server::open() {
  const config::Config& c = *config_;
  auto st = store::open(c.store, SystemClock::instance());
  if (!st) return Error(st.error().kind(), "store " + c.store.path + ": " + st.error().message());
  store_ = std::move(*st);

  auto ring = loadRing(c.tokens.key_file, /*create=*/true);
  if (!ring) {
    return Error(ring.error().kind(),
                 "key file " + c.tokens.key_file + ": " + ring.error().message());
  }
  ring_ = std::move(*ring);
  key_watch_.setPath(c.tokens.key_file);
  key_watch_.reset();
  log::info("key ring %s: %zu keys, current key id %u", c.tokens.key_file.c_str(),
            ring_->keys().size(), static_cast<unsigned>(ring_->current().id));

  authority_ =
      std::make_unique<proto::TokenAuthority>(config_, ring_, *store_, SystemClock::instance());
  factory_ = std::make_unique<MtepSessionFactory>(config_, *authority_);

  auto base = server::makeEventBase();
  if (!base) return std::move(base).error();
  base_ = std::move(*base);
  pool_ = std::make_unique<server::ConnectionPool>(base_.get(), c.mtepd.max_connections);

  for (auto& l : listeners_) {
    Status s = l->start(base_.get(), *factory_, *pool_);
    if (!s) return s;
  }
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) {
    EventPtr ev(evsignal_new(base_.get(), sig, &Server::signalCallback, this));
    if (!ev || evsignal_add(ev.get(), nullptr) != 0) {
      return Error(ErrorKind::kInternal, "cannot watch signal " + std::to_string(sig));
    }
    signals_.push_back(std::move(ev));
  }
  key_timer_ = addTimer(&Server::keyTimerCallback, kKeyCheckInterval);
  purge_timer_ = addTimer(&Server::purgeTimerCallback, kPurgeInterval);
  if (!key_timer_ || !purge_timer_) return Error(ErrorKind::kInternal, "cannot add timers");
  return okStatus();
}

EventPtr Server::addTimer(event_callback_fn cb, int seconds) {
  EventPtr ev(event_new(base_.get(), -1, EV_PERSIST, cb, this));
  timeval tv{seconds, 0};
  if (!ev || event_add(ev.get(), &tv) != 0) return nullptr;
  return ev;
}

int Server::run() {
  log::notice("ready");
  int rc = event_base_dispatch(base_.get());
  size_t left = pool_->closeAll();
  if (rc < 0) {
    log::error("event loop failed");
    return 1;
  }
  log::notice("stopped (%zu connections cut at shutdown)", left);
  return 0;
}

std::string Server::listenSummary() const {
  std::string out;
  for (const auto& l : listeners_) {
    if (!out.empty()) out += ", ";
    out += l->name();
  }
  return out;
}

// --- signals and timers --------------------------------------------------

void Server::signalCallback(evutil_socket_t sig, short, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  try {
    if (sig == SIGHUP) {
      self->reload();
    } else if (self->shutting_down_) {
      log::notice("second stop signal: exiting now");
      event_base_loopbreak(self->base_.get());
    } else {
      self->shutdown(sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
  } catch (const std::exception& e) {
    log::error("signal %d handling failed: %s", static_cast<int>(sig), e.what());
  } catch (...) {
    log::error("signal %d handling failed", static_cast<int>(sig));
  }
}

void Server::keyTimerCallback(evutil_socket_t, short, void* arg) noexcept {
  try {
    static_cast<Server*>(arg)->checkKeyFile();
  } catch (...) {
    log::error("key file check failed unexpectedly");
  }
}

void Server::purgeTimerCallback(evutil_socket_t, short, void* arg) noexcept {
  try {
    static_cast<Server*>(arg)->purgeStore();
  } catch (...) {
    log::error("store purge failed unexpectedly");
  }
}

void Server::graceTimerCallback(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  log::notice("shutdown grace of %d s over, closing %zu busy connection(s)", kShutdownGrace,
              self->pool_->size());
  event_base_loopbreak(self->base_.get());
}

void Server::reload() {
  auto loaded = config::loadFile(config_path_);
  if (!loaded) {
    log::error("SIGHUP: %s; keeping the previous configuration", loaded.error().message().c_str());
    return;
  }
  config::ConfigPtr next = std::move(*loaded);
  warnRestartOnly(*next);

  log::Level level;
  if (log::parseLevel(next->log.level.c_str(), &level)) log::setMinLevel(level);

  if (next->tokens.key_file != key_watch_.path()) {
    auto ring = loadRing(next->tokens.key_file, /*create=*/false);
    if (ring) {
      ring_ = std::move(*ring);
      key_watch_.setPath(next->tokens.key_file);
      key_watch_.reset();
      log::notice("SIGHUP: now using key file %s", next->tokens.key_file.c_str());
    } else {
      log::error("SIGHUP: key file %s: %s; keeping %s", next->tokens.key_file.c_str(),
                 ring.error().message().c_str(), key_watch_.path().c_str());
    }
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < next->mtepd.max_connections + 64u) {
    log::warning("SIGHUP: max_connections %u needs %u descriptors, the limit is %llu",
                 next->mtepd.max_connections, next->mtepd.max_connections + 64u,
                 static_cast<unsigned long long>(lim.rlim_cur));
  }
  config_ = next;
  pool_->setMaxConnections(next->mtepd.max_connections);
  factory_->setConfig(next);
  authority_->update(next, ring_);
  log::notice("SIGHUP: configuration reloaded from %s", config_path_.c_str());
}

void Server::warnRestartOnly(const config::Config& next) const {
  const config::Config& cur = *config_;
  auto warn = [](const char* what) {
    log::warning("SIGHUP: %s changed; restart mtepd to apply it", what);
  };
  if (listenNames(next) != listenNames(cur)) {
    log::warning("SIGHUP: [mtepd] listen changed; restart mtepd to apply it (still on %s)",
                 listenSummary().c_str());
  }
  if (next.global.user != cur.global.user) warn("[global] user");
  if (next.global.state_dir != cur.global.state_dir) warn("[global] state_dir");
  if (next.mtepd.pid_file != cur.mtepd.pid_file) warn("[mtepd] pid_file");
  if (next.store.backend != cur.store.backend || next.store.path != cur.store.path ||
      next.store.busy_timeout != cur.store.busy_timeout) {
    warn("[store]");
  }
}

void Server::checkKeyFile() {
  if (!key_watch_.changed()) return;
  auto ring = loadRing(key_watch_.path(), /*create=*/false);
  if (!ring) {
    log::error("key file %s changed but cannot be used: %s; keeping the previous keys",
               key_watch_.path().c_str(), ring.error().message().c_str());
    return;
  }
  ring_ = std::move(*ring);
  authority_->update(config_, ring_);
  log::notice("key file %s reloaded: %zu keys, current key id %u", key_watch_.path().c_str(),
              ring_->keys().size(), static_cast<unsigned>(ring_->current().id));
}

void Server::purgeStore() {
  auto purged = store_->purgeExpired();
  if (!purged) {
    log::warning("store purge failed: %s", purged.error().message().c_str());
  } else if (*purged > 0) {
    log::info("store: purged %llu expired entries", static_cast<unsigned long long>(*purged));
  }
}

void Server::shutdown(const char* why) {
  shutting_down_ = true;
  log::notice("%s received: shutting down, %zu connection(s) open", why, pool_->size());
  for (auto& l : listeners_) l->stop();
  key_timer_.reset();
  purge_timer_.reset();
  pool_->drain([this] { event_base_loopbreak(base_.get()); });  // idle ones are gone after this
  if (pool_->size() == 0) return;
  grace_timer_.reset(evtimer_new(base_.get(), &Server::graceTimerCallback, this));
  timeval tv{kShutdownGrace, 0};
  if (!grace_timer_ || evtimer_add(grace_timer_.get(), &tv) != 0) {
    event_base_loopbreak(base_.get());
  }
}

}  // namespace mtep::mtepd
