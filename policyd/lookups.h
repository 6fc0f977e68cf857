#pragma once
// NAME
//   lookups.h - mtep-policyd's DNS and MTEP lookups, off the event loop
// SUMMARY
//   NetworkLookups backend(config, resolver);         // blocking, thread-safe
//   Lookups lookups(queue, engine, backend);
//   lookups.ask(outcome.lookup, [handle] { ... decide() again ... });
// DESCRIPTION
//   policy::Engine::decide() asks for a Lookup; Lookups runs it on the
//   server's work queue ([policyd] lookup_threads) and, back on the loop
//   thread, records the answer with Engine::recordLookup() and calls every
//   waiter. The same question (Lookup::key()) asked again while it runs is
//   not asked twice: the later waiters join the first.
//
//   NetworkLookups answers them:
//   - kMtepCapable: verify::discover() for the sender domain, within
//     lookup_timeout. kYes when the first candidates come from a [milter]
//     mtep_servers entry ("static") or an _mtep._tcp SRV record ("srv");
//     kNo when discovery ends at the MX hosts or the domain itself (they do
//     not show that the domain speaks MTEP), or finds nothing (NXDOMAIN,
//     null MX, SRV ".", an .onion name without a static entry); kTemporary
//     when DNS fails or the time runs out.
//   - kToken: verify::RemoteVerifier asks the sender domain's MTEP server,
//     within lookup_timeout: K -> kYes, D -> kNo, anything else kTemporary.
//     The verifier's own cache is off: the engine caches answers for
//     lookup_cache_ttl.
// SEE ALSO
//   lib/policy/policy.h, lib/verify/remote_verifier.h, lib/server/work_queue.h

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "dns/resolver.h"
#include "milter/verifier.h"
#include "policy/policy.h"
#include "server/work_queue.h"
#include "util/clock.h"

namespace mtep::verify {
class RemoteVerifier;
}

namespace mtep::policyd {

// Answers one Lookup, blocking. Called on worker threads, several at once.
class LookupBackend {
 public:
  virtual ~LookupBackend() = default;
  virtual policy::LookupAnswer run(const policy::Lookup& lookup) = 0;
};

// Discovery's answer as a kMtepCapable answer (see DESCRIPTION).
policy::LookupAnswer capableAnswer(const config::MilterConfig& milter, dns::Resolver& resolver,
                                   std::string_view domain, int64_t deadline_ms);
// The verifier's outcome as a kToken answer.
policy::LookupAnswer tokenAnswer(milter::VerifyKind kind);
// The snapshot the RemoteVerifier works with: `cfg` with [milter]
// query_timeout = [policyd] lookup_timeout and its cache off.
config::ConfigPtr verifierConfig(const config::ConfigPtr& cfg);

class NetworkLookups final : public LookupBackend {
 public:
  // `resolver` and `clock` must outlive this; both thread-safe.
  NetworkLookups(config::ConfigPtr config, dns::Resolver& resolver, const Clock& clock);
  ~NetworkLookups() override;
  void setConfig(config::ConfigPtr config);  // loop thread, any time
  policy::LookupAnswer run(const policy::Lookup& lookup) override;

 private:
  config::ConfigPtr snapshot() const;
  mutable std::mutex mu_;      // guards config_
  config::ConfigPtr config_;   // guarded by mu_
  dns::Resolver& resolver_;
  std::unique_ptr<verify::RemoteVerifier> verifier_;  // thread-safe itself
};

class Lookups {
 public:
  using Waiter = std::function<void()>;  // runs on the loop thread

  // All must outlive this. Loop thread only.
  Lookups(server::WorkQueue& queue, policy::Engine& engine, LookupBackend& backend)
      : queue_(queue), engine_(engine), backend_(backend) {}

  // Runs `lookup` unless the same one is running; then records the answer
  // in the engine and calls `waiter` (with every other waiter of it).
  void ask(const policy::Lookup& lookup, Waiter waiter);
  // Questions running now (distinct keys).
  size_t inFlight() const { return waiting_.size(); }
  // Lookups started since start-up (joined ones not counted).
  uint64_t started() const { return started_; }

 private:
  void answered(const policy::Lookup& lookup, policy::LookupAnswer answer);

  server::WorkQueue& queue_;
  policy::Engine& engine_;
  LookupBackend& backend_;
  std::unordered_map<std::string, std::vector<Waiter>> waiting_;  // by Lookup::key()
  uint64_t started_ = 0;
};

const char* lookupAnswerName(policy::LookupAnswer answer) noexcept;  // "yes", "no", "temporary"

}  // namespace mtep::policyd
