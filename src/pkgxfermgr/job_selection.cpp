#include "pkgxfer/pkgxfermgr/job_selection.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace pkgxfer::pkgxfermgr {

std::vector<std::int64_t> selectJobsToStart(std::vector<store::TransferJob> runnable,
                                            const std::vector<RunningJob>& running,
                                            const PoolLimits& limits) {
  std::stable_sort(runnable.begin(), runnable.end(),
                   [](const store::TransferJob& a, const store::TransferJob& b) {
                     if (a.priority != b.priority) return a.priority < b.priority;  // High first
                     if (a.created_at != b.created_at) return a.created_at < b.created_at;
                     return a.id < b.id;
                   });
  std::map<std::string, int> per_package;  // running jobs per package
  std::set<std::pair<std::string, std::string>> busy_pairs;
  for (const RunningJob& r : running) {
    ++per_package[r.package_id];
    busy_pairs.emplace(r.package_id, r.dp);
  }
  const int max_packages = std::max(1, limits.max_concurrent_packages);
  const int max_per_package = std::max(1, limits.max_threads_per_package);
  std::vector<std::int64_t> start;
  for (const store::TransferJob& job : runnable) {
    auto pair = std::make_pair(job.package_id, job.dp);
    if (busy_pairs.count(pair)) continue;
    auto it = per_package.find(job.package_id);
    if (it == per_package.end()) {
      if (static_cast<int>(per_package.size()) >= max_packages) continue;
      it = per_package.emplace(job.package_id, 0).first;
    }
    if (it->second >= max_per_package) continue;
    ++it->second;
    busy_pairs.insert(std::move(pair));
    start.push_back(job.id);
  }
  return start;
}

}  // namespace pkgxfer::pkgxfermgr
