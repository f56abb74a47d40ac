#include "pkgxfer/common/units.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace pkgxfer {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = kKiB * 1024;
constexpr std::uint64_t kGiB = kMiB * 1024;
constexpr std::uint64_t kTiB = kGiB * 1024;

struct DurationCase {
  const char* text;
  Duration expected;
};

// Verifies every duration unit and that values are exact.
TEST(UnitsTest, ParsesDurations) {
  const DurationCase cases[] = {
      {"0ms", milliseconds(0)}, {"500ms", milliseconds(500)},
      {"1s", seconds(1)},       {"30s", seconds(30)},
      {"20m", minutes(20)},     {"60m", minutes(60)},
      {"1h", hours(1)},         {"1d", hours(24)},
      {"007s", seconds(7)},     {"9223372036854775807ms", milliseconds(INT64_MAX)},
  };
  for (const DurationCase& c : cases) {
    Result<Duration> d = parseDuration(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.error().toString();
    EXPECT_EQ(*d, c.expected) << c.text;
  }
}

// Verifies malformed durations fail with the expected form named in the message.
TEST(UnitsTest, RejectsMalformedDurations) {
  const char* bad[] = {"",    "s",    "30",  "30 s", " 30s", "30s ",  "-5s", "+5s", "1.5h",
                       "30S", "5sec", "5mm", "h1",   "1w",   "0x10s", "5y",  "1hm"};
  for (const char* text : bad) {
    Result<Duration> d = parseDuration(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.error().code(), Status::Code::InvalidArgument);
    EXPECT_EQ(d.error().message(), "invalid duration \"" + std::string(text) +
                                       "\": expected digits followed by ms, s, m, h or d, e.g. "
                                       "\"30s\"");
  }
}

// Verifies overflow is detected both in the number and in the unit multiplication.
TEST(UnitsTest, RejectsDurationOverflow) {
  const char* bad[] = {"9223372036854775808ms", "18446744073709551616s", "99999999999999999999999d",
                       "106751991167301d", "9223372036854776s"};
  for (const char* text : bad) {
    Result<Duration> d = parseDuration(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.error().message(), "duration \"" + std::string(text) + "\" is too large");
  }
  EXPECT_TRUE(parseDuration("106751991167d").ok());
}

struct SizeCase {
  const char* text;
  std::uint64_t expected;
};

// Verifies binary multiples: KB and KiB are both 1024.
TEST(UnitsTest, ParsesSizes) {
  const SizeCase cases[] = {
      {"0", 0},
      {"12", 12},
      {"12B", 12},
      {"64KB", 64 * kKiB},
      {"64KiB", 64 * kKiB},
      {"2MB", 2 * kMiB},
      {"2MiB", 2 * kMiB},
      {"1GB", kGiB},
      {"3GiB", 3 * kGiB},
      {"2TB", 2 * kTiB},
      {"2TiB", 2 * kTiB},
      {"18446744073709551615", UINT64_MAX},
      {"16777215TB", 16777215 * kTiB},
  };
  for (const SizeCase& c : cases) {
    Result<std::uint64_t> s = parseSize(c.text);
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.error().toString();
    EXPECT_EQ(*s, c.expected) << c.text;
  }
}

TEST(UnitsTest, RejectsMalformedSizes) {
  const char* bad[] = {"",      "KB", "64 KB", "64kb", "64Kb",  "64K",     "64M",
                       "1.5MB", "-1", "64KB ", "64PB", "64KIB", "64bytes", "0x40"};
  for (const char* text : bad) {
    Result<std::uint64_t> s = parseSize(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.error().code(), Status::Code::InvalidArgument);
    EXPECT_EQ(s.error().message().rfind("invalid size \"" + std::string(text) + "\": expected", 0),
              0u)
        << s.error().message();
  }
}

TEST(UnitsTest, RejectsSizeOverflow) {
  const char* bad[] = {"18446744073709551616", "16777216TB", "17179869184GB",
                       "99999999999999999999999KB"};
  for (const char* text : bad) {
    Result<std::uint64_t> s = parseSize(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.error().message(), "size \"" + std::string(text) + "\" is too large");
  }
}

TEST(UnitsTest, ParsesRates) {
  EXPECT_EQ(parseRate("10MB/s").value_or(0), 10 * kMiB);
  EXPECT_EQ(parseRate("512KiB/s").value_or(0), 512 * kKiB);
  EXPECT_EQ(parseRate("100/s").value_or(0), 100u);
  EXPECT_EQ(parseRate("0B/s").value_or(1), 0u);

  const char* bad[] = {"", "/s", "10MB", "10MB/h", "10MB/ s", "10 MB/s", "MB/s", "10MB/s/s"};
  for (const char* text : bad) {
    Result<std::uint64_t> r = parseRate(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().message(), "invalid rate \"" + std::string(text) +
                                       "\": expected a size followed by /s, e.g. \"10MB/s\"");
  }
  Result<std::uint64_t> huge = parseRate("16777216TB/s");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().message(), "rate \"16777216TB/s\" is too large");
}

// Verifies the shortest exact rendering picks the largest unit that divides evenly.
TEST(UnitsTest, FormatsDurations) {
  EXPECT_EQ(formatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(formatDuration(milliseconds(1)), "1ms");
  EXPECT_EQ(formatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(formatDuration(seconds(90)), "90s");
  EXPECT_EQ(formatDuration(milliseconds(1800000)), "30m");
  EXPECT_EQ(formatDuration(minutes(60)), "1h");
  EXPECT_EQ(formatDuration(hours(36)), "36h");
  EXPECT_EQ(formatDuration(hours(72)), "3d");
  EXPECT_EQ(formatDuration(seconds(-30)), "-30s");
  EXPECT_EQ(formatDuration(milliseconds(INT64_MIN)), "-9223372036854775808ms");
}

// Verifies formatDuration and parseDuration round-trip.
TEST(UnitsTest, DurationRoundTrips) {
  for (std::int64_t ms : {1LL, 999LL, 1000LL, 61000LL, 3600000LL, 86400000LL, 90061001LL}) {
    Result<Duration> back = parseDuration(formatDuration(milliseconds(ms)));
    ASSERT_TRUE(back.ok()) << ms;
    EXPECT_EQ(back->count(), ms);
  }
}

TEST(UnitsTest, FormatsBytes) {
  EXPECT_EQ(formatBytes(0), "0 B");
  EXPECT_EQ(formatBytes(12), "12 B");
  EXPECT_EQ(formatBytes(1023), "1023 B");
  EXPECT_EQ(formatBytes(1024), "1.0 KB");
  EXPECT_EQ(formatBytes(1536), "1.5 KB");
  EXPECT_EQ(formatBytes(2097152), "2.0 MB");
  EXPECT_EQ(formatBytes(kMiB - 1), "1.0 MB");
  EXPECT_EQ(formatBytes(10 * kGiB + 512 * kMiB), "10.5 GB");
  EXPECT_EQ(formatBytes(3 * kTiB), "3.0 TB");
  EXPECT_EQ(formatBytes(UINT64_MAX), "16.0 EB");
}

}  // namespace
}  // namespace pkgxfer
