#include "token/token.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <span>
#include <utility>

#include "util/base64.h"
#include "util/log.h"

namespace mtep::token {
namespace detail {

// One deleter for every OpenSSL handle.
template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, Deleter<EVP_MAC_CTX_free>>;

using Bytes = std::span<const uint8_t>;

// HMAC-SHA256 contexts keyed once per key; every MAC works on a duplicate,
// so a MacSet is never written after build() and may be shared by threads.
struct MacSet {
  std::vector<MacCtxPtr> templates;  // parallel to KeyRing::keys_

  static std::shared_ptr<const MacSet> build(const std::vector<Key>& keys);
  static const MacSet* of(const KeyRing& ring) { return ring.macs_.get(); }
  // HMAC of the concatenated parts with key number `index`; false when
  // OpenSSL fails (out of memory).
  bool compute(size_t index, std::initializer_list<Bytes> parts,
               std::array<uint8_t, 32>* out) const;
};

namespace {

EVP_MAC* hmacAlgorithm() {
  // Fetched once and kept for the life of the process.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

}  // namespace

std::shared_ptr<const MacSet> MacSet::build(const std::vector<Key>& keys) {
  EVP_MAC* mac = hmacAlgorithm();
  if (mac == nullptr) return nullptr;
  auto set = std::make_shared<MacSet>();
  set->templates.reserve(keys.size());
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  for (const Key& k : keys) {
    MacCtxPtr ctx(EVP_MAC_CTX_new(mac));
    if (!ctx || EVP_MAC_init(ctx.get(), k.secret.data(), k.secret.size(), params) != 1) {
      return nullptr;
    }
    set->templates.push_back(std::move(ctx));
  }
  return set;
}

bool MacSet::compute(size_t index, std::initializer_list<Bytes> parts,
                     std::array<uint8_t, 32>* out) const {
  if (index >= templates.size()) return false;
  MacCtxPtr ctx(EVP_MAC_CTX_dup(templates[index].get()));
  if (!ctx) return false;
  for (Bytes part : parts) {
    if (EVP_MAC_update(ctx.get(), part.data(), part.size()) != 1) return false;
  }
  size_t len = 0;
  return EVP_MAC_final(ctx.get(), out->data(), &len, out->size()) == 1 && len == out->size();
}

}  // namespace detail

namespace {

using detail::Bytes;
using detail::MacSet;

constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = 22;
constexpr size_t kTagAnyOffset = 22;
constexpr size_t kTagAnySize = 8;
constexpr size_t kTagSenderOffset = 30;
constexpr size_t kTagSenderSize = 16;
constexpr size_t kTokenSize = 46;
constexpr int64_t kMaxExpiry = (int64_t{1} << 40) - 1;  // 5 bytes
constexpr char kLabelAny[] = "mtep-token-any";          // sizeof counts the NUL
constexpr char kLabelSender[] = "mtep-token-sender";

using TokenBytes = std::array<uint8_t, kTokenSize>;

Bytes label(const char* text, size_t size_with_nul) {
  return {reinterpret_cast<const uint8_t*>(text), size_with_nul};
}

Bytes textBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void writeHeader(const TokenInfo& info, TokenBytes* b) {
  (*b)[0] = info.version;
  for (size_t i = 0; i < 4; ++i) (*b)[1 + i] = static_cast<uint8_t>(info.key_id >> (24 - 8 * i));
  const auto expires = static_cast<uint64_t>(info.expires);
  for (size_t i = 0; i < 5; ++i) (*b)[5 + i] = static_cast<uint8_t>(expires >> (32 - 8 * i));
  std::copy(info.nonce.begin(), info.nonce.end(), b->begin() + 10);
}

TokenInfo readHeader(const TokenBytes& b) {
  TokenInfo info;
  info.version = b[0];
  for (size_t i = 0; i < 4; ++i) info.key_id = (info.key_id << 8) | b[1 + i];
  uint64_t expires = 0;
  for (size_t i = 0; i < 5; ++i) expires = (expires << 8) | b[5 + i];
  info.expires = static_cast<int64_t>(expires);
  std::copy(b.begin() + 10, b.begin() + 22, info.nonce.begin());
  return info;
}

// Text -> bytes and header; an Error says why the text is not a token.
Result<TokenBytes> decodeBytes(std::string_view text) {
  if (text.size() != kTokenTextLength) {
    return Error(ErrorKind::kInvalid, "a token has " + std::to_string(kTokenTextLength) +
                                          " characters, not " + std::to_string(text.size()));
  }
  auto raw = base64Decode(text, /*url_safe=*/true);
  if (!raw || raw->size() != kTokenSize) {
    return Error(ErrorKind::kInvalid, "a token is base64url text without padding");
  }
  TokenBytes b;
  std::copy(raw->begin(), raw->end(), b.begin());
  if (b[0] != kVersion) {
    return Error(ErrorKind::kInvalid,
                 "token version " + std::to_string(b[0]) + " is not supported (want 1)");
  }
  return b;
}

bool tagSender(const MacSet& macs, size_t index, const TokenBytes& b, std::string_view sender,
               std::array<uint8_t, 32>* out) {
  return macs.compute(
      index,
      {label(kLabelSender, sizeof kLabelSender), Bytes(b.data(), kHeaderSize), textBytes(sender)},
      out);
}

// Needs the token's tag_sender bytes in place.
bool tagAny(const MacSet& macs, size_t index, const TokenBytes& b, std::array<uint8_t, 32>* out) {
  return macs.compute(index,
                      {label(kLabelAny, sizeof kLabelAny), Bytes(b.data(), kHeaderSize),
                       Bytes(b.data() + kTagSenderOffset, kTagSenderSize)},
                      out);
}

}  // namespace

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
    case Outcome::kExpired:
      return "expired";
    case Outcome::kRevoked:
      return "revoked";
    case Outcome::kSenderMismatch:
      return "sender-mismatch";
  }
  return "unknown";
}

