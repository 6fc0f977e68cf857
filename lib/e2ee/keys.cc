// Key derivation, AUTH HASHEDPASS hashes and verifiers, public key formats.
#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <optional>
#include <vector>

#include "e2ee/e2ee.h"
#include "e2ee/internal.h"
#include "util/base64.h"

namespace mtep::e2ee {
namespace {

using detail::PkeyPtr;
using detail::trimWsp;

constexpr std::string_view kSshType = "ssh-ed25519";
constexpr size_t kBlobSize = 4 + 11 + 4 + 32;

// Removes a leading "ed25519" algorithm identifier and the WSP after it.
std::string_view stripAlgorithm(std::string_view s) {
  if (s.size() > 7 && asciiIEquals(s.substr(0, 7), "ed25519") && (s[7] == ' ' || s[7] == '\t')) {
    return trimWsp(s.substr(8));
  }
  return s;
}

Status argon2(std::string_view password, std::string_view salt, const KdfParams& p,
              uint8_t out[32]) {
  if (password.size() > kMaxPassword) return Error(ErrorKind::kLimit, "password too long");
  if (p.time_cost < 1 || p.lanes < 1 || p.memory_kib < 8 * p.lanes) {
    return Error(ErrorKind::kInvalid, "argon2id needs t >= 1, p >= 1 and m >= 8*p KiB");
  }
  const int rc = argon2id_hash_raw(p.time_cost, p.memory_kib, p.lanes, password.data(),
                                   password.size(), salt.data(), salt.size(), out, 32);
  if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) {
    return Error(ErrorKind::kTemporary, "argon2id: out of memory");
  }
  if (rc != ARGON2_OK) {
    return Error(ErrorKind::kInternal, std::string("argon2id: ") + argon2_error_message(rc));
  }
  return okStatus();
}

std::optional<PublicKey> fromBlob(const std::vector<uint8_t>& b) {
  if (b.size() != kBlobSize) return std::nullopt;
  const uint8_t head[] = {0, 0, 0, 11};
  const uint8_t key_len[] = {0, 0, 0, 32};
  if (std::memcmp(b.data(), head, 4) != 0 ||
      std::memcmp(b.data() + 4, kSshType.data(), kSshType.size()) != 0 ||
      std::memcmp(b.data() + 15, key_len, 4) != 0) {
    return std::nullopt;
  }
  PublicKey k;
  std::memcpy(k.data(), b.data() + 19, 32);
  return k;
}

bool looksLikeOpensshBlob(const std::vector<uint8_t>& b) {
  return b.size() >= 15 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 11 &&
         std::memcmp(b.data() + 4, kSshType.data(), kSshType.size()) == 0;
}

bool printable(const std::vector<uint8_t>& b) {
  for (uint8_t c : b) {
    if ((c < 0x20 || c > 0x7e) && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return !b.empty();
}

Result<PublicKey> parseKeyText(std::string_view text, int depth) {
  text = stripAlgorithm(trimWsp(text));
  if (text.empty()) return Error(ErrorKind::kInvalid, "empty public key");
  if (text.size() > 12 && text.substr(0, 11) == kSshType && (text[11] == ' ' || text[11] == '\t')) {
    std::string_view rest = trimWsp(text.substr(12));
    const size_t end = rest.find_first_of(" \t");
    std::string_view b64 = rest.substr(0, end);  // what follows is a comment
    auto blob = base64Decode(b64, false);
    if (!blob) return Error(ErrorKind::kInvalid, "ssh-ed25519 key: the blob is not base64");
    auto k = fromBlob(*blob);
    if (!k) return Error(ErrorKind::kInvalid, "ssh-ed25519 key: not an ed25519 key blob");
    return *k;
  }
  if (text.find_first_of(" \t") != std::string_view::npos) {
    return Error(ErrorKind::kInvalid,
                 "public key: expected base64, \"ssh-ed25519 <blob>\" or \"ed25519 <key>\"");
  }
  auto bytes = base64Decode(text, false);
  if (!bytes) return Error(ErrorKind::kInvalid, "public key is not base64");
  if (bytes->size() == 32) {
    PublicKey k;
    std::memcpy(k.data(), bytes->data(), 32);
    return k;
  }
  if (looksLikeOpensshBlob(*bytes)) {
    auto k = fromBlob(*bytes);
    if (!k) return Error(ErrorKind::kInvalid, "OpenSSH blob: not a 32-byte ed25519 key");
    return *k;
  }
  if (depth == 0 && printable(*bytes)) {
    auto inner = parseKeyText(
        std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), 1);
    if (!inner) {
      return Error(ErrorKind::kInvalid, "double-encoded public key: " + inner.error().message());
    }
    return *inner;
  }
  return Error(ErrorKind::kInvalid, "public key: base64 of " + std::to_string(bytes->size()) +
                                        " bytes is neither a raw key (32) nor an OpenSSH blob");
}

}  // namespace

Result<KeyPair> keyPairFromSeed(const Seed& seed) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!pkey) return Error(ErrorKind::kInternal, "OpenSSL: cannot load an ed25519 seed");
  KeyPair kp;
  kp.seed = seed;
  size_t len = kp.pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), kp.pub.data(), &len) != 1 || len != 32) {
    return Error(ErrorKind::kInternal, "OpenSSL: cannot compute the ed25519 public key");
  }
  return kp;
}

