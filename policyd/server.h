#pragma once
// NAME
//   server.h - what mtep-policyd adds to the daemon skeleton: engine,
//   lookups, work queue, store
// SUMMARY
//   server::daemonMain({"mtep-policyd", true, [] { return std::make_unique<Server>(); }},
//                      argc, argv);
// DESCRIPTION
//   The skeleton (lib/server/daemon.h) runs the loop, the listeners, the
//   connection pool, the signals and the start-up. One loop thread owns the
//   policy engine, the sessions and every libevent object; [policyd]
//   lookup_threads workers run DNS and MTEP lookups (lookups.h) and hand
//   their answers back through the work queue; a second work queue, one
//   worker per core, runs stamp checks, the spends and the store purge
//   (stamp_checks.h): nothing on the loop hashes a stamp or writes the
//   store. With [store] backend "redis" a third work queue, two workers
//   with a Redis connection each, counts the rate gates in Redis for every
//   host (shared_rates.h). This service adds:
//   - open(): the store, the work queue, the engine, the lookups and the
//     policy session factory for [policyd] listen, capped at [policyd]
//     max_connections (and max_connections_per_client, off by default);
//     a peer over a cap is closed at once without a reply (the policy
//     protocol has none for "busy"; Postfix applies its default_action).
//     A connection open for connection_lifetime (1 h, above Postfix's
//     1000 s smtpd_policy_service_max_ttl) is closed once its request under
//     way, if any, is answered.
//   - SIGHUP: the engine, the lookups and new connections use the new
//     config (live connections keep their limits); [policyd]
//     lookup_threads and [store] need a restart and are warned about.
//   - SIGTERM: connections in the middle of a request or waiting for a
//     lookup get up to lookup_timeout + kShutdownGrace seconds to be
//     answered; the lookup threads stop once the loop has ended.
//   - Timers: Engine::expire() every kExpireInterval seconds; the store's
//     expired entries purged every kPurgeInterval seconds.
// SECURITY
//   open() runs after the privilege drop: the store is opened as the
//   unprivileged user. A store that cannot be opened is logged and leaves
//   the engine without one: require_stamp then tempfails (451 4.3.0), the
//   other gates work.
// SEE ALSO
//   lib/server/daemon.h, policy_session.h, lookups.h

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "dns/resolver.h"
#include "lookups.h"
#include "policy/policy.h"
#include "policy_session.h"
#include "server/daemon.h"
#include "server/work_queue.h"
#include "shared_rates.h"
#include "stamp_checks.h"
#include "store/store.h"

namespace mtep::policyd {

class Server final : public server::Service {
 public:
  static constexpr int kShutdownGrace = 2;     // seconds beyond lookup_timeout at shutdown
  static constexpr int kExpireInterval = 5;    // seconds between Engine::expire() calls
  static constexpr int kPurgeInterval = 3600;  // seconds between store purges

  ~Server() override;

  server::DaemonSettings settings(const config::Config& config) const override;
  Status open(server::Daemon& daemon) override;
  server::SessionFactory& factory(size_t group) override;
  void apply(const config::ConfigPtr& next) override;
  void restartOnly(const config::Config& current, const config::Config& next,
                   std::vector<std::string>* changed) const override;
  std::string shutdownNote() const override;
  void stopped() override;

 private:
  // Destroyed in reverse order; the work queue is stopped first (its
  // completions point at the lookups). The skeleton has closed every
  // connection before.
  std::unique_ptr<store::Store> store_;  // null when it could not be opened
  std::string store_password_;           // Redis's, as read at open (SIGHUP compares)
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<NetworkLookups> backend_;
  std::unique_ptr<policy::Engine> engine_;
  std::unique_ptr<server::WorkQueue> queue_;        // lookups
  std::unique_ptr<server::WorkQueue> stamp_queue_;  // stamp checks and store writes
  std::unique_ptr<StampChecks> stamps_;
  std::unique_ptr<Lookups> lookups_;
  std::unique_ptr<server::WorkQueue> rates_queue_;  // [store] backend "redis": rate checks
  std::unique_ptr<SharedRates> rates_;               // null unless backend "redis"
  std::unique_ptr<PolicySessionFactory> factory_;
};

}  // namespace mtep::policyd
