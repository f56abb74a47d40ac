// Schedules in pkgxfermgr's block loop, in process with a FakeClock: a window that closes
// mid-transfer pauses the job at a block boundary, keeping what was sent, and it resumes from
// there when the window opens. Hours pass by moving the fake wall clock, not by waiting.

#include "distmgr/site_fixture.h"
#include "distmgr/wrapped_transport.h"
#include "fakes/fake_clock.h"
#include "pkgxfer/transport/time_zone.h"

namespace pkgxfer::testing {
namespace {

using namespace std::chrono_literals;
using store::DistributionState;
using store::JobState;
using store::RequestKind;

class ScheduleTest : public SiteFixture {
 protected:
  // The fake clock starts on an hour boundary (UTC); the site reads schedules in UTC.
  void SetUp() override {
    SiteFixture::SetUp();
    config_.site->timezone = "UTC";
    clock_ = &fake_;
  }

  int weekHour(Clock::SystemTime t) const {
    return transport::TimeZone::utc().localTime(t).weekHour();
  }

  const Clock::SystemTime t0_ = Clock::SystemTime(std::chrono::hours(24 * 20000));
  FakeClock fake_{t0_ + 30min};
};

TEST_F(ScheduleTest, WindowClosingMidTransferPausesThenResumesFromTheSameOffset) {
  addDps(1);
  // Open every hour but the one after t0: closed for every priority.
  config_.distribution_points[0].schedule.hours[weekHour(t0_ + 1h)] = config::ScheduleLevel::Closed;
  constexpr std::uint64_t kSize = 5 << 20;  // five 1 MiB blocks
  auto m = addPackage("PS100001", {{"big.bin", std::string(kSize, 'z')}});
  const std::string sha = m.files[0].sha256;
  TransportRecord record;
  // After the second block the hour ends and the next one is closed: the job must stop before
  // the third block.
  record.after_write = [this](std::uint64_t total) {
    if (total == (2u << 20)) fake_.setSystemTime(t0_ + 1h + 1min);
  };
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});

  store::TransferJobRepository repo(db());
  auto paused = [&] {
    auto list = jobs();
    return list.size() == 1 && list[0].state == JobState::Paused;
  };
  ASSERT_TRUE(waitFor(paused, 20s)) << log("pkgxfermgr");
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Waiting));
  const std::int64_t job_id = jobs()[0].id;
  auto partial = repo.findPartial(job_id, sha);
  ASSERT_TRUE(partial.ok()) << partial.status().toString();
  ASSERT_TRUE(partial->has_value());
  const std::uint64_t offset = (*partial)->offset;
  EXPECT_EQ(offset, 2u << 20);
  EXPECT_EQ(record.bytes_written.load(), offset);
  EXPECT_EQ(
      dist("PS100001", "dp01").last_error, "waiting for the schedule window of dp01; opens " + [&] {
        auto t = transport::TimeZone::utc().localTime(t0_ + 2h);
        return fmt::format("{:04}-{:02}-{:02} {:02}:00", t.year, t.month, t.day, t.hour);
      }() + " (UTC time)");
  EXPECT_NE(log("pkgxfermgr").find("sending paused at a block boundary"), std::string::npos);
  // Still closed: a poll must not start it again (the state stays paused).
  EXPECT_FALSE(waitFor([&] { return !paused(); }, 300ms));

  fake_.setSystemTime(t0_ + 2h + 1min);  // the window opens again
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  // Only the rest was sent again, on the same temporary file.
  EXPECT_EQ(record.bytes_written.load(), kSize);
  EXPECT_EQ(record.opened(sha), 2);
  const std::string log = this->log("pkgxfermgr");
  EXPECT_NE(log.find("Resuming file big.bin (" + sha + ") at offset 2097152 of 5242880"),
            std::string::npos)
      << log;
  EXPECT_EQ(jobs()[0].state, JobState::Done);
}

