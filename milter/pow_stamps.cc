// NAME
//   pow_stamps.cc - the store pool, and stamps checked, spent and minted
//   with lib/pow
// DESCRIPTION
//   See pow_stamps.h.

#include "pow_stamps.h"

#include <chrono>
#include <string>
#include <utility>

#include "pow/pow.h"
#include "store/open.h"
#include "util/log.h"

namespace mtep::milterd {

namespace {

// The domain of a canonicalLower() address: after the last '@' (a quoted
// local part may hold one too).
std::string_view domainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

}  // namespace

// ---- StorePool ----------------------------------------------------------------

StorePool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      store_(std::move(other.store_)),
      generation_(other.generation_) {}

StorePool::Lease::~Lease() {
  if (pool_ != nullptr && store_) pool_->release(std::move(store_), generation_);
}

Result<StorePool::Lease> StorePool::acquire(const config::StoreConfig& cfg) {
  uint64_t generation = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms_);
    for (;;) {
      if (!(config_ == cfg)) {
        // A reload changed [store]: the idle stores belong to the old one.
        config_ = cfg;
        ++generation_;
        open_ -= idle_.size();
        idle_.clear();
      }
      generation = generation_;
      if (!idle_.empty()) {
        std::unique_ptr<store::Store> st = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(st), generation);
      }
      if (open_ < max_open_) break;
      if (released_.wait_until(lock, deadline) == std::cv_status::timeout &&
          idle_.empty() && open_ >= max_open_) {
        return Error(ErrorKind::kTemporary,
                     "all " + std::to_string(max_open_) + " store connections are busy");
      }
    }
    ++open_;  // this slot is ours while we open
  }
  // Opening may wait (busy_timeout, a schema migration, a Redis dial): not
  // under mu_.
  auto opened = store::open(cfg, clock_);
  if (!opened) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --open_;
    }
    released_.notify_one();
    return opened.error();
  }
  return Lease(this, std::move(*opened), generation);
}

Status StorePool::warm(const config::StoreConfig& cfg) {
  auto lease = acquire(cfg);
  if (!lease) return lease.error();
  return okStatus();  // the lease goes back to idle_
}

size_t StorePool::openCount() {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

void StorePool::release(std::unique_ptr<store::Store> store, uint64_t generation) noexcept {
  std::unique_ptr<store::Store> closing;  // closed outside mu_
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation == generation_ && idle_.size() < kMaxIdle) {
      idle_.push_back(std::move(store));
    } else {
      closing = std::move(store);
      --open_;
    }
  }
  released_.notify_one();
}

// ---- PowStamps ----------------------------------------------------------------

milter::StampOutcome PowStamps::check(const milter::StampQuery& query) {
  milter::StampOutcome out;
  if (!query.config) {
    out.detail = "no configuration";
    return out;
  }
  const config::Config& cfg = *query.config;
  const int64_t now = clock_.now();
  if (memory_.capacity() != cfg.pow.argon2id_check_memory) {
    memory_.setCapacity(cfg.pow.argon2id_check_memory);  // a reload changed it
  }
  const pow::CheckLimits limits = pow::checkLimits(cfg.pow, &memory_);

  std::vector<pow::RecipientPolicy> recipients;
  for (const std::string& rcpt : query.recipients) {
    recipients.push_back({rcpt, pow::policyFor(cfg.pow, cfg.policyFor(domainOf(rcpt)), now)});
  }
  pow::CheckStats stats;
  std::vector<pow::RecipientResult> results =
      pow::checkAndSpend(recipients, query.stamps, nullptr, now, limits, {}, &stats);
  if (stats.argon2id > 0) {
    log::debug("%s: mtep: %llu argon2id stamp hashes, %llu KiB x passes",
               query.queue_id.empty() ? "NOQUEUE" : query.queue_id.c_str(),
               static_cast<unsigned long long>(stats.argon2id),
               static_cast<unsigned long long>(stats.argon2id_work));
  }
  if (results.size() != recipients.size()) {
    out.detail = "lib/pow answered for other recipients";
    return out;
  }
  bool refused = false;
  bool temporary = false;
  out.recipients.resize(results.size());
  for (size_t k = 0; k < results.size(); ++k) {
    milter::RecipientStamp& r = out.recipients[k];
    const pow::CheckResult& res = results[k].result;
    r.recipient = recipients[k].recipient;
    r.valid = res.verdict == pow::Verdict::kValid;
    r.verdict = pow::verdictName(res.verdict);
    r.reason = res.reason;
    r.required_bits = pow::requiredBits(recipients[k].policy, pow::Algorithm::kHashcashSha1);
    if (r.valid) {
      r.stamp = results[k].stamp;
      r.expires_at = res.expires_at;
    } else if (res.verdict == pow::Verdict::kTemporary) {
      temporary = true;
      if (out.detail.empty()) out.detail = res.reason;
    } else {
      refused = true;
    }
  }
  out.kind = refused     ? milter::StampKind::kRefused
             : temporary ? milter::StampKind::kTemporary
                         : milter::StampKind::kValid;
  return out;
}

