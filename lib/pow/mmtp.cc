// MMTP's SHA-256 hashcash token: "1:D:TS_MS:RESOURCE::COUNTER:", D leading
// zero hex digits of the hex SHA-256 of the token text.
#include <openssl/evp.h>

#include <algorithm>

#include "pow/internal.h"

namespace mtep::pow {

namespace {

constexpr int kMaxMmtpDigits = 64;  // a SHA-256 has 64 hex digits
constexpr int kMaxMintDigits = 8;   // 2^32 tries on average: the most we mint
constexpr uint64_t kMaxMintTries = uint64_t{1} << 36;

const EVP_MD* sha256Md() noexcept {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// Leading zero hex digits of SHA-256(text); -1 when hashing fails.
int zeroHexDigits(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const EVP_MD* sha256 = sha256Md();
  if (sha256 == nullptr || EVP_Digest(text.data(), text.size(), md, &len, sha256, nullptr) != 1) {
    return -1;
  }
  return detail::leadingZeroBits(md, len) / 4;
}

bool digitsOnly(std::string_view s, size_t max_len) {
  return !s.empty() && s.size() <= max_len &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

uint64_t toNumber(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
  return v;
}

bool isResourceText(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

CheckResult result(Verdict v, std::string reason) {
  CheckResult r;
  r.verdict = v;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

CheckResult checkMmtp(std::string_view token, std::string_view resource, int difficulty,
                      int64_t now_ms, int64_t window_ms) {
  if (token.size() > kMaxStampSize) return result(Verdict::kMalformed, "malformed token: too long");
  // 1:D:TS_MS: ... ::COUNTER:  (RESOURCE may itself hold ':', so the counter
  // is found from the right).
  std::string_view rest = token;
  if (!rest.starts_with("1:")) return result(Verdict::kMalformed, "malformed token: not 1:...");
  rest.remove_prefix(2);
  size_t colon = rest.find(':');
  const std::string_view d = rest.substr(0, colon);
  if (colon == std::string_view::npos || !digitsOnly(d, 2) || toNumber(d) > kMaxMmtpDigits) {
    return result(Verdict::kMalformed, "malformed token: difficulty");
  }
  rest.remove_prefix(colon + 1);
  colon = rest.find(':');
  const std::string_view ts = rest.substr(0, colon);
  if (colon == std::string_view::npos || !digitsOnly(ts, 16)) {
    return result(Verdict::kMalformed, "malformed token: timestamp");
  }
  rest.remove_prefix(colon + 1);
  if (!rest.ends_with(':')) return result(Verdict::kMalformed, "malformed token: no final ':'");
  rest.remove_suffix(1);
  const size_t sep = rest.rfind("::");
  const std::string_view counter = sep == std::string_view::npos ? "" : rest.substr(sep + 2);
  if (!digitsOnly(counter, 20)) return result(Verdict::kMalformed, "malformed token: counter");
  const std::string_view res = rest.substr(0, sep);
  if (!isResourceText(res)) return result(Verdict::kMalformed, "malformed token: resource");

  if (res != resource) {
    return result(Verdict::kWrongResource,
                  "token is for " + detail::quote(res) + ", not " + detail::quote(resource));
  }
  const auto ts_ms = static_cast<int64_t>(toNumber(ts));
  if (ts_ms < now_ms - window_ms) {
    return result(Verdict::kExpired, "token timestamp " + std::string(ts) + " too old");
  }
  if (ts_ms > now_ms + window_ms) {
    return result(Verdict::kFuture, "token timestamp " + std::string(ts) + " in the future");
  }
  const int claimed = static_cast<int>(toNumber(d));
  if (claimed < difficulty) {
    return result(Verdict::kTooWeak, "token difficulty " + std::to_string(claimed) + ", " +
                                         std::to_string(difficulty) + " required");
  }
  const int value = zeroHexDigits(token);
  if (value < 0) return result(Verdict::kTemporary, "cannot hash (no SHA-256)");
  if (value < claimed) {
    return result(Verdict::kFalseClaim, "token claims " + std::to_string(claimed) +
                                            " zero hex digits but has " + std::to_string(value));
  }
  CheckResult r = result(Verdict::kValid, "");
  r.bits = claimed * 4;
  r.expires_at = (ts_ms + window_ms) / 1000 + 1;
  return r;
}

Result<std::string> mintMmtp(std::string_view resource, int difficulty, int64_t now_ms) {
  if (difficulty < 0 || difficulty > kMaxMintDigits) {
    return Error(ErrorKind::kInvalid, "MMTP difficulty must be 0..8");
  }
  if (!isResourceText(resource) || now_ms < 0) {
    return Error(ErrorKind::kInvalid, "MMTP resource must be printable text, time positive");
  }
  const std::string prefix = "1:" + std::to_string(difficulty) + ":" + std::to_string(now_ms) +
                             ":" + std::string(resource) + "::";
  if (prefix.size() + 21 > kMaxStampSize) return Error(ErrorKind::kInvalid, "resource too long");
  std::string token;
  for (uint64_t counter = 0; counter < kMaxMintTries; ++counter) {
    token = prefix + std::to_string(counter) + ":";
    const int value = zeroHexDigits(token);
    if (value < 0) return Error(ErrorKind::kInternal, "no SHA-256");
    if (value >= difficulty) return token;
  }
  return Error(ErrorKind::kTemporary, "no MMTP token found");
}

}  // namespace mtep::pow
