// Minting hashcash v1 and Argon2id stamps on every core, and the v1
// speed measurement.
//
// A v1 stamp's prefix ("1:BITS:DATE:RESOURCE:EXT:RAND:") is hashed once:
// RAND's length puts the counter in SHA-1's last block, so each try is one
// SHA-1 compression of that block from the saved midstate. Each thread
// owns the counters that start with its two characters and iterates the
// last character over its 64 values, carrying into the others.
//
// Three ways to compress, chosen at run time (sha1PathInUse()): AVX-512
// (16 tries in the lanes of one vector; below) when the CPU and OS have
// it, else SHA-NI, else portable.
//   SHA-NI (x86-64 with the SHA extensions, CPUID leaf 7 EBX bit 29):
//     one SHA1RNDS4 per four rounds, but each waits for the one before, so
//     one try at a time leaves the SHA unit idle most of the time. Each
//     thread computes kMintLanes tries at once, the lanes taking
//     consecutive last characters, with their own state and message
//     registers, each group of four rounds issued for every lane in turn so
//     that the lanes' chains overlap. The lanes share the last block but
//     for the one character, ORed into its message register from a table.
//     The code is compiled for "sha,sse4.1,ssse3" by function attribute,
//     so the build needs no -m flag and runs on any x86-64; it is only
//     called after the CPUID check. Only h0 is read per try: up to 32 bits
//     it decides; beyond, h0 = 0 is hashed again in full by the portable
//     code. The order of counters, the success test and the tries counted
//     are those of the portable search (first success in counter order).
//   Portable: OpenSSL's SHA1_Transform on a copied SHA_CTX, one try after
//     the other (OpenSSL itself uses SHA-NI there when it can, one block at
//     a time). Other CPUs, other architectures, and MTEP_POW_PORTABLE=1.
// Either way, mint() checks the stamp with checkStamp() before returning it.
//
// OpenSSL 3 deprecates the low-level SHA1_* calls in favour of EVP, but EVP
// has no midstate API: it cannot hash a stamp's constant prefix once and
// then finish many different final blocks from that saved state. Hence the
// suppression, in this file only; checking uses EVP (stamp.cc).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

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

// Sets the thread's two counter characters in `counter`.
void startCounter(unsigned thread, unsigned char* counter) {
  counter[0] = static_cast<unsigned char>(detail::kAlphabet[thread / 64]);
  counter[1] = static_cast<unsigned char>(detail::kAlphabet[thread % 64]);
}

// The next counter value, carrying into the step characters before the
// last one (the caller iterates over the last one). False after 2^54
// tries: never in practice.
bool stepCounter(unsigned (&digit)[kStepChars], unsigned char* counter) {
  size_t i = kStepChars - 1;
  while (i > 0) {
    --i;
    if (++digit[i] < 64) {
      counter[kThreadChars + i] = static_cast<unsigned char>(detail::kAlphabet[digit[i]]);
      return true;
    }
    digit[i] = 0;
    counter[kThreadChars + i] = static_cast<unsigned char>(detail::kAlphabet[0]);
  }
  return false;
}

// Every 1024 rounds of 64 tries: true when this thread is to stop (another
// found a stamp or the deadline passed), its tries then counted.
bool shouldStop(uint32_t round, uint64_t tries, Search& search) {
  if (round % 1024 != 0) return false;
  if (!search.stop.load(std::memory_order_relaxed) && Clock::now() < search.deadline) return false;
  search.stop.store(true, std::memory_order_relaxed);
  search.tries.fetch_add(tries, std::memory_order_relaxed);
  return true;
}

// The portable search: OpenSSL's SHA1_Transform, one try after the other.
// Searches the counters whose first two characters name `thread`.
void searchV1(const V1Job& job, unsigned thread, Search& search) {
  unsigned char block[64];
  std::memcpy(block, job.block, sizeof block);
  unsigned char* counter = block + job.counter_at;
  startCounter(thread, counter);
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
    if (!stepCounter(digit, counter)) {
      search.tries.fetch_add(tries, std::memory_order_relaxed);
      return;
    }
    if (shouldStop(round, tries, search)) return;
  }
}

