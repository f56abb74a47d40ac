#pragma once

// The retry policy of standard DP distributions (SPEC §8: 100 retries, 30 minutes apart, both
// configurable): what happens to a (package, DP) pair after a failed attempt. The one definition
// both site components use: the distribution manager for failed preliminary checks, the transfer
// manager for failed jobs.
//
// What is retried, as in ConfigMgr: every failure of a DP or of the content on the way — an
// unreachable DP or share, a wrong password or an ACL that refuses us (PermissionDenied: an
// administrator fixes it and the next attempt works), a full disk, a hash that did not match, a
// different manifest already on the DP — each attempt logged with its real cause. Not retried:
// InvalidArgument (the request or the configuration is wrong: a DP no longer configured, a name
// that cannot be a body) and Internal (a bug), where the same attempt can only fail the same way.

#include <string>
#include <string_view>

#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/store/distribution_repository.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::distribution {

// Whether a failed attempt with this error is tried again (while attempts remain). Pure.
bool isRetried(const Status& error);

// A time as ConfigMgr logs a restart time, in the machine's local time: "11/25/2026 16:49:25".
std::string restartTimeText(store::Timestamp t);

struct RetryDecision {
  bool retry = false;               // false: the pair fails for good
  store::Timestamp next_attempt{};  // when retry
};

// Pure. `failures` counts failed attempts including this one (1 after the first failure). An
// error that is not retried (isRetried) or more failures than `retry_count` means no retry;
// otherwise the next attempt is `retry_delay` after `now`.
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

}  // namespace pkgxfer::distribution
