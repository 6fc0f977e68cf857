// NAME
//   daemon.cc - fork/setsid with a start-up verdict pipe, pid file, rlimits
// DESCRIPTION
//   See daemon.h.

#include "sys/daemon.h"

#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "build_info.h"
#include "sys/privileges.h"
#include "util/log.h"

namespace mtep::sys {

Result<Daemonizer> Daemonizer::start() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Error(ErrorKind::kInternal, std::string("pipe: ") + std::strerror(errno));
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Error(ErrorKind::kInternal, std::string("fork: ") + std::strerror(errno));
  if (pid > 0) {
    // Parent: wait for the verdict; a closed pipe without one is a failure.
    write_end.reset();
    char verdict = 0;
    ssize_t n;
    do {
      n = ::read(read_end.get(), &verdict, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1 && verdict == '0') ::_exit(0);
    int status = 0;
    if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      ::_exit(WEXITSTATUS(status));
    }
    ::_exit(1);
  }
  read_end.reset();
  ::setsid();
  return Daemonizer(std::move(write_end));
}

void Daemonizer::ready() {
  if (::chdir("/") != 0) {
    // "/" always exists; nothing sensible to do otherwise.
  }
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    if (null_fd > STDERR_FILENO) ::close(null_fd);
  }
  const char ok = '0';
  ssize_t ignored = ::write(notify_.get(), &ok, 1);
  (void)ignored;
  notify_.reset();
}

namespace {

constexpr int kPidFileAttempts = 3;  // stale file removed, then created: races allowed for

Error pidFileError(const std::string& path, const std::string& what) {
  return Error(ErrorKind::kConfig, "pid file " + path + ": " + what);
}

// The pid a pid file names, for messages ("?" when it names none).
std::string pidText(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) text.push_back(buf[i]);
  return text.empty() ? "?" : text;
}

// What is at `path` when O_EXCL found something: a pid file whose lock
// is held belongs to a running daemon (an error); an unlocked one was left
// by a daemon that is gone (a crash, kill -9, a reboot) and is removed.
// Liveness is the lock, not kill(pid, 0): after a reboot the old pid may
// well belong to another process, and a check by pid would refuse to
// start for as long as that process lives. Never followed: a symlink is
// refused (as before, O_NOFOLLOW), anything but a regular file is refused.
Status removeStalePidFile(const std::string& path) {
  UniqueFd old(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!old.valid()) {
    if (errno == ENOENT) return okStatus();  // gone meanwhile: try again
    if (errno == ELOOP) return pidFileError(path, "is a symbolic link; refusing to follow it");
    return pidFileError(path, std::string("cannot open the existing file: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(old.get(), &st) != 0) return pidFileError(path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return pidFileError(path, "exists and is not a regular file");
  if (::flock(old.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return pidFileError(path, "locked by a running process (pid " + pidText(old.get()) +
                                    "): is the daemon already running?");
    }
    return pidFileError(path, std::string("cannot lock the existing file: ") + std::strerror(errno));
  }
  // Another start-up may have removed this stale file and put its own at
  // the path meanwhile: remove only the file that was locked here.
  struct stat locked {};
  struct stat named {};
  if (::fstat(old.get(), &locked) != 0 || locked.st_nlink == 0 ||
      ::lstat(path.c_str(), &named) != 0 || named.st_dev != locked.st_dev ||
      named.st_ino != locked.st_ino) {
    return okStatus();  // not ours to remove: create() looks again
  }
  // Unlinked while we hold its lock: a second start-up that opened the
  // same stale file finds it locked and stops, rather than removing the
  // new file this one is about to create.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return pidFileError(path, std::string("cannot remove the stale file: ") + std::strerror(errno));
  }
  log::notice("removed stale pid file %s (pid %s is not running: its lock was free)", path.c_str(),
              pidText(old.get()).c_str());
  return okStatus();
}

}  // namespace

Result<PidFile> PidFile::create(const std::string& path) {
  for (int attempt = 0; attempt < kPidFileAttempts; ++attempt) {
    // O_EXCL: never write into a file someone else put there (a hard link
    // to /etc/passwd would be truncated as root); O_NOFOLLOW for symlinks.
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd.valid()) {
      if (errno != EEXIST) {
        return Error(ErrorKind::kConfig,
                     "cannot write pid file " + path + ": " + std::strerror(errno));
      }
      Status removed = removeStalePidFile(path);
      if (!removed) return std::move(removed).error();
      continue;
    }
    // Held for the daemon's life (the descriptor stays open): the lock is
    // what tells the next start-up that this daemon is alive.
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      return pidFileError(path, "locked by another process as soon as it was created");
    }
    // Still the file at `path`? Another start-up may have taken it for
    // stale in the moment before the lock.
    struct stat mine {};
    struct stat named {};
    if (::fstat(fd.get(), &mine) != 0 || ::lstat(path.c_str(), &named) != 0 ||
        mine.st_dev != named.st_dev || mine.st_ino != named.st_ino) {
      return pidFileError(path, "replaced by another process while it was being created");
    }
    const std::string text = std::to_string(::getpid()) + "\n";
    if (::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      return Error(ErrorKind::kConfig,
                   "cannot write pid file " + path + ": " + std::strerror(errno));
    }
    return PidFile(path, std::move(fd));
  }
  return pidFileError(path, "keeps reappearing while stale copies are removed");
}

