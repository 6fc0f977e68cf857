// mtepctl key rotate | list
#include <cstdio>

#include "commands.h"
#include "token/token.h"
#include "util/log.h"

namespace mtep::ctl {

int keyRotate(const GlobalOptions& global) {
  config::ConfigPtr cfg = prepare(global);
  if (!cfg) return kExitTrouble;
  const Clock& clock = SystemClock::instance();
  const std::string& key_file = cfg->tokens.key_file;
  // Keys superseded longer ago than the longest token lifetime can no longer
  // have valid tokens: rotate() drops them.
  token::KeyRingOptions options{.create = true, .retire_after = cfg->tokens.max_ttl};
  auto ring = token::KeyRing::rotate(key_file, options, clock);
  if (!ring) {
    printError("%s", ring.error().message().c_str());
    return kExitTrouble;
  }
  log::notice("key rotated: new key %u, %zu kept in %s", ring->current().id, ring->keys().size(),
              key_file.c_str());
  std::printf("new key %u; %zu key%s kept in %s\n", ring->current().id, ring->keys().size(),
              ring->keys().size() == 1 ? "" : "s", key_file.c_str());
  std::printf("running mtepd processes pick it up within a second\n");
  return kExitOk;
}

int keyList(const GlobalOptions& global) {
  config::ConfigPtr cfg = prepare(global);
  if (!cfg) return kExitTrouble;
  const Clock& clock = SystemClock::instance();
  auto ring = loadRing(*cfg, false);
  if (!ring) return kExitTrouble;
  const int64_t now = clock.now();
  const uint32_t current = ring->current().id;
  std::printf("%-10s %-20s %-8s %s\n", "ID", "CREATED", "AGE", "STATE");
  for (const token::Key& key : ring->keys()) {
    std::printf("%-10u %-20s %-8s %s\n", key.id, formatTime(key.created).c_str(),
                formatAge(now - key.created).c_str(), key.id == current ? "current" : "previous");
  }
  return kExitOk;
}

}  // namespace mtep::ctl
