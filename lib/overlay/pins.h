#pragma once
// NAME
//   pins.h - TLS key pins for overlay peers: fingerprint label, or trust on
//   first use
// SUMMARY
//   PinBook pins(store, clock);
//   auto v = pins.check("abc...xyz.onion", label_from_address, server_fp, tofu);
//   if (v->verdict == PinVerdict::kMismatch) -> 5.7.0 with v->detail
// DESCRIPTION
//   One decision per connection to an overlay peer, after the TLS handshake:
//   - The address carries a fingerprint label: the server's fingerprint
//     must start with it (overlay::fingerprintMatches), else kMismatch
//     (permanent). On a match the full fingerprint is pinned if no pin
//     exists (so later mail without the label is held to the same key); an
//     existing, different pin with a matching label is replaced (the
//     address is the stronger evidence) and logged.
//   - No label, a pin exists: equal -> kPinned; different -> kChanged
//     (permanent: "the key of HOST changed since DATE; if that is expected,
//     mtepctl pin forget HOST").
//   - No label, no pin: with trust_on_first_use the key is recorded ->
//     kFirstUse; without it -> kUnpinned (permanent).
//   Pins live in the store (namespace "tlspin", key = host in lower case,
//   value = "FINGERPRINT FIRST_SEEN_UNIX", no expiry). Store failures are
//   kTemporary (the caller tempfails: never deliver unchecked).
//   PinBook is used by one thread at a time, like its Store.
// SEE ALSO
//   overlay.h, lib/store/store.h, mtepctl(1) "pin list|forget|add"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"
#include "util/clock.h"
#include "util/result.h"

namespace mtep::overlay {

enum class PinVerdict { kMatchedLabel, kPinned, kFirstUse, kMismatch, kChanged, kUnpinned };
const char* pinVerdictName(PinVerdict v) noexcept;  // "label-match", "pinned", "first-use", ...
inline bool pinAccepted(PinVerdict v) {
  return v == PinVerdict::kMatchedLabel || v == PinVerdict::kPinned || v == PinVerdict::kFirstUse;
}

struct PinCheck {
  PinVerdict verdict = PinVerdict::kUnpinned;
  std::string detail;  // one line for logs and SMTP replies, printable ASCII
};

struct Pin {
  std::string host;
  std::string fingerprint;
  int64_t first_seen = 0;  // Unix seconds
};

class PinBook {
 public:
  PinBook(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  Result<PinCheck> check(std::string_view host, std::string_view label,
                         std::string_view server_fingerprint, bool trust_on_first_use);
  Result<std::vector<Pin>> list();
  // True when a pin was removed.
  Result<bool> forget(std::string_view host);
  // Pins `fingerprint` (52 base32 characters, either case) for `host` by
  // hand, replacing any pin; first seen = now. kInvalid for a malformed
  // fingerprint, kTemporary when the store fails.
  Status add(std::string_view host, std::string_view fingerprint);

 private:
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace mtep::overlay
