#include "pkgxfer/store/distribution_repository.h"

#include <gtest/gtest.h>

#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

using std::chrono::minutes;

class DistributionRepositoryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    addDps({"dp01", "dp02"});
    addPackage("PS100001");
    addPackage("PS100002");
  }
};

// Verifies start() inserts the pair with zero progress, stamped by the injected clock.
TEST_F(DistributionRepositoryTest, StartInsertsPair) {
  DistributionRepository distributions(db());
  ASSERT_TRUE(distributions.start("PS100001", "dp01", 1, DistributionState::Waiting).ok());
  auto row = distributions.get("PS100001", "dp01");
  ASSERT_TRUE(row.ok()) << row.status().toString();
  EXPECT_EQ(row->version, 1);
  EXPECT_EQ(row->state, DistributionState::Waiting);
  EXPECT_EQ(row->progress, Progress{});
  EXPECT_EQ(row->attempts, 0);
  EXPECT_EQ(row->last_error, "");
  EXPECT_EQ(row->created_at, nowMs());
  EXPECT_EQ(row->updated_at, nowMs());

  EXPECT_EQ(distributions.start("PS100001", "dp01", 2, DistributionState::Waiting).code(),
            Status::Code::NotFound);  // no version 2
  EXPECT_EQ(distributions.start("PS100001", "dp09", 1, DistributionState::Waiting).code(),
            Status::Code::NotFound);
  EXPECT_EQ(distributions.get("PS100002", "dp01").status().code(), Status::Code::NotFound);
}

// Verifies state changes stamp updated_at (even to the same state) and set or clear last_error.
TEST_F(DistributionRepositoryTest, SetStateStampsUpdatedAt) {
  DistributionRepository distributions(db());
  ASSERT_TRUE(distributions.start("PS100001", "dp01", 1, DistributionState::Checking).ok());
  const Timestamp created = nowMs();
  clock_.advance(minutes(1));
  ASSERT_TRUE(distributions
                  .setState("PS100001", "dp01", DistributionState::Failed,
                            "open smb://dp01: Permission denied")
                  .ok());
  auto row = distributions.get("PS100001", "dp01");
  EXPECT_EQ(row->state, DistributionState::Failed);
  EXPECT_EQ(row->last_error, "open smb://dp01: Permission denied");
  EXPECT_EQ(row->updated_at, nowMs());
  EXPECT_EQ(row->created_at, created);

  clock_.advance(minutes(1));
  ASSERT_TRUE(distributions.setState("PS100001", "dp01", DistributionState::Installed).ok());
  clock_.advance(minutes(1));
  ASSERT_TRUE(distributions.setState("PS100001", "dp01", DistributionState::Installed).ok());
  row = distributions.get("PS100001", "dp01");
  EXPECT_EQ(row->state, DistributionState::Installed);
  EXPECT_EQ(row->last_error, "");
  EXPECT_EQ(row->updated_at, nowMs());

  EXPECT_EQ(distributions.setState("PS100002", "dp01", DistributionState::Installed).code(),
            Status::Code::NotFound);
}

// Verifies progress and attempts, and that start() of a new version resets them.
TEST_F(DistributionRepositoryTest, ProgressAttemptsAndRestart) {
  DistributionRepository distributions(db());
  ASSERT_TRUE(distributions.start("PS100001", "dp01", 1, DistributionState::Transferring).ok());
  Progress progress{1000, 400, 10, 4};
  ASSERT_TRUE(distributions.setProgress("PS100001", "dp01", progress).ok());
  EXPECT_EQ(distributions.get("PS100001", "dp01")->progress, progress);
  EXPECT_EQ(*distributions.incrementAttempts("PS100001", "dp01"), 1);
  EXPECT_EQ(*distributions.incrementAttempts("PS100001", "dp01"), 2);
  EXPECT_EQ(distributions.get("PS100001", "dp01")->attempts, 2);
  EXPECT_EQ(distributions.incrementAttempts("PS100002", "dp01").status().code(),
            Status::Code::NotFound);
  EXPECT_EQ(distributions.setProgress("PS100002", "dp01", progress).code(), Status::Code::NotFound);

  ASSERT_TRUE(PackageRepository(db()).addVersion("PS100001", makeContent(4, 9)).ok());
  ASSERT_TRUE(distributions.start("PS100001", "dp01", 2, DistributionState::Waiting).ok());
  auto row = distributions.get("PS100001", "dp01");
  EXPECT_EQ(row->version, 2);
  EXPECT_EQ(row->state, DistributionState::Waiting);
  EXPECT_EQ(row->progress, Progress{});
  EXPECT_EQ(row->attempts, 0);
}

