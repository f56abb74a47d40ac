#pragma once

// TimeZone: the site's IANA zone (SPEC §4 `site.timezone`), in which schedules and hourly rate
// limits are read. Backed by Howard Hinnant's date/tz over the OS tzdb (/usr/share/zoneinfo); the
// library stays behind this header so no other module sees its std::chrono name clashes.

#include <chrono>
#include <string>
#include <string_view>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/status.h"

namespace pkgxfer::transport {

// A wall-clock reading in a zone.
struct LocalTime {
  int year = 1970;
  int month = 1;    // 1..12
  int day = 1;      // 1..31
  int weekday = 0;  // 0 = Sunday .. 6 = Saturday, as config::Schedule indexes days
  int hour = 0;     // 0..23
  int minute = 0;
  int second = 0;
  std::chrono::seconds utc_offset{0};  // local = UTC + utc_offset
  // The first instant after the reading at which the local hour (as shown on a wall clock) ends:
  // the next full local hour, or an earlier UTC-offset change (a DST switch). At a switch the
  // next reading may show the same hour again (fall back) or skip one (spring forward).
  Clock::SystemTime hour_end;

  // Index into config::Schedule::hours.
  int weekHour() const { return weekday * 24 + hour; }
};

// An IANA time zone. Cheap to copy (a pointer into the process-wide tzdb, which lives until
// exit). Immutable; thread-safe.
//
// Limitation of the OS tzdb reader: Debian's "fat" TZif files list transitions up to 2037; later
// instants use the last offset listed (no DST after 2037).
class TimeZone {
 public:
  // Loads `name` ("Europe/Berlin"); empty = the machine's zone (/etc/localtime, TZ ignored).
  // Errors: NotFound for an unknown name or a missing tzdb (message names the zone).
  static Result<TimeZone> load(std::string_view name);
  // UTC; never fails.
  static TimeZone utc();

  const std::string& name() const { return name_; }
  LocalTime localTime(Clock::SystemTime t) const;

 private:
  TimeZone(const void* zone, std::string name) : zone_(zone), name_(std::move(name)) {}
  const void* zone_;  // const date::time_zone*, owned by the tzdb
  std::string name_;
};

}  // namespace pkgxfer::transport
