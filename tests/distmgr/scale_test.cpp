// A site with many DPs: a package queued behind more than a thousand jobs of another still gets
// its slot, and a distribute to every DP keeps its preliminary checks to a bounded few at once.

#include <chrono>
#include <string>
#include <vector>

#include "distmgr/site_fixture.h"
#include "distmgr/wrapped_transport.h"

namespace pkgxfer::testing {
namespace {

using store::DistributionState;
using store::JobState;
using store::RequestKind;

class ScaleTest : public SiteFixture {
 protected:
  // A member, not a local: it must outlive the site, which TearDown() stops after a failed ASSERT.
  TransportRecord record_;
};

// 1,100 jobs of PS100001 wait (five run and hang, holding every DP slot of that package); a
// package of the same priority asked for later still starts at once: the transfer manager reads
// every runnable job, page by page, not only the first thousand.
TEST_F(ScaleTest, APackageQueuedBehindThousandsOfJobsStillStarts) {
  addDps(1100);
  addPackage("PS100001", {{"a.bin", std::string(64 * 1024, 'a')}});
  addPackage("PS100002", {{"b.bin", std::string(64 * 1024, 'b')}});
  TransportRecord& record = record_;
  record.hang_writes = true;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", dpNames());
  store::TransferJobFilter first;
  first.package_id = "PS100001";
  ASSERT_TRUE(waitFor([&] { return jobs(first).size() == 1100u; }, std::chrono::seconds(60)))
      << jobs(first).size();
  ASSERT_TRUE(waitFor([&] { return record.hanging.load() == 5; }));

  request(RequestKind::Distribute, "PS100002", {"dp1100"});
  store::TransferJobFilter second;
  second.package_id = "PS100002";
  EXPECT_TRUE(waitFor([&] {
    auto all = jobs(second);
    return all.size() == 1u && all[0].state == JobState::Running;
  })) << "the second package's job never started";
  EXPECT_TRUE(waitFor([&] { return record.hanging.load() == 6; }));
  record.releaseWrites();
  // Released, the 1,100 jobs of the first package compete with it (slowly under a sanitizer).
  ASSERT_TRUE(waitForState("PS100002", {"dp1100"}, DistributionState::Installed,
                           std::chrono::seconds(120)));
  stopSite();  // the first package's jobs need not finish
}

// The transfer manager of an idle site polls the database rarely; the distribution manager's
// in-process signal starts a new job at once all the same.
TEST_F(ScaleTest, ANewJobStartsAtOnceThoughTheTransferManagerPollsRarely) {
  addDps(2);
  auto m = addPackage("PS100001", {{"a.txt", "alpha"}});
  transfer_poll_interval_ = std::chrono::seconds(60);
  transfer_wake_interval_ = std::chrono::seconds(60);
  startSite();
  // Let both components settle into their idle waits.
  ASSERT_TRUE(waitFor([&] { return log("pkgxfermgr").find("starting") != std::string::npos; }));
  request(RequestKind::Distribute, "PS100001", {"dp01", "dp02"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01", "dp02"}, DistributionState::Installed,
                           std::chrono::seconds(10)));
  expectInstalled("dp01", m);
}

}  // namespace
}  // namespace pkgxfer::testing
