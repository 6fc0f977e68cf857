#include "token/token.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstdio>
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

// ---- key file ----

namespace {

constexpr size_t kMaxKeyFileSize = 1 << 20;

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string errnoText() { return std::strerror(errno); }

Error fileError(const std::string& path, const std::string& what) {
  return Error(ErrorKind::kConfig, path + ": " + what);
}

// Wipes key material from a text buffer before it is freed.
struct Wipe {
  std::string& s;
  ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
};

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string directoryOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Makes a rename or creation in `dir` durable; best effort.
void syncDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

std::string formatKeys(const std::vector<Key>& keys) {
  std::string out =
      "# mtep token keys: <id> <created-unix> <secret hex>. Secret: keep mode 0600.\n";
  for (const Key& k : keys) {
    out += std::to_string(k.id) + " " + std::to_string(k.created) + " " +
           hexEncode(k.secret.data(), k.secret.size()) + "\n";
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  while (!(line = trim(line)).empty()) {
    size_t end = line.find_first_of(" \t");
    if (end == std::string_view::npos) end = line.size();
    out.push_back(line.substr(0, end));
    line.remove_prefix(end);
  }
  return out;
}

template <typename T>
bool parseNumber(std::string_view s, T* out) {
  if (s.empty() || s.front() == '-' || s.front() == '+') return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

Result<std::vector<Key>> parseKeyFile(const std::string& path, std::string_view text) {
  std::vector<Key> keys;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    auto f = fields(line);
    if (f.size() != 3) {
      return Error(ErrorKind::kConfig, where +
                                           "want \"<id> <created-unix> <64 hex digits>\", found " +
                                           std::to_string(f.size()) + " fields");
    }
    Key k;
    if (!parseNumber(f[0], &k.id)) {
      return Error(ErrorKind::kConfig, where + "key id is not a number from 0 to 4294967295");
    }
    if (!parseNumber(f[1], &k.created)) {
      return Error(ErrorKind::kConfig, where + "creation time is not a Unix time in seconds");
    }
    auto secret = f[2].size() == 2 * k.secret.size() ? hexDecode(f[2]) : std::nullopt;
    if (!secret) return Error(ErrorKind::kConfig, where + "secret is not 64 hex digits");
    std::copy(secret->begin(), secret->end(), k.secret.begin());
    OPENSSL_cleanse(secret->data(), secret->size());
    for (const Key& other : keys) {
      if (other.id == k.id) {
        return Error(ErrorKind::kConfig,
                     where + "key id " + std::to_string(k.id) + " appears twice");
      }
    }
    keys.push_back(k);
    OPENSSL_cleanse(k.secret.data(), k.secret.size());
  }
  if (keys.empty()) return fileError(path, "the key file holds no key");
  return keys;
}

// Creates the file with O_EXCL and one new key. *exists is set when another
// process created it first.
Result<KeyRing> createKeyFile(const std::string& path, const Clock& clock, bool* exists) {
  *exists = false;
  auto key = KeyRing::generateKey(1, clock.now());
  if (!key) return std::move(key).error();
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    if (errno == EEXIST) *exists = true;
    return fileError(path, "cannot create the key file: " + errnoText());
  }
  std::vector<Key> keys{*key};
  std::string text = formatKeys(keys);
  Wipe wipe{text};
  if (!writeAll(fd.get(), text) || ::fsync(fd.get()) != 0) {
    Error e = fileError(path, "cannot write the new key file: " + errnoText());
    ::unlink(path.c_str());
    return e;
  }
  fd.reset();
  syncDirectory(directoryOf(path));
  return KeyRing::fromKeys(std::move(keys));
}

// Writes keys to a temporary file beside `path`, syncs it and renames it
// over `path`, keeping the old file's owner.
Status replaceKeyFile(const std::string& path, const std::vector<Key>& keys) {
  std::string tmp = path + ".tmp.XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));  // mode 0600
  if (fd.get() < 0) return fileError(path, "cannot create a temporary key file: " + errnoText());
  struct stat old {};
  bool ok = true;
  std::string what;
  if (::stat(path.c_str(), &old) == 0 && (old.st_uid != ::geteuid() || old.st_gid != ::getegid())) {
    if (::fchown(fd.get(), old.st_uid, old.st_gid) != 0) {
      ok = false;
      what = "cannot give the new key file the old one's owner: " + errnoText();
    }
  }
  std::string text = formatKeys(keys);
  Wipe wipe{text};
  if (ok && (!writeAll(fd.get(), text) || ::fsync(fd.get()) != 0)) {
    ok = false;
    what = "cannot write " + tmp + ": " + errnoText();
  }
  if (ok && ::close(fd.release()) != 0) {
    ok = false;
    what = "cannot write " + tmp + ": " + errnoText();
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    what = "cannot rename " + tmp + " into place: " + errnoText();
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    return fileError(path, what);
  }
  syncDirectory(directoryOf(path));
  return okStatus();
}

}  // namespace

Result<KeyRing> KeyRing::load(const std::string& path, const KeyRingOptions& options,
                              const Clock& clock) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 && errno == ENOENT && options.create) {
    bool exists = false;
    auto created = createKeyFile(path, clock, &exists);
    if (created || !exists) return created;
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));  // created meanwhile by another
  }
  if (fd.get() < 0) return fileError(path, "cannot open the key file: " + errnoText());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fileError(path, "cannot stat: " + errnoText());
  if (!S_ISREG(st.st_mode)) return fileError(path, "the key file is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fileError(path, std::string("the key file is open to group or others (mode ") + mode +
                               "); run: chmod 600 " + path);
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxKeyFileSize) {
    return fileError(path, "the key file is larger than 1 MiB");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  Wipe wipe{text};
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fileError(path, "cannot read: " + errnoText());
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  auto keys = parseKeyFile(path, std::string_view(text).substr(0, got));
  if (!keys) return std::move(keys).error();
  return fromKeys(std::move(*keys));
}

Result<KeyRing> KeyRing::rotate(const std::string& path, const KeyRingOptions& options,
                                const Clock& clock) {
  auto ring = load(path, options, clock);
  if (!ring) return ring;
  std::vector<Key> keys = ring->keys();
  const int64_t now = clock.now();
  if (keys.back().id == UINT32_MAX) return fileError(path, "no key id left after 4294967295");
  auto fresh = generateKey(keys.back().id + 1, now);
  if (!fresh) return std::move(fresh).error();
  keys.push_back(*fresh);
  std::vector<Key> kept;
  for (size_t i = 0; i < keys.size(); ++i) {
    const bool current = i + 1 == keys.size();
    // A key is superseded when the next one was created.
    const bool retired =
        !current && options.retire_after > 0 && now - keys[i + 1].created > options.retire_after;
    if (!retired) kept.push_back(keys[i]);
  }
  Status written = replaceKeyFile(path, kept);
  for (Key& k : keys) OPENSSL_cleanse(k.secret.data(), k.secret.size());
  if (!written) return std::move(written).error();
  return fromKeys(std::move(kept));
}

Result<TokenInfo> decode(std::string_view token) {
  auto bytes = decodeBytes(token);
  if (!bytes) return std::move(bytes).error();
  return readHeader(*bytes);
}

}  // namespace mtep::token
