#include "pkgxfer/transport/schedule.h"

#include <algorithm>

namespace pkgxfer::transport {

std::string_view toString(Priority priority) {
  switch (priority) {
    case Priority::High:
      return "high";
    case Priority::Medium:
      return "medium";
    case Priority::Low:
      return "low";
  }
  return "unknown";
}

bool levelAllows(config::ScheduleLevel level, Priority priority) {
  switch (level) {
    case config::ScheduleLevel::All:
      return true;
    case config::ScheduleLevel::MediumHigh:
      return priority != Priority::Low;
    case config::ScheduleLevel::High:
      return priority == Priority::High;
    case config::ScheduleLevel::Closed:
      return false;
  }
  return false;
}

ScheduleEvaluator::ScheduleEvaluator(const config::Schedule& schedule, TimeZone zone)
    : schedule_(schedule), zone_(std::move(zone)) {}

bool ScheduleEvaluator::allows(Priority priority, Clock::SystemTime t) const {
  return levelAllows(schedule_.hours[zone_.localTime(t).weekHour()], priority);
}

std::optional<Clock::SystemTime> ScheduleEvaluator::nextOpening(Priority priority,
                                                                Clock::SystemTime t) const {
  return nextWhere(priority, t, true);
}

std::optional<Clock::SystemTime> ScheduleEvaluator::windowEnd(Priority priority,
                                                              Clock::SystemTime t) const {
  return nextWhere(priority, t, false);
}

std::optional<Clock::SystemTime> ScheduleEvaluator::nextWhere(Priority priority,
                                                              Clock::SystemTime t,
                                                              bool want) const {
  const bool any =
      std::any_of(schedule_.hours.begin(), schedule_.hours.end(),
                  [&](config::ScheduleLevel l) { return levelAllows(l, priority) == want; });
  if (!any) {
    return std::nullopt;
  }
  // Every (day, hour) of the grid that exists on the wall clock comes round within a week; an hour
  // skipped by a spring-forward switch comes the week after. Three weeks of segments (each a local
  // hour or part of one) bounds the walk even for zones that switch more often.
  constexpr int kMaxSegments = 3 * 7 * 24 * 2;
  Clock::SystemTime at = t;
  for (int i = 0; i < kMaxSegments; ++i) {
    const LocalTime local = zone_.localTime(at);
    if (levelAllows(schedule_.hours[local.weekHour()], priority) == want) {
      return at;
    }
    if (local.hour_end <= at) {
      break;  // cannot happen with a sane tzdb; never loop forever
    }
    at = local.hour_end;
  }
  return std::nullopt;
}

}  // namespace pkgxfer::transport
