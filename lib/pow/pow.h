#pragma once
// NAME
//   pow.h - proof-of-work stamps: hashcash v1 (SHA-1), MMTP's SHA-256
//   form, and Argon2id stamps; checking, minting, spending
// SUMMARY
//   auto s = pow::parseHashcash("1:20:261123:bob@beta.test::c2FsdA:0000QxU");
//   pow::StampPolicy policy = pow::policyFor(cfg, cfg.policyFor("beta.test"), now);
//   pow::CheckResult r = pow::checkStamp(text, "bob@beta.test", policy, now);
//   if (r.verdict == pow::Verdict::kValid) spent = pow::spend(store, r, text);
//   pow::MintOptions o; o.bits = 20; o.resource = "bob@beta.test"; o.now = now;
//   Result<pow::Minted> stamp = pow::mint(o);
// DESCRIPTION
//   Hashcash v1, exactly as the hashcash tool 1.22 writes and reads it:
//   "1:BITS:DATE:RESOURCE:EXT:RAND:COUNTER", DATE = YYMMDD[hhmm[ss]] (UTC;
//   also read, as the tool does: YY, YYMM, YYMMDDhh), RAND and COUNTER in
//   base64's alphabet plus '=' (COUNTER may also hold ':'),
//   headers "X-Hashcash:" (also read: "Hashcash:"), one stamp per
//   recipient. A stamp's value is the number of leading zero bits of the
//   SHA-1 of the whole stamp text; it is valid at BITS only if that number
//   is at least BITS (a stamp claiming more than it has is invalid, one
//   with more than it claims counts as what it claims).
//
//   Argon2id stamps (this project's, header "MTEP-Stamp:"):
//   "argon2id:1:m=KIB,t=T,p=P:BITS:DATE:RESOURCE:EXT:RAND:COUNTER": the
//   algorithm, the stamp format version (1), Argon2 v1.3 parameters, then
//   the hashcash fields. Hash = Argon2id(password = the whole stamp text,
//   salt = RAND (8..64 base64 characters), 32-byte output); value = its
//   leading zero bits. The parameters are checked against the policy's
//   bounds BEFORE any hashing: a stamp asking for 4 GiB is refused
//   without allocating anything.
//
//   MMTP's form (the gateway, later): "1:D:TS_MS:RESOURCE::COUNTER:" where
//   D is the number of leading zero HEX digits of the hex SHA-256 of the
//   token text; see checkMmtp().
//
//   Difficulty schedule (SMTorP: algorithm agility with an upgrade path):
//   each algorithm's required bits are the domain's base bits plus one for
//   every whole <algorithm>_raise_every elapsed since [pow] schedule_start;
//   the deprecated algorithm (SHA-1) rises faster than the preferred one.
//
//   Double spending: spend() records the stamp in the store (namespace
//   "pow", one namespace for every algorithm) until validity + grace past
//   its date; a second spend of the same stamp text is refused, unless
//   both spends name the same message (`owner`, see spend()).
//
//   Work done on the sender's behalf (checkAndSpend): at most
//   CheckLimits::candidates_per_recipient stamps are hashed for one
//   recipient, the Argon2id work of every stamp a message would have
//   hashed is added up before the first hash and the message refused when
//   it is over CheckLimits::max_argon2id_work, and each Argon2id hash
//   takes its memory from a MemoryBudget that concurrent checks share.
//
//   Nothing here does I/O except spend() (the store) and nothing throws on
//   hostile input. Errors are kInvalid (malformed input, with a reason that
//   never echoes more than 64 bytes of it) or kTemporary (store trouble,
//   minting out of budget).
// SEE ALSO
//   PROTOCOLS.md section 2 (not shipped), doc/pow.md, mtep.conf(5) [pow]

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "store/store.h"
#include "util/result.h"

