// NAME
//   daemon.cc - the shared daemon skeleton: listeners, pool, signals, reload
// DESCRIPTION
//   See daemon.h. Every libevent callback here is noexcept and catches
//   everything: a surprise is logged, never allowed to end the process.

#include "server/daemon.h"

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <exception>

#include "util/log.h"

namespace mtep::server {
namespace {

std::vector<std::string> addressNames(const ListenGroup& group) {
  std::vector<std::string> out;
  for (const auto& a : group.addresses) out.push_back(a.toString());
  return out;
}

std::vector<GroupLimits> groupLimits(const DaemonSettings& settings) {
  std::vector<GroupLimits> out;
  for (const auto& g : settings.listen) {
    out.push_back({g.max_connections, g.max_connections_per_client, g.connection_lifetime});
  }
  return out;
}

}  // namespace

Daemon::Daemon(const char* name, std::unique_ptr<Service> service, config::ConfigPtr config,
               std::string config_path)
    : name_(name),
      config_path_(std::move(config_path)),
      config_(std::move(config)),
      settings_(service->settings(*config_)),
      service_(std::move(service)) {}

Result<std::unique_ptr<Daemon>> Daemon::bind(const char* name, std::unique_ptr<Service> service,
                                             config::ConfigPtr config, std::string config_path) {
  std::unique_ptr<Daemon> daemon(
      new Daemon(name, std::move(service), std::move(config), std::move(config_path)));
  const auto& groups = daemon->settings_.listen;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const auto& address : groups[g].addresses) {
      auto listener = Listener::bind(address);
      if (!listener) return std::move(listener).error();
      daemon->listeners_.push_back({g, std::move(*listener)});
    }
  }
  return daemon;
}

Daemon::~Daemon() {
  // Connections hold bufferevents of base_ and sessions that use the
  // service: free them before anything else.
  pool_.reset();
}

Status Daemon::open() {
  auto base = makeEventBase();
  if (!base) return std::move(base).error();
  base_ = std::move(*base);

  Status opened = service_->open(*this);
  if (!opened) return opened;

  pool_ = std::make_unique<ConnectionPool>(base_.get(), settings_.max_connections,
                                           groupLimits(settings_));
  for (auto& bound : listeners_) {
    Status s = bound.listener->start(base_.get(), service_->factory(bound.group), *pool_,
                                     bound.group);
    if (!s) return s;
  }
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) {
    EventPtr ev(evsignal_new(base_.get(), sig, &Daemon::signalCallback, this));
    if (!ev || evsignal_add(ev.get(), nullptr) != 0) {
      return Error(ErrorKind::kInternal, "cannot watch signal " + std::to_string(sig));
    }
    signals_.push_back(std::move(ev));
  }
  return okStatus();
}

Status Daemon::addTimer(int64_t seconds, std::string what, std::function<void()> fn) {
  auto timer = std::make_unique<Timer>();
  timer->what = std::move(what);
  timer->fn = std::move(fn);
  timer->event.reset(event_new(base_.get(), -1, EV_PERSIST, &Daemon::timerCallback, timer.get()));
  timeval tv{static_cast<time_t>(seconds), 0};
  if (!timer->event || event_add(timer->event.get(), &tv) != 0) {
    return Error(ErrorKind::kInternal, "cannot add timers");
  }
  timers_.push_back(std::move(timer));
  return okStatus();
}

int Daemon::run() {
  log::notice("ready");
  int rc = event_base_dispatch(base_.get());
  size_t left = pool_->closeAll();
  service_->stopped();
  if (rc < 0) {
    log::error("event loop failed");
    return 1;
  }
  log::notice("stopped (%zu connections cut at shutdown)", left);
  return 0;
}

std::string Daemon::listenSummary() const {
  std::string out;
  for (const auto& bound : listeners_) {
    if (!out.empty()) out += ", ";
    out += bound.listener->name();
  }
  return out;
}

std::vector<uint16_t> Daemon::boundPorts() const {
  std::vector<uint16_t> out;
  for (const auto& bound : listeners_) out.push_back(bound.listener->boundPort());
  return out;
}

