#pragma once
// NAME
//   client.h - blocking MTEP client: port 6211, or STARTMTEP over ESMTP
// SUMMARY
//   MtepClient c(clientOptionsFor(cfg->outbound, {.connect_timeout_ms = 3000}));
//   auto r = c.query("mx.example.org", 6211, token, sender, recipient);
//   auto d = c.ask("abc...xyz.onion", 6211, token, sender);  // d->via_startmtep, d->tls_fingerprint
// DESCRIPTION
//   Connects with transport::dial (lib/transport/dialer.h): names under
//   .onion and .i2p go to the SOCKS5 proxies in options.dial, as names,
//   never to DNS; other names go through the NameResolver (every address
//   tried in turn within the total deadline). Then one "?" and one
//   response, then "Q" and the farewell (a dry close or any reply to Q
//   counts as K2.3.0). Each call is one connection (two with the fallback).
//   STARTMTEP fallback (PROTOCOLS.md section 1): when startmtep_fallback is
//   on and dialling `port` fails because the PEER did not answer (refused,
//   timed out, unreachable: DialFailure::kPeerNoAnswer; not when the proxy
//   or the name failed), the client connects to the same host on
//   smtp_port, reads the greeting (220), sends EHLO helo_name, STARTTLS
//   when offered (then EHLO again; the server's key fingerprint is in the
//   result; the certificate is checked as options.tls says, and one that
//   fails is kTemporary before anything is sent: transport/tls.h), STARTMTEP when X-STARTMTEP is
//   offered (a 2xx reply), then the same "?" and "Q" exchange, and QUIT in
//   SMTP again. No X-STARTMTEP: kTemporary "HOST offers no MTEP (no
//   X-STARTMTEP)". Every wait keeps to read_timeout_ms (and, in the
//   fallback, smtp_timeout_ms when smaller) and the whole call, fallback
//   included, to total_timeout_ms.
//   Errors are kTemporary (unresolvable, unreachable, timeout, refused,
//   closed before a full answer, no MTEP over SMTP) or kProtocol (the peer
//   sent something that is not MTEP, or not SMTP); callers tempfail on
//   both. Messages name host:port. Options that are not positive give
//   kConfig. Once connected, that server's answer (or failure) is final,
//   so a query is never asked twice. Writes never raise SIGPIPE.
//   Thread-safe (no shared state; the resolver must be thread-safe).
// SEE ALSO
//   lib/transport/dialer.h, lib/smtp/client.h, PROTOCOLS.md section 1

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "mtep/protocol.h"
#include "transport/dialer.h"
#include "transport/tls.h"
#include "util/result.h"

namespace mtep::config {
struct OutboundConfig;
}

namespace mtep::proto {

struct ClientOptions {
  int connect_timeout_ms = 5000;  // per address (direct) or to the proxy
  int read_timeout_ms = 5000;     // per read
  int total_timeout_ms = 15000;   // whole exchange, fallback included
  size_t max_response_size = 4096;
  bool send_quit = true;          // polite "Q" after the answer (always sent over STARTMTEP)
  // Proxies, isolation and the SOCKS timeout; its connect_timeout_ms and
  // timeouts are replaced per call from the fields above.
  transport::DialOptions dial{};
  bool startmtep_fallback = false;       // see DESCRIPTION; clientOptionsFor() takes [outbound]'s
  uint16_t smtp_port = 25;               // where the fallback connects
  int smtp_timeout_ms = 120000;          // per SMTP reply and TLS handshake wait (fallback)
  std::string helo_name = "localhost";   // EHLO name: nothing that identifies this host
  transport::TlsTrust tls{};             // fallback's STARTTLS: CA and name, or pins; default none
  transport::NameResolver* resolver = nullptr;  // null = transport::systemResolver()
};

// `base` with [outbound]'s proxies, isolation, proxy_timeout, fallback,
// smtp_port and smtp_timeout.
ClientOptions clientOptionsFor(const config::OutboundConfig& outbound, ClientOptions base = {});

// The answer and how it was obtained.
struct QueryOutcome {
  Response response;
  bool via_startmtep = false;   // asked over ESMTP (the fallback)
  std::string tls_fingerprint;  // the SMTP server's key (tls.h) when STARTTLS ran; "" otherwise
  std::string tls_protocol;     // "TLSv1.3", or ""
};

class MtepClient {
 public:
  explicit MtepClient(ClientOptions options = {}) : options_(std::move(options)) {}
  Result<Response> query(const std::string& host, uint16_t port, std::string_view token,
                         std::string_view sender = {}, std::string_view recipient = {}) const;
  Result<QueryOutcome> ask(const std::string& host, uint16_t port, std::string_view token,
                           std::string_view sender = {}, std::string_view recipient = {}) const;

 private:
  ClientOptions options_;
};

}  // namespace mtep::proto
