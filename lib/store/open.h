#pragma once
// NAME
//   open.h - open the store the configuration names
// SUMMARY
//   auto st = store::open(cfg->store, SystemClock::instance());
// DESCRIPTION
//   The one place that maps [store] to a backend, so every binary opens the
//   same store the same way. backend "sqlite" opens store.path with
//   store.busy_timeout. A backend this build does not have is kConfig
//   (the config loader already refuses unknown names; this guards builds
//   without an optional backend, such as Redis later).

#include <memory>

#include "config/config.h"
#include "store/store.h"
#include "util/clock.h"

namespace mtep::store {

Result<std::unique_ptr<Store>> open(const config::StoreConfig& cfg, const Clock& clock);

}  // namespace mtep::store
