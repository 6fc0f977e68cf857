// NAME
//   pow_stamps.cc - the store pool, and stamps checked, spent and minted
//   with lib/pow
// DESCRIPTION
//   See pow_stamps.h.

#include "pow_stamps.h"

#include <string>
#include <utility>

#include "pow/pow.h"
#include "store/open.h"
#include "util/log.h"

namespace mtep::milterd {

namespace {

bool samePolicy(const pow::StampPolicy& a, const pow::StampPolicy& b) {
  return a.hashcash_bits == b.hashcash_bits && a.argon2id_bits == b.argon2id_bits &&
         a.validity == b.validity && a.grace == b.grace &&
         a.argon2id_min_memory == b.argon2id_min_memory &&
         a.argon2id_max_memory == b.argon2id_max_memory &&
         a.argon2id_max_time == b.argon2id_max_time && a.argon2id_max_lanes == b.argon2id_max_lanes;
}

// The domain of a canonicalLower() address: after the last '@' (a quoted
// local part may hold one too).
std::string_view domainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

// Recipients under one stamp policy.
struct Group {
  pow::StampPolicy policy;
  int required_bits = 0;
  std::vector<size_t> index;            // into the query's recipients
  std::vector<std::string> recipients;  // the same, as lib/pow takes them
};

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
    std::lock_guard<std::mutex> lock(mu_);
    if (!(config_ == cfg)) {
      // A reload changed [store]: the idle stores belong to the old one.
      config_ = cfg;
      ++generation_;
      idle_.clear();
    }
    generation = generation_;
    if (!idle_.empty()) {
      std::unique_ptr<store::Store> st = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(st), generation);
    }
  }
  // Opening may wait (busy_timeout, a schema migration): not under mu_.
  auto opened = store::open(cfg, clock_);
  if (!opened) return opened.error();
  return Lease(this, std::move(*opened), generation);
}

Status StorePool::warm(const config::StoreConfig& cfg) {
  auto lease = acquire(cfg);
  if (!lease) return lease.error();
  return okStatus();  // the lease goes back to idle_
}

void StorePool::release(std::unique_ptr<store::Store> store, uint64_t generation) noexcept {
  std::unique_ptr<store::Store> closing;  // closed outside mu_
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation == generation_ && idle_.size() < kMaxIdle) {
      idle_.push_back(std::move(store));
      return;
    }
    closing = std::move(store);
  }
}

// ---- PowStamps ----------------------------------------------------------------

milter::StampOutcome PowStamps::checkAndSpend(const milter::StampQuery& query) {
  milter::StampOutcome out;
  if (!query.config) {
    out.detail = "no configuration";
    return out;
  }
  const config::Config& cfg = *query.config;
  const int64_t now = clock_.now();
  const size_t max_stamps = cfg.pow.max_stamps;

  std::vector<Group> groups;
  for (size_t i = 0; i < query.recipients.size(); ++i) {
    const std::string& rcpt = query.recipients[i];
    const pow::StampPolicy policy = pow::policyFor(cfg.pow, cfg.policyFor(domainOf(rcpt)), now);
    Group* group = nullptr;
    for (Group& g : groups) {
      if (samePolicy(g.policy, policy)) group = &g;
    }
    if (group == nullptr) {
      groups.emplace_back();
      group = &groups.back();
      group->policy = policy;
      group->required_bits = pow::requiredBits(policy, pow::Algorithm::kHashcashSha1);
    }
    group->index.push_back(i);
    group->recipients.push_back(rcpt);
  }

  out.recipients.resize(query.recipients.size());
  bool refused = false;
  bool temporary = false;
  // Runs lib/pow on every group (spending when `store` is set) and fills
  // out.recipients; false when lib/pow answered for the wrong recipients.
  const auto run = [&](store::Store* store) {
    refused = false;
    temporary = false;
    for (const Group& g : groups) {
      std::vector<pow::RecipientResult> results =
          pow::checkAndSpend(g.recipients, query.stamps, g.policy, store, now, max_stamps);
      if (results.size() != g.recipients.size()) return false;
      for (size_t k = 0; k < results.size(); ++k) {
        milter::RecipientStamp& r = out.recipients[g.index[k]];
        r.recipient = g.recipients[k];
        r.valid = results[k].result.verdict == pow::Verdict::kValid;
        r.verdict = pow::verdictName(results[k].result.verdict);
        r.reason = results[k].result.reason;
        r.required_bits = g.required_bits;
        if (results[k].result.verdict == pow::Verdict::kTemporary) {
          temporary = true;
        } else if (!r.valid) {
          refused = true;
        }
      }
    }
    return true;
  };
  const auto finish = [&](bool answered) {
    if (!answered) {
      out.kind = milter::StampKind::kTemporary;
      out.detail = "lib/pow answered for other recipients";
    } else if (refused) {
      out.kind = milter::StampKind::kRefused;
    } else if (temporary) {
      out.kind = milter::StampKind::kTemporary;
      if (out.detail.empty()) out.detail = "double-spend record unavailable";
    } else {
      out.kind = milter::StampKind::kValid;
    }
    return out;
  };

  auto lease = stores_.acquire(cfg.store);
  if (!lease) {
    // Still worth a check: a refusal needs no store, and is final.
    out.detail = "store: " + lease.error().message();
    const bool answered = run(nullptr);
    temporary = true;
    return finish(answered);
  }
  if (groups.size() > 1) {
    // Several policies: spend nothing unless every group passes.
    if (!run(nullptr)) return finish(false);
    if (refused || temporary) return finish(true);
  }
  return finish(run(lease->get()));
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
