#pragma once

// The retry policy of standard DP distributions (SPEC §8: 100 retries, 30 minutes apart, both
// configurable): what happens to a (package, DP) pair after a failed attempt. Used by the
// distribution manager (failed preliminary checks) and the transfer manager (failed jobs).

#include <string>
#include <string_view>

#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/store/distribution_repository.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::distmgr {

struct RetryDecision {
  bool retry = false;               // false: the pair fails for good
  store::Timestamp next_attempt{};  // when retry
};

// Pure. `failures` counts failed attempts including this one (1 after the first failure). A
// permanent error (InvalidArgument, Internal: retrying cannot help) or more failures than
// `retry_count` means no retry; otherwise the next attempt is `retry_delay` after `now`.
RetryDecision decideRetry(int failures, const Status& error, const config::DistributionConfig& cfg,
                          store::Timestamp now);

// Counts a failed attempt of the pair and moves it to retrying (with the cause and the next
// attempt time) or failed, logging either as ConfigMgr does ("Failure count = N, Restart time =
// ..."). `what` names the pair for the log. Returns the decision, or the store's error. Not
// thread-safe: called where `repo`'s Database is used.
Result<RetryDecision> recordFailure(store::DistributionRepository& repo,
                                    std::string_view package_id, std::string_view dp,
                                    const Status& error, const config::DistributionConfig& cfg,
                                    store::Timestamp now, const Logger& log, std::string_view what);

}  // namespace pkgxfer::distmgr