// Verifies the pair keeps the action of its latest request through state changes and retries
// (a retry repeats it), and that a new request records its own.
TEST_F(DistributionRepositoryTest, ActionOfTheLatestRequestIsKept) {
  DistributionRepository distributions(db());
  ASSERT_TRUE(distributions.start("PS100001", "dp01", 1, DistributionState::Waiting).ok());
  EXPECT_EQ(distributions.get("PS100001", "dp01")->action, JobAction::Add);
  ASSERT_TRUE(
      distributions
          .start("PS100001", "dp01", 1, DistributionState::Checking, JobAction::Redistribute)
          .ok());
  ASSERT_TRUE(distributions.incrementAttempts("PS100001", "dp01").ok());
  ASSERT_TRUE(
      distributions
          .scheduleRetry("PS100001", "dp01", "DP library root: No such file", nowMs() + minutes(30))
          .ok());
  ASSERT_TRUE(distributions.setState("PS100001", "dp01", DistributionState::Checking).ok());
  auto row = distributions.get("PS100001", "dp01");
  EXPECT_EQ(row->action, JobAction::Redistribute);
  EXPECT_EQ(row->attempts, 1);

  clock_.advance(minutes(1));
  ASSERT_TRUE(
      distributions
          .setStateFor("PS100001", "dp01", DistributionState::Verifying, JobAction::Validate)
          .ok());
  row = distributions.get("PS100001", "dp01");
  EXPECT_EQ(row->state, DistributionState::Verifying);
  EXPECT_EQ(row->action, JobAction::Validate);
  EXPECT_EQ(row->attempts, 1);  // kept: setStateFor is not a restart
  EXPECT_EQ(row->last_error, "");
  EXPECT_FALSE(row->next_attempt_at.has_value());
  EXPECT_EQ(row->updated_at, nowMs());
  EXPECT_EQ(
      distributions.setStateFor("PS100002", "dp01", DistributionState::Removing, JobAction::Remove)
          .code(),
      Status::Code::NotFound);
}

// Verifies retries are scheduled and found when due.
TEST_F(DistributionRepositoryTest, ScheduledRetriesComeDue) {
  DistributionRepository distributions(db());
  ASSERT_TRUE(distributions.start("PS100001", "dp01", 1, DistributionState::Transferring).ok());
  ASSERT_TRUE(distributions.start("PS100002", "dp01", 1, DistributionState::Transferring).ok());
  ASSERT_TRUE(
      distributions
          .scheduleRetry("PS100001", "dp01", "connection reset", clock_.systemNow() + minutes(30))
          .ok());
  ASSERT_TRUE(
      distributions.scheduleRetry("PS100002", "dp01", "disk full", clock_.systemNow() + minutes(10))
          .ok());
  auto row = distributions.get("PS100001", "dp01");
  EXPECT_EQ(row->state, DistributionState::Retrying);
  EXPECT_EQ(row->last_error, "connection reset");
  EXPECT_EQ(row->next_attempt_at, nowMs() + minutes(30));

  EXPECT_TRUE(distributions.listDueRetries(clock_.systemNow())->empty());
  auto due = distributions.listDueRetries(clock_.systemNow() + minutes(10));
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].package_id, "PS100002");
  due = distributions.listDueRetries(clock_.systemNow() + minutes(45));
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].package_id, "PS100002");  // earliest first

  // Leaving retrying clears the retry time.
  ASSERT_TRUE(distributions.setState("PS100002", "dp01", DistributionState::Checking).ok());
  EXPECT_FALSE(distributions.get("PS100002", "dp01")->next_attempt_at.has_value());
  EXPECT_EQ(distributions.listDueRetries(clock_.systemNow() + minutes(45))->size(), 1u);
}

