// Overlay names: onion v3 validation, SMTorP fingerprint labels, i2p
// names, and the explanation `mtepctl address check` prints. See overlay.h.
#include "overlay/overlay.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/base64.h"
#include "util/domain_name.h"

namespace mtep::overlay {
namespace {

constexpr size_t kOnionLength = 56;          // base32 characters of a v3 name
constexpr size_t kOnionV2Length = 16;        // the retired v2 names
constexpr size_t kPubkeyLength = 32;         // ed25519
constexpr uint8_t kOnionVersion = 3;
constexpr size_t kFingerprintLength = 52;    // base32 of SHA-256
constexpr size_t kMinFingerprintLabel = 16;  // 80 bits
constexpr size_t kI2pHashLength = 52;        // base32 of a SHA-256 destination hash
constexpr size_t kI2pB33MinLength = 56;      // encrypted lease set names
constexpr size_t kMaxDomainLength = 253;
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxQuoted = 64;            // longer labels are cut in messages
constexpr size_t kMaxAddressShown = 320;     // and longer addresses in explanations

bool isBase32Digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); }

// A byte as it may appear in a log line.
std::string printableByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7f && c != '\'') return std::string(1, c);
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("\\x") + kHex[u >> 4] + kHex[u & 0xf];
}

// `s` as printable ASCII, cut after `max` bytes.
std::string printable(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) out += printableByte(s[i]);
  if (s.size() > max) out += "...";
  return out;
}

// `s` quoted for a message: printable ASCII only, cut when long.
std::string quote(std::string_view s) { return "'" + printable(s, kMaxQuoted) + "'"; }

// The first character of `s` that is not a base32 digit (s is lower case),
// or npos.
size_t firstNonBase32(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!isBase32Digit(s[i])) return i;
  }
  return std::string_view::npos;
}

Error invalid(std::string message) { return Error(ErrorKind::kInvalid, std::move(message)); }

struct MdFree {
  void operator()(EVP_MD* md) const noexcept { EVP_MD_free(md); }
};

// SHA3-256(".onion checksum" || pubkey || version)[0..2].
Result<std::array<uint8_t, 2>> onionChecksum(std::string_view pubkey, uint8_t version) {
  std::unique_ptr<EVP_MD, MdFree> md(EVP_MD_fetch(nullptr, "SHA3-256", nullptr));
  if (!md) return Error(ErrorKind::kInternal, "overlay: OpenSSL has no SHA3-256");
  std::string input = ".onion checksum";
  input.append(pubkey);
  input.push_back(static_cast<char>(version));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &len, md.get(), nullptr) != 1 || len < 2) {
    return Error(ErrorKind::kInternal, "overlay: SHA3-256 failed");
  }
  return std::array<uint8_t, 2>{digest[0], digest[1]};
}

std::vector<std::string_view> splitLabels(std::string_view name) {
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) {
      labels.push_back(name.substr(start));
      return labels;
    }
    labels.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
}

// Validates the onion label (lower case); fills host and pubkey_hex.
Status parseOnionLabel(std::string_view label, Domain& out) {
  if (label.size() == kOnionV2Length && firstNonBase32(label) == std::string_view::npos) {
    return invalid(quote(std::string(label) + ".onion") +
                   " is a v2 onion address: v2 onion services are gone since 2021");
  }
  if (const size_t bad = firstNonBase32(label); bad != std::string_view::npos) {
    return invalid("onion address " + quote(label) + " is not base32 (" +
                   printableByte(label[bad]) + " is not a base32 digit)");
  }
  if (label.size() != kOnionLength) {
    return invalid("onion address " + quote(label) + " has " + std::to_string(label.size()) +
                   " characters; a v3 onion address has 56");
  }
  auto raw = base32Decode(label);
  if (!raw || raw->size() != kPubkeyLength + 3) {
    return Error(ErrorKind::kInternal, "overlay: 56 base32 characters did not give 35 bytes");
  }
  const std::string_view bytes = *raw;
  const std::string_view pubkey = bytes.substr(0, kPubkeyLength);
  const auto version = static_cast<uint8_t>(bytes[kPubkeyLength + 2]);
  if (version != kOnionVersion) {
    return invalid("onion address " + quote(label) + ": version " + std::to_string(version) +
                   ", not 3");
  }
  auto sum = onionChecksum(pubkey, version);
  if (!sum) return std::move(sum).error();
  if (static_cast<uint8_t>(bytes[kPubkeyLength]) != (*sum)[0] ||
      static_cast<uint8_t>(bytes[kPubkeyLength + 1]) != (*sum)[1]) {
    return invalid("onion address " + quote(label) +
                   ": checksum does not match (a typing error?)");
  }
  out.host = std::string(label) + ".onion";
  out.pubkey_hex = hexEncode(reinterpret_cast<const uint8_t*>(pubkey.data()), pubkey.size());
  return okStatus();
}

