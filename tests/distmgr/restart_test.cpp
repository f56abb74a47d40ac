// Nothing stuck after a restart: a pair a previous run left in a state that only a live check or
// job explains (the run died during a preliminary check, between creating a pair's state and its
// job, or between a job's end and its pair's update) moves on when the site starts again, and a
// job's result reaches its pair only while the pair still belongs to that job.

#include <chrono>
#include <string>
#include <vector>

#include "distmgr/site_fixture.h"
#include "distmgr/wrapped_transport.h"

namespace pkgxfer::testing {
namespace {

using store::DistributionState;
using store::JobAction;
using store::JobState;
using store::RequestKind;

class RestartTest : public SiteFixture {
 protected:
  store::DistributionRepository pairs() { return store::DistributionRepository(db()); }
  // A member, not a local: it must outlive the site, which TearDown() stops after a failed ASSERT.
  TransportRecord record_;
};

// Killed during the preliminary check: the request was done and the pair checking, no check
// ran. The next start checks again and installs.
TEST_F(RestartTest, PairLeftCheckingIsCheckedAgain) {
  addDps(1);
  auto m = addPackage("PS100001", {{"a.txt", "alpha"}, {"b.txt", "beta"}});
  ASSERT_TRUE(pairs().start("PS100001", "dp01", 1, DistributionState::Checking).ok());
  startSite();
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  EXPECT_NE(log("distmgr").find("was left checking by the previous run"), std::string::npos);
  EXPECT_EQ(dist("PS100001", "dp01").attempts, 0) << "a restart is not a failed attempt";
}

// Killed between the pair's queued state and its job (an older build wrote them apart): the
// pair waits for a job that does not exist. It is checked and sent again.
TEST_F(RestartTest, PairWaitingForAJobThatDoesNotExistIsSent) {
  addDps(1);
  auto m = addPackage("PS100001", {{"a.txt", "alpha"}});
  ASSERT_TRUE(pairs().start("PS100001", "dp01", 1, DistributionState::Waiting).ok());
  startSite();
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  EXPECT_EQ(jobs().size(), 1u);
}

// Killed after the job was done but before its pair was updated: the result is recorded without
// sending anything again.
TEST_F(RestartTest, JobDoneButPairTransferringIsInstalledWithoutResending) {
  addDps(1);
  auto m = addPackage("PS100001", {{"a.txt", "alpha"}, {"b.txt", "beta"}});
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  stopSite();
  ASSERT_TRUE(pairs().setState("PS100001", "dp01", DistributionState::Transferring).ok());

  TransportRecord& record = record_;
  startSite(recordingFactory(record), recordingFactory(record));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  EXPECT_EQ(record.openedTotal(), 0) << "nothing sent again";
  EXPECT_EQ(jobs().size(), 1u) << "no new job";
  EXPECT_NE(log("distmgr").find("finished, but the service stopped before its result was "
                                "recorded; the distribution is installed"),
            std::string::npos);
  expectInstalled("dp01", m);
}

// The same for a remove: its job was done, the pair still removing.
TEST_F(RestartTest, RemoveDoneButPairRemovingIsRemoved) {
  addDps(1);
  addPackage("PS100001", {{"a.txt", "alpha"}});
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  request(RequestKind::Remove, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Removed));
  stopSite();
  ASSERT_TRUE(pairs().setState("PS100001", "dp01", DistributionState::Removing).ok());
  startSite();
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Removed));
  EXPECT_EQ(jobs().size(), 2u);
}

// A remove whose job was never created runs when the site starts again.
TEST_F(RestartTest, RemovingWithoutAJobRunsTheRemove) {
  addDps(1);
  addPackage("PS100001", {{"a.txt", "alpha"}});
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  stopSite();
  ASSERT_TRUE(
      pairs().setStateFor("PS100001", "dp01", DistributionState::Removing, JobAction::Remove).ok());
  startSite();
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Removed));
  auto all = jobs();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].action, JobAction::Remove);
  EXPECT_EQ(all[1].state, JobState::Done);
  content::ContentLibrary::Options look_only;
  look_only.sweep_on_open = false;
  auto lib = content::ContentLibrary::open(dpRoot("dp01"), look_only);
  ASSERT_TRUE(lib.ok());
  EXPECT_FALSE((*lib)->hasContent("PS100001", 1));
}

// A job's result reaches its pair only while the pair still belongs to the job: a validate
// requested while an add of the same version runs owns the pair, and the add's end does not mark
// it installed before the validation ran.
TEST_F(RestartTest, AJobDoesNotWriteItsResultToAPairALaterRequestOwns) {
  addDps(1);
  auto m = addPackage("PS100001", {{"big.bin", std::string(2 << 20, 'x')}});
  TransportRecord& record = record_;
  record.hang_writes = true;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return record.hanging.load() == 1; }));
  request(RequestKind::Validate, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return jobs().size() == 2u; }));
  EXPECT_EQ(dist("PS100001", "dp01").action, JobAction::Validate);
  record.releaseWrites();
  ASSERT_TRUE(waitFor([&] {
    auto all = jobs();
    return all.size() == 2u && all[0].state == JobState::Done && all[1].state == JobState::Done;
  }));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  // The add's end left the pair to the validate; the validate's result marked it installed.
  const std::string log = this->log("pkgxfermgr");
  EXPECT_NE(log.find("A later request owns the distribution of package PS100001 to dp01"),
            std::string::npos)
      << log;
  expectInstalled("dp01", m);
}

}  // namespace
}  // namespace pkgxfer::testing
