// Minting hashcash v1 and Argon2id stamps on every core, and the v1
// speed measurement.
//
// OpenSSL 3 deprecates the low-level SHA1_* calls in favour of EVP, but EVP
// has no midstate API: it cannot hash a stamp's constant prefix once and
// then finish many different final blocks from that saved state. With
// SHA1_Init/SHA1_Update over the prefix's whole blocks and SHA1_Transform
// on a copied SHA_CTX, each try is exactly one SHA-1 compression (OpenSSL's,
// using SHA-NI where the CPU has it). Hence the suppression, in this file
// only; checking uses EVP (stamp.cc).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include "pow/internal.h"
#include "util/base64.h"

namespace mtep::pow {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kRandMin = 16;     // the tool's RAND length: 96 random bits
constexpr size_t kThreadChars = 2;  // counter = 2 characters of thread + ...
constexpr size_t kStepChars = 9;    // ... 9 characters of tries (54 bits) each
constexpr size_t kCounterWidth = kThreadChars + kStepChars;
constexpr unsigned kMaxThreads = 64 * 64;
// The last block must hold the prefix's tail, the counter, the 0x80 byte
// and the 8-byte length.
constexpr size_t kMaxTail = 64 - 9 - kCounterWidth;

unsigned threadCount(unsigned wanted) {
  unsigned n = wanted != 0 ? wanted : std::thread::hardware_concurrency();
  return std::clamp(n, 1u, kMaxThreads);
}

// Runs fn(0..n-1) on n threads (fewer if the system will not start more;
// at least one, on the calling thread if need be) and waits for them.
template <typename Fn>
void runThreads(unsigned n, Fn fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (unsigned t = 1; t < n; ++t) {
    try {
      threads.emplace_back(fn, t);
    } catch (const std::system_error&) {
      break;  // out of threads: the ones running share the work
    }
  }
  fn(0u);
  for (std::thread& th : threads) th.join();
}

// Shared by the threads of one mint.
struct Search {
  std::atomic<bool> stop{false};
  Clock::time_point deadline;
  std::atomic<uint64_t> tries{0};
  std::mutex mu;
  std::string found;  // the counter of the first success; guarded by mu
  void succeed(std::string counter) {
    std::lock_guard<std::mutex> lock(mu);
    if (found.empty()) found = std::move(counter);
    stop.store(true, std::memory_order_relaxed);
  }
};

// ---- hashcash v1 ------------------------------------------------------------

// One v1 search: the prefix "1:BITS:DATE:RESOURCE:EXT:RAND:" with RAND's
// length chosen so that the prefix's tail, the counter and the padding fill
// exactly one last block.
struct V1Job {
  std::string prefix;
  SHA_CTX mid{};              // state after the prefix's whole 64-byte blocks
  unsigned char block[64]{};  // the last block; the counter goes at counter_at
  size_t counter_at = 0;
  int bits = 0;
};

bool prepareV1(const std::string& head, int bits, V1Job& job) {
  size_t rand_len = kRandMin;
  while ((head.size() + rand_len + 1) % 64 > kMaxTail) ++rand_len;
  std::string rand;
  if (!detail::randomChars(rand_len, rand)) return false;
  job.prefix = head + rand + ":";
  job.bits = bits;
  const size_t tail = job.prefix.size() % 64;
  const size_t whole = job.prefix.size() - tail;
  SHA1_Init(&job.mid);
  SHA1_Update(&job.mid, job.prefix.data(), whole);
  std::memset(job.block, 0, sizeof job.block);
  std::memcpy(job.block, job.prefix.data() + whole, tail);
  job.counter_at = tail;
  std::memset(job.block + tail, 'A', kCounterWidth);
  job.block[tail + kCounterWidth] = 0x80;
  const uint64_t bit_len = (job.prefix.size() + kCounterWidth) * 8;
  for (int i = 0; i < 8; ++i) job.block[63 - i] = static_cast<unsigned char>(bit_len >> (8 * i));
  return true;
}

// Leading zero bits of a SHA-1 state read as the digest (h0 first, big-endian).
int stateZeroBits(const SHA_CTX& c) {
  const uint32_t h[5] = {c.h0, c.h1, c.h2, c.h3, c.h4};
  int bits = 0;
  for (uint32_t w : h) {
    if (w != 0) return bits + std::countl_zero(w);
    bits += 32;
  }
  return bits;
}

// Searches the counters whose first two characters name `thread`.
void searchV1(const V1Job& job, unsigned thread, Search& search) {
  unsigned char block[64];
  std::memcpy(block, job.block, sizeof block);
  unsigned char* counter = block + job.counter_at;
  counter[0] = static_cast<unsigned char>(detail::kAlphabet[thread / 64]);
  counter[1] = static_cast<unsigned char>(detail::kAlphabet[thread % 64]);
  unsigned digit[kStepChars] = {};
  unsigned char* last = counter + kCounterWidth - 1;
  // bits <= 32 is decided by h0 alone.
  const bool one_word = job.bits <= 32;
  const uint64_t limit = one_word ? (uint64_t{1} << (32 - job.bits)) : 0;
  uint64_t tries = 0;
  SHA_CTX ctx = job.mid;
  for (uint32_t round = 1;; ++round) {
    for (unsigned c = 0; c < 64; ++c) {
      *last = static_cast<unsigned char>(detail::kAlphabet[c]);
      // Only the chaining words change: reset them to the midstate.
      ctx.h0 = job.mid.h0;
      ctx.h1 = job.mid.h1;
      ctx.h2 = job.mid.h2;
      ctx.h3 = job.mid.h3;
      ctx.h4 = job.mid.h4;
      SHA1_Transform(&ctx, block);
      if (one_word ? ctx.h0 < limit : (ctx.h0 == 0 && stateZeroBits(ctx) >= job.bits)) {
        search.succeed(std::string(reinterpret_cast<const char*>(counter), kCounterWidth));
        search.tries.fetch_add(tries + c + 1, std::memory_order_relaxed);
        return;
      }
    }
    tries += 64;
    // Next counter value: carry into the characters before the last.
    size_t i = kStepChars - 1;
    while (i > 0) {
      --i;
      if (++digit[i] < 64) {
        counter[kThreadChars + i] = static_cast<unsigned char>(detail::kAlphabet[digit[i]]);
        break;
      }
      digit[i] = 0;
      counter[kThreadChars + i] = static_cast<unsigned char>(detail::kAlphabet[0]);
      if (i == 0) {  // 2^54 tries: never in practice
        search.tries.fetch_add(tries, std::memory_order_relaxed);
        return;
      }
    }
    if (round % 1024 == 0) {  // every 65536 tries
      if (search.stop.load(std::memory_order_relaxed) || Clock::now() >= search.deadline) {
        search.stop.store(true, std::memory_order_relaxed);
        search.tries.fetch_add(tries, std::memory_order_relaxed);
        return;
      }
    }
  }
}

// ---- Argon2id ---------------------------------------------------------------

// Counter number n in base64 characters, shortest form.
std::string counterText(uint64_t n) {
  std::string out;
  do {
    out.push_back(detail::kAlphabet[n % 64]);
    n /= 64;
  } while (n != 0);
  std::reverse(out.begin(), out.end());
  return out;
}

void searchArgon2(const std::string& prefix, std::string_view rand, const MintOptions& o,
                  unsigned thread, unsigned threads, Search& search) {
  uint64_t tries = 0;
  for (uint64_t n = thread; !search.stop.load(std::memory_order_relaxed); n += threads) {
    if (Clock::now() >= search.deadline) {
      search.stop.store(true, std::memory_order_relaxed);
      break;
    }
    const std::string counter = counterText(n);
    const std::string text = prefix + counter;
    unsigned char hash[32];
    ++tries;
    if (!detail::argon2idHash(text, rand, o.memory_kib, o.time_cost, o.lanes, hash)) break;
    if (detail::leadingZeroBits(hash, sizeof hash) >= o.bits) {
      search.succeed(counter);
      break;
    }
  }
  search.tries.fetch_add(tries, std::memory_order_relaxed);
}

bool isFieldText(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ':' || c == 0x7f || c < 0x20) return false;
  }
  return true;
}

}  // namespace

