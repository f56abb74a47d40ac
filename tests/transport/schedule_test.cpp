#include "pkgxfer/transport/schedule.h"

#include <gtest/gtest.h>

#include <chrono>

#include "pkgxfer/transport/time_zone.h"

namespace pkgxfer::transport {
namespace {

using config::Schedule;
using config::ScheduleLevel;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using Time = Clock::SystemTime;

constexpr int kSun = 0, kMon = 1, kFri = 5, kSat = 6;

// A UTC instant.
Time utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return Time(std::chrono::sys_days(std::chrono::year(y) / mo / d)) + hours(h) + minutes(mi) +
         seconds(s);
}

TimeZone zone(const char* name) {
  Result<TimeZone> z = TimeZone::load(name);
  EXPECT_TRUE(z.ok()) << z.status().message();
  return z.ok() ? *z : TimeZone::utc();
}

Schedule closedExcept(std::initializer_list<std::pair<int, int>> open_day_hours,
                      ScheduleLevel level = ScheduleLevel::All) {
  Schedule s;
  s.hours.fill(ScheduleLevel::Closed);
  for (auto [day, hour] : open_day_hours) {
    s.hours[day * 24 + hour] = level;
  }
  return s;
}

TEST(TimeZoneTest, LoadsByNameAndRejectsUnknown) {
  Result<TimeZone> berlin = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  EXPECT_EQ(berlin->name(), "Europe/Berlin");
  Result<TimeZone> bad = TimeZone::load("Mars/Olympus_Mons");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::NotFound);
  EXPECT_NE(bad.status().message().find("Mars/Olympus_Mons"), std::string::npos);
  EXPECT_TRUE(TimeZone::load("").ok());  // the machine's zone
}

TEST(TimeZoneTest, LocalTimeFieldsAndHourEnd) {
  const TimeZone berlin = zone("Europe/Berlin");
  // 2026-03-28 is a Saturday; CET = UTC+1.
  const LocalTime t = berlin.localTime(utc(2026, 3, 28, 22, 30, 15));
  EXPECT_EQ(t.year, 2026);
  EXPECT_EQ(t.month, 3);
  EXPECT_EQ(t.day, 28);
  EXPECT_EQ(t.weekday, kSat);
  EXPECT_EQ(t.hour, 23);
  EXPECT_EQ(t.minute, 30);
  EXPECT_EQ(t.second, 15);
  EXPECT_EQ(t.utc_offset, hours(1));
  EXPECT_EQ(t.hour_end, utc(2026, 3, 28, 23));
  EXPECT_EQ(berlin.localTime(utc(2026, 3, 28, 23)).weekday, kSun);
  // Spring forward: 01:59:59 CET is followed by 03:00 CEST at 01:00 UTC.
  const LocalTime before = berlin.localTime(utc(2026, 3, 29, 0, 59, 59));
  EXPECT_EQ(before.hour, 1);
  EXPECT_EQ(before.hour_end, utc(2026, 3, 29, 1));
  const LocalTime after = berlin.localTime(utc(2026, 3, 29, 1));
  EXPECT_EQ(after.hour, 3);
  EXPECT_EQ(after.utc_offset, hours(2));
  // Fall back: 02:00-03:00 occurs twice, 00:00-01:00 and 01:00-02:00 UTC.
  EXPECT_EQ(berlin.localTime(utc(2026, 10, 25, 0, 30)).hour, 2);
  EXPECT_EQ(berlin.localTime(utc(2026, 10, 25, 0, 30)).hour_end, utc(2026, 10, 25, 1));
  EXPECT_EQ(berlin.localTime(utc(2026, 10, 25, 1, 30)).hour, 2);
  EXPECT_EQ(berlin.localTime(utc(2026, 10, 25, 1, 30)).utc_offset, hours(1));
}

TEST(ScheduleTest, EveryLevelAgainstEveryPriority) {
  struct Case {
    ScheduleLevel level;
    bool high, medium, low;
  };
  const Case cases[] = {{ScheduleLevel::All, true, true, true},
                        {ScheduleLevel::MediumHigh, true, true, false},
                        {ScheduleLevel::High, true, false, false},
                        {ScheduleLevel::Closed, false, false, false}};
  const Time t = utc(2026, 1, 5, 10);  // Monday 10:00 UTC
  for (const Case& c : cases) {
    SCOPED_TRACE(config::toString(c.level));
    EXPECT_EQ(levelAllows(c.level, Priority::High), c.high);
    EXPECT_EQ(levelAllows(c.level, Priority::Medium), c.medium);
    EXPECT_EQ(levelAllows(c.level, Priority::Low), c.low);
    Schedule s;
    s.hours[kMon * 24 + 10] = c.level;
    const ScheduleEvaluator eval(s, TimeZone::utc());
    EXPECT_EQ(eval.allows(Priority::High, t), c.high);
    EXPECT_EQ(eval.allows(Priority::Medium, t), c.medium);
    EXPECT_EQ(eval.allows(Priority::Low, t), c.low);
  }
}