Status checkFingerprintLabel(std::string_view label) {
  if (const size_t bad = firstNonBase32(label); bad != std::string_view::npos) {
    return invalid("fingerprint label " + quote(label) + " is not base32 (" +
                   printableByte(label[bad]) + " is not a base32 digit)");
  }
  if (label.size() < kMinFingerprintLabel || label.size() > kFingerprintLength) {
    return invalid("fingerprint label " + quote(label) + " has " +
                   std::to_string(label.size()) + " characters; it must have 16 to 52");
  }
  return okStatus();
}

Result<Domain> parseOnion(std::string_view name, const std::vector<std::string_view>& labels) {
  Domain d;
  d.kind = Kind::kOnion;
  if (labels.size() < 2 || labels[labels.size() - 2].empty()) {
    return invalid(quote(name) + ": no onion address before .onion");
  }
  if (Status s = parseOnionLabel(labels[labels.size() - 2], d); !s) return std::move(s).error();
  if (labels.size() == 3) {
    const std::string_view fp = labels[0];
    if (fp.empty()) return invalid(quote(name) + ": empty label before the onion address");
    if (Status s = checkFingerprintLabel(fp); !s) return std::move(s).error();
    d.fingerprint = std::string(fp);
  } else if (labels.size() > 3) {
    const std::string_view before = name.substr(0, name.size() - d.host.size() - 1);
    return invalid("label " + quote(before) +
                   " before the onion address: only one label, the TLS fingerprint, may "
                   "stand there");
  }
  return d;
}

// The DNS letter-digit-hyphen rule for one label (lower case).
Status checkLdhLabel(std::string_view name, std::string_view label) {
  if (label.empty()) return invalid(quote(name) + ": empty label");
  if (label.size() > kMaxLabelLength) {
    return invalid("label " + quote(label) + " is longer than 63 characters");
  }
  for (char c : label) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return invalid("label " + quote(label) + ": " + printableByte(c) +
                     " is not a letter, digit or hyphen");
    }
  }
  if (label.front() == '-' || label.back() == '-') {
    return invalid("label " + quote(label) + " begins or ends with a hyphen");
  }
  return okStatus();
}

Result<Domain> parseI2p(std::string_view name, const std::vector<std::string_view>& labels) {
  Domain d;
  d.kind = Kind::kI2p;
  if (labels.size() < 2) return invalid(quote(name) + ": no name before .i2p");
  if (name.size() > kMaxDomainLength) {
    return invalid("i2p name " + quote(name) + " is longer than 253 characters");
  }
  if (labels[labels.size() - 2] == "b32") {
    if (labels.size() != 3 || labels[0].empty()) {
      return invalid(quote(name) + ": a .b32.i2p name is one destination hash before .b32.i2p");
    }
    const std::string_view hash = labels[0];
    if (const size_t bad = firstNonBase32(hash); bad != std::string_view::npos) {
      return invalid("i2p destination " + quote(hash) + " is not base32 (" +
                     printableByte(hash[bad]) + " is not a base32 digit)");
    }
    if (hash.size() != kI2pHashLength && hash.size() < kI2pB33MinLength) {
      return invalid("i2p destination " + quote(hash) + " has " + std::to_string(hash.size()) +
                     " characters; a .b32.i2p name has 52 (or 56 and more for an encrypted "
                     "lease set)");
    }
    if (auto raw = base32Decode(hash); !raw) {
      return invalid("i2p destination " + quote(hash) + ": " + raw.error().message());
    }
    d.host = std::string(name);
    return d;
  }
  for (const std::string_view label : labels) {
    if (Status s = checkLdhLabel(name, label); !s) return std::move(s).error();
  }
  d.host = std::string(name);
  return d;
}

// The domain of a mailbox (after the last '@'), or the whole string.
std::string_view domainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(at + 1);
}

}  // namespace

const char* kindName(Kind k) noexcept {
  switch (k) {
    case Kind::kNone:
      return "none";
    case Kind::kOnion:
      return "onion";
    case Kind::kI2p:
      return "i2p";
  }
  return "unknown";
}

