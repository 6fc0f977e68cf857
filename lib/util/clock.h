#pragma once
// NAME
//   clock.h - wall clock as an interface, so tests can use a fake one
// DESCRIPTION
//   Token expiry and store expiry use Unix seconds from a Clock. Daemons use
//   SystemClock; tests use FakeClock and move time by hand.

#include <cstdint>

namespace mtep {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now() const = 0;  // Unix time, seconds
};

class SystemClock final : public Clock {
 public:
  int64_t now() const override;
  static const SystemClock& instance();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t t = 1'700'000'000) : t_(t) {}
  int64_t now() const override { return t_; }
  void set(int64_t t) { t_ = t; }
  void advance(int64_t s) { t_ += s; }

 private:
  int64_t t_;
};

}  // namespace mtep