std::string TokenInfo::revocationId() const {
  const uint8_t id[4] = {static_cast<uint8_t>(key_id >> 24), static_cast<uint8_t>(key_id >> 16),
                         static_cast<uint8_t>(key_id >> 8), static_cast<uint8_t>(key_id)};
  return hexEncode(id, sizeof id) + "-" + hexEncode(nonce.data(), nonce.size());
}

KeyRing KeyRing::fromKeys(std::vector<Key> keys) {
  std::stable_sort(keys.begin(), keys.end(),
                   [](const Key& a, const Key& b) { return a.id < b.id; });
  KeyRing ring;
  for (Key& k : keys) {
    if (!ring.keys_.empty() && ring.keys_.back().id == k.id) {
      ring.keys_.back() = k;
    } else {
      ring.keys_.push_back(k);
    }
    OPENSSL_cleanse(k.secret.data(), k.secret.size());
  }
  ring.macs_ = MacSet::build(ring.keys_);
  return ring;
}

Result<Key> KeyRing::generateKey(uint32_t id, int64_t created) {
  Key k;
  k.id = id;
  k.created = created;
  if (RAND_bytes(k.secret.data(), static_cast<int>(k.secret.size())) != 1) {
    return Error(ErrorKind::kInternal, "RAND_bytes failed: cannot make a token key");
  }
  return k;
}

const Key& KeyRing::current() const {
  assert(!keys_.empty());
  return keys_.back();
}

const Key* KeyRing::find(uint32_t id) const {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), id,
                             [](const Key& k, uint32_t want) { return k.id < want; });
  return it != keys_.end() && it->id == id ? &*it : nullptr;
}

Result<std::string> mint(const KeyRing& ring, std::string_view sender_canonical, int64_t now,
                         int64_t ttl) {
  if (sender_canonical.empty()) {
    return Error(ErrorKind::kInvalid, "a token needs an envelope sender to be bound to");
  }
  if (ttl <= 0) return Error(ErrorKind::kInvalid, "a token's lifetime must be positive");
  if (now < 0 || ttl > kMaxExpiry - now) {
    return Error(ErrorKind::kInvalid, "token expiry is out of range");
  }
  const MacSet* macs = MacSet::of(ring);
  if (ring.keys().empty() || macs == nullptr) {
    return Error(ErrorKind::kInternal, "no usable token key (OpenSSL HMAC unavailable?)");
  }
  TokenInfo info;
  info.version = kVersion;
  info.key_id = ring.current().id;
  info.expires = now + ttl;
  if (RAND_bytes(info.nonce.data(), static_cast<int>(info.nonce.size())) != 1) {
    return Error(ErrorKind::kInternal, "RAND_bytes failed: cannot make a token nonce");
  }
  TokenBytes b{};
  writeHeader(info, &b);
  const size_t index = ring.keys().size() - 1;
  std::array<uint8_t, 32> mac;
  if (!tagSender(*macs, index, b, sender_canonical, &mac)) {
    return Error(ErrorKind::kInternal, "HMAC-SHA256 failed");
  }
  std::copy_n(mac.begin(), kTagSenderSize, b.begin() + kTagSenderOffset);
  if (!tagAny(*macs, index, b, &mac)) return Error(ErrorKind::kInternal, "HMAC-SHA256 failed");
  std::copy_n(mac.begin(), kTagAnySize, b.begin() + kTagAnyOffset);
  return base64Encode(b.data(), b.size(), /*url_safe=*/true, /*pad=*/false);
}

VerifyResult verify(const KeyRing& ring, std::string_view token, std::string_view sender_canonical,
                    bool has_sender, int64_t now) {
  VerifyResult r;
  auto bytes = decodeBytes(token);
  if (!bytes) return r;  // kMalformed
  const TokenBytes& b = *bytes;
  r.info = readHeader(b);
  const Key* key = ring.find(r.info.key_id);
  if (key == nullptr) {
    r.outcome = Outcome::kUnknownKey;
    return r;
  }
  const auto index = static_cast<size_t>(key - ring.keys().data());
  const MacSet* macs = MacSet::of(ring);
  std::array<uint8_t, 32> mac;
  // Fail closed: a MAC we cannot compute is a MAC that does not match.
  r.outcome = Outcome::kBadMac;
  if (macs == nullptr || !tagAny(*macs, index, b, &mac)) {
    log::error("token: HMAC-SHA256 failed while verifying; answering bad-mac");
    return r;
  }
  if (CRYPTO_memcmp(mac.data(), b.data() + kTagAnyOffset, kTagAnySize) != 0) return r;
  if (has_sender) {
    if (!tagSender(*macs, index, b, sender_canonical, &mac)) {
      log::error("token: HMAC-SHA256 failed while verifying; answering bad-mac");
      return r;
    }
    if (CRYPTO_memcmp(mac.data(), b.data() + kTagSenderOffset, kTagSenderSize) != 0) {
      r.outcome = Outcome::kSenderMismatch;
      return r;
    }
  }
  r.outcome = now >= r.info.expires ? Outcome::kExpired : Outcome::kValid;
  return r;
}

Result<TokenInfo> decode(std::string_view token) {
  auto bytes = decodeBytes(token);
  if (!bytes) return std::move(bytes).error();
  return readHeader(*bytes);
}

}  // namespace mtep::token
