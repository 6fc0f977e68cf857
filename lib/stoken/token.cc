// Submission tokens: the 39-byte format, its MAC and its checks.
#include "stoken/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cstring>

#include "smtp/address.h"
#include "util/base64.h"

namespace mtep::stoken {
namespace {

constexpr size_t kSignedBytes = 23;  // version .. remote_tag: what the MAC covers
constexpr size_t kTagOffset = 11;
constexpr size_t kMacOffset = 23;
constexpr char kRemoteLabel[] = "stoken-remote";  // + NUL via sizeof
constexpr char kMacLabel[] = "stoken-v1";
constexpr char kLogLabel[] = "stoken-log";

bool isUrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

std::array<uint8_t, 32> sha256(std::string_view label_with_nul, std::string_view data) {
  std::array<uint8_t, 32> out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return out;
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, label_with_nul.data(), label_with_nul.size()) != 1 ||
      EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), nullptr) != 1) {
    out.fill(0);
  }
  EVP_MD_CTX_free(ctx);
  return out;
}

// mac over the signed bytes and the canonical local address; false if OpenSSL fails.
bool computeMac(const token::Key& key, const uint8_t* signed_bytes, std::string_view local,
                std::array<uint8_t, 16>* out) {
  std::string msg(kMacLabel, sizeof(kMacLabel));  // label and its NUL
  msg.append(reinterpret_cast<const char*>(signed_bytes), kSignedBytes);
  msg.append(local);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
           reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md,
           &md_len) == nullptr ||
      md_len < out->size()) {
    return false;
  }
  std::memcpy(out->data(), md, out->size());
  OPENSSL_cleanse(md, sizeof(md));
  return true;
}

}  // namespace

const char* kindName(Kind k) noexcept { return k == Kind::kPermanent ? "permanent" : "temporary"; }

const char* outcomeName(Outcome o) noexcept {
  switch (o) {
    case Outcome::kValid:
      return "valid";
    case Outcome::kMalformed:
      return "malformed";
    case Outcome::kUnknownKey:
      return "unknown-key";
    case Outcome::kBadMac:
      return "bad-mac";
    case Outcome::kWrongRemote:
      return "wrong-remote";
    case Outcome::kExpired:
      return "expired";
    case Outcome::kRevoked:
      return "revoked";
    case Outcome::kNotCurrent:
      return "not-current";
    case Outcome::kTemporary:
      return "temporary-failure";
    case Outcome::kRefused:
      return "refused";
  }
  return "unknown";
}

Result<std::string> canonicalAddress(std::string_view address) {
  if (address.size() > kMaxAddress) return Error(ErrorKind::kInvalid, "address too long");
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
    address = address.substr(1, address.size() - 2);
  }
  auto m = smtp::parseMailbox(address);
  if (!m) return Error(ErrorKind::kInvalid, "not an address: " + m.error().message());
  if (m->isNull()) return Error(ErrorKind::kInvalid, "the null address");
  return m->canonicalLower();
}

bool isTokenText(std::string_view text) noexcept {
  if (text.size() != kTokenTextLength) return false;
  for (char c : text) {
    if (!isUrlChar(c)) return false;
  }
  return true;
}

Result<Fields> decode(std::string_view text) {
  if (!isTokenText(text)) return Error(ErrorKind::kInvalid, "not a submission token");
  auto bytes = base64Decode(text, true);
  if (!bytes || bytes->size() != kTokenBytes) {
    return Error(ErrorKind::kInvalid, "not a submission token");
  }
  const std::vector<uint8_t>& b = *bytes;
  if (b[0] != kVersion) return Error(ErrorKind::kInvalid, "unknown submission token version");
  if (b[1] != static_cast<uint8_t>(Kind::kTemporary) &&
      b[1] != static_cast<uint8_t>(Kind::kPermanent)) {
    return Error(ErrorKind::kInvalid, "unknown submission token kind");
  }
  Fields f;
  f.version = b[0];
  f.kind = static_cast<Kind>(b[1]);
  f.key_id = (uint32_t{b[2]} << 24) | (uint32_t{b[3]} << 16) | (uint32_t{b[4]} << 8) | b[5];
  for (size_t i = 6; i < 11; ++i) f.issued = (f.issued << 8) | b[i];
  std::memcpy(f.remote_tag.data(), b.data() + kTagOffset, f.remote_tag.size());
  std::memcpy(f.mac.data(), b.data() + kMacOffset, f.mac.size());
  return f;
}

