// Dropping root to the configured user, and preparing the state directory.
#include "sys/privileges.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace mtep::sys {

namespace {

constexpr size_t kInitialBuffer = 4096;
constexpr size_t kMaxBuffer = 1 << 20;
constexpr mode_t kStateDirMode = 0750;

struct UserIds {
  uid_t uid;
  gid_t gid;
};

std::string sysError(std::string_view what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

// getpwnam_r with a growing buffer. kConfig if the user does not exist.
Result<UserIds> lookupUser(const std::string& user) {
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : kInitialBuffer);
  for (;;) {
    passwd pw{};
    passwd* found = nullptr;
    const int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < kMaxBuffer) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) {
      return Error(ErrorKind::kConfig, sysError("looking up user \"" + user + "\"", rc));
    }
    if (found == nullptr) {
      return Error(ErrorKind::kConfig, "user \"" + user + "\" does not exist ([global] user)");
    }
    return UserIds{pw.pw_uid, pw.pw_gid};
  }
}

}  // namespace

Status dropPrivileges(const std::string& user) {
  if (user.empty() || ::geteuid() != 0) return okStatus();
  auto ids = lookupUser(user);
  if (!ids) return std::move(ids).error();
  if (ids->uid == 0) {
    return Error(ErrorKind::kConfig,
                 "user \"" + user + "\" has uid 0; [global] user must be unprivileged");
  }
  if (::initgroups(user.c_str(), ids->gid) != 0) {
    return Error(ErrorKind::kInternal, sysError("initgroups(" + user + ")", errno));
  }
  if (::setresgid(ids->gid, ids->gid, ids->gid) != 0) {
    return Error(ErrorKind::kInternal, sysError("setresgid", errno));
  }
  if (::setresuid(ids->uid, ids->uid, ids->uid) != 0) {
    return Error(ErrorKind::kInternal, sysError("setresuid", errno));
  }
  // Check, do not trust: every id changed and root cannot be regained.
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0 ||
      ruid != ids->uid || euid != ids->uid || suid != ids->uid || rgid != ids->gid ||
      egid != ids->gid || sgid != ids->gid) {
    return Error(ErrorKind::kInternal, "privileges were not dropped to user \"" + user + "\"");
  }
  if (::setuid(0) == 0 || ::seteuid(0) == 0) {
    return Error(ErrorKind::kInternal, "root could be regained after dropping to \"" + user + "\"");
  }
  return okStatus();
}

Status prepareStateDir(const std::string& dir, const std::string& user) {
  const std::string where = "state directory " + dir;
  if (::geteuid() != 0) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return Error(ErrorKind::kConfig, sysError(where, errno));
    if (!S_ISDIR(st.st_mode)) return Error(ErrorKind::kConfig, where + ": not a directory");
    return okStatus();
  }
  if (::mkdir(dir.c_str(), kStateDirMode) != 0 && errno != EEXIST) {
    return Error(ErrorKind::kConfig, sysError(where + ": mkdir", errno));
  }
  // Work on the opened directory, never on the name again: a symlink
  // swapped in after mkdir must not redirect the chown.
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return Error(ErrorKind::kConfig,
                 sysError(where + ": open (it must be a directory, not a symlink)", errno));
  }
  Status result = okStatus();
  if (!user.empty()) {
    auto ids = lookupUser(user);
    if (!ids) {
      result = Error(ErrorKind::kConfig, where + ": " + ids.error().message());
    } else if (::fchown(fd, ids->uid, ids->gid) != 0) {
      result = Error(ErrorKind::kConfig, sysError(where + ": chown", errno));
    }
  }
  if (result.ok() && ::fchmod(fd, kStateDirMode) != 0) {
    result = Error(ErrorKind::kConfig, sysError(where + ": chmod", errno));
  }
  ::close(fd);
  return result;
}

Status shareSocketFile(const std::string& path, uid_t uid, gid_t gid, mode_t mode) {
  const std::string where = "socket " + path;
  const int fd = ::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Error(ErrorKind::kConfig, sysError(where, errno));
  Status result = okStatus();
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    result = Error(ErrorKind::kConfig, sysError(where + ": stat", errno));
  } else if (!S_ISSOCK(st.st_mode)) {
    result = Error(ErrorKind::kConfig, where + ": not a socket (" +
                                           (S_ISLNK(st.st_mode) ? "a symbolic link" : "replaced") +
                                           "); refusing to change its owner or mode");
  } else if (st.st_uid != ::geteuid() || st.st_nlink != 1) {
    result = Error(ErrorKind::kConfig,
                   where + ": not the socket this process made (another owner, or linked "
                           "elsewhere); refusing to change its owner or mode");
  } else if (::fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0) {
    result = Error(ErrorKind::kConfig, sysError(where + ": chown", errno));
  } else {
    // fchmod() does not work on an O_PATH descriptor; its /proc link
    // names the very inode that was opened.
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    if (::chmod(self.c_str(), mode) != 0) {
      result = Error(ErrorKind::kConfig, sysError(where + ": chmod (is /proc mounted?)", errno));
    }
  }
  ::close(fd);
  return result;
}

}  // namespace mtep::sys
