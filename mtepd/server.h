#pragma once
// NAME
//   server.h - what mtepd adds to the daemon skeleton: keys, store, MTEP
// SUMMARY
//   server::daemonMain({"mtepd", false, [] { return std::make_unique<Server>(); }}, argc, argv);
// DESCRIPTION
//   The skeleton (lib/server/daemon.h) runs the loop, the listeners, the
//   connection pool, the signals and the start-up. This service adds:
//   - open(): the store, the key ring (creating the key file on first
//     start), the token authority and the MTEP session factory for
//     [mtepd] listen (a peer over a cap gets MTEP's busy reply and is
//     closed); the ESMTP factory for
//     [mtepd] smtp_listen (smtp_session.h), STARTTLS with the certificate
//     prepare() loaded, STARTMTEP checked by the same token authority, and
//     the key service (AUTH HASHEDPASS, PUBKEY, ...) over a UserBook on
//     the same store with one LoginLimiter for all connections; its
//     reads and writes (the login's lookup, PUBKEY, GETSALT, SETPUBKEY,
//     RSTSALT) run on a one-thread work queue with a store handle of
//     their own, never on the loop.
//   - Connection limits per listen group: [mtepd] max_connections (listen),
//     smtp_max_connections, relay_max_connections; max_connections_per_client
//     on listen and smtp_listen; connection_lifetime on all three.
//   - The token server (stoken_server.h) for [stoken] listen (implicit
//     TLS) and starttls_listen: the same certificate as smtp_listen
//     (start-up fails without one), the key service's users and login
//     limiter, its own store handle and workers for every store access
//     and the deliveries.
//     Its groups are capped by [mtepd] smtp_max_connections and
//     max_connections_per_client, like smtp_listen.
//   - The onion relay for [mtepd] onion_relay (relay_service.h): its own
//     pin store connection and worker threads, stopped in stopped().
//   - The STOKEN router for [stoken] filter_listen (stoken_router.h):
//     Postfix's content filter, its own store handle and worker threads,
//     stopped in stopped(); a non-loopback filter_listen stops start-up.
//   - The MMTP gateway for [mmtp] listen and tls_listen (mmtp_service.h):
//     its own store handle and workers, the key service's login; capped
//     by [mmtp] max_connections and max_connections_per_client;
//     tls_listen needs the certificate (start-up fails without one).
//   - The MMTP bridge for [mmtp] lmtp_listen (mmtp_bridge.h): the MTA's
//     mail into MMTP mailboxes and to remote MMTP domains; its own store
//     handle and workers, stopped in stopped(); capped by [mtepd]
//     smtp_max_connections; a non-loopback lmtp_listen stops start-up.
//   - prepare(): with smtp_listen and tls_cert_file set, loads the
//     certificate and key (server/tls_context.h); a bad file stops start-up.
//   - SIGHUP: the new config is used for new connections and by the token
//     authority; a changed [tokens] key_file is loaded (on error the old
//     one stays). [store] settings need a restart and are warned about; a
//     new redis_password_file password is tried on Redis from the purge's
//     worker (store::reviewPassword), never on the loop.
//   - Timers: the key file is checked every kKeyCheckInterval seconds and
//     the key ring reloaded when it changed (so `mtepctl key rotate` needs
//     no restart); the store's expired entries are purged every
//     kPurgeInterval seconds, on a worker with a store handle of its own
//     (a purge still running skips a turn).
//   - SIGTERM: busy connections get kShutdownGrace seconds to finish.
//     Changing tls_cert_file or tls_key_file needs a restart (warned).
// SECURITY
//   prepare() runs as root, before the privilege drop, and reads only the
//   TLS certificate and key. open() runs after the drop: the store and the
//   token key file are opened as the unprivileged user.
// SEE ALSO
//   lib/server/daemon.h, mtep_session.h

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "e2ee/login_limiter.h"
#include "e2ee/users.h"
#include "mtep/authority.h"
#include "mtep_session.h"
#include "key_login.h"
#include "mmtp_bridge.h"
#include "mmtp_service.h"
#include "relay_service.h"
#include "server/daemon.h"
#include "server/tls_context.h"
#include "server/work_queue.h"
#include "smtp_session.h"
#include "stoken_router.h"
#include "stoken_server.h"
#include "store/store.h"
#include "token/key_watch.h"
#include "token/token.h"