#if defined(__x86_64__)
#define MTEP_POW_SHANI 1
// The SHA-NI code is compiled for those extensions whatever the build's
// flags, and only called after cpuHasShaNi().
#define MTEP_SHANI_TARGET __attribute__((target("sha,sse4.1,ssse3")))
#define MTEP_SHANI_INLINE __attribute__((target("sha,sse4.1,ssse3"), always_inline)) inline

// Tries computed together by one thread; a divisor of 64 (the last
// character's values). On the project's machine (doc/performance.md, issue
// 17) 4 lanes beat 3 and 2 by about 8 %, all three about 2.7 times one
// SHA1_Transform at a time.
constexpr size_t kMintLanes = 4;
static_assert(64 % kMintLanes == 0 && kMintLanes <= detail::kShaNiMaxLanes);

// Leading zero bits of the stamp whose last block is `block` (OpenSSL): the
// full check of a SHA-NI candidate.
int blockZeroBits(const V1Job& job, const unsigned char* block) {
  SHA_CTX ctx = job.mid;
  SHA1_Transform(&ctx, block);
  return stateZeroBits(ctx);
}

// The last two steps shared by the searches with lanes (SHA-NI, AVX-512).

// The try whose last counter character is kAlphabet[c] passed on h0:
// with more than 32 bits it is hashed again in full. True when it wins
// (the stamp is handed to `search`, tries counted up to it).
bool laneCandidateWins(const V1Job& job, unsigned char* block, size_t last_at,
                       const unsigned char* counter, size_t c, uint64_t tries, Search& search) {
  block[last_at] = static_cast<unsigned char>(detail::kAlphabet[c]);
  if (job.bits <= 32 || blockZeroBits(job, block) >= job.bits) {
    search.succeed(std::string(reinterpret_cast<const char*>(counter), kCounterWidth));
    search.tries.fetch_add(tries + c + 1, std::memory_order_relaxed);
    return true;
  }
  block[last_at] = 0;
  return false;
}

// After a round of 64 tries: counts them and steps the counter. False when
// the thread is to stop (counters used up, another thread won, deadline).
bool nextLaneRound(uint32_t round, uint64_t& tries, unsigned (&digit)[kStepChars],
                   unsigned char* counter, Search& search) {
  tries += 64;
  if (!stepCounter(digit, counter)) {
    search.tries.fetch_add(tries, std::memory_order_relaxed);
    return false;
  }
  return !shouldStop(round, tries, search);
}

// SHA-NI keeps SHA-1's state in two registers: A,B,C,D in one (A in the
// top 32-bit element), E in the top element of another; a message
// register holds four schedule words, the first in the top element.

// 16 message bytes as four big-endian words, the first in the top element.
MTEP_SHANI_INLINE __m128i shaNiLoad(const unsigned char* p) {
  const __m128i reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), reverse);
}

