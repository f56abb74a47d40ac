#include "pkgxfer/pkgxfermgr/pull_policy.h"

#include <algorithm>

namespace pkgxfer::pkgxfermgr {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

NextStep afterSourceMiss(int misses, Timestamp now, const config::DistributionConfig& cfg) {
  NextStep n;
  if (misses > cfg.pull_source_recheck_count) {
    n.give_up = true;
    return n;
  }
  n.at = now + cfg.pull_source_recheck;
  return n;
}

milliseconds notifyBackoff(int failures, const config::DistributionConfig& cfg) {
  const milliseconds cap =
      std::max(milliseconds(1), duration_cast<milliseconds>(cfg.pull_source_recheck));
  milliseconds delay = std::max(milliseconds(1), cap / 20);
  for (int i = 1; i < failures && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

NextStep afterNotifyFailure(int failures, Timestamp now, const config::DistributionConfig& cfg) {
  NextStep n;
  if (failures >= kNotifyAttempts) {
    n.give_up = true;
    return n;
  }
  n.at = now + notifyBackoff(failures, cfg);
  return n;
}

Timestamp statusDue(Timestamp waiting_since, std::optional<Timestamp> last_status,
                    const config::DistributionConfig& cfg) {
  const Timestamp from = last_status ? std::max(waiting_since, *last_status) : waiting_since;
  return from + cfg.pull_status_timeout;
}

NextStep afterStatusCheck(int checks, Timestamp now, const config::DistributionConfig& cfg) {
  NextStep n;
  if (checks >= cfg.pull_status_check_count) {
    n.give_up = true;
    return n;
  }
  n.at = now + cfg.pull_status_timeout;
  return n;
}

}  // namespace pkgxfer::pkgxfermgr