Result<KeyPair> deriveKey(std::string_view password, std::string_view salt,
                          const KdfParams& params) {
  if (salt.size() < kMinSaltBytes || salt.size() > kMaxSaltBytes) {
    return Error(ErrorKind::kInvalid,
                 "salt must be 16..64 bytes, got " + std::to_string(salt.size()));
  }
  Seed seed;
  if (auto st = argon2(password, salt, params, seed.data()); !st) return std::move(st).error();
  auto kp = keyPairFromSeed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return kp;
}

Result<Hash> hashedPass(std::string_view username, std::string_view password,
                        const KdfParams& params) {
  if (username.empty() || username.size() > kMaxUsername) {
    return Error(ErrorKind::kInvalid, "username must be 1..256 bytes");
  }
  std::string input = "mtep-hashedpass:" + asciiLower(username);
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(input.data()), input.size(), digest);
  Hash h;
  const std::string_view salt(reinterpret_cast<const char*>(digest), 16);
  if (auto st = argon2(password, salt, params, h.data()); !st) return std::move(st).error();
  return h;
}

std::string formatHashedPassAuth(std::string_view username, const Hash& hash) {
  std::string payload;
  payload += '\0';
  payload += username;
  payload += '\0';
  payload += hexEncode(hash.data(), hash.size());
  return base64Encode(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), false,
                      true);
}

Result<HashedPassAuth> parseHashedPassAuth(std::string_view base64_payload) {
  base64_payload = trimWsp(base64_payload);
  // NUL user NUL hex(hash) at the longest, in base64.
  constexpr size_t kMaxPayload = 4 * ((2 + kMaxUsername + 64 + 2) / 3);
  if (base64_payload.size() > kMaxPayload) {
    return Error(ErrorKind::kLimit, "AUTH HASHEDPASS payload too long");
  }
  auto raw = base64Decode(base64_payload, false);
  if (!raw) return Error(ErrorKind::kInvalid, "AUTH HASHEDPASS payload is not base64");
  std::string_view p(reinterpret_cast<const char*>(raw->data()), raw->size());
  const size_t first = p.find('\0');
  if (first == std::string_view::npos) {
    return Error(ErrorKind::kInvalid, "AUTH HASHEDPASS payload: no NUL before the username");
  }
  const size_t second = p.find('\0', first + 1);
  if (second == std::string_view::npos) {
    return Error(ErrorKind::kInvalid, "AUTH HASHEDPASS payload: no NUL after the username");
  }
  HashedPassAuth out;
  out.username = std::string(p.substr(first + 1, second - first - 1));
  if (out.username.empty() || out.username.size() > kMaxUsername) {
    return Error(ErrorKind::kInvalid, "AUTH HASHEDPASS: the username must be 1..256 bytes");
  }
  std::string_view h = p.substr(second + 1);
  std::optional<std::vector<uint8_t>> bytes;
  if (h.size() == 32) {
    bytes.emplace(h.begin(), h.end());
  } else if (h.size() == 64) {
    bytes = hexDecode(h);
  } else if (h.size() == 43 || h.size() == 44) {
    bytes = base64Decode(h, false);
  }
  if (!bytes || bytes->size() != 32) {
    return Error(ErrorKind::kInvalid,
                 "AUTH HASHEDPASS: the hash must be 32 bytes (raw, 64 hex digits or base64)");
  }
  std::memcpy(out.hash.data(), bytes->data(), 32);
  return out;
}

