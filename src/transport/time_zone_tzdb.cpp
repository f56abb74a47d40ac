// The time-zone source on Linux: the IANA tzdb (/usr/share/zoneinfo) through Howard Hinnant's
// date/tz, which g++ 12's std::chrono lacks. See time_zone_source.h.

#include <date/tz.h>

#include <exception>

#include "pkgxfer/transport/time_zone.h"
#include "time_zone_source.h"

namespace pkgxfer::transport {

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

namespace detail {

ZoneOffset zoneOffsetAt(const void* zone, Clock::SystemTime t) {
  using std::chrono::duration_cast;
  using std::chrono::floor;
  using std::chrono::seconds;
  const date::sys_info info = static_cast<const date::time_zone*>(zone)->get_info(t);
  ZoneOffset out;
  out.offset = info.offset;
  // The last period ends in year 32767, beyond what a nanosecond SystemTime can hold.
  if (info.end.time_since_epoch() < floor<seconds>(Clock::SystemTime::max().time_since_epoch())) {
    out.next_change =
        Clock::SystemTime(duration_cast<Clock::SystemTime::duration>(info.end.time_since_epoch()));
  }
  return out;
}

}  // namespace detail
}  // namespace pkgxfer::transport
