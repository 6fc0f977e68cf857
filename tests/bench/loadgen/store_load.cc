// NAME
//   store-load - recordOnce (the double-spend record) per second and its
//   latency on the configured store, SQLite or Redis
// SUMMARY
//   store-load -c mtep.conf --threads 8 --duration 5
//   store-load --print-rate-script     # mtep-policyd's rate script (Lua)
// DESCRIPTION
//   Opens the [store] that mtep.conf names (store::open, as the daemons do)
//   once per thread, and has every thread record new keys
//   (recordOnce("bench", unique key, now + 3600)) one after another for
//   --duration seconds; every 10th call repeats an earlier key of the thread
//   and must be answered "already recorded" (a spend refused). Prints one
//   key=value line: ops, ops_per_s, p50_us, p99_us, max_us, errors,
//   wrong (a repeat answered as new, or a new key as a repeat). Exit 1 on
//   any error or wrong answer. --print-rate-script prints the Lua script of
//   the shared rate limits (store/redis_rates.h), for redis-benchmark
//   (tests/bench/run-redis-mix-bench.sh).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "store/open.h"
#include "store/redis_rates.h"
#include "util/clock.h"

namespace {

struct ThreadResult {
  std::vector<uint32_t> latencies_us;
  uint64_t errors = 0;
  uint64_t wrong = 0;
  std::string first_error;
};

void usage() {
  std::fprintf(stderr, "usage: store-load -c CONFIG [--threads N] [--duration SECONDS]\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  int threads = 1;
  int duration = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--print-rate-script") {
      std::fputs(mtep::store::RedisRates::script(), stdout);
      return 0;
    }
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--duration" && i + 1 < argc) {
      duration = std::atoi(argv[++i]);
    } else {
      usage();
      return 2;
    }
  }
  if (config_path.empty() || threads < 1 || threads > 1024 || duration < 1) {
    usage();
    return 2;
  }
  auto cfg = mtep::config::loadFile(config_path);
  if (!cfg) {
    std::fprintf(stderr, "store-load: %s\n", cfg.error().message().c_str());
    return 2;
  }
  const mtep::config::StoreConfig store_cfg = (*cfg)->store;
  const auto start = std::chrono::steady_clock::now();
  const auto stop = start + std::chrono::seconds(duration);
  std::vector<ThreadResult> results(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  const std::string run = std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ThreadResult& r = results[static_cast<size_t>(t)];
      auto st = mtep::store::open(store_cfg, mtep::SystemClock::instance());
      if (!st) {
        ++r.errors;
        r.first_error = st.error().message();
        return;
      }
      const int64_t expires = mtep::SystemClock::instance().now() + 3600;
      uint64_t n = 0;
      while (std::chrono::steady_clock::now() < stop) {
        const bool repeat = n % 10 == 9;
        const uint64_t id = repeat ? n - 5 : n;
        const std::string key = run + "-" + std::to_string(t) + "-" + std::to_string(id);
        const auto t0 = std::chrono::steady_clock::now();
        auto fresh = (*st)->recordOnce("bench", key, expires);
        const auto t1 = std::chrono::steady_clock::now();
        ++n;
        if (!fresh) {
          if (r.errors++ == 0) r.first_error = fresh.error().message();
          continue;
        }
        if (*fresh == repeat) ++r.wrong;
        r.latencies_us.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
      }
    });
  }
  for (auto& th : pool) th.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<uint32_t> all;
  uint64_t errors = 0;
  uint64_t wrong = 0;
  std::string first_error;
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    errors += r.errors;
    wrong += r.wrong;
    if (first_error.empty()) first_error = r.first_error;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) -> uint32_t {
    if (all.empty()) return 0;
    size_t i = static_cast<size_t>(p * static_cast<double>(all.size() - 1));
    return all[i];
  };
  std::printf(
      "backend=%s threads=%d ops=%zu ops_per_s=%.0f p50_us=%u p99_us=%u max_us=%u errors=%llu "
      "wrong=%llu\n",
      store_cfg.backend.c_str(), threads, all.size(), static_cast<double>(all.size()) / seconds,
      pct(0.50), pct(0.99), all.empty() ? 0u : all.back(),
      static_cast<unsigned long long>(errors), static_cast<unsigned long long>(wrong));
  if (!first_error.empty()) std::fprintf(stderr, "store-load: first error: %s\n", first_error.c_str());
  return errors == 0 && wrong == 0 ? 0 : 1;
}
