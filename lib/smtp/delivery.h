#pragma once
// NAME
//   delivery.h - one blocking client that delivers a message by LMTP or SMTP
//   and says what became of each recipient
// SUMMARY
//   smtp::DeliveryRequest r;
//   r.protocol = smtp::DeliveryProtocol::kLmtp; r.host = "127.0.0.1"; r.port = 24;
//   r.mail_from = "bob@beta.test";
//   r.recipients = {{"alice@alpha.test", ""}, {"carol@alpha.test", ""}};
//   r.message = text;                       // must outlive the call
//   smtp::DeliveryResult d = smtp::deliver(r);
//   for (auto& x : d.recipients) x.delivered(), x.final_reply.toString(), x.maybe_delivered;
// DESCRIPTION
//   One transaction on one connection, on the transport (dialer: SOCKS for
//   .onion, TLS with pins or a CA) and SmtpClient (client.h): dial; implicit
//   TLS, or the greeting, LHLO/EHLO and STARTTLS (opportunistic: when
//   advertised; required: or fail) and LHLO/EHLO again; the required
//   keyword (checked on the last LHLO/EHLO reply, so after TLS); the auth
//   line (its reply kept, anything but 2xx fails the session); MAIL, one
//   RCPT per recipient, DATA, the message (CRLF line ends, dots stuffed),
//   then the final replies: LMTP one per accepted recipient, in RCPT order
//   (RFC 2033 4.2); SMTP one, copied to every accepted recipient. QUIT.
//   No PIPELINING: one command, one reply.
//   Every recipient leaves with a final_reply (what to tell whoever gave us
//   the recipient): the server's reply to its RCPT when refused there, its
//   final reply after the message, or, when the session failed before,
//   the reply that failed it (greeting, LHLO, auth, MAIL, DATA) or one made
//   up here: 451 4.4.1 (dial), 451 4.4.2 (connection lost, timeout), 451
//   4.7.0 (TLS, missing keyword), 451 4.5.0 (a reply that breaks the
//   grammar or the limits), 451 4.3.0 (a bad request). A connection lost
//   (or a timeout, or a broken reply) after the final dot leaves the
//   recipients not yet answered with 451 4.4.2 and maybe_delivered set:
//   the server may have delivered them (RFC 1047); do not send them again
//   by another path without care.
//   drop_unadvertised_params removes the MAIL and RCPT parameters whose
//   extension the LHLO/EHLO reply does not advertise (SIZE, BODY:
//   8BITMIME, SMTPUTF8, RET/ENVID/NOTIFY/ORCPT: DSN, AUTH, STOKEN/MYSTOKEN:
//   STOKEN, others: their own name), since Dovecot refuses them with 555
//   5.5.4; what was removed is listed in the result.
//   Limits: each reply by reply_limits (line length, lines); recipients by
//   max_recipients; each wait by the timeouts, the whole by session_ms.
// SEE ALSO
//   client.h, lib/transport/dialer.h, lib/transport/tls.h, RFC 2033, RFC 5321

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/reply.h"
#include "smtp/status.h"
#include "transport/dialer.h"
#include "transport/tls.h"

namespace mtep::smtp {

enum class DeliveryProtocol { kLmtp, kSmtp };

enum class DeliveryTls {
  kNone,           // plain text
  kOpportunistic,  // STARTTLS when advertised (a refusal: go on in plain text)
  kRequired,       // STARTTLS or fail (step kTls)
  kImplicit,       // TLS from the first byte (RFC 8314)
};

// Where a session stopped.
enum class DeliveryStep {
  kNone,      // it did not: every recipient has the server's own answer
  kRequest,   // the request is malformed (nothing dialled)
  kDial,
  kTls,       // implicit TLS, STARTTLS refused (required) or its handshake
  kGreeting,
  kHello,     // LHLO / EHLO
  kKeyword,   // require_keyword not in the LHLO/EHLO reply
  kAuth,
  kMail,
  kRcpt,      // the connection broke during the RCPTs
  kData,      // DATA refused, or the connection broke sending the message
  kFinal,     // the connection broke while waiting for the final replies
};
const char* deliveryStepName(DeliveryStep step) noexcept;  // "dial", "hello", ...

struct DeliveryRecipient {
  std::string address;  // the forward path without angle brackets
  std::string params;   // RCPT parameters, space separated ("STOKEN=x MYSTOKEN=y"); "" = none
};

struct DeliveryTimeouts {
  int dial_ms = 10000;      // per address, or to the proxy
  int command_ms = 60000;   // each wait for a reply or to send
  int data_ms = 600000;     // each wait after the final dot (Dovecot delivers then)
  int session_ms = 1800000; // the whole session
};

struct DeliveryRequest {
  DeliveryProtocol protocol = DeliveryProtocol::kLmtp;
  std::string host;        // name, numeric address, or .onion (through dial.onion_proxy)
  uint16_t port = 24;
  std::string hello_name = "localhost";  // our name in LHLO / EHLO
  DeliveryTls tls = DeliveryTls::kNone;
  transport::TlsClientOptions tls_options;  // server_name "" = host; trust: CA, name, pins
  std::string require_keyword;  // e.g. "STOKEN": the LHLO/EHLO reply must list it; "" = none
  std::string auth_line;        // e.g. "AUTH STOKEN <base64>", sent after LHLO/EHLO; "" = none
  std::string mail_from;        // reverse path without angle brackets; "" = <>
  std::string mail_params;      // MAIL parameters, space separated
  std::vector<DeliveryRecipient> recipients;
  std::string_view message;     // the message, LF or CRLF line ends; not dot-stuffed
  bool drop_unadvertised_params = false;
  DeliveryTimeouts timeouts{};
  transport::DialOptions dial{};  // proxies, target policy; its timeouts are set from `timeouts`
  ReplyLimits reply_limits{};
  size_t max_recipients = 1000;
};

struct RecipientOutcome {
  std::string address;
  Reply rcpt_reply;              // code 0: no RCPT was sent for it
  bool rcpt_accepted = false;    // 2xx to its RCPT
  Reply final_reply;             // always set when deliver() returns (see DESCRIPTION)
  bool final_from_server = false;  // final_reply is the server's, not made up here
  bool maybe_delivered = false;  // connection lost after the final dot, before its reply
  bool delivered() const { return rcpt_accepted && final_from_server && final_reply.code / 100 == 2; }
};

struct DeliveryResult {
  bool session_ok = false;                  // failed_step == kNone
  DeliveryStep failed_step = DeliveryStep::kNone;
  std::string error;                        // what went wrong, for logs; "" when nothing did
  Reply failed_reply;                       // the server's reply that failed the session, if any
  ParsedReply hello_reply;                  // the last LHLO/EHLO reply (capabilities)
  Reply auth_reply;                         // code 0: no auth line sent
  std::string tls_protocol;                 // "" = plain text
  std::string tls_fingerprint;              // the server key's (tls.h)
  std::vector<std::string> dropped_params;  // by drop_unadvertised_params
  std::vector<RecipientOutcome> recipients; // in request order
};

// Runs the session described above. Never throws; every failure is in the
// result.
DeliveryResult deliver(const DeliveryRequest& request,
                       transport::NameResolver& resolver = transport::systemResolver());

// The parameters of `params` (space separated) that `hello` advertises as
// described above; the others are appended to *dropped (may be null).
std::string advertisedParams(std::string_view params, const ParsedReply& hello,
                             std::vector<std::string>* dropped);

}  // namespace mtep::smtp
