#pragma once
// NAME
//   mmtp_bridge.h - the MMTP gateway's MTA side: mail from Postfix or Exim
//   over LMTP ([mmtp] lmtp_listen) into MMTP mailboxes here and to remote
//   MMTP domains
// SUMMARY
//   auto b = MmtpBridge::create(config, daemon.base());   // Server::open
//   Listen group [mmtp] lmtp_listen -> *b
//   b->setConfig(next);                                     // SIGHUP
//   b->stop();                                              // Service::stopped
// DESCRIPTION
//   The MTA routes mail for MMTP users and MMTP domains to this listener
//   (Postfix: transport_maps to an lmtp transport, contrib/postfix/
//   *.mmtp.fragment; Exim: contrib/exim/mtep-mmtp-*.conf). Plain LMTP
//   (lib/smtp/server_session.h in the LMTP dialect on
//   lib/server/smtp_adapter.h), on loopback only (start-up fails
//   otherwise: whoever reaches it writes into any mailbox and sends as any
//   local user). Greeting "220 HOST LMTP mtepd MMTP bridge"; LHLO lists
//   PIPELINING, ENHANCEDSTATUSCODES, 8BITMIME and SIZE ([mmtp]
//   max_reply_size: a packet larger than one reply could never be
//   RECEIVEd). MAIL takes BODY=7BIT|8BITMIME (and SIZE); any other MAIL or
//   RCPT parameter is 555 5.5.4. More than kMaxRecipients: 452 4.5.3.
//
//   At the end of DATA the connection waits (kPending) while one of
//   kWorkers threads delivers (never the loop), then one LMTP reply per
//   recipient, in order (deliverToMmtp() decides, on the Backend):
//   - The message is read once (lib/mmtp/mail.h readMail: Subject and the
//     first text/plain part become content, X-MMTP-Tags meta.tags; other
//     MIME parts, attachments included, are not carried). Refused content
//     is 550 5.6.3 with the reason (HTML only, no text part, not UTF-8,
//     ...), over a limit 552 5.3.4, for every MMTP recipient.
//   - The sender is MAIL FROM in MMTP form (mmtp::fromMail); <> or an
//     address without one (quoted local part, '+', UTF-8, ...): 550 5.1.7.
//   - A recipient whose domain has mmtp_delivery "mailbox": the packet as
//     the reference client builds it (mail.h buildPacket, type SEND, our
//     message id) is added to the recipient's mailbox (mmtp::Mailboxes,
//     [mmtp] mailbox_quota, mailbox_size_limit, message_ttl) for its owner
//     to RECEIVE. NO STAMP IS MINTED OR CHECKED: the mail came through the
//     site's own MTA and its checks; meta.hashcashToken is a difficulty-0
//     token naming the pair ("1:0:TS:S:R::0:"). The recipient must be a
//     key-service user (UserBook; else 550 5.1.1: nobody could RECEIVE
//     it); the store unable to tell or to write: 451 4.3.0; the quota or
//     size limit: 552 5.2.2. Reply "250 2.0.0 ID delivered to mailbox".
//     The store handle is the bridge's own, used by the workers under a
//     lock; the loop never touches it.
//   - A recipient in a remote MMTP domain ([mmtp] domains or servers:
//     isMmtpDomain), unless the domain is a mailbox domain here: the stamp
//     is minted on the worker (pow::mintMmtp, resource "SENDER:RECIPIENT:
//     TS", at config.mmtpDifficultyFor(domain)), the packet built, and
//     SENT over TLS (always) with lib/mmtp/client.h: to the domain's
//     [mmtp] servers entry (HOST[:PORT], default 8026), else to the domain
//     itself on 8026 (then never to a loopback, private or link-local
//     address); the certificate checked by [mmtp] tls_pins for the domain,
//     else against tls_ca_file (or the system store) for the host name;
//     [outbound] proxies as everywhere. One connection per domain and
//     message, one SEND per recipient on it, [mmtp] dial_timeout for
//     connect + TLS + greeting, reply_timeout per reply. The reply:
//       {"status":"OK"} -> 250 2.0.0 with the server's messageId;
//       ERROR with "temporary": true -> 451 4.3.0 with its message;
//       other ERROR -> 550 (552 5.2.2 "Mailbox full", 5.1.1 "Unknown
//         recipient", 5.1.2 "Recipient domain not served here", 5.1.3
//         "Invalid email format", else 5.7.0: a stamp, hash or policy
//         refusal) with the server's message and reason, printable, each
//         at most 200 bytes;
//       no connection, TLS refused -> 451 4.4.1; a timeout, a close, a
//         reply that is no MMTP reply -> 451 4.4.2 (after the request was
//         written the server may have kept it: the MTA's retry may
//         duplicate the message; nothing is lost).
//   - Anything else: 550 5.1.2 (not an MMTP mailbox or domain).
//   Any internal error: 451 4.3.0 for every recipient.
//
//   Logs, one line per message:
//     mmtp-bridge: from=<S> size=N mailbox=<r>:ID,... sent=<r>:ID:via=HOST:PORT,...
//       refused=<r>:CODE,... deferred=<r>:CODE,...   (reasons at debug)
// SECURITY
//   Loopback only. The bridge mints stamps for its users' mail, so a
//   remote MMTP server sees it as any reference client's SEND; what gets
//   here was accepted by the MTA (its sender checks, SASL) first. Replies
//   quoted from a remote server are printable ASCII, at most 200 bytes.
// SEE ALSO
//   lib/mmtp/mail.h, lib/mmtp/client.h, lib/mmtp/mailbox.h,
//   mmtp_service.h, stoken_router.h (the same shape), doc/mmtp.md

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "mmtp/client.h"
#include "mmtp/gateway.h"
#include "mmtp/json.h"
#include "mmtp/mailbox.h"
#include "server/session.h"
#include "server/work_queue.h"
#include "smtp/server_session.h"
#include "smtp/status.h"

