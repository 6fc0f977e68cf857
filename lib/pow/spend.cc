// The double-spend record: spend() and checkAndSpend().
#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_map>

#include "pow/internal.h"
#include "util/base64.h"

namespace mtep::pow {

namespace {

constexpr std::string_view kNamespace = "pow";
constexpr std::string_view kOwnerNamespace = "pow-owner";  // stamp -> the message it was spent with

// How useful a verdict is to the sender, best first: the reason shown for a
// recipient is the one of its most nearly valid stamp.
int rank(Verdict v) {
  switch (v) {
    case Verdict::kValid:
      return 0;
    case Verdict::kTemporary:
      return 1;
    case Verdict::kSpent:
      return 2;
    case Verdict::kTooWeak:
      return 3;
    case Verdict::kFalseClaim:
      return 4;
    case Verdict::kExpired:
      return 5;
    case Verdict::kFuture:
      return 6;
    case Verdict::kOutOfBounds:
      return 7;
    case Verdict::kWrongResource:
      return 8;
    case Verdict::kMalformed:
      return 9;
  }
  return 10;
}

}  // namespace

Verdict spend(store::Store& store, const CheckResult& checked, std::string_view text,
              std::string_view owner) {
  if (checked.verdict != Verdict::kValid) return checked.verdict;
  // Key: the stamp text itself (at most kMaxStampSize bytes): a stamp is
  // spent once whatever algorithm it uses, and an administrator can read
  // the record.
  auto recorded = store.recordOnce(kNamespace, text, checked.expires_at);
  if (!recorded) return Verdict::kTemporary;
  if (owner.empty()) return *recorded ? Verdict::kValid : Verdict::kSpent;
  if (*recorded) {
    // Spent now. Whose it is goes in second: if that write fails the stamp
    // stays spent for everyone, the retry included (never the other way).
    (void)store.putValue(kOwnerNamespace, text, owner, checked.expires_at);
    return Verdict::kValid;
  }
  // Spent before: by this very message? The value is "OWNER" after the
  // first spend, "OWNER#N" after N more.
  auto holder = store.getValue(kOwnerNamespace, text);
  if (!holder) {
    return holder.error().kind() == ErrorKind::kNotFound ? Verdict::kSpent : Verdict::kTemporary;
  }
  const std::string_view held = *holder;
  if (!held.starts_with(owner)) return Verdict::kSpent;
  std::string_view tail = held.substr(owner.size());
  uint64_t again = 0;
  if (!tail.empty()) {
    if (tail.front() != '#') return Verdict::kSpent;
    tail.remove_prefix(1);
    const auto [end, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), again);
    if (ec != std::errc() || end != tail.data() + tail.size()) return Verdict::kSpent;
  }
  if (again >= kMaxRespends) return Verdict::kSpent;
  if (!store.putValue(kOwnerNamespace, text, std::string(owner) + "#" + std::to_string(again + 1),
                      checked.expires_at)) {
    return Verdict::kTemporary;
  }
  return Verdict::kValid;
}

CheckLimits checkLimits(const config::PowConfig& pow, MemoryBudget* memory) {
  CheckLimits l;
  l.max_stamps = pow.max_stamps;
  l.max_argon2id_work = pow.argon2id_max_message_work;
  l.memory = memory;
  l.memory_wait_ms = kMemoryWaitMs;
  return l;
}

std::vector<RecipientResult> checkAndSpend(const std::vector<std::string>& recipients,
                                           const std::vector<std::string>& stamps,
                                           const StampPolicy& policy, store::Store* store,
                                           int64_t now, size_t max_stamps) {
  std::vector<RecipientPolicy> with_policy;
  with_policy.reserve(recipients.size());
  for (const std::string& r : recipients) with_policy.push_back({r, policy});
  CheckLimits limits;
  limits.max_stamps = max_stamps;
  return checkAndSpend(with_policy, stamps, store, now, limits);
}

