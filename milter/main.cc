// NAME
//   mtep-milter - MTEP sender verification and token minting for Postfix
//   and Sendmail, as a milter
// SUMMARY
//   mtep-milter [-f] [-t] [-c FILE]
//   mtep-milter -h | --help
//   mtep-milter -V | --version
// DESCRIPTION
//   Inbound mail to a domain with require_mtep must carry an MTEP-Token
//   header that the sender domain's MTEP server vouches for (K); outbound
//   mail from internal clients gets a fresh MTEP-Token. Inbound mail to a
//   domain with require_stamp needs a valid, unspent proof-of-work stamp
//   per recipient (spent in [store]); outbound mail from a domain with
//   mint_stamps gets one per recipient (pow_stamps.h). The decisions are
//   milter::Session's (lib/milter/session.h); this program wires it to
//   libmilter. See mtep-milter(8).
//
//   -c FILE   configuration file (default: the build's /etc/mtep/mtep.conf)
//   -f        stay in the foreground and copy the log to stderr
//   -t        check the configuration (and the key file, socket directory
//             and user it names) and exit: 0 when it would start
//   -h        print usage; -V print the version
//
//   Start-up: block the daemon signals (before any thread); load the config
//   (an error is printed with file and line, exit 1); open the log; create
//   the verifier and load the token keys (a missing key file is a warning:
//   see deferred_minter.h); bind [milter] socket (a unix socket is then
//   given to [global] user, mode 0660); without -f detach (the shell gets
//   the start-up verdict as exit status) and write [milter] pid_file; drop
//   privileges to [global] user; open the store when a domain requires
//   stamps (a failure is a warning: such mail tempfails until it opens);
//   start the SIGUSR1 reload thread; run
//   smfi_main(). SIGTERM, SIGHUP or SIGINT (libmilter's) stop it; callbacks
//   still running get query_timeout + kDrainSeconds to finish before the
//   process exits.
// SECURITY
//   The socket is bound and the key file read as root; everything that
//   talks to the MTA or to MTEP servers, and the store, runs as [global]
//   user, and the drop is checked. Running as root with user "" is allowed (tests) but logged
//   as a warning.
// SEE ALSO
//   callbacks.h, lib/milter/session.h, mtepd(8), mtep.conf(5)

#include <libmilter/mfapi.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "build_info.h"
#include "callbacks.h"
#include "config/config.h"
#include "deferred_minter.h"
#include "dns/resolver.h"
#include "pow_stamps.h"
#include "reloader.h"
#include "shared_state.h"
#include "book_tokens.h"
#include "sys/daemon.h"
#include "sys/privileges.h"
#include "util/clock.h"
#include "util/log.h"
#include "verify/key_fetcher.h"
#include "verify/remote_verifier.h"

