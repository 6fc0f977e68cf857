#include "util/clock.h"

#include <ctime>

namespace mtep {

int64_t SystemClock::now() const { return static_cast<int64_t>(::time(nullptr)); }

const SystemClock& SystemClock::instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace mtep
