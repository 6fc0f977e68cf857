#pragma once
// NAME
//   next_hop.h - the onion relay's side toward the overlay peer: one SMTP
//   transaction over SOCKS5 and mandatory TLS, blocking (worker threads)
// SUMMARY
//   NextHop hop(settings, links, pins);
//   HopReply r = hop.open(dest, mail);       // dial, EHLO, STARTTLS, EHLO, pin, MAIL
//   r = hop.rcpt(dest, "user@abc...xyz.onion");
//   r = hop.startData();                     // 354 or the peer's refusal
//   r = hop.sendMessage(message);            // the peer's final reply; then QUIT
// DESCRIPTION
//   Each method blocks, on a worker thread, for at most the configured
//   timeouts, and returns the reply the relay gives its own client (Postfix)
//   for that step. Nothing here accepts a message: success is the peer's own
//   2xx, passed back with the peer named ("abc...xyz.onion said: ...").
//   Decisions (doc/smtorp.md, "The onion relay"):
//   - The connection is opened at the transaction's first recipient: dial
//     through the SOCKS5 proxy (transport::dial), the greeting, EHLO,
//     STARTTLS, EHLO again, then the key check (PinChecker: the address's
//     fingerprint label, or the pin, or trust on first use), and only then
//     MAIL FROM, so that an impostor never learns the sender.
//   - TLS is mandatory. A peer that does not offer STARTTLS (451 4.7.4) or
//     whose handshake fails (451 4.7.0) gets nothing, and the answer is
//     TEMPORARY, as Postfix's own smtp_tls_security_level = encrypt does:
//     the mail stays in the sender's queue and bounces after its
//     maximal_queue_lifetime if the peer is never fixed.
//   - A key that does not match the address's fingerprint, a changed key,
//     or an unpinned key without trust on first use is PERMANENT: 550 5.7.0
//     naming the host, the expected and the seen fingerprints.
//   - Trouble on the way (proxy down or garbage, no answer, timeouts, the
//     peer closing, a reply that breaks the grammar) is 451 4.4.1 (could not
//     connect) or 451 4.4.2 (connection lost or timed out): Postfix keeps
//     the mail and retries. The pin store failing is 451 4.3.0.
//   - The peer's own replies are passed on with their codes; a 421 from the
//     peer becomes 451 (421 would tell Postfix that the RELAY is closing).
//   - After the final reply to the message (or a failure) the connection is
//     closed (QUIT); the next transaction opens a new one.
//   A NextHop is used by one thread at a time (the session's jobs are never
//   concurrent).
// SEE ALSO
//   session.h, link.h, lib/overlay/pins.h, lib/transport/dialer.h

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "overlay/overlay.h"
#include "overlay/pins.h"
#include "smtp/reply.h"
#include "smtp/status.h"
#include "transport/dialer.h"
#include "util/result.h"

