// mtepctl user add | passwd | del | list: the users of mtepd's key service,
// directly in the store of the config (lib/e2ee/users.h). The store keeps
// makeVerifier(hashedPass(name, password)): never the password.
#include <openssl/crypto.h>

#include <cstdio>
#include <string>

#include "commands.h"
#include "e2ee/users.h"
#include "e2ee_session.h"
#include "util/log.h"

namespace mtep::ctl {
namespace {

// The login hash of `name` with a password read as `options` says.
Result<e2ee::Hash> askLoginHash(const std::string& name, const UserOptions& options) {
  auto password = readPassword(options.password_fd, "New password for " + name + ": ", true);
  if (!password) return std::move(password).error();
  auto hash = e2ee::hashedPass(name, *password);
  OPENSSL_cleanse(password->data(), password->size());
  return hash;
}

// The name checked and lower-cased, or the exit code after printing why not.
Result<std::string> checkedName(const std::string& typed) {
  auto name = e2ee::normalizeUserName(typed);
  if (!name) printError("%s", name.error().message().c_str());
  return name;
}

}  // namespace

int userAdd(const GlobalOptions& global, const UserOptions& options) {
  if (Status s = checkPasswordFd(options.password_fd, ""); !s) return usage(s.error());
  auto name = checkedName(options.name);
  if (!name) return kExitNo;
  auto st = openStore(global);
  if (!st) return kExitTrouble;
  e2ee::UserBook users(*st, SystemClock::instance());
  auto existing = users.find(*name);
  if (existing) {
    printError("user %s exists (user passwd changes the password)", name->c_str());
    return kExitNo;
  }
  if (existing.error().kind() != ErrorKind::kNotFound) {
    printError("%s", existing.error().message().c_str());
    return kExitTrouble;
  }
  auto hash = askLoginHash(*name, options);
  if (!hash) return failed(hash.error());
  if (Status s = users.add(*name, *hash); !s) return failed(s.error());
  log::notice("key service user added: user=%s", name->c_str());
  std::printf("added %s; next: mtepctl key publish --server HOST %s\n", name->c_str(),
              name->c_str());
  return kExitOk;
}

int userPasswd(const GlobalOptions& global, const UserOptions& options) {
  if (Status s = checkPasswordFd(options.password_fd, ""); !s) return usage(s.error());
  auto name = checkedName(options.name);
  if (!name) return kExitNo;
  auto st = openStore(global);
  if (!st) return kExitTrouble;
  e2ee::UserBook users(*st, SystemClock::instance());
  auto existing = users.find(*name);
  if (!existing) {
    printError("%s", existing.error().message().c_str());
    return existing.error().kind() == ErrorKind::kNotFound ? kExitNo : kExitTrouble;
  }
  auto hash = askLoginHash(*name, options);
  if (!hash) return failed(hash.error());
  if (Status s = users.setPassword(*name, *hash); !s) {
    printError("%s", s.error().message().c_str());
    return s.error().kind() == ErrorKind::kNotFound ? kExitNo : exitCodeFor(s.error());
  }
  log::notice("key service password changed: user=%s", name->c_str());
  std::printf("password of %s changed\n", name->c_str());
  if (existing->pubkey) {
    std::printf("the published key was derived from the old password: %s publishes the new one\n"
                "with 'mtepctl key publish' (signatures made with the old key then stop "
                "verifying)\n",
                name->c_str());
  }
  return kExitOk;
}

int userDel(const GlobalOptions& global, const std::string& typed) {
  auto name = checkedName(typed);
  if (!name) return kExitNo;
  auto st = openStore(global);
  if (!st) return kExitTrouble;
  e2ee::UserBook users(*st, SystemClock::instance());
  auto removed = users.remove(*name);
  if (!removed) {
    printError("%s", removed.error().message().c_str());
    return kExitTrouble;
  }
  if (!*removed) {
    printError("no user %s", name->c_str());
    return kExitNo;
  }
  log::notice("key service user removed: user=%s", name->c_str());
  std::printf("removed %s; PUBKEY for it now answers 550\n", name->c_str());
  return kExitOk;
}

int userList(const GlobalOptions& global) {
  auto st = openStore(global);
  if (!st) return kExitTrouble;
  e2ee::UserBook users(*st, SystemClock::instance());
  auto list = users.list();
  if (!list) {
    printError("%s", list.error().message().c_str());
    return kExitTrouble;
  }
  if (list->empty()) return kExitOk;
  std::printf("%-40s %-20s %s\n", "USER", "CREATED", "PUBLIC KEY");
  for (const e2ee::UserRecord& u : *list) {
    std::printf("%-40s %-20s %s\n", u.name.c_str(), formatTime(u.created).c_str(),
                u.pubkey ? e2ee::formatRaw(*u.pubkey).c_str() : "-");
  }
  return kExitOk;
}

}  // namespace mtep::ctl
