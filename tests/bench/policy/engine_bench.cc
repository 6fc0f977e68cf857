// mtep-policyd's engine without sockets: one RCPT decision with the gates
// on (refuse_mixed_onion and two rate limits), for one repeated key and
// for a new client, sender, recipient and instance every time (the tables
// full at their cap of 100,000, so every decision also evicts); and the
// memory the state takes with 100,000 live keys of each kind (instances,
// rate counters, cached lookups), as the "state_MiB" counter (the growth
// of the process's resident memory while filling a fresh engine).
#include <benchmark/benchmark.h>

#include <fstream>
#include <string>

#include "config/config.h"
#include "policy/policy.h"
#include "util/clock.h"

namespace mtep::policy {
namespace {

constexpr char kGates[] =
    "[domain_defaults]\n"
    "refuse_mixed_onion = true\n"
    "rate_limit_client = \"9999999/1h\"\n"
    "rate_limit_sender = \"9999999/1h\"\n";

config::ConfigPtr gates() {
  auto cfg = config::loadString(kGates, "bench.conf");
  return cfg.ok() ? *cfg : nullptr;
}

// Request n: its own client, sender, recipient and instance, like
// mtep-load --unique.
Request unique(uint64_t n) {
  const std::string id = std::to_string(n);
  Request r;
  r.attributes = {{"request", "smtpd_access_policy"},
                  {"protocol_state", "RCPT"},
                  {"protocol_name", "ESMTP"},
                  {"client_address", "10." + std::to_string((n >> 16) & 255) + "." +
                                         std::to_string((n >> 8) & 255) + "." +
                                         std::to_string(n & 255)},
                  {"client_port", "40000"},
                  {"client_name", "unknown"},
                  {"helo_name", "load.test"},
                  {"sender", "s" + id + "@load.test"},
                  {"recipient", "u" + id + "@beta.test"},
                  {"instance", "LOAD." + id}};
  return r;
}

double residentMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// First, so that it runs in a process whose heap holds nothing freed yet.
void BM_StateOf100kKeysOfEachKind(benchmark::State& state) {
  for (auto _ : state) {
    FakeClock clock;
    const double before = residentMiB();
    auto engine = std::make_unique<Engine>(gates(), clock);
    for (uint64_t n = 0; n < kMaxEntries; ++n) {
      engine->decide(unique(n));
      Lookup l;
      l.kind = Lookup::Kind::kToken;
      l.domain = "load.test";
      l.sender = "s" + std::to_string(n) + "@load.test";
      l.recipient = "u" + std::to_string(n) + "@beta.test";
      l.token = "v1.AAAAAQAAAABlU_EAAAFRgA.0123456789abcdef0123456789abcdef0123456789abcd";
      engine->recordLookup(l, LookupAnswer::kYes);
    }
    state.counters["state_MiB"] = residentMiB() - before;
    state.counters["instances"] = static_cast<double>(engine->instances());
    state.counters["rate_counters"] = static_cast<double>(engine->rateCounters());
    state.counters["lookups"] = static_cast<double>(engine->cachedLookups());
    if (engine->instances() != kMaxEntries || engine->cachedLookups() != kMaxEntries) {
      state.SkipWithError("the tables did not fill");
    }
  }
}
BENCHMARK(BM_StateOf100kKeysOfEachKind)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_DecideOneKey(benchmark::State& state) {
  FakeClock clock;
  Engine engine(gates(), clock);
  const Request r = unique(1);
  for (auto _ : state) {
    Outcome o = engine.decide(r);
    if (o.decision.action != "DUNNO") state.SkipWithError("not DUNNO");
    benchmark::DoNotOptimize(o);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideOneKey);

void BM_DecideUniqueKeys(benchmark::State& state) {
  FakeClock clock;
  Engine engine(gates(), clock);
  uint64_t n = 0;
  for (; n < kMaxEntries; ++n) engine.decide(unique(n));  // full: every decision evicts
  for (auto _ : state) {
    state.PauseTiming();
    const Request r = unique(n++);
    state.ResumeTiming();
    Outcome o = engine.decide(r);
    if (o.decision.action != "DUNNO") state.SkipWithError("not DUNNO");
    benchmark::DoNotOptimize(o);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideUniqueKeys);

}  // namespace
}  // namespace mtep::policy
