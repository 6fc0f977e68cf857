// Stamp syntax (hashcash v1 and Argon2id), dates, the schedule, and
// checkStamp(): everything but spending and minting.
#include <argon2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cstring>

#include "pow/internal.h"
#include "util/base64.h"

namespace mtep::pow {

namespace detail {
namespace {

bool isDigits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Decimal digits as a number no larger than `max`; no sign, at most 10 digits.
bool parseNumber(std::string_view s, uint64_t max, uint64_t& out) noexcept {
  if (!isDigits(s) || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
  if (v > max) return false;
  out = v;
  return true;
}

bool isAlphabetChar(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

// RESOURCE and EXT: anything but ':' and control characters (tab allowed,
// as the tool reads it); bytes >= 0x80 pass untouched.
bool isFieldText(std::string_view s) noexcept {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ':' || c == 0x7f || (c < 0x20 && c != '\t')) return false;
  }
  return true;
}

// Splits off the text before the next ':'; false when there is none.
bool nextField(std::string_view& rest, std::string_view& field) noexcept {
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return false;
  field = rest.substr(0, colon);
  rest.remove_prefix(colon + 1);
  return true;
}

int twoDigits(std::string_view s, size_t at) noexcept {
  return (s[at] - '0') * 10 + (s[at + 1] - '0');
}

// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days
// inverse; valid for every year this code sees).
int64_t daysFromCivil(int64_t y, int m, int d) noexcept {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int daysInMonth(int64_t y, int m) noexcept {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// The common tail of both forms: BITS:DATE:RESOURCE:EXT:RAND: then the
// counter (hashcash: the rest, ':' allowed; Argon2id: one field).
bool parseTail(std::string_view rest, bool counter_may_have_colons, StampView& out,
               const char*& why) noexcept {
  std::string_view bits, date, resource, ext, rand;
  if (!nextField(rest, bits) || !nextField(rest, date) || !nextField(rest, resource) ||
      !nextField(rest, ext) || !nextField(rest, rand)) {
    why = "too few fields";
    return false;
  }
  uint64_t b = 0;
  if (bits.size() > 3 || !parseNumber(bits, kMaxBits, b)) {
    why = "bits is not a number from 0 to 160";
    return false;
  }
  if (!parseDate(date, out.time)) {
    why = "date is not YYMMDD[hhmm[ss]]";
    return false;
  }
  if (resource.empty() || !isFieldText(resource)) {
    why = "bad resource";
    return false;
  }
  if (!isFieldText(ext)) {
    why = "bad extension field";
    return false;
  }
  if (!std::all_of(rand.begin(), rand.end(), isAlphabetChar)) {
    why = "bad characters in the random field";
    return false;
  }
  const std::string_view counter = rest;
  if (counter.empty()) {
    why = "no counter";
    return false;
  }
  for (char c : counter) {
    if (!isAlphabetChar(c) && !(c == ':' && counter_may_have_colons)) {
      why = "bad characters in the counter";
      return false;
    }
  }
  out.bits = static_cast<int>(b);
  out.date = date;
  out.resource = resource;
  out.ext = ext;
  out.rand = rand;
  out.counter = counter;
  return true;
}

bool parseArgon2Params(std::string_view p, StampView& out) noexcept {
  // m=KIB,t=T,p=P in this order.
  uint64_t m = 0, t = 0, l = 0;
  std::string_view f[3];
  for (int i = 0; i < 3; ++i) {
    const size_t comma = p.find(',');
    f[i] = p.substr(0, comma);
    p = comma == std::string_view::npos ? std::string_view() : p.substr(comma + 1);
    if (comma == std::string_view::npos && i < 2) return false;
  }
  if (!p.empty()) return false;
  if (!f[0].starts_with("m=") || !f[1].starts_with("t=") || !f[2].starts_with("p=")) return false;
  if (!parseNumber(f[0].substr(2), UINT32_MAX, m) || !parseNumber(f[1].substr(2), UINT32_MAX, t) ||
      !parseNumber(f[2].substr(2), UINT32_MAX, l)) {
    return false;
  }
  out.memory_kib = static_cast<uint32_t>(m);
  out.time_cost = static_cast<uint32_t>(t);
  out.lanes = static_cast<uint32_t>(l);
  return true;
}

const EVP_MD* sha1Md() noexcept {
  // Fetched once: EVP_get_digestbyname/implicit fetches on every call cost
  // more than the hash of a short stamp.
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md;
}

}  // namespace

bool parseDate(std::string_view date, int64_t& out) noexcept {
  const size_t n = date.size();
  if (n < 2 || n > 12 || n % 2 != 0 || !isDigits(date)) return false;
  const int64_t year = 2000 + twoDigits(date, 0);
  const int month = n >= 4 ? twoDigits(date, 2) : 1;
  const int day = n >= 6 ? twoDigits(date, 4) : 1;
  const int hour = n >= 8 ? twoDigits(date, 6) : 0;
  const int minute = n >= 10 ? twoDigits(date, 8) : 0;
  const int second = n >= 12 ? twoDigits(date, 10) : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  out = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return true;
}

bool formatDate(int64_t unix_seconds, std::string& out) {
  // 2000-01-01 .. 2099-12-31 (YY can say no more).
  if (unix_seconds < 946684800 || unix_seconds >= 4102444800) return false;
  int64_t z = unix_seconds / 86400 + 719468;
  const int64_t era = z / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  char buf[8];
  const int v[3] = {static_cast<int>(y % 100), static_cast<int>(m), static_cast<int>(d)};
  for (int i = 0; i < 3; ++i) {
    buf[2 * i] = static_cast<char>('0' + v[i] / 10);
    buf[2 * i + 1] = static_cast<char>('0' + v[i] % 10);
  }
  out.assign(buf, 6);
  return true;
}

bool parseView(std::string_view text, StampView& out, const char*& why) noexcept {
  if (text.empty()) {
    why = "empty";
    return false;
  }
  if (text.size() > kMaxStampSize) {
    why = "longer than 1024 bytes";
    return false;
  }
  std::string_view rest = text;
  std::string_view first;
  if (!nextField(rest, first)) {
    why = "not a stamp";
    return false;
  }
  if (first == "1") {
    out.algorithm = Algorithm::kHashcashSha1;
    out.memory_kib = out.time_cost = out.lanes = 0;
    return parseTail(rest, true, out, why);
  }
  if (first == "argon2id") {
    out.algorithm = Algorithm::kArgon2id;
    std::string_view version, params;
    if (!nextField(rest, version) || !nextField(rest, params)) {
      why = "too few fields";
      return false;
    }
    if (version != "1") {
      why = "unknown argon2id stamp version";
      return false;
    }
    if (!parseArgon2Params(params, out)) {
      why = "parameters are not m=KIB,t=T,p=P";
      return false;
    }
    if (!parseTail(rest, false, out, why)) return false;
    if (out.rand.size() < 8 || out.rand.size() > 64) {
      why = "argon2id salt (random field) is not 8..64 characters";
      return false;
    }
    return true;
  }
  why = isDigits(first) ? "unknown hashcash version (only 1 is read)" : "unknown stamp form";
  return false;
}

int leadingZeroBits(const unsigned char* p, size_t n) noexcept {
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return bits + std::countl_zero(p[i]);
    bits += 8;
  }
  return bits;
}

bool argon2idHash(std::string_view password, std::string_view salt, uint32_t memory_kib,
                  uint32_t time_cost, uint32_t lanes, unsigned char out[32]) noexcept {
  return argon2id_hash_raw(time_cost, memory_kib, lanes, password.data(), password.size(),
                           salt.data(), salt.size(), out, 32) == ARGON2_OK;
}

std::string quote(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out += c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? static_cast<char>(c) : '?';
  }
  out += text.size() > kMax ? "\"..." : "\"";
  return out;
}

bool randomChars(size_t n, std::string& out) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    return false;
  }
  out.resize(n);
  for (size_t i = 0; i < n; ++i) out[i] = kAlphabet[static_cast<unsigned char>(bytes[i]) & 63];
  return true;
}

}  // namespace detail

