#pragma once
// NAME
//   server.h - mtepd's event loop: listeners, connections, signals, reload
// SUMMARY
//   auto s = Server::bind(config, "/etc/mtep/mtep.conf");  // as root
//   ... fork, drop privileges ...
//   s->open();     // store, key ring, event base, listeners, signals
//   return s->run();
// DESCRIPTION
//   One thread, one libevent base. The Server's ConnectionPool (lib/server)
//   owns every Connection and caps them at [mtepd] max_connections: a peer
//   over the cap gets the protocol's busy reply and is closed. Signals arrive as libevent signal
//   events, never as raw handlers:
//   - SIGHUP: the config file is loaded anew. On error the message (file and
//     line) is logged and the old config stays. On success it is used for
//     new connections and by the token authority; settings that only a
//     restart can apply (listen addresses, user, paths) are warned about.
//   - SIGTERM, SIGINT: accepting stops, idle connections close at once, busy
//     ones get kShutdownGrace seconds to finish, then run() returns 0.
//   Timers: the key file is checked every second and the key ring reloaded
//   when it changed (so `mtepctl key rotate` needs no restart); the store's
//   expired entries are purged every kPurgeInterval seconds.
// SECURITY
//   open() runs after the privilege drop: the store and the key file are
//   opened as the unprivileged user.
// SEE ALSO
//   lib/server/connection_pool.h, lib/server/listener.h, mtep_session.h

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "mtep/authority.h"
#include "mtep_session.h"
#include "server/connection_pool.h"
#include "server/event_handles.h"
#include "server/listener.h"
#include "store/store.h"
#include "token/key_watch.h"
#include "token/token.h"

namespace mtep::mtepd {

class Server final {
 public:
  static constexpr int kShutdownGrace = 2;     // seconds for busy connections at shutdown
  static constexpr int kKeyCheckInterval = 1;  // seconds between key file checks
  static constexpr int kPurgeInterval = 3600;  // seconds between store purges

  // Binds every [mtepd] listen address. kConfig error on the first failure.
  static Result<std::unique_ptr<Server>> bind(config::ConfigPtr config, std::string config_path);
  ~Server();

  // Opens the store and the key ring (creating the key file on first start),
  // then the event base, listeners, signal events and timers.
  Status open();
  // Serves until SIGTERM/SIGINT. Returns the process exit status.
  int run();

  // "127.0.0.1:6211, [::1]:6211"
  std::string listenSummary() const;

 private:
  Server(config::ConfigPtr config, std::string config_path)
      : config_path_(std::move(config_path)), config_(std::move(config)) {}

  static void signalCallback(evutil_socket_t sig, short events, void* arg) noexcept;
  static void keyTimerCallback(evutil_socket_t fd, short events, void* arg) noexcept;
  static void purgeTimerCallback(evutil_socket_t fd, short events, void* arg) noexcept;
  static void graceTimerCallback(evutil_socket_t fd, short events, void* arg) noexcept;

  void reload();
  void warnRestartOnly(const config::Config& next) const;
  void checkKeyFile();
  void purgeStore();
  void shutdown(const char* why);
  server::EventPtr addTimer(event_callback_fn cb, int seconds);

  std::string config_path_;
  config::ConfigPtr config_;

  // Destroyed in reverse order: connections first, the event base last.
  server::EventBasePtr base_;
  std::vector<std::unique_ptr<server::Listener>> listeners_;
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<const token::KeyRing> ring_;
  token::KeyFileWatch key_watch_;
  std::unique_ptr<proto::TokenAuthority> authority_;
  std::unique_ptr<MtepSessionFactory> factory_;
  std::vector<server::EventPtr> signals_;
  server::EventPtr key_timer_;
  server::EventPtr purge_timer_;
  server::EventPtr grace_timer_;
  std::unique_ptr<server::ConnectionPool> pool_;  // destroyed first: connections use all above
  bool shutting_down_ = false;
};

}  // namespace mtep::mtepd
