// NAME
//   mtep-policyd - Postfix SMTP access policy server for mtep's gates
// SUMMARY
//   mtep-policyd [-f] [-c FILE]
//   mtep-policyd -t [-c FILE]
//   mtep-policyd -h | --help
//   mtep-policyd -V | --version
// DESCRIPTION
//   Answers Postfix's check_policy_service requests (SMTPD_POLICY_README)
//   on [policyd] listen (default 127.0.0.1:10046), and Exim's ${readsocket}
//   queries in the same protocol, with the per-recipient-domain gates of
//   lib/policy: refuse_mixed_onion, rate_limit_client, rate_limit_sender,
//   require_mtep_capable at RCPT; require_mtep and require_stamp at DATA
//   for Exim. See mtep-policyd(8).
//
//   -c FILE   configuration file (default: the build's /etc/mtep/mtep.conf)
//   -f        stay in the foreground and copy the log to stderr
//   -t        check the configuration, print a one-line verdict, exit 0 or 1
//   -h        print usage; -V print the version
//
//   Start-up: load the config (an error is printed with file and line, exit
//   1); open the log; bind every [policyd] listen address (exit 1 on
//   failure); raise the descriptor limit to max_connections + 64; prepare
//   state_dir; without -f detach (the shell gets the start-up verdict as
//   exit status) and write pid_file; drop privileges to [global] user; open
//   the store, start the lookup threads; serve.
// SECURITY
//   Sockets are bound as root; the store is opened only after dropping to
//   [global] user, and the drop is checked. The daemon holds no keys: it
//   only asks other MTEP servers. Running as root with user "" is allowed
//   (tests) but logged as a warning.
// SEE ALSO
//   server.h, policy_session.h, mtep-policyd(8), mtep.conf(5), mtepd(8)

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "build_info.h"
#include "config/config.h"
#include "server.h"
#include "sys/daemon.h"
#include "sys/privileges.h"
#include "util/log.h"

namespace {

using namespace mtep;

constexpr const char* kName = "mtep-policyd";

// Logs an error (stderr included until detached) and gives the exit status.
int fail(const std::string& message) {
  log::error("%s", message.c_str());
  return 1;
}

std::string listenText(const config::Config& cfg) {
  std::string out;
  for (const auto& a : cfg.policyd.listen) {
    if (!out.empty()) out += ", ";
    out += a.toString();
  }
  return out;
}

int runDaemon(const sys::CommandLine& opts) {
  // SIGPIPE would kill us on a write to a vanished peer; errors are enough.
  std::signal(SIGPIPE, SIG_IGN);

  std::string config_path;  // absolute: reloads (SIGHUP) happen after chdir("/")
  auto loaded = config::loadForDaemon(opts.config_path, &config_path);
  if (!loaded) {
    std::fprintf(stderr, "%s: %s\n", kName, loaded.error().message().c_str());
    return 1;
  }
  config::ConfigPtr cfg = std::move(*loaded);
  if (opts.check_only) {
    std::printf("%s: %s: OK (listen %s)\n", kName, cfg->source.c_str(), listenText(*cfg).c_str());
    return 0;
  }

  log::open(kName, true);  // stderr until detached, then only with -f
  log::Level level;
  if (log::parseLevel(cfg->log.level.c_str(), &level)) log::setMinLevel(level);

  auto server = policyd::Server::bind(cfg, config_path);
  if (!server) return fail(server.error().message());
  log::notice("starting %s %s, listening on %s", kName, kVersion,
              (*server)->listenSummary().c_str());

  rlim_t wanted = static_cast<rlim_t>(cfg->policyd.max_connections) + 64;
  rlim_t got = sys::raiseFileLimit(wanted);
  if (got < wanted) {
    log::warning("descriptor limit is %llu, below max_connections + 64 = %llu",
                 static_cast<unsigned long long>(got), static_cast<unsigned long long>(wanted));
  }

  Status prepared = sys::prepareStateDir(cfg->global.state_dir, cfg->global.user);
  if (!prepared) return fail(prepared.error().message());

  auto background =
      sys::detachAndDropPrivileges(opts.foreground, cfg->policyd.pid_file, cfg->global.user);
  if (!background) return fail(background.error().message());
  std::optional<sys::Daemonizer>& daemon = background->daemon;

  Status opened = (*server)->open();
  if (!opened) return fail(opened.error().message());

  if (daemon) {
    daemon->ready();
    log::open(kName, false);
  }
  return (*server)->run();
}

}  // namespace

int main(int argc, char** argv) {
  sys::CommandLine opts;
  int rc = sys::parseCommandLine(kName, true, argc, argv, &opts);
  if (rc >= 0) return rc;
  try {
    return runDaemon(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", kName, e.what());
    log::error("internal error: %s", e.what());
    return 1;
  }
}
