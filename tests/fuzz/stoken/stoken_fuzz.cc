// The STOKEN texts on arbitrary input never crash, and agree with
// themselves. The first byte picks the parser (modulo 6), the rest is its
// input:
//   0  TOKEN "\n" REMOTE "\n" LOCAL: decode() and verify(); a token minted
//      for (REMOTE, LOCAL) verifies for them and for nobody else's REMOTE
//   1  AUTH STOKEN base64 payload; a parsed one formats and parses back
//   2  RCPT parameters
//   3  GENSTOKEN (second byte even) or REVSTOKEN arguments
//   4  a 2.1.11 / 2.1.12 / 2.1.13 reply text; a parsed one formats back
//   5  a Submission-Token header field value
// The seed corpus is tests/fuzz/corpus/stoken.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "stoken/protocol.h"
#include "stoken/token.h"

namespace {

using namespace mtep::stoken;

const mtep::token::KeyRing& fuzzRing() {
  static const mtep::token::KeyRing ring = [] {
    mtep::token::Key k1;
    k1.id = 1;
    k1.secret.fill(0x5a);
    return mtep::token::KeyRing::fromKeys({k1});
  }();
  return ring;
}

constexpr int64_t kNow = 1'700'000'000;

void check(bool ok) {
  if (!ok) std::abort();
}

void fuzzToken(std::string_view in) {
  std::string_view text = in, remote, local;
  if (size_t nl = in.find('\n'); nl != std::string_view::npos) {
    text = in.substr(0, nl);
    remote = in.substr(nl + 1);
    if (size_t nl2 = remote.find('\n'); nl2 != std::string_view::npos) {
      local = remote.substr(nl2 + 1);
      remote = remote.substr(0, nl2);
    }
  }
  const Verified v = verify(text, remote, local, fuzzRing(), kNow, Lifetimes{});
  check(decode(text).ok() == (v.outcome != Outcome::kMalformed));
  check(isTokenText(text) || v.outcome == Outcome::kMalformed);
  (void)tokenLogId(text);
  auto minted = mint(Kind::kTemporary, fuzzRing(), remote, local, kNow);
  const bool addresses_ok = canonicalAddress(remote).ok() && canonicalAddress(local).ok();
  check(minted.ok() == addresses_ok);
  if (!minted) return;
  check(isTokenText(*minted));
  check(verify(*minted, remote, local, fuzzRing(), kNow, Lifetimes{}).outcome == Outcome::kValid);
  check(
      verify(*minted, "someone-else@fuzz.invalid", local, fuzzRing(), kNow, Lifetimes{}).outcome !=
          Outcome::kValid ||
      *canonicalAddress(remote) == "someone-else@fuzz.invalid");
}

void fuzzAuth(std::string_view in) {
  auto p = parseAuthPayload(in);
  if (!p) return;
  auto again = parseAuthPayload(formatAuthPayload(p->recipient, p->token));
  // The recipient may itself hold "\0" literally; the real NUL wins then.
  check(again.ok() || formatAuthPayload(p->recipient, p->token).size() > kMaxAuthText);
  if (again) check(again->token == p->token && again->recipient == p->recipient);
}

void fuzzReply(std::string_view in) {
  if (auto g = parseGenerated(in)) check(isForeignToken(*g));
  auto r = parseDeliveryReply(in);
  if (!r) return;
  const std::string line =
      r->permanent ? formatDeliveredWithToken(r->address, *r->permanent, r->delivery_id, r->text)
                   : formatDelivered(r->address, r->delivery_id, r->text);
  auto again = parseDeliveryReply(std::string_view(line).substr(4));
  check(again.ok() && again->address == r->address && again->delivery_id == r->delivery_id &&
        again->permanent == r->permanent);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      fuzzToken(in);
      break;
    case 1:
      fuzzAuth(in);
      break;
    case 2:
      if (auto p = parseRcptParams(in)) {
        if (p->stoken) check(isForeignToken(*p->stoken));
        if (p->mystoken) check(isForeignToken(*p->mystoken));
      }
      break;
    case 3: {
      const bool gen = !in.empty() && (static_cast<uint8_t>(in[0]) % 2 == 0);
      const ManageParse m =
          parseManageArgs(gen ? "GENSTOKEN" : "REVSTOKEN", in.empty() ? in : in.substr(1));
      if (m.error == ManageError::kNone) check(canonicalAddress(m.args.remote).ok());
      break;
    }
    case 4:
      fuzzReply(in);
      break;
    case 5:
      if (auto t = parseSubmissionTokenHeader(in)) check(isForeignToken(*t));
      break;
  }
  return 0;
}