using detail::StampView;

const char* algorithmName(Algorithm a) noexcept {
  switch (a) {
    case Algorithm::kHashcashSha1:
      return "hashcash";
    case Algorithm::kArgon2id:
      return "argon2id";
  }
  return "unknown";
}

const char* verdictName(Verdict v) noexcept {
  switch (v) {
    case Verdict::kValid:
      return "valid";
    case Verdict::kMalformed:
      return "malformed";
    case Verdict::kWrongResource:
      return "wrong-resource";
    case Verdict::kTooWeak:
      return "too-weak";
    case Verdict::kFalseClaim:
      return "false-claim";
    case Verdict::kExpired:
      return "expired";
    case Verdict::kFuture:
      return "future";
    case Verdict::kOutOfBounds:
      return "out-of-bounds";
    case Verdict::kSpent:
      return "spent";
    case Verdict::kTemporary:
      return "temporary";
  }
  return "unknown";
}

namespace {

Stamp toStamp(const StampView& v) {
  Stamp s;
  s.algorithm = v.algorithm;
  s.bits = v.bits;
  s.date = std::string(v.date);
  s.time = v.time;
  s.resource = std::string(v.resource);
  s.ext = std::string(v.ext);
  s.rand = std::string(v.rand);
  s.counter = std::string(v.counter);
  s.memory_kib = v.memory_kib;
  s.time_cost = v.time_cost;
  s.lanes = v.lanes;
  return s;
}

Result<Stamp> parseAs(std::string_view text, const Algorithm* want) {
  StampView v;
  const char* why = "";
  if (!detail::parseView(text, v, why)) {
    return Error(ErrorKind::kInvalid, std::string("malformed stamp: ") + why);
  }
  if (want != nullptr && v.algorithm != *want) {
    return Error(ErrorKind::kInvalid,
                 std::string("malformed stamp: not a ") + algorithmName(*want) + " stamp");
  }
  return toStamp(v);
}

CheckResult verdict(Verdict v, const StampView& s, std::string reason) {
  CheckResult r;
  r.verdict = v;
  r.algorithm = s.algorithm;
  r.reason = std::move(reason);
  return r;
}

int64_t raises(int64_t start, int64_t every, int64_t now) {
  if (every <= 0 || now <= start) return 0;
  return (now - start) / every;
}

int clampBits(int64_t bits) { return static_cast<int>(std::clamp<int64_t>(bits, 0, kMaxBits)); }

}  // namespace

