// The token book: permanent tokens, revocations and held tokens in the store.
#include "stoken/book.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace mtep::stoken {
namespace {

bool parseUnix(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0) return false;
  *out = v;
  return true;
}

// "<token> <refreshed>"
bool parsePermanent(std::string_view value, std::string_view* token, int64_t* refreshed) {
  const size_t sp = value.find(' ');
  if (sp == std::string_view::npos) return false;
  *token = value.substr(0, sp);
  return isTokenText(*token) && parseUnix(value.substr(sp + 1), refreshed);
}

// "<T|P> <token>"
bool parseHeld(std::string_view value, HeldToken* out) {
  if (value.size() < 3 || value[1] != ' ') return false;
  if (value[0] != 'T' && value[0] != 'P') return false;
  const std::string_view token = value.substr(2);
  if (!isForeignToken(token)) return false;
  out->kind = value[0] == 'P' ? Kind::kPermanent : Kind::kTemporary;
  out->token = std::string(token);
  return true;
}

bool splitKey(std::string_view key, std::string* local, std::string* remote) {
  const size_t nul = key.find('\0');
  if (nul == std::string_view::npos) return false;
  *local = std::string(key.substr(0, nul));
  *remote = std::string(key.substr(nul + 1));
  return true;
}

Error corrupt(std::string_view ns) {
  return Error(ErrorKind::kInternal, "malformed " + std::string(ns) + " entry in the store");
}

}  // namespace

bool isForeignToken(std::string_view text) noexcept {
  if (text.empty() || text.size() > kMaxForeignToken) return false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == '=') return false;
  }
  return true;
}

TokenBook::TokenBook(store::Store& store, const token::KeyRing& keys, const Clock& clock,
                     BookLimits limits)
    : store_(store), keys_(keys), clock_(clock), limits_(limits) {}

Result<std::string> TokenBook::pairKey(std::string_view remote, std::string_view local) const {
  auto r = canonicalAddress(remote);
  if (!r) return Error(ErrorKind::kInvalid, "remote " + r.error().message());
  auto l = canonicalAddress(local);
  if (!l) return Error(ErrorKind::kInvalid, "local " + l.error().message());
  std::string key = std::move(*l);
  key.push_back('\0');
  key += *r;
  return key;
}

Result<int64_t> TokenBook::revokedAt(const std::string& key) {
  auto v = store_.getValue(kRevokedNamespace, key);
  if (!v) {
    if (v.error().kind() == ErrorKind::kNotFound) return int64_t{-1};
    return Error(v.error());
  }
  int64_t at = 0;
  if (!parseUnix(*v, &at)) return corrupt(kRevokedNamespace);
  return at;
}

Result<std::string> TokenBook::generate(Kind kind, std::string_view remote,
                                        std::string_view local) {
  auto key = pairKey(remote, local);
  if (!key) return Error(key.error());
  const int64_t now = clock_.now();
  // Issued after the pair's last revocation, so that nothing minted now
  // equals (a token is a function of its fields) or dies with a revoked one.
  auto revoked = revokedAt(*key);
  if (!revoked) return Error(revoked.error());
  const int64_t issued = *revoked >= now ? *revoked + 1 : now;
  if (kind == Kind::kPermanent) {
    auto stored = store_.getValue(kPermanentNamespace, *key);
    if (stored) {
      std::string_view token;
      int64_t refreshed = 0;
      if (parsePermanent(*stored, &token, &refreshed)) return std::string(token);
      // A malformed entry is replaced below.
    } else if (stored.error().kind() != ErrorKind::kNotFound) {
      return Error(stored.error());
    }
    auto token = mint(kind, keys_, remote, local, issued);
    if (!token) return token;
    if (Status s = store_.putValue(kPermanentNamespace, *key, *token + " " + std::to_string(now),
                                   now + limits_.permanent_ttl);
        !s) {
      return Error(s.error());
    }
    return token;
  }
  return mint(kind, keys_, remote, local, issued);
}

Status TokenBook::revoke(std::string_view remote, std::string_view local) {
  auto key = pairKey(remote, local);
  if (!key) return Error(key.error());
  const int64_t now = clock_.now();
  // An earlier revocation in the future (clock stepped back) stays in force.
  auto earlier = revokedAt(*key);
  if (!earlier) return Error(earlier.error());
  const int64_t at = std::max(now, *earlier);
  if (Status s = store_.putValue(kRevokedNamespace, *key, std::to_string(at),
                                 at + limits_.temporary_ttl + kClockSkew + 1);
      !s) {
    return s;
  }
  auto erased = store_.eraseValue(kPermanentNamespace, *key);
  if (!erased) return Error(erased.error());
  return okStatus();
}

Checked TokenBook::check(std::string_view token, std::string_view remote, std::string_view local) {
  Checked c;
  const Verified v =
      verify(token, remote, local, keys_, clock_.now(), Lifetimes{limits_.temporary_ttl, 0});
  c.kind = v.kind;
  c.outcome = v.outcome;
  if (v.outcome != Outcome::kValid) return c;
  auto key = pairKey(remote, local);
  if (!key) {  // verify() parsed both: cannot happen
    c.outcome = Outcome::kBadMac;
    return c;
  }
  if (v.kind == Kind::kTemporary) {
    auto revoked = revokedAt(*key);
    if (!revoked) {
      c.outcome = Outcome::kTemporary;
    } else if (v.issued <= *revoked) {
      c.outcome = Outcome::kRevoked;
    }
    return c;
  }
  auto stored = store_.getValue(kPermanentNamespace, *key);
  if (!stored) {
    c.outcome =
        stored.error().kind() == ErrorKind::kNotFound ? Outcome::kNotCurrent : Outcome::kTemporary;
    return c;
  }
  std::string_view current;
  int64_t refreshed = 0;
  if (!parsePermanent(*stored, &current, &refreshed)) {
    c.outcome = Outcome::kTemporary;  // not ours to judge: never valid
    return c;
  }
  if (!sameToken(current, token)) c.outcome = Outcome::kNotCurrent;
  return c;
}

