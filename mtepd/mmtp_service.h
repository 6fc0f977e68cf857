#pragma once
// NAME
//   mmtp_service.h - mtepd's MMTP gateway: JSON mail on [mmtp] listen
//   (plain, the reference's 8025) and tls_listen (implicit TLS, 8026)
// SUMMARY
//   auto m = MmtpService::create(config, tls, login, daemon.base());   // Server::open
//   Listen groups [mmtp] listen -> m->factory(false), tls_listen -> m->factory(true)
//   m->setConfig(next);                                              // SIGHUP
//   m->stop();                                                       // Service::stopped
// DESCRIPTION
//   Each connection is an lib/mmtp/session.h Session over one Gateway
//   (lib/mmtp/gateway.h): the greeting on connect (after the handshake on
//   tls_listen), then one reply per request. Store reads and writes (stamp
//   spends, mailboxes, keys, the login's lookup) go through a store handle
//   of the service's own, with group commit: the writes of every request
//   read in one turn of the event loop go into one transaction, committed
//   at the end of the turn, and only then are those SENDs answered (a
//   failed commit answers each with a temporary error; nothing is said OK
//   that is not written). With SQLite (WAL mode: reads never wait for a
//   writer) the gateway runs on the loop thread (LoopBatch). With [store]
//   backend "redis", where every store call is a network round trip of up
//   to redis_timeout_ms, it runs on one worker thread of its own
//   (OffLoopGateway): the requests read in one loop turn are handed to it
//   together at the end of the turn, answered in one job with one commit,
//   and each connection waits (kPending) meanwhile, so a slow Redis holds
//   MMTP clients only, never the loop; a connection's pipelined requests
//   then go one per job. The MTA hand-overs are made from the loop when
//   the job is back. A SEND for a domain whose mmtp_delivery is
//   "mta" is handed to the MTA ([mmtp] inject_to, SMTP, no TLS: loopback)
//   by one of kWorkers threads with smtp::deliver; the connection waits
//   (kPending) and the reply says what the MTA said: OK on 250, an ERROR
//   with "temporary": true on 4xx or no answer, a plain ERROR on 5xx.
//   Logins (data.auth) go through the daemon's KeyLogin and LoginLimiter
//   (which is thread-safe), the same as AUTH HASHEDPASS on smtp_listen.
//   Caps: [mmtp] max_connections over both groups, max_connections_per_
//   client per address (a peer over it on listen gets the reference's
//   "Rate limit exceeded. Try again later." and is closed, on tls_listen
//   it is closed without a word: no clear text where TLS is due; the count
//   goes down when a connection closes, unlike the reference's), and
//   idle_timeout for each whole request (the timer restarts only when a
//   request was answered: trickling bytes does not keep a connection).
//   Logs, one line per SEND and per refused login:
//     mmtp: client=ADDR:PORT tls=yes|no SEND from=<S> to=<R> id=ID result=ok|refused|tempfail
//       delivery=mailbox|mta reason="..."
// SEE ALSO
//   lib/mmtp/gateway.h, lib/mmtp/session.h, doc/mmtp.md, mtepd(8)

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "key_login.h"
#include "server/session.h"
#include "server/tls_context.h"
#include "util/result.h"

struct event_base;

namespace mtep::mtepd {

class MmtpService {
 public:
  static constexpr size_t kWorkers = 4;  // SENDs handed to the MTA at once

  // Opens the service's store handle and workers. `tls` may be null when
  // [mmtp] tls_listen is empty (start-up refuses tls_listen without a
  // certificate before this). `login` must outlive the service.
  static Result<std::unique_ptr<MmtpService>> create(config::ConfigPtr config,
                                                     std::shared_ptr<const server::TlsContext> tls,
                                                     KeyLogin* login, event_base* base);
  ~MmtpService();

  server::SessionFactory& factory(bool tls);
  void setConfig(config::ConfigPtr config);
  void stop();
  size_t outstanding() const;

  struct Shared;

 private:
  MmtpService() = default;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<server::SessionFactory> plain_;
  std::unique_ptr<server::SessionFactory> secure_;
};

// True when [mmtp] listen or tls_listen is set.
bool mmtpOn(const config::Config& config);

}  // namespace mtep::mtepd