Result<Stamp> parseHashcash(std::string_view text) {
  const Algorithm a = Algorithm::kHashcashSha1;
  return parseAs(text, &a);
}

Result<Stamp> parseArgon2id(std::string_view text) {
  const Algorithm a = Algorithm::kArgon2id;
  return parseAs(text, &a);
}

Result<Stamp> parseStamp(std::string_view text) { return parseAs(text, nullptr); }

int sha1LeadingZeroBits(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const EVP_MD* sha1 = detail::sha1Md();
  if (sha1 == nullptr || EVP_Digest(text.data(), text.size(), md, &len, sha1, nullptr) != 1) {
    return 0;  // no SHA-1 (a FIPS-only provider): nothing counts as work
  }
  return detail::leadingZeroBits(md, len);
}

StampPolicy policyFor(const config::PowConfig& pow, const config::DomainPolicy& domain,
                      int64_t now) {
  StampPolicy p;
  p.hashcash_bits =
      clampBits(domain.stamp_bits + raises(pow.schedule_start, pow.hashcash_raise_every, now));
  p.argon2id_bits = clampBits(domain.argon2id_stamp_bits +
                              raises(pow.schedule_start, pow.argon2id_raise_every, now));
  p.validity = pow.validity;
  p.grace = pow.grace;
  p.argon2id_min_memory = pow.argon2id_min_memory;
  p.argon2id_max_memory = pow.argon2id_max_memory;
  p.argon2id_max_time = pow.argon2id_max_time;
  p.argon2id_max_lanes = pow.argon2id_max_lanes;
  return p;
}

int requiredBits(const StampPolicy& policy, Algorithm algorithm) {
  return algorithm == Algorithm::kArgon2id ? policy.argon2id_bits : policy.hashcash_bits;
}

