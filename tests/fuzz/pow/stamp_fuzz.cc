// parseStamp(), checkStamp(), checkAndSpend() (no store) and checkMmtp() on
// arbitrary text never crash and agree with each other.
// Input: STAMP, or STAMP "\n" RESOURCE (default "bob@beta.test").
// The policy is tiny: Argon2id stamps are hashed only up to 64 KiB, one
// pass, one lane; everything else is refused before hashing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pow/pow.h"

namespace {

constexpr int64_t kNow = 1793491200 + 3600;  // 2026-11-01T01:00:00Z

const mtep::pow::StampPolicy& tinyPolicy() {
  static const mtep::pow::StampPolicy p = [] {
    mtep::pow::StampPolicy q;
    q.hashcash_bits = 0;
    q.argon2id_bits = 0;
    q.validity = 100LL * 365 * 86400;  // every date 2000..2099 reaches the hash
    q.grace = 100LL * 365 * 86400;
    q.argon2id_min_memory = 8;
    q.argon2id_max_memory = 64;
    q.argon2id_max_time = 1;
    q.argon2id_max_lanes = 1;
    return q;
  }();
  return p;
}

bool printable(const std::string& s) {
  for (char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mtep::pow::Verdict;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view stamp = in;
  std::string_view resource = "bob@beta.test";
  if (const size_t nl = in.find('\n'); nl != std::string_view::npos) {
    stamp = in.substr(0, nl);
    resource = in.substr(nl + 1);
  }
  auto parsed = mtep::pow::parseStamp(stamp);
  const mtep::pow::CheckResult r = mtep::pow::checkStamp(stamp, resource, tinyPolicy(), kNow);
  // Malformed exactly when the parser refuses.
  if (parsed.ok() == (r.verdict == Verdict::kMalformed)) __builtin_trap();
  // Reasons are one short printable line.
  if (r.reason.size() > 400 || !printable(r.reason)) __builtin_trap();
  if (r.verdict == Verdict::kSpent) __builtin_trap();  // only spend() says that
  if (r.verdict == Verdict::kValid) {
    if (!r.reason.empty() || r.bits != parsed->bits) __builtin_trap();
    if (parsed->algorithm == mtep::pow::Algorithm::kHashcashSha1 &&
        mtep::pow::sha1LeadingZeroBits(stamp) < r.bits) {
      __builtin_trap();
    }
    if (r.expires_at != parsed->time + tinyPolicy().validity + tinyPolicy().grace) {
      __builtin_trap();
    }
    // checkAndSpend finds it for its recipient.
    auto all = mtep::pow::checkAndSpend({std::string(resource)}, {std::string(stamp)}, tinyPolicy(),
                                        nullptr, kNow, 10);
    if (all.size() != 1 || all[0].result.verdict != Verdict::kValid) __builtin_trap();
  }
  const mtep::pow::CheckResult m = mtep::pow::checkMmtp(stamp, resource, 0, 1625849600000, 600000);
  if (m.reason.size() > 400 || !printable(m.reason)) __builtin_trap();
  if (m.verdict == Verdict::kValid && !m.reason.empty()) __builtin_trap();
  return 0;
}
