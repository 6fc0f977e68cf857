#pragma once
// NAME
//   stoken_server.h - the token server (STOKEN, the recipient's side):
//   LMTP over TLS that delivers synchronously to the site's mailbox server
// SUMMARY
//   auto ts = TokenServer::create(config, ring, {&key_login, std::move(writer_store), tls},
//                                 base);
//   ts->factory(true)   // [stoken] listen: implicit TLS (RFC 8314)
//   ts->factory(false)  // [stoken] starttls_listen: STARTTLS
//   ts->setConfig(next); ts->setRing(ring);  // SIGHUP, key file reloads
//   ts->stop();                              // before the event base goes
// DESCRIPTION
//   LMTP only (lib/smtp/server_session.h on lib/server/smtp_adapter.h);
//   HELO and EHLO get 500 5.5.1. Greeting "220 HOST LMTP mtepd token
//   server". The LHLO reply lists, under TLS only: STOKEN,
//   ENHANCEDSTATUSCODES, AUTH STOKEN HASHEDPASS (HASHEDPASS while the key
//   service is on: [mtepd] user_keys), 8BITMIME, SIZE, PIPELINING; before
//   TLS (starttls_listen) only STARTTLS.
//     AUTH STOKEN b64(rcpt NUL token)  (the draft's literal "\0" too)
//        -> 235 2.7.0 when the token is genuine for rcpt (its MAC) and, if
//           temporary, not expired; else 535 5.7.8. Every failure counts
//           in the daemon's LoginLimiter, per client address only (so bad
//           tokens cannot lock a user out of the key service), with
//           [mtepd] auth_failures_per_client; over it: 454 4.7.0, even
//           for a good token (and RCPT with a token: 454 4.7.0).
//     AUTH HASHEDPASS   the key service's login (key_login.h), then
//     GENSTOKEN (PERM|TEMP) remote [local] -> 250 2.1.11 TOKEN Token generated
//        | 501 5.1.3 (remote) | 501 5.1.7 (local not the logged-in user's
//        address) | 550 5.7.1 (its domain has no accept_submission_tokens)
//        | 451 4.5.0 (store)
//     REVSTOKEN remote [local] -> 250 2.1.0 (also when there was none)
//        Both without a HASHEDPASS login: 530 5.7.0.
//     MAIL FROM:<remote> -> 530 5.7.0 without AUTH STOKEN; 550 5.7.8
//        unless the AUTH token checks (TokenBook::check) for (local = the
//        AUTH recipient, remote = this sender): wrong sender, revoked,
//        expired, not the current permanent; 451 4.7.0 when the store
//        cannot answer. BODY= is kept (8BITMIME); other parameters 555.
//     RCPT TO:<x> [STOKEN=t] [MYSTOKEN=m] -> 250 2.1.5 when t checks for
//        (local = x, remote = MAIL FROM); without STOKEN only for the AUTH
//        recipient (its AUTH token). 550 5.7.8 bad/wrong/revoked/expired
//        token or none; 451 4.7.0 store; 550 5.7.1 x's domain has no
//        accept_submission_tokens or x is in [stoken] refuse_recipients;
//        450 4.7.1 the token's domain submission_token_rate (deliveries
//        per token per hour) is used up; 452 4.5.3 over [stoken]
//        max_recipients; 501 5.5.4 bad STOKEN/MYSTOKEN; 555 5.5.4 others.
//     DATA -> over [stoken] max_message_size 552 5.3.4 per recipient (read
//        and dropped). Else the message is delivered at once (never
//        queued) on a worker thread (the loop never waits) by smtp::deliver
//        to [stoken] deliver_to (LMTP), parameters the backend does not
//        advertise dropped, with
//          Received: from HELO (IP) by HOST with LMTPSA id ID; DATE
//          Authentication-Results: AUTHSERV; stoken=pass (temporary|permanent) smtp.mailfrom=S
//        prepended and every Authentication-Results field claiming our
//        authserv-id ([milter] authserv_id or the host name) removed.
//        One reply per recipient, in order: Dovecot's 250 -> "250 2.1.12
//        <a> ID Saved", or "250 2.1.13 <a> PERM ID Saved" when the token
//        was temporary (the pair's permanent, TokenBook::afterDelivery) or
//        a permanent that the book replaced; the backend's 4xx/5xx as it
//        said them (552 5.2.2 over quota); a backend that drops mid-way
//        451 4.4.2 for every recipient not answered; backend down 451
//        4.4.1. After a 250, a MYSTOKEN that decodes as a token is held
//        for (local = x, remote = sender) (TokenBook::hold: a temporary
//        never replaces a held permanent).
//   The rate counter is in this process's memory (TokenRate): with
//   several mtepd processes each counts its own; a shared store (Redis)
//   would make it one.
//   Logs, one line per recipient per delivery (token log ids only):
//     ID: stoken client=ADDR from=<S> to=<X> token=LOGID kind=temporary result=250 2.1.13
//     perm=LOGID
//   and one per AUTH STOKEN: client=... auth=stoken rcpt=<X> token=LOGID
//   result=ok|fail|limited|malformed
// SECURITY
//   Tokens are never logged (tokenLogId()). Every store access (the token
//   checks of MAIL and RCPT, the AUTH HASHEDPASS lookup, afterDelivery,
//   hold, GENSTOKEN, REVSTOKEN) runs on the workers through one store
//   handle of their own, the session suspended meanwhile: the loop never
//   waits on the store (with Redis, a network round trip). A store error
//   never accepts: 451. Nothing is buffered beyond [mtepd] smtp_max_line
//   (a command; a 10 MB token line is 500 5.5.6) and max_message_size.
//   A client that leaves mid-DATA delivers nothing.
// SEE ALSO
//   lib/stoken/book.h, lib/stoken/protocol.h, lib/smtp/delivery.h,
//   key_login.h, doc/stoken.md, mtepd(8) TOKEN SERVER

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.h"
#include "key_login.h"
#include "server/session.h"
#include "server/tls_context.h"
#include "server/work_queue.h"
#include "stoken/book.h"
#include "store/store.h"
#include "token/token.h"
#include "util/clock.h"

