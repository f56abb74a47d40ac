#pragma once

// The timing of the transfer manager's pull cycle (SPEC §8, issue 15), as pure functions of the
// counts and times kept in store::PullTransfer, so that the 20- and 60-minute cycles and their
// limits are tested with a fake clock in milliseconds and a restart rebuilds the same timers:
//
//   source check ── none has it ──► waiting_source, again after pull_source_recheck, up to
//        │                          pull_source_recheck_count re-checks, then failed
//        └─ a source has it ──► notify ── fails ──► again after a backoff (kNotifyAttempts)
//                                 └─ sent ──► notified: a status within pull_status_timeout, or
//                                    ask the pull DP; in progress: wait again, up to
//                                    pull_status_check_count checks, then failed
//
// Pure and thread-safe.

#include <chrono>
#include <optional>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/config/config.h"

namespace pkgxfer::pkgxfermgr {

using Timestamp = Clock::SystemTime;

// Failed notifications of one pull job before the attempt fails (as ConfigMgr's
// "Failure count = N/30"); the pair then follows the retry policy.
inline constexpr int kNotifyAttempts = 30;

// What to do after a step that did not settle the job.
struct NextStep {
  bool give_up = false;  // the limit is reached: the pair fails
  Timestamp at{};        // otherwise, when the next step is due
};

// After the `misses`-th source check (>= 1) that found no source holding the content: check again
// pull_source_recheck after `now`, while misses <= pull_source_recheck_count (the first check and
// that many re-checks); give up after that.
NextStep afterSourceMiss(int misses, Timestamp now, const config::DistributionConfig& cfg);

// The wait before notifying again after the `failures`-th failed notification (>= 1): starts at
// pull_source_recheck / 20 (1 min by default; at least 1 ms) and doubles, capped at
// pull_source_recheck (20 min).
std::chrono::milliseconds notifyBackoff(int failures, const config::DistributionConfig& cfg);
// After the `failures`-th failed notification: notify again after notifyBackoff() while
// failures < kNotifyAttempts; give up at kNotifyAttempts.
NextStep afterNotifyFailure(int failures, Timestamp now, const config::DistributionConfig& cfg);

// When the pull DP is next checked on: pull_status_timeout after the later of `waiting_since`
// (the notification, or the last check) and `last_status` (the last status message received).
Timestamp statusDue(Timestamp waiting_since, std::optional<Timestamp> last_status,
                    const config::DistributionConfig& cfg);
// After the `checks`-th check (>= 1) since the last status found the job still in progress (or
// the pull DP unreachable): wait pull_status_timeout again while checks < pull_status_check_count;
// give up at pull_status_check_count.
NextStep afterStatusCheck(int checks, Timestamp now, const config::DistributionConfig& cfg);

}  // namespace pkgxfer::pkgxfermgr