// Rounds 4G..4G+3 of every lane, the lanes one after the other so that
// their SHA1RNDS4 chains overlap. w[l][G % 4] holds schedule words
// 4G-16..4G-13 on entry (for G >= 4) and 4G..4G+3 after; `before` gets
// each lane's A..D from before these rounds (the next group's E).
template <int G, size_t N>
MTEP_SHANI_INLINE void shaNiGroup(__m128i (&abcd)[N], __m128i (&before)[N], __m128i (&w)[N][4],
                                  const __m128i (&e_in)[N]) {
#pragma GCC unroll 4
  for (size_t l = 0; l < N; ++l) {
    if constexpr (G >= 4) {
      // W[i] = rol1(W[i-3] ^ W[i-8] ^ W[i-14] ^ W[i-16]), four at a time:
      // SHA1MSG1 xors W[i-16] with W[i-14], the xor adds W[i-8] and
      // SHA1MSG2 adds W[i-3] (computing W[i+3] from the fresh W[i]) and
      // rotates.
      const __m128i t =
          _mm_xor_si128(_mm_sha1msg1_epu32(w[l][G % 4], w[l][(G + 1) % 4]), w[l][(G + 2) % 4]);
      w[l][G % 4] = _mm_sha1msg2_epu32(t, w[l][(G + 3) % 4]);
    }
    // E (the rotated A of four rounds back; the midstate's E at first)
    // added to the first of the group's words.
    const __m128i e_w =
        G == 0 ? _mm_add_epi32(e_in[l], w[l][0]) : _mm_sha1nexte_epu32(before[l], w[l][G % 4]);
    before[l] = abcd[l];
    abcd[l] = _mm_sha1rnds4_epu32(abcd[l], e_w, G / 5);
  }
}

template <size_t N, int... G>
MTEP_SHANI_INLINE void shaNiAllGroups(std::integer_sequence<int, G...>, __m128i (&abcd)[N],
                                      __m128i (&before)[N], __m128i (&w)[N][4],
                                      const __m128i (&e_in)[N]) {
  (shaNiGroup<G>(abcd, before, w, e_in), ...);
}

// N SHA-1 compressions side by side: lane l starts from abcd[l], e[l]
// (the layout above) with its block in w[l] (as shaNiLoad gives it; used
// up) and ends with the new state in abcd[l], e[l].
template <size_t N>
MTEP_SHANI_INLINE void shaNiCompressLanes(__m128i (&abcd)[N], __m128i (&e)[N], __m128i (&w)[N][4]) {
  __m128i start[N], before[N];
#pragma GCC unroll 4
  for (size_t l = 0; l < N; ++l) start[l] = before[l] = abcd[l];
  shaNiAllGroups(std::make_integer_sequence<int, 20>{}, abcd, before, w, e);
#pragma GCC unroll 4
  for (size_t l = 0; l < N; ++l) {
    // E after round 79 is A after round 75, rotated: the last group's
    // `before`; SHA1NEXTE rotates it and adds the starting E.
    e[l] = _mm_sha1nexte_epu32(before[l], e[l]);
    abcd[l] = _mm_add_epi32(abcd[l], start[l]);
  }
}

template <size_t N>
MTEP_SHANI_TARGET void shaNiCompressState(uint32_t (*state)[5], const unsigned char (*blocks)[64]) {
  __m128i abcd[N], e[N], w[N][4];
  for (size_t l = 0; l < N; ++l) {
    abcd[l] = _mm_set_epi32(static_cast<int>(state[l][0]), static_cast<int>(state[l][1]),
                            static_cast<int>(state[l][2]), static_cast<int>(state[l][3]));
    e[l] = _mm_set_epi32(static_cast<int>(state[l][4]), 0, 0, 0);
    for (size_t k = 0; k < 4; ++k) w[l][k] = shaNiLoad(blocks[l] + 16 * k);
  }
  shaNiCompressLanes(abcd, e, w);
  for (size_t l = 0; l < N; ++l) {
    state[l][0] = static_cast<uint32_t>(_mm_extract_epi32(abcd[l], 3));
    state[l][1] = static_cast<uint32_t>(_mm_extract_epi32(abcd[l], 2));
    state[l][2] = static_cast<uint32_t>(_mm_extract_epi32(abcd[l], 1));
    state[l][3] = static_cast<uint32_t>(_mm_extract_epi32(abcd[l], 0));
    state[l][4] = static_cast<uint32_t>(_mm_extract_epi32(e[l], 3));
  }
}

