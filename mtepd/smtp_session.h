#pragma once
// NAME
//   smtp_session.h - mtepd's ESMTP listener: EHLO, STARTTLS, STARTMTEP, and
//   the key service (AUTH HASHEDPASS, PUBKEY, SETPUBKEY, GETSALT, RSTSALT)
// SUMMARY
//   SmtpSessionFactory factory(config, authority, tls,    // tls may be null
//                              {&user_book, &limiter});   // {} = no key service
//   Listener::bind(address) ... start(base, factory, pool);  // [mtepd] smtp_listen
//   factory.setConfig(new_config);                      // SIGHUP: new connections only
// DESCRIPTION
//   The endpoint for peers that cannot reach port 6211 (i2p, firewalls):
//   plain ESMTP that carries MTEP after STARTMTEP (PROTOCOLS.md section 1),
//   optionally inside TLS. It is not a mail server: MAIL, RCPT, DATA and
//   every other command get "502 5.5.1".
//     220 HOST ESMTP mtepd                        greeting, [mtepd] hostname
//     EHLO name  -> 250-HOST, 250-X-STARTMTEP, 250-STARTTLS (with a
//                   certificate, before TLS), 250-PIPELINING,
//                   250 ENHANCEDSTATUSCODES
//     HELO name  -> 250 HOST
//     STARTTLS   -> 220 2.0.0, then TLS (RFC 3207; bytes pipelined after
//                   it are dropped); 454 4.7.0 without a certificate;
//                   503 5.5.1 inside TLS. EHLO again afterwards.
//     STARTMTEP  -> 220 2.0.0 Go ahead with MTEP; then the connection speaks
//                   MTEP netstrings (lib/mtep/server_session.h, the same
//                   checker as port 6211) until "Q", answered "K2.3.0 CYA
//                   ...", after which it is SMTP again. Bytes pipelined
//                   after STARTMTEP are MTEP; bytes sent after "Q" before
//                   its answer are dropped. Before and after STARTTLS.
//     NOOP, RSET -> 250 2.0.0 Ok      HELP -> 214 2.0.0      QUIT -> 221 2.0.0
//   STARTTLS and STARTMTEP need EHLO (or HELO) first (503 5.5.1).
//   Key service (draft-korenenovak-smtp-e2eesign; on when [mtepd] user_keys
//   and the factory has a UserBook): inside TLS, EHLO adds "AUTH
//   HASHEDPASS", "SIGNMESSAGE", "ENCRYPTMESSAGE" after X-STARTMTEP; before
//   TLS they are not offered and the commands get "530 5.7.0 Must issue a
//   STARTTLS command first"; with the service off "502 5.5.1".
//     PUBKEY addr        -> 220 ed25519 KEY (e2ee::formatPubkeyReply) | 550 5.1.1
//     AUTH HASHEDPASS [b64] -> 235 2.7.0 | 535 5.7.8 | 454 4.7.0 (limited) |
//                        501 5.5.2 (bad payload) | 504 5.5.4 | 503 5.5.1;
//                        without b64 "334 " and the next line is the
//                        response ("*": 501 5.0.0)
//     SETPUBKEY key      -> 250 2.0.0 OK | 501 5.5.4        (login needed)
//     GETSALT, RSTSALT   -> 220 SALT B64 (RSTSALT: a new salt, the published
//                        key withdrawn)                     (login needed)
//   Without login 530 5.7.0 Authentication required; store trouble 451
//   4.3.0. Failed logins are counted per client address and per user name
//   (e2ee/login_limiter.h, [mtepd] auth_failures_per_client/_per_user);
//   over either limit every login gets 454, even a right one. An unknown
//   user is checked against a dummy verifier: the same reply and about the
//   same work as a wrong password. See mtepd(8) KEY SERVICE.
//   Errors: a line that is no command 500 5.5.2, bad arguments 501 5.5.4,
//   a line over [mtepd] smtp_max_line 500 5.5.6; the kMaxErrors-th error
//   gets "421 4.7.0 ... too many errors" and the close. SMTP commands and
//   MTEP requests together are capped at [mtepd] max_commands_per_connection
//   (then 421 4.7.0, or MTEP's own last answer, and the close). MTEP
//   requests are capped at [mtepd] max_request_size. Idle: [mtepd]
//   smtp_idle_timeout per SMTP command (421 4.4.2), [mtepd] idle_timeout per
//   MTEP request (I4.4.2). Busy (smtp_max_connections): 421 4.7.0; over
//   max_connections_per_client: 421 4.7.0 "too many connections from your
//   address"; at connection_lifetime: 421 4.4.2 (MTEP's own answer inside MTEP).
//   Logs: each MTEP decision as on port 6211 (mtep_session.h), and one line
//   per session end:
//     NOQUEUE: client=ADDR:PORT smtp=end helo=<name> tls=yes commands=4 mtep=1 errors=0 reason=quit
//   and for the key service one line per AUTH, SETPUBKEY and RSTSALT (never
//   a hash, key or salt):
//     NOQUEUE: client=ADDR:PORT auth=hashedpass user=<name>
//     result=ok|fail|limited|malformed|tempfail NOQUEUE: client=ADDR:PORT user=<name>
//     setpubkey=ok|invalid|tempfail NOQUEUE: client=ADDR:PORT user=<name> rstsalt=ok|tempfail
//   The state machine is lib/smtp/server_session.h on
//   lib/server/smtp_adapter.h; adding a command is one member function and
//   one addVerb() in the session's constructor (smtp_session.cc); its EHLO
//   keyword, if any, goes into smtpSettings() there.
// SECURITY
//   Nothing the peer sends is buffered beyond smtp_max_line (SMTP) or
//   max_request_size (MTEP). Plaintext pipelined after STARTTLS never
//   becomes a command (CVE-2011-0411). The TLS key is read before the
//   privilege drop (server.h). The key service needs TLS for every command
//   and keeps only verifiers (e2ee.h); a login lives as long as its
//   connection, and STARTTLS cannot follow it (TLS is already on).
//   The UserBook is used on the key service's worker (KeyService below),
//   never on the event loop thread: with [store] backend "redis" every
//   read is a network round trip.
// SEE ALSO
//   lib/server/session.h, lib/server/tls_context.h, lib/smtp/command.h,
//   mtep_session.h, lib/e2ee/users.h, PROTOCOLS.md sections 1 and 4

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "e2ee/e2ee.h"
#include "e2ee/login_limiter.h"
#include "e2ee/users.h"
#include "key_login.h"
#include "mtep/farewell.h"
#include "mtep/server_session.h"
#include "server/session.h"
#include "server/tls_context.h"
#include "server/work_queue.h"

