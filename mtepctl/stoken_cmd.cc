// mtepctl stoken gen | revoke | list: submission tokens (lib/stoken) in
// the store of the config, as GENSTOKEN and REVSTOKEN do for a logged-in user.
#include <cstdio>
#include <memory>
#include <optional>

#include "commands.h"
#include "smtp/address.h"
#include "stoken/book.h"
#include "store/open.h"
#include "util/base64.h"

namespace mtep::ctl {
namespace {

stoken::BookLimits limitsOf(const config::Config& cfg) {
  return {cfg.stoken.temporary_ttl, cfg.stoken.permanent_ttl, cfg.stoken.permanent_refresh};
}

// The config, its store and (need_ring) its key ring; on failure the error
// is printed and the exit code returned.
struct Opened {
  config::ConfigPtr cfg;
  std::unique_ptr<store::Store> store;
  std::optional<token::KeyRing> ring;
};

int open(const GlobalOptions& global, bool need_ring, Opened* out) {
  out->cfg = prepare(global);
  if (!out->cfg) return kExitTrouble;
  auto st = store::open(out->cfg->store, SystemClock::instance());
  if (!st) {
    printError("store: %s", st.error().message().c_str());
    return kExitTrouble;
  }
  out->store = std::move(*st);
  if (need_ring) {
    auto ring = loadRing(*out->cfg, true);
    if (!ring) return kExitTrouble;
    out->ring.emplace(std::move(*ring));
  } else {
    out->ring.emplace(token::KeyRing::fromKeys({}));
  }
  return kExitOk;
}

// "remote"/"local" address checks with the draft's wording.
bool checkAddresses(const std::string& remote, const std::string& local) {
  if (!stoken::canonicalAddress(remote)) {
    printError("incorrect remote address \"%s\"", printableAscii(remote, 320).c_str());
    return false;
  }
  if (!stoken::canonicalAddress(local)) {
    printError("incorrect local address \"%s\"", printableAscii(local, 320).c_str());
    return false;
  }
  return true;
}

}  // namespace

int stokenGen(const GlobalOptions& global, const std::string& kind_text, const std::string& remote,
              const std::string& local) {
  stoken::Kind kind;
  if (asciiIEquals(kind_text, "PERM")) {
    kind = stoken::Kind::kPermanent;
  } else if (asciiIEquals(kind_text, "TEMP")) {
    kind = stoken::Kind::kTemporary;
  } else {
    printError("the kind is PERM or TEMP, not \"%s\"", printableAscii(kind_text, 40).c_str());
    return kExitUsage;
  }
  if (!checkAddresses(remote, local)) return kExitNo;
  Opened o;
  if (int rc = open(global, true, &o); rc != kExitOk) return rc;
  const std::string local_canonical = *stoken::canonicalAddress(local);
  const std::string domain = local_canonical.substr(local_canonical.rfind('@') + 1);
  if (!o.cfg->policyFor(domain).accept_submission_tokens) {
    printError("domain %s does not accept submission tokens (accept_submission_tokens = false)",
               domain.c_str());
    return kExitNo;
  }
  stoken::TokenBook book(*o.store, *o.ring, SystemClock::instance(), limitsOf(*o.cfg));
  auto token = book.generate(kind, remote, local);
  if (!token) return failed(token.error());
  std::printf("%s\n", token->c_str());
  return kExitOk;
}

int stokenRevoke(const GlobalOptions& global, const std::string& remote, const std::string& local) {
  if (!checkAddresses(remote, local)) return kExitNo;
  Opened o;
  if (int rc = open(global, false, &o); rc != kExitOk) return rc;
  stoken::TokenBook book(*o.store, *o.ring, SystemClock::instance(), limitsOf(*o.cfg));
  if (Status s = book.revoke(remote, local); !s) return failed(s.error());
  std::printf("revoked: every token of %s for %s\n", stoken::canonicalAddress(remote)->c_str(),
              stoken::canonicalAddress(local)->c_str());
  return kExitOk;
}

int stokenList(const GlobalOptions& global, const std::string& local) {
  if (!local.empty() && !stoken::canonicalAddress(local)) {
    printError("incorrect local address \"%s\"", printableAscii(local, 320).c_str());
    return kExitNo;
  }
  Opened o;
  if (int rc = open(global, false, &o); rc != kExitOk) return rc;
  stoken::TokenBook book(*o.store, *o.ring, SystemClock::instance(), limitsOf(*o.cfg));
  auto entries = book.list(local, stoken::kListScan);
  if (!entries) return failed(entries.error());
  for (const stoken::BookEntry& e : *entries) {
    std::printf("%s %s local=%s remote=%s id=%s\n",
                e.what == stoken::BookEntry::What::kIssued ? "issued" : "held",
                stoken::kindName(e.kind), printableAscii(e.local).c_str(),
                printableAscii(e.remote).c_str(), e.token_id.c_str());
  }
  return kExitOk;
}

}  // namespace mtep::ctl
