#pragma once
// NAME
//   daemon_main.h - the start-up sequence every mtep event-loop daemon shares
// SUMMARY
//   int main(int argc, char** argv) {
//     return mtep::server::daemonMain(
//         {"mtepd", false, [] { return std::make_unique<mtep::mtepd::Server>(); }}, argc, argv);
//   }
// DESCRIPTION
//   daemonMain() is a daemon's whole main(): parse the command line
//   (sys::parseCommandLine: -c FILE, -f, -t when allowed, -h, -V); ignore
//   SIGPIPE; load the config (an error is printed "NAME: FILE:LINE: ..." on
//   stderr, exit 1); with -t print "NAME: FILE: OK (listen ADDRS)" and exit
//   0; open the log (syslog, ident NAME, and stderr until detached) at
//   [log] level; let the service read its root-only secrets
//   (Service::prepare: TLS keys; exit 1 on failure); bind every listen
//   address of the service (Daemon::bind; exit 1 on failure) and log "starting NAME VERSION, listening on ADDRS";
//   raise the descriptor limit to max_connections + 64 (a warning if it
//   stays below); prepare [global] state_dir; without -f detach (the shell
//   gets the start-up verdict as exit status) and write pid_file; drop
//   privileges to [global] user; Daemon::open() (the service opens its
//   own); tell the waiting parent all is well; serve (Daemon::run()).
//   Every start-up error is logged as one line and exits 1; an exception
//   escaping start-up is logged as an internal error, exit 1.
// SECURITY
//   Only binding runs as root; the service opens its files after the drop,
//   and the drop is checked (sys/privileges.h). Running as root with user
//   "" is allowed (tests) but logged as a warning.
// SEE ALSO
//   daemon.h, lib/sys/daemon.h, lib/sys/privileges.h

#include <functional>
#include <memory>

#include "server/daemon.h"

namespace mtep::server {

struct DaemonSpec {
  const char* name;          // "mtep-policyd": log ident, message prefix (static storage)
  bool allow_check = false;  // accept -t
  std::function<std::unique_ptr<Service>()> make_service;  // called once, before binding
};

// Returns the process exit status.
int daemonMain(const DaemonSpec& spec, int argc, char** argv);

}  // namespace mtep::server
