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
//   shareSocketFile(path, uid, gid, mode): gives the unix socket this
//   process just bound at `path` to uid:gid with `mode` (mtep-milter: its
//   [global] user, 0660, so the MTA in that group can connect), without
//   ever acting on what the path names a second time: the name is opened
//   once with O_PATH|O_NOFOLLOW, and the owner and mode are changed on
//   that descriptor (fchownat AT_EMPTY_PATH; chmod through
//   /proc/self/fd, which names the opened inode, not the path). What was
//   opened must be a socket owned by this process's effective uid with a
//   single link; anything else (a symlink, a regular file, another user's
//   socket, a hard link to a socket elsewhere) swapped in between bind()
//   and this call is refused, a kConfig error, and nothing is changed.
// SECURITY
//   libmilter binds the socket itself (smfi_opensocket), so the chown and
//   chmod come after it, as root, in a directory the MTA's side may be
//   able to write. chown(path)/chmod(path) would follow a symlink planted
//   there and hand root's target (say /etc/shadow) to the milter user.

#include <sys/types.h>

#include <string>

#include "util/result.h"

namespace mtep::sys {

Status dropPrivileges(const std::string& user);
Status prepareStateDir(const std::string& dir, const std::string& user);
Status shareSocketFile(const std::string& path, uid_t uid, gid_t gid, mode_t mode);

}  // namespace mtep::sys
