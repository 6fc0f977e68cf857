// decode() and verify() on arbitrary text never crash, and agree.
// Input: TOKEN, or TOKEN "\n" SENDER (then the sender-bound tag is checked).
// The ring holds keys 1 and 2 with fixed secrets, so the seed corpus (tokens
// minted with them) lets the fuzzer start from valid tokens.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "token/token.h"

namespace {

const mtep::token::KeyRing& fuzzRing() {
  static const mtep::token::KeyRing ring = [] {
    mtep::token::Key k1;
    k1.id = 1;
    k1.secret.fill(0x5a);
    mtep::token::Key k2;
    k2.id = 2;
    k2.secret.fill(0xa5);
    return mtep::token::KeyRing::fromKeys({k1, k2});
  }();
  return ring;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mtep::token::Outcome;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view token = in;
  std::string_view sender;
  const size_t nl = in.find('\n');
  const bool has_sender = nl != std::string_view::npos;
  if (has_sender) {
    token = in.substr(0, nl);
    sender = in.substr(nl + 1);
  }
  auto info = mtep::token::decode(token);
  auto v = mtep::token::verify(fuzzRing(), token, sender, has_sender, 1'700'000'000);
  // verify() says malformed exactly when decode() fails, and both read the
  // same header.
  if (info.ok() != (v.outcome != Outcome::kMalformed)) __builtin_trap();
  if (info.ok()) {
    if (token.size() != mtep::token::kTokenTextLength) __builtin_trap();
    if (info->revocationId() != v.info.revocationId() || info->expires != v.info.expires) {
      __builtin_trap();
    }
  }
  if (v.outcome == Outcome::kRevoked) __builtin_trap();
  return 0;
}
