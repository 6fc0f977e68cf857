#pragma once
// NAME
//   seal.h - encryption of a message body to a recipient's ed25519 key,
//   ASCII-armored (X-Sender-Encrypted: yes)
// SUMMARY
//   Result<std::string> armor = e2ee::sealToKey(body, recipient_pub);
//   Result<std::string> body = e2ee::openSealed(armor, recipient_seed);
// DESCRIPTION
//   Not home-made: the recipient's ed25519 public key is converted to its
//   X25519 key (libsodium crypto_sign_ed25519_pk_to_curve25519) and the
//   plaintext sealed with crypto_box_seal (an ephemeral X25519 key,
//   XSalsa20-Poly1305, 48 bytes of overhead; anonymous, so sign as well).
//   The recipient converts the ed25519 secret key (seed || public key) with
//   crypto_sign_ed25519_sk_to_curve25519 and opens it.
//
//   Armor: the line "-----BEGIN MTEP SEALED MESSAGE-----", the sealed bytes
//   in standard base64 (padded) in lines of 64 characters, the line
//   "-----END MTEP SEALED MESSAGE-----", every line ending CRLF. Reading
//   accepts LF or CRLF, WSP at line ends and text before BEGIN or after END
//   (a MUA's additions); anything else between the markers is refused.
//   Plaintext and armored input are capped by SealLimits before any work.
//
//   Errors: kLimit over the caps; kInvalid for bad armor, a key that is not
//   a valid ed25519 point, or a box that does not open (wrong key or
//   altered); kInternal if libsodium cannot initialise.
// SEE ALSO
//   e2ee.h, libsodium's "Sealed boxes" documentation

#include <cstddef>
#include <string>
#include <string_view>

#include "e2ee/e2ee.h"
#include "util/result.h"

namespace mtep::e2ee {

struct SealLimits {
  size_t max_plaintext = 32u << 20;  // bytes sealed at most (32 MiB)
  size_t max_armored = 48u << 20;    // armored text read at most
};

inline constexpr std::string_view kArmorBegin = "-----BEGIN MTEP SEALED MESSAGE-----";
inline constexpr std::string_view kArmorEnd = "-----END MTEP SEALED MESSAGE-----";

Result<std::string> sealToKey(std::string_view plaintext, const PublicKey& recipient,
                              const SealLimits& limits = SealLimits{});
Result<std::string> openSealed(std::string_view armored, const Seed& recipient_seed,
                               const SealLimits& limits = SealLimits{});

}  // namespace mtep::e2ee