namespace {

Hash verifierDigest(const uint8_t salt[16], const Hash& hash) {
  std::string input = "mtep-verifier:";
  input.append(reinterpret_cast<const char*>(salt), 16);
  input.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  Hash d;
  SHA256(reinterpret_cast<const uint8_t*>(input.data()), input.size(), d.data());
  OPENSSL_cleanse(input.data(), input.size());
  return d;
}

}  // namespace

Result<std::string> makeVerifier(const Hash& hash) {
  uint8_t salt[16];
  if (RAND_bytes(salt, sizeof salt) != 1) {
    return Error(ErrorKind::kInternal, "OpenSSL: no random bytes for a verifier salt");
  }
  const Hash d = verifierDigest(salt, hash);
  return "v1:" + hexEncode(salt, sizeof salt) + ":" + hexEncode(d.data(), d.size());
}

bool checkVerifier(std::string_view stored, const Hash& hash) noexcept {
  // "v1:" 32 hex ":" 64 hex
  if (stored.size() != 3 + 32 + 1 + 64 || stored.substr(0, 3) != "v1:" || stored[35] != ':') {
    return false;
  }
  auto salt = hexDecode(stored.substr(3, 32));
  auto want = hexDecode(stored.substr(36));
  if (!salt || !want || salt->size() != 16 || want->size() != 32) return false;
  const Hash got = verifierDigest(salt->data(), hash);
  return CRYPTO_memcmp(got.data(), want->data(), 32) == 0;
}

Result<std::string> randomSalt() {
  std::string salt(kNewSaltBytes, '\0');
  if (RAND_bytes(reinterpret_cast<uint8_t*>(salt.data()), static_cast<int>(salt.size())) != 1) {
    return Error(ErrorKind::kInternal, "OpenSSL: no random bytes for a salt");
  }
  return salt;
}

std::string formatSalt(std::string_view salt) {
  return base64Encode(reinterpret_cast<const uint8_t*>(salt.data()), salt.size(), false, true);
}

Result<std::string> parseSalt(std::string_view text) {
  text = trimWsp(text);
  if (text.size() > 4 * ((kMaxSaltBytes + 2) / 3)) {
    return Error(ErrorKind::kLimit, "salt text longer than 64 bytes encoded");
  }
  auto bytes = base64Decode(text, false);
  if (!bytes) return Error(ErrorKind::kInvalid, "salt is not base64");
  if (bytes->size() < kMinSaltBytes || bytes->size() > kMaxSaltBytes) {
    return Error(ErrorKind::kInvalid, "salt must be 16..64 bytes (at least 128 bits), got " +
                                          std::to_string(bytes->size()));
  }
  return std::string(bytes->begin(), bytes->end());
}

Result<PublicKey> parsePublicKey(std::string_view text) {
  if (text.size() > kMaxKeyText) {
    return Error(ErrorKind::kLimit,
                 "public key text longer than " + std::to_string(kMaxKeyText) + " characters");
  }
  return parseKeyText(text, 0);
}

std::string formatOpensshBlob(const PublicKey& pub) {
  std::vector<uint8_t> b = {0, 0, 0, 11};
  b.insert(b.end(), kSshType.begin(), kSshType.end());
  b.insert(b.end(), {0, 0, 0, 32});
  b.insert(b.end(), pub.begin(), pub.end());
  return base64Encode(b.data(), b.size(), false, true);
}

std::string formatOpensshText(const PublicKey& pub) {
  return std::string(kSshType) + " " + formatOpensshBlob(pub);
}

std::string formatPubkeyReply(const PublicKey& pub) {
  const std::string blob = formatOpensshBlob(pub);
  return base64Encode(reinterpret_cast<const uint8_t*>(blob.data()), blob.size(), false, true);
}

std::string formatRaw(const PublicKey& pub) {
  return base64Encode(pub.data(), pub.size(), false, true);
}

}  // namespace mtep::e2ee
