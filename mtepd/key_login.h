#pragma once
// NAME
//   key_login.h - the key service's AUTH HASHEDPASS login, one place for
//   every listener that offers it (smtp_listen, the token server)
// SUMMARY
//   KeyLogin login(&users, &limiter);                  // one per daemon
//   LoginAttempt a = login.attempt(client, host, payload, limits);
//   session.error(a.reply) / reply(a.reply); if (a.result == LoginResult::kOk) user = a.user;
//   // or with the store read off the loop:
//   LoginStart s = login.start(client, host, payload, limits);   // loop thread
//   if (s.done) answer(*s.done); else on a worker: found = KeyLogin::lookup(book, s.user),
//   then on the loop thread: answer(login.finish(client, host, s, found, limits));
// DESCRIPTION
//   attempt() takes the response of "AUTH HASHEDPASS" (initial or after
//   "334 "): "*" cancels (501 5.0.0); bad base64 or layout is 501 5.5.2;
//   a client or user name over the LoginLimiter's limits gets 454 4.7.0,
//   even with the right hash; the store failing 451 4.3.0; a wrong hash
//   or an unknown user 535 5.7.8 and one failure counted (unknown names in
//   the limiter's table for made-up names); the right one 235 2.7.0.
//   An unknown user is checked against a dummy verifier made at
//   construction: the same reply and about the same work as a wrong
//   password. Each attempt is logged as
//     NOQUEUE: client=ADDR:PORT auth=hashedpass user=<name>
//     result=ok|fail|limited|malformed|cancelled|tempfail
//   start() and finish() are attempt() cut around its one store read
//   (lookup()), so that a daemon can run the read on a worker: with Redis
//   every read is a network round trip of up to redis_timeout_ms.
//   The limiter is the daemon's one for every login (the token server's
//   AUTH STOKEN failures count in it too, stoken_server.h).
// SECURITY
//   Never logs the hash. attempt(), start() and finish() on the event loop
//   thread (the LoginLimiter is for one thread); lookup() on any thread,
//   with a UserBook over a store handle only that thread uses.

#include <optional>
#include <string>
#include <string_view>

#include "e2ee/login_limiter.h"
#include "e2ee/users.h"

namespace mtep::mtepd {

enum class LoginResult { kOk, kCancelled, kMalformed, kLimited, kFailed, kTempfail };

struct LoginAttempt {
  LoginResult result = LoginResult::kFailed;
  std::string user;   // the normalised user name when kOk
  std::string reply;  // the whole reply line, no CRLF
  // The reply counts against the session's error budget (every refusal
  // but the store's 451).
  bool counts_as_error() const {
    return result != LoginResult::kOk && result != LoginResult::kTempfail;
  }
};

// attempt() up to its store read: `done` when it was answered without one.
struct LoginStart {
  std::optional<LoginAttempt> done;  // cancelled, malformed, limited
  std::string user;                  // normalised; "" for a name that cannot be a user
  std::string shown;                 // the name as logged
  e2ee::Hash hash{};                 // as sent (never logged)
};

class KeyLogin {
 public:
  // `users` must outlive this; `limiter` null: failures are not limited.
  KeyLogin(e2ee::UserBook* users, e2ee::LoginLimiter* limiter);

  // `client` "ADDR:PORT" for the log, `client_host` "ADDR" for the limiter.
  LoginAttempt attempt(const std::string& client, const std::string& client_host,
                       std::string_view payload, const e2ee::LoginLimits& limits) const;
  // attempt() in three steps (see above); attempt() is start(), lookup()
  // on users() and finish().
  LoginStart start(const std::string& client, const std::string& client_host,
                   std::string_view payload, const e2ee::LoginLimits& limits) const;
  // kNotFound for "" (a name that cannot be a user) or an unknown one.
  static Result<e2ee::UserRecord> lookup(e2ee::UserBook& users, const std::string& user);
  LoginAttempt finish(const std::string& client, const std::string& client_host,
                      const LoginStart& started, const Result<e2ee::UserRecord>& found,
                      const e2ee::LoginLimits& limits) const;

  e2ee::UserBook* users() const { return users_; }
  e2ee::LoginLimiter* limiter() const { return limiter_; }

 private:
  e2ee::UserBook* users_;
  e2ee::LoginLimiter* limiter_;
  std::string dummy_verifier_;  // checked for unknown users
};

// "192.0.2.1" from "192.0.2.1:4000", "2001:db8::1" from "[2001:db8::1]:4000".
std::string hostOfPeer(std::string_view address);

}  // namespace mtep::mtepd