Result<std::optional<std::string>> TokenBook::afterDelivery(std::string_view token, Kind kind,
                                                            std::string_view remote,
                                                            std::string_view local) {
  if (kind == Kind::kTemporary) {
    auto perm = generate(Kind::kPermanent, remote, local);
    if (!perm) return Error(perm.error());
    return std::optional<std::string>(std::move(*perm));
  }
  auto key = pairKey(remote, local);
  if (!key) return Error(key.error());
  auto stored = store_.getValue(kPermanentNamespace, *key);
  if (!stored) {
    if (stored.error().kind() == ErrorKind::kNotFound) return std::optional<std::string>();
    return Error(stored.error());
  }
  std::string_view current;
  int64_t refreshed = 0;
  if (!parsePermanent(*stored, &current, &refreshed)) return corrupt(kPermanentNamespace);
  if (!sameToken(current, token)) return std::optional<std::string>();  // revoked meanwhile
  const int64_t now = clock_.now();
  auto fields = decode(current);
  if (fields && !keys_.keys().empty() && fields->key_id != keys_.current().id) {
    // Signed with a key that will retire: a new permanent replaces it (2.1.13).
    auto fresh = mint(Kind::kPermanent, keys_, remote, local, now);
    if (!fresh) return Error(fresh.error());
    if (Status s = store_.putValue(kPermanentNamespace, *key, *fresh + " " + std::to_string(now),
                                   now + limits_.permanent_ttl);
        !s) {
      return Error(s.error());
    }
    return std::optional<std::string>(std::move(*fresh));
  }
  if (now - refreshed >= limits_.permanent_refresh) {
    if (Status s = store_.putValue(kPermanentNamespace, *key,
                                   std::string(current) + " " + std::to_string(now),
                                   now + limits_.permanent_ttl);
        !s) {
      return Error(s.error());
    }
  }
  return std::optional<std::string>();
}

Result<bool> TokenBook::hold(std::string_view local, std::string_view remote,
                             std::string_view token, Kind kind) {
  if (!isForeignToken(token)) return Error(ErrorKind::kInvalid, "not a token");
  auto key = pairKey(remote, local);
  if (!key) return Error(key.error());
  if (kind == Kind::kTemporary) {
    auto existing = held(local, remote);
    if (existing) {
      if (existing->kind == Kind::kPermanent) return false;
    } else if (existing.error().kind() != ErrorKind::kNotFound) {
      return Error(existing.error());
    }
  }
  const int64_t now = clock_.now();
  const int64_t ttl = kind == Kind::kPermanent ? limits_.permanent_ttl : limits_.temporary_ttl;
  std::string value(1, kind == Kind::kPermanent ? 'P' : 'T');
  value += ' ';
  value += token;
  if (Status s = store_.putValue(kHeldNamespace, *key, value, now + ttl); !s) {
    return Error(s.error());
  }
  return true;
}

Result<HeldToken> TokenBook::held(std::string_view local, std::string_view remote) {
  auto key = pairKey(remote, local);
  if (!key) return Error(key.error());
  auto v = store_.getValue(kHeldNamespace, *key);
  if (!v) return Error(v.error());
  HeldToken h;
  if (!parseHeld(*v, &h)) return corrupt(kHeldNamespace);
  return h;
}

Result<bool> TokenBook::dropHeld(std::string_view local, std::string_view remote) {
  auto key = pairKey(remote, local);
  if (!key) return Error(key.error());
  return store_.eraseValue(kHeldNamespace, *key);
}

Result<std::vector<BookEntry>> TokenBook::list(std::string_view local, size_t limit) {
  std::string want;
  if (!local.empty()) {
    auto l = canonicalAddress(local);
    if (!l) return Error(ErrorKind::kInvalid, "local " + l.error().message());
    want = std::move(*l);
  }
  std::vector<BookEntry> out;
  for (std::string_view ns : {kPermanentNamespace, kHeldNamespace}) {
    auto values = store_.listValues(ns, kListScan);
    if (!values) return Error(values.error());
    for (const auto& [key, value] : *values) {
      if (out.size() >= limit) return out;
      BookEntry e;
      if (!splitKey(key, &e.local, &e.remote)) continue;
      if (!want.empty() && e.local != want) continue;
      if (ns == kPermanentNamespace) {
        std::string_view token;
        int64_t refreshed = 0;
        if (!parsePermanent(value, &token, &refreshed)) continue;
        e.what = BookEntry::What::kIssued;
        e.kind = Kind::kPermanent;
        e.token_id = tokenLogId(token);
      } else {
        HeldToken h;
        if (!parseHeld(value, &h)) continue;
        e.what = BookEntry::What::kHeld;
        e.kind = h.kind;
        e.token_id = tokenLogId(h.token);
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace mtep::stoken