milter::StampOutcome PowStamps::spend(const milter::StampQuery& query,
                                      const milter::StampOutcome& checked) {
  milter::StampOutcome out = checked;
  out.kind = milter::StampKind::kTemporary;
  if (!query.config || checked.kind != milter::StampKind::kValid) {
    out.detail = "nothing checked to spend";
    return out;
  }
  std::vector<pow::RecipientResult> results;
  for (const milter::RecipientStamp& r : checked.recipients) {
    pow::RecipientResult res;
    res.recipient = r.recipient;
    res.stamp = r.stamp;
    res.result.verdict = r.valid && !r.stamp.empty() ? pow::Verdict::kValid : pow::Verdict::kMalformed;
    res.result.expires_at = r.expires_at;
    results.push_back(std::move(res));
  }
  auto lease = stores_.acquire(query.config->store);
  if (!lease) {
    out.detail = "store: " + lease.error().message();
    return out;
  }
  pow::spendResults(**lease, results, query.message_identity);
  bool refused = false;
  bool temporary = false;
  for (size_t k = 0; k < results.size(); ++k) {
    milter::RecipientStamp& r = out.recipients[k];
    const pow::Verdict v = results[k].result.verdict;
    r.valid = v == pow::Verdict::kValid;
    r.verdict = pow::verdictName(v);
    r.reason = results[k].result.reason;
    if (v == pow::Verdict::kTemporary) {
      temporary = true;
      if (out.detail.empty()) out.detail = r.reason;
    } else if (!r.valid) {
      refused = true;
    }
  }
  out.kind = refused     ? milter::StampKind::kRefused
             : temporary ? milter::StampKind::kTemporary
                         : milter::StampKind::kValid;
  return out;
}

Result<std::string> PowStamps::mint(const milter::StampMintQuery& query) {
  if (!query.config) return Error(ErrorKind::kInternal, "no configuration");
  const config::Config& cfg = *query.config;
  const config::DomainPolicy& policy = cfg.policyFor(query.sender_domain);
  if (policy.mint_stamps == config::MintStamps::kNone) {
    return Error(ErrorKind::kInvalid, "the sender domain mints no stamps");
  }
  const int64_t now = clock_.now();
  pow::MintOptions options;
  options.algorithm = policy.mint_stamps == config::MintStamps::kArgon2id
                          ? pow::Algorithm::kArgon2id
                          : pow::Algorithm::kHashcashSha1;
  options.bits = policy.mint_stamp_bits > 0
                     ? static_cast<int>(policy.mint_stamp_bits)
                     : pow::requiredBits(pow::policyFor(cfg.pow, policy, now), options.algorithm);
  options.resource = query.recipient;
  options.now = now;
  options.threads = cfg.pow.mint_threads;
  options.budget_ms = cfg.pow.mint_budget * 1000;
  options.memory_kib = cfg.pow.argon2id_memory;
  auto minted = pow::mint(options);
  if (!minted) return minted.error();
  log::debug("%s: mtep: minted a %d-bit %s stamp for <%s> in %llu tries",
             query.queue_id.empty() ? "NOQUEUE" : query.queue_id.c_str(), options.bits,
             pow::algorithmName(options.algorithm), query.recipient.c_str(),
             static_cast<unsigned long long>(minted->tries));
  return std::move(minted->stamp);
}

bool anyDomainRequiresStamps(const config::Config& cfg) {
  if (cfg.domain_defaults.require_stamp) return true;
  for (const auto& [name, policy] : cfg.domains) {
    if (policy.require_stamp) return true;
  }
  return false;
}

}  // namespace mtep::milterd
