#include "pkgxfer/store/pull_transfer_repository.h"

#include <gtest/gtest.h>

#include "pkgxfer/store/transfer_job_repository.h"
#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

class PullTransferRepositoryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    addDps({"pdp01"}, config::DpType::Pull);
    addDps({"dp01"}, config::DpType::Standard);
    addPackage("PS100001");
  }
  std::int64_t job(const std::string& dp) {
    auto id =
        TransferJobRepository(db()).create({"PS100001", 1, dp, JobAction::Add, Priority::Medium});
    EXPECT_TRUE(id.ok()) << id.status().toString();
    return id.ok() ? *id : 0;
  }
};

// Verifies a job's cycle is saved whole, replaced by the next save, and read back as written.
TEST_F(PullTransferRepositoryTest, SavesAndReplacesTheCycle) {
  PullTransferRepository repo(db());
  const std::int64_t id = job("pdp01");
  EXPECT_FALSE(repo.get(id)->has_value());
  PullTransfer t;
  t.job_id = id;
  t.phase = PullPhase::SourceCheck;
  t.source_checks = 4;
  t.next_at = nowMs() + std::chrono::minutes(20);
  ASSERT_TRUE(repo.save(t).ok());
  auto got = repo.get(id);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().toString();
  EXPECT_EQ((*got)->phase, PullPhase::SourceCheck);
  EXPECT_EQ((*got)->source_checks, 4);
  EXPECT_EQ((*got)->next_at, t.next_at);
  EXPECT_FALSE((*got)->waiting_since.has_value());

  t.phase = PullPhase::StatusWait;
  t.status_checks = 71;
  t.waiting_since = nowMs();
  ASSERT_TRUE(repo.save(t).ok());
  got = repo.get(id);
  EXPECT_EQ((*got)->phase, PullPhase::StatusWait);
  EXPECT_EQ((*got)->status_checks, 71);
  EXPECT_EQ((*got)->waiting_since, nowMs());

  t.job_id = id + 99;
  EXPECT_EQ(repo.save(t).code(), Status::Code::NotFound);
}

// Verifies only queued jobs of pull DPs are listed: never a standard DP's, never a running one.
TEST_F(PullTransferRepositoryTest, ListsQueuedJobsOfPullDpsOnly) {
  PullTransferRepository repo(db());
  const std::int64_t pull = job("pdp01");
  job("dp01");
  auto queued = repo.listQueued();
  ASSERT_TRUE(queued.ok()) << queued.status().toString();
  ASSERT_EQ(queued->size(), 1u);
  EXPECT_EQ((*queued)[0].id, pull);
  EXPECT_EQ((*queued)[0].dp, "pdp01");
  ASSERT_TRUE(TransferJobRepository(db()).setState(pull, JobState::Running).ok());
  EXPECT_TRUE(repo.listQueued()->empty());
}

}  // namespace
}  // namespace pkgxfer::store
