#include "pkgxfer/distmgr/retry_policy.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace pkgxfer::distmgr {
namespace {

TEST(RetryPolicyTest, RetriesUntilCountThenGivesUp) {
  testing::FakeClock clock;
  config::DistributionConfig cfg;
  cfg.retry_count = 3;
  cfg.retry_delay = std::chrono::minutes(30);
  const auto now = clock.systemNow();
  for (int failures = 1; failures <= 3; ++failures) {
    RetryDecision d = decideRetry(failures, Status::Unavailable("dp down"), cfg, now);
    EXPECT_TRUE(d.retry) << failures;
    EXPECT_EQ(d.next_attempt, now + std::chrono::minutes(30));
  }
  EXPECT_FALSE(decideRetry(4, Status::Unavailable("dp down"), cfg, now).retry);
}

TEST(RetryPolicyTest, ZeroRetriesFailsAtOnce) {
  config::DistributionConfig cfg;
  cfg.retry_count = 0;
  EXPECT_FALSE(decideRetry(1, Status::IoError("disk"), cfg, {}).retry);
}

TEST(RetryPolicyTest, PermanentErrorsAreNotRetried) {
  config::DistributionConfig cfg;
  EXPECT_FALSE(decideRetry(1, Status::InvalidArgument("bad"), cfg, {}).retry);
  EXPECT_FALSE(decideRetry(1, Status::Internal("bug"), cfg, {}).retry);
  EXPECT_TRUE(decideRetry(1, Status::PermissionDenied("EACCES"), cfg, {}).retry);
  EXPECT_TRUE(decideRetry(1, Status::Corruption("hash mismatch on the DP"), cfg, {}).retry);
}

TEST(RetryPolicyTest, DefaultsMirrorConfigMgr) {
  config::DistributionConfig cfg;  // 100 retries, 30 minutes apart
  testing::FakeClock clock;
  auto now = clock.systemNow();
  RetryDecision d = decideRetry(100, Status::Unavailable("x"), cfg, now);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.next_attempt - now, std::chrono::minutes(30));
  EXPECT_FALSE(decideRetry(101, Status::Unavailable("x"), cfg, now).retry);
}

}  // namespace
}  // namespace pkgxfer::distmgr
