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
//   Start-up (lib/server/daemon_main.h): load the config (an error is printed
//   with file and line, exit 1); open the log; bind every [mtepd] listen
//   address (exit 1 on failure); raise the descriptor limit to
//   the listeners' caps + 64; prepare state_dir; without -f detach (the shell
//   gets the start-up verdict as exit status) and write pid_file; drop
//   privileges to [global] user; open the store and the key ring (creating
//   the key file on first start); serve.
// SECURITY
//   Sockets are bound as root; the store and keys are opened only after
//   dropping to [global] user, and the drop is checked. Running as root with
//   user "" is allowed (tests) but logged as a warning.
// SEE ALSO
//   server.h, lib/server/daemon_main.h, mtepctl(1), mtep.conf(5)

#include <memory>

#include "server.h"
#include "server/daemon_main.h"

int main(int argc, char** argv) {
  return mtep::server::daemonMain(
      {"mtepd", false, [] { return std::make_unique<mtep::mtepd::Server>(); }}, argc, argv);
}