namespace mtep::pow {

enum class Algorithm { kHashcashSha1, kArgon2id };
const char* algorithmName(Algorithm a) noexcept;  // "hashcash", "argon2id"

inline constexpr size_t kMaxStampSize = 1024;  // longer stamps are malformed
inline constexpr int kMaxBits = 160;           // a SHA-1 digest has no more

// The fields of a stamp, as written.
struct Stamp {
  Algorithm algorithm = Algorithm::kHashcashSha1;
  int bits = 0;           // claimed
  std::string date;       // YYMMDD[hhmm[ss]]
  int64_t time = 0;       // DATE as Unix seconds (UTC; YY is 20YY)
  std::string resource;
  std::string ext;
  std::string rand;
  std::string counter;
  // Argon2id only.
  uint32_t memory_kib = 0, time_cost = 0, lanes = 0;
};

// Syntax only: field count, digits, date, characters. kInvalid otherwise.
Result<Stamp> parseHashcash(std::string_view text);
Result<Stamp> parseArgon2id(std::string_view text);
// Either form, by its first field.
Result<Stamp> parseStamp(std::string_view text);

// Leading zero bits of SHA-1(text) (0..160).
int sha1LeadingZeroBits(std::string_view text);

// What one domain asks of stamps at one time (the schedule applied).
struct StampPolicy {
  int hashcash_bits = 20;
  int argon2id_bits = 4;
  int64_t validity = 28 * 86400;
  int64_t grace = 2 * 86400;
  uint32_t argon2id_min_memory = 1024, argon2id_max_memory = 65536;
  uint32_t argon2id_max_time = 4, argon2id_max_lanes = 4;
};
// The domain's base bits raised by the [pow] schedule at `now`.
StampPolicy policyFor(const config::PowConfig& pow, const config::DomainPolicy& domain,
                      int64_t now);
// Bits required of `algorithm` (what minting with mint_stamp_bits = 0 uses).
int requiredBits(const StampPolicy& policy, Algorithm algorithm);

enum class Verdict {
  kValid,
  kMalformed,     // not a stamp of a known form
  kWrongResource, // made for another address
  kTooWeak,       // claims fewer bits than required
  kFalseClaim,    // claims more bits than its hash has
  kExpired,       // dated before now - validity - grace
  kFuture,        // dated after now + grace
  kOutOfBounds,   // Argon2id parameters outside the policy's bounds
  kSpent,         // already spent (from spend())
  kTemporary,     // the store could not say (tempfail, never accept)
};
const char* verdictName(Verdict v) noexcept;  // "valid", "malformed", ...

struct CheckResult {
  Verdict verdict = Verdict::kMalformed;
  Algorithm algorithm = Algorithm::kHashcashSha1;
  int bits = 0;             // the stamp's value when valid
  int64_t expires_at = 0;   // when a spend record may be forgotten
  std::string reason;       // one line for logs and replies, "" when valid
};

// Everything but spending. Resource compared ASCII case-insensitively.
// The order of checks is cheapest first: syntax, resource, date, claimed
// bits, Argon2 bounds, and only then the hash.
CheckResult checkStamp(std::string_view text, std::string_view resource,
                       const StampPolicy& policy, int64_t now);

// Records a valid stamp as spent: kValid the first time, kSpent after,
// kTemporary when the store fails. With an `owner` (the identity of the
// message the stamp came with, e.g. a hex digest; "" = none) a later
// spend naming the same owner is kValid too: the sender retrying a message
// that was refused after its stamp was recorded is not refused as a
// double spend, while any other message with that stamp is. The owner is
// kept in the store's values (namespace "pow-owner", key = the stamp)
// after the record is made; a record without one (spent by a caller that
// named none, or the owner could not be written) is spent for everyone.
// The same message passes again at most kMaxRespends times (a replay of
// one whole message is bounded too).
inline constexpr uint64_t kMaxRespends = 5;
Verdict spend(store::Store& store, const CheckResult& checked, std::string_view text,
              std::string_view owner = {});

// Memory that concurrent Argon2id checks take together (KiB), shared by
// every thread checking stamps in one process. Thread-safe.
class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t capacity_kib) : capacity_(capacity_kib) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // A reload: takes effect for the next acquire().
  void setCapacity(uint64_t capacity_kib);
  // Takes `kib` once that much is free, waiting at most `wait_ms`; false
  // when the time ran out or `kib` is more than the whole capacity.
  bool acquire(uint64_t kib, int64_t wait_ms);
  void release(uint64_t kib);

  uint64_t capacity() const;
  uint64_t inUse() const;
  uint64_t peak() const;  // the most ever in use at once

 private:
  mutable std::mutex mu_;        // guards the three below
  std::condition_variable freed_;
  uint64_t capacity_;            // guarded by mu_
  uint64_t used_ = 0;            // guarded by mu_
  uint64_t peak_ = 0;            // guarded by mu_
};

// What checkAndSpend() may do for one message.
struct CheckLimits {
  size_t max_stamps = 200;              // stamps looked at, in order; the rest ignored
  size_t candidates_per_recipient = 2;  // stamps hashed for one recipient, at most
  uint64_t max_argon2id_work = 1048576; // KiB x passes of every Argon2id stamp hashed
                                        // for the message together; over: refused unhashed
  MemoryBudget* memory = nullptr;       // Argon2id hashes take m KiB from it; null: unbounded
  int64_t memory_wait_ms = 60000;       // longest wait for memory; then kTemporary
};
// [pow] max_stamps, argon2id_max_message_work and kMemoryWaitMs, with `memory`.
inline constexpr int64_t kMemoryWaitMs = 60000;
CheckLimits checkLimits(const config::PowConfig& pow, MemoryBudget* memory);

// What checkAndSpend() hashed (tests, logs).
struct CheckStats {
  uint64_t sha1 = 0;           // SHA-1 hashes
  uint64_t argon2id = 0;       // Argon2id hashes
  uint64_t argon2id_work = 0;  // their KiB x passes
};