// Verifies list() filters by package, DP and state, ordered by package then DP; removed pairs
// stay listed.
TEST_F(DistributionRepositoryTest, ListsWithFilters) {
  DistributionRepository distributions(db());
  for (const char* pkg : {"PS100002", "PS100001"}) {
    for (const char* dp : {"dp02", "dp01"}) {
      ASSERT_TRUE(distributions.start(pkg, dp, 1, DistributionState::Installed).ok());
    }
  }
  ASSERT_TRUE(distributions.setState("PS100002", "dp02", DistributionState::Removed).ok());

  auto all = distributions.list();
  ASSERT_TRUE(all.ok()) << all.status().toString();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].package_id, "PS100001");
  EXPECT_EQ((*all)[0].dp, "dp01");
  EXPECT_EQ((*all)[3].package_id, "PS100002");
  EXPECT_EQ((*all)[3].dp, "dp02");
  EXPECT_EQ((*all)[3].state, DistributionState::Removed);

  DistributionFilter by_package;
  by_package.package_id = "PS100001";
  EXPECT_EQ(distributions.list(by_package)->size(), 2u);
  DistributionFilter by_dp;
  by_dp.dp = "dp02";
  EXPECT_EQ(distributions.list(by_dp)->size(), 2u);
  DistributionFilter both;
  both.package_id = "PS100002";
  both.dp = "dp02";
  auto one = distributions.list(both);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].state, DistributionState::Removed);
  DistributionFilter removed;
  removed.state = DistributionState::Removed;
  EXPECT_EQ(distributions.list(removed)->size(), 1u);
  DistributionFilter nothing;
  nothing.dp = "dp09";
  EXPECT_TRUE(distributions.list(nothing)->empty());
}

// Verifies the CHECK constraints refuse values no code path should write, whoever writes them.
TEST_F(DistributionRepositoryTest, ConstraintsRejectInvalidValues) {
  DistributionRepository distributions(db());
  ASSERT_TRUE(distributions.start("PS100001", "dp01", 1, DistributionState::Waiting).ok());
  Status bad_state = conn().exec("UPDATE distributions SET state = 'bogus'");
  EXPECT_EQ(bad_state.code(), Status::Code::InvalidArgument) << bad_state.toString();
  EXPECT_NE(bad_state.message().find("CHECK constraint failed"), std::string::npos);
  EXPECT_EQ(conn().exec("UPDATE distributions SET bytes_done = -1").code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(conn().exec("UPDATE distributions SET version = 7").code(),
            Status::Code::InvalidArgument);  // foreign key: no such version
  EXPECT_EQ(conn().exec("UPDATE requests SET state = 'lost'").code(), Status::Code::Ok);  // none
  EXPECT_EQ(conn()
                .exec("INSERT INTO transfer_jobs (package_id, version, dp, action, priority, "
                      "state, created_at, updated_at) VALUES ('PS100001', 1, 'dp01', 'add', "
                      "'high', 'sleeping', 'x', 'x')")
                .code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(conn()
                .exec("INSERT INTO transfer_jobs (package_id, version, dp, action, priority, "
                      "state, created_at, updated_at) VALUES ('PS100001', 1, 'dp01', 'add', "
                      "'urgent', 'queued', 'x', 'x')")
                .code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(conn()
                .exec("INSERT INTO transfer_jobs (package_id, version, dp, action, priority, "
                      "state, created_at, updated_at) VALUES ('PS100001', 1, 'dp01', 'add', "
                      "'high', 'done', 'x', 'x')")
                .code(),
            Status::Code::InvalidArgument);  // done without finished_at
  EXPECT_EQ(conn().exec("UPDATE packages SET priority = 'urgent'").code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(conn().exec("UPDATE distribution_points SET sources = 'not json'").code(),
            Status::Code::InvalidArgument);
  // STRICT tables refuse wrong types.
  EXPECT_EQ(conn().exec("UPDATE distributions SET attempts = 'many'").code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(distributions.get("PS100001", "dp01")->state, DistributionState::Waiting);
}

}  // namespace
}  // namespace pkgxfer::store
