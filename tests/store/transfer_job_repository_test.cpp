#include "pkgxfer/store/transfer_job_repository.h"

#include <gtest/gtest.h>

#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

using std::chrono::seconds;

class TransferJobRepositoryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    addDps({"dp01", "dp02"});
    addPackage("PS100001", Priority::High);
    addPackage("PS100002", Priority::Medium);
    addPackage("PS100003", Priority::Low);
  }

  std::int64_t create(const std::string& package_id, Priority priority,
                      const std::string& dp = "dp01", JobAction action = JobAction::Add) {
    auto id = TransferJobRepository(db()).create({package_id, 1, dp, action, priority});
    EXPECT_TRUE(id.ok()) << id.status().toString();
    return id.ok() ? *id : -1;
  }

  static std::vector<std::int64_t> ids(const std::vector<TransferJob>& jobs) {
    std::vector<std::int64_t> out;
    for (const auto& job : jobs) out.push_back(job.id);
    return out;
  }
};

// Verifies a new job is queued with the package version, DP, action and priority given.
TEST_F(TransferJobRepositoryTest, CreatesQueuedJob) {
  TransferJobRepository jobs(db());
  auto id = jobs.create({"PS100002", 1, "dp02", JobAction::Redistribute, Priority::Medium});
  ASSERT_TRUE(id.ok()) << id.status().toString();
  auto job = jobs.get(*id);
  ASSERT_TRUE(job.ok()) << job.status().toString();
  EXPECT_EQ(job->package_id, "PS100002");
  EXPECT_EQ(job->version, 1);
  EXPECT_EQ(job->dp, "dp02");
  EXPECT_EQ(job->action, JobAction::Redistribute);
  EXPECT_EQ(job->priority, Priority::Medium);
  EXPECT_EQ(job->state, JobState::Queued);
  EXPECT_EQ(job->created_at, nowMs());
  EXPECT_FALSE(job->started_at.has_value());
  EXPECT_FALSE(job->finished_at.has_value());

  EXPECT_EQ(jobs.create({"PS100002", 5, "dp02", JobAction::Add, Priority::Low}).status().code(),
            Status::Code::NotFound);
  EXPECT_EQ(jobs.create({"PS100002", 1, "dp09", JobAction::Add, Priority::Low}).status().code(),
            Status::Code::NotFound);
  EXPECT_EQ(jobs.get(*id + 1).status().code(), Status::Code::NotFound);
}

// Verifies the runnable order: priority first (high, medium, low), then age, then id.
TEST_F(TransferJobRepositoryTest, RunnableByPriorityThenAge) {
  TransferJobRepository jobs(db());
  const auto low_old = create("PS100003", Priority::Low);
  clock_.advance(seconds(1));
  const auto medium_old = create("PS100002", Priority::Medium);
  clock_.advance(seconds(1));
  const auto high_old = create("PS100001", Priority::High);
  clock_.advance(seconds(1));
  const auto medium_new = create("PS100002", Priority::Medium, "dp02");
  const auto medium_same_time = create("PS100002", Priority::Medium, "dp02", JobAction::Validate);
  clock_.advance(seconds(1));
  const auto high_new = create("PS100001", Priority::High, "dp02");
  const auto done = create("PS100001", Priority::High, "dp02", JobAction::Validate);
  const auto running = create("PS100001", Priority::High, "dp02", JobAction::Redistribute);
  ASSERT_TRUE(jobs.setState(done, JobState::Running).ok());
  ASSERT_TRUE(jobs.setState(done, JobState::Done).ok());
  ASSERT_TRUE(jobs.setState(running, JobState::Running).ok());
  ASSERT_TRUE(jobs.setState(medium_old, JobState::Running).ok());
  ASSERT_TRUE(jobs.setState(medium_old, JobState::Paused).ok());  // paused is runnable

  auto runnable = jobs.listRunnable(100);
  ASSERT_TRUE(runnable.ok()) << runnable.status().toString();
  EXPECT_EQ(ids(*runnable), (std::vector<std::int64_t>{high_old, high_new, medium_old, medium_new,
                                                       medium_same_time, low_old}));
  EXPECT_EQ(ids(*jobs.listRunnable(2)), (std::vector<std::int64_t>{high_old, high_new}));
  EXPECT_EQ(jobs.listRunnable(0).status().code(), Status::Code::InvalidArgument);
  // Pages: the jobs after a given one, in the same order, whatever became of that one.
  EXPECT_EQ(ids(*jobs.listRunnable(2, high_new)),
            (std::vector<std::int64_t>{medium_old, medium_new}));
  EXPECT_EQ(ids(*jobs.listRunnable(100, medium_new)),
            (std::vector<std::int64_t>{medium_same_time, low_old}));
  ASSERT_TRUE(jobs.setState(medium_new, JobState::Running).ok());
  EXPECT_EQ(ids(*jobs.listRunnable(100, medium_new)),
            (std::vector<std::int64_t>{medium_same_time, low_old}));
  EXPECT_TRUE(jobs.listRunnable(100, low_old)->empty());
}

