#pragma once
// NAME
//   gateway.h - MMTP's actions: what mtepd answers to each request
// SUMMARY
//   mmtp::Gateway gw(store, clock, &auth, &injector);
//   std::optional<Json> reply = gw.handle(request, client, config, later);
//   // nullopt: the answer comes through later(reply) (a SEND handed to the MTA)
// DESCRIPTION
//   Requests are {"action": ..., "data": {...}} as the reference client
//   sends them; replies carry the reference server's fields and texts.
//   What the reference leaves open is shut here:
//   - SEND: the packet is read and checked (packet.h: shape, addresses,
//     tags, the integrity hash always), then the recipient's domain must be
//     one we serve ([domain] mmtp_delivery "mailbox" or "mta"; "off" or
//     none: "Recipient domain not served here", the gateway is not a
//     relay); a mailbox recipient must be one of the site's users (the key
//     service's: nobody else could ever RECEIVE it, so it is not stored:
//     "Unknown recipient"); a sender in a domain we serve must log in as that sender
//     (no one sends as our users unauthenticated); the stamp must have the
//     domain's difficulty (config mmtpDifficultyFor), name this packet's
//     sender, recipient and timestamp, lie in [mmtp] stamp_window, and is
//     spent once (store recordOnce, namespace "mmtp-stamp"; spent before
//     delivery, so a replay racing the first copy never gets in). Then the
//     packet goes to the recipient's mailbox (quota and size limit), or to
//     the MTA through the Injector. The reply's messageId is the server's.
//     With a WriteBatch the reply waits until the stamp's record and the
//     message are committed (and a packet for the MTA is handed over only
//     then): a reply never says OK for something a failed commit lost.
//   - RECEIVE, RECEIVE_FILTERED, CHECK: only the mailbox's owner, logged
//     in over TLS with data.auth (below); RECEIVE returns at most
//     [mmtp] max_reply_size bytes of messages (the rest stays, "more":
//     true) and removes what it returned.
//   - REGISTER_KEY: only the owner, over TLS; the key must be an OpenPGP
//     public key (never a private one). REQUEST_PUBLIC_KEY: anyone.
//   - GET_TAG_CATEGORIES: the fixed categories.
//   Login (our extension, doc/mmtp.md): data.auth = the key service's AUTH
//   HASHEDPASS payload, base64("\0" user "\0" hex(hash)), for the user
//   whose mail address is the MMTP address (bob@beta.test for
//   (bob)%(beta.test)); checked by the Authenticator (mtepd's KeyLogin,
//   with its failure limiter). Over a plain connection it is refused
//   before it is looked at.
//   Every ERROR reply has "message" (the reference's text where it has
//   one) and, where it helps, "reason"; "temporary": true marks a reply
//   the client should retry (the store down, the MTA unreachable), so the
//   bridge maps it to 4xx rather than 5xx.
// SEE ALSO
//   packet.h, mailbox.h, session.h, doc/mmtp.md

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.h"
#include "mmtp/json.h"
#include "mmtp/mailbox.h"
#include "mmtp/packet.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/result.h"

namespace mtep::mmtp {

struct Client {
  std::string address;  // "ADDR:PORT", for logs
  std::string host;     // "ADDR", for the login limiter
  bool tls = false;
};

enum class AuthResult { kOk, kFailed, kLimited, kMalformed, kTempfail };

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Checks a HASHEDPASS payload; *user = the lower-case user name when kOk.
  virtual AuthResult login(const Client& client, std::string_view payload, std::string* user) = 0;
  // Whether `user` (a lower-case mail address) is one of the site's users:
  // kOk, kFailed (unknown) or kTempfail (cannot tell now).
  virtual AuthResult known(std::string_view user) = 0;
};

// A packet for the MTA (mmtp_delivery = "mta").
struct Injection {
  std::string mail_from;  // the sender's mail address
  std::string rcpt_to;    // the recipient's
  std::string message;    // RFC 5322, CRLF line ends
};