namespace mtep::mtepd {

// What the key service works on; all must outlive the factory and its
// sessions. `limiter` is used on the thread that feeds the sessions. Every
// store read (the AUTH HASHEDPASS lookup, PUBKEY, GETSALT) and write
// (SETPUBKEY, RSTSALT) runs on `queue`'s worker with `writer`, a UserBook on
// a store handle of its own, so a store that is locked or slow (SQLite up
// to [store] busy_timeout, Redis up to redis_timeout_ms) never stalls the
// event loop: the session answers later (kPending). Without a queue they
// use `users` on the loop thread.
struct KeyService {
  KeyService(e2ee::UserBook* u = nullptr, e2ee::LoginLimiter* l = nullptr)  // NOLINT: {u, l}
      : users(u), limiter(l) {}
  e2ee::UserBook* users = nullptr;        // null: no key service (502 5.5.1)
  e2ee::LoginLimiter* limiter = nullptr;  // null: failed logins are not limited
  e2ee::UserBook* writer = nullptr;       // used only by queue's one worker thread
  server::WorkQueue* queue = nullptr;     // null: reads and writes on the loop thread
};

class SmtpSessionFactory final : public server::SessionFactory {
 public:
  static constexpr uint32_t kMaxErrors = 20;  // errors per session before 421 and close

  // `checker` must outlive the factory and every session it made. `tls`
  // null: STARTTLS is not offered (454 4.7.0), and so no key service.
  SmtpSessionFactory(config::ConfigPtr config, proto::TokenChecker& checker,
                     std::shared_ptr<const server::TlsContext> tls, KeyService keys = {});

  // Sessions made from now on use `config`; live ones keep theirs.
  void setConfig(config::ConfigPtr config);

  const char* protocolName() const override { return "smtp"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override;
  std::string_view busyReply() const override { return busy_reply_; }
  std::string_view clientLimitReply() const override { return client_limit_reply_; }

  // The name in the greeting and EHLO reply.
  const std::string& hostname() const { return hostname_; }

 private:
  config::ConfigPtr config_;
  proto::TokenChecker& checker_;
  std::shared_ptr<const server::TlsContext> tls_;
  KeyService keys_;
  KeyLogin login_;  // AUTH HASHEDPASS (key_login.h); used while keys_.users is set
  proto::FarewellRota rota_;
  std::string hostname_;
  std::string busy_reply_;          // complete 421 line
  std::string client_limit_reply_;  // complete 421 line, max_connections_per_client
};

// [mtepd] hostname, or the host's name when that is empty.
std::string smtpHostname(const config::Config& config);

}  // namespace mtep::mtepd
