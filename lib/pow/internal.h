#pragma once
// NAME
//   internal.h - what the lib/pow sources share and nobody else uses
// DESCRIPTION
//   The stamp alphabet, a zero-copy view of a parsed stamp, UTC dates both
//   ways, leading-zero counting, the one Argon2id call and the quoting of
//   hostile text in reasons; the switch between the two hashcash v1
//   minting paths and the SHA-NI lanes, for tests. Not installed, not for
//   other modules.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pow/pow.h"

namespace mtep::pow::detail {

// RAND and COUNTER characters, as the hashcash tool writes them (base64's
// alphabet; the tool also reads '=' and, in COUNTER, ':').
inline constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static_assert(sizeof kAlphabet == 65);

// A stamp's fields as views into the text it was parsed from.
struct StampView {
  Algorithm algorithm = Algorithm::kHashcashSha1;
  int bits = 0;
  std::string_view date;
  int64_t time = 0;
  std::string_view resource, ext, rand, counter;
  uint32_t memory_kib = 0, time_cost = 0, lanes = 0;
};

// Syntax only; on failure `why` says what is wrong (never quoting input).
bool parseView(std::string_view text, StampView& out, const char*& why) noexcept;

// "YYMMDD[hh[mm[ss]]]" or "YY[MM]" (the forms the hashcash tool reads),
// as Unix seconds, YY meaning 20YY. False when malformed or out of range.
bool parseDate(std::string_view date, int64_t& out) noexcept;
// YYMMDD of a Unix time (UTC); false outside 2000..2099.
bool formatDate(int64_t unix_seconds, std::string& out);

// Leading zero bits of a big-endian byte string.
int leadingZeroBits(const unsigned char* p, size_t n) noexcept;

// Argon2id v1.3 of `password` with `salt`, 32 bytes out; false when libargon2
// refuses (it allocates memory_kib KiB: callers check bounds first).
bool argon2idHash(std::string_view password, std::string_view salt, uint32_t memory_kib,
                  uint32_t time_cost, uint32_t lanes, unsigned char out[32]) noexcept;

// At most 64 bytes of hostile text, non-printable bytes shown as '?', in
// double quotes: safe in a log line or an SMTP reply.
std::string quote(std::string_view text);

// checkStamp() in two halves. precheck: everything but the hash; false
// with the final result in `out`, or true when only the hash is left
// (`view` holds the parsed stamp). hashCheck: the hash of a stamp that
// passed precheck(); an Argon2id hash first takes its memory from `memory`
// (null: none), waiting at most `wait_ms`.
bool precheck(std::string_view text, std::string_view resource, const StampPolicy& policy,
              int64_t now, StampView& view, CheckResult& out);
CheckResult hashCheck(std::string_view text, const StampView& view, const StampPolicy& policy,
                      MemoryBudget* memory, int64_t wait_ms);
// KiB x passes of one Argon2id hash of `view` (0 for hashcash).
uint64_t argon2idWork(const StampView& view) noexcept;

// Random characters from kAlphabet (OpenSSL's CSPRNG).
bool randomChars(size_t n, std::string& out);

// How hashcash v1 minting computes its SHA-1 compressions (mint.cc).
enum class Sha1Path {
  kAuto,      // AVX-512, else SHA-NI, when the CPU has it and MTEP_POW_PORTABLE is unset
  kPortable,  // OpenSSL's SHA1_Transform, one try at a time
  kShaNi,     // SHA-NI intrinsics, several tries at a time (mint.cc)
  kAvx512,    // AVX-512F, 16 tries in the lanes of one vector (mint.cc)
};
// True when this is an x86-64 CPU with the SHA extensions (CPUID leaf 7,
// EBX bit 29) and the build has the SHA-NI code.
bool cpuHasShaNi() noexcept;
// True when this is an x86-64 CPU with AVX-512F that the OS supports
// (zmm state saved) and the build has the AVX-512 code.
bool cpuHasAvx512() noexcept;
// Makes mint() and hashcashTriesPerSecond() use `path` (process-wide, for
// tests; not while a mint runs). kShaNi without cpuHasShaNi(), or kAvx512
// without cpuHasAvx512(), is refused: false, and nothing changes.
bool forceSha1Path(Sha1Path path) noexcept;
// The path minting takes now, never kAuto: MTEP_POW_PORTABLE set ->
// kPortable; else kAvx512 when the CPU has it and MTEP_POW_NO_AVX512 is
// unset; else kShaNi when it has that; else kPortable.
Sha1Path sha1PathInUse() noexcept;

// Lane counts shaNiCompress() takes (1..4); minting uses one of them.
inline constexpr size_t kShaNiMaxLanes = 4;
// SHA-1 compressions of `lanes` (1..kShaNiMaxLanes) independent blocks,
// interleaved, with the SHA-NI code minting uses: state[i] (h0..h4) is
// updated with blocks[i], exactly as SHA1_Transform would. False, and
// nothing changed, without cpuHasShaNi() or with another lane count.
bool shaNiCompress(size_t lanes, uint32_t (*state)[5], const unsigned char (*blocks)[64]) noexcept;

// Lanes avx512Compress() takes: always 16.
inline constexpr size_t kAvx512Lanes = 16;
// 16 SHA-1 compressions in the lanes of one vector, with the AVX-512 code
// minting uses: state[i] (h0..h4) is updated with blocks[i], exactly as
// SHA1_Transform would. False, and nothing changed, without cpuHasAvx512().
bool avx512Compress(uint32_t (*state)[5], const unsigned char (*blocks)[64]) noexcept;

}  // namespace mtep::pow::detail
