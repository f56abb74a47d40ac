#include "pkgxfer/distribution/pair_states.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/test_util.h"
#include "pkgxfer/store/distribution_point_repository.h"
#include "pkgxfer/store/package_repository.h"

namespace pkgxfer::distribution {
namespace {

using store::DistributionState;
using store::JobAction;

class PairStatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Database::open(dir_.path() / "site.db", clock_);
    ASSERT_TRUE(db.ok()) << db.status().toString();
    db_ = std::move(*db);
    config::DistributionPointConfig dp;
    dp.name = "dp01";
    dp.address = "file:///srv/dp01";
    ASSERT_TRUE(store::DistributionPointRepository(*db_).syncFromConfig({dp}).ok());
    store::PackageContent content;
    content.manifest_sha256 = std::string(64, 'a');
    store::PackageFile file;
    file.path = "a.txt";
    file.size = 1;
    file.sha256 = std::string(64, 'b');
    content.files.push_back(file);
    ASSERT_TRUE(store::PackageRepository(*db_)
                    .add({"PS100001", "p", "/src", store::Priority::Medium}, content)
                    .ok());
    ASSERT_TRUE(store::PackageRepository(*db_).addVersion("PS100001", content).ok());
    LogOptions options;
    options.dir = dir_.path() / "log";
    logs_ = std::make_unique<LogManager>(options);
    log_ = *logs_->open({"distmgr", "SMS_DISTRIBUTION_MANAGER", LogFormat::Trace});
    cfg_.retry_count = 2;
    cfg_.retry_delay = std::chrono::minutes(30);
    states_ = std::make_unique<PairStates>(*db_, cfg_, clock_, log_);
  }

  store::DistributionRow row() { return *states_->repository().get("PS100001", "dp01"); }

  pkgxfer::testing::TempDir dir_;
  pkgxfer::testing::FakeClock clock_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<LogManager> logs_;
  Logger log_;
  config::DistributionConfig cfg_;
  std::unique_ptr<PairStates> states_;
};

TEST(PairStatesMapTest, EachActionShowsItsStates) {
  EXPECT_EQ(queuedState(JobAction::Add), DistributionState::Waiting);
  EXPECT_EQ(queuedState(JobAction::Redistribute), DistributionState::Waiting);
  EXPECT_EQ(queuedState(JobAction::Validate), DistributionState::Verifying);
  EXPECT_EQ(queuedState(JobAction::Remove), DistributionState::Removing);
  EXPECT_EQ(runningState(JobAction::Add), DistributionState::Transferring);
  EXPECT_EQ(runningState(JobAction::Redistribute), DistributionState::Transferring);
  EXPECT_EQ(runningState(JobAction::Validate), DistributionState::Verifying);
  EXPECT_EQ(runningState(JobAction::Remove), DistributionState::Removing);
}

TEST_F(PairStatesTest, DistributeChecksThenRunsThenInstalls) {
  ASSERT_EQ(*states_->request("PS100001", "dp01", JobAction::Add, 2), 2);
  EXPECT_EQ(row().state, DistributionState::Checking);
  EXPECT_EQ(row().version, 2);
  ASSERT_TRUE(states_->queued("PS100001", "dp01", JobAction::Add).ok());
  EXPECT_EQ(row().state, DistributionState::Waiting);
  ASSERT_TRUE(states_->running("PS100001", "dp01", JobAction::Add).ok());
  EXPECT_EQ(row().state, DistributionState::Transferring);
  ASSERT_TRUE(states_->committing("PS100001", "dp01").ok());
  EXPECT_EQ(row().state, DistributionState::Verifying);
  ASSERT_TRUE(states_->installed("PS100001", "dp01").ok());
  EXPECT_EQ(row().state, DistributionState::Installed);
  EXPECT_EQ(row().action, JobAction::Add);
}