// Verifies state changes stamp started_at once and finished_at at the end, and terminal states
// are final.
TEST_F(TransferJobRepositoryTest, StateLifecycle) {
  TransferJobRepository jobs(db());
  const auto id = create("PS100001", Priority::High);
  clock_.advance(seconds(5));
  ASSERT_TRUE(jobs.setState(id, JobState::Running).ok());
  const Timestamp started = nowMs();
  clock_.advance(seconds(5));
  ASSERT_TRUE(jobs.setState(id, JobState::Paused).ok());
  clock_.advance(seconds(5));
  ASSERT_TRUE(jobs.setState(id, JobState::Running).ok());
  auto job = jobs.get(id);
  EXPECT_EQ(job->started_at, started);
  EXPECT_FALSE(job->finished_at.has_value());

  ASSERT_TRUE(jobs.setProgress(id, {5000, 2500, 4, 2}).ok());
  EXPECT_EQ(jobs.get(id)->progress, (Progress{5000, 2500, 4, 2}));
  clock_.advance(seconds(5));
  ASSERT_TRUE(jobs.setState(id, JobState::Failed, "write smb://dp01: No space left").ok());
  job = jobs.get(id);
  EXPECT_EQ(job->state, JobState::Failed);
  EXPECT_EQ(job->error, "write smb://dp01: No space left");
  EXPECT_EQ(job->finished_at, nowMs());

  Status again = jobs.setState(id, JobState::Running);
  EXPECT_EQ(again.code(), Status::Code::InvalidArgument);
  EXPECT_NE(again.message().find("transfer job " + std::to_string(id) + " is already failed"),
            std::string::npos)
      << again.message();
  EXPECT_EQ(jobs.setState(id + 100, JobState::Running).code(), Status::Code::NotFound);
  EXPECT_EQ(jobs.setProgress(id + 100, {}).code(), Status::Code::NotFound);
}

// Verifies a new version supersedes unfinished jobs of older versions of the same pair only.
TEST_F(TransferJobRepositoryTest, SupersedesOlderVersions) {
  TransferJobRepository jobs(db());
  const auto queued = create("PS100001", Priority::High);
  const auto running = create("PS100001", Priority::High, "dp01", JobAction::Redistribute);
  const auto finished = create("PS100001", Priority::High, "dp01", JobAction::Validate);
  const auto other_dp = create("PS100001", Priority::High, "dp02");
  ASSERT_TRUE(jobs.setState(running, JobState::Running).ok());
  ASSERT_TRUE(jobs.setState(finished, JobState::Done).ok());
  ASSERT_TRUE(PackageRepository(db()).addVersion("PS100001", makeContent(2, 5)).ok());
  auto v2 = jobs.create({"PS100001", 2, "dp01", JobAction::Add, Priority::High});
  ASSERT_TRUE(v2.ok());

  auto superseded = jobs.supersedeOlder("PS100001", "dp01", 2);
  ASSERT_TRUE(superseded.ok()) << superseded.status().toString();
  EXPECT_EQ(*superseded, (std::vector<std::int64_t>{queued, running}));
  EXPECT_EQ(jobs.get(queued)->state, JobState::Superseded);
  EXPECT_TRUE(jobs.get(running)->finished_at.has_value());
  EXPECT_EQ(jobs.get(finished)->state, JobState::Done);
  EXPECT_EQ(jobs.get(other_dp)->state, JobState::Queued);
  EXPECT_EQ(jobs.get(*v2)->state, JobState::Queued);

  TransferJobFilter filter;
  filter.dp = "dp01";
  filter.states = {JobState::Superseded, JobState::Done};
  EXPECT_EQ(ids(*jobs.list(filter)), (std::vector<std::int64_t>{queued, running, finished}));
  filter = {};
  filter.package_id = "PS100001";
  EXPECT_EQ(jobs.list(filter)->size(), 5u);
}

