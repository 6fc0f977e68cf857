// The double-spend record: spend() and checkAndSpend().
#include <algorithm>
#include <optional>
#include <unordered_map>

#include "pow/internal.h"
#include "util/base64.h"

namespace mtep::pow {

namespace {

constexpr std::string_view kNamespace = "pow";

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

Verdict spend(store::Store& store, const CheckResult& checked, std::string_view text) {
  if (checked.verdict != Verdict::kValid) return checked.verdict;
  // Key: the stamp text itself (at most kMaxStampSize bytes): a stamp is
  // spent once whatever algorithm it uses, and an administrator can read
  // the record.
  auto recorded = store.recordOnce(kNamespace, text, checked.expires_at);
  if (!recorded) return Verdict::kTemporary;
  return *recorded ? Verdict::kValid : Verdict::kSpent;
}

std::vector<RecipientResult> checkAndSpend(const std::vector<std::string>& recipients,
                                           const std::vector<std::string>& stamps,
                                           const StampPolicy& policy, store::Store* store,
                                           int64_t now, size_t max_stamps) {
  const size_t n_stamps = std::min(stamps.size(), max_stamps);
  // Stamps by lower-cased resource, so each recipient looks only at its
  // own; each stamp is hashed at most once (Argon2id tries are dear).
  std::unordered_map<std::string, std::vector<size_t>> by_resource;
  std::vector<std::optional<CheckResult>> checked(n_stamps);
  std::vector<bool> taken(n_stamps, false);
  for (size_t i = 0; i < n_stamps; ++i) {
    detail::StampView v;
    const char* why = "";
    if (detail::parseView(stamps[i], v, why)) {
      by_resource[asciiLower(v.resource)].push_back(i);
    }
  }

  struct Pending {
    std::vector<size_t> valid;  // the stamp found valid for this recipient (one at most)
  };
  std::vector<RecipientResult> out(recipients.size());
  std::vector<Pending> pending(recipients.size());
  std::unordered_map<std::string, size_t> first_of;  // duplicate recipients share a result
  bool all_valid = true;
  for (size_t r = 0; r < recipients.size(); ++r) {
    out[r].recipient = recipients[r];
    const std::string key = asciiLower(recipients[r]);
    if (auto dup = first_of.find(key); dup != first_of.end()) {
      out[r].result = out[dup->second].result;
      out[r].stamp = out[dup->second].stamp;
      continue;
    }
    first_of.emplace(key, r);
    CheckResult best;
    best.verdict = Verdict::kWrongResource;
    best.reason = "no stamp for " + detail::quote(recipients[r]);
    if (n_stamps == 0) {
      best.verdict = Verdict::kMalformed;
      best.reason = "no stamp";
    }
    std::string best_text;
    if (auto it = by_resource.find(key); it != by_resource.end()) {
      bool first = true;
      for (size_t i : it->second) {
        if (taken[i]) continue;
        if (!checked[i]) checked[i] = checkStamp(stamps[i], recipients[r], policy, now);
        const CheckResult& c = *checked[i];
        if (c.verdict == Verdict::kValid) {
          pending[r].valid.push_back(i);
          taken[i] = true;
        }
        if (first || rank(c.verdict) < rank(best.verdict)) {
          best = c;
          best_text = stamps[i];
          first = false;
        }
        if (c.verdict == Verdict::kValid) break;  // one is enough
      }
    }
    out[r].result = std::move(best);
    out[r].stamp = std::move(best_text);
    if (out[r].result.verdict != Verdict::kValid) all_valid = false;
  }
  if (store == nullptr || !all_valid) return out;

  // Every recipient has a valid stamp: spend them.
  for (size_t r = 0; r < recipients.size(); ++r) {
    if (pending[r].valid.empty()) {
      // A duplicate: copy what its first occurrence got.
      const size_t first = first_of.at(asciiLower(recipients[r]));
      out[r].result = out[first].result;
      out[r].stamp = out[first].stamp;
      continue;
    }
    for (size_t i : pending[r].valid) {
      const Verdict v = spend(*store, *checked[i], stamps[i]);
      out[r].stamp = stamps[i];
      out[r].result = *checked[i];
      if (v == Verdict::kValid) break;
      out[r].result.verdict = v;
      out[r].result.reason =
          v == Verdict::kSpent ? "stamp already spent" : "double-spend record unavailable";
      out[r].result.bits = 0;
      if (v == Verdict::kTemporary) break;
    }
  }
  return out;
}

}  // namespace mtep::pow