TEST(ScheduleTest, HourAndDayBoundaries) {
  // Sunday 23:00 high only, Monday 00:00 closed, Monday 01:00 medium_high; the rest open.
  Schedule s;
  s.hours[kSun * 24 + 23] = ScheduleLevel::High;
  s.hours[kMon * 24 + 0] = ScheduleLevel::Closed;
  s.hours[kMon * 24 + 1] = ScheduleLevel::MediumHigh;
  const ScheduleEvaluator eval(s, TimeZone::utc());
  const Time sun2259 = utc(2026, 1, 4, 22, 59, 59);  // 2026-01-04 is a Sunday
  EXPECT_TRUE(eval.allows(Priority::Low, sun2259));
  EXPECT_FALSE(eval.allows(Priority::Low, sun2259 + seconds(1)));
  EXPECT_TRUE(eval.allows(Priority::High, sun2259 + seconds(1)));
  EXPECT_TRUE(eval.allows(Priority::High, utc(2026, 1, 4, 23, 59, 59)));
  EXPECT_FALSE(eval.allows(Priority::High, utc(2026, 1, 5)));
  EXPECT_TRUE(eval.allows(Priority::Medium, utc(2026, 1, 5, 1)));
  EXPECT_FALSE(eval.allows(Priority::Low, utc(2026, 1, 5, 1, 59)));
  EXPECT_TRUE(eval.allows(Priority::Low, utc(2026, 1, 5, 2)));

  EXPECT_EQ(eval.windowEnd(Priority::Low, sun2259), utc(2026, 1, 4, 23));
  EXPECT_EQ(eval.windowEnd(Priority::High, sun2259), utc(2026, 1, 5));
  EXPECT_EQ(eval.nextOpening(Priority::High, utc(2026, 1, 5, 0, 10)), utc(2026, 1, 5, 1));
  EXPECT_EQ(eval.nextOpening(Priority::Low, utc(2026, 1, 4, 23, 10)), utc(2026, 1, 5, 2));
  EXPECT_EQ(eval.nextOpening(Priority::Low, utc(2026, 1, 5, 2, 10)), utc(2026, 1, 5, 2, 10));
  EXPECT_EQ(eval.windowEnd(Priority::Low, utc(2026, 1, 5, 0, 10)), utc(2026, 1, 5, 0, 10));
}

TEST(ScheduleTest, WindowWrappingMidnightAsExpandedByConfig) {
  // "22-06" on Friday: Friday 22, 23 and Saturday 0..5.
  Schedule s;
  s.hours.fill(ScheduleLevel::Closed);
  for (int h : {22, 23}) s.hours[kFri * 24 + h] = ScheduleLevel::All;
  for (int h = 0; h < 6; ++h) s.hours[kSat * 24 + h] = ScheduleLevel::All;
  const ScheduleEvaluator eval(s, TimeZone::utc());
  // 2026-01-09 is a Friday.
  EXPECT_EQ(eval.nextOpening(Priority::Low, utc(2026, 1, 9, 12)), utc(2026, 1, 9, 22));
  EXPECT_EQ(eval.windowEnd(Priority::Low, utc(2026, 1, 9, 23, 30)), utc(2026, 1, 10, 6));
  EXPECT_TRUE(eval.allows(Priority::Low, utc(2026, 1, 10, 5, 59, 59)));
  EXPECT_FALSE(eval.allows(Priority::Low, utc(2026, 1, 10, 6)));
  // After the window: the next Friday.
  EXPECT_EQ(eval.nextOpening(Priority::Low, utc(2026, 1, 10, 6)), utc(2026, 1, 16, 22));
}

TEST(ScheduleTest, NextOpeningAcrossAWeekAndNever) {
  const ScheduleEvaluator saturday(closedExcept({{kSat, 22}}, ScheduleLevel::High),
                                   TimeZone::utc());
  // From Sunday 00:00 to Saturday 22:00.
  EXPECT_EQ(saturday.nextOpening(Priority::High, utc(2026, 1, 4)), utc(2026, 1, 10, 22));
  // Just after it closes: a week later.
  EXPECT_EQ(saturday.nextOpening(Priority::High, utc(2026, 1, 10, 23)), utc(2026, 1, 17, 22));
  EXPECT_EQ(saturday.nextOpening(Priority::Medium, utc(2026, 1, 4)), std::nullopt);
  EXPECT_EQ(saturday.windowEnd(Priority::Medium, utc(2026, 1, 4)), utc(2026, 1, 4));

  Schedule all_closed;
  all_closed.hours.fill(ScheduleLevel::Closed);
  const ScheduleEvaluator closed(all_closed, TimeZone::utc());
  for (Priority p : {Priority::High, Priority::Medium, Priority::Low}) {
    EXPECT_EQ(closed.nextOpening(p, utc(2026, 1, 4)), std::nullopt);
  }
  const ScheduleEvaluator open(Schedule{}, TimeZone::utc());
  EXPECT_EQ(open.windowEnd(Priority::Low, utc(2026, 1, 4)), std::nullopt);
  EXPECT_EQ(open.nextOpening(Priority::Low, utc(2026, 1, 4, 3, 7)), utc(2026, 1, 4, 3, 7));
}

