#pragma once
// NAME
//   stoken_router.h - the STOKEN router (the sender's side): Postfix's
//   after-queue content filter that delivers by token where it can and
//   hands the rest back to Postfix
// SUMMARY
//   auto r = StokenRouter::create(config, ring, daemon.base());   // Server::open
//   Listen group [stoken] filter_listen -> *r
//   r->setConfig(next); r->setRing(ring);                        // SIGHUP, key reloads
//   r->stop();                                                    // Service::stopped
// DESCRIPTION
//   Postfix cannot choose a transport per (sender, recipient) pair, so it
//   gives every queued message to this listener (main.cf content_filter =
//   mtep-stoken:[127.0.0.1]:PORT, an lmtp transport in master.cf), and
//   takes back what is not delivered by token on a re-injection smtpd
//   ([stoken] reinject_to, with content_filter and milters off).
//   contrib/postfix/ sets this up.
//
//   The listener: plain LMTP (lib/smtp/server_session.h in the LMTP
//   dialect on lib/server/smtp_adapter.h), on loopback only (start-up
//   fails otherwise: whoever reaches it sends mail as any local user).
//   Greeting "220 HOST LMTP mtepd token router"; LHLO lists PIPELINING,
//   ENHANCEDSTATUSCODES, 8BITMIME and SIZE ([stoken] max_message_size).
//   MAIL takes BODY=7BIT|8BITMIME (and SIZE, checked by the engine); any
//   other MAIL or RCPT parameter is 555 5.5.4. More than [stoken]
//   max_recipients: 452 4.5.3 (Postfix sends the rest in another
//   transaction).
//
//   At the end of DATA the connection waits (kPending) while one of
//   kWorkers threads routes the message (never the loop):
//   - fast path: the sender's domain lacks deliver_by_token, the sender is
//     <>, or no recipient has a held token (TokenBook::held(local =
//     sender, remote = recipient)): one SMTP re-injection, no DNS;
//   - else, per recipient domain with held tokens (lib/stoken/router.h
//     plans and judges): the token server ([stoken] servers entry, else
//     stoken::discoverTokenServers: _submissions/_submission SRV, MX on
//     submission_port; cached per domain kDiscoveryTtl seconds, "none"
//     and failures too), up to kMaxCandidates tried in order while a
//     server fails before any token was sent (dial, TLS, greeting, LHLO,
//     STOKEN missing); one smtp::deliver per domain: LMTP, implicit TLS
//     (static, _submissions, MX) or required STARTTLS (_submission), the
//     certificate checked ([stoken] tls_pins for the domain, else
//     tls_ca_file or the system store, for the host name; .onion/.i2p
//     names only by pins), require_keyword STOKEN, "AUTH STOKEN
//     base64(first recipient NUL its token)", MAIL FROM:<sender> [BODY=],
//     "RCPT TO:<r> STOKEN=<held> MYSTOKEN=<ours>" (ours: TokenBook::generate
//     (kPermanent, remote = r, local = sender), only when the sender's
//     domain has accept_submission_tokens, so the token can be used), the
//     message as received. Discovered servers are never dialled on
//     loopback, private or link-local addresses; static entries may be.
//     2.1.13: the permanent in the reply is held (TokenBook::hold); 535 or
//     5.7.x: the held token is dropped; lost after the dot: 451 4.4.2 to
//     Postfix and NOT re-injected (RFC 1047: the token server may have
//     delivered it; Postfix retries later, so a duplicate is possible
//     but nothing is lost); anything else: re-injected.
//   - the rest: one SMTP transaction (no TLS) to [stoken] reinject_to,
//     MAIL FROM the original sender (and its BODY=), each recipient's
//     reply mapped back (router.h).
//   Then one LMTP reply per recipient, in order. Any internal error: 451
//   4.3.0 for every recipient not yet decided.
//   Time: every wait is bounded by [stoken] delivery_timeout (dial_timeout
//   to connect); all token deliveries of one message share one
//   delivery_timeout (no further server is tried past it), the
//   re-injection has one of its own. So Postfix's lmtp_data_done_timeout
//   for this transport must exceed twice delivery_timeout (contrib/postfix).
//   Store access (held, hold, dropHeld, generate) goes through one store
//   handle of the router's own, under a lock; the loop never touches it.
//
//   Logs, one line per message (token log ids, never tokens):
//     stoken-router: from=<S> by-token=<r>:LOGID:ID,... reinjected=<r>,...
//       refused=<r>:CODE,... deferred=<r>:CODE,... (reasons at debug)
// SECURITY
//   Tokens are bearer secrets: they go only to a server whose certificate
//   checked, never to logs or to Postfix's replies. A store error never
//   delivers by token (the recipient is re-injected); an error of the
//   router never answers 250.
// SEE ALSO
//   lib/stoken/router.h, lib/stoken/book.h, lib/stoken/discovery.h,
//   lib/smtp/delivery.h, doc/stoken.md "The router", contrib/postfix/

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "server/session.h"
#include "server/work_queue.h"
#include "token/token.h"

struct event_base;

namespace mtep::mtepd {

class StokenRouter final : public server::SessionFactory {
 public:
  static constexpr size_t kWorkers = 8;             // messages routed at once
  static constexpr int64_t kDiscoveryTtl = 300;     // seconds a domain's servers (or none) are kept
  static constexpr int64_t kDiscoveryFailTtl = 60;  // seconds a failed lookup is kept
  static constexpr size_t kMaxCandidates = 3;       // token servers tried per domain and message

  // Opens the router's store handle and starts the workers on `base`.
  // kConfig when a filter_listen address is not loopback.
  static Result<std::unique_ptr<StokenRouter>> create(config::ConfigPtr config,
                                                      std::shared_ptr<const token::KeyRing> ring,
                                                      event_base* base);
  ~StokenRouter() override;

  void setConfig(config::ConfigPtr config);
  void setRing(std::shared_ptr<const token::KeyRing> ring);
  void stop();
  size_t outstanding() const;

  const char* protocolName() const override { return "stoken-filter"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override;
  std::string_view busyReply() const override { return busy_reply_; }

  struct Shared;  // store, resolver, discovery cache: kept alive by running jobs

 private:
  StokenRouter() = default;

  config::ConfigPtr config_;
  std::shared_ptr<const token::KeyRing> ring_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<server::WorkQueue> queue_;
  std::string busy_reply_;
};

// kConfig naming the first [stoken] filter_listen address that is not
// loopback (127.0.0.0/8, ::1).
Status checkFilterListen(const config::Config& config);

}  // namespace mtep::mtepd
