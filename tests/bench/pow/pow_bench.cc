// Proof of work: hashcash v1 minting tries per second (one thread, every
// core), checks per second, spends per second on SQLite, one Argon2id try
// at 4 MiB, MMTP checks. tests/bench/run-pow-bench.sh sets these beside the
// hashcash tool.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "pow/pow.h"
#include "store/store.h"

namespace mtep::pow {
namespace {

constexpr int64_t kNow = 1793491200 + 3600;  // 2026-11-01T01:00:00Z
// Minted by the hashcash 1.22 tool: 20 bits, for bob@beta.test on 261101.
constexpr char kStamp20[] = "1:20:261101:bob@beta.test::CfFVCeE+dc9gOTPD:00000OIW";

void BM_HashcashTries(benchmark::State& state) {
  const auto threads = static_cast<unsigned>(state.range(0));
  double total = 0;
  for (auto _ : state) {
    const double rate = hashcashTriesPerSecond(threads, 250);
    total += rate;
    benchmark::DoNotOptimize(rate);
  }
  state.counters["tries_per_s"] = total / static_cast<double>(state.iterations());
}
BENCHMARK(BM_HashcashTries)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(8);
BENCHMARK(BM_HashcashTries)
    ->Arg(static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency())))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(8);

void BM_CheckHashcashValid(benchmark::State& state) {
  StampPolicy p;
  p.hashcash_bits = 20;
  for (auto _ : state) {
    CheckResult r = checkStamp(kStamp20, "bob@beta.test", p, kNow);
    if (r.verdict != Verdict::kValid) state.SkipWithError("stamp did not check");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CheckHashcashValid);

void BM_CheckHashcashWrongResource(benchmark::State& state) {
  StampPolicy p;
  for (auto _ : state) {
    CheckResult r = checkStamp(kStamp20, "eve@beta.test", p, kNow);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CheckHashcashWrongResource);

void BM_Sha1LeadingZeroBits(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sha1LeadingZeroBits(kStamp20));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sha1LeadingZeroBits);

// One spend = one recordOnce on a SQLite store in a temporary directory.
void BM_SpendSqlite(benchmark::State& state) {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "mtep-pow-bench-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp");
    return;
  }
  FakeClock clock(kNow);
  {
    auto st = store::openSqlite({.path = dir + "/mtep.db"}, clock);
    if (!st) {
      state.SkipWithError(st.error().message().c_str());
      return;
    }
    CheckResult valid;
    valid.verdict = Verdict::kValid;
    valid.expires_at = kNow + 30 * 86400;
    uint64_t n = 0;
    const std::string base = std::string(kStamp20) + "x";
    for (auto _ : state) {
      const Verdict v = spend(**st, valid, base + std::to_string(n++));
      if (v != Verdict::kValid) state.SkipWithError("spend failed");
    }
  }
  state.SetItemsProcessed(state.iterations());
  fs::remove_all(dir);
}
BENCHMARK(BM_SpendSqlite);

// One Argon2id try at 4 MiB, t=1, p=1 (what checking one stamp costs).
void BM_Argon2idCheck4MiB(benchmark::State& state) {
  const char* stamp = "argon2id:1:m=4096,t=1,p=1:0:261101:bob@beta.test::c2FsdHNhbHQ:A";
  StampPolicy p;
  p.argon2id_bits = 0;
  for (auto _ : state) {
    CheckResult r = checkStamp(stamp, "bob@beta.test", p, kNow);
    if (r.verdict != Verdict::kValid) state.SkipWithError(r.reason.c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Argon2idCheck4MiB)->Unit(benchmark::kMillisecond);

void BM_CheckMmtp(benchmark::State& state) {
  const std::string resource = "(alice)%(example.com):(bob)%(example.com)";
  auto token = mintMmtp(resource, 4, 1625849600000);
  if (!token) {
    state.SkipWithError("mint failed");
    return;
  }
  for (auto _ : state) {
    CheckResult r = checkMmtp(*token, resource, 4, 1625849600000, 600000);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CheckMmtp);

}  // namespace
}  // namespace mtep::pow
