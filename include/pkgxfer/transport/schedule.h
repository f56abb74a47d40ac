#pragma once

// ScheduleEvaluator: when a DP's schedule (SPEC §4 `schedule`) lets a package of a given priority
// be sent. Pure policy: no clock of its own, the caller passes the time.

#include <optional>
#include <string_view>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/transport/time_zone.h"

namespace pkgxfer::transport {

// A package's distribution priority as the schedule sees it. transport does not depend on store:
// the caller maps store's priority onto this one.
enum class Priority { High, Medium, Low };

std::string_view toString(Priority priority);

// Whether an hour of the given level lets `priority` through: All = every priority, MediumHigh =
// not Low, High = High only, Closed = none.
bool levelAllows(config::ScheduleLevel level, Priority priority);

// Reads a config::Schedule (7 × 24 hours, day 0 = Sunday) in a time zone. Local hours are taken
// from the wall clock, so across DST switches:
//   - spring forward: the skipped local hour (02:00-03:00 in Europe/Berlin) does not occur; its
//     schedule level never applies that day;
//   - fall back: the repeated local hour (02:00-03:00 twice) takes its level both times, so an
//     open hour is open for two real hours.
// Intended use by a sender: before each block ask allows(); when it says no, pause (keeping what
// was sent) and sleep until nextOpening(); while open, windowEnd() says when to stop at the next
// block boundary.
//
// Immutable after construction; every method is const and thread-safe.
class ScheduleEvaluator {
 public:
  ScheduleEvaluator(const config::Schedule& schedule, TimeZone zone);

  bool allows(Priority priority, Clock::SystemTime t) const;
  // The first instant >= t at which `priority` may be sent: t itself when allows(priority, t);
  // nullopt if no hour of the week allows it.
  std::optional<Clock::SystemTime> nextOpening(Priority priority, Clock::SystemTime t) const;
  // The first instant >= t at which `priority` may no longer be sent: t itself when the schedule is
  // closed to it at t; nullopt if it never closes (every hour allows it).
  std::optional<Clock::SystemTime> windowEnd(Priority priority, Clock::SystemTime t) const;

  const TimeZone& zone() const { return zone_; }

 private:
  // Walks local-hour segments from t until one whose openness equals `want`.
  std::optional<Clock::SystemTime> nextWhere(Priority priority, Clock::SystemTime t,
                                             bool want) const;

  config::Schedule schedule_;
  TimeZone zone_;
};

}  // namespace pkgxfer::transport