// searchV1 with SHA-NI, N tries at a time: the same counters in the same
// order, the same success test and the same tries counted (up to the
// first success in counter order). Lane l of a step takes the last
// counter character c + l; the last block's other bytes are shared, and
// so are the message registers that do not hold that character.
template <size_t N>
MTEP_SHANI_TARGET void searchV1ShaNi(const V1Job& job, unsigned thread, Search& search) {
  unsigned char block[64];
  std::memcpy(block, job.block, sizeof block);
  unsigned char* counter = block + job.counter_at;
  startCounter(thread, counter);
  unsigned digit[kStepChars] = {};
  const size_t last_at = job.counter_at + kCounterWidth - 1;
  // The block holds 0 at the last character; each lane ORs its own in,
  // from this table of the 64 characters as message registers.
  block[last_at] = 0;
  __m128i last_bits[64][4];
  for (unsigned c = 0; c < 64; ++c) {
    unsigned char only[64] = {};
    only[last_at] = static_cast<unsigned char>(detail::kAlphabet[c]);
    for (size_t k = 0; k < 4; ++k) last_bits[c][k] = shaNiLoad(only + 16 * k);
  }
  const bool one_word = job.bits <= 32;
  const uint64_t limit = one_word ? (uint64_t{1} << (32 - job.bits)) : 0;
  const __m128i mid_abcd =
      _mm_set_epi32(static_cast<int>(job.mid.h0), static_cast<int>(job.mid.h1),
                    static_cast<int>(job.mid.h2), static_cast<int>(job.mid.h3));
  const __m128i mid_e = _mm_set_epi32(static_cast<int>(job.mid.h4), 0, 0, 0);
  uint64_t tries = 0;
  for (uint32_t round = 1;; ++round) {
    __m128i base[4];
    for (size_t k = 0; k < 4; ++k) base[k] = shaNiLoad(block + 16 * k);
    for (unsigned c = 0; c < 64; c += N) {
      __m128i abcd[N], e[N], w[N][4];
#pragma GCC unroll 4
      for (size_t l = 0; l < N; ++l) {
        abcd[l] = mid_abcd;
        e[l] = mid_e;
#pragma GCC unroll 4
        for (size_t k = 0; k < 4; ++k) w[l][k] = _mm_or_si128(base[k], last_bits[c + l][k]);
      }
      shaNiCompressLanes(abcd, e, w);
#pragma GCC unroll 4
      for (size_t l = 0; l < N; ++l) {
        // h0 decides up to 32 bits; beyond, h0 = 0 makes a candidate that
        // the portable code hashes again in full.
        const auto h0 = static_cast<uint32_t>(_mm_extract_epi32(abcd[l], 3));
        if ((one_word ? h0 < limit : h0 == 0) &&
            laneCandidateWins(job, block, last_at, counter, c + l, tries, search)) {
          return;
        }
      }
    }
    if (!nextLaneRound(round, tries, digit, counter, search)) return;
  }
}

// ---- AVX-512: 16 tries in the lanes of one vector ---------------------------

// The SHA-NI chains are latency-bound on some CPUs and throughput-bound on
// others (one SHA1RNDS4 at a time on the Intel Xeon of doc/performance.md:
// four lanes no faster than one). With AVX-512F the rounds are plain
// 32-bit vector operations: each of the 16 lanes of a zmm register holds
// one try's word, the rotations are VPROLD, the three round functions one
// VPTERNLOGD each. The code is compiled for "avx512f" by function
// attribute and only called after cpuHasAvx512().
#define MTEP_AVX512_TARGET __attribute__((target("avx512f")))
#define MTEP_AVX512_INLINE __attribute__((target("avx512f"), always_inline)) inline

using detail::kAvx512Lanes;
static_assert(64 % kAvx512Lanes == 0);

// Rotation left by N (the zero-masked form: GCC 12's unmasked one reads an
// "undefined" vector that -Wuninitialized reports).
template <int N>
MTEP_AVX512_INLINE __m512i avx512Rol(__m512i x) {
  return _mm512_maskz_rol_epi32(__mmask16{0xffff}, x, N);
}

