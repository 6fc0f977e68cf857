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

constexpr uint8_t kVersion1 = 1;
constexpr uint8_t kVersion2 = 2;
constexpr size_t kHeaderSize = 22;
constexpr size_t kTagAnyOffset = 22;
constexpr size_t kTagAnySize = 8;
// Version 1.
constexpr size_t kV1TagSenderOffset = 30;
constexpr size_t kV1TagSenderSize = 16;
constexpr size_t kV1TokenSize = 46;
// Version 2.
constexpr size_t kV2TagSenderOffset = 30;
constexpr size_t kV2TagSenderSize = 8;
constexpr size_t kV2TagBoundOffset = 38;
constexpr size_t kV2TagBoundSize = 16;
constexpr size_t kV2TokenSize = 54;
constexpr size_t kMaxTokenSize = kV2TokenSize;
static_assert((kV2TokenSize * 4 + 2) / 3 == kTokenTextLength);
static_assert((kV1TokenSize * 4 + 2) / 3 == kTokenV1TextLength);

constexpr int64_t kMaxExpiry = (int64_t{1} << 40) - 1;  // 5 bytes
constexpr char kLabelAny[] = "mtep-token-any";          // sizeof counts the NUL
constexpr char kLabelSender[] = "mtep-token-sender";
constexpr char kLabelV2Any[] = "mtep-token-v2-any";
constexpr char kLabelV2Sender[] = "mtep-token-v2-sender";
constexpr char kLabelV2Bound[] = "mtep-token-v2-bound";

// A decoded token: its bytes (size() of them used) and version.
struct TokenBytes {
  std::array<uint8_t, kMaxTokenSize> b{};
  size_t size = 0;
  uint8_t* data() { return b.data(); }
  const uint8_t* data() const { return b.data(); }
  uint8_t version() const { return b[0]; }
  Bytes at(size_t offset, size_t n) const { return Bytes(b.data() + offset, n); }
};

Bytes label(const char* text, size_t size_with_nul) {
  return {reinterpret_cast<const uint8_t*>(text), size_with_nul};
}

Bytes textBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void writeHeader(const TokenInfo& info, TokenBytes* t) {
  uint8_t* b = t->data();
  b[0] = info.version;
  for (size_t i = 0; i < 4; ++i) b[1 + i] = static_cast<uint8_t>(info.key_id >> (24 - 8 * i));
  const auto expires = static_cast<uint64_t>(info.expires);
  for (size_t i = 0; i < 5; ++i) b[5 + i] = static_cast<uint8_t>(expires >> (32 - 8 * i));
  std::copy(info.nonce.begin(), info.nonce.end(), b + 10);
}

TokenInfo readHeader(const TokenBytes& t) {
  const uint8_t* b = t.data();
  TokenInfo info;
  info.version = b[0];
  for (size_t i = 0; i < 4; ++i) info.key_id = (info.key_id << 8) | b[1 + i];
  uint64_t expires = 0;
  for (size_t i = 0; i < 5; ++i) expires = (expires << 8) | b[5 + i];
  info.expires = static_cast<int64_t>(expires);
  std::copy(b + 10, b + 22, info.nonce.begin());
  return info;
}

// Text -> bytes and header; an Error says why the text is not a token.
// The length is checked before anything is decoded.
Result<TokenBytes> decodeBytes(std::string_view text) {
  size_t want = 0;
  uint8_t version = 0;
  if (text.size() == kTokenTextLength) {
    want = kV2TokenSize;
    version = kVersion2;
  } else if (text.size() == kTokenV1TextLength) {
    want = kV1TokenSize;
    version = kVersion1;
  } else {
    return Error(ErrorKind::kInvalid, "a token has " + std::to_string(kTokenTextLength) + " (or " +
                                          std::to_string(kTokenV1TextLength) +
                                          ") characters, not " + std::to_string(text.size()));
  }
  auto raw = base64Decode(text, /*url_safe=*/true);
  if (!raw || raw->size() != want) {
    return Error(ErrorKind::kInvalid, "a token is base64url text without padding");
  }
  TokenBytes t;
  std::copy(raw->begin(), raw->end(), t.b.begin());
  t.size = want;
  if (t.version() != version) {
    return Error(ErrorKind::kInvalid, "token version " + std::to_string(t.version()) +
                                          " does not fit its length (want " +
                                          std::to_string(version) + ")");
  }
  return t;
}

