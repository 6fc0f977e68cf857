#pragma once
// NAME
//   client.h - a blocking SMTP client over a transport::Stream
// SUMMARY
//   SmtpClient c(std::move(stream), {});
//   auto g = c.greeting(); auto e = c.ehlo("relay.example.org");
//   if (c.capabilities().hasKeyword("STARTTLS")) c.startTls({.server_name = host});
//   c.command("MAIL FROM:<a@b>"); c.data(message); c.quit();
// DESCRIPTION
//   One command, one reply (no PIPELINING). Every wait is bound by the
//   stream's timeouts (transport::Timeouts: each reply, and the whole).
//   Replies are parsed with ReplyParser and its limits; a reply that breaks
//   the grammar is kProtocol; a closed connection or a timeout kTemporary.
//   A reply is returned whatever its code: the caller decides. Commands
//   must not contain CR or LF (kInvalid, nothing sent).
//   ehlo() falls back to HELO when EHLO gets 5xx (then no capabilities).
//   lhlo() is LMTP's greeting (RFC 2033): no fallback; capabilities() as
//   for EHLO.
//   startTls(): "STARTTLS", 220, then the TLS handshake (transport::startTls)
//   replaces the stream; the caller must ehlo() again (RFC 3207). A reply
//   other than 220 is an Error kTemporary that quotes it (the session is
//   still plain and usable).
//   data(): "DATA", 354, the message with dots stuffed and a CRLF added when
//   missing, ".", and the final reply. A non-354 answer to DATA is returned
//   as the reply (the message is not sent).
//   After a failed startTls() the client has no stream: command(), data()
//   and quit() fail safely, but stream() must not be called.
//   stream(): raw access for protocols that take over the connection
//   (STARTMTEP: MTEP netstrings until Q, then SMTP again); bytes read past a
//   reply stay in pending() for whoever reads next.
//   quit(): "QUIT" and waits (briefly) for 221; errors ignored.
// SEE ALSO
//   reply.h, lib/transport/stream.h, lib/transport/tls.h

#include <memory>
#include <string>
#include <string_view>

#include "smtp/reply.h"
#include "transport/stream.h"
#include "transport/tls.h"
#include "util/result.h"

namespace mtep::smtp {

class SmtpClient {
 public:
  SmtpClient(std::unique_ptr<transport::Stream> stream, ReplyLimits limits = {});

  Result<ParsedReply> greeting();
  Result<ParsedReply> ehlo(std::string_view name);
  Result<ParsedReply> lhlo(std::string_view name);
  // The last successful EHLO's (or LHLO's) reply (empty after HELO or before EHLO).
  const ParsedReply& capabilities() const { return capabilities_; }
  Result<ParsedReply> command(std::string_view line);
  // On success the fingerprint, protocol and cipher of the session; the
  // TlsSession's stream now belongs to this client (its member is null).
  Result<transport::TlsSession> startTls(const transport::TlsClientOptions& options);
  Result<ParsedReply> data(std::string_view message);
  void quit();

  // Reads one reply (to bytes sent through stream(), such as a message
  // body after a separate DATA), within the stream's timeouts.
  Result<ParsedReply> readReply();

  // False after a failed STARTTLS handshake (the stream is gone).
  bool connected() const { return stream_ != nullptr; }
  transport::Stream& stream() { return *stream_; }
  std::string& pending() { return pending_; }  // received, not yet parsed

 private:
  std::unique_ptr<transport::Stream> stream_;
  ReplyLimits limits_;
  ParsedReply capabilities_;
  std::string pending_;
};

// Dot-stuffs `message` for DATA (RFC 5321 4.5.2), normalising a bare LF or
// a bare CR to CRLF (SMTP smuggling: no "\r.\r\n" passes unstuffed), and
// appends the final CRLF (when missing) and ".\r\n".
std::string dotStuff(std::string_view message);

}  // namespace mtep::smtp