namespace mtep::mtepd {

class Server final : public server::Service {
 public:
  static constexpr int kShutdownGrace = 2;     // seconds for busy connections at shutdown
  static constexpr int kKeyCheckInterval = 1;  // seconds between key file checks
  static constexpr int kPurgeInterval = 3600;  // seconds between store purges

  // Listen groups, in settings() order.
  static constexpr size_t kMtepGroup = 0;  // [mtepd] listen
  static constexpr size_t kSmtpGroup = 1;  // [mtepd] smtp_listen
  static constexpr size_t kRelayGroup = 2;  // [mtepd] onion_relay (relay_service.h)
  static constexpr size_t kStokenGroup = 3;          // [stoken] listen (implicit TLS)
  static constexpr size_t kStokenStarttlsGroup = 4;  // [stoken] starttls_listen
  static constexpr size_t kRouterGroup = 5;          // [stoken] filter_listen (stoken_router.h)
  static constexpr size_t kMmtpGroup = 6;            // [mmtp] listen (mmtp_service.h)
  static constexpr size_t kMmtpTlsGroup = 7;         // [mmtp] tls_listen (implicit TLS)
  static constexpr size_t kMmtpLmtpGroup = 8;        // [mmtp] lmtp_listen (mmtp_bridge.h)

  server::DaemonSettings settings(const config::Config& config) const override;
  Status prepare(const config::Config& config) override;
  Status open(server::Daemon& daemon) override;
  server::SessionFactory& factory(size_t group) override;
  void apply(const config::ConfigPtr& next) override;
  void restartOnly(const config::Config& current, const config::Config& next,
                   std::vector<std::string>* changed) const override;
  std::string shutdownNote() const override;
  void stopped() override;

 private:
  void checkKeyFile();
  void purgeStore();

  server::Daemon* daemon_ = nullptr;  // set by open()
  std::unique_ptr<store::Store> store_;
  std::string store_password_;  // Redis's, as read at open (SIGHUP compares)
  std::shared_ptr<const token::KeyRing> ring_;
  token::KeyFileWatch key_watch_;
  std::unique_ptr<proto::TokenAuthority> authority_;
  std::unique_ptr<MtepSessionFactory> factory_;
  std::shared_ptr<const server::TlsContext> tls_;  // null: no STARTTLS
  std::unique_ptr<e2ee::UserBook> users_;          // the key service's, on store_
  std::unique_ptr<e2ee::LoginLimiter> limiter_;    // failed logins, all SMTP sessions
  // The key service's writes (SETPUBKEY, RSTSALT): a store handle of their
  // own, used only by key_queue_'s one worker (destroyed first: declared last).
  std::unique_ptr<store::Store> key_store_;
  std::unique_ptr<e2ee::UserBook> key_writer_;
  std::unique_ptr<server::WorkQueue> key_queue_;
  std::unique_ptr<SmtpSessionFactory> smtp_factory_;
  std::unique_ptr<RelayFactory> relay_factory_;  // onion_relay; its workers stop in stopped()
  std::unique_ptr<KeyLogin> login_;              // AUTH HASHEDPASS over users_ and limiter_
  std::unique_ptr<TokenServer> token_server_;    // [stoken] listen/starttls_listen; null: off
  std::unique_ptr<StokenRouter> router_;  // [stoken] filter_listen; its workers stop in stopped()
  std::unique_ptr<MmtpService> mmtp_;     // [mmtp] listen/tls_listen; null: off
  std::unique_ptr<MmtpBridge> mmtp_bridge_;  // [mmtp] lmtp_listen; null: off
  // The hourly purge (and SIGHUP's password check): a store handle used
  // only by purge_queue_'s one worker (destroyed first: declared last).
  std::unique_ptr<store::Store> purge_store_;
  std::unique_ptr<server::WorkQueue> purge_queue_;
};

}  // namespace mtep::mtepd
