#pragma once
// NAME
//   privileges.h - dropping root, and state directory preparation
// DESCRIPTION
//   dropPrivileges(user): when running as root, switch to the user's uid,
//   gid and supplementary groups, then check that setuid(0) fails. An empty
//   user, or not being root, is a no-op. Root with a user that does not
//   exist is a kConfig error naming it.
//   prepareStateDir(dir, user): as root, create the directory (0750) if
//   missing and give it to the user, so the unprivileged process can write
//   its store and key file there; otherwise just check it exists.

#include <string>

#include "util/result.h"

namespace mtep::sys {

Status dropPrivileges(const std::string& user);
Status prepareStateDir(const std::string& dir, const std::string& user);

}  // namespace mtep::sys