struct event_base;

namespace mtep::mtepd {

// One connection to a remote MMTP server.
class MmtpRemote {
 public:
  virtual ~MmtpRemote() = default;
  virtual Result<mmtp::Json> request(const mmtp::Json& request) = 0;
  virtual std::string via() const = 0;  // "host:port", for logs and replies
};

// What deliverToMmtp() needs from the world (tests replace it).
class MmtpBridgeBackend {
 public:
  virtual ~MmtpBridgeBackend() = default;
  // Whether `user` (a lower-case mail address) is a key-service user.
  virtual mmtp::AuthResult known(std::string_view user) = 0;
  // Mailboxes::add's contract (kInvalid: over the quota or size limit).
  virtual Status store(std::string_view owner, std::string_view message_id,
                       std::string_view packet_json, const mmtp::MailboxLimits& limits) = 0;
  // A connection to `domain`'s server, greeting read; *failed says where
  // it failed.
  virtual Result<std::unique_ptr<MmtpRemote>> connect(const config::Config& config,
                                                      std::string_view domain,
                                                      mmtp::ClientStep* failed) = 0;
  virtual int64_t nowMs() = 0;
};

struct MmtpBridgeOutcome {
  std::vector<smtp::Reply> replies;  // one per recipient, in order
  std::string log;                   // the message's log line (without "mmtp-bridge: ")
  std::vector<std::string> notes;    // reasons, for debug logs
};

// The decisions described above, for one message.
MmtpBridgeOutcome deliverToMmtp(const config::Config& config, const smtp::Message& message,
                                MmtpBridgeBackend& backend);

// How the bridge reaches `domain`'s MMTP server (server, port, trust,
// proxies, timeouts), as described above.
mmtp::MmtpClientOptions mmtpRemoteOptions(const config::Config& config, std::string_view domain);

// A remote server's reply to a SEND, as the LMTP reply for its recipient.
smtp::Reply lmtpReplyForSend(const mmtp::Json& reply, std::string_view via);

class MmtpBridge final : public server::SessionFactory {
 public:
  static constexpr size_t kWorkers = 4;               // messages delivered at once
  static constexpr size_t kMaxRecipients = 100;       // per LMTP transaction
  static constexpr size_t kMaxSendReply = 64 * 1024;  // bytes of a remote SEND reply

  // Opens the bridge's store handle and starts the workers on `base`.
  // kConfig when an lmtp_listen address is not loopback.
  static Result<std::unique_ptr<MmtpBridge>> create(config::ConfigPtr config, event_base* base);
  ~MmtpBridge() override;

  void setConfig(config::ConfigPtr config);
  void stop();
  size_t outstanding() const;

  const char* protocolName() const override { return "mmtp-lmtp"; }
  std::unique_ptr<server::ProtocolSession> create(const server::PeerInfo& peer) override;
  std::string_view busyReply() const override { return busy_reply_; }

  struct Shared;  // the store handle and its lock: kept alive by running jobs

 private:
  MmtpBridge() = default;

  config::ConfigPtr config_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<server::WorkQueue> queue_;
  std::string busy_reply_;
};

// kConfig naming the first [mmtp] lmtp_listen address that is not
// loopback (127.0.0.0/8, ::1).
Status checkMmtpLmtpListen(const config::Config& config);

}  // namespace mtep::mtepd
