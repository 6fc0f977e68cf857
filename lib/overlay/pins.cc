// TLS key pins for overlay peers, kept in the store; see pins.h.
#include "overlay/pins.h"

#include <charconv>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "overlay/overlay.h"
#include "util/base64.h"
#include "util/log.h"

namespace mtep::overlay {
namespace {

constexpr std::string_view kNamespace = "tlspin";
constexpr size_t kFingerprintLength = 52;
constexpr size_t kMaxPinsListed = 100000;

struct StoredPin {
  std::string fingerprint;
  int64_t first_seen = 0;
};

bool isFingerprint(std::string_view fp) {
  if (fp.size() != kFingerprintLength) return false;
  for (char c : fp) {
    if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
  }
  return true;
}

// Parses "FINGERPRINT FIRST_SEEN_UNIX"; false when malformed.
bool parsePin(std::string_view value, StoredPin& out) {
  const size_t sp = value.find(' ');
  if (sp == std::string_view::npos) return false;
  const std::string_view fp = value.substr(0, sp);
  const std::string_view seen = value.substr(sp + 1);
  if (!isFingerprint(fp) || seen.empty()) return false;
  int64_t t = 0;
  auto [end, ec] = std::from_chars(seen.data(), seen.data() + seen.size(), t);
  if (ec != std::errc() || end != seen.data() + seen.size()) return false;
  out.fingerprint = std::string(fp);
  out.first_seen = t;
  return true;
}

std::string formatPin(std::string_view fingerprint, int64_t first_seen) {
  return std::string(fingerprint) + " " + std::to_string(first_seen);
}

// UTC date and time of a Unix time, "2023-11-14 22:13:20 UTC".
std::string formatTime(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);
  char buf[64];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) return std::to_string(t);
  return buf;
}

Error temporary(std::string_view host, const Error& e) {
  return Error(ErrorKind::kTemporary,
               "TLS pin store for " + printableAscii(host) + " unavailable: " + e.message());
}

}  // namespace

const char* pinVerdictName(PinVerdict v) noexcept {
  switch (v) {
    case PinVerdict::kMatchedLabel:
      return "label-match";
    case PinVerdict::kPinned:
      return "pinned";
    case PinVerdict::kFirstUse:
      return "first-use";
    case PinVerdict::kMismatch:
      return "mismatch";
    case PinVerdict::kChanged:
      return "changed";
    case PinVerdict::kUnpinned:
      return "unpinned";
  }
  return "unknown";
}

Result<PinCheck> PinBook::check(std::string_view host_in, std::string_view label_in,
                                std::string_view server_fingerprint_in,
                                bool trust_on_first_use) {
  const std::string host = asciiLower(host_in);
  const std::string label = asciiLower(label_in);
  const std::string server_fp = asciiLower(server_fingerprint_in);
  const std::string shown = printableAscii(host);
  if (!isFingerprint(server_fp)) {
    return Error(ErrorKind::kInternal, "TLS key of " + shown +
                                           ": the server fingerprint is not 52 base32 "
                                           "characters");
  }

  // The existing pin, if any.
  StoredPin pin;
  bool have_pin = false;
  auto stored = store_.getValue(kNamespace, host);
  if (stored.ok()) {
    if (!parsePin(*stored, pin)) {
      return Error(ErrorKind::kTemporary, "TLS pin of " + shown +
                                              " is unreadable; mtepctl pin forget " + shown);
    }
    have_pin = true;
  } else if (stored.error().kind() != ErrorKind::kNotFound) {
    return temporary(host, stored.error());
  }

  const int64_t now = clock_.now();
  PinCheck out;
  if (!label.empty()) {
    if (!fingerprintMatches(label, server_fp)) {
      out.verdict = PinVerdict::kMismatch;
      out.detail = "the TLS key of " + shown + " (fingerprint " + server_fp +
                   ") does not match the fingerprint " + printableAscii(label) + " in the address";
      return out;
    }
    if (!have_pin || pin.fingerprint != server_fp) {
      if (Status s = store_.putValue(kNamespace, host, formatPin(server_fp, now), 0); !s) {
        return temporary(host, s.error());
      }
      if (have_pin) {
        log::warning("NOQUEUE: tls pin of %s replaced: %s (since %s) -> %s, matching the "
                     "address's fingerprint %s",
                     shown.c_str(), pin.fingerprint.c_str(), formatTime(pin.first_seen).c_str(),
                     server_fp.c_str(), printableAscii(label).c_str());
      }
    }
    out.verdict = PinVerdict::kMatchedLabel;
    out.detail = "the TLS key of " + shown + " matches the fingerprint " + printableAscii(label) +
                 " in the address";
    return out;
  }

  if (have_pin) {
    if (pin.fingerprint == server_fp) {
      out.verdict = PinVerdict::kPinned;
      out.detail = "the TLS key of " + shown + " matches its pin from " +
                   formatTime(pin.first_seen);
    } else {
      out.verdict = PinVerdict::kChanged;
      out.detail = "the key of " + shown + " changed since " + formatTime(pin.first_seen) +
                   " (pinned " + pin.fingerprint + ", now " + server_fp +
                   "); if that is expected, mtepctl pin forget " + shown;
    }
    return out;
  }

  if (!trust_on_first_use) {
    out.verdict = PinVerdict::kUnpinned;
    out.detail = "no fingerprint in the address and no pin for " + shown +
                 ", and trust_on_first_use is off; mtepctl pin add " + shown + " FINGERPRINT";
    return out;
  }
  if (Status s = store_.putValue(kNamespace, host, formatPin(server_fp, now), 0); !s) {
    return temporary(host, s.error());
  }
  out.verdict = PinVerdict::kFirstUse;
  out.detail = "the TLS key of " + shown + " (fingerprint " + server_fp + ") pinned on first use";
  return out;
}

Result<std::vector<Pin>> PinBook::list() {
  auto values = store_.listValues(kNamespace, kMaxPinsListed);
  if (!values) return temporary("all hosts", values.error());
  std::vector<Pin> pins;
  pins.reserve(values->size());
  for (auto& [host, value] : *values) {
    StoredPin p;
    Pin out;
    out.host = host;
    if (parsePin(value, p)) {
      out.fingerprint = std::move(p.fingerprint);
      out.first_seen = p.first_seen;
    } else {
      out.fingerprint = printableAscii(value);  // shown as is, so it can be forgotten
    }
    pins.push_back(std::move(out));
  }
  return pins;
}

Result<bool> PinBook::forget(std::string_view host) {
  const std::string key = asciiLower(host);
  auto removed = store_.eraseValue(kNamespace, key);
  if (!removed) return temporary(key, removed.error());
  return *removed;
}

Status PinBook::add(std::string_view host, std::string_view fingerprint) {
  const std::string key = asciiLower(host);
  const std::string fp = asciiLower(fingerprint);
  if (key.empty()) return Error(ErrorKind::kInvalid, "no host to pin");
  if (!isFingerprint(fp)) {
    return Error(ErrorKind::kInvalid, "fingerprint '" + printableAscii(fingerprint) +
                                          "' is not 52 base32 characters (see mtepctl address "
                                          "fingerprint)");
  }
  if (Status s = store_.putValue(kNamespace, key, formatPin(fp, clock_.now()), 0); !s) {
    return temporary(key, s.error());
  }
  return okStatus();
}

}  // namespace mtep::overlay
