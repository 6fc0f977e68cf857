#pragma once
// NAME
//   daemon.h - detaching from the terminal, the pid file, descriptor limits
// SUMMARY
//   auto d = Daemonizer::start();   // parent waits here and exits with the child's verdict
//   ... open everything ...
//   d->ready();                      // parent exits 0; stdio now /dev/null
//   auto pid = PidFile::create("/run/mtepd.pid");  // removed by its destructor
//   rlim_t n = raiseFileLimit(4096 + 64);
//   disableNagleOnTcpListeners();    // after a library bound its listener
// DESCRIPTION
//   Daemonizer::start() forks once; the child calls setsid() and carries on
//   with start-up while the parent waits on a pipe. If the child fails
//   before ready(), it simply exits: the parent sees the pipe close and exits
//   1, so a daemon (mtepd, mtep-milter) started from a shell or an init
//   script reports start-up errors (printed on the still-attached stderr) with a non-zero status.
//   ready() changes directory to "/", points stdin, stdout and stderr at
//   /dev/null and releases the parent with status 0.
//
//   PidFile writes the pid as root and keeps the file open and locked
//   (flock) for the daemon's life, so that after the privilege drop it can
//   still empty it if the directory no longer lets it unlink the file.
//   A pid file already there: if its lock is held, another daemon runs
//   and create() fails naming the pid; if not, it is stale (a crash, kill
//   -9, a reboot: the lock died with the process), so it is removed and
//   created again, and start-up is never blocked by a stale file.
//   Liveness is the lock, not kill(pid, 0), which a reused pid would fool.
// SECURITY
//   The pid file is created with O_CREAT|O_EXCL|O_NOFOLLOW: root never
//   opens, truncates or writes a file someone else placed at the path (a
//   hard link to /etc/passwd, a symlink). A stale file is opened
//   O_NOFOLLOW read-only, only to test its lock, and removed by unlink(),
//   which never follows. A symlink or a non-regular file at the path is
//   an error. The directory should be writable by root only: whoever can
//   write it can hold a lock on a planted file and so stop the daemon
//   from starting (though not make root write anywhere).

#include <sys/resource.h>

#include <optional>
#include <string>

#include "util/result.h"
#include "util/unique_fd.h"

namespace mtep::sys {

class Daemonizer {
 public:
  // In the parent this never returns. In the child: ok, or an error when
  // fork/pipe failed (then nothing was forked).
  static Result<Daemonizer> start();
  void ready();

 private:
  explicit Daemonizer(UniqueFd notify) : notify_(std::move(notify)) {}
  UniqueFd notify_;  // write end of the pipe to the waiting parent
};

class PidFile {
 public:
  static Result<PidFile> create(const std::string& path);
  PidFile(PidFile&& other) noexcept = default;
  PidFile& operator=(PidFile&&) = delete;
  PidFile(const PidFile&) = delete;
  ~PidFile();

 private:
  PidFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

// The start-up steps every daemon takes after binding its sockets: detach
// (unless foreground), write the pid file (unless the path is empty), then
// drop privileges to `user` (warning when root stays root). The caller
// calls daemon->ready() once it can serve; pid_file lives as long as the
// returned value.
struct Background {
  std::optional<Daemonizer> daemon;  // empty in the foreground
  std::optional<PidFile> pid_file;
};
Result<Background> detachAndDropPrivileges(bool foreground, const std::string& pid_file,
                                           const std::string& user);

// The command line every mtep daemon takes:
//   NAME [-f] [-t] [-c FILE] | -h | --help | -V | --version
// (-t only when allow_check). config_path defaults to the build's
// /etc/mtep/mtep.conf.
struct CommandLine {
  std::string config_path;
  bool foreground = false;  // -f: stay attached, log to stderr too
  bool check_only = false;  // -t: check the configuration and exit
};
// Returns -1 to go on, else the exit status: 0 after --help or --version
// (printed on stdout), 2 after a usage error (usage on stderr).
int parseCommandLine(const char* name, bool allow_check, int argc, char** argv, CommandLine* out);

// Raises RLIMIT_NOFILE so that at least `wanted` descriptors may be open:
// the soft limit up to the hard one, and both when privileged. Returns the
// soft limit in force afterwards.
rlim_t raiseFileLimit(rlim_t wanted);

// Sets TCP_NODELAY on every listening TCP socket among this process's
// descriptors (0..1023); Linux hands it down to each accepted connection.
// For a library that opens its listener itself and does not expose it
// (libmilter): call it right after the library binds, before any other
// listener exists. Returns how many sockets were changed.
int disableNagleOnTcpListeners();

}  // namespace mtep::sys
