// No leftovers (issue 13, SPEC §3): whatever ends a distribution — a newer version superseding a
// queued job with a half-sent body, a remove, retries running out — no temporary file of it stays
// on the DP, including those whose resume point never reached the database (the process died
// before it was recorded).

#include "distmgr/site_fixture.h"
#include "distmgr/wrapped_transport.h"

namespace pkgxfer::testing {
namespace {

using store::DistributionState;
using store::JobAction;
using store::JobState;
using store::RequestKind;

std::string shaOf(const std::string& data) { return *content::sha256Hex(data); }

class LeftoversTest : public SiteFixture {
 protected:
  static std::string bigBody() {
    std::string big(8 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 31) >> 7);
    return big;
  }

  // Distributes `files` of PS100001 to dp01 and stops the site gracefully once a resume point of
  // its big body is recorded: the job is left queued with a half-sent body on the DP.
  void leaveHalfSent(const Files& files) {
    checkpoint_bytes_ = 256 * 1024;
    addPackage("PS100001", files);
    record_.write_delay_us = 20000;  // 1 MiB blocks at ~50 MiB/s
    startSite(recordingFactory(record_));
    request(RequestKind::Distribute, "PS100001", {"dp01"});
    store::TransferJobRepository repo(db());
    ASSERT_TRUE(waitFor([&] {
      auto all = jobs();
      return !all.empty() && !repo.listPartials(all[0].id)->empty();
    }));
    stopSite();
    ASSERT_EQ(jobs().size(), 1u);
    ASSERT_EQ(jobs()[0].state, JobState::Queued);
    ASSERT_EQ(tempFiles("dp01").size(), 1u);
    record_.write_delay_us = 0;
  }

  // A temporary file of `owner` for `content`, as an upload whose resume point was never recorded
  // leaves it.
  void plantLeftover(const std::string& content, const std::string& owner) {
    const std::string h = shaOf(content);
    const auto folder = dpRoot("dp01") / "FileLib" / h.substr(0, 4);
    std::filesystem::create_directories(folder);
    writeFile(folder / ("." + h + "." + owner + ".fedcba9876543210.partial"), "half");
  }

  TransportRecord record_;
};

TEST_F(LeftoversTest, AQueuedJobSupersededWithAHalfSentBodyLeavesNothing) {
  addDps(1);
  leaveHalfSent({{"big.bin", bigBody()}});
  // While the service is down: a new version without that body, and a DP closed for now, so the
  // old job is superseded while queued (never running again) and the new one waits.
  addPackage("PS100001", {{"small.txt", "v2"}});
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  config_.distribution_points[0].schedule.hours.fill(config::ScheduleLevel::Closed);
  startSite(recordingFactory(record_));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Waiting));
  EXPECT_TRUE(waitFor([&] { return tempFiles("dp01").empty(); })) << tempFiles("dp01")[0];
  auto all = jobs();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].state, JobState::Superseded);
  EXPECT_TRUE(
      waitFor([&] { return store::TransferJobRepository(db()).listPartials(all[0].id)->empty(); }));
  EXPECT_NE(log("pkgxfermgr").find("with resume points it will never use"), std::string::npos)
      << log("pkgxfermgr");
}

TEST_F(LeftoversTest, ARemoveDeletesTheHalfSentBodyAndUnrecordedUploads) {
  addDps(1);
  leaveHalfSent({{"big.bin", bigBody()}, {"other.txt", "other"}});
  // An upload of the package that died before its resume point was recorded, and one of another
  // package, which stays.
  plantLeftover("other", "PS100001");
  plantLeftover("other", "PS100009");
  request(RequestKind::Remove, "PS100001", {"dp01"});
  startSite(recordingFactory(record_));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Removed));
  EXPECT_TRUE(waitFor([&] { return tempFiles("dp01").size() == 1; })) << tempFiles("dp01").size();
  auto left = tempFiles("dp01");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_NE(left[0].find(".PS100009."), std::string::npos) << left[0];
  for (const auto& job : jobs()) {
    EXPECT_TRUE(store::TransferJobRepository(db()).listPartials(job.id)->empty()) << job.id;
  }
}

TEST_F(LeftoversTest, FailingForGoodDeletesUnrecordedUploadsOfItsBodies) {
  addDps(1);
  config_.distribution.retry_count = 0;
  addPackage("PS100001", {{"a.txt", "alpha"}, {"b.txt", "beta"}});
  plantLeftover("beta", "PS100001");  // an earlier attempt's, never recorded
  record_.fail_write_after = 1;       // the first body fails, so "beta" is never opened
  streams_per_job_ = 1;
  startSite(recordingFactory(record_));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Failed));
  EXPECT_TRUE(waitFor([&] { return tempFiles("dp01").empty(); })) << tempFiles("dp01")[0];
}

}  // namespace
}  // namespace pkgxfer::testing
