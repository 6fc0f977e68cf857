// policy_request_fuzz - policy::RequestReader fed the input whole and in
// slices, and every request it yields decided by a policy::Engine with
// every gate on (lookups answered from the input's hash, an in-memory
// store for stamps).
// Invariants: both feeds agree on every request and on the error; each
// request respects the limits (size, attribute count, names, no NUL);
// decide() asks at most one lookup per request and is final once it is
// answered; replies are "" only for requests that are not
// smtpd_access_policy, otherwise one line of printable ASCII without '%'.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "config/config.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/clock.h"

using mtep::policy::Engine;
using mtep::policy::LookupAnswer;
using mtep::policy::Outcome;
using mtep::policy::Request;
using mtep::policy::RequestReader;
using mtep::policy::StampAnswer;
using mtep::policy::StampCheck;

namespace {

constexpr const char* kConfig = R"(
[policyd]
instance_ttl = "1m"
lookup_cache_ttl = "1m"
[pow]
max_stamps = 20
argon2id_memory = 64
argon2id_min_memory = 64
argon2id_max_memory = 128
argon2id_max_time = 1
argon2id_max_lanes = 1
[domain_defaults]
rate_limit_sender = "50/1m"
refuse_mixed_onion = true
[domain."beta.test"]
require_mtep_capable = true
require_mtep = true
require_stamp = true
stamp_bits = 1
rate_limit_client = "20/1m"
[domain.".onion"]
require_stamp = true
stamp_bits = 2
mtep_unavailable = "accept"
)";

class MemoryStore final : public mtep::store::Store {
 public:
  const char* backendName() const override { return "memory"; }
  mtep::Status revokeToken(std::string_view, int64_t) override { return mtep::okStatus(); }
  mtep::Result<bool> isTokenRevoked(std::string_view) override { return false; }
  mtep::Result<bool> recordOnce(std::string_view ns, std::string_view key, int64_t) override {
    return keys_.insert(std::string(ns) + "\n" + std::string(key)).second;
  }
  mtep::Result<uint64_t> purgeExpired() override { return uint64_t{0}; }
  // The policy engine keeps no values.
  mtep::Status putValue(std::string_view, std::string_view, std::string_view, int64_t) override {
    return unused();
  }
  mtep::Result<std::string> getValue(std::string_view, std::string_view) override {
    return unused();
  }
  mtep::Result<bool> eraseValue(std::string_view, std::string_view) override { return unused(); }
  mtep::Result<std::vector<std::pair<std::string, std::string>>> listValues(std::string_view,
                                                                            size_t) override {
    return unused();
  }

 private:
  static mtep::Error unused() {
    return mtep::Error(mtep::ErrorKind::kInternal, "fuzz store: values not used");
  }
  std::set<std::string> keys_;
};

struct Read {
  std::vector<Request> requests;
  bool error = false;
  std::string reason;
};

bool validName(const std::string& n) {
  if (n.empty() || n.size() > mtep::policy::kMaxNameLength) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Read read(const std::vector<std::string_view>& pieces, size_t max_size) {
  RequestReader reader(max_size);
  Read out;
  std::string pending;
  for (std::string_view piece : pieces) {
    pending.append(piece);
    for (;;) {
      size_t used = 0;
      const RequestReader::State st = reader.feed(pending, &used);
      FUZZ_CHECK(used <= pending.size());
      pending.erase(0, used);
      if (st == RequestReader::State::kError) {
        FUZZ_CHECK(!reader.error().empty());
        size_t again = 1;
        FUZZ_CHECK(reader.feed("a=b\n\n", &again) == RequestReader::State::kError && again == 0);
        out.error = true;
        out.reason = reader.error();
        return out;
      }
      if (st == RequestReader::State::kNeedMore) {
        FUZZ_CHECK(pending.empty());
        break;
      }
      Request r = reader.take();
      size_t size = 1;  // the empty line's LF at least
      FUZZ_CHECK(r.attributes.size() <= mtep::policy::kMaxAttributes);
      for (const auto& [n, v] : r.attributes) {
        FUZZ_CHECK(validName(n));
        FUZZ_CHECK(v.find('\0') == std::string::npos);
        FUZZ_CHECK(v.find('\n') == std::string::npos);
        size += n.size() + 1 + v.size() + 1;
      }
      FUZZ_CHECK(size <= max_size);
      out.requests.push_back(std::move(r));
    }
  }
  return out;
}

bool sameRequests(const std::vector<Request>& a, const std::vector<Request>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].attributes != b[i].attributes) return false;
  }
  return true;
}

void checkAction(const Request& r, const std::string& action) {
  if (r.get("request") != "smtpd_access_policy") {
    FUZZ_CHECK(action.empty());
    return;
  }
  FUZZ_CHECK(!action.empty());
  FUZZ_CHECK(action.size() < 300);
  for (char c : action) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u < 0x7f && c != '%');
  }
  const bool known = action == "DUNNO" || action.rfind("PREPEND X-MTEP-Policy: ", 0) == 0 ||
                     (action.size() > 10 && (action[0] == '4' || action[0] == '5') &&
                      action[3] == ' ' && action[5] == '.');
  FUZZ_CHECK(known);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mtep::config::ConfigPtr config = [] {
    auto c = mtep::config::loadString(kConfig, "fuzz.conf");
    FUZZ_CHECK(c.ok());
    return *c;
  }();
  const std::string_view in = mtep::fuzz::asView(data, size);
  const uint64_t h = mtep::fuzz::hashBytes(in);
  const size_t max_size = 16 + static_cast<size_t>(h % 4096);

  const Read whole = read({in}, max_size);
  const Read sliced = read(mtep::fuzz::slices(in, h), max_size);
  FUZZ_CHECK(whole.error == sliced.error);
  FUZZ_CHECK(whole.reason == sliced.reason);
  FUZZ_CHECK(sameRequests(whole.requests, sliced.requests));

  mtep::FakeClock clock(1'700'000'000);
  MemoryStore store;
  Engine engine(config, clock);
  // Stamp checks run as mtep-policyd runs them (off the loop there), with a
  // store or, now and then, without one (tempfail).
  MemoryStore* spend_in = (h >> 20) % 4 != 0 ? &store : nullptr;
  uint64_t x = h | 1;
  for (const Request& r : whole.requests) {
    Outcome o = engine.decide(r);
    if (o.needs_lookup) {
      FUZZ_CHECK(!o.lookup.domain.empty());
      FUZZ_CHECK(r.get("request") == "smtpd_access_policy");
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      engine.recordLookup(o.lookup, static_cast<LookupAnswer>(x % 3));
      o = engine.decide(r);
      FUZZ_CHECK(!o.needs_lookup);
    }
    if (o.needs_stamps) {
      const std::shared_ptr<const StampCheck> check = o.stamps;
      FUZZ_CHECK(check != nullptr);
      const StampAnswer answer = mtep::policy::runStampCheck(*check, spend_in, nullptr);
      o = engine.finishStamps(r, *check, answer);
      FUZZ_CHECK(!o.needs_stamps && !o.needs_lookup);
    }
    checkAction(r, o.decision.action);
    FUZZ_CHECK(!o.decision.log.empty());
    FUZZ_CHECK(o.decision.log.find('\n') == std::string::npos);
    clock.advance(static_cast<int64_t>(x % 7));
    if (x % 5 == 0) engine.expire();
  }
  return 0;
}
