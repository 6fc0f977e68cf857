#pragma once
// NAME
//   e2ee.h - user keys and sender signatures (draft-korenenovak-smtp-e2eesign):
//   Argon2id key derivation, AUTH HASHEDPASS hashes and verifiers, the
//   canonical signed form, ed25519 sign/verify, key formats
// SUMMARY
//   Result<e2ee::KeyPair> k = e2ee::deriveKey(password, salt);  // fixed params
//   std::string sig = e2ee::signMessage(message, k->seed);     // 128 hex digits
//   Result<bool> ok = e2ee::verifyMessage(message, "ed25519 " + sig, k->pub);
//   Result<e2ee::PublicKey> pk = e2ee::parsePublicKey(text);   // any draft form
//   std::string reply = e2ee::formatPubkeyReply(pk);           // "220 ed25519 " + this
//   std::string header = e2ee::formatOpensshBlob(pk);          // X-Sender-Pubkey
//   e2ee::Hash h = e2ee::hashedPass(user, password);           // client side
//   std::string stored = e2ee::makeVerifier(h);                // server side
//   bool good = e2ee::checkVerifier(stored, h);
//   Result<std::string> from = e2ee::fromMailbox("Alice <alice@alpha.test>");
// DESCRIPTION
//   Key derivation: seed = Argon2id v1.3 (password, salt, m = 65536 KiB
//   (64 MiB), t = 3, p = 1, 32-byte output); the seed is the ed25519 private
//   key (RFC 8032 "secret key") and the public key follows from it. The salt
//   is the one GETSALT/RSTSALT returns, decoded: 16..64 bytes. These
//   parameters are FIXED: changing them changes every user's key, so they
//   are part of the format, not configuration. Tests may pass smaller
//   KdfParams; nothing in the daemons may.
//
//   AUTH HASHEDPASS client hash: Argon2id(password, salt = the first 16
//   bytes of SHA-256("mtep-hashedpass:" || ascii-lower(username)), the same
//   m/t/p, 32 bytes). The salt is computable before login (the draft needs
//   that) and differs from the key salt, so the server never learns the key
//   seed. On the wire: base64("\0" username "\0" hex(hash)) (64 lower-case
//   hex digits, so the payload is printable); read also raw 32 bytes or
//   base64 of them.
//
//   Server verifier: the received hash is itself a password equivalent, so
//   the store keeps only "v1:" hex(salt16) ":" hex(SHA-256("mtep-verifier:"
//   || salt16 || hash)) with a random per-user 16-byte salt. A fast hash is
//   enough here: the input is a 256-bit Argon2id output, so a stolen
//   verifier still costs the attacker one Argon2id per password guess.
//   Comparison is constant-time (CRYPTO_memcmp).
//
//   Canonical signed form: DKIM relaxed header canonicalisation (RFC 6376
//   3.4.2) of the first occurrence of each of From, To, Date, Subject,
//   Message-ID, in that order, those present (names matched without case,
//   written lower-case, each line ending CRLF), then CRLF, then the body in
//   DKIM relaxed form (3.4.4: trailing WSP removed, WSP runs to one SP,
//   trailing empty lines removed, a non-empty body ends with CRLF). Input is
//   a whole RFC 5322 message; bare LF counts as CRLF; a message without an
//   empty line is all headers with an empty body.
//
//   Signatures: ed25519 (RFC 8032, pure, OpenSSL) over the canonical form.
//   Written as 128 lower-case hex digits (the draft's example); header value
//   "ed25519 <sig>". Read: hex (either case) or base64 (with or without
//   padding), with or without the "ed25519 " prefix, surrounding WSP
//   ignored, at most kMaxSignatureText characters.
//
//   Public key formats, read liberally (optional "ed25519 " prefix, at most
//   kMaxKeyText characters, checked before decoding): raw 32 bytes in
//   base64; the OpenSSH blob (string "ssh-ed25519", string key32) as
//   "ssh-ed25519 AAAA... [comment]" or its base64 alone; the draft's double
//   form, base64 of either of those texts (one level only). Written: the
//   PUBKEY reply is base64 of the blob's base64 text (the draft's example
//   "QUFBQUMzTnphQzFl..." decodes to "AAAAC3NzaC1lZDI1..."); X-Sender-Pubkey
//   is the blob's base64 ("AAAAC3NzaC1lZDI1NTE5AAAAI...").
//
//   Errors: kInvalid with a message saying what is wrong (never echoing
//   more than a few bytes of the input); kLimit for oversized text;
//   kTemporary when Argon2id cannot allocate; kInternal for OpenSSL
//   failures that cannot happen with valid keys. Nothing here does I/O.
// SEE ALSO
//   seal.h (encryption to a recipient key), doc/e2ee-vectors.md,
//   RFC 8032, RFC 6376, PROTOCOLS.md section 4 (not shipped)

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace mtep::e2ee {

using Seed = std::array<uint8_t, 32>;       // ed25519 private key (RFC 8032)
using PublicKey = std::array<uint8_t, 32>;  // ed25519 public key
using Hash = std::array<uint8_t, 32>;       // an Argon2id output
using Signature = std::array<uint8_t, 64>;

inline constexpr std::string_view kHeaderEncrypted = "X-Sender-Encrypted";  // value "yes"
inline constexpr std::string_view kHeaderPubkey = "X-Sender-Pubkey";        // "ed25519 " blob
inline constexpr std::string_view kHeaderSignature = "X-Sender-Signature";  // "ed25519 " hex

constexpr size_t kMinSaltBytes = 16;
constexpr size_t kNewSaltBytes = 16;  // what randomSalt() makes (128 bits, the draft's minimum)
constexpr size_t kMaxSaltBytes = 64;
constexpr size_t kMaxKeyText = 1024;
constexpr size_t kMaxSignatureText = 256;
constexpr size_t kMaxUsername = 256;
constexpr size_t kMaxPassword = 1024;

struct KdfParams {
  uint32_t memory_kib = 65536;  // 64 MiB: the fixed parameter
  uint32_t time_cost = 3;       // passes
  uint32_t lanes = 1;           // parallelism
};

struct KeyPair {
  Seed seed{};
  PublicKey pub{};
};

// Salts (GETSALT/RSTSALT): a new random one, and its base64 text both ways.
// parseSalt() refuses text over the length cap before decoding, and
// decoded salts shorter than kMinSaltBytes or longer than kMaxSaltBytes.
Result<std::string> randomSalt();
std::string formatSalt(std::string_view salt);
Result<std::string> parseSalt(std::string_view text);

// The key pair for `seed` (RFC 8032 public key computation).
Result<KeyPair> keyPairFromSeed(const Seed& seed);
// Argon2id(password, salt) -> seed -> key pair; salt is the decoded salt.
Result<KeyPair> deriveKey(std::string_view password, std::string_view salt,
                          const KdfParams& params = KdfParams{});

// AUTH HASHEDPASS: the client's hash, and the payload it sends after
// "AUTH HASHEDPASS " (base64 of NUL user NUL hex(hash)).
Result<Hash> hashedPass(std::string_view username, std::string_view password,
                        const KdfParams& params = KdfParams{});
std::string formatHashedPassAuth(std::string_view username, const Hash& hash);
struct HashedPassAuth {
  std::string username;  // as sent (compare with asciiIEquals)
  Hash hash{};
};
Result<HashedPassAuth> parseHashedPassAuth(std::string_view base64_payload);

// Server side: a verifier to store for `hash`, and the constant-time check.
// checkVerifier() is false for a malformed stored value.
Result<std::string> makeVerifier(const Hash& hash);
bool checkVerifier(std::string_view stored, const Hash& hash) noexcept;

// The bytes that are signed (see DESCRIPTION).
std::string canonicalForm(std::string_view message);

// Signatures over canonicalForm(message). verifyMessage(): an error when
// the signature text or key is malformed, else true (pass) or false (fail).
Result<Signature> signBytes(std::string_view bytes, const Seed& seed);
Result<bool> verifyBytes(std::string_view bytes, const Signature& sig, const PublicKey& pub);
Result<std::string> signMessage(std::string_view message, const Seed& seed);  // hex
Result<bool> verifyMessage(std::string_view message, std::string_view sig_text,
                           const PublicKey& pub);
Result<Signature> parseSignature(std::string_view text);

// The one mailbox of a From: header value, whose key checks the signature:
// "Name <addr>", "addr", comments "(...)" (nested, anywhere but inside
// <...>), quoted display names and local parts, folded or not. The address
// is checked with smtp::parseMailbox (UTF-8 allowed) and returned in its
// toString() form ("alice@alpha.test", "\"a b\"@x.test"). kInvalid for a
// list, a group, several <...>, text after the <address>, words without
// one, an unclosed quote, comment or <, no address, or a bad address.
Result<std::string> fromMailbox(std::string_view from_value);

// Key formats (see DESCRIPTION).
Result<PublicKey> parsePublicKey(std::string_view text);
std::string formatOpensshBlob(const PublicKey& pub);  // "AAAAC3NzaC1lZDI1NTE5..."
std::string formatOpensshText(const PublicKey& pub);  // "ssh-ed25519 AAAA..."
std::string formatPubkeyReply(const PublicKey& pub);  // base64(blob base64)
std::string formatRaw(const PublicKey& pub);          // base64 of the 32 bytes

}  // namespace mtep::e2ee
