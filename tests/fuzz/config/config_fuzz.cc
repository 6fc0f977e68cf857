// libFuzzer target: loadString on arbitrary text must not crash, throw or
// leak, and what it accepts must satisfy the invariants callers rely on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtep::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = loadString(text, "fuzz.conf");
  if (!cfg) {
    const std::string& m = cfg.error().message();
    if (m.rfind("fuzz.conf:", 0) != 0) __builtin_trap();
    return 0;
  }
  const Config& c = **cfg;
  if (c.mtepd.listen.empty() || c.tokens.key_file.empty() || c.store.path.empty()) {
    __builtin_trap();
  }
  if (c.global.state_dir.empty() || c.global.state_dir[0] != '/') __builtin_trap();
  if (c.mtepd.max_connections < 1 || c.mtepd.max_request_size < 64) __builtin_trap();
  if (c.domain_defaults.token_ttl > c.tokens.max_ttl) __builtin_trap();
  for (const auto& [name, policy] : c.domains) {
    if (policy.token_ttl > c.tokens.max_ttl) __builtin_trap();
    if (&c.policyFor(name) != &policy) __builtin_trap();
  }
  for (const ListenAddress& a : c.mtepd.listen) {
    auto again = parseListenAddress(a.toString());
    if (!again || !(*again == a)) __builtin_trap();
  }
  return 0;
}
