// NAME
//   key_file.cc - the token key file: load, create, rotate
// DESCRIPTION
//   Text, one key per line "<id> <created-unix> <64 hex>"; see token.h.

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <utility>

#include "token/token.h"
#include "util/base64.h"
#include "util/unique_fd.h"

namespace mtep::token {

namespace {

constexpr size_t kMaxKeyFileSize = 1 << 20;

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
  // Rotations are serialised through "<path>.lock", so two at once cannot
  // both read the same ring and lose one of the new keys. (The key file
  // itself cannot carry the lock: it is replaced by rename.)
  const std::string lock_path = path + ".lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock.valid()) return fileError(lock_path, std::string("cannot open: ") + errnoText());
  if (::flock(lock.get(), LOCK_EX) != 0) {
    return fileError(lock_path, std::string("cannot lock: ") + errnoText());
  }
  // A file created just now already holds a fresh key: that is the rotation.
  struct stat before {};
  const bool existed = ::stat(path.c_str(), &before) == 0;
  auto ring = load(path, options, clock);
  if (!ring) return ring;
  if (!existed) return ring;
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

}  // namespace mtep::token
