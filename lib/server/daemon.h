#pragma once
// NAME
//   daemon.h - the skeleton every mtep event-loop daemon runs on
// SUMMARY
//   class MyService final : public Service { ... };   // what the daemon adds
//   auto d = Daemon::bind("mtepd", std::make_unique<MyService>(), config, path);  // as root
//   ... detach, drop privileges (daemon_main.h does all of this) ...
//   d->open();        // event base, service, connection pool, listeners, signals
//   return d->run();  // until SIGTERM/SIGINT
// DESCRIPTION
//   One thread, one libevent base. The Daemon owns what every daemon has:
//   the listeners (bound by bind(), before the privilege drop; accepting
//   from open(), after it), one ConnectionPool capping the connections of
//   each listen group, of each client address in a group, and of all groups
//   together, and bounding each connection's lifetime (ListenGroup), the
//   signal events and the periodic
//   timers. The Service owns what is its own (stores, keys, engines, work
//   queues) and one SessionFactory per listen group: a group is every
//   address of one config key ("[mtepd] listen"), served by one protocol,
//   so a new protocol on its own addresses is one more group and factory.
//   Signals arrive as libevent signal events, never as raw handlers:
//   - SIGHUP: the config file is loaded anew. On error the message (file
//     and line) is logged and the old config stays, untouched. On success
//     settings only a restart can apply (listen addresses, [global] user and
//     state_dir, pid_file, and whatever the service names) are warned
//     about; the log level and the connection limits are applied, then the
//     service's apply(), then the new snapshot is what config() returns.
//   - SIGTERM, SIGINT: accepting stops, the timers stop, idle connections
//     close at once, busy ones get the service's shutdown_grace seconds to
//     finish, then run() returns 0. A second signal ends the loop at once.
//   Every libevent callback here is noexcept and turns a surprise into a
//   logged line; the service's hooks may throw (logged, the daemon goes on).
// SECURITY
//   bind() and Service::prepare() are the only steps meant to run as root:
//   prepare() reads root-only secrets (TLS keys); nothing else the service
//   opens (stores, token key files) is touched before open(), after the drop.
// SEE ALSO
//   daemon_main.h, connection_pool.h, listener.h, session.h

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "server/connection_pool.h"
#include "server/event_handles.h"
#include "server/listener.h"
#include "server/session.h"
#include "util/result.h"

namespace mtep::server {

class Daemon;

// The addresses of one listen key, all served by one SessionFactory, and
// the limits on that group's connections (connection_pool.h).
struct ListenGroup {
  std::string key;                               // "listen": the key in the daemon's section
  std::vector<config::ListenAddress> addresses;  // bound in this order
  uint32_t max_connections = 0;             // open at once on this group; 0 = the daemon's cap only
  uint32_t max_connections_per_client = 0;  // from one client address (IPv6: /64); 0 = no cap
  int64_t connection_lifetime = 0;          // seconds a connection may last in all; 0 = no limit
};

// What the skeleton reads from one config snapshot, per daemon.
struct DaemonSettings {
  std::string section;              // "mtepd": the config section, in warnings
  std::vector<ListenGroup> listen;  // the same groups, in the same order, for every snapshot
  uint32_t max_connections = 0;     // for all listeners together (each group has its own too)
  std::string pid_file;             // "" = none
  int64_t shutdown_grace = 2;       // seconds busy connections get after SIGTERM
};

// What one daemon plugs into the skeleton. Loop thread only.
class Service {
 public:
  virtual ~Service() = default;

