// Windows-only behaviour outside the file system: the machine's time zone as TimeZone reads it
// (schedules, rate limits) agrees with the bias the logs write, both from Win32.

#include <chrono>
#include <ctime>

#include <gtest/gtest.h>

#include "pkgxfer/common/log.h"
#include "pkgxfer/transport/time_zone.h"

namespace pkgxfer {
namespace {

TEST(WindowsTimeZoneTest, MachineZoneLoadsAndAgreesWithTheLogBias) {
  auto zone = transport::TimeZone::load("");
  ASSERT_TRUE(zone.ok()) << zone.status().toString();
  EXPECT_FALSE(zone->name().empty());
  const auto now = std::chrono::system_clock::now();
  const transport::LocalTime local = zone->localTime(now);
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  EXPECT_EQ(local.utc_offset.count(), -windowsBiasMinutes(t) * 60);
  EXPECT_GT(local.hour_end, now);
  EXPECT_LE(local.hour_end, now + std::chrono::hours(1));
}

TEST(WindowsTimeZoneTest, UtcAndRefusedIanaNames) {
  auto utc = transport::TimeZone::load("Etc/UTC");
  ASSERT_TRUE(utc.ok());
  // 2026-12-07 12:34:56 UTC, a Monday.
  const auto t = std::chrono::sys_days{std::chrono::year{2026} / 12 / 7} + std::chrono::hours(12) +
                 std::chrono::minutes(34) + std::chrono::seconds(56);
  const transport::LocalTime local = utc->localTime(t);
  EXPECT_EQ(local.year, 2026);
  EXPECT_EQ(local.month, 12);
  EXPECT_EQ(local.day, 7);
  EXPECT_EQ(local.weekday, 1);
  EXPECT_EQ(local.hour, 12);
  EXPECT_EQ(local.minute, 34);
  EXPECT_EQ(local.utc_offset.count(), 0);

  auto berlin = transport::TimeZone::load("Europe/Berlin");
  ASSERT_FALSE(berlin.ok());
  EXPECT_NE(berlin.status().message().find("no IANA time-zone database"), std::string::npos)
      << berlin.status().message();
}

}  // namespace
}  // namespace pkgxfer