std::array<uint8_t, 4> bigEndian32(size_t n) {
  const auto v = static_cast<uint32_t>(n);
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

bool tagSender(const MacSet& macs, size_t index, const TokenBytes& t, std::string_view sender,
               std::array<uint8_t, 32>* out) {
  if (t.version() == kVersion1) {
    return macs.compute(
        index, {label(kLabelSender, sizeof kLabelSender), t.at(0, kHeaderSize), textBytes(sender)},
        out);
  }
  return macs.compute(
      index, {label(kLabelV2Sender, sizeof kLabelV2Sender), t.at(0, kHeaderSize), textBytes(sender)},
      out);
}

// Version 2 only.
bool tagBound(const MacSet& macs, size_t index, const TokenBytes& t, std::string_view sender,
              std::string_view domain, std::array<uint8_t, 32>* out) {
  const std::array<uint8_t, 4> len = bigEndian32(sender.size());
  return macs.compute(index,
                      {label(kLabelV2Bound, sizeof kLabelV2Bound), t.at(0, kHeaderSize),
                       Bytes(len.data(), len.size()), textBytes(sender), textBytes(domain)},
                      out);
}

// Needs the token's other tags in place.
bool tagAny(const MacSet& macs, size_t index, const TokenBytes& t, std::array<uint8_t, 32>* out) {
  if (t.version() == kVersion1) {
    return macs.compute(index,
                        {label(kLabelAny, sizeof kLabelAny), t.at(0, kHeaderSize),
                         t.at(kV1TagSenderOffset, kV1TagSenderSize)},
                        out);
  }
  return macs.compute(index,
                      {label(kLabelV2Any, sizeof kLabelV2Any), t.at(0, kHeaderSize),
                       t.at(kV2TagSenderOffset, kV2TagSenderSize + kV2TagBoundSize)},
                      out);
}

struct MintContext {
  const MacSet* macs = nullptr;
  size_t index = 0;
  TokenBytes token;
};

// Checks the common arguments and fills the header; kInvalid/kInternal.
Result<MintContext> startMint(const KeyRing& ring, uint8_t version, std::string_view sender,
                              int64_t now, int64_t ttl) {
  if (sender.empty()) {
    return Error(ErrorKind::kInvalid, "a token needs an envelope sender to be bound to");
  }
  if (ttl <= 0) return Error(ErrorKind::kInvalid, "a token's lifetime must be positive");
  if (now < 0 || ttl > kMaxExpiry - now) {
    return Error(ErrorKind::kInvalid, "token expiry is out of range");
  }
  MintContext m;
  m.macs = MacSet::of(ring);
  if (ring.keys().empty() || m.macs == nullptr) {
    return Error(ErrorKind::kInternal, "no usable token key (OpenSSL HMAC unavailable?)");
  }
  TokenInfo info;
  info.version = version;
  info.key_id = ring.current().id;
  info.expires = now + ttl;
  if (RAND_bytes(info.nonce.data(), static_cast<int>(info.nonce.size())) != 1) {
    return Error(ErrorKind::kInternal, "RAND_bytes failed: cannot make a token nonce");
  }
  m.token.size = version == kVersion1 ? kV1TokenSize : kV2TokenSize;
  writeHeader(info, &m.token);
  m.index = ring.keys().size() - 1;
  return m;
}

Error hmacFailed() { return Error(ErrorKind::kInternal, "HMAC-SHA256 failed"); }

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
    case Outcome::kRecipientMismatch:
      return "recipient-mismatch";
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

std::string canonicalDomain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  std::string out(domain);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Result<std::string> mint(const KeyRing& ring, std::string_view sender_canonical,
                         std::string_view recipient_domain, int64_t now, int64_t ttl) {
  const std::string domain = canonicalDomain(recipient_domain);
  if (domain.empty()) {
    return Error(ErrorKind::kInvalid, "a token needs a recipient domain to be bound to");
  }
  if (domain.size() > kMaxDomain) {
    return Error(ErrorKind::kInvalid, "a recipient domain has at most " +
                                          std::to_string(kMaxDomain) + " characters");
  }
  auto m = startMint(ring, kVersion2, sender_canonical, now, ttl);
  if (!m) return std::move(m).error();
  TokenBytes& t = m->token;
  std::array<uint8_t, 32> mac;
  if (!tagSender(*m->macs, m->index, t, sender_canonical, &mac)) return hmacFailed();
  std::copy_n(mac.begin(), kV2TagSenderSize, t.data() + kV2TagSenderOffset);
  if (!tagBound(*m->macs, m->index, t, sender_canonical, domain, &mac)) return hmacFailed();
  std::copy_n(mac.begin(), kV2TagBoundSize, t.data() + kV2TagBoundOffset);
  if (!tagAny(*m->macs, m->index, t, &mac)) return hmacFailed();
  std::copy_n(mac.begin(), kTagAnySize, t.data() + kTagAnyOffset);
  return base64Encode(t.data(), t.size, /*url_safe=*/true, /*pad=*/false);
}

Result<std::string> mintV1(const KeyRing& ring, std::string_view sender_canonical, int64_t now,
                           int64_t ttl) {
  auto m = startMint(ring, kVersion1, sender_canonical, now, ttl);
  if (!m) return std::move(m).error();
  TokenBytes& t = m->token;
  std::array<uint8_t, 32> mac;
  if (!tagSender(*m->macs, m->index, t, sender_canonical, &mac)) return hmacFailed();
  std::copy_n(mac.begin(), kV1TagSenderSize, t.data() + kV1TagSenderOffset);
  if (!tagAny(*m->macs, m->index, t, &mac)) return hmacFailed();
  std::copy_n(mac.begin(), kTagAnySize, t.data() + kTagAnyOffset);
  return base64Encode(t.data(), t.size, /*url_safe=*/true, /*pad=*/false);
}

VerifyResult verify(const KeyRing& ring, std::string_view token, const Binding& binding,
                    int64_t now) {
  VerifyResult r;
  auto bytes = decodeBytes(token);
  if (!bytes) return r;  // kMalformed
  const TokenBytes& t = *bytes;
  r.info = readHeader(t);
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
  const auto failed = [&r] {
    log::error("token: HMAC-SHA256 failed while verifying; answering bad-mac");
    return r;
  };
  if (macs == nullptr || !tagAny(*macs, index, t, &mac)) return failed();
  if (CRYPTO_memcmp(mac.data(), t.data() + kTagAnyOffset, kTagAnySize) != 0) return r;
  const bool v1 = t.version() == kVersion1;
  if (binding.has_sender) {
    if (!tagSender(*macs, index, t, binding.sender, &mac)) return failed();
    const size_t offset = v1 ? kV1TagSenderOffset : kV2TagSenderOffset;
    const size_t size = v1 ? kV1TagSenderSize : kV2TagSenderSize;
    if (CRYPTO_memcmp(mac.data(), t.data() + offset, size) != 0) {
      r.outcome = Outcome::kSenderMismatch;
      return r;
    }
    if (!v1 && binding.has_recipient) {
      const std::string domain = canonicalDomain(binding.recipient_domain);
      if (!tagBound(*macs, index, t, binding.sender, domain, &mac)) return failed();
      if (CRYPTO_memcmp(mac.data(), t.data() + kV2TagBoundOffset, kV2TagBoundSize) != 0) {
        r.outcome = Outcome::kRecipientMismatch;
        return r;
      }
      r.recipient_checked = true;
    }
    r.sender_checked = true;
  }
  r.outcome = now >= r.info.expires ? Outcome::kExpired : Outcome::kValid;
  if (r.outcome != Outcome::kValid) r.sender_checked = r.recipient_checked = false;
  return r;
}

VerifyResult verify(const KeyRing& ring, std::string_view token, std::string_view sender_canonical,
                    bool has_sender, int64_t now) {
  return verify(ring, token, Binding{sender_canonical, {}, has_sender, false}, now);
}

Result<TokenInfo> decode(std::string_view token) {
  auto bytes = decodeBytes(token);
  if (!bytes) return std::move(bytes).error();
  return readHeader(*bytes);
}

}  // namespace mtep::token
