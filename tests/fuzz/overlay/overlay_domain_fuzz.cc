// Fuzzes overlay::parseDomain and overlay::explain: neither may crash on
// any input, explanations are printable ASCII, and a valid parse re-parses
// (from its host, plus its fingerprint label) to the same result; its
// label matches a fingerprint it begins; base32 round-trips. The one
// normal form (util/domain_name.h): a parse succeeds only for names that
// bareDomainName() accepts (no empty label), a root dot added to a name
// without one changes nothing, a second one is refused, and parseDomain's
// kind agrees with the routing label (topLabel/isOverlayTld) that the
// resolver and the dialer use.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "overlay/overlay.h"
#include "util/domain_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto d = mtep::overlay::parseDomain(input);
  const auto bare = mtep::bareDomainName(input);
  if (d.ok() && !bare.ok()) std::abort();  // a name with an empty label was accepted
  if (d.ok()) {
    const bool overlay = mtep::isOverlayTld(mtep::topLabel(input));
    if (overlay != (d->kind != mtep::overlay::Kind::kNone)) std::abort();
    const std::string dotted = std::string(input) + ".";
    auto with_dot = mtep::overlay::parseDomain(dotted);
    if (input.back() == '.') {
      if (with_dot.ok()) std::abort();  // "x.." is an empty label
    } else if (!with_dot.ok() || with_dot->host != d->host || with_dot->kind != d->kind) {
      std::abort();
    }
  }
  if (d.ok()) {
    const std::string again_text =
        d->fingerprint.empty() ? d->host : d->fingerprint + "." + d->host;
    auto again = mtep::overlay::parseDomain(again_text);
    if (!again.ok()) std::abort();
    if (again->kind != d->kind || again->host != d->host ||
        again->fingerprint != d->fingerprint || again->pubkey_hex != d->pubkey_hex) {
      std::abort();
    }
    // A label is a prefix of any full fingerprint that starts with it.
    if (!d->fingerprint.empty()) {
      const std::string full = d->fingerprint + std::string(52 - d->fingerprint.size(), 'a');
      if (!mtep::overlay::fingerprintMatches(d->fingerprint, full)) std::abort();
    }
  } else if (d.error().kind() != mtep::ErrorKind::kInvalid) {
    std::abort();
  }
  const mtep::overlay::Explanation e = mtep::overlay::explain(input);
  if (e.lines.empty()) std::abort();
  for (const std::string& line : e.lines) {
    for (char c : line) {
      if (c < 0x20 || c > 0x7e) std::abort();
    }
  }
  // base32 round trip on the raw bytes.
  auto back = mtep::overlay::base32Decode(mtep::overlay::base32Encode(input));
  if (!back.ok() || *back != input) std::abort();
  return 0;
}
