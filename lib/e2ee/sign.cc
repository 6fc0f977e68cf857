// ed25519 signatures (OpenSSL) over the canonical form.
#include <openssl/evp.h>

#include <cstring>
#include <optional>
#include <vector>

#include "e2ee/e2ee.h"
#include "e2ee/internal.h"
#include "util/base64.h"

namespace mtep::e2ee {
using detail::MdCtxPtr;
using detail::PkeyPtr;
using detail::trimWsp;

Result<Signature> signBytes(std::string_view bytes, const Seed& seed) {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!key || !ctx) return Error(ErrorKind::kInternal, "OpenSSL: cannot set up ed25519 signing");
  Signature sig;
  size_t len = sig.size();
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const uint8_t*>(bytes.data()),
                     bytes.size()) != 1 ||
      len != sig.size()) {
    return Error(ErrorKind::kInternal, "OpenSSL: ed25519 signing failed");
  }
  return sig;
}

Result<bool> verifyBytes(std::string_view bytes, const Signature& sig, const PublicKey& pub) {
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()));
  if (!key) return Error(ErrorKind::kInvalid, "not a valid ed25519 public key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return Error(ErrorKind::kInternal, "OpenSSL: cannot set up ed25519 verification");
  }
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(),
                          reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 1;
}

Result<std::string> signMessage(std::string_view message, const Seed& seed) {
  auto sig = signBytes(canonicalForm(message), seed);
  if (!sig) return std::move(sig).error();
  return hexEncode(sig->data(), sig->size());
}

Result<bool> verifyMessage(std::string_view message, std::string_view sig_text,
                           const PublicKey& pub) {
  auto sig = parseSignature(sig_text);
  if (!sig) return std::move(sig).error();
  return verifyBytes(canonicalForm(message), *sig, pub);
}

Result<Signature> parseSignature(std::string_view text) {
  if (text.size() > kMaxSignatureText) {
    return Error(ErrorKind::kLimit,
                 "signature text longer than " + std::to_string(kMaxSignatureText) + " characters");
  }
  text = trimWsp(text);
  if (text.size() > 7 && asciiIEquals(text.substr(0, 7), "ed25519") &&
      (text[7] == ' ' || text[7] == '\t')) {
    text = trimWsp(text.substr(8));
  } else if (text.find_first_of(" \t") != std::string_view::npos) {
    return Error(ErrorKind::kInvalid, "signature: only the algorithm \"ed25519\" is known");
  }
  std::optional<std::vector<uint8_t>> bytes;
  const char* form = "";
  if (text.size() == 128) {
    bytes = hexDecode(text);
    form = "hex";
  } else if (text.size() == 86 || text.size() == 88) {
    bytes = base64Decode(text, false);
    form = "base64";
  } else {
    return Error(ErrorKind::kInvalid,
                 "signature: expected 128 hex digits or 86/88 base64 characters, got " +
                     std::to_string(text.size()) + " characters");
  }
  if (!bytes || bytes->size() != 64) {
    return Error(ErrorKind::kInvalid, std::string("signature: malformed ") + form);
  }
  Signature sig;
  std::memcpy(sig.data(), bytes->data(), 64);
  return sig;
}

}  // namespace mtep::e2ee