namespace detail {

bool precheck(std::string_view text, std::string_view resource, const StampPolicy& policy,
              int64_t now, StampView& s, CheckResult& out) {
  const char* why = "";
  if (!detail::parseView(text, s, why)) {
    out = verdict(Verdict::kMalformed, s, std::string("malformed stamp: ") + why);
    return false;
  }
  if (!asciiIEquals(s.resource, resource)) {
    out = verdict(
        Verdict::kWrongResource, s,
        "stamp is for " + detail::quote(s.resource) + ", not " + detail::quote(resource));
    return false;
  }
  if (s.time < now - policy.validity - policy.grace) {
    out = verdict(Verdict::kExpired, s, "stamp dated " + std::string(s.date) + " has expired");
    return false;
  }
  if (s.time > now + policy.grace) {
    out = verdict(Verdict::kFuture, s, "stamp dated " + std::string(s.date) + " is in the future");
    return false;
  }
  const int required = requiredBits(policy, s.algorithm);
  if (s.bits < required) {
    out = verdict(Verdict::kTooWeak, s,
                  std::string(algorithmName(s.algorithm)) + " stamp of " + std::to_string(s.bits) +
                      " bits, " + std::to_string(required) + " required");
    return false;
  }
  // Argon2id bounds: nothing is allocated for a stamp outside them.
  if (s.algorithm == Algorithm::kArgon2id &&
      (s.memory_kib < policy.argon2id_min_memory || s.memory_kib > policy.argon2id_max_memory ||
       s.time_cost < 1 || s.time_cost > policy.argon2id_max_time || s.lanes < 1 ||
       s.lanes > policy.argon2id_max_lanes ||
       static_cast<uint64_t>(s.memory_kib) < 8ull * s.lanes)) {
    out = verdict(Verdict::kOutOfBounds, s,
                  "argon2id m=" + std::to_string(s.memory_kib) + ",t=" +
                      std::to_string(s.time_cost) + ",p=" + std::to_string(s.lanes) +
                      " outside m=" + std::to_string(policy.argon2id_min_memory) + ".." +
                      std::to_string(policy.argon2id_max_memory) + ",t=1.." +
                      std::to_string(policy.argon2id_max_time) + ",p=1.." +
                      std::to_string(policy.argon2id_max_lanes));
    return false;
  }
  return true;
}

uint64_t argon2idWork(const StampView& s) noexcept {
  if (s.algorithm != Algorithm::kArgon2id) return 0;
  return static_cast<uint64_t>(s.memory_kib) * s.time_cost;
}

CheckResult hashCheck(std::string_view text, const StampView& s, const StampPolicy& policy,
                      MemoryBudget* memory, int64_t wait_ms) {
  int value = 0;
  if (s.algorithm == Algorithm::kArgon2id) {
    if (memory != nullptr && !memory->acquire(s.memory_kib, wait_ms)) {
      return verdict(Verdict::kTemporary, s,
                     "argon2id: no memory free to check the stamp now (" +
                         std::to_string(s.memory_kib) + " KiB of " +
                         std::to_string(memory->capacity()) + " shared)");
    }
    unsigned char hash[32];
    const bool hashed =
        detail::argon2idHash(text, s.rand, s.memory_kib, s.time_cost, s.lanes, hash);
    if (memory != nullptr) memory->release(s.memory_kib);
    if (!hashed) return verdict(Verdict::kTemporary, s, "argon2id: cannot hash (out of memory?)");
    value = detail::leadingZeroBits(hash, sizeof hash);
  } else {
    value = sha1LeadingZeroBits(text);
  }
  if (value < s.bits) {
    return verdict(Verdict::kFalseClaim, s,
                   std::string(algorithmName(s.algorithm)) + " stamp claims " +
                       std::to_string(s.bits) + " bits but has " + std::to_string(value));
  }
  CheckResult r = verdict(Verdict::kValid, s, "");
  r.bits = s.bits;
  r.expires_at = s.time + policy.validity + policy.grace;
  return r;
}

}  // namespace detail

CheckResult checkStamp(std::string_view text, std::string_view resource, const StampPolicy& policy,
                       int64_t now) {
  StampView s;
  CheckResult out;
  if (!detail::precheck(text, resource, policy, now, s, out)) return out;
  return detail::hashCheck(text, s, policy, nullptr, 0);
}

// ---- MemoryBudget -----------------------------------------------------------

void MemoryBudget::setCapacity(uint64_t capacity_kib) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    capacity_ = capacity_kib;
  }
  freed_.notify_all();
}

bool MemoryBudget::acquire(uint64_t kib, int64_t wait_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (kib > capacity_) return false;
  const bool fits = freed_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait_ms, 0)),
                                    [&] { return kib <= capacity_ && used_ + kib <= capacity_; });
  if (!fits) return false;
  used_ += kib;
  peak_ = std::max(peak_, used_);
  return true;
}

void MemoryBudget::release(uint64_t kib) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    used_ -= std::min(used_, kib);
  }
  freed_.notify_all();
}

uint64_t MemoryBudget::capacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return capacity_;
}

uint64_t MemoryBudget::inUse() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

uint64_t MemoryBudget::peak() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

}  // namespace mtep::pow