namespace mtep::relay {

using SteadyClock = std::chrono::steady_clock;

// Where one transaction goes, from its first recipient's domain.
struct Destination {
  overlay::Kind kind = overlay::Kind::kNone;
  std::string host;   // lower case: "<56>.onion", "<52>.b32.i2p", "name.i2p"
  std::string label;  // SMTorP fingerprint label of this recipient, "" = none
};

// What the relay says to its own client for one command.
struct HopReply {
  smtp::Reply reply;
  bool ok() const { return reply.code >= 200 && reply.code < 400; }
};

// The envelope sender and what MAIL FROM said about the message.
struct MailFrom {
  std::string path;          // inside the angle brackets, "" = null sender
  uint64_t size = 0;         // SIZE=, 0 = not given
  std::string body;          // "7BIT", "8BITMIME", "" = not given
};

// One SMTP connection to a peer: SmtpClient in production (link.h), a
// script in tests.
class PeerLink {
 public:
  virtual ~PeerLink() = default;
  virtual Result<smtp::ParsedReply> greeting() = 0;
  virtual Result<smtp::ParsedReply> ehlo(std::string_view name) = 0;
  // The last EHLO reply (empty after HELO).
  virtual const smtp::ParsedReply& capabilities() const = 0;
  // STARTTLS, 220, the handshake; the server key's fingerprint (tls.h).
  virtual Result<std::string> startTls(const std::string& server_name) = 0;
  virtual Result<smtp::ParsedReply> command(std::string_view line) = 0;
  // After the peer's 354: the message, dot-stuffed, ".", the final reply.
  virtual Result<smtp::ParsedReply> message(std::string_view message) = 0;
  // Every wait from now on ends by `deadline` (and the read timeout).
  virtual void setDeadline(SteadyClock::time_point deadline) = 0;
  // QUIT, briefly waiting for 221; errors ignored.
  virtual void quit() = 0;
};

// Opens PeerLinks: transport::dial through the proxies in production.
class LinkFactory {
 public:
  virtual ~LinkFactory() = default;
  // Every wait ends by `deadline`; *why as transport::dial says.
  virtual Result<std::unique_ptr<PeerLink>> connect(const std::string& host, uint16_t port,
                                                    SteadyClock::time_point deadline,
                                                    transport::DialFailure* why) = 0;
};

// overlay::PinBook behind a seam (and a lock: the workers share it).
class PinChecker {
 public:
  virtual ~PinChecker() = default;
  virtual Result<overlay::PinCheck> check(std::string_view host, std::string_view label,
                                          std::string_view server_fingerprint,
                                          bool trust_on_first_use) = 0;
};

struct HopSettings {
  uint16_t port = 25;               // [outbound] smtp_port
  std::string helo_name = "localhost";  // [mtepd] hostname
  int proxy_timeout_ms = 30000;     // [outbound] proxy_timeout: dialling through the proxy
  int smtp_timeout_ms = 120000;     // [outbound] smtp_timeout: each reply, the handshake
  int send_timeout_ms = 1800000;    // [mtepd] relay_send_timeout: writing one whole message
  bool trust_on_first_use = true;   // [outbound] trust_on_first_use
};

class NextHop {
 public:
  NextHop(HopSettings settings, LinkFactory& links, PinChecker& pins)
      : settings_(std::move(settings)), links_(links), pins_(pins) {}

  // Connects to dest.host:port, TLS, checks the key with dest.label, sends
  // MAIL FROM. On failure the connection is closed and the reply says why.
  HopReply open(const Destination& dest, const MailFrom& mail);
  // RCPT TO:<mailbox> (the fingerprint label already removed). A label not
  // checked yet in this connection is checked first (550 5.7.0 for this
  // recipient alone when the key does not match it).
  HopReply rcpt(const Destination& dest, std::string_view mailbox);
  // DATA: 354 when the peer is ready for the message, else its refusal.
  HopReply startData();
  // The message (CRLF lines, unstuffed) after 354: the peer's final reply.
  // The connection is closed afterwards, whatever the reply. Writing the
  // message has send_timeout_ms in all (a slow reader gets 451 4.4.2).
  HopReply sendMessage(std::string_view message);
  // QUIT (bounded by the timeouts) and close; nothing when not connected.
  void close();
  // Drops the connection without a word (a message half sent is never
  // completed by the peer: it saw no ".").
  void abort() { link_.reset(); }
  bool connected() const { return link_ != nullptr; }
  // The server key's fingerprint of the open connection ("" before TLS).
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  SteadyClock::time_point replyDeadline() const;
  HopReply lost(const Error& error, const char* during);
  HopReply refusedBy(const smtp::ParsedReply& reply, bool keep);
  HopReply checkKey(const Destination& dest);

  HopSettings settings_;
  LinkFactory& links_;
  PinChecker& pins_;
  std::unique_ptr<PeerLink> link_;
  std::string host_;                   // of link_
  std::string fingerprint_;            // of link_'s server key
  std::vector<std::string> labels_ok_; // labels already checked against fingerprint_
  bool size_ok_ = false;               // the peer offers SIZE
  bool eightbit_ok_ = false;           // the peer offers 8BITMIME
};

// Replies the relay makes itself.
HopReply makeReply(uint16_t code, smtp::EnhancedStatus status, std::string text);
// The peer's reply passed on: its code (421 -> 451), its enhanced code (or
// C.0.0), "HOST said: TEXT" (lines joined with "; ", at most ~400 bytes).
HopReply passOn(const std::string& host, const smtp::ParsedReply& reply);

}  // namespace mtep::relay