TEST(ScheduleTest, LocalZoneShiftsTheGrid) {
  // Monday 08:00 in New York (EST, UTC-5) is 13:00 UTC.
  const ScheduleEvaluator eval(closedExcept({{kMon, 8}}), zone("America/New_York"));
  EXPECT_EQ(eval.nextOpening(Priority::Low, utc(2026, 1, 4)), utc(2026, 1, 5, 13));
  EXPECT_EQ(eval.windowEnd(Priority::Low, utc(2026, 1, 5, 13, 30)), utc(2026, 1, 5, 14));
}

TEST(ScheduleTest, BerlinSpringForwardSkipsTheMissingHour) {
  const TimeZone berlin = zone("Europe/Berlin");
  // 2026-03-29 (Sunday) 02:00 CET -> 03:00 CEST at 01:00 UTC: local 02:xx does not exist.
  const ScheduleEvaluator gap(closedExcept({{kSun, 2}}), berlin);
  EXPECT_FALSE(gap.allows(Priority::Low, utc(2026, 3, 29, 1)));
  // Sunday 02:00 next occurs on 2026-04-05, CEST: 00:00 UTC.
  EXPECT_EQ(gap.nextOpening(Priority::Low, utc(2026, 3, 28, 12)), utc(2026, 4, 5, 0));
  // Hour 3 opens right at the switch.
  const ScheduleEvaluator three(closedExcept({{kSun, 3}}), berlin);
  EXPECT_EQ(three.nextOpening(Priority::Low, utc(2026, 3, 29, 0, 0)), utc(2026, 3, 29, 1));
  EXPECT_EQ(three.windowEnd(Priority::Low, utc(2026, 3, 29, 1)), utc(2026, 3, 29, 2));
  // Hour 1 (CET) closes at the switch.
  const ScheduleEvaluator one(closedExcept({{kSun, 1}}), berlin);
  EXPECT_EQ(one.nextOpening(Priority::Low, utc(2026, 3, 28, 12)), utc(2026, 3, 29, 0));
  EXPECT_EQ(one.windowEnd(Priority::Low, utc(2026, 3, 29, 0, 30)), utc(2026, 3, 29, 1));
  // Hours 1..3 open: one window of two real hours (01:00 CET .. 04:00 CEST).
  const ScheduleEvaluator span(closedExcept({{kSun, 1}, {kSun, 2}, {kSun, 3}}), berlin);
  EXPECT_EQ(span.windowEnd(Priority::Low, utc(2026, 3, 29, 0)), utc(2026, 3, 29, 2));
}

TEST(ScheduleTest, BerlinFallBackOpensTheRepeatedHourTwice) {
  const TimeZone berlin = zone("Europe/Berlin");
  // 2026-10-25 (Sunday) 03:00 CEST -> 02:00 CET at 01:00 UTC: local 02:xx occurs twice.
  const ScheduleEvaluator two(closedExcept({{kSun, 2}}), berlin);
  EXPECT_EQ(two.nextOpening(Priority::Low, utc(2026, 10, 24, 12)), utc(2026, 10, 25, 0));
  EXPECT_EQ(two.windowEnd(Priority::Low, utc(2026, 10, 25, 0)), utc(2026, 10, 25, 2));
  EXPECT_TRUE(two.allows(Priority::Low, utc(2026, 10, 25, 1, 30)));
  // Hour 3 (CET) starts at 02:00 UTC.
  const ScheduleEvaluator three(closedExcept({{kSun, 3}}), berlin);
  EXPECT_EQ(three.nextOpening(Priority::Low, utc(2026, 10, 24, 12)), utc(2026, 10, 25, 2));
}

TEST(ScheduleTest, NewYorkSwitches) {
  const TimeZone ny = zone("America/New_York");
  // 2026-03-08 (Sunday) 02:00 EST -> 03:00 EDT at 07:00 UTC.
  const ScheduleEvaluator spring(closedExcept({{kSun, 2}}), ny);
  EXPECT_EQ(spring.nextOpening(Priority::Low, utc(2026, 3, 7, 12)), utc(2026, 3, 15, 6));
  const ScheduleEvaluator three(closedExcept({{kSun, 3}}), ny);
  EXPECT_EQ(three.nextOpening(Priority::Low, utc(2026, 3, 7, 12)), utc(2026, 3, 8, 7));
  // 2026-11-01 (Sunday) 02:00 EDT -> 01:00 EST at 06:00 UTC: local 01:xx occurs twice.
  const ScheduleEvaluator fall(closedExcept({{kSun, 1}}), ny);
  EXPECT_EQ(fall.nextOpening(Priority::Low, utc(2026, 10, 31, 12)), utc(2026, 11, 1, 5));
  EXPECT_EQ(fall.windowEnd(Priority::Low, utc(2026, 11, 1, 5)), utc(2026, 11, 1, 7));
}

}  // namespace
}  // namespace pkgxfer::transport
