#pragma once
// NAME
//   redis_rates.h - rate counters that every host shares, in Redis
// SUMMARY
//   store::RedisRates rates(options);                 // redis_connection.h: RedisOptions
//   std::vector<store::RateRequest> batch = ...;      // each: (key, window, limit)...
//   std::vector<store::RateVerdict> v = rates.checkAndCount(batch);  // one pipeline
// DESCRIPTION
//   The requests of a batch are checked and counted by one Lua script per
//   kRequestsPerScript of them, atomically (no other command runs on Redis
//   meanwhile, whichever host sent it), in order, each seeing the counts
//   of those before it: for each of a request's keys, the estimate of the
//   sliding window ending now is the previous fixed window's count
//   weighted by the part of it still inside the sliding window, plus the
//   current fixed window's count (as lib/policy counts in memory). If every
//   key's estimate + 1 is within its limit, each key's current window is
//   counted; else nothing of that request is counted and the first key
//   over its limit is named.
//   Keys (P = options.prefix): one hash per window length and fixed
//   window, P rate:WINDOW:START, START the window's start in Unix seconds
//   (a multiple of WINDOW); its fields are the request keys, its values
//   their counts. It expires at START + 2 * WINDOW (EXPIREAT), when it is
//   not even a previous window, and the script UNLINKs it then if it is
//   still there, so a big hash is freed off Redis's main thread. One
//   hash per window, not one key per counter: the script makes five calls
//   per window length whatever the number of requests (HMGET current and
//   previous, HSET, EXPIREAT, UNLINK), which is what lets one Redis count
//   for tens of thousands of decisions a second (doc/performance.md).
//   "Now" is Redis's TIME, read inside the script: the hosts' clocks do
//   not matter, and every host sees the same window boundaries. (TIME in
//   a script that writes needs effects replication: the default from
//   Redis 5, the only mode in Redis 7.) The keys are computed in the
//   script, so this does not run on Redis Cluster (Sentinel is fine).
//   The script is sent by EVALSHA; a NOSCRIPT reply (a restarted or
//   flushed Redis) loads it (SCRIPT LOAD) and sends the requests again.
//   checkAndCount() sends a whole batch as one pipeline on one connection,
//   bounded by options.timeout_ms; a connection that fails is dropped and
//   the next call dials again (asking the sentinels afresh). Failures are
//   reported to noteRedisDown/Up (redis_store.h), so the process logs one
//   line when Redis goes away and one when it is back. A request not
//   checked (Redis down, slow, an error reply such as OOM with maxmemory
//   and noeviction) is kTemporary: nothing of it was counted.
//   Thread-safe: each call takes a connection of its own from a small
//   pool (two calls may run at once, each on its own connection).
// SEE ALSO
//   lib/policy/policy.h (RateCheck), policyd/shared_rates.h, doc/redis.md

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/redis_connection.h"

namespace mtep::store {

struct RateKey {
  std::string key;     // without the prefix; any bytes
  int64_t window = 0;  // seconds, > 0
  uint32_t limit = 0;  // > 0
};
using RateRequest = std::vector<RateKey>;  // at most kMaxRateKeys, all or none counted

struct RateVerdict {
  enum class Kind { kUnder, kOver, kTemporary };
  Kind kind = Kind::kTemporary;
  size_t over = 0;     // kOver: index of the first key over its limit
  std::string detail;  // kTemporary: why
};

inline constexpr size_t kMaxRateKeys = 8;          // per request
inline constexpr size_t kRequestsPerScript = 256;  // per EVALSHA of a batch

class RedisRates {
 public:
  explicit RedisRates(RedisOptions options);
  ~RedisRates();
  RedisRates(const RedisRates&) = delete;
  RedisRates& operator=(const RedisRates&) = delete;

  // One verdict per request, in order. Blocking, up to about twice
  // options.timeout_ms (a dial, then the pipeline). Any thread.
  std::vector<RateVerdict> checkAndCount(const std::vector<RateRequest>& batch);
  // "127.0.0.1:6379", for logs.
  const std::string& label() const { return label_; }
  // The script's text (tests, doc).
  static const char* script();

 private:
  std::unique_ptr<RedisConnection> take(std::string* error);
  void giveBack(std::unique_ptr<RedisConnection> conn);

  RedisOptions options_;
  std::string label_;
  std::mutex mu_;                                      // guards idle_ and sha_
  std::vector<std::unique_ptr<RedisConnection>> idle_;  // guarded by mu_
  std::string sha_;  // guarded by mu_: the script's SHA1 once loaded
};

}  // namespace mtep::store
