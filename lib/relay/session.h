#pragma once
// NAME
//   session.h - the onion relay's SMTP server session (to the local MTA),
//   I/O-free
// SUMMARY
//   RelaySession s(limits, hop, "127.0.0.1:40000");
//   auto st = s.start(&out);                      // 220 greeting
//   st = s.feed(bytes, &out);
//   if (st.action == RelaySession::Action::kWork) {
//     auto job = s.takeWork();                    // run on a worker: blocks
//     HopReply r = job();
//     st = s.complete(r, &out);                   // back on the loop thread
//   }
// DESCRIPTION
//   The relay is an SMTP server for Postfix (or Exim) on loopback: plain,
//   EHLO offers SIZE relay_max_message_size, 8BITMIME and
//   ENHANCEDSTATUSCODES (no PIPELINING, CHUNKING, DSN, SMTPUTF8 or
//   STARTTLS); HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT; any other verb
//   502 5.5.1 (known) or 500 5.5.2 (unknown).
//   Recipients: only .onion and .i2p domains (others 550 5.1.2 "not an
//   overlay address": this is not an open relay), validated with
//   overlay::parseDomain (a bad checksum, version or fingerprint label is
//   550 5.1.2 with the reason). Every recipient of a transaction goes to
//   the first one's host; another host gets 452 4.5.3 "one destination per
//   transaction" (Postfix: onion_destination_recipient_limit = 1, see
//   contrib/postfix/main.cf.onion.fragment, never sends such a transaction).
//   Synchronous relaying: the first RCPT opens the next hop (NextHop::open),
//   each RCPT is relayed and its reply passed back, DATA gets our 354 only
//   once the peer has said 354, and the reply to the message is the peer's.
//   The fingerprint label is removed from the address given to the peer
//   (user@FP.ONION.onion -> user@ONION.onion): it is the sender's check of
//   the key, not part of the mailbox.
//   When the first RCPT's connection fails, the same reply is given to the
//   transaction's other recipients without trying again. A message over the
//   size limit, or a client that leaves during DATA, drops the peer
//   connection without the final "." so the peer delivers nothing.
//   Blocking steps are handed out as jobs (kWork): the caller runs the job
//   off the loop, then calls complete(). feed() is not called in between.
//   Every decision is logged as one line "relay: client=... from=<...>
//   to=<...> action=CODE reply=...".
// SEE ALSO
//   next_hop.h, mtepd/relay_service.h, lib/smtp/command.h

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/next_hop.h"
#include "smtp/command.h"

namespace mtep::relay {

struct SessionLimits {
  std::string hostname = "localhost";  // greeting and EHLO
  size_t max_line = 2048;              // [mtepd] smtp_max_line
  uint64_t max_message_size = 52428800;  // [mtepd] relay_max_message_size
  size_t max_recipients = 100;         // per transaction (RFC 5321 4.5.3.1.8 minimum)
  size_t max_errors = 20;              // bad commands before 421 and close
};

class RelaySession {
 public:
  enum class Action {
    kContinue,  // read on
    kClose,     // send what is queued, then close
    kWork,      // run takeWork() off the loop, then complete()
  };
  struct Step {
    Action action = Action::kContinue;
    bool answered = false;  // a reply was queued (the idle timer restarts)
    size_t unconsumed = 0;  // with kWork: bytes at the end of `in` not taken
  };
  using Job = std::function<HopReply()>;

  RelaySession(SessionLimits limits, std::shared_ptr<NextHop> hop, std::string client);
  ~RelaySession();
  RelaySession(const RelaySession&) = delete;
  RelaySession& operator=(const RelaySession&) = delete;

  Step start(std::string* out);
  Step feed(std::string_view in, std::string* out);
  // The job of the last kWork; it holds the hop and plain data only.
  Job takeWork();
  Step complete(const HopReply& reply, std::string* out);
  Step onEof(std::string* out);
  Step onTimeout(std::string* out);

 private:
  enum class Phase { kCommand, kData, kWaiting, kClosed };
  enum class Work { kNone, kFirstRcpt, kRcpt, kData, kMessage, kReset, kQuit };

  Step command(const std::string& line, std::string* out);
  Step mail(const std::string& args, std::string* out);
  Step rcpt(const std::string& args, std::string* out);
  Step data(std::string* out);
  Step dataFinished(smtp::DataState state, std::string* out);
  Step error(uint16_t code, smtp::EnhancedStatus status, std::string_view text, std::string* out);
  Step work(Work what, Job job);
  void reply(uint16_t code, smtp::EnhancedStatus status, std::string_view text, std::string* out);
  void reply(const HopReply& r, std::string* out);
  void resetTransaction();
  void logRcpt(const std::string& to, const HopReply& r) const;

  SessionLimits limits_;
  std::shared_ptr<NextHop> hop_;
  std::string client_;  // "ADDR:PORT" for the log
  smtp::LineReader lines_;
  smtp::DataReader data_;
  Phase phase_ = Phase::kCommand;
  bool answered_ = false;   // set by reply() during one call
  size_t errors_ = 0;
  bool greeted_ = false;    // HELO or EHLO seen
  // The transaction.
  std::optional<MailFrom> mail_;
  std::optional<Destination> dest_;
  std::optional<HopReply> hop_failed_;  // the first RCPT's connection failure
  size_t rcpts_ = 0;                    // RCPT commands relayed
  size_t accepted_ = 0;                 // recipients the peer accepted
  std::string pending_rcpt_;            // the address of the RCPT being relayed
  // The job handed out.
  Work work_ = Work::kNone;
  Job job_;
};

}  // namespace mtep::relay
