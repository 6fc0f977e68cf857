#pragma once
// NAME
//   smtp_session.h - mtepd's ESMTP listener: EHLO, STARTTLS, STARTMTEP
// SUMMARY
//   SmtpSessionFactory factory(config, authority, tls);  // tls may be null
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
//   Errors: a line that is no command 500 5.5.2, bad arguments 501 5.5.4,
//   a line over [mtepd] smtp_max_line 500 5.5.6; the kMaxErrors-th error
//   gets "421 4.7.0 ... too many errors" and the close. SMTP commands and
//   MTEP requests together are capped at [mtepd] max_commands_per_connection
//   (then 421 4.7.0, or MTEP's own last answer, and the close). MTEP
//   requests are capped at [mtepd] max_request_size. Idle: [mtepd]
//   smtp_idle_timeout per SMTP command (421 4.4.2), [mtepd] idle_timeout per
//   MTEP request (I4.4.2). Busy (max_connections): 421 4.7.0.
//   Logs: each MTEP decision as on port 6211 (mtep_session.h), and one line
//   per session end:
//     NOQUEUE: client=ADDR:PORT smtp=end helo=<name> tls=yes commands=4 mtep=1 errors=0 reason=quit
//   Adding a command is one member function and one entry in kVerbs
//   (smtp_session.cc); its EHLO keyword, if any, is a third member there.
// SECURITY
//   Nothing the peer sends is buffered beyond smtp_max_line (SMTP) or
//   max_request_size (MTEP). Plaintext pipelined after STARTTLS never
//   becomes a command (CVE-2011-0411). The TLS key is read before the
//   privilege drop (server.h).
// SEE ALSO
//   lib/server/session.h, lib/server/tls_context.h, lib/smtp/command.h,
//   mtep_session.h, PROTOCOLS.md section 1

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "mtep/farewell.h"
#include "mtep/server_session.h"
#include "server/session.h"
#include "server/tls_context.h"

namespace mtep::mtepd {

class SmtpSessionFactory final : public server::SessionFactory {
 public:
  static constexpr uint32_t kMaxErrors = 20;  // errors per session before 421 and close

  // `checker` must outlive the factory and every session it made. `tls`
  // null: STARTTLS is not offered (454 4.7.0).
  SmtpSessionFactory(config::ConfigPtr config, proto::TokenChecker& checker,
                     std::shared_ptr<const server::TlsContext> tls);

  // Sessions made from now on use `config`; live ones keep theirs.
  void setConfig(config::ConfigPtr config);

  const char* protocolName() const override { return "smtp"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override;
  std::string_view busyReply() const override { return busy_reply_; }

  // The name in the greeting and EHLO reply.
  const std::string& hostname() const { return hostname_; }

 private:
  config::ConfigPtr config_;
  proto::TokenChecker& checker_;
  std::shared_ptr<const server::TlsContext> tls_;
  proto::FarewellRota rota_;
  std::string hostname_;
  std::string busy_reply_;  // complete 421 line
};

// [mtepd] hostname, or the host's name when that is empty.
std::string smtpHostname(const config::Config& config);

}  // namespace mtep::mtepd
