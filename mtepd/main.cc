// NAME
//   mtepd - Mail Token Exchange Protocol server
// SUMMARY
//   mtepd [-f] [-c FILE]
//   mtepd -h | --help
//   mtepd -V | --version
// DESCRIPTION
//   Answers MTEP "?" queries (TCP port 6211) about tokens this site minted:
//   K2.7.0 when the token is ours, unexpired, not revoked and bound to the
//   given envelope sender; D5.7.8 otherwise; Z4.3.0 when the store cannot
//   answer. See mtepd(8) and PROTOCOLS.md section 1.
//
//   -c FILE   configuration file (default: the build's /etc/mtep/mtep.conf)
//   -f        stay in the foreground and copy the log to stderr
//   -h        print usage; -V print the version
//
//   Start-up: load the config (an error is printed with file and line, exit
//   1); open the log; bind every [mtepd] listen address (exit 1 on failure);
//   raise the descriptor limit to max_connections + 64; prepare state_dir;
//   without -f detach (the shell gets the start-up verdict as exit status)
//   and write pid_file; drop privileges to [global] user; open the store and
//   the key ring (creating the key file on first start); serve.
// SECURITY
//   Sockets are bound as root; the store and keys are opened only after
//   dropping to [global] user, and the drop is checked. Running as root with
//   user "" is allowed (tests) but logged as a warning.
// SEE ALSO
//   server.h, mtepctl(1), mtep.conf(5)

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "build_info.h"
#include "config/config.h"
#include "sys/daemon.h"
#include "server.h"
#include "sys/privileges.h"
#include "util/log.h"

namespace {

using namespace mtep;

using Options = sys::CommandLine;

// Logs an error (stderr included until detached) and gives the exit status.
int fail(const std::string& message) {
  log::error("%s", message.c_str());
  return 1;
}

int runDaemon(const Options& opts) {
  // SIGPIPE would kill us on a write to a vanished peer; errors are enough.
  std::signal(SIGPIPE, SIG_IGN);

  std::string config_path;  // absolute: reloads (SIGHUP) happen after chdir("/")
  auto loaded = config::loadForDaemon(opts.config_path, &config_path);
  if (!loaded) {
    std::fprintf(stderr, "mtepd: %s\n", loaded.error().message().c_str());
    return 1;
  }
  config::ConfigPtr cfg = std::move(*loaded);

  log::open("mtepd", true);  // stderr until detached, then only with -f
  log::Level level;
  if (log::parseLevel(cfg->log.level.c_str(), &level)) log::setMinLevel(level);

  auto server = mtepd::Server::bind(cfg, config_path);
  if (!server) return fail(server.error().message());
  log::notice("starting mtepd %s, listening on %s", kVersion, (*server)->listenSummary().c_str());

  rlim_t wanted = static_cast<rlim_t>(cfg->mtepd.max_connections) + 64;
  rlim_t got = sys::raiseFileLimit(wanted);
  if (got < wanted) {
    log::warning("descriptor limit is %llu, below max_connections + 64 = %llu",
                 static_cast<unsigned long long>(got), static_cast<unsigned long long>(wanted));
  }

  Status prepared = sys::prepareStateDir(cfg->global.state_dir, cfg->global.user);
  if (!prepared) return fail(prepared.error().message());

  auto background =
      sys::detachAndDropPrivileges(opts.foreground, cfg->mtepd.pid_file, cfg->global.user);
  if (!background) return fail(background.error().message());
  std::optional<sys::Daemonizer>& daemon = background->daemon;

  Status opened = (*server)->open();
  if (!opened) return fail(opened.error().message());

  if (daemon) {
    daemon->ready();
    log::open("mtepd", false);
  }
  return (*server)->run();
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  int rc = sys::parseCommandLine("mtepd", false, argc, argv, &opts);
  if (rc >= 0) return rc;
  try {
    return runDaemon(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mtepd: internal error: %s\n", e.what());
    log::error("internal error: %s", e.what());
    return 1;
  }
}
