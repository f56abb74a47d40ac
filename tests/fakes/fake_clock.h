#pragma once

#include <atomic>
#include <chrono>

#include "pkgxfer/common/clock.h"

namespace pkgxfer::testing {

// A Clock that moves only when a test advances it. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime(std::chrono::hours(24 * 20000)))
      : steady_(0), system_(start.time_since_epoch().count()) {}

  SteadyTime steadyNow() const override { return SteadyTime(SteadyTime::duration(steady_.load())); }
  SystemTime systemNow() const override { return SystemTime(SystemTime::duration(system_.load())); }

  template <typename Rep, typename Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    steady_ += std::chrono::duration_cast<SteadyTime::duration>(d).count();
    system_ += std::chrono::duration_cast<SystemTime::duration>(d).count();
  }
  void setSystemTime(SystemTime t) { system_ = t.time_since_epoch().count(); }

 private:
  std::atomic<SteadyTime::rep> steady_;
  std::atomic<SystemTime::rep> system_;
};

}  // namespace pkgxfer::testing