std::vector<RecipientResult> checkAndSpend(const std::vector<RecipientPolicy>& recipients,
                                           const std::vector<std::string>& stamps,
                                           store::Store* store, int64_t now,
                                           const CheckLimits& limits, std::string_view owner,
                                           CheckStats* stats) {
  CheckStats local_stats;
  CheckStats& st = stats != nullptr ? *stats : local_stats;
  const size_t n_stamps = std::min(stamps.size(), limits.max_stamps);
  // Stamps by lower-cased resource, so each recipient looks only at its own.
  std::unordered_map<std::string, std::vector<size_t>> by_resource;
  for (size_t i = 0; i < n_stamps; ++i) {
    detail::StampView v;
    const char* why = "";
    if (detail::parseView(stamps[i], v, why)) {
      by_resource[asciiLower(v.resource)].push_back(i);
    }
  }

  // Plan: each distinct recipient's best verdict short of hashing, and the
  // stamps that may be hashed for it (its candidates).
  struct Candidate {
    size_t index;
    detail::StampView view;
  };
  struct Plan {
    size_t first = 0;                  // first recipient with this key (duplicates copy it)
    std::vector<Candidate> candidates;  // at most limits.candidates_per_recipient
  };
  std::vector<RecipientResult> out(recipients.size());
  std::vector<size_t> plan_of(recipients.size());
  std::vector<Plan> plans;
  std::unordered_map<std::string, size_t> plan_by_key;
  uint64_t work = 0;
  for (size_t r = 0; r < recipients.size(); ++r) {
    out[r].recipient = recipients[r].recipient;
    const std::string key = asciiLower(recipients[r].recipient);
    if (auto dup = plan_by_key.find(key); dup != plan_by_key.end()) {
      plan_of[r] = dup->second;
      continue;
    }
    plan_of[r] = plans.size();
    plan_by_key.emplace(key, plans.size());
    plans.push_back(Plan{r, {}});
    Plan& plan = plans.back();
    CheckResult best;
    best.verdict = Verdict::kWrongResource;
    best.reason = "no stamp for " + detail::quote(recipients[r].recipient);
    if (n_stamps == 0) {
      best.verdict = Verdict::kMalformed;
      best.reason = "no stamp";
    }
    std::string best_text;
    bool first = true;
    if (auto it = by_resource.find(key); it != by_resource.end()) {
      for (size_t i : it->second) {
        if (plan.candidates.size() >= limits.candidates_per_recipient) break;
        detail::StampView view;
        CheckResult pre;
        if (detail::precheck(stamps[i], recipients[r].recipient, recipients[r].policy, now, view,
                             pre)) {
          plan.candidates.push_back({i, view});
          work += detail::argon2idWork(view);
          continue;
        }
        if (first || rank(pre.verdict) < rank(best.verdict)) {
          best = std::move(pre);
          best_text = stamps[i];
          first = false;
        }
      }
    }
    out[r].result = std::move(best);
    out[r].stamp = std::move(best_text);
  }

  // The whole message's Argon2id work, bounded before the first hash.
  if (work > limits.max_argon2id_work) {
    for (Plan& plan : plans) {
      uint64_t mine = 0;
      for (const Candidate& c : plan.candidates) mine += detail::argon2idWork(c.view);
      if (mine == 0) continue;
      CheckResult& res = out[plan.first].result;
      res = CheckResult{};
      res.verdict = Verdict::kOutOfBounds;
      res.algorithm = Algorithm::kArgon2id;
      res.reason = "the message's argon2id stamps need " + std::to_string(work) +
                   " KiB x passes, over the " + std::to_string(limits.max_argon2id_work) +
                   " allowed";
      out[plan.first].stamp = stamps[plan.candidates.front().index];
    }
    for (size_t r = 0; r < recipients.size(); ++r) {
      if (plans[plan_of[r]].first != r) {
        out[r].result = out[plans[plan_of[r]].first].result;
        out[r].stamp = out[plans[plan_of[r]].first].stamp;
      }
    }
    return out;
  }

  // Hash the candidates, each recipient's until one is valid.
  for (Plan& plan : plans) {
    const RecipientPolicy& rp = recipients[plan.first];
    RecipientResult& res = out[plan.first];
    bool first = res.stamp.empty();
    for (const Candidate& c : plan.candidates) {
      if (c.view.algorithm == Algorithm::kArgon2id) {
        ++st.argon2id;
        st.argon2id_work += detail::argon2idWork(c.view);
      } else {
        ++st.sha1;
      }
      const CheckResult ch =
          detail::hashCheck(stamps[c.index], c.view, rp.policy, limits.memory, limits.memory_wait_ms);
      if (first || rank(ch.verdict) < rank(res.result.verdict)) {
        res.result = ch;
        res.stamp = stamps[c.index];
        first = false;
      }
      if (ch.verdict == Verdict::kValid) break;  // one is enough
    }
  }

  // Duplicates: what their first occurrence got.
  for (size_t r = 0; r < recipients.size(); ++r) {
    const Plan& plan = plans[plan_of[r]];
    if (plan.first != r) {
      out[r].result = out[plan.first].result;
      out[r].stamp = out[plan.first].stamp;
    }
  }
  // Every recipient has a valid stamp: spend them.
  if (store != nullptr) spendResults(*store, out, owner);
  return out;
}

void spendResults(store::Store& store, std::vector<RecipientResult>& results,
                  std::string_view owner) {
  for (const RecipientResult& r : results) {
    if (r.result.verdict != Verdict::kValid) return;
  }
  std::unordered_map<std::string, size_t> first_of;
  for (size_t r = 0; r < results.size(); ++r) {
    auto [it, fresh] = first_of.try_emplace(asciiLower(results[r].recipient), r);
    if (!fresh) {
      results[r].result = results[it->second].result;  // a duplicate: spent once
      continue;
    }
    RecipientResult& res = results[r];
    const Verdict v = spend(store, res.result, res.stamp, owner);
    if (v == Verdict::kValid) continue;
    res.result.verdict = v;
    res.result.reason =
        v == Verdict::kSpent ? "stamp already spent" : "double-spend record unavailable";
    res.result.bits = 0;
  }
}

}  // namespace mtep::pow
