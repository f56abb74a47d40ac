#include "pkgxfer/distribution/retry_policy.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace pkgxfer::distribution {
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

// What an administrator expects from ConfigMgr: a failure of the DP or of the content on the way
// is tried again, whatever it is — a DP down, a wrong password or ACL (fixed by an administrator
// meanwhile), a full disk, a hash mismatch, a different manifest on the DP, something missing.
// Only a wrong request or configuration and a bug fail at once: trying again cannot change them.
TEST(RetryPolicyTest, WhichErrorsAreRetried) {
  using Code = Status::Code;
  for (Code code : {Code::NotFound, Code::AlreadyExists, Code::IoError, Code::Unavailable,
                    Code::PermissionDenied, Code::Cancelled, Code::Corruption}) {
    EXPECT_TRUE(isRetried(Status(code, "x"))) << codeName(code);
  }
  for (Code code : {Code::InvalidArgument, Code::Internal}) {
    EXPECT_FALSE(isRetried(Status(code, "x"))) << codeName(code);
  }
  EXPECT_FALSE(isRetried(Status::Ok())) << "not a failure";
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
}  // namespace pkgxfer::distribution
