// NAME
//   server.cc - mtep-policyd's service: store, engine, lookups, work queue
// DESCRIPTION
//   See server.h. The skeleton calls these on the loop thread and logs
//   anything they throw.

#include "server.h"

#include <algorithm>
#include <thread>

#include "store/open.h"
#include "store/redis_rates.h"
#include "util/clock.h"
#include "util/log.h"

namespace mtep::policyd {

Server::~Server() {
  if (queue_) queue_->stop();
  if (stamp_queue_) stamp_queue_->stop();
  if (rates_queue_) rates_queue_->stop();
}

server::DaemonSettings Server::settings(const config::Config& config) const {
  server::DaemonSettings s;
  s.section = "policyd";
  s.listen.push_back({"listen", config.policyd.listen, config.policyd.max_connections,
                      config.policyd.max_connections_per_client,
                      config.policyd.connection_lifetime});
  s.max_connections = config.policyd.max_connections;
  s.pid_file = config.policyd.pid_file;
  s.shutdown_grace = config.policyd.lookup_timeout + kShutdownGrace;
  return s;
}

Status Server::open(server::Daemon& daemon) {
  const config::ConfigPtr& config = daemon.config();
  const config::Config& c = *config;
  store_password_ = store::openedPassword(c.store);
  auto st = store::open(c.store, SystemClock::instance());
  if (st) {
    store_ = std::move(*st);
  } else if (st.error().kind() == ErrorKind::kConfig) {
    // A refused Redis password, an unknown database, a CA that does not
    // vouch for the server: waiting will not cure it; start-up is refused.
    return Error(ErrorKind::kConfig, "[store] " + store::describe(c.store) + ": " +
                                         st.error().message());
  } else {
    // Redis's errors name the server; SQLite's the file.
    const std::string where = c.store.backend == "redis" ? std::string() : " " + c.store.path;
    // (A Redis that does not answer yet is not an error here: the store
    // is made and reconnects by itself, redis_store.h.)
    log::warning("store%s: %s; require_stamp will tempfail (451 4.3.0) until a restart",
                 where.c_str(), st.error().message().c_str());
  }

  resolver_ = dns::makeSystemResolver();
  backend_ = std::make_unique<NetworkLookups>(config, *resolver_, SystemClock::instance());
  engine_ = std::make_unique<policy::Engine>(config, SystemClock::instance());
  auto queue = server::WorkQueue::create(daemon.base(), c.policyd.lookup_threads);
  if (!queue) return std::move(queue).error();
  queue_ = std::move(*queue);
  // Stamp checks: CPU-bound, one worker per core, apart from the lookups.
  auto stamp_queue = server::WorkQueue::create(
      daemon.base(), std::max<size_t>(std::thread::hardware_concurrency(), 1));
  if (!stamp_queue) return std::move(stamp_queue).error();
  stamp_queue_ = std::move(*stamp_queue);
  stamps_ = std::make_unique<StampChecks>(*stamp_queue_, store_.get(), c.pow);
  lookups_ = std::make_unique<Lookups>(*queue_, *engine_, *backend_);
  if (c.store.backend == "redis") {
    // Rate gates counted in Redis, shared by every host (shared_rates.h).
    engine_->setSharedRates(true);
    std::shared_ptr<store::RedisRates> rates;
    std::string unavailable;
    if (auto options = store::redisOptions(c.store)) {
      rates = std::make_shared<store::RedisRates>(std::move(*options));
    } else {
      unavailable = options.error().message();
      log::warning("shared rate counters: %s; rate_limit_client and rate_limit_sender will "
                   "tempfail (451 4.3.0) until a restart",
                   unavailable.c_str());
    }
    auto rates_queue = server::WorkQueue::create(daemon.base(), SharedRates::kMaxInFlight);
    if (!rates_queue) return std::move(rates_queue).error();
    rates_queue_ = std::move(*rates_queue);
    rates_ = std::make_unique<SharedRates>(*rates_queue_, std::move(rates),
                                           static_cast<int>(c.store.redis_timeout_ms),
                                           std::move(unavailable));
  }
  factory_ = std::make_unique<PolicySessionFactory>(config, *engine_, *lookups_, *stamps_,
                                                    rates_.get());

  Status s =
      daemon.addTimer(kExpireInterval, "expiring policy state", [this] { engine_->expire(); });
  if (s) s = daemon.addTimer(kPurgeInterval, "store purge", [this] { stamps_->purge(); });
  return s;
}

server::SessionFactory& Server::factory(size_t /*group*/) { return *factory_; }

void Server::apply(const config::ConfigPtr& next) {
  engine_->setConfig(next);
  stamps_->setConfig(next->pow);
  backend_->setConfig(next);
  factory_->setConfig(next);
}

void Server::restartOnly(const config::Config& current, const config::Config& next,
                         std::vector<std::string>* changed) const {
  if (next.policyd.lookup_threads != current.policyd.lookup_threads) {
    changed->push_back("[policyd] lookup_threads");
  }
  if (store::restartNeeded(current.store, next.store)) {
    changed->push_back("[store]");
  } else if (queue_) {
    // A new Redis password is tried on Redis (a connection, up to
    // redis_timeout_ms): on a lookup worker, not the loop.
    queue_->submit(
        [next = next.store, opened = store_password_] {
          store::reviewPassword(next, opened, "mtep-policyd");
        },
        [] {});
  } else {
    store::reviewPassword(next.store, store_password_, "mtep-policyd");
  }
}

std::string Server::shutdownNote() const {
  return ", " + std::to_string(lookups_ ? lookups_->inFlight() : 0) + " lookup(s), " +
         std::to_string(stamps_ ? stamps_->inFlight() : 0) + " stamp check(s) and " +
         std::to_string(rates_ ? rates_->pending() + rates_->inFlight() : 0) +
         " rate check batch(es) and waiting check(s) running";
}

void Server::stopped() {
  if (queue_) queue_->stop();
  if (stamp_queue_) stamp_queue_->stop();
  if (rates_queue_) rates_queue_->stop();
}

}  // namespace mtep::policyd
