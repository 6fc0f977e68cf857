// NAME
//   daemon_main.cc - command line, config, bind, detach, drop, open, run
// DESCRIPTION
//   See daemon_main.h.

#include "server/daemon_main.h"

#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "build_info.h"
#include "sys/daemon.h"
#include "sys/privileges.h"
#include "util/log.h"

namespace mtep::server {
namespace {

// Logs an error (stderr included until detached) and gives the exit status.
int fail(const std::string& message) {
  log::error("%s", message.c_str());
  return 1;
}

// Every listen address of every group: "127.0.0.1:10046, [::1]:10046".
std::string listenText(const DaemonSettings& settings) {
  std::string out;
  for (const auto& group : settings.listen) {
    for (const auto& a : group.addresses) {
      if (!out.empty()) out += ", ";
      out += a.toString();
    }
  }
  return out;
}

int runDaemon(const DaemonSpec& spec, const sys::CommandLine& opts) {
  // SIGPIPE would kill us on a write to a vanished peer; errors are enough.
  std::signal(SIGPIPE, SIG_IGN);

  std::string config_path;  // absolute: reloads (SIGHUP) happen after chdir("/")
  auto loaded = config::loadForDaemon(opts.config_path, &config_path);
  if (!loaded) {
    std::fprintf(stderr, "%s: %s\n", spec.name, loaded.error().message().c_str());
    return 1;
  }
  config::ConfigPtr cfg = std::move(*loaded);
  std::unique_ptr<Service> service = spec.make_service();
  DaemonSettings settings = service->settings(*cfg);
  if (opts.check_only) {
    std::printf("%s: %s: OK (listen %s)\n", spec.name, cfg->source.c_str(),
                listenText(settings).c_str());
    return 0;
  }

  log::open(spec.name, true);  // stderr until detached, then only with -f
  log::Level level;
  if (log::parseLevel(cfg->log.level.c_str(), &level)) log::setMinLevel(level);

  // Root-only secrets (TLS keys) are read now, before the privilege drop.
  Status prepared_service = service->prepare(*cfg);
  if (!prepared_service) return fail(prepared_service.error().message());

  auto daemon = Daemon::bind(spec.name, std::move(service), cfg, config_path);
  if (!daemon) return fail(daemon.error().message());
  log::notice("starting %s %s, listening on %s", spec.name, kVersion,
              (*daemon)->listenSummary().c_str());

  rlim_t wanted = static_cast<rlim_t>(settings.max_connections) + 64;
  rlim_t got = sys::raiseFileLimit(wanted);
  if (got < wanted) {
    log::warning("descriptor limit is %llu, below max_connections + 64 = %llu",
                 static_cast<unsigned long long>(got), static_cast<unsigned long long>(wanted));
  }

  Status prepared = sys::prepareStateDir(cfg->global.state_dir, cfg->global.user);
  if (!prepared) return fail(prepared.error().message());

  auto background =
      sys::detachAndDropPrivileges(opts.foreground, settings.pid_file, cfg->global.user);
  if (!background) return fail(background.error().message());
  std::optional<sys::Daemonizer>& detached = background->daemon;

  Status opened = (*daemon)->open();
  if (!opened) return fail(opened.error().message());

  if (detached) {
    detached->ready();
    log::open(spec.name, false);
  }
  return (*daemon)->run();
}

}  // namespace

int daemonMain(const DaemonSpec& spec, int argc, char** argv) {
  sys::CommandLine opts;
  int rc = sys::parseCommandLine(spec.name, spec.allow_check, argc, argv, &opts);
  if (rc >= 0) return rc;
  try {
    return runDaemon(spec, opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", spec.name, e.what());
    log::error("internal error: %s", e.what());
    return 1;
  }
}

}  // namespace mtep::server