Result<Domain> parseDomain(std::string_view domain) {
  // The one normal form (util/domain_name.h): the root dot dropped, an
  // empty label anywhere refused ("x.onion.." is not "x.onion").
  const auto bare = bareDomainName(domain);
  if (!bare) return invalid(quote(domain) + ": " + bare.error().message());
  std::string name = asciiLower(*bare);
  const std::vector<std::string_view> labels = splitLabels(name);
  const std::string_view tld = labels.back();
  if (tld == "onion") return parseOnion(name, labels);
  if (tld == "i2p") return parseI2p(name, labels);
  Domain d;
  d.host = std::move(name);
  return d;
}

bool fingerprintMatches(std::string_view label, std::string_view fingerprint) {
  if (label.size() < kMinFingerprintLabel || label.size() > kFingerprintLength ||
      fingerprint.size() != kFingerprintLength) {
    return false;
  }
  const std::string l = asciiLower(label);
  const std::string f = asciiLower(fingerprint);
  if (firstNonBase32(l) != std::string::npos || firstNonBase32(f) != std::string::npos) {
    return false;
  }
  return f.compare(0, l.size(), l) == 0;
}

Result<std::string> onionFromPublicKey(std::string_view pubkey) {
  if (pubkey.size() != kPubkeyLength) {
    return invalid("an onion service key has 32 bytes, not " + std::to_string(pubkey.size()));
  }
  auto sum = onionChecksum(pubkey, kOnionVersion);
  if (!sum) return std::move(sum).error();
  std::string raw(pubkey);
  raw.push_back(static_cast<char>((*sum)[0]));
  raw.push_back(static_cast<char>((*sum)[1]));
  raw.push_back(static_cast<char>(kOnionVersion));
  return base32Encode(raw) + ".onion";
}

Explanation explain(std::string_view address) {
  Explanation e;
  e.lines.push_back("address: " + printable(address, kMaxAddressShown));
  const size_t at = address.rfind('@');
  const std::string_view domain = domainOf(address);
  if (at != std::string_view::npos && at == 0) {
    e.lines.push_back("invalid: the local part before '@' is empty");
    return e;
  }
  if (domain.empty()) {
    e.lines.push_back("invalid: no domain");
    return e;
  }
  auto d = parseDomain(domain);
  if (!d) {
    e.lines.push_back("invalid: " + d.error().message());
    return e;
  }
  e.valid = true;
  switch (d->kind) {
    case Kind::kNone:
      e.lines.push_back("kind: none (not an overlay name; mail goes the usual way, by DNS)");
      break;
    case Kind::kOnion: {
      e.lines.push_back("kind: onion (Tor v3 onion service)");
      e.lines.push_back("onion address: " + d->host);
      e.lines.push_back("service key (ed25519): " + d->pubkey_hex);
      e.lines.push_back("version: 3, checksum: ok");
      if (d->fingerprint.empty()) {
        e.lines.push_back(
            "fingerprint label: none (the server's TLS key is pinned on first use when "
            "[outbound] trust_on_first_use is on, else refused)");
      } else {
        const size_t bits = std::min<size_t>(d->fingerprint.size() * 5, 256);
        e.lines.push_back("fingerprint label: " + d->fingerprint + " (" +
                          std::to_string(d->fingerprint.size()) + " characters, " +
                          std::to_string(bits) + " bits)");
        e.lines.push_back("TLS: the server's key fingerprint must start with " +
                          d->fingerprint);
      }
      e.lines.push_back(
          "route: Tor SOCKS5 proxy ([outbound] onion_proxy, default 127.0.0.1:9050), the "
          "name goes to the proxy and never to DNS; SMTP port [outbound] smtp_port (25) with "
          "mandatory TLS");
      break;
    }
    case Kind::kI2p: {
      const bool b32 = d->host.size() > 8 && d->host.ends_with(".b32.i2p");
      if (b32) {
        const size_t hash = d->host.size() - 8;
        e.lines.push_back(hash == kI2pHashLength
                              ? "kind: i2p (destination hash, .b32.i2p)"
                              : "kind: i2p (encrypted lease set, .b32.i2p)");
      } else {
        e.lines.push_back("kind: i2p (address book name, resolved by the i2p router)");
      }
      e.lines.push_back("i2p name: " + d->host);
      e.lines.push_back(
          "route: i2p SOCKS5 proxy ([outbound] i2p_proxy, default 127.0.0.1:4447), the name "
          "goes to the proxy and never to DNS; SMTP port [outbound] smtp_port (25)");
      break;
    }
  }
  return e;
}

}  // namespace mtep::overlay