  // The skeleton's settings in `config`. Cheap, no side effects: called at
  // bind, start-up and on every SIGHUP (for the old and the new snapshot).
  virtual DaemonSettings settings(const config::Config& config) const = 0;
  // As root, once, before binding and before the privilege drop: read what
  // only root may read (TLS private keys) and keep it for open(). Nothing
  // else belongs here: no stores, no sockets, no threads. An error ends
  // start-up (exit 1); its message names the file. SIGHUP does not call it
  // again, so what it reads needs a restart to change (say so in
  // restartOnly()).
  virtual Status prepare(const config::Config& /*config*/) { return okStatus(); }
  // After the privilege drop, before any connection: open what the daemon
  // keeps, make its factories, add its timers (daemon.addTimer). An error
  // ends start-up; its message is the daemon's last word (exit 1).
  virtual Status open(Daemon& daemon) = 0;
  // The factory serving settings().listen[group]; asked once per listener,
  // after open(). It must live as long as the service.
  virtual SessionFactory& factory(size_t group) = 0;
  // SIGHUP, `next` loaded: apply it to what the service keeps. The log
  // level and the connection limits are applied already; daemon.config() is
  // still the old snapshot.
  virtual void apply(const config::ConfigPtr& next) = 0;
  // SIGHUP: adds to *changed the names ("[store]") of the service's own
  // settings that differ between `current` and `next` and only a restart
  // applies.
  virtual void restartOnly(const config::Config& /*current*/, const config::Config& /*next*/,
                           std::vector<std::string>* /*changed*/) const {}
  // Appended to the shutdown line, after the connection count
  // (", 2 lookup(s) running").
  virtual std::string shutdownNote() const { return {}; }
  // The loop ended and every connection is closed: stop worker threads.
  virtual void stopped() {}
};

class Daemon final {
 public:
  // Binds every address of every listen group, in order. `name` ("mtepd",
  // static storage) is used in log lines. kConfig error on the first
  // address that cannot be bound ("cannot listen on 127.0.0.1:6211: ...").
  static Result<std::unique_ptr<Daemon>> bind(const char* name, std::unique_ptr<Service> service,
                                              config::ConfigPtr config, std::string config_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Makes the event base, opens the service, then the pool, the listeners
  // and the signal events. Run it once, after the privilege drop.
  Status open();
  // Logs "ready" and serves until SIGTERM/SIGINT. Returns the exit status.
  int run();

  // Every bound address: "127.0.0.1:6211, [::1]:6211".
  std::string listenSummary() const;
  // The ports actually bound, in listen order (they differ from the
  // config only for port 0).
  std::vector<uint16_t> boundPorts() const;
  // The current config snapshot (the new one from the end of a SIGHUP).
  const config::ConfigPtr& config() const { return config_; }
  // Valid from open() on.
  event_base* base() const { return base_.get(); }
  // Connections open now (0 before open()).
  size_t connections() const { return pool_ ? pool_->size() : 0; }

  // From open() on: runs `fn` every `seconds` on the loop thread until
  // shutdown starts. A throwing `fn` is logged as "WHAT failed
  // unexpectedly" and runs again next time. kInternal when libevent fails.
  Status addTimer(int64_t seconds, std::string what, std::function<void()> fn);

 private:
  struct BoundListener {
    size_t group;  // index into settings().listen
    std::unique_ptr<Listener> listener;
  };
  struct Timer {
    std::string what;  // "store purge", in the log line when fn throws
    std::function<void()> fn;
    EventPtr event;
  };

  Daemon(const char* name, std::unique_ptr<Service> service, config::ConfigPtr config,
         std::string config_path);

  static void signalCallback(evutil_socket_t sig, short events, void* arg) noexcept;
  static void timerCallback(evutil_socket_t fd, short events, void* arg) noexcept;
  static void graceTimerCallback(evutil_socket_t fd, short events, void* arg) noexcept;

  void reload();
  void warnRestartOnly(const DaemonSettings& next_settings, const config::Config& next) const;
  std::string groupSummary(size_t group) const;
  void shutdown(const char* why);

  const char* name_;
  std::string config_path_;
  config::ConfigPtr config_;
  DaemonSettings settings_;  // of config_

  // Destroyed in reverse order: the connections first (their sessions use
  // the service, their bufferevents the base), the event base last.
  EventBasePtr base_;
  std::unique_ptr<Service> service_;
  std::vector<BoundListener> listeners_;
  std::vector<std::unique_ptr<Timer>> timers_;
  std::vector<EventPtr> signals_;
  EventPtr grace_timer_;
  int64_t grace_seconds_ = 0;  // of the running shutdown
  std::unique_ptr<ConnectionPool> pool_;
  bool shutting_down_ = false;
};

}  // namespace mtep::server
