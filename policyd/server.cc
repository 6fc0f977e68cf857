// NAME
//   server.cc - mtep-policyd's event loop, signals, reload, shutdown
// DESCRIPTION
//   See server.h. Every libevent callback here is noexcept and catches
//   everything: a surprise is logged, never allowed to end the process.

#include "server.h"

#include <sys/resource.h>

#include <csignal>
#include <exception>

#include "store/open.h"
#include "util/clock.h"
#include "util/log.h"

namespace mtep::policyd {
namespace {

using server::EventPtr;
using server::Listener;

std::vector<std::string> listenNames(const config::Config& c) {
  std::vector<std::string> out;
  for (const auto& a : c.policyd.listen) out.push_back(a.toString());
  return out;
}

}  // namespace

Result<std::unique_ptr<Server>> Server::bind(config::ConfigPtr config, std::string config_path) {
  std::unique_ptr<Server> server(new Server(std::move(config), std::move(config_path)));
  for (const auto& address : server->config_->policyd.listen) {
    auto listener = Listener::bind(address);
    if (!listener) return std::move(listener).error();
    server->listeners_.push_back(std::move(*listener));
  }
  return server;
}

Server::~Server() {
  // Connections hold bufferevents of base_ and sessions that use the
  // lookups; the queue's completions point at the lookups too.
  pool_.reset();
  if (queue_) queue_->stop();
}

Status Server::open() {
  const config::Config& c = *config_;
  auto st = store::open(c.store, SystemClock::instance());
  if (st) {
    store_ = std::move(*st);
  } else {
    log::warning("store %s: %s; require_stamp will tempfail (451 4.3.0) until a restart",
                 c.store.path.c_str(), st.error().message().c_str());
  }

  auto base = server::makeEventBase();
  if (!base) return std::move(base).error();
  base_ = std::move(*base);

  resolver_ = dns::makeSystemResolver();
  backend_ = std::make_unique<NetworkLookups>(config_, *resolver_, SystemClock::instance());
  engine_ = std::make_unique<policy::Engine>(config_, SystemClock::instance());
  engine_->setStore(store_.get());
  auto queue = server::WorkQueue::create(base_.get(), c.policyd.lookup_threads);
  if (!queue) return std::move(queue).error();
  queue_ = std::move(*queue);
  lookups_ = std::make_unique<Lookups>(*queue_, *engine_, *backend_);
  factory_ = std::make_unique<PolicySessionFactory>(config_, *engine_, *lookups_);
  pool_ = std::make_unique<server::ConnectionPool>(base_.get(), c.policyd.max_connections);

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
  expire_timer_ = addTimer(&Server::expireTimerCallback, kExpireInterval);
  purge_timer_ = addTimer(&Server::purgeTimerCallback, kPurgeInterval);
  if (!expire_timer_ || !purge_timer_) return Error(ErrorKind::kInternal, "cannot add timers");
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
  queue_->stop();
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

void Server::expireTimerCallback(evutil_socket_t, short, void* arg) noexcept {
  try {
    static_cast<Server*>(arg)->engine_->expire();
  } catch (...) {
    log::error("expiring policy state failed unexpectedly");
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
  log::notice("shutdown grace over, closing %zu busy connection(s)", self->pool_->size());
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
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 &&
      lim.rlim_cur < next->policyd.max_connections + 64u) {
    log::warning("SIGHUP: max_connections %u needs %u descriptors, the limit is %llu",
                 next->policyd.max_connections, next->policyd.max_connections + 64u,
                 static_cast<unsigned long long>(lim.rlim_cur));
  }
  config_ = next;
  pool_->setMaxConnections(next->policyd.max_connections);
  engine_->setConfig(next);
  backend_->setConfig(next);
  factory_->setConfig(next);
  log::notice("SIGHUP: configuration reloaded from %s", config_path_.c_str());
}

void Server::warnRestartOnly(const config::Config& next) const {
  const config::Config& cur = *config_;
  auto warn = [](const char* what) {
    log::warning("SIGHUP: %s changed; restart mtep-policyd to apply it", what);
  };
  if (listenNames(next) != listenNames(cur)) {
    log::warning("SIGHUP: [policyd] listen changed; restart mtep-policyd to apply it (still on %s)",
                 listenSummary().c_str());
  }
  if (next.global.user != cur.global.user) warn("[global] user");
  if (next.global.state_dir != cur.global.state_dir) warn("[global] state_dir");
  if (next.policyd.pid_file != cur.policyd.pid_file) warn("[policyd] pid_file");
  if (next.policyd.lookup_threads != cur.policyd.lookup_threads) warn("[policyd] lookup_threads");
  if (next.store.backend != cur.store.backend || next.store.path != cur.store.path ||
      next.store.busy_timeout != cur.store.busy_timeout) {
    warn("[store]");
  }
}

void Server::purgeStore() {
  if (!store_) return;
  auto purged = store_->purgeExpired();
  if (!purged) {
    log::warning("store purge failed: %s", purged.error().message().c_str());
  } else if (*purged > 0) {
    log::info("store: purged %llu expired entries", static_cast<unsigned long long>(*purged));
  }
}

void Server::shutdown(const char* why) {
  shutting_down_ = true;
  log::notice("%s received: shutting down, %zu connection(s) open, %zu lookup(s) running", why,
              pool_->size(), lookups_->inFlight());
  for (auto& l : listeners_) l->stop();
  expire_timer_.reset();
  purge_timer_.reset();
  pool_->drain([this] { event_base_loopbreak(base_.get()); });  // idle ones are gone after this
  if (pool_->size() == 0) return;
  grace_timer_.reset(evtimer_new(base_.get(), &Server::graceTimerCallback, this));
  timeval tv{static_cast<time_t>(config_->policyd.lookup_timeout + kShutdownGrace), 0};
  if (!grace_timer_ || evtimer_add(grace_timer_.get(), &tv) != 0) {
    event_base_loopbreak(base_.get());
  }
}

}  // namespace mtep::policyd
