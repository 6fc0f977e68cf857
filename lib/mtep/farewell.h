#pragma once
// NAME
//   farewell.h - the rota of kind goodbyes sent after MTEP "Q"
// DESCRIPTION
//   The seed asks for "K2.3.0 CYA <farewell>", the farewell taken from an
//   implementation-defined rota in any language, never mean. next() walks the
//   rota round-robin; thread-safe.

#include <atomic>
#include <cstddef>
#include <span>
#include <string_view>

namespace mtep::proto {

class FarewellRota {
 public:
  FarewellRota();
  std::string_view next();
  static std::span<const std::string_view> all();

 private:
  std::atomic<size_t> index_{0};
};

}  // namespace mtep::proto
