#pragma once
// NAME
//   users.h - the users of mtepd's key service: login verifiers, key salts,
//   published public keys, in the store
// SUMMARY
//   UserBook users(store, clock);
//   users.add("alice@alpha.test", e2ee::hashedPass("alice@alpha.test", pw));
//   Result<UserRecord> u = users.find("Alice@Alpha.Test");   // kNotFound when absent
//   if (checkVerifier(u->verifier, auth.hash)) ...           // AUTH HASHEDPASS
//   users.setPublicKey(name, pub);                           // SETPUBKEY
//   Result<std::string> salt = users.resetSalt(name);        // RSTSALT
// DESCRIPTION
//   One record per user in the store's value table, namespace "e2ee-user",
//   key = the user name in ASCII lower case (a mail address or a bare
//   name: 1..kMaxUsername printable ASCII characters, no space, no '"'),
//   value = "v1 VERIFIER SALT PUBKEY CREATED":
//     VERIFIER  makeVerifier(login hash): never the password, never the
//               hash the client sends (e2ee.h)
//     SALT      the key-derivation salt, base64 (formatSalt), new random on
//               add() and resetSalt()
//     PUBKEY    the published key, raw base64 (formatRaw), or "-" for none
//     CREATED   Unix seconds
//   resetSalt() removes the published key: it was derived from the old
//   salt, and a user who resets has reason to think it compromised, so
//   PUBKEY answers 550 until the new key is published (mtepctl salt reset
//   does both). setPassword() keeps salt and key (the key stays derivable
//   only with the old password: mtepctl user passwd says so).
//   Read-modify-write is not atomic across processes (the Store API has
//   no compare-and-set for values); mtepd and mtepctl change a user
//   record only on an explicit request for that user.
//   Errors: kInvalid for a bad name or key, kNotFound for an unknown user
//   (find, setPassword, setPublicKey, resetSalt), kInvalid "exists" from
//   add() for a known one, kTemporary when the store fails, kInternal for
//   a stored record that does not parse (named, never echoed).
//   One thread at a time, like its Store.
// SEE ALSO
//   e2ee.h, lib/store/store.h, mtepctl(1) "user add|passwd|del|list"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "e2ee/e2ee.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/result.h"

namespace mtep::e2ee {

inline constexpr std::string_view kUserNamespace = "e2ee-user";

struct UserRecord {
  std::string name;      // lower case
  std::string verifier;  // makeVerifier() output
  std::string salt;      // decoded key-derivation salt (kMinSaltBytes..kMaxSaltBytes)
  std::optional<PublicKey> pubkey;  // none until SETPUBKEY
  int64_t created = 0;
};

// The user name as stored (ASCII lower case), or kInvalid.
Result<std::string> normalizeUserName(std::string_view name);

class UserBook {
 public:
  UserBook(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  Result<UserRecord> find(std::string_view name);
  // A new user with this login hash and a new random salt, no key.
  Status add(std::string_view name, const Hash& login_hash);
  Status setPassword(std::string_view name, const Hash& login_hash);
  // True when a user was removed.
  Result<bool> remove(std::string_view name);
  Status setPublicKey(std::string_view name, const PublicKey& pub);
  // A new random salt (returned decoded); the published key is removed.
  Result<std::string> resetSalt(std::string_view name);
  // Every user, ordered by name, at most `limit`.
  Result<std::vector<UserRecord>> list(size_t limit = 100000);

 private:
  Status write(const UserRecord& record);
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace mtep::e2ee
