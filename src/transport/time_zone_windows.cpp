// The time-zone source on Windows: the machine's zone as Win32 keeps it (Control Panel's "Time
// zone", with its daylight-saving rules), or UTC. Windows has no IANA database, so a named
// site.timezone other than UTC is refused with a message that says so; leave it empty to use
// the machine's zone, as ConfigMgr's schedules do. See time_zone_source.h.

#include <windows.h>

#include <string>

#include "pkgxfer/transport/time_zone.h"
#include "time_zone_source.h"

namespace pkgxfer::transport {
namespace {

// Seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
constexpr long long kFileTimeEpochSeconds = 11'644'473'600LL;

// The machine's zone; a non-null pointer for TimeZone (Win32 keeps the rules themselves).
const int kMachineZone = 0;

std::string narrow(const wchar_t* text) {
  const int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, nullptr, 0, nullptr, nullptr);
  if (n <= 1) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, text, -1, out.data(), n, nullptr, nullptr);
  out.resize(static_cast<std::size_t>(n - 1));
  return out;
}

// Local = UTC + offset at `t`, in the machine's current zone rules; 0 if Win32 cannot say.
std::chrono::seconds offsetAt(Clock::SystemTime t) {
  using std::chrono::duration_cast;
  const long long ticks =
      duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() / 100 +
      kFileTimeEpochSeconds * 10'000'000LL;
  FILETIME utc_ft;
  utc_ft.dwLowDateTime = static_cast<DWORD>(ticks & 0xFFFFFFFF);
  utc_ft.dwHighDateTime = static_cast<DWORD>(ticks >> 32);
  SYSTEMTIME utc, local;
  FILETIME local_ft;
  if (!FileTimeToSystemTime(&utc_ft, &utc) ||
      !SystemTimeToTzSpecificLocalTime(nullptr, &utc, &local) ||
      !SystemTimeToFileTime(&local, &local_ft)) {
    return std::chrono::seconds(0);
  }
  const long long local_ticks =
      (static_cast<long long>(local_ft.dwHighDateTime) << 32) | local_ft.dwLowDateTime;
  // Both readings drop the sub-millisecond part alike; round to whole seconds.
  const long long utc_ms = ticks / 10'000;
  const long long local_ms = local_ticks / 10'000;
  return std::chrono::seconds((local_ms - utc_ms) / 1000);
}

}  // namespace

Result<TimeZone> TimeZone::load(std::string_view name) {
  if (name == "UTC" || name == "Etc/UTC") return utc();
  if (!name.empty()) {
    return Status::NotFound("time zone '" + std::string(name) +
                            "': the Windows build has no IANA time-zone database; leave "
                            "site.timezone empty to use the machine's zone, or set \"UTC\"");
  }
  DYNAMIC_TIME_ZONE_INFORMATION info{};
  if (GetDynamicTimeZoneInformation(&info) == TIME_ZONE_ID_INVALID) {
    return Status::NotFound("time zone '(machine)': GetDynamicTimeZoneInformation failed (error " +
                            std::to_string(GetLastError()) + ")");
  }
  std::string label = narrow(info.TimeZoneKeyName);
  if (label.empty()) label = narrow(info.StandardName);
  if (label.empty()) label = "(machine)";
  return TimeZone(&kMachineZone, label);
}

TimeZone TimeZone::utc() { return TimeZone(nullptr, "UTC"); }

namespace detail {

// Win32 gives the offset at an instant, not the instants it changes at. Callers need a change only
// within the coming hour (TimeZone::localTime), and zones change at most a few times a year, so:
// the offset an hour on equal to now's means no change before then; otherwise the first second
// of the new offset is found by bisection.
ZoneOffset zoneOffsetAt(const void*, Clock::SystemTime t) {
  // Whole seconds: offsets change on a second, and bisection then lands on it exactly.
  t = std::chrono::floor<std::chrono::seconds>(t);
  ZoneOffset out;
  out.offset = offsetAt(t);
  const Clock::SystemTime horizon = t + std::chrono::hours(1);
  if (offsetAt(horizon) == out.offset) {
    out.next_change = horizon;
    return out;
  }
  Clock::SystemTime before = t, after = horizon;  // offset(before) == now's, offset(after) not
  while (after - before > std::chrono::seconds(1)) {
    const Clock::SystemTime mid = before + (after - before) / 2;
    (offsetAt(mid) == out.offset ? before : after) = mid;
  }
  out.next_change = after;
  return out;
}

}  // namespace detail
}  // namespace pkgxfer::transport
