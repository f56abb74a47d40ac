#include "pkgxfer/pkgxfermgr/job_selection.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace pkgxfer::pkgxfermgr {
namespace {

using store::Priority;

class JobSelectionTest : public ::testing::Test {
 protected:
  store::TransferJob job(std::string pkg, std::string dp, Priority prio = Priority::Medium) {
    store::TransferJob j;
    j.id = ++next_id_;
    j.package_id = std::move(pkg);
    j.dp = std::move(dp);
    j.priority = prio;
    clock_.advance(std::chrono::seconds(1));
    j.created_at = clock_.systemNow();
    return j;
  }
  testing::FakeClock clock_;
  std::int64_t next_id_ = 0;
};

TEST_F(JobSelectionTest, BoundsPackagesAndDpsPerPackage) {
  std::vector<store::TransferJob> runnable;
  for (const char* pkg : {"PS100001", "PS100002", "PS100003"}) {
    for (int dp = 1; dp <= 5; ++dp) runnable.push_back(job(pkg, "dp" + std::to_string(dp)));
  }
  auto ids = selectJobsToStart(runnable, {}, {2, 3});
  // PS100001 dp1..3, PS100002 dp1..3.
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 2, 3, 6, 7, 8}));
}

TEST_F(JobSelectionTest, RunningJobsCountAgainstTheBounds) {
  std::vector<store::TransferJob> runnable = {job("PS100001", "dp2"), job("PS100001", "dp3"),
                                              job("PS100002", "dp1"), job("PS100003", "dp1")};
  std::vector<RunningJob> running = {{100, "PS100001", "dp1"}, {101, "PS100009", "dp1"}};
  // PS100001 has 1 of 2 DP slots; two packages run, so no new package may start.
  auto ids = selectJobsToStart(runnable, running, {2, 2});
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1}));
}

// Verifies JobSelector: offered one at a time it picks what selectJobsToStart picks, and says when
// no further job can start (so the manager stops reading).
TEST_F(JobSelectionTest, SelectorSaysWhenEverySlotIsTaken) {
  JobSelector selector({{100, "PS100001", "dp1"}}, {2, 2});
  EXPECT_FALSE(selector.full());
  EXPECT_FALSE(selector.offer(job("PS100001", "dp1")));  // that pair runs already
  EXPECT_TRUE(selector.offer(job("PS100001", "dp2")));
  EXPECT_FALSE(selector.full()) << "a second package may still start";
  EXPECT_FALSE(selector.offer(job("PS100001", "dp3"))) << "PS100001 has its two DPs";
  EXPECT_TRUE(selector.offer(job("PS100002", "dp1")));
  EXPECT_FALSE(selector.full());
  EXPECT_FALSE(selector.offer(job("PS100003", "dp1"))) << "two packages run";
  EXPECT_TRUE(selector.offer(job("PS100002", "dp2")));
  EXPECT_TRUE(selector.full());
}

TEST_F(JobSelectionTest, HigherPriorityFirstThenOldest) {
  std::vector<store::TransferJob> runnable = {
      job("PS100001", "dp1", Priority::Low), job("PS100002", "dp1", Priority::Medium),
      job("PS100003", "dp1", Priority::High), job("PS100004", "dp1", Priority::High)};
  auto ids = selectJobsToStart(runnable, {}, {2, 5});
  EXPECT_EQ(ids, (std::vector<std::int64_t>{3, 4}));
  ids = selectJobsToStart(runnable, {}, {3, 5});
  EXPECT_EQ(ids, (std::vector<std::int64_t>{3, 4, 2}));
}

TEST_F(JobSelectionTest, OrderIsTheSameWhateverTheInputOrder) {
  std::vector<store::TransferJob> runnable = {job("PS100001", "dp1"), job("PS100002", "dp1"),
                                              job("PS100003", "dp1", Priority::High)};
  std::vector<store::TransferJob> reversed(runnable.rbegin(), runnable.rend());
  EXPECT_EQ(selectJobsToStart(runnable, {}, {2, 1}), selectJobsToStart(reversed, {}, {2, 1}));
  EXPECT_EQ(selectJobsToStart(runnable, {}, {2, 1}), (std::vector<std::int64_t>{3, 1}));
}

TEST_F(JobSelectionTest, OneJobPerPackageAndDpAtATime) {
  std::vector<store::TransferJob> runnable = {job("PS100001", "dp1"), job("PS100001", "dp1")};
  EXPECT_EQ(selectJobsToStart(runnable, {}, {3, 5}), (std::vector<std::int64_t>{1}));
  EXPECT_TRUE(selectJobsToStart(runnable, {{50, "PS100001", "dp1"}}, {3, 5}).empty());
}

TEST_F(JobSelectionTest, FullPoolStartsNothing) {
  std::vector<store::TransferJob> runnable = {job("PS100001", "dp4")};
  std::vector<RunningJob> running = {
      {10, "PS100001", "dp1"}, {11, "PS100001", "dp2"}, {12, "PS100001", "dp3"}};
  EXPECT_TRUE(selectJobsToStart(runnable, running, {1, 3}).empty());
  EXPECT_EQ(selectJobsToStart(runnable, running, {1, 4}), (std::vector<std::int64_t>{1}));
}

}  // namespace
}  // namespace pkgxfer::pkgxfermgr
