#pragma once

// The body of one transfer job (a ConfigMgr "sending thread"): for an add or a redistribute,
// inventory the DP, send the missing bodies (all of them for a redistribute) to temporary names,
// verify their hashes, then commit the manifest; for a validate, re-hash the content on the DP;
// for a remove, delete the package's content from the DP. Blocking: runs on the blocking pool.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/host/blocking_pool.h"
#include "pkgxfer/store/transfer_job_repository.h"
#include "pkgxfer/transport/rate_limiter.h"
#include "pkgxfer/transport/schedule.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::pkgxfermgr {

// What a job reports while it runs. Called on the job's (pool) thread; implementations post to the
// owning strand. Calls arrive in order.
class JobEvents {
 public:
  virtual ~JobEvents() = default;
  virtual void progress(const store::Progress& progress) = 0;
  // The bytes of `body` up to body.offset are durable on the DP: a resume point.
  virtual void partialSaved(const store::PartialBody& body) = 0;
  // The body's temporary file is gone (renamed into place or discarded).
  virtual void partialForgotten(const std::string& sha256) = 0;
  // Every body is on the DP and verified; the content is being committed (state verifying).
  virtual void verifying() {}
};

// How a running job is asked to stop; checked between blocks.
enum class CancelMode : int {
  None = 0,
  Stop = 1,     // the service stops: keep what was sent (flush, save the resume point)
  Discard = 2,  // the job was superseded or cancelled: delete the temporary file
  // The DP's schedule window closed (the manager saw it): as if the job had seen it itself at a
  // block boundary, keep what was sent and end Paused; stopping the token reaches a call that
  // hangs meanwhile.
  Pause = 3,
};

// A running job's stop request. The job polls it between blocks, sleeps on it while a rate
// limit makes it wait, and hands its token to every transport call, so a stop or a cancel ends a
// wait — or a call that hangs on the network — at once instead of after it. Thread-safe.
class CancelFlag {
 public:
  CancelMode load() const { return static_cast<CancelMode>(mode_.load()); }
  void store(CancelMode mode) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      mode_.store(static_cast<int>(mode));
    }
    cv_.notify_all();
    if (mode != CancelMode::None) stop_.request_stop();
  }
  // Stops when a mode other than None is stored (CallContext::stop of the job's transport calls).
  std::stop_token token() const { return stop_.get_token(); }
  // Waits `wait` (real time) or until a stop is requested, whichever comes first; returns the mode.
  CancelMode waitFor(std::chrono::nanoseconds wait) const {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [this] { return mode_.load() != 0; });
    return load();
  }

 private:
  std::atomic<int> mode_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::stop_source stop_;
};

struct JobSpec {
  store::TransferJob job;
  std::vector<store::PartialBody> partials;  // resume points of this job
  bool verify = true;                        // read each body back from the DP and hash it
  // A resume point is saved (flush + partialSaved) at least this often while a body is sent.
  std::uint64_t checkpoint_bytes = 8ull << 20;
  std::chrono::milliseconds checkpoint_interval{1000};
  std::size_t block_size = 1 << 20;  // bytes per read from the site library / write to the DP
  // Bodies sent at once within the job. Small files are bound by per-file latency (create, write,
  // read back, rename; a round trip on a remote DP), which streams overlap, and hashing one body's
  // read-back overlaps another's copy; bodies made durable together are installed in batches per
  // stream. 8: see docs/performance.md ("Eight streams per job"). The first stream runs on the
  // job's own thread, the others on `stream_pool` when it has a thread free (host::runOnHelpers):
  // a busy pool gives the job fewer streams, never a wait. Null pool: one stream.
  std::size_t streams = 8;
  host::BlockingPool* stream_pool = nullptr;
  // The DP's schedule and rate limit (shared by every job to the DP); null = always open,
  // unlimited. Only adds and redistributes obey them.
  const transport::ScheduleEvaluator* schedule = nullptr;
  transport::RateLimiter* limiter = nullptr;
};

struct JobOutcome {
  // Paused: the DP's schedule window is closed to the package's priority; what was sent is
  // durable (resume points saved) and the job resumes from there when the window opens.
  enum class Kind { Installed, Removed, ValidationFailed, Paused };
  Kind kind = Kind::Installed;
  std::string detail;  // ValidationFailed: the missing/mismatched files
  // Paused: when the window opens next; nullopt = the schedule never opens to this priority.
  std::optional<Clock::SystemTime> next_opening;
  store::Progress progress;
  std::uint64_t bytes_sent = 0;  // by this run (excludes bytes resumed from an earlier run)
};

// "job 12, PS100001 v1, priority high, DP dp01": the tag every log line of a job carries.
std::string jobTag(const store::TransferJob& job);

// The schedule's view of a package priority.
transport::Priority toTransportPriority(store::Priority priority);

// Runs the job to completion, or to a pause when spec.schedule closes (checked before the job
// starts sending and before each block). Errors: Cancelled (asked to stop), the transport's or the
// site library's errors with their cause, and Internal naming an exception that escaped the job's
// code on any of its streams (the job fails; the service goes on). Thread-safe as long as each
// call has its own `events`.
Result<JobOutcome> runJob(const JobSpec& spec, transport::Transport& dp,
                          content::ContentLibrary& site, JobEvents& events,
                          const CancelFlag& cancel, Clock& clock, const Logger& log);

}  // namespace pkgxfer::pkgxfermgr
