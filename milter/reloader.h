#pragma once
// NAME
//   reloader.h - SIGUSR1: read the configuration again and swap it in
// SUMMARY
//   blockDaemonSignals();                 // first thing in main, before any thread
//   Reloader reloader(path, shared, verifier);
//   reloader.start();                     // a thread waiting for SIGUSR1
//   ... smfi_main() ...
//   reloader.stop();
// DESCRIPTION
//   libmilter owns SIGHUP, SIGTERM and SIGINT: a thread of its own waits for
//   them (sigwait) and stops the milter. SIGHUP and SIGTERM stop it the same
//   way (stop listening, let open connections finish); SIGINT also aborts
//   the open connections at their next command. So SIGHUP cannot mean
//   "reload" here, and mtep-milter reloads on SIGUSR1 (as OpenDKIM does).
//   blockDaemonSignals() blocks the four signals in the calling thread;
//   every thread started afterwards (libmilter's included) inherits the
//   mask, so only the threads that sigwait() for them ever receive them.
//
//   reload(): the file is read and checked whole; on any error the running
//   configuration stays and the error is logged. Otherwise the new snapshot
//   is given to the verifier and to SharedState: connections that start
//   later use it; open ones keep their snapshot (policies, internal
//   networks, authserv-id), while the verifier's discovery and timeouts
//   change at once. [log] level applies at once.
//   [milter] socket and pid_file, [global] user and [tokens] key_file are
//   fixed at start: a change is logged as needing a restart and ignored.
// SECURITY
//   The reload runs after the privilege drop: the file must be readable by
//   [global] user.

#include <atomic>
#include <string>
#include <thread>

#include "shared_state.h"
#include "verify/key_fetcher.h"
#include "verify/remote_verifier.h"

namespace mtep::milterd {

void blockDaemonSignals();

class Reloader {
 public:
  Reloader(std::string config_path, SharedState& shared, verify::RemoteVerifier& verifier,
           verify::RemoteKeyFetcher& key_fetcher)
      : config_path_(std::move(config_path)),
        shared_(shared),
        verifier_(verifier),
        key_fetcher_(key_fetcher) {}
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;
  ~Reloader() { stop(); }

  void start();
  void stop();
  // One reload; true when the new configuration is in force.
  bool reload();

 private:
  void run();

  const std::string config_path_;
  SharedState& shared_;
  verify::RemoteVerifier& verifier_;
  verify::RemoteKeyFetcher& key_fetcher_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace mtep::milterd
