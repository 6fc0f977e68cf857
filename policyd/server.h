#pragma once
// NAME
//   server.h - mtep-policyd's event loop: listeners, connections, lookups,
//   signals, reload
// SUMMARY
//   auto s = Server::bind(config, "/etc/mtep/mtep.conf");  // as root
//   ... fork, drop privileges ...
//   s->open();     // store, event base, work queue, engine, listeners, signals
//   return s->run();
// DESCRIPTION
//   One loop thread owns the policy engine, the sessions and every libevent
//   object; [policyd] lookup_threads workers run DNS and MTEP lookups
//   (lookups.h) and hand their answers back through the work queue.
//   The ConnectionPool caps connections at [policyd] max_connections; a
//   peer over the cap is closed at once without a reply (the policy
//   protocol has none for "busy"; Postfix applies its default_action).
//   Signals arrive as libevent signal events:
//   - SIGHUP: the config file is loaded anew; on error the message (file and
//     line) is logged and the old config stays. On success the engine, the
//     lookups and new connections use it (live connections keep their
//     limits); settings only a restart applies are warned about.
//   - SIGTERM, SIGINT: accepting stops, idle connections close at once,
//     connections in the middle of a request or waiting for a lookup get up
//     to lookup_timeout + kShutdownGrace seconds to be answered, then run()
//     returns 0. A second signal exits at once.
//   Timers: Engine::expire() every kExpireInterval seconds; the store's
//   expired entries purged every kPurgeInterval seconds.
// SECURITY
//   open() runs after the privilege drop: the store is opened as the
//   unprivileged user. A store that cannot be opened is logged and leaves
//   the engine without one: require_stamp then tempfails (451 4.3.0), the
//   other gates work.
// SEE ALSO
//   policy_session.h, lookups.h, lib/server/connection_pool.h

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "dns/resolver.h"
#include "lookups.h"
#include "policy/policy.h"
#include "policy_session.h"
#include "server/connection_pool.h"
#include "server/event_handles.h"
#include "server/listener.h"
#include "server/work_queue.h"
#include "store/store.h"

namespace mtep::policyd {

class Server final {
 public:
  static constexpr int kShutdownGrace = 2;      // seconds beyond lookup_timeout at shutdown
  static constexpr int kExpireInterval = 5;     // seconds between Engine::expire() calls
  static constexpr int kPurgeInterval = 3600;   // seconds between store purges

  // Binds every [policyd] listen address. kConfig error on the first failure.
  static Result<std::unique_ptr<Server>> bind(config::ConfigPtr config, std::string config_path);
  ~Server();

  // Opens the store, then the event base, work queue, engine, listeners,
  // signal events and timers.
  Status open();
  // Serves until SIGTERM/SIGINT. Returns the process exit status.
  int run();

  // "127.0.0.1:10046, [::1]:10046"
  std::string listenSummary() const;

 private:
  Server(config::ConfigPtr config, std::string config_path)
      : config_path_(std::move(config_path)), config_(std::move(config)) {}

  static void signalCallback(evutil_socket_t sig, short events, void* arg) noexcept;
  static void expireTimerCallback(evutil_socket_t fd, short events, void* arg) noexcept;
  static void purgeTimerCallback(evutil_socket_t fd, short events, void* arg) noexcept;
  static void graceTimerCallback(evutil_socket_t fd, short events, void* arg) noexcept;

  void reload();
  void warnRestartOnly(const config::Config& next) const;
  void purgeStore();
  void shutdown(const char* why);
  server::EventPtr addTimer(event_callback_fn cb, int seconds);

  std::string config_path_;
  config::ConfigPtr config_;

  // Destroyed in reverse order: connections first, then the work queue
  // (its completions point at the lookups), the event base last.
  server::EventBasePtr base_;
  std::vector<std::unique_ptr<server::Listener>> listeners_;
  std::unique_ptr<store::Store> store_;  // null when it could not be opened
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<NetworkLookups> backend_;
  std::unique_ptr<policy::Engine> engine_;
  std::unique_ptr<server::WorkQueue> queue_;
  std::unique_ptr<Lookups> lookups_;
  std::unique_ptr<PolicySessionFactory> factory_;
  std::vector<server::EventPtr> signals_;
  server::EventPtr expire_timer_;
  server::EventPtr purge_timer_;
  server::EventPtr grace_timer_;
  std::unique_ptr<server::ConnectionPool> pool_;
  bool shutting_down_ = false;
};

}  // namespace mtep::policyd
