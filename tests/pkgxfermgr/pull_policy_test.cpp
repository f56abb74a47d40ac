#include "pkgxfer/pkgxfermgr/pull_policy.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace pkgxfer::pkgxfermgr {
namespace {

using namespace std::chrono_literals;

class PullPolicyTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  config::DistributionConfig cfg_;  // the defaults: 30 x 20 min, 72 x 60 min
};

// Verifies the source cycle with the default settings: the first check and 30 re-checks 20
// minutes apart; the 31st check that finds no source, 10 hours after the first, gives up.
TEST_F(PullPolicyTest, SourceRechecksThirtyTimesTwentyMinutesApart) {
  const Timestamp first = clock_.systemNow();
  int checks = 0;
  while (true) {
    ++checks;
    NextStep next = afterSourceMiss(checks, clock_.systemNow(), cfg_);
    if (next.give_up) break;
    EXPECT_EQ(next.at - clock_.systemNow(), 20min);
    clock_.advance(next.at - clock_.systemNow());
  }
  EXPECT_EQ(checks, 31);
  EXPECT_EQ(clock_.systemNow() - first, 30 * 20min);
}

// Verifies the status cycle with the default settings: 72 checks an hour apart (3 days) after the
// notification, then it gives up; a status that arrives moves the next check to an hour after it.
TEST_F(PullPolicyTest, StatusChecksSeventyTwoTimesAnHourApart) {
  const Timestamp notified = clock_.systemNow();
  Timestamp due = statusDue(notified, std::nullopt, cfg_);
  EXPECT_EQ(due - notified, 60min);
  int checks = 0;
  while (true) {
    clock_.advance(due - clock_.systemNow());
    ++checks;
    NextStep next = afterStatusCheck(checks, clock_.systemNow(), cfg_);
    if (next.give_up) break;
    due = statusDue(clock_.systemNow(), std::nullopt, cfg_);
    EXPECT_EQ(next.at, due);
  }
  EXPECT_EQ(checks, 72);
  EXPECT_EQ(clock_.systemNow() - notified, 72h);
}

// Verifies a status received after the notification resets the wait: the check is due an hour
// after the status, not after the notification; an older status changes nothing.
TEST_F(PullPolicyTest, StatusResetsTheWait) {
  const Timestamp notified = clock_.systemNow();
  EXPECT_EQ(statusDue(notified, notified + 45min, cfg_), notified + 105min);
  EXPECT_EQ(statusDue(notified, notified - 5min, cfg_), notified + 60min);
}

// Verifies shortened settings shorten the cycles alike (how the end-to-end tests run them).
TEST_F(PullPolicyTest, ShortenedSettings) {
  cfg_.pull_source_recheck = 500ms;
  cfg_.pull_source_recheck_count = 2;
  cfg_.pull_status_timeout = 300ms;
  cfg_.pull_status_check_count = 1;
  const Timestamp now = clock_.systemNow();
  EXPECT_EQ(afterSourceMiss(1, now, cfg_).at, now + 500ms);
  EXPECT_FALSE(afterSourceMiss(2, now, cfg_).give_up);
  EXPECT_TRUE(afterSourceMiss(3, now, cfg_).give_up);
  EXPECT_TRUE(afterStatusCheck(1, now, cfg_).give_up);
}

// Verifies the notification backoff: 1, 2, 4, 8, 16 minutes, then every 20 minutes; the 30th
// failure gives up.
TEST_F(PullPolicyTest, NotificationBackoffDoublesUpToTheRecheckInterval) {
  EXPECT_EQ(notifyBackoff(1, cfg_), 1min);
  EXPECT_EQ(notifyBackoff(2, cfg_), 2min);
  EXPECT_EQ(notifyBackoff(5, cfg_), 16min);
  EXPECT_EQ(notifyBackoff(6, cfg_), 20min);
  EXPECT_EQ(notifyBackoff(29, cfg_), 20min);
  const Timestamp now = clock_.systemNow();
  EXPECT_EQ(afterNotifyFailure(1, now, cfg_).at, now + 1min);
  EXPECT_FALSE(afterNotifyFailure(kNotifyAttempts - 1, now, cfg_).give_up);
  EXPECT_TRUE(afterNotifyFailure(kNotifyAttempts, now, cfg_).give_up);
  cfg_.pull_source_recheck = 500ms;
  EXPECT_EQ(notifyBackoff(1, cfg_), 25ms);
  EXPECT_EQ(notifyBackoff(10, cfg_), 500ms);
}

}  // namespace
}  // namespace pkgxfer::pkgxfermgr
