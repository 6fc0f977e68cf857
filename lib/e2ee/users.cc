// The users of mtepd's key service, kept in the store; see users.h.
#include "e2ee/users.h"

#include <charconv>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/base64.h"

namespace mtep::e2ee {
namespace {

constexpr std::string_view kVersion = "v1";

Error temporary(const Error& e) {
  return Error(ErrorKind::kTemporary, "user store unavailable: " + e.message());
}

// Splits `value` at single spaces into exactly `n` fields.
bool splitFields(std::string_view value, std::vector<std::string_view>& out, size_t n) {
  out.clear();
  while (out.size() + 1 < n) {
    const size_t sp = value.find(' ');
    if (sp == std::string_view::npos) return false;
    out.push_back(value.substr(0, sp));
    value.remove_prefix(sp + 1);
  }
  out.push_back(value);
  for (std::string_view f : out) {
    if (f.empty() || f.find(' ') != std::string_view::npos) return false;
  }
  return true;
}

Result<UserRecord> parseRecord(std::string_view name, std::string_view value) {
  const Error bad(ErrorKind::kInternal, "user store: the record of a user is damaged");
  std::vector<std::string_view> f;
  if (!splitFields(value, f, 5) || f[0] != kVersion) return bad;
  UserRecord r;
  r.name = std::string(name);
  r.verifier = std::string(f[1]);
  auto salt = parseSalt(f[2]);
  if (!salt) return bad;
  r.salt = std::move(*salt);
  if (f[3] != "-") {
    auto pub = parsePublicKey(f[3]);
    if (!pub) return bad;
    r.pubkey = *pub;
  }
  auto [end, ec] = std::from_chars(f[4].data(), f[4].data() + f[4].size(), r.created);
  if (ec != std::errc() || end != f[4].data() + f[4].size()) return bad;
  return r;
}

std::string formatRecord(const UserRecord& r) {
  std::string out(kVersion);
  out += ' ' + r.verifier + ' ' + formatSalt(r.salt) + ' ';
  out += r.pubkey ? formatRaw(*r.pubkey) : std::string("-");
  out += ' ' + std::to_string(r.created);
  return out;
}

}  // namespace

Result<std::string> normalizeUserName(std::string_view name) {
  if (name.empty()) return Error(ErrorKind::kInvalid, "empty user name");
  if (name.size() > kMaxUsername) {
    return Error(ErrorKind::kInvalid,
                 "user name longer than " + std::to_string(kMaxUsername) + " characters");
  }
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"') {
      return Error(ErrorKind::kInvalid,
                   "a user name is printable ASCII without spaces or double quotes");
    }
  }
  return asciiLower(name);
}

Result<UserRecord> UserBook::find(std::string_view name) {
  auto key = normalizeUserName(name);
  if (!key) return std::move(key).error();
  auto value = store_.getValue(kUserNamespace, *key);
  if (!value) {
    if (value.error().kind() == ErrorKind::kNotFound) {
      return Error(ErrorKind::kNotFound, "no such user");
    }
    return temporary(value.error());
  }
  return parseRecord(*key, *value);
}

Status UserBook::write(const UserRecord& record) {
  if (Status s = store_.putValue(kUserNamespace, record.name, formatRecord(record), 0); !s) {
    return temporary(s.error());
  }
  return {};
}

Status UserBook::add(std::string_view name, const Hash& login_hash) {
  auto existing = find(name);
  if (existing) return Error(ErrorKind::kInvalid, "user " + existing->name + " exists");
  if (existing.error().kind() != ErrorKind::kNotFound) return std::move(existing).error();
  UserRecord r;
  r.name = *normalizeUserName(name);
  auto verifier = makeVerifier(login_hash);
  if (!verifier) return std::move(verifier).error();
  r.verifier = std::move(*verifier);
  auto salt = randomSalt();
  if (!salt) return std::move(salt).error();
  r.salt = std::move(*salt);
  r.created = clock_.now();
  return write(r);
}

Status UserBook::setPassword(std::string_view name, const Hash& login_hash) {
  auto r = find(name);
  if (!r) return std::move(r).error();
  auto verifier = makeVerifier(login_hash);
  if (!verifier) return std::move(verifier).error();
  r->verifier = std::move(*verifier);
  return write(*r);
}

Result<bool> UserBook::remove(std::string_view name) {
  auto key = normalizeUserName(name);
  if (!key) return std::move(key).error();
  auto erased = store_.eraseValue(kUserNamespace, *key);
  if (!erased) return temporary(erased.error());
  return *erased;
}

Status UserBook::setPublicKey(std::string_view name, const PublicKey& pub) {
  auto r = find(name);
  if (!r) return std::move(r).error();
  r->pubkey = pub;
  return write(*r);
}

Result<std::string> UserBook::resetSalt(std::string_view name) {
  auto r = find(name);
  if (!r) return std::move(r).error();
  auto salt = randomSalt();
  if (!salt) return std::move(salt).error();
  r->salt = *salt;
  r->pubkey.reset();
  if (Status s = write(*r); !s) return std::move(s).error();
  return std::move(*salt);
}

Result<std::vector<UserRecord>> UserBook::list(size_t limit) {
  auto all = store_.listValues(kUserNamespace, limit);
  if (!all) return temporary(all.error());
  std::vector<UserRecord> out;
  for (const auto& [key, value] : *all) {
    auto r = parseRecord(key, value);
    if (!r) return std::move(r).error();
    out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace mtep::e2ee