PidFile::~PidFile() {
  if (fd_.get() < 0) return;
  if (::unlink(path_.c_str()) != 0) {
    // No longer allowed to remove it (privileges dropped): leave it empty so
    // no one mistakes a stale pid for a live daemon.
    int ignored = ::ftruncate(fd_.get(), 0);
    (void)ignored;
  }
}

rlim_t raiseFileLimit(rlim_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur >= wanted) return lim.rlim_cur;
  rlimit want = lim;
  want.rlim_cur = wanted;
  if (want.rlim_max < wanted) want.rlim_max = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
    // Not privileged: go as far as the hard limit allows.
    want = lim;
    want.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) return lim.rlim_cur;
  }
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

int disableNagleOnTcpListeners() {
  int changed = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0 || value == 0) continue;
    len = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &value, &len) != 0 || value != IPPROTO_TCP) {
      continue;
    }
    const int on = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0) ++changed;
  }
  return changed;
}

namespace {

void usage(FILE* out, const char* name, bool allow_check) {
  std::fprintf(out,
               "usage: %s [-f]%s [-c FILE]\n"
               "  -c FILE        configuration file (default %s)\n"
               "  -f             run in the foreground, log to stderr too\n"
               "%s"
               "  -h, --help     this text\n"
               "  -V, --version  print the version\n",
               name, allow_check ? " [-t]" : "", kDefaultConfigPath,
               allow_check ? "  -t             check the configuration and exit\n" : "");
}

}  // namespace

int parseCommandLine(const char* name, bool allow_check, int argc, char** argv, CommandLine* out) {
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, 'V'},
                                 {nullptr, 0, nullptr, 0}};
  out->config_path = kDefaultConfigPath;
  optind = 1;
  int ch;
  while ((ch = ::getopt_long(argc, argv, allow_check ? "c:fthV" : "c:fhV", kLong, nullptr)) != -1) {
    switch (ch) {
      case 'c':
        out->config_path = optarg;
        break;
      case 'f':
        out->foreground = true;
        break;
      case 't':
        out->check_only = true;
        break;
      case 'h':
        usage(stdout, name, allow_check);
        return 0;
      case 'V':
        std::printf("%s %s\n", name, kVersion);
        return 0;
      default:
        usage(stderr, name, allow_check);
        return 2;
    }
  }
  if (optind != argc) {
    usage(stderr, name, allow_check);
    return 2;
  }
  return -1;
}

Result<Background> detachAndDropPrivileges(bool foreground, const std::string& pid_file,
                                           const std::string& user) {
  Background out;
  if (!foreground) {
    auto d = Daemonizer::start();  // the parent exits inside
    if (!d) return std::move(d).error();
    out.daemon.emplace(std::move(*d));
  }
  if (!pid_file.empty()) {
    auto p = PidFile::create(pid_file);
    if (!p) return std::move(p).error();
    out.pid_file.emplace(std::move(*p));
  }
  if (::geteuid() == 0 && user.empty()) log::warning("running as root: [global] user is empty");
  Status dropped = dropPrivileges(user);
  if (!dropped) return std::move(dropped).error();
  return out;
}

}  // namespace mtep::sys
