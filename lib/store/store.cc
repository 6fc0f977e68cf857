#include "store/store.h"

namespace mtep::store {

Result<Store::ValueStats> Store::statValues(std::string_view ns) {
  auto values = listValues(ns, SIZE_MAX);
  if (!values) return std::move(values).error();
  ValueStats stats;
  for (const auto& [key, value] : *values) {
    ++stats.count;
    stats.bytes += value.size();
  }
  return stats;
}

}  // namespace mtep::store
