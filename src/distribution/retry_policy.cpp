#include "pkgxfer/distribution/retry_policy.h"

#include <spdlog/details/os.h>

#include <ctime>

namespace pkgxfer::distribution {
std::string restartTimeText(store::Timestamp t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  const std::tm tm = spdlog::details::os::localtime(secs);  // localtime_r or localtime_s
  char buf[32];
  std::strftime(buf, sizeof buf, "%m/%d/%Y %H:%M:%S", &tm);
  return buf;
}

bool isRetried(const Status& error) {
  switch (error.code()) {
    case Status::Code::InvalidArgument:
    case Status::Code::Internal:
    case Status::Code::Ok:  // not a failure
      return false;
    default:
      return true;
  }
}

RetryDecision decideRetry(int failures, const Status& error, const config::DistributionConfig& cfg,
                          store::Timestamp now) {
  RetryDecision d;
  if (!isRetried(error)) return d;
  if (failures > cfg.retry_count) return d;
  d.retry = true;
  d.next_attempt = now + cfg.retry_delay;
  return d;
}

Result<RetryDecision> recordFailure(store::DistributionRepository& repo,
                                    std::string_view package_id, std::string_view dp,
                                    const Status& error, const config::DistributionConfig& cfg,
                                    store::Timestamp now, const Logger& log,
                                    std::string_view what) {
  PKGXFER_ASSIGN_OR_RETURN(int failures, repo.incrementAttempts(package_id, dp));
  RetryDecision d = decideRetry(failures, error, cfg, now);
  const std::string cause = error.toString();
  // The log line before the state: whoever sees the pair retrying or failed finds why, written.
  if (d.retry) {
    PX_LOG_ERROR(log, "{} failed: {}. Failure count = {}/{}, Restart time = {}", what, cause,
                 failures, cfg.retry_count, restartTimeText(d.next_attempt));
    PKGXFER_RETURN_IF_ERROR(repo.scheduleRetry(package_id, dp, cause, d.next_attempt));
  } else {
    PX_LOG_ERROR(log, "{} failed: {}. Failure count = {}/{}; {}", what, cause, failures,
                 cfg.retry_count,
                 failures > cfg.retry_count ? "retries exhausted, giving up"
                                            : "permanent error, not retrying");
    PKGXFER_RETURN_IF_ERROR(repo.setState(package_id, dp, store::DistributionState::Failed, cause));
  }
  return d;
}

}  // namespace pkgxfer::distribution