class Injector {
 public:
  virtual ~Injector() = default;
  // Hands `injection` over; done(status) later on the caller's thread
  // (kTemporary: retry; kInvalid: refused for good). Never calls done()
  // from inside inject().
  virtual void inject(Injection injection, std::function<void(Status)> done) = 0;
};

// Group commit (optional): the store writes of many requests committed
// together. Without one every write commits alone and SEND answers at once.
class WriteBatch {
 public:
  virtual ~WriteBatch() = default;
  // Before a request's first write: opens the batch's transaction unless
  // one is open (kTemporary when the store cannot).
  virtual Status open() = 0;
  // The request's writes are done: done(status) once they are committed
  // (ok) or rolled back (the error), later, on the caller's thread.
  virtual void whenCommitted(std::function<void(Status)> done) = 0;
};

// What a Session hands each request to: the reply, or nullopt and later
// (the reply) on the caller's thread. The Gateway answers itself; a daemon
// may put one in front of it that runs it on a worker thread.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual std::optional<Json> handle(const Json& request, const Client& client,
                                     const config::Config& config,
                                     std::function<void(Json)> later) = 0;
};

class Gateway final : public RequestHandler {
 public:
  // `authserv_id` names us in the Authentication-Results of injected mail.
  Gateway(store::Store& store, const Clock& clock, Authenticator* auth, Injector* injector,
          std::string authserv_id, std::function<int64_t()> now_ms = {});
  void setAuthservId(std::string id) { authserv_id_ = std::move(id); }
  // SENDs then answer once their stamp and mailbox writes are committed
  // (`batch` must outlive the gateway; null: each write commits alone).
  void setWriteBatch(WriteBatch* batch) { batch_ = batch; }
  // After a rolled-back batch: the mailbox counts kept in memory may be
  // wrong; they are read again.
  void forgetCounts() { boxes_.forgetCounts(); }

  std::optional<Json> handle(const Json& request, const Client& client,
                             const config::Config& config,
                             std::function<void(Json)> later) override;

  // The greeting: {"status":"OK","message":"MMTP Server Ready[ (Secure
  // Connection)]","features":{"tls":...,"pgp":true}}.
  static Json greeting(bool secure, bool tls_offered);
  // {"status":"ERROR","message":...[,"reason":...][,"temporary":true]}
  static Json error(std::string_view message, std::string_view reason = {},
                    bool temporary = false);

 private:
  Json send(const Json& data, const Client& client, const config::Config& config,
            std::function<void(Json)>* later, bool* pending);
  Json receive(const Json& data, const Client& client, const config::Config& config,
               bool filtered);
  Json check(const Json& data, const Client& client, const config::Config& config);
  Json registerKey(const Json& data, const Client& client);
  Json requestKey(const Json& data);
  // "" when data.auth logs `email`'s owner in; otherwise the ERROR reply.
  // RECEIVE, RECEIVE_FILTERED, CHECK: data.email, data.tagFilters (null
  // when absent) and the owner's login; the ERROR reply when any fails.
  std::optional<Json> ownerRequest(const Json& data, const Client& client, const std::string** email,
                                   const Json** filters);
  std::optional<Json> requireOwner(const Json& data, const Client& client,
                                   std::string_view email);

  store::Store& store_;
  const Clock& clock_;
  Authenticator* auth_;
  Injector* injector_;
  std::string authserv_id_;
  WriteBatch* batch_ = nullptr;
  std::function<int64_t()> now_ms_;
  Mailboxes boxes_;
};

// The RFC 5322 form of a packet handed to the MTA: From/To/Subject/Date/
// Message-ID, X-MMTP-Id, X-MMTP-Timestamp, X-MMTP-Tags (JSON),
// Authentication-Results: AUTHSERV; x-mmtp-stamp=pass, the body as
// text/plain UTF-8 quoted-printable (encrypted content as its armored text).
std::string toMessage(const Packet& packet, std::string_view authserv_id);

}  // namespace mtep::mmtp
