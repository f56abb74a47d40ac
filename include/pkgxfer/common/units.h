#pragma once

// Parsing and formatting of the duration, size and rate strings used in the config file and the
// CLI (SPEC §4): durations "500ms", "30s", "20m", "1h"; sizes with binary multiples "64KB" =
// 65,536 bytes ("KiB"/"MiB"/"GiB" accepted too); rates "10MB/s". Pure functions, thread-safe.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "pkgxfer/common/status.h"

namespace pkgxfer {

using Duration = std::chrono::milliseconds;

// "<digits><unit>" with unit ms, s, m, h (also d for days). No sign, no fraction, no spaces.
// Errors: InvalidArgument with the expected form in the message.
Result<Duration> parseDuration(std::string_view text);
// "<digits><unit>" with unit B, KB, MB, GB, TB (binary multiples) or KiB, MiB, GiB, TiB.
// A bare number is bytes. Overflow is an error.
Result<std::uint64_t> parseSize(std::string_view text);
// "<size>/s", e.g. "10MB/s", in bytes per second.
Result<std::uint64_t> parseRate(std::string_view text);

// The shortest exact rendering: 1800000ms -> "30m", 1500ms -> "1500ms".
std::string formatDuration(Duration d);
// Human rendering for logs and status: 1536 -> "1.5 KB", 2097152 -> "2.0 MB", 12 -> "12 B".
std::string formatBytes(std::uint64_t bytes);

}  // namespace pkgxfer