namespace {

using namespace mtep;

constexpr int64_t kDrainSeconds = 5;  // beyond query_timeout, for callbacks running at a stop

using Options = sys::CommandLine;

// Logs an error (stderr included until detached) and gives the exit status.
int fail(const std::string& message) {
  log::error("%s", message.c_str());
  return 1;
}

// The path of a unix:/local: socket spec; "" for inet sockets.
std::string unixSocketPath(const std::string& spec) {
  for (const char* prefix : {"unix:", "local:"}) {
    if (spec.rfind(prefix, 0) == 0) return spec.substr(std::strlen(prefix));
  }
  return {};
}

// Lets the MTA, running as another user, connect to our unix socket: the
// socket goes to [global] user and its group, mode 0660 (the MTA's user
// must be in that group). With no user the socket stays as libmilter made it.
// Root changes the socket through a descriptor opened without following
// links, never by name (sys::shareSocketFile): libmilter has bound it by
// name, and a symlink swapped in since must not redirect the chown.
Status shareUnixSocket(const std::string& path, const std::string& user) {
  if (path.empty() || user.empty() || ::geteuid() != 0) return okStatus();
  const passwd* pw = ::getpwnam(user.c_str());  // single-threaded at start-up
  if (pw == nullptr) return Error(ErrorKind::kConfig, "[global] user " + user + " does not exist");
  Status s = sys::shareSocketFile(path, pw->pw_uid, pw->pw_gid, 0660);
  if (!s) {
    return Error(ErrorKind::kConfig,
                 "[global] user " + user + ": cannot hand over the " + s.error().message());
  }
  return okStatus();
}

// -t: what would stop the daemon from starting is an error (exit 1); what
// it would start with but warn about is printed as a warning (exit 0).
int checkOnly(const config::Config& cfg) {
  int status = 0;
  const std::string& user = cfg.global.user;
  if (!user.empty() && ::getpwnam(user.c_str()) == nullptr) {
    std::fprintf(stderr, "mtep-milter: error: [global] user %s does not exist\n", user.c_str());
    status = 1;
  }
  const std::string path = unixSocketPath(cfg.milter.socket);
  if (!path.empty()) {
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    if (!std::filesystem::is_directory(dir, ec)) {
      std::fprintf(stderr, "mtep-milter: error: the socket directory %s does not exist\n",
                   dir.c_str());
      status = 1;
    }
  }
  auto minter = verify::RingMinter::create(cfg.tokens.key_file, SystemClock::instance());
  if (!minter) {
    std::fprintf(stderr,
                 "mtep-milter: warning: %s; outbound mail that needs a token would be "
                 "tempfailed until the key file exists\n",
                 minter.error().message().c_str());
  }
  if (status == 0) {
    std::printf("mtep-milter: %s: OK (socket %s, authserv_id %s)\n", cfg.source.c_str(),
                cfg.milter.socket.c_str(), milterd::authservIdFor(cfg).c_str());
  }
  return status;
}

int runDaemon(const Options& opts) {
  // libmilter's signal thread and our reload thread must be the only ones
  // receiving these: block them before any thread exists.
  milterd::blockDaemonSignals();
  std::signal(SIGPIPE, SIG_IGN);

  std::string config_path;  // absolute: reloads (SIGUSR1) happen after chdir("/")
  auto loaded = config::loadForDaemon(opts.config_path, &config_path);
  if (!loaded) {
    std::fprintf(stderr, "mtep-milter: %s\n", loaded.error().message().c_str());
    return 1;
  }
  config::ConfigPtr cfg = std::move(*loaded);
  if (opts.check_only) return checkOnly(*cfg);

  log::open("mtep-milter", true);  // stderr until detached, then only with -f
  log::Level level;
  if (log::parseLevel(cfg->log.level.c_str(), &level)) log::setMinLevel(level);

  // Shared by every connection thread; all thread-safe.
  std::unique_ptr<dns::Resolver> resolver = dns::makeSystemResolver();
  verify::RemoteVerifier verifier(cfg, *resolver, SystemClock::instance());
  verify::RemoteKeyFetcher key_fetcher(cfg, *resolver, SystemClock::instance());
  milterd::DeferredMinter minter(cfg->tokens.key_file, SystemClock::instance());
  if (Status keys = minter.load(); !keys) {
    log::warning(
        "%s; outbound mail that needs a token is tempfailed (451 4.3.0) until the key "
        "file exists (tried again every %lld s)",
        keys.error().message().c_str(),
        static_cast<long long>(milterd::DeferredMinter::kRetrySeconds));
  }
  // Proof-of-work stamps; the store is opened only after the privilege drop.
  milterd::StorePool stores(SystemClock::instance());
  milterd::PowStamps stamps(stores, SystemClock::instance());
  const std::string authserv_id = milterd::authservIdFor(*cfg);
  milterd::SharedState shared(cfg, authserv_id, verifier, minter, stamps, stamps, key_fetcher);
  // Submission tokens (STOKEN): the same keys as MTEP tokens, the same stores.
  milterd::BookTokens submission_tokens(stores, minter, SystemClock::instance(), shared);
  shared.setSubmissionTokens(&submission_tokens);
  // Never destroyed: a libmilter thread may still call in, and be turned
  // away, after main returns.
  static auto* const gate = new milterd::CallGate();
  milterd::installShared(&shared, gate);

  smfiDesc desc = milterd::filterDescription();
  std::string socket_spec = cfg->milter.socket;
  if (smfi_setconn(socket_spec.data()) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS) {
    return fail("cannot set up libmilter for " + socket_spec);
  }
  if (smfi_opensocket(true) != MI_SUCCESS) {
    return fail("cannot listen on " + socket_spec + " (address in use, or no permission?)");
  }
  // libmilter answers end-of-message with each header change and then the
  // verdict, as separate writes: with Nagle on, the verdict waits for the
  // MTA's delayed ACK, which halved Postfix's throughput in
  // tests/bench/run-postfix-bench.sh. libmilter does not expose its socket.
  if (unixSocketPath(socket_spec).empty() && sys::disableNagleOnTcpListeners() == 0) {
    log::warning("could not turn off Nagle's algorithm on %s: replies may wait for delayed ACKs",
                 socket_spec.c_str());
  }
  Status shared_socket = shareUnixSocket(unixSocketPath(socket_spec), cfg->global.user);
  if (!shared_socket) return fail(shared_socket.error().message());
  log::notice("starting mtep-milter %s on %s, authserv_id %s", kVersion, socket_spec.c_str(),
              authserv_id.c_str());

  auto background =
      sys::detachAndDropPrivileges(opts.foreground, cfg->milter.pid_file, cfg->global.user);
  if (!background) return fail(background.error().message());
  std::optional<sys::Daemonizer>& daemon = background->daemon;

  if (daemon) {
    daemon->ready();
    log::open("mtep-milter", false);
  }
  // As the unprivileged user, so that the database is one it can write.
  // Not fatal: messages that need the store tempfail until it opens.
  if (milterd::anyDomainRequiresStamps(*cfg)) {
    if (Status opened = stores.warm(cfg->store); !opened) {
      log::warning(
          "cannot open the store %s: %s; mail that needs a stamp check is tempfailed (451 "
          "4.3.0) until it opens (tried again for each such message)",
          cfg->store.path.c_str(), opened.error().message().c_str());
    }
  }

  milterd::Reloader reloader(config_path, shared, verifier, key_fetcher);
  reloader.start();
  const int rc = smfi_main();  // returns on SIGTERM, SIGHUP, SIGINT or a listener failure
  reloader.stop();
  // A callback may still be asking a sender's server: give it its
  // query_timeout. Connections idle at the stop were dropped by libmilter;
  // the MTA applies its milter_default_action to their messages.
  const int running = gate->closeAndDrain(shared.config()->milter.query_timeout + kDrainSeconds);
  if (running > 0) {
    // Their threads still use what this stack owns: leave without
    // destroying anything.
    log::warning("stopping while %d callback(s) still run", running);
    background->pid_file.reset();
    log::notice("mtep-milter stopped");
    std::_Exit(rc == MI_SUCCESS ? 0 : 1);
  }
  milterd::installShared(nullptr, gate);
  if (int abandoned = milterd::deleteAbandonedConnections(); abandoned > 0) {
    log::notice("%d connection(s) were open at the stop", abandoned);
  }
  if (rc != MI_SUCCESS) return fail("the libmilter listener failed; mtep-milter stopped");
  log::notice("mtep-milter stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  int rc = sys::parseCommandLine("mtep-milter", true, argc, argv, &opts);
  if (rc >= 0) return rc;
  try {
    return runDaemon(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mtep-milter: internal error: %s\n", e.what());
    log::error("internal error: %s", e.what());
    return 1;
  }
}
