#pragma once

// Private to transport/: what a time-zone source (one per OS, chosen by file in CMake) gives the
// shared calendar code of time_zone.cpp. time_zone_tzdb.cpp reads the IANA tzdb through date/tz
// (Linux); time_zone_windows.cpp asks Win32 for the machine's zone. Each also defines
// TimeZone::load() and TimeZone::utc().

#include <chrono>

#include "pkgxfer/common/clock.h"

namespace pkgxfer::transport::detail {

struct ZoneOffset {
  std::chrono::seconds offset{0};                            // local = UTC + offset, at the instant
  Clock::SystemTime next_change = Clock::SystemTime::max();  // the next change of `offset`
};

// `zone` is a TimeZone's non-null zone pointer, as the source's load() made it.
ZoneOffset zoneOffsetAt(const void* zone, Clock::SystemTime t);

}  // namespace pkgxfer::transport::detail
