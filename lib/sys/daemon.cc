// NAME
//   daemon.cc - fork/setsid with a start-up verdict pipe, pid file, rlimits
// DESCRIPTION
//   See daemon.h.

#include "sys/daemon.h"

#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

Result<PidFile> PidFile::create(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    return Error(ErrorKind::kConfig, "cannot write pid file " + path + ": " + std::strerror(errno));
  }
  std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return Error(ErrorKind::kConfig, "cannot write pid file " + path + ": " + std::strerror(errno));
  }
  return PidFile(path, std::move(fd));
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
