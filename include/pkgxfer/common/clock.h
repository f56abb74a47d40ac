#pragma once

// Clock: the one source of time for pkgxfer code, injected so that 20- and 60-minute behaviours
// are tested in milliseconds with a fake clock (tests/fakes/fake_clock.h).

#include <chrono>

namespace pkgxfer {

// Thread-safe: implementations may be called from any thread.
class Clock {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  using SystemTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time, for intervals, timeouts and rates.
  virtual SteadyTime steadyNow() const = 0;
  // Wall-clock time, for schedule windows, log stamps and `updated_at` columns.
  virtual SystemTime systemNow() const = 0;
};

// The real clocks of the machine.
class SystemClock final : public Clock {
 public:
  SteadyTime steadyNow() const override { return std::chrono::steady_clock::now(); }
  SystemTime systemNow() const override { return std::chrono::system_clock::now(); }

  // A process-wide instance, for composition roots only; components receive a Clock&.
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

}  // namespace pkgxfer