// Rounds T0..T0+19 (one of SHA-1's four stages; IMM is its function as a
// VPTERNLOGD truth table: 0xCA choose, 0x96 parity, 0xE8 majority).
template <int T0, int IMM>
MTEP_AVX512_INLINE void avx512Stage(__m512i& a, __m512i& b, __m512i& c, __m512i& d, __m512i& e,
                                    __m512i (&w)[16], uint32_t k) {
  const __m512i kv = _mm512_set1_epi32(static_cast<int>(k));
#pragma GCC unroll 20
  for (int t = T0; t < T0 + 20; ++t) {
    if (t >= 16) {
      // W[t] = rol1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]); W[t-16] is w[t % 16].
      const __m512i x = _mm512_ternarylogic_epi32(w[(t - 3) & 15], w[(t - 8) & 15],
                                                  w[(t - 14) & 15], 0x96);
      w[t & 15] = avx512Rol<1>(_mm512_xor_si512(x, w[t & 15]));
    }
    const __m512i f = _mm512_ternarylogic_epi32(b, c, d, IMM);
    const __m512i sum = _mm512_add_epi32(_mm512_add_epi32(avx512Rol<5>(a), f),
                                         _mm512_add_epi32(_mm512_add_epi32(e, kv), w[t & 15]));
    e = d;
    d = c;
    c = avx512Rol<30>(b);
    b = a;
    a = sum;
  }
}

// 16 SHA-1 compressions side by side: h[0..4] hold the lanes' chaining
// words and get the new ones; w[0..15] the lanes' message words (used up).
MTEP_AVX512_INLINE void avx512Compress(__m512i (&h)[5], __m512i (&w)[16]) {
  __m512i a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  avx512Stage<0, 0xCA>(a, b, c, d, e, w, 0x5a827999);
  avx512Stage<20, 0x96>(a, b, c, d, e, w, 0x6ed9eba1);
  avx512Stage<40, 0xE8>(a, b, c, d, e, w, 0x8f1bbcdc);
  avx512Stage<60, 0x96>(a, b, c, d, e, w, 0xca62c1d6);
  h[0] = _mm512_add_epi32(h[0], a);
  h[1] = _mm512_add_epi32(h[1], b);
  h[2] = _mm512_add_epi32(h[2], c);
  h[3] = _mm512_add_epi32(h[3], d);
  h[4] = _mm512_add_epi32(h[4], e);
}