std::string Daemon::groupSummary(size_t group) const {
  std::string out;
  for (const auto& bound : listeners_) {
    if (bound.group != group) continue;
    if (!out.empty()) out += ", ";
    out += bound.listener->name();
  }
  return out;
}

// --- signals and timers --------------------------------------------------

void Daemon::signalCallback(evutil_socket_t sig, short, void* arg) noexcept {
  auto* self = static_cast<Daemon*>(arg);
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

void Daemon::timerCallback(evutil_socket_t, short, void* arg) noexcept {
  auto* timer = static_cast<Timer*>(arg);
  try {
    timer->fn();
  } catch (...) {
    log::error("%s failed unexpectedly", timer->what.c_str());
  }
}

void Daemon::graceTimerCallback(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Daemon*>(arg);
  log::notice("shutdown grace of %lld s over, closing %zu busy connection(s)",
              static_cast<long long>(self->grace_seconds_), self->pool_->size());
  event_base_loopbreak(self->base_.get());
}

void Daemon::reload() {
  auto loaded = config::loadFile(config_path_);
  if (!loaded) {
    log::error("SIGHUP: %s; keeping the previous configuration", loaded.error().message().c_str());
    return;
  }
  config::ConfigPtr next = std::move(*loaded);
  DaemonSettings next_settings = service_->settings(*next);
  warnRestartOnly(next_settings, *next);

  log::Level level;
  if (log::parseLevel(next->log.level.c_str(), &level)) log::setMinLevel(level);
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < next_settings.max_connections + 64u) {
    log::warning("SIGHUP: max_connections %u needs %u descriptors, the limit is %llu",
                 next_settings.max_connections, next_settings.max_connections + 64u,
                 static_cast<unsigned long long>(lim.rlim_cur));
  }
  pool_->setMaxConnections(next_settings.max_connections);
  pool_->setGroupLimits(groupLimits(next_settings));
  service_->apply(next);
  config_ = std::move(next);
  settings_ = std::move(next_settings);
  log::notice("SIGHUP: configuration reloaded from %s", config_path_.c_str());
}

void Daemon::warnRestartOnly(const DaemonSettings& next_settings,
                             const config::Config& next) const {
  const config::Config& cur = *config_;
  size_t groups = std::min(settings_.listen.size(), next_settings.listen.size());
  for (size_t g = 0; g < groups; ++g) {
    if (addressNames(next_settings.listen[g]) == addressNames(settings_.listen[g])) continue;
    log::warning("SIGHUP: [%s] %s changed; restart %s to apply it (still on %s)",
                 settings_.section.c_str(), settings_.listen[g].key.c_str(), name_,
                 groupSummary(g).c_str());
  }
  std::vector<std::string> changed;
  if (next.global.user != cur.global.user) changed.push_back("[global] user");
  if (next.global.state_dir != cur.global.state_dir) changed.push_back("[global] state_dir");
  if (next_settings.pid_file != settings_.pid_file) {
    changed.push_back("[" + settings_.section + "] pid_file");
  }
  service_->restartOnly(cur, next, &changed);
  for (const auto& what : changed) {
    log::warning("SIGHUP: %s changed; restart %s to apply it", what.c_str(), name_);
  }
}

void Daemon::shutdown(const char* why) {
  shutting_down_ = true;
  log::notice("%s received: shutting down, %zu connection(s) open%s", why, pool_->size(),
              service_->shutdownNote().c_str());
  for (auto& bound : listeners_) bound.listener->stop();
  timers_.clear();
  pool_->drain([this] { event_base_loopbreak(base_.get()); });  // idle ones are gone after this
  if (pool_->size() == 0) return;
  grace_seconds_ = settings_.shutdown_grace;
  grace_timer_.reset(evtimer_new(base_.get(), &Daemon::graceTimerCallback, this));
  timeval tv{static_cast<time_t>(grace_seconds_), 0};
  if (!grace_timer_ || evtimer_add(grace_timer_.get(), &tv) != 0) {
    event_base_loopbreak(base_.get());
  }
}

}  // namespace mtep::server