TEST_F(ScheduleTest, LowPriorityWaitsForeverUnderHighOnlyScheduleWhileHighIsSent) {
  addDps(1);
  config_.distribution_points[0].schedule.hours.fill(config::ScheduleLevel::High);
  auto low = addPackage("PS100001", {{"a.txt", "low"}}, store::Priority::Low);
  auto high = addPackage("PS100002", {{"b.txt", "high"}}, store::Priority::High);
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  request(RequestKind::Distribute, "PS100002", {"dp01"});
  ASSERT_TRUE(waitForState("PS100002", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", high);
  ASSERT_TRUE(waitFor(
      [&] {
        return dist("PS100001", "dp01").last_error ==
               "waiting for the schedule window of dp01; it never opens: every hour of the week is "
               "closed to priority low";
      },
      20s))
      << dist("PS100001", "dp01").last_error;
  EXPECT_EQ(dist("PS100001", "dp01").state, DistributionState::Waiting);
  // Checked before waiting, as any distribution.
  EXPECT_NE(log("distmgr").find("Preliminary check of DP dp01 passed"), std::string::npos);
  store::TransferJobFilter filter;
  filter.package_id = "PS100001";
  EXPECT_EQ(jobs(filter)[0].state, JobState::Queued);
}

// A rate limit's wait is cut short by a stop: pulse mode with a 30 s delay would hold a stop past
// the host's 10 s stop timeout if the job slept through it.
TEST_F(ScheduleTest, StopInterruptsARateLimitWaitAndKeepsWhatWasSent) {
  clock_ = &SystemClock::instance();  // pulse delays are measured on the steady clock
  addDps(1);
  auto& limit = config_.distribution_points[0].rate_limit;
  limit.mode = config::RateLimitMode::Pulse;
  limit.block_size = 1024;
  limit.delay = 30s;
  auto m = addPackage("PS100001", {{"a.bin", std::string(4096, 'p')}});
  TransportRecord record;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  // The first pulse goes at once; the job then waits 30 s for the next.
  ASSERT_TRUE(waitFor([&] { return record.bytes_written.load() == 1024; }, 20s));
  const auto before = std::chrono::steady_clock::now();
  stopSite();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
  EXPECT_EQ(record.bytes_written.load(), 1024u);
  auto list = jobs();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state, JobState::Queued);
  auto partial = store::TransferJobRepository(db()).findPartial(list[0].id, m.files[0].sha256);
  ASSERT_TRUE(partial.ok() && partial->has_value());
  EXPECT_EQ((*partial)->offset, 1024u);
}

// A window that closes while the job is stuck in a call to a DP that stopped answering: the
// manager's poll sees the schedule closed and stops the job's token, which reaches the call; the
// job keeps what it sent, waits for the window, and finishes once the DP answers again.
TEST_F(ScheduleTest, AWindowThatClosesReachesACallThatHangs) {
  addDps(1);
  config_.distribution_points[0].schedule.hours[weekHour(t0_ + 1h)] = config::ScheduleLevel::Closed;
  auto m = addPackage("PS100001", {{"big.bin", std::string(3 << 20, 'w')}});
  TransportRecord record;
  record.hang_writes = true;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return record.hanging.load() > 0; }));

  fake_.setSystemTime(t0_ + 1h + 1min);  // the window closes while the write hangs
  ASSERT_TRUE(waitFor([&] { return record.hanging.load() == 0; }, 10s))
      << "the closing window did not reach the hung call";
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Waiting));
  EXPECT_NE(dist("PS100001", "dp01").last_error.find("waiting for the schedule window of dp01"),
            std::string::npos);
  EXPECT_NE(log("pkgxfermgr").find("closed while job"), std::string::npos);
  EXPECT_EQ(jobs().size(), 1u) << "paused, not failed: no retry job";

  record.hang_writes = false;
  fake_.setSystemTime(t0_ + 2h + 1min);  // the window opens; the DP answers again
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  EXPECT_EQ(jobs().size(), 1u);
  EXPECT_EQ(dist("PS100001", "dp01").attempts, 0);
}

}  // namespace
}  // namespace pkgxfer::testing