uint32_t bigEndianWord(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

MTEP_AVX512_TARGET void avx512CompressState(uint32_t (*state)[5],
                                            const unsigned char (*blocks)[64]) {
  alignas(64) uint32_t lanes[16][kAvx512Lanes];
  __m512i h[5], w[16];
  for (size_t i = 0; i < 5; ++i) {
    for (size_t l = 0; l < kAvx512Lanes; ++l) lanes[i][l] = state[l][i];
    h[i] = _mm512_load_si512(lanes[i]);
  }
  for (size_t k = 0; k < 16; ++k) {
    for (size_t l = 0; l < kAvx512Lanes; ++l) lanes[k][l] = bigEndianWord(blocks[l] + 4 * k);
    w[k] = _mm512_load_si512(lanes[k]);
  }
  avx512Compress(h, w);
  for (size_t i = 0; i < 5; ++i) {
    _mm512_store_si512(lanes[i], h[i]);
    for (size_t l = 0; l < kAvx512Lanes; ++l) state[l][i] = lanes[i][l];
  }
}

// searchV1 with AVX-512, 16 tries at a time: the same counters in the
// same order, the same success test and the same tries counted. Lane l of
// a step takes the last counter character c + l; the other message words
// are the same in every lane.
MTEP_AVX512_TARGET void searchV1Avx512(const V1Job& job, unsigned thread, Search& search) {
  unsigned char block[64];
  std::memcpy(block, job.block, sizeof block);
  unsigned char* counter = block + job.counter_at;
  startCounter(thread, counter);
  unsigned digit[kStepChars] = {};
  const size_t last_at = job.counter_at + kCounterWidth - 1;
  const size_t last_word = last_at / 4;
  const unsigned last_shift = 8 * (3 - static_cast<unsigned>(last_at % 4));
  block[last_at] = 0;
  // The last character of each lane, for each of the 4 steps of a round,
  // in place in its message word.
  __m512i last_bits[64 / kAvx512Lanes];
  for (size_t step = 0; step < 64 / kAvx512Lanes; ++step) {
    alignas(64) uint32_t v[kAvx512Lanes];
    for (size_t l = 0; l < kAvx512Lanes; ++l) {
      v[l] = uint32_t{static_cast<unsigned char>(detail::kAlphabet[step * kAvx512Lanes + l])}
             << last_shift;
    }
    last_bits[step] = _mm512_load_si512(v);
  }
  const uint32_t mid[5] = {job.mid.h0, job.mid.h1, job.mid.h2, job.mid.h3, job.mid.h4};
  const bool one_word = job.bits <= 32;
  const bool any = job.bits == 0;  // every h0 passes
  const __m512i limit = _mm512_set1_epi32(
      one_word && !any ? static_cast<int>(static_cast<uint32_t>(uint64_t{1} << (32 - job.bits)))
                       : 0);
  uint64_t tries = 0;
  for (uint32_t round = 1;; ++round) {
    __m512i base[16];
    for (size_t k = 0; k < 16; ++k) {
      base[k] = _mm512_set1_epi32(static_cast<int>(bigEndianWord(block + 4 * k)));
    }
    for (size_t step = 0; step < 64 / kAvx512Lanes; ++step) {
      __m512i h[5], w[16];
      for (size_t i = 0; i < 5; ++i) h[i] = _mm512_set1_epi32(static_cast<int>(mid[i]));
      for (size_t k = 0; k < 16; ++k) w[k] = base[k];
      w[last_word] = _mm512_or_si512(base[last_word], last_bits[step]);
      avx512Compress(h, w);
      // h0 decides up to 32 bits; beyond, h0 = 0 makes a candidate that the
      // portable code hashes again in full. Lanes in order: counter order.
      __mmask16 hit = any ? __mmask16{0xffff}
                          : one_word ? _mm512_cmplt_epu32_mask(h[0], limit)
                                     : _mm512_cmpeq_epi32_mask(h[0], _mm512_setzero_si512());
      while (hit != 0) {
        const unsigned l = static_cast<unsigned>(std::countr_zero(static_cast<unsigned>(hit)));
        hit = static_cast<__mmask16>(hit & (hit - 1));
        if (laneCandidateWins(job, block, last_at, counter, step * kAvx512Lanes + l, tries,
                              search)) {
          return;
        }
      }
    }
    if (!nextLaneRound(round, tries, digit, counter, search)) return;
  }
}
#endif  // __x86_64__

// ---- the path -------------------------------------------------------------

std::atomic<detail::Sha1Path> forced_path{detail::Sha1Path::kAuto};

// MTEP_POW_PORTABLE set to anything but "" or "0": the portable path.
bool portableWanted() {
  static const bool wanted = [] {
    const char* v = std::getenv("MTEP_POW_PORTABLE");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return wanted;
}

// MTEP_POW_NO_AVX512 set to anything but "" or "0": SHA-NI (when the CPU
// has it) even where AVX-512 would be taken; for measuring the two.
bool avx512Unwanted() {
  static const bool unwanted = [] {
    const char* v = std::getenv("MTEP_POW_NO_AVX512");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return unwanted;
}

using V1SearchFn = void (*)(const V1Job&, unsigned, Search&);

V1SearchFn v1Search() {
#if MTEP_POW_SHANI
  switch (detail::sha1PathInUse()) {
    case detail::Sha1Path::kShaNi:
      return &searchV1ShaNi<kMintLanes>;
    case detail::Sha1Path::kAvx512:
      return &searchV1Avx512;
    default:
      break;
  }
#endif
  return &searchV1;
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

namespace detail {

bool cpuHasShaNi() noexcept {
#if MTEP_POW_SHANI
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    // Leaf 1: ECX bit 9 SSSE3, bit 19 SSE4.1; leaf 7 subleaf 0: EBX bit 29 SHA.
    if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
    if ((c & (1u << 9)) == 0 || (c & (1u << 19)) == 0) return false;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
    return (b & (1u << 29)) != 0;
  }();
  return has;
#else
  return false;
#endif
}

bool cpuHasAvx512() noexcept {
#if MTEP_POW_SHANI
  // The compiler's check reads CPUID and whether the OS saves the zmm
  // registers (XGETBV).
  static const bool has = __builtin_cpu_supports("avx512f") != 0;
  return has;
#else
  return false;
#endif
}

bool forceSha1Path(Sha1Path path) noexcept {
  if (path == Sha1Path::kShaNi && !cpuHasShaNi()) return false;
  if (path == Sha1Path::kAvx512 && !cpuHasAvx512()) return false;
  forced_path.store(path, std::memory_order_relaxed);
  return true;
}

Sha1Path sha1PathInUse() noexcept {
  const Sha1Path forced = forced_path.load(std::memory_order_relaxed);
  if (forced != Sha1Path::kAuto) return forced;
  if (portableWanted()) return Sha1Path::kPortable;
  if (cpuHasAvx512() && !avx512Unwanted()) return Sha1Path::kAvx512;
  return cpuHasShaNi() ? Sha1Path::kShaNi : Sha1Path::kPortable;
}

bool avx512Compress(uint32_t (*state)[5], const unsigned char (*blocks)[64]) noexcept {
#if MTEP_POW_SHANI
  if (!cpuHasAvx512()) return false;
  avx512CompressState(state, blocks);
  return true;
#else
  (void)state;
  (void)blocks;
  return false;
#endif
}

bool shaNiCompress(size_t lanes, uint32_t (*state)[5], const unsigned char (*blocks)[64]) noexcept {
#if MTEP_POW_SHANI
  if (!cpuHasShaNi()) return false;
  switch (lanes) {
    case 1:
      shaNiCompressState<1>(state, blocks);
      return true;
    case 2:
      shaNiCompressState<2>(state, blocks);
      return true;
    case 3:
      shaNiCompressState<3>(state, blocks);
      return true;
    case 4:
      shaNiCompressState<4>(state, blocks);
      return true;
    default:
      return false;
  }
#else
  (void)lanes;
  (void)state;
  (void)blocks;
  return false;
#endif
}

}  // namespace detail

const char* hashcashMintPath() noexcept {
#if MTEP_POW_SHANI
  if (detail::sha1PathInUse() == detail::Sha1Path::kShaNi) {
    static const std::string text = "SHA-NI, " + std::to_string(kMintLanes) + " lanes";
    return text.c_str();
  }
  if (detail::sha1PathInUse() == detail::Sha1Path::kAvx512) {
    static const std::string text = "AVX-512, " + std::to_string(kAvx512Lanes) + " lanes";
    return text.c_str();
  }
#endif
  return "portable, OpenSSL SHA1_Transform";
}

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
    const V1SearchFn search_v1 = v1Search();
    runThreads(threads, [&](unsigned t) { search_v1(job, t, search); });
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
  const V1SearchFn search_v1 = v1Search();
  runThreads(threadCount(threads), [&](unsigned t) { search_v1(job, t, search); });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return seconds > 0 ? static_cast<double>(search.tries.load()) / seconds : 0;
}

}  // namespace mtep::pow
