#include "pkgxfer/transport/time_zone.h"

#include <chrono>

#include "time_zone_source.h"

namespace pkgxfer::transport {

LocalTime TimeZone::localTime(Clock::SystemTime t) const {
  using std::chrono::duration_cast;
  using std::chrono::floor;
  using std::chrono::hours;
  using std::chrono::seconds;

  detail::ZoneOffset zone;
  if (zone_ != nullptr) zone = detail::zoneOffsetAt(zone_, t);
  const std::chrono::seconds offset = zone.offset;
  // Local wall time as a count since the local epoch.
  const auto local = t.time_since_epoch() + offset;
  const auto local_days = floor<std::chrono::days>(local);
  const std::chrono::sys_days day{local_days};
  const std::chrono::year_month_day ymd{day};
  const std::chrono::weekday wd{day};
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
  out.hour_end = next_hour < zone.next_change ? next_hour : zone.next_change;
  return out;
}

}  // namespace pkgxfer::transport