// One message: for each recipient, find among `stamps` one valid for it
// (resource = the address) and spend it. All are checked before any is
// spent, so a message refused for one recipient does not burn the others'
// stamps: nothing is spent unless every recipient has a valid stamp, and
// nothing at all when `store` is null (check only). At most
// limits.max_stamps stamps are looked at. For each recipient the stamps
// naming it pass the checks that cost no hash (syntax, date, claimed bits,
// Argon2id bounds) in order, and only the first
// limits.candidates_per_recipient that pass are hashed, each at most once;
// a recipient's search stops at its first valid stamp. Before the first
// hash the Argon2id work (m x t) of every stamp that may be hashed is
// added up: over limits.max_argon2id_work, nothing is hashed and every
// recipient with such a stamp gets kOutOfBounds ("the message's argon2id
// stamps need ..."). Each Argon2id hash first takes m KiB from
// limits.memory (kTemporary when none frees up within memory_wait_ms).
// Recipients equal but for ASCII case share one stamp and one result. A
// recipient without any stamp naming it gets kWrongResource ("no stamp for
// ..."), or kMalformed ("no stamp") when the message has none at all. If a
// stamp turns out spent while spending, that recipient gets kSpent (stamps
// already recorded for earlier recipients stay spent). `owner` is passed
// to spend(). Each recipient is judged by its own policy.
struct RecipientResult {
  std::string recipient;
  CheckResult result;  // the best verdict among the stamps for it
  std::string stamp;   // the stamp that verdict is about ("" when none)
};
struct RecipientPolicy {
  std::string recipient;
  StampPolicy policy;
};
std::vector<RecipientResult> checkAndSpend(const std::vector<RecipientPolicy>& recipients,
                                           const std::vector<std::string>& stamps,
                                           store::Store* store, int64_t now,
                                           const CheckLimits& limits, std::string_view owner = {},
                                           CheckStats* stats = nullptr);
// The spending half of checkAndSpend(), for callers that check without a
// store (store = null) and spend later, elsewhere: when every result is
// kValid, spends each one's stamp with `owner` and turns a failed spend
// into kSpent or kTemporary as checkAndSpend() does; otherwise does
// nothing. Duplicate recipients (equal but for ASCII case) spend once.
void spendResults(store::Store& store, std::vector<RecipientResult>& results,
                  std::string_view owner = {});
// The same with one policy for every recipient and default limits but
// max_stamps.
std::vector<RecipientResult> checkAndSpend(const std::vector<std::string>& recipients,
                                           const std::vector<std::string>& stamps,
                                           const StampPolicy& policy, store::Store* store,
                                           int64_t now, size_t max_stamps);

// Minting.
// The v1 stamp is "1:BITS:YYMMDD:RESOURCE:EXT:RAND:COUNTER" with RAND 16 or
// more random base64 characters (its length puts COUNTER in SHA-1's last
// block) and COUNTER 11 base64 characters, the first two naming the thread.
// Errors: kInvalid (bits outside 0..160, RESOURCE empty or holding ':' or a
// control character, a time outside 2000..2099, Argon2id t < 1, p < 1 or
// m < 8*p KiB), kTemporary (budget_ms ran out). Every stamp returned has
// passed checkStamp().
struct MintOptions {
  Algorithm algorithm = Algorithm::kHashcashSha1;
  int bits = 20;
  std::string resource;
  int64_t now = 0;                // DATE is written YYMMDD (the tool's default)
  std::string ext;                // "" normally
  unsigned threads = 0;           // 0 = every core
  int64_t budget_ms = 30000;      // give up (kTemporary) after this long
  uint32_t memory_kib = 4096, time_cost = 1, lanes = 1;  // Argon2id
};
struct Minted {
  std::string stamp;
  uint64_t tries = 0;  // hashes computed, all threads
};
Result<Minted> mint(const MintOptions& options);

// Tries per second of the hashcash v1 inner loop on this many threads (0 =
// every core) for about `ms` milliseconds of wall time (for benchmarks and
// `mtepctl hashcash speed`).
double hashcashTriesPerSecond(unsigned threads, int64_t ms);
// How this process mints hashcash v1 ("AVX-512, 16 lanes", "SHA-NI, 4
// lanes" or "portable, OpenSSL SHA1_Transform"): AVX-512 when the CPU and
// OS have AVX-512F, else SHA-NI when the CPU has the SHA extensions; the
// environment's MTEP_POW_PORTABLE=1 makes it portable, MTEP_POW_NO_AVX512=1
// skips AVX-512.
const char* hashcashMintPath() noexcept;

// MMTP's SHA-256 token: "1:D:TS_MS:RESOURCE::COUNTER:"; valid when D is at
// least `difficulty`, the hex SHA-256 of the text starts with D zeros,
// RESOURCE is `resource` and TS_MS lies within the window around now_ms.
// RESOURCE may hold ':' (the seed's "SENDER:RECIPIENT"): COUNTER (decimal)
// is found from the right. Compared exactly. A valid result has bits = 4*D
// and expires_at = (TS_MS + window_ms) / 1000 + 1; `algorithm` means nothing
// here. mintMmtp counts COUNTER up from 0; difficulty 0..8 (kInvalid else).
CheckResult checkMmtp(std::string_view token, std::string_view resource, int difficulty,
                      int64_t now_ms, int64_t window_ms);
Result<std::string> mintMmtp(std::string_view resource, int difficulty, int64_t now_ms);

}  // namespace mtep::pow
