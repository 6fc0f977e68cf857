// decode() and verify() on arbitrary text never crash, and agree.
// Input: TOKEN, or TOKEN "\n" SENDER (then the sender tag is checked), or
// TOKEN "\n" SENDER "\n" DOMAIN (then a version-2 token's recipient-domain
// tag too). The ring holds keys 1 and 2 with fixed secrets, so the seed
// corpus (tests/fuzz/corpus/token: version-1 and version-2 tokens minted
// with key 1, for alice@example.org and beta.test) lets the fuzzer start
// from valid tokens.
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
  mtep::token::Binding binding;
  std::string_view token = in;
  const size_t nl = in.find('\n');
  if (nl != std::string_view::npos) {
    token = in.substr(0, nl);
    binding.has_sender = true;
    binding.sender = in.substr(nl + 1);
    const size_t nl2 = binding.sender.find('\n');
    if (nl2 != std::string_view::npos) {
      binding.recipient_domain = binding.sender.substr(nl2 + 1);
      binding.sender = binding.sender.substr(0, nl2);
      binding.has_recipient = true;
    }
  }
  auto info = mtep::token::decode(token);
  auto v = mtep::token::verify(fuzzRing(), token, binding, 1'700'000'000);
  // verify() says malformed exactly when decode() fails, and both read the
  // same header.
  if (info.ok() != (v.outcome != Outcome::kMalformed)) __builtin_trap();
  if (info.ok()) {
    const size_t want = info->version == 1 ? mtep::token::kTokenV1TextLength
                                           : mtep::token::kTokenTextLength;
    if (token.size() != want || (info->version != 1 && info->version != 2)) __builtin_trap();
    if (info->revocationId() != v.info.revocationId() || info->expires != v.info.expires) {
      __builtin_trap();
    }
  }
  if (v.outcome == Outcome::kRevoked) __builtin_trap();
  // What was not given is never reported as checked, and a version-1 token
  // never checks a recipient domain.
  if (v.sender_checked && (!binding.has_sender || v.outcome != Outcome::kValid)) __builtin_trap();
  if (v.recipient_checked &&
      (!binding.has_recipient || !v.sender_checked || v.info.version != 2)) {
    __builtin_trap();
  }
  return 0;
}
