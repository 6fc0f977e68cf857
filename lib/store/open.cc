#include "store/open.h"

#include <algorithm>
#include <climits>

namespace mtep::store {

Result<std::unique_ptr<Store>> open(const config::StoreConfig& cfg, const Clock& clock) {
  if (cfg.backend != "sqlite") {
    return Error(ErrorKind::kConfig,
                 "store backend \"" + cfg.backend + "\" is not supported by this build");
  }
  SqliteOptions options;
  options.path = cfg.path;
  options.busy_timeout_ms =
      static_cast<int>(std::clamp<int64_t>(cfg.busy_timeout, 0, INT_MAX / 1000) * 1000);
  return openSqlite(options, clock);
}

}  // namespace mtep::store
