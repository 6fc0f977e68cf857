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
//   Start-up (lib/server/daemon_main.h): load the config (an error is printed
//   with file and line, exit 1); open the log; bind every [policyd] listen
//   address (exit 1 on failure); raise the descriptor limit to
//   max_connections + 64; prepare state_dir; without -f detach (the shell
//   gets the start-up verdict as exit status) and write pid_file; drop
//   privileges to [global] user; open the store, start the lookup threads;
//   serve.
// SECURITY
//   Sockets are bound as root; the store is opened only after dropping to
//   [global] user, and the drop is checked. The daemon holds no keys: it
//   only asks other MTEP servers. Running as root with user "" is allowed
//   (tests) but logged as a warning.
// SEE ALSO
//   server.h, policy_session.h, lib/server/daemon_main.h, mtep-policyd(8),
//   mtep.conf(5), mtepd(8)

#include <memory>

#include "server.h"
#include "server/daemon_main.h"

int main(int argc, char** argv) {
  return mtep::server::daemonMain(
      {"mtep-policyd", true, [] { return std::make_unique<mtep::policyd::Server>(); }}, argc, argv);
}
