// The pull DP's own database (store/pull_job_repository.h) on a real SQLite file: idempotent
// notifications, FIFO order, sequences, acknowledgements and resume points surviving a reopen.

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/test_util.h"
#include "pkgxfer/pulldp/pull_dp.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/pull_job_repository.h"

namespace pkgxfer::store {
namespace {

class PullJobRepositoryTest : public ::testing::Test {
 protected:
  std::unique_ptr<Database> open() {
    DatabaseOptions o;
    o.schema = Schema::PullDp;
    auto db = Database::open(pullDpDatabasePath(dir_.path()), clock_, o);
    EXPECT_TRUE(db.ok()) << db.status().toString();
    return std::move(*db);
  }
  NewPullJob job(std::int64_t id) {
    return {id, "pdp01", "PS100001", static_cast<std::uint64_t>(id), false, "{\"job\":1}"};
  }

  pkgxfer::testing::TempDir dir_;
  pkgxfer::testing::FakeClock clock_;
};

TEST_F(PullJobRepositoryTest, NotificationsAreIdempotentAndQueuedInArrivalOrder) {
  auto db = open();
  PullJobRepository repo(*db);
  EXPECT_TRUE(*repo.insert(job(30)));
  EXPECT_TRUE(*repo.insert(job(10)));
  EXPECT_FALSE(*repo.insert(job(30)));  // the same job again: nothing changes
  EXPECT_FALSE(repo.insert(job(0)).ok());
  auto rows = repo.listRunnable(10);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].job_id, 30);  // arrival order, not the site's id order
  EXPECT_EQ((*rows)[1].job_id, 10);
  EXPECT_EQ((*rows)[0].progress.state, "queued");
  EXPECT_EQ((*rows)[0].sequence, 1u);
  EXPECT_EQ(repo.find(99).status().code(), Status::Code::NotFound);
}

TEST_F(PullJobRepositoryTest, SequencesAcknowledgementsAndResumePointsSurviveAReopen) {
  {
    auto db = open();
    PullJobRepository repo(*db);
    ASSERT_TRUE(repo.insert(job(7)).ok());
    PullJobProgress p{"downloading", 100, 40, 2, 1, "", "http://src"};
    EXPECT_EQ(*repo.update(7, p, true), 2u);
    EXPECT_EQ(*repo.update(7, p, false), 2u);
    EXPECT_EQ(*repo.addAttempt(7), 1);
    ASSERT_TRUE(repo.acknowledge(7, 1).ok());
    ASSERT_TRUE(repo.savePartial(7, {std::string(64, 'a'), ".x.partial", 4096}).ok());
    ASSERT_TRUE(repo.savePartial(7, {std::string(64, 'a'), ".x.partial", 8192}).ok());
    EXPECT_EQ(repo.update(8, p, true).status().code(), Status::Code::NotFound);
  }
  auto db = open();  // as after a restart
  PullJobRepository repo(*db);
  auto row = repo.find(7);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->progress.state, "downloading");
  EXPECT_EQ(row->progress.bytes_done, 40u);
  EXPECT_EQ(row->attempts, 1);
  EXPECT_EQ(row->sequence, 2u);
  EXPECT_EQ(row->acked_sequence, 1u);
  EXPECT_EQ(repo.listUnreported()->size(), 1u);
  ASSERT_TRUE(repo.acknowledge(7, 2).ok());
  ASSERT_TRUE(repo.acknowledge(7, 1).ok());  // a late acknowledgement does not go back
  EXPECT_EQ(repo.find(7)->acked_sequence, 2u);
  EXPECT_TRUE(repo.listUnreported()->empty());
  auto partials = repo.partials(7);
  ASSERT_EQ(partials->size(), 1u);
  EXPECT_EQ((*partials)[0].offset, 8192u);
  ASSERT_TRUE(repo.forgetPartials(7).ok());
  EXPECT_TRUE(repo.partials(7)->empty());
}

TEST_F(PullJobRepositoryTest, PrunesOnlyFinishedAcknowledgedJobsOlderThanTheCutOff) {
  auto db = open();
  PullJobRepository repo(*db);
  for (std::int64_t id : {1, 2, 3, 4}) ASSERT_TRUE(repo.insert(job(id)).ok());
  PullJobProgress installed{"installed", 1, 1, 1, 1, "", ""};
  PullJobProgress failed{"failed", 1, 0, 1, 0, "no source", ""};
  ASSERT_EQ(*repo.update(1, installed, true), 2u);
  ASSERT_TRUE(repo.acknowledge(1, 2).ok());
  ASSERT_EQ(*repo.update(2, failed, true), 2u);  // not acknowledged yet: kept
  ASSERT_EQ(*repo.update(3, installed, true), 2u);
  ASSERT_TRUE(repo.acknowledge(3, 2).ok());
  // 4 stays queued.
  clock_.advance(std::chrono::hours(24 * 31));
  ASSERT_EQ(*repo.update(3, installed, false), 2u);  // 3 changed recently: kept
  auto pruned = repo.pruneFinished(clock_.systemNow() - std::chrono::hours(24 * 30));
  ASSERT_TRUE(pruned.ok()) << pruned.status().toString();
  EXPECT_EQ(*pruned, 1u);
  EXPECT_EQ(repo.find(1).status().code(), Status::Code::NotFound);
  EXPECT_TRUE(repo.find(2).ok());
  EXPECT_TRUE(repo.find(3).ok());
  EXPECT_TRUE(repo.find(4).ok());
}

TEST(PullDpBackoffTest, DoublesFromInitialUpToTheCap) {
  using pulldp::backoffDelay;
  using std::chrono::milliseconds;
  EXPECT_EQ(backoffDelay(1, milliseconds(2000), milliseconds(300000)), milliseconds(2000));
  EXPECT_EQ(backoffDelay(2, milliseconds(2000), milliseconds(300000)), milliseconds(4000));
  EXPECT_EQ(backoffDelay(4, milliseconds(2000), milliseconds(300000)), milliseconds(16000));
  EXPECT_EQ(backoffDelay(8, milliseconds(2000), milliseconds(300000)), milliseconds(256000));
  EXPECT_EQ(backoffDelay(9, milliseconds(2000), milliseconds(300000)), milliseconds(300000));
  EXPECT_EQ(backoffDelay(1000000, milliseconds(2000), milliseconds(300000)), milliseconds(300000));
  EXPECT_EQ(backoffDelay(0, milliseconds(2000), milliseconds(300000)), milliseconds(2000));
}

}  // namespace
}  // namespace pkgxfer::store
