// NAME
//   key_login.cc - AUTH HASHEDPASS against the key service's users
// DESCRIPTION
//   See key_login.h.

#include "key_login.h"

#include <algorithm>
#include <optional>

#include "e2ee/e2ee.h"
#include "util/base64.h"
#include "util/log.h"

namespace mtep::mtepd {
namespace {

constexpr size_t kMaxLoggedUser = 64;  // of a name that is no valid user name

void logAuth(const std::string& client, const std::string& user, const char* result,
             const std::string& more = "") {
  log::info("NOQUEUE: client=%s auth=hashedpass user=<%s> result=%s%s", client.c_str(),
            user.c_str(), result, more.c_str());
}

LoginAttempt answer(LoginResult r, std::string reply) {
  LoginAttempt a;
  a.result = r;
  a.reply = std::move(reply);
  return a;
}

}  // namespace

std::string hostOfPeer(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    const size_t end = address.find(']');
    if (end != std::string_view::npos) return std::string(address.substr(1, end - 1));
  }
  const size_t colon = address.rfind(':');
  return std::string(colon == std::string_view::npos ? address : address.substr(0, colon));
}

KeyLogin::KeyLogin(e2ee::UserBook* users, e2ee::LoginLimiter* limiter)
    : users_(users), limiter_(limiter) {
  // A verifier of a random hash nobody knows. Without randomness an
  // unknown name still fails (checkVerifier() is false for ""), only faster.
  e2ee::Hash h{};
  auto salt = e2ee::randomSalt();
  if (salt) std::copy_n(salt->begin(), std::min(h.size(), salt->size()), h.begin());
  auto verifier = e2ee::makeVerifier(h);
  if (verifier) dummy_verifier_ = std::move(*verifier);
}

LoginAttempt KeyLogin::attempt(const std::string& client, const std::string& client_host,
                               std::string_view payload, const e2ee::LoginLimits& limits) const {
  LoginStart started = start(client, client_host, payload, limits);
  if (started.done) return std::move(*started.done);
  return finish(client, client_host, started, lookup(*users_, started.user), limits);
}

LoginStart KeyLogin::start(const std::string& client, const std::string& client_host,
                           std::string_view payload, const e2ee::LoginLimits& limits) const {
  LoginStart started;
  if (payload == "*") {
    logAuth(client, "", "cancelled");
    started.done = answer(LoginResult::kCancelled, "501 5.0.0 Authentication cancelled");
    return started;
  }
  auto parsed = e2ee::parseHashedPassAuth(payload);
  if (!parsed) {
    logAuth(client, "", "malformed");
    started.done = answer(LoginResult::kMalformed, "501 5.5.2 Invalid base64 data");
    return started;
  }
  // A name that cannot be a user is "" for the limiter (counted per
  // client only) and checked like an unknown user.
  auto name = e2ee::normalizeUserName(parsed->username);
  started.user = name ? std::move(*name) : std::string();
  started.shown =
      started.user.empty() ? printableAscii(parsed->username, kMaxLoggedUser) : started.user;
  started.hash = parsed->hash;
  if (limiter_ != nullptr) {
    const e2ee::LoginVerdict v = limiter_->check(client_host, started.user, limits);
    if (v != e2ee::LoginVerdict::kAllowed) {
      logAuth(client, started.shown, "limited",
              v == e2ee::LoginVerdict::kClientLimited ? " limit=client" : " limit=user");
      started.done =
          answer(LoginResult::kLimited, "454 4.7.0 Too many failed logins, try again later");
    }
  }
  return started;
}

Result<e2ee::UserRecord> KeyLogin::lookup(e2ee::UserBook& users, const std::string& user) {
  if (user.empty()) return Error(ErrorKind::kNotFound, "not a user name");
  return users.find(user);
}

LoginAttempt KeyLogin::finish(const std::string& client, const std::string& client_host,
                              const LoginStart& started, const Result<e2ee::UserRecord>& found,
                              const e2ee::LoginLimits& limits) const {
  const std::string& user = started.user;
  const std::string& shown = started.shown;
  const e2ee::UserRecord* record = nullptr;
  if (found) {
    record = &*found;
  } else if (found.error().kind() != ErrorKind::kNotFound) {
    logAuth(client, shown, "tempfail", " error=" + printableAscii(found.error().message(), 200));
    return answer(LoginResult::kTempfail, "451 4.3.0 Key store unavailable, try again later");
  }
  // Always one verifier check, a dummy one for unknown users: the same
  // reply and about the same time as a wrong password.
  const bool matches =
      e2ee::checkVerifier(record != nullptr ? record->verifier : dummy_verifier_, started.hash);
  if (record == nullptr || !matches) {
    if (limiter_ != nullptr) {
      // Made-up names are counted apart, so they cannot evict the
      // counter of an account under attack (login_limiter.h).
      limiter_->recordFailure(client_host, user, limits,
                              record != nullptr ? e2ee::Account::kExists : e2ee::Account::kUnknown);
    }
    logAuth(client, shown, "fail");
    return answer(LoginResult::kFailed, "535 5.7.8 Authentication credentials invalid");
  }
  logAuth(client, user, "ok");
  LoginAttempt ok = answer(LoginResult::kOk, "235 2.7.0 Authentication successful");
  ok.user = user;
  return ok;
}

}  // namespace mtep::mtepd
