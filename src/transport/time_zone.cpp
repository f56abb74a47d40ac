#include "pkgxfer/transport/time_zone.h"

#include <date/tz.h>

#include <exception>

namespace pkgxfer::transport {
namespace {

const date::time_zone* zoneOf(const void* p) { return static_cast<const date::time_zone*>(p); }

}  // namespace

Result<TimeZone> TimeZone::load(std::string_view name) {
  // date/tz reports an unknown zone or an unreadable tzdb by throwing std::runtime_error.
  try {
    const date::time_zone* zone =
        name.empty() ? date::current_zone() : date::locate_zone(std::string(name));
    return TimeZone(zone, std::string(zone->name()));
  } catch (const std::exception& e) {
    return Status::NotFound("time zone '" + std::string(name.empty() ? "(machine)" : name) +
                            "': " + e.what());
  }
}

TimeZone TimeZone::utc() {
  Result<TimeZone> zone = load("Etc/UTC");
  if (zone.ok()) {
    return *zone;
  }
  return TimeZone(nullptr, "UTC");  // no tzdb at all: zone_ == nullptr means offset 0
}

LocalTime TimeZone::localTime(Clock::SystemTime t) const {
  using std::chrono::duration_cast;
  using std::chrono::floor;
  using std::chrono::hours;
  using std::chrono::seconds;

  std::chrono::seconds offset{0};
  Clock::SystemTime next_change = Clock::SystemTime::max();
  if (zone_ != nullptr) {
    date::sys_info info = zoneOf(zone_)->get_info(t);
    offset = info.offset;
    // The last period ends in year 32767, beyond what a nanosecond SystemTime can hold.
    if (info.end.time_since_epoch() < floor<seconds>(Clock::SystemTime::max().time_since_epoch())) {
      next_change = Clock::SystemTime(
          duration_cast<Clock::SystemTime::duration>(info.end.time_since_epoch()));
    }
  }
  // Local wall time as a count since the local epoch.
  const auto local = t.time_since_epoch() + offset;
  const auto local_days = floor<date::days>(local);
  const date::year_month_day ymd{date::sys_days(local_days)};
  const date::weekday wd{date::sys_days(local_days)};
  const auto in_day = local - local_days;
  const auto h = floor<hours>(in_day);
  const auto m = floor<std::chrono::minutes>(in_day - h);
  const auto s = floor<seconds>(in_day - h - m);

  LocalTime out;
  out.year = static_cast<int>(ymd.year());
  out.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  out.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  out.weekday = static_cast<int>(wd.c_encoding());
  out.hour = static_cast<int>(h.count());
  out.minute = static_cast<int>(m.count());
  out.second = static_cast<int>(s.count());
  out.utc_offset = offset;
  const Clock::SystemTime next_hour(
      duration_cast<Clock::SystemTime::duration>(local_days + h + hours(1) - offset));
  out.hour_end = next_hour < next_change ? next_hour : next_change;
  return out;
}

}  // namespace pkgxfer::transport