Result<Minted> mint(const MintOptions& o) {
  if (o.bits < 0 || o.bits > kMaxBits) {
    return Error(ErrorKind::kInvalid, "bits must be 0..160");
  }
  if (o.resource.empty() || !isFieldText(o.resource)) {
    return Error(ErrorKind::kInvalid, "a stamp's resource is non-empty text without ':'");
  }
  if (!isFieldText(o.ext)) {
    return Error(ErrorKind::kInvalid, "a stamp's extension field is text without ':'");
  }
  std::string date;
  if (!detail::formatDate(o.now, date)) {
    return Error(ErrorKind::kInvalid, "the time is outside 2000..2099");
  }
  const bool argon = o.algorithm == Algorithm::kArgon2id;
  if (argon &&
      (o.time_cost < 1 || o.lanes < 1 || static_cast<uint64_t>(o.memory_kib) < 8ull * o.lanes)) {
    return Error(ErrorKind::kInvalid, "argon2id needs t >= 1, p >= 1 and m >= 8*p KiB");
  }
  std::string head = argon ? "argon2id:1:m=" + std::to_string(o.memory_kib) +
                                 ",t=" + std::to_string(o.time_cost) +
                                 ",p=" + std::to_string(o.lanes) + ":"
                           : std::string("1:");
  head += std::to_string(o.bits) + ":" + date + ":" + o.resource + ":" + o.ext + ":";
  if (head.size() + kRandMin + 64 + kCounterWidth > kMaxStampSize) {
    return Error(ErrorKind::kInvalid, "resource too long for a stamp");
  }

  Search search;
  search.deadline = Clock::now() + std::chrono::milliseconds(std::max<int64_t>(o.budget_ms, 1));
  const unsigned threads = threadCount(o.threads);
  std::string prefix;
  if (argon) {
    std::string rand;
    if (!detail::randomChars(kRandMin, rand)) {
      return Error(ErrorKind::kInternal, "no random bytes");
    }
    prefix = head + rand + ":";
    runThreads(threads, [&](unsigned t) { searchArgon2(prefix, rand, o, t, threads, search); });
  } else {
    V1Job job;
    if (!prepareV1(head, o.bits, job)) return Error(ErrorKind::kInternal, "no random bytes");
    prefix = job.prefix;
    runThreads(threads, [&](unsigned t) { searchV1(job, t, search); });
  }
  std::lock_guard<std::mutex> lock(search.mu);
  if (search.found.empty()) {
    return Error(ErrorKind::kTemporary,
                 std::string("no ") + algorithmName(o.algorithm) + " stamp of " +
                     std::to_string(o.bits) + " bits within " + std::to_string(o.budget_ms) +
                     " ms (" + std::to_string(search.tries.load()) + " tries)");
  }
  Minted m;
  m.stamp = prefix + search.found;
  m.tries = search.tries.load();
  // The normal check, as a receiver would make it.
  StampPolicy policy;
  policy.hashcash_bits = policy.argon2id_bits = o.bits;
  policy.argon2id_min_memory = policy.argon2id_max_memory = o.memory_kib;
  policy.argon2id_max_time = o.time_cost;
  policy.argon2id_max_lanes = o.lanes;
  const CheckResult check = checkStamp(m.stamp, o.resource, policy, o.now);
  if (check.verdict != Verdict::kValid) {
    return Error(ErrorKind::kInternal, "minted stamp does not check: " + check.reason);
  }
  return m;
}

double hashcashTriesPerSecond(unsigned threads, int64_t ms) {
  V1Job job;
  // 160 bits: never found, so every thread runs until the deadline.
  if (!prepareV1("1:160:261123:speed@example.org::", kMaxBits, job)) return 0;
  Search search;
  const Clock::time_point start = Clock::now();
  search.deadline = start + std::chrono::milliseconds(std::max<int64_t>(ms, 1));
  runThreads(threadCount(threads), [&](unsigned t) { searchV1(job, t, search); });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return seconds > 0 ? static_cast<double>(search.tries.load()) / seconds : 0;
}

}  // namespace mtep::pow