std::array<uint8_t, 12> remoteTag(std::string_view remote_canonical) {
  const auto h = sha256(std::string_view(kRemoteLabel, sizeof(kRemoteLabel)), remote_canonical);
  std::array<uint8_t, 12> tag{};
  std::memcpy(tag.data(), h.data(), tag.size());
  return tag;
}

Result<std::string> mintWithKey(Kind kind, const token::Key& key, std::string_view remote,
                                std::string_view local, int64_t now) {
  if (now < 0 || now > kMaxIssued) return Error(ErrorKind::kInvalid, "time out of range");
  auto r = canonicalAddress(remote);
  if (!r) return Error(ErrorKind::kInvalid, "remote " + r.error().message());
  auto l = canonicalAddress(local);
  if (!l) return Error(ErrorKind::kInvalid, "local " + l.error().message());
  std::array<uint8_t, kTokenBytes> b{};
  b[0] = kVersion;
  b[1] = static_cast<uint8_t>(kind);
  for (int i = 0; i < 4; ++i) b[2 + i] = static_cast<uint8_t>(key.id >> (24 - 8 * i));
  for (int i = 0; i < 5; ++i) b[6 + i] = static_cast<uint8_t>(now >> (32 - 8 * i));
  const auto tag = remoteTag(*r);
  std::memcpy(b.data() + kTagOffset, tag.data(), tag.size());
  std::array<uint8_t, 16> mac{};
  if (!computeMac(key, b.data(), *l, &mac)) {
    return Error(ErrorKind::kInternal, "HMAC-SHA256 failed");
  }
  std::memcpy(b.data() + kMacOffset, mac.data(), mac.size());
  return base64Encode(b.data(), b.size(), true, false);
}

Result<std::string> mint(Kind kind, const token::KeyRing& ring, std::string_view remote,
                         std::string_view local, int64_t now) {
  if (ring.keys().empty()) return Error(ErrorKind::kInternal, "empty key ring");
  return mintWithKey(kind, ring.current(), remote, local, now);
}

Verified verify(std::string_view text, std::string_view remote, std::string_view local,
                const token::KeyRing& ring, int64_t now, const Lifetimes& lifetimes) {
  Verified v;
  auto f = decode(text);
  if (!f) return v;  // kMalformed
  v.kind = f->kind;
  v.issued = f->issued;
  v.key_id = f->key_id;
  const token::Key* key = ring.find(f->key_id);
  if (key == nullptr) {
    v.outcome = Outcome::kUnknownKey;
    return v;
  }
  auto l = canonicalAddress(local);
  if (!l) {
    v.outcome = Outcome::kBadMac;
    return v;
  }
  auto bytes = base64Decode(text, true);  // decode() succeeded: cannot fail
  std::array<uint8_t, 16> mac{};
  if (!bytes || !computeMac(*key, bytes->data(), *l, &mac) ||
      CRYPTO_memcmp(mac.data(), f->mac.data(), mac.size()) != 0) {
    v.outcome = Outcome::kBadMac;
    return v;
  }
  auto r = canonicalAddress(remote);
  if (!r) {
    v.outcome = Outcome::kWrongRemote;
    return v;
  }
  const auto tag = remoteTag(*r);
  if (CRYPTO_memcmp(tag.data(), f->remote_tag.data(), tag.size()) != 0) {
    v.outcome = Outcome::kWrongRemote;
    return v;
  }
  const int64_t ttl = f->kind == Kind::kPermanent ? lifetimes.permanent : lifetimes.temporary;
  if (f->issued > now + kClockSkew || (ttl > 0 && f->issued + ttl <= now)) {
    v.outcome = Outcome::kExpired;
    return v;
  }
  v.outcome = Outcome::kValid;
  return v;
}

bool sameToken(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string tokenLogId(std::string_view text) {
  const auto h = sha256(std::string_view(kLogLabel, sizeof(kLogLabel)), text);
  return hexEncode(h.data(), 6);
}

}  // namespace mtep::stoken
