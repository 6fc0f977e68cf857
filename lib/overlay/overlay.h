#pragma once
// NAME
//   overlay.h - overlay network names: Tor v3 onion, i2p, SMTorP addresses
// SUMMARY
//   auto d = overlay::parseDomain("fp...fp.abc...xyz.onion");
//   d->kind == Kind::kOnion; d->host == "abc...xyz.onion"; d->fingerprint == "fp...fp"
//   overlay::fingerprintMatches(d->fingerprint, server_fingerprint)
// DESCRIPTION
//   Decisions in PROTOCOLS.md section 6 and doc/smtorp.md:
//   - Onion v3: 56 base32 characters (RFC 4648, a-z 2-7; upper case is
//     accepted and lowered) decoding to pubkey(32) || checksum(2) ||
//     version(1); version must be 3; checksum = SHA3-256(".onion checksum"
//     || pubkey || version)[0..2]. v2 (16 characters) names are refused
//     ("v2 onion services are gone since 2021").
//   - SMTorP: one optional label before the onion label is the TLS
//     fingerprint: base32, 16..52 characters; it is a prefix of the
//     server's key fingerprint (lib/transport/tls.h). Anything else before
//     the onion label (a second label, or characters outside base32) is
//     refused, naming the label.
//   - i2p: "<52 base32>.b32.i2p" (a destination hash), or a longer b32 name
//     (56+ characters, encrypted lease sets), or a plain "name.i2p" from
//     i2p's address book (accepted; the proxy resolves it). Labels follow
//     the DNS letter-digit-hyphen rule.
//   - Anything not ending in .onion or .i2p is Kind::kNone (not an error).
//   Errors are kInvalid with a message that says exactly what is wrong
//   ("checksum does not match", "version 2, not 3", "fingerprint label
//   'xyz1' is not base32 (1 is not a base32 digit)"), safe to log.
//   Names are compared and returned in lower case, without the root dot.
//   A name that is empty or has an empty label (".onion", "x..onion",
//   "x.onion..", "example.org..") is kInvalid: one trailing dot is the
//   root, a second one ends an empty label (util/domain_name.h, shared
//   with the resolver and the dialer).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace mtep::overlay {

enum class Kind { kNone, kOnion, kI2p };
const char* kindName(Kind k) noexcept;  // "none", "onion", "i2p"

struct Domain {
  Kind kind = Kind::kNone;
  std::string host;         // what to connect to: "<56>.onion", "<52>.b32.i2p", or the domain
  std::string fingerprint;  // SMTorP fingerprint label, lower case; "" = none
  std::string pubkey_hex;   // onion: the ed25519 service key, hex (for explanations)
};

// Classifies and validates a domain (no address literal). kInvalid as above.
Result<Domain> parseDomain(std::string_view domain);

// A line per fact for `mtepctl address check`: what kind of name, the
// service key, the fingerprint label and its strength in bits, where mail
// to it goes (proxy, port), or what is wrong. `address` is a mailbox
// ("user@domain") or a bare domain.
struct Explanation {
  bool valid = false;
  std::vector<std::string> lines;
};
Explanation explain(std::string_view address);

// RFC 4648 base32, lower case, no padding.
std::string base32Encode(std::string_view bytes);
// Accepts upper and lower case, no padding; kInvalid naming the first bad
// character or a length that leaves non-zero spare bits.
Result<std::string> base32Decode(std::string_view text);

// True when `label` (16..52 base32 characters) is a prefix of `fingerprint`
// (52 characters), compared in lower case.
bool fingerprintMatches(std::string_view label, std::string_view fingerprint);

// Builds an onion v3 address from a 32-byte ed25519 public key (tests,
// mtepctl). kInvalid when the key is not 32 bytes.
Result<std::string> onionFromPublicKey(std::string_view pubkey);

}  // namespace mtep::overlay