TEST_F(PairStatesTest, ValidateAndRemoveKeepTheVersionThePairHolds) {
  ASSERT_EQ(*states_->request("PS100001", "dp01", JobAction::Add, 1), 1);
  ASSERT_TRUE(states_->installed("PS100001", "dp01").ok());
  // Version 2 exists at the site, but the DP holds 1: that is what validate checks.
  EXPECT_EQ(*states_->request("PS100001", "dp01", JobAction::Validate, 2), 1);
  EXPECT_EQ(row().state, DistributionState::Verifying);
  EXPECT_EQ(row().action, JobAction::Validate);
  EXPECT_EQ(*states_->request("PS100001", "dp01", JobAction::Remove, 2), 1);
  EXPECT_EQ(row().state, DistributionState::Removing);
  ASSERT_TRUE(states_->removed("PS100001", "dp01").ok());
  // A removed pair validates the latest version.
  EXPECT_EQ(*states_->request("PS100001", "dp01", JobAction::Validate, 2), 2);
  EXPECT_EQ(row().version, 2);
}

TEST_F(PairStatesTest, ValidateOrRemoveOfANewPairUsesTheLatestVersion) {
  EXPECT_EQ(*states_->request("PS100001", "dp01", JobAction::Remove, 2), 2);
  EXPECT_EQ(row().state, DistributionState::Removing);
  EXPECT_EQ(states_->request("PS100001", "dp09", JobAction::Add, 2).status().code(),
            Status::Code::NotFound);
}

TEST_F(PairStatesTest, AFailedAttemptIsRetriedWithItsCauseThenFails) {
  ASSERT_TRUE(states_->request("PS100001", "dp01", JobAction::Add, 2).ok());
  const Status denied = Status::PermissionDenied(
      "create /srv/dp01/FileLib/3a4f/x.partial: Permission denied (EACCES)");
  auto first = states_->attemptFailed("PS100001", "dp01", denied, "Sending to dp01");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->retry) << "a wrong password or ACL is retried, as ConfigMgr does";
  EXPECT_EQ(row().state, DistributionState::Retrying);
  EXPECT_EQ(row().attempts, 1);
  EXPECT_EQ(row().last_error, denied.toString());
  EXPECT_EQ(row().next_attempt_at, clock_.systemNow() + std::chrono::minutes(30));
  EXPECT_TRUE(states_->attemptFailed("PS100001", "dp01", denied, "Sending to dp01")->retry);
  auto third = states_->attemptFailed("PS100001", "dp01", denied, "Sending to dp01");
  EXPECT_FALSE(third->retry);
  EXPECT_EQ(row().state, DistributionState::Failed);
  EXPECT_EQ(row().last_error, denied.toString());
  // The log says why, every time.
  const std::string log = pkgxfer::testing::readFile(dir_.path() / "log" / "distmgr.log");
  EXPECT_NE(log.find("Sending to dp01 failed: " + denied.toString() +
                     ". Failure count = 1/2, Restart time = "),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("Failure count = 3/2; retries exhausted, giving up"), std::string::npos)
      << log;
}

TEST_F(PairStatesTest, AWrongRequestFailsAtOnce) {
  ASSERT_TRUE(states_->request("PS100001", "dp01", JobAction::Add, 2).ok());
  auto d = states_->attemptFailed("PS100001", "dp01",
                                  Status::InvalidArgument("DP dp01 is not in the configuration"),
                                  "Sending to dp01");
  EXPECT_FALSE(d->retry);
  EXPECT_EQ(row().state, DistributionState::Failed);
  const std::string log = pkgxfer::testing::readFile(dir_.path() / "log" / "distmgr.log");
  EXPECT_NE(log.find("permanent error, not retrying"), std::string::npos) << log;
}

TEST_F(PairStatesTest, WaitingForAWindowSaysWhy) {
  ASSERT_TRUE(states_->request("PS100001", "dp01", JobAction::Add, 2).ok());
  ASSERT_TRUE(states_->waitingForWindow("PS100001", "dp01", "opens 22:00").ok());
  EXPECT_EQ(row().state, DistributionState::Waiting);
  EXPECT_EQ(row().last_error, "opens 22:00");
  ASSERT_TRUE(states_->validationFailed("PS100001", "dp01", "1 missing").ok());
  EXPECT_EQ(row().state, DistributionState::Failed);
  EXPECT_EQ(row().last_error, "validation failed: 1 missing");
}

}  // namespace
}  // namespace pkgxfer::distribution
