#pragma once
// NAME
//   shared_state.h - what every libmilter worker thread of mtep-milter
//   shares: the config snapshot, the authserv-id, the verifier and minter,
//   the proof-of-work stamp services, the key fetcher, and the count of
//   open connections
// SUMMARY
//   SharedState shared(cfg, authservIdFor(*cfg), verifier, minter, stamps, stamps, keys);
//   milter::SessionEnv env = shared.sessionEnv();   // one per connection
//   shared.replace(new_cfg, authservIdFor(*new_cfg));  // on reload
//   if (gate.enter()) { ...; gate.leave(); }         // per callback
//   gate.closeAndDrain(10);                          // at shutdown
// DESCRIPTION
//   libmilter runs each MTA connection in its own thread and gives the
//   callbacks no user pointer, so the callbacks reach this state through
//   one process-wide pointer (callbacks.h). A connection takes a snapshot
//   of the config when it starts and keeps it to the end; a reload swaps
//   the snapshot for connections that start later.
//   CallGate lets main() destroy this state only once no callback uses it.
// SECURITY
//   Nothing here is written by peers; the guards are next to the data.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "config/config.h"
#include "milter/key_fetcher.h"
#include "milter/session.h"
#include "milter/stamps.h"
#include "milter/verifier.h"

namespace mtep::milterd {

// The authserv-id for Authentication-Results: [milter] authserv_id, else
// the host name, else "localhost".
std::string authservIdFor(const config::Config& cfg);

class SharedState {
 public:
  // The services are thread-safe and outlive this object.
  SharedState(config::ConfigPtr config, std::string authserv_id, milter::TokenVerifier& verifier,
              milter::TokenMinter& minter, milter::StampChecker& stamp_checker,
              milter::StampMinter& stamp_minter, milter::KeyFetcher& key_fetcher);

  // Submission tokens (optional): set before the first connection.
  void setSubmissionTokens(milter::SubmissionTokens* tokens) { submission_tokens_ = tokens; }
  milter::SessionEnv sessionEnv() const;
  config::ConfigPtr config() const;
  void replace(config::ConfigPtr config, std::string authserv_id);

 private:
  mutable std::mutex mu_;                // guards config_ and authserv_id_
  config::ConfigPtr config_;             // guarded by mu_
  std::string authserv_id_;              // guarded by mu_
  milter::TokenVerifier& verifier_;      // thread-safe itself
  milter::TokenMinter& minter_;          // thread-safe itself
  milter::StampChecker& stamp_checker_;  // thread-safe itself
  milter::StampMinter& stamp_minter_;    // thread-safe itself
  milter::KeyFetcher& key_fetcher_;      // thread-safe itself
  milter::SubmissionTokens* submission_tokens_ = nullptr;  // thread-safe itself; set once
};

// Counts the callbacks running at this moment. libmilter's smfi_main()
// returns once it stops listening, while callbacks may still run in its
// worker threads; Debian's libmilter (built with its worker pool) then
// also drops connections that wait for their next command, without
// calling xxfi_close. So what main() must wait for is running callbacks,
// not open connections.
class CallGate {
 public:
  // False once closeAndDrain() has begun: the caller must touch nothing
  // shared (not even the connection's Session) and should tempfail.
  bool enter();
  void leave();
  // Refuses new callbacks and waits until the running ones have left or
  // `seconds` have passed. Returns how many still run.
  int closeAndDrain(int64_t seconds);

 private:
  std::mutex mu_;               // guards running_ and closed_
  std::condition_variable cv_;  // signalled when running_ drops to 0
  int running_ = 0;             // guarded by mu_
  bool closed_ = false;         // guarded by mu_
};

}  // namespace mtep::milterd
