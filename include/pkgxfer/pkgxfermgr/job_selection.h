#pragma once

// Which transfer jobs the package transfer manager starts next: its bounded pool (SPEC §8,
// ConfigMgr's "3 x 5"): at most `max_concurrent_packages` packages at once, and at most
// `max_threads_per_package` DPs per package in parallel. Higher package priority first, then the
// oldest job. Pure and thread-safe.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pkgxfer/store/transfer_job_repository.h"

namespace pkgxfer::pkgxfermgr {

struct RunningJob {
  std::int64_t id = 0;
  std::string package_id;
  std::string dp;
};

struct PoolLimits {
  int max_concurrent_packages = 3;  // >= 1
  int max_threads_per_package = 5;  // >= 1
};

// The same rules, one job at a time: offer() the runnable jobs in the order
// TransferJobRepository::listRunnable gives them (priority, then age), page by page, until full().
// So the manager looks at every runnable job it may need (a package queued behind 5,000 jobs of
// another still gets its slot) and stops reading once every slot is taken.
class JobSelector {
 public:
  JobSelector(const std::vector<RunningJob>& running, const PoolLimits& limits);
  // True if `job` starts now (it then counts against the limits).
  bool offer(const store::TransferJob& job);
  // Every package slot is taken and every package has its DPs: no further job can start.
  bool full() const;

 private:
  int max_packages_;
  int max_per_package_;
  std::map<std::string, int> per_package_;  // running (and selected) jobs per package
  std::set<std::pair<std::string, std::string>> busy_pairs_;
};

// Returns the ids of the jobs of `runnable` to start now, in start order, so that with `running`
// the limits hold. A job whose (package, DP) pair already has a running job waits. A job for a
// package not yet running waits while `max_concurrent_packages` packages run; once a package runs,
// its other jobs may fill its DP slots even ahead of a higher-priority package that has no slot
// (the package being processed keeps its threads, as in ConfigMgr).
std::vector<std::int64_t> selectJobsToStart(std::vector<store::TransferJob> runnable,
                                            const std::vector<RunningJob>& running,
                                            const PoolLimits& limits);

}  // namespace pkgxfer::pkgxfermgr