struct event_base;

namespace mtep::mtepd {

// Deliveries per token per hour, counted in memory (fixed windows opened
// at a token's first use). At most max_entries tokens; a full table drops
// the token whose window opened first. One thread.
class TokenRate {
 public:
  static constexpr size_t kDefaultMaxEntries = 100000;
  explicit TokenRate(const Clock& clock, size_t max_entries = kDefaultMaxEntries);
  // Counts one use of `token_id` and says whether it is within `per_hour`
  // (0 = no limit, nothing counted). A refused use is not counted.
  bool take(const std::string& token_id, int64_t per_hour);

 private:
  struct Entry {
    int64_t ends = 0;
    int64_t used = 0;
    std::list<std::string>::iterator pos;
  };
  const Clock& clock_;
  size_t max_entries_;
  std::unordered_map<std::string, Entry> map_;
  std::list<std::string> order_;
};

// The message as the token server hands it on: `received` and
// `auth_results` (whole fields without CRLF) first, then `data` without
// its Authentication-Results fields whose authserv-id is `authserv_id`
// (ASCII case-insensitive). CRLF line ends as in `data`.
std::string tokenMessage(std::string_view data, std::string_view received,
                         std::string_view auth_results, std::string_view authserv_id);

class TokenServer {
 public:
  static constexpr size_t kWorkers = 4;  // deliveries and store accesses at once

  struct Parts {
    KeyLogin* login = nullptr;                      // null: no AUTH HASHEDPASS (no GENSTOKEN)
    std::unique_ptr<store::Store> writer_store;     // the workers' handle (a mutex serialises it)
    std::shared_ptr<const server::TlsContext> tls;  // required
  };

  // kInvalid without TLS; kInternal when the workers cannot start.
  static Result<std::unique_ptr<TokenServer>> create(config::ConfigPtr config,
                                                     std::shared_ptr<const token::KeyRing> ring,
                                                     Parts parts, event_base* base);
  ~TokenServer();

  server::SessionFactory& factory(bool implicit_tls);
  void setConfig(config::ConfigPtr config);
  void setRing(std::shared_ptr<const token::KeyRing> ring);
  void stop();
  size_t outstanding() const;

  // For the sessions (loop thread).
  struct Shared;
  Shared& shared() { return *shared_; }

 private:
  TokenServer() = default;
  std::unique_ptr<Shared> shared_;
  std::unique_ptr<server::SessionFactory> implicit_;
  std::unique_ptr<server::SessionFactory> starttls_;
};

}  // namespace mtep::mtepd
