#include "pkgxfer/pkgxfermgr/job_selection.h"

#include <algorithm>
#include <utility>

namespace pkgxfer::pkgxfermgr {

JobSelector::JobSelector(const std::vector<RunningJob>& running, const PoolLimits& limits)
    : max_packages_(std::max(1, limits.max_concurrent_packages)),
      max_per_package_(std::max(1, limits.max_threads_per_package)) {
  for (const RunningJob& r : running) {
    ++per_package_[r.package_id];
    busy_pairs_.emplace(r.package_id, r.dp);
  }
}

bool JobSelector::offer(const store::TransferJob& job) {
  auto pair = std::make_pair(job.package_id, job.dp);
  if (busy_pairs_.count(pair)) return false;
  auto it = per_package_.find(job.package_id);
  if (it == per_package_.end()) {
    if (static_cast<int>(per_package_.size()) >= max_packages_) return false;
    it = per_package_.emplace(job.package_id, 0).first;
  }
  if (it->second >= max_per_package_) return false;
  ++it->second;
  busy_pairs_.insert(std::move(pair));
  return true;
}

bool JobSelector::full() const {
  if (static_cast<int>(per_package_.size()) < max_packages_) return false;
  return std::all_of(per_package_.begin(), per_package_.end(),
                     [&](const auto& entry) { return entry.second >= max_per_package_; });
}

std::vector<std::int64_t> selectJobsToStart(std::vector<store::TransferJob> runnable,
                                            const std::vector<RunningJob>& running,
                                            const PoolLimits& limits) {
  std::stable_sort(runnable.begin(), runnable.end(),
                   [](const store::TransferJob& a, const store::TransferJob& b) {
                     if (a.priority != b.priority) return a.priority < b.priority;  // High first
                     if (a.created_at != b.created_at) return a.created_at < b.created_at;
                     return a.id < b.id;
                   });
  JobSelector selector(running, limits);
  std::vector<std::int64_t> start;
  for (const store::TransferJob& job : runnable) {
    if (selector.full()) break;
    if (selector.offer(job)) start.push_back(job.id);
  }
  return start;
}

}  // namespace pkgxfer::pkgxfermgr
