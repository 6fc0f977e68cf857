// The keyed fingerprints of state_table.h.
#include "policy/state_table.h"

#include <openssl/core_names.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mtep::policy {

namespace {

[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "mtep: policy state: %s\n", what);
  std::abort();
}

EVP_MAC* sipHash() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  return mac;
}

}  // namespace

KeyHasher::KeyHasher() : ctx_(nullptr, EVP_MAC_CTX_free) {
  if (sipHash() == nullptr) fatal("OpenSSL has no SIPHASH MAC");
  ctx_.reset(EVP_MAC_CTX_new(sipHash()));
  std::array<unsigned char, 16> key{};
  if (!ctx_ || RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    fatal("cannot set up the SipHash key");
  }
  size_t size = sizeof(Fingerprint);
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                               OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx_.get(), key.data(), key.size(), params) != 1 ||
      EVP_MAC_CTX_get_mac_size(ctx_.get()) != sizeof(Fingerprint)) {
    fatal("cannot set up the SipHash key");
  }
  OPENSSL_cleanse(key.data(), key.size());
}

Fingerprint KeyHasher::of(std::initializer_list<std::string_view> parts) {
  // EVP_MAC_init without a key starts again from the key set above.
  bool ok = EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr) == 1;
  for (std::string_view part : parts) {
    const uint64_t length = part.size();
    unsigned char prefix[sizeof length];
    std::memcpy(prefix, &length, sizeof length);
    ok = ok && EVP_MAC_update(ctx_.get(), prefix, sizeof prefix) == 1 &&
         EVP_MAC_update(ctx_.get(), reinterpret_cast<const unsigned char*>(part.data()),
                        part.size()) == 1;
  }
  unsigned char out[sizeof(Fingerprint)];
  size_t len = 0;
  ok = ok && EVP_MAC_final(ctx_.get(), out, &len, sizeof out) == 1 && len == sizeof out;
  // Only a broken OpenSSL fails here; state kept under a wrong key could
  // merge two senders' counters, so stop rather than go on.
  if (!ok) fatal("SipHash failed");
  Fingerprint f;
  std::memcpy(&f.lo, out, 8);
  std::memcpy(&f.hi, out + 8, 8);
  return f;
}

}  // namespace mtep::policy