// Verifies jobs left running by a crash are queued again at start.
TEST_F(TransferJobRepositoryTest, RequeuesInterruptedJobs) {
  TransferJobRepository jobs(db());
  const auto a = create("PS100001", Priority::High);
  const auto b = create("PS100002", Priority::Medium);
  ASSERT_TRUE(jobs.setState(a, JobState::Running).ok());
  ASSERT_TRUE(jobs.setState(b, JobState::Running).ok());
  ASSERT_TRUE(jobs.setState(b, JobState::Done).ok());
  EXPECT_EQ(*jobs.requeueInterrupted(), 1);
  EXPECT_EQ(jobs.get(a)->state, JobState::Queued);
  EXPECT_TRUE(jobs.get(a)->started_at.has_value());
  EXPECT_EQ(jobs.get(b)->state, JobState::Done);
}

// Verifies partial bodies are recorded, moved forward, found, moved to a new job and forgotten.
TEST_F(TransferJobRepositoryTest, PartialBodies) {
  TransferJobRepository jobs(db());
  const auto job = create("PS100001", Priority::High);
  const std::string sha = fakeSha(1);
  ASSERT_TRUE(jobs.savePartial({job, sha, 10'000'000, 65536, "tmp-1"}).ok());
  clock_.advance(seconds(1));
  ASSERT_TRUE(jobs.savePartial({job, sha, 10'000'000, 131072, "tmp-1"}).ok());
  ASSERT_TRUE(jobs.savePartial({job, fakeSha(2), 500, 0, "tmp-2"}).ok());

  auto found = jobs.findPartial(job, sha);
  ASSERT_TRUE(found.ok()) << found.status().toString();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->offset, 131072u);
  EXPECT_EQ((*found)->size, 10'000'000u);
  EXPECT_EQ((*found)->temp_name, "tmp-1");
  EXPECT_EQ((*found)->updated_at, nowMs());
  EXPECT_FALSE(jobs.findPartial(job, fakeSha(3))->has_value());
  EXPECT_EQ(jobs.listPartials(job)->size(), 2u);

  EXPECT_EQ(jobs.savePartial({job, sha, 100, 101, "tmp"}).code(), Status::Code::InvalidArgument);
  EXPECT_EQ(jobs.savePartial({job, "XYZ", 100, 1, "tmp"}).code(), Status::Code::InvalidArgument);
  EXPECT_EQ(jobs.savePartial({job, sha, 100, 1, ""}).code(), Status::Code::InvalidArgument);
  EXPECT_EQ(jobs.savePartial({job + 100, sha, 100, 1, "tmp"}).code(), Status::Code::NotFound);

  // A retry created as a new job takes over the partial bodies.
  ASSERT_TRUE(jobs.setState(job, JobState::Failed, "connection reset").ok());
  const auto retry = create("PS100001", Priority::High);
  ASSERT_TRUE(jobs.movePartials(job, retry).ok());
  EXPECT_TRUE(jobs.listPartials(job)->empty());
  EXPECT_EQ((*jobs.findPartial(retry, sha))->offset, 131072u);
  const auto elsewhere = create("PS100001", Priority::High, "dp02");
  EXPECT_EQ(jobs.movePartials(retry, elsewhere).code(), Status::Code::InvalidArgument);

  // Or in the transaction that creates the retry: it is never seen without its resume points.
  ASSERT_TRUE(jobs.setState(retry, JobState::Failed, "connection reset again").ok());
  auto again = jobs.create({"PS100001", 1, "dp01", JobAction::Add, Priority::High, retry});
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_TRUE(jobs.listPartials(retry)->empty());
  EXPECT_EQ(jobs.listPartials(*again)->size(), 2u);
  EXPECT_EQ((*jobs.findPartial(*again, sha))->offset, 131072u);
  // A job to take over from that is gone: nothing to hand over, the job is still created.
  auto orphan = jobs.create({"PS100001", 1, "dp01", JobAction::Add, Priority::High, 999999});
  ASSERT_TRUE(orphan.ok()) << orphan.status().toString();
  EXPECT_TRUE(jobs.listPartials(*orphan)->empty());
  EXPECT_EQ(
      jobs.create({"PS100001", 1, "dp02", JobAction::Add, Priority::High, *again}).status().code(),
      Status::Code::InvalidArgument);  // another DP's resume points: never
  const auto retry_id = *again;

  ASSERT_TRUE(jobs.deletePartial(retry_id, sha).ok());
  ASSERT_TRUE(jobs.deletePartial(retry_id, sha).ok());  // idempotent
  EXPECT_EQ(jobs.listPartials(retry_id)->size(), 1u);
  ASSERT_TRUE(jobs.clearPartials(retry_id).ok());
  EXPECT_TRUE(jobs.listPartials(retry_id)->empty());
}

}  // namespace
}  // namespace pkgxfer::store
