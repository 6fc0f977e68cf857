// parsePublicKey(), parseSignature() and parseHashedPassAuth() on arbitrary
// text never crash; a key that parses writes back in every form and reads
// back as the same key; a signature that parses is 64 bytes by type.
// parseSalt() and openSealed() (armor parsing, small limits) never crash.
// Input: the whole input is tried as each of them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "e2ee/e2ee.h"
#include "e2ee/seal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace e2ee = mtep::e2ee;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto key = e2ee::parsePublicKey(in);
  if (key.ok()) {
    for (const auto& text : {e2ee::formatRaw(*key), e2ee::formatOpensshBlob(*key),
                             e2ee::formatOpensshText(*key), e2ee::formatPubkeyReply(*key)}) {
      auto back = e2ee::parsePublicKey(text);
      if (!back.ok() || *back != *key) __builtin_trap();
    }
  } else if (key.error().message().empty()) {
    __builtin_trap();
  }
  auto sig = e2ee::parseSignature(in);
  if (!sig.ok() && sig.error().message().empty()) __builtin_trap();
  auto auth = e2ee::parseHashedPassAuth(in);
  if (auth.ok()) {
    if (auth->username.empty()) __builtin_trap();
    auto again = e2ee::parseHashedPassAuth(e2ee::formatHashedPassAuth(auth->username, auth->hash));
    if (!again.ok() || again->hash != auth->hash || again->username != auth->username) {
      __builtin_trap();
    }
  }
  auto salt = e2ee::parseSalt(in);
  if (salt.ok() && (salt->size() < e2ee::kMinSaltBytes || salt->size() > e2ee::kMaxSaltBytes)) {
    __builtin_trap();
  }
  static const e2ee::Seed seed = [] {
    e2ee::Seed s;
    s.fill(0x42);
    return s;
  }();
  e2ee::SealLimits limits;
  limits.max_armored = 4096;
  auto opened = e2ee::openSealed(in, seed, limits);
  (void)opened.ok();
  return 0;
}
