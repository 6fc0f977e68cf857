// mtepctl pin list | forget | add: the TLS key pins of overlay peers, kept
// in the store (lib/overlay/pins.h).
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "overlay/overlay.h"
#include "overlay/pins.h"
#include "util/base64.h"
#include "util/log.h"

namespace mtep::ctl {
namespace {

// The pin key for what the admin typed: the parsed host (lower case, no
// trailing dot, no fingerprint label) or, for a name that does not parse
// (an old or damaged entry), the text as given.
std::string pinHost(const std::string& typed) {
  auto d = overlay::parseDomain(typed);
  return d ? d->host : typed;
}

}  // namespace

int pinList(const GlobalOptions& global) {
  auto st = openStore(global);
  if (!st) return kExitTrouble;
  overlay::PinBook pins(*st, SystemClock::instance());
  auto list = pins.list();
  if (!list) {
    printError("%s", list.error().message().c_str());
    return kExitTrouble;
  }
  if (list->empty()) return kExitOk;
  std::printf("%-62s %-52s %s\n", "HOST", "FINGERPRINT", "FIRST SEEN");
  for (const overlay::Pin& p : *list) {
    std::printf("%-62s %-52s %s\n", p.host.c_str(), p.fingerprint.c_str(),
                p.first_seen > 0 ? formatTime(p.first_seen).c_str() : "-");
  }
  return kExitOk;
}

int pinForget(const GlobalOptions& global, const std::string& typed) {
  const std::string host = pinHost(typed);
  auto st = openStore(global);
  if (!st) return kExitTrouble;
  overlay::PinBook pins(*st, SystemClock::instance());
  auto removed = pins.forget(host);
  if (!removed) {
    printError("%s", removed.error().message().c_str());
    return kExitTrouble;
  }
  if (!*removed) {
    printError("no pin for %s", host.c_str());
    return kExitNo;
  }
  log::notice("tls pin forgotten: host=%s", host.c_str());
  std::printf("forgot the pin of %s; its next key is trusted on first use\n", host.c_str());
  return kExitOk;
}

int pinAdd(const GlobalOptions& global, const std::string& typed, const std::string& fingerprint) {
  auto d = overlay::parseDomain(typed);
  if (!d) {
    printError("%s", d.error().message().c_str());
    return kExitNo;
  }
  if (d->host.empty()) {
    printError("no host to pin");
    return kExitNo;
  }
  const std::string& host = d->host;
  auto st = openStore(global);
  if (!st) return kExitTrouble;
  overlay::PinBook pins(*st, SystemClock::instance());
  if (Status s = pins.add(host, fingerprint); !s) {
    printError("%s", s.error().message().c_str());
    return exitCodeFor(s.error());
  }
  const std::string fp = asciiLower(fingerprint);
  log::notice("tls pin added: host=%s fingerprint=%s", host.c_str(), fp.c_str());
  std::printf("pinned %s to %s\n", host.c_str(), fp.c_str());
  return kExitOk;
}

}  // namespace mtep::ctl
