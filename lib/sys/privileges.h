#pragma once
// NAME
//   privileges.h - dropping root, and state directory preparation
// DESCRIPTION
//   dropPrivileges(user): when running as root, switch to the user's uid,
//   gid and supplementary groups, then check that setuid(0) fails. An empty
//   user, or not being root, is a no-op. Root with a user that does not
//   exist, or whose uid is 0, is a kConfig error naming it; a failed
//   initgroups/setresgid/setresuid, or root still reachable afterwards, is
//   kInternal. Real, effective and saved ids all change; the caller must
//   exit on any error (the process may be half-dropped).
//   prepareStateDir(dir, user): as root, create the directory (0750) if
//   missing (not its parents), refuse a symlink, and give it to the user
//   (mode forced to 0750), so the unprivileged process can write its store
//   and key file there; otherwise just check it is a directory. Errors are
//   kConfig and name the directory.

#include <string>

#include "util/result.h"

namespace mtep::sys {

Status dropPrivileges(const std::string& user);
Status prepareStateDir(const std::string& dir, const std::string& user);

}  // namespace mtep::sys
