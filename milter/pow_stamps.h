#pragma once
// NAME
//   pow_stamps.h - mtep-milter's proof-of-work services: stamps checked
//   and spent with lib/pow over the store, and stamps minted for outbound
//   mail
// SUMMARY
//   milterd::StorePool stores(SystemClock::instance());
//   milterd::PowStamps stamps(stores, SystemClock::instance());
//   env.stamp_checker = &stamps;  env.stamp_minter = &stamps;
//   stores.warm(cfg->store);     // after the privilege drop: reports problems early
// DESCRIPTION
//   StorePool hands out stores ([store], store::open()) to libmilter worker
//   threads. A store::Store is used by one thread at a time, so each check
//   leases one for its spends (the hashing before needs none) and gives it
//   back. Of the two obvious designs this is neither: one store behind a
//   mutex would serialise the spends of every connection behind any one
//   that waits busy_timeout for another writer, and a thread_local store per
//   worker would open the database again for each connection (libmilter
//   starts a thread per connection) and close it at thread exit, which
//   libmilter's shutdown does not wait for. The pool opens a store only
//   when none is idle, so it holds as many as checks ran at once at the
//   busiest moment (at most kMaxIdle kept), and SQLite's WAL mode lets them
//   all work at once (writers wait busy_timeout for each other). At most
//   max_open stores (kMaxOpen: each a Redis connection, with its thread that
//   re-checks the revocation list) exist at once, leased and idle together;
//   when all are leased, acquire() waits up to wait_ms for one to come back
//   and then fails with kTemporary (the message tempfails): a burst of
//   connections cannot open a connection each to a shared Redis. Stores
//   are opened lazily, so always after the privilege drop, as the
//   unprivileged user; an open that fails is tried again by the next
//   message that needs one, and until then such messages tempfail
//   (StampKind::kTemporary -> 451 4.3.0), never pass. A reload that changes
//   [store] retires the stores opened under the old settings.
//
//   PowStamps::check judges each recipient by its domain's StampPolicy at
//   this moment (pow::policyFor: [pow] schedule applied) in one
//   pow::checkAndSpend without a store; PowStamps::spend then records
//   every stamp it found (pow::spendResults) with the query's
//   message_identity, in a store from the pool. The work is bounded per
//   message ([pow] max_stamps,
//   argon2id_max_message_work, two stamps hashed per recipient) and the
//   memory of the Argon2id hashes of every connection together by one
//   pow::MemoryBudget of [pow] argon2id_check_memory KiB (libmilter runs a
//   thread per connection: without it N connections could make N hashes
//   of argon2id_max_memory at once); a hash waits up to
//   pow::kMemoryWaitMs for its share, then the message tempfails.
//   Checking needs no store: without one (open failed) a message with an
//   invalid stamp still gets its 550, one that would pass gets 451.
//
//   PowStamps::mint: algorithm from the sender domain's mint_stamps, bits
//   from its mint_stamp_bits, or 0 = pow::requiredBits() of that domain's
//   own policy today; [pow] mint_threads threads (0: every core) and
//   [pow] mint_budget per stamp (pow::mint gives up with kTemporary: the
//   session tempfails the message). Argon2id stamps use [pow]
//   argon2id_memory KiB, one pass, one lane. Minting runs in the calling
//   libmilter worker thread and, with mint_threads 0, on every core: the
//   MTA waits for it (one 20-bit hashcash stamp is about a million SHA-1
//   tries, a fraction of a second; a message with N recipients takes N
//   times that), and connections minting at the same time share the cores.
//   Keep N x the expected time well under Postfix's milter_content_timeout.
//
//   Both are thread-safe.
// SEE ALSO
//   lib/milter/stamps.h, lib/pow/pow.h, lib/store/store.h

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "config/config.h"
#include "milter/stamps.h"
#include "pow/pow.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/result.h"

namespace mtep::milterd {

class StorePool {
 public:
  static constexpr size_t kMaxIdle = 16;  // idle stores kept; more are closed when returned
  static constexpr size_t kMaxOpen = 32;  // stores open at once, leased or idle
  static constexpr int kWaitMs = 2000;    // acquire() waits this long for a store when all are leased

  // `clock` must outlive the pool.
  explicit StorePool(const Clock& clock, size_t max_open = kMaxOpen, int wait_ms = kWaitMs)
      : clock_(clock), max_open_(max_open < 1 ? 1 : max_open), wait_ms_(wait_ms) {}
  StorePool(const StorePool&) = delete;
  StorePool& operator=(const StorePool&) = delete;

  // A store, the caller's alone until the Lease is destroyed (which gives it
  // back). Must not outlive the pool.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    store::Store& operator*() const { return *store_; }
    store::Store* get() const { return store_.get(); }

   private:
    friend class StorePool;
    Lease(StorePool* pool, std::unique_ptr<store::Store> store, uint64_t generation)
        : pool_(pool), store_(std::move(store)), generation_(generation) {}
    StorePool* pool_;
    std::unique_ptr<store::Store> store_;
    uint64_t generation_;
  };

  // An idle store opened with `cfg`, else a newly opened one, else (all
  // max_open leased) the first one given back within wait_ms. kTemporary
  // (or what store::open says) when none can be had.
  Result<Lease> acquire(const config::StoreConfig& cfg);
  // Stores open now, leased and idle (tests, logs).
  size_t openCount();
  // Opens one store now and keeps it idle (start-up: problems show in the log
  // at once rather than with the first message).
  Status warm(const config::StoreConfig& cfg);

 private:
  void release(std::unique_ptr<store::Store> store, uint64_t generation) noexcept;

  const Clock& clock_;
  const size_t max_open_;
  const int wait_ms_;
  std::mutex mu_;                                    // guards the four below
  std::condition_variable released_;                 // a store came back, or a slot freed
  config::StoreConfig config_;                       // guarded by mu_: what idle_ was opened with
  uint64_t generation_ = 0;                          // guarded by mu_: bumped when config_ changes
  std::vector<std::unique_ptr<store::Store>> idle_;  // guarded by mu_
  size_t open_ = 0;  // guarded by mu_: stores leased, idle or being opened
};

class PowStamps final : public milter::StampChecker, public milter::StampMinter {
 public:
  // `stores` and `clock` must outlive this object.
  PowStamps(StorePool& stores, const Clock& clock)
      : stores_(stores), clock_(clock), memory_(config::PowConfig{}.argon2id_check_memory) {}

  milter::StampOutcome check(const milter::StampQuery& query) override;
  milter::StampOutcome spend(const milter::StampQuery& query,
                             const milter::StampOutcome& checked) override;
  Result<std::string> mint(const milter::StampMintQuery& query) override;

 private:
  StorePool& stores_;
  const Clock& clock_;
  pow::MemoryBudget memory_;  // every connection's Argon2id checks; sized by each query's config
};

// True when some domain policy ([domain_defaults] or a [domain."..."]) has
// require_stamp.
bool anyDomainRequiresStamps(const config::Config& cfg);

}  // namespace mtep::milterd
