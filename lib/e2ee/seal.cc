// Sealed boxes (libsodium) to an ed25519 key, ASCII-armored.
#include "e2ee/seal.h"

#include <sodium.h>

#include <vector>

#include "util/base64.h"

namespace mtep::e2ee {
namespace {

constexpr size_t kLineWidth = 64;

Status initSodium() {
  static const int rc = sodium_init();  // thread-safe, idempotent
  if (rc < 0) return Error(ErrorKind::kInternal, "libsodium cannot initialise");
  return okStatus();
}

std::string_view trimLine(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

Result<std::string> sealToKey(std::string_view plaintext, const PublicKey& recipient,
                              const SealLimits& limits) {
  if (auto st = initSodium(); !st) return std::move(st).error();
  if (plaintext.size() > limits.max_plaintext) {
    return Error(ErrorKind::kLimit,
                 "plaintext larger than " + std::to_string(limits.max_plaintext) + " bytes");
  }
  unsigned char x_pub[crypto_box_PUBLICKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(x_pub, recipient.data()) != 0) {
    return Error(ErrorKind::kInvalid, "recipient key is not a valid ed25519 public key");
  }
  std::vector<unsigned char> sealed(plaintext.size() + crypto_box_SEALBYTES);
  if (crypto_box_seal(sealed.data(), reinterpret_cast<const unsigned char*>(plaintext.data()),
                      plaintext.size(), x_pub) != 0) {
    return Error(ErrorKind::kInternal, "libsodium: crypto_box_seal failed");
  }
  const std::string b64 = base64Encode(sealed.data(), sealed.size(), false, true);
  std::string out(kArmorBegin);
  out += "\r\n";
  for (size_t i = 0; i < b64.size(); i += kLineWidth) {
    out.append(b64, i, kLineWidth);
    out += "\r\n";
  }
  out += kArmorEnd;
  out += "\r\n";
  return out;
}

Result<std::string> openSealed(std::string_view armored, const Seed& recipient_seed,
                               const SealLimits& limits) {
  if (auto st = initSodium(); !st) return std::move(st).error();
  if (armored.size() > limits.max_armored) {
    return Error(ErrorKind::kLimit,
                 "armored text larger than " + std::to_string(limits.max_armored) + " bytes");
  }
  // Find the BEGIN line, collect base64 lines up to the END line.
  std::string b64;
  enum class State { kBefore, kInside, kDone } state = State::kBefore;
  size_t pos = 0;
  while (pos <= armored.size() && state != State::kDone) {
    size_t nl = armored.find('\n', pos);
    if (nl == std::string_view::npos) nl = armored.size();
    const std::string_view line = trimLine(armored.substr(pos, nl - pos));
    pos = nl + 1;
    if (state == State::kBefore) {
      if (line == kArmorBegin) state = State::kInside;
      continue;
    }
    if (line == kArmorEnd) {
      state = State::kDone;
      break;
    }
    if (line.size() > kLineWidth) {
      return Error(ErrorKind::kInvalid, "armor: a line longer than 64 characters");
    }
    b64 += line;
  }
  if (state == State::kBefore) return Error(ErrorKind::kInvalid, "armor: no BEGIN line");
  if (state != State::kDone) return Error(ErrorKind::kInvalid, "armor: no END line");
  auto sealed = base64Decode(b64, false);
  if (!sealed) return Error(ErrorKind::kInvalid, "armor: the body is not base64");
  if (sealed->size() < crypto_box_SEALBYTES) {
    return Error(ErrorKind::kInvalid, "armor: shorter than a sealed box");
  }
  unsigned char ed_pub[crypto_sign_PUBLICKEYBYTES];
  unsigned char ed_sec[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(ed_pub, ed_sec, recipient_seed.data());
  unsigned char x_pub[crypto_box_PUBLICKEYBYTES];
  unsigned char x_sec[crypto_box_SECRETKEYBYTES];
  const bool converted = crypto_sign_ed25519_pk_to_curve25519(x_pub, ed_pub) == 0 &&
                         crypto_sign_ed25519_sk_to_curve25519(x_sec, ed_sec) == 0;
  sodium_memzero(ed_sec, sizeof ed_sec);
  if (!converted) {
    sodium_memzero(x_sec, sizeof x_sec);
    return Error(ErrorKind::kInternal, "libsodium: cannot convert the key to X25519");
  }
  std::string plain(sealed->size() - crypto_box_SEALBYTES, '\0');
  const int rc = crypto_box_seal_open(reinterpret_cast<unsigned char*>(plain.data()),
                                      sealed->data(), sealed->size(), x_pub, x_sec);
  sodium_memzero(x_sec, sizeof x_sec);
  if (rc != 0) {
    return Error(ErrorKind::kInvalid,
                 "sealed message does not open with this key (wrong key or "
                 "altered)");
  }
  return plain;
}

}  // namespace mtep::e2ee
