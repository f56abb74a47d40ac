#pragma once

// The `pulldp` component (SPEC §1, issue 15): a pull distribution point. It runs beside `dp` on a
// DP machine and shares its content library and HTTP server (dp::DpHost). The site notifies it
// (POST /v1/pull-jobs, a transport::pull::Notification); it downloads the bodies missing from its
// library from the notification's sources, in order (the first that has a body supplies it;
// GET {source}/v1/files/{sha256}, resumed with Range), verifies them, installs them, commits the
// manifest, and reports progress and the outcome to the site's management point
// (POST <status_url>/v1/status, a transport::pull::JobStatus), retrying with backoff while the
// site is unreachable. GET /v1/pull-jobs/{id} answers the site's check on a job.
//
// Jobs, their resume points (each body's temporary name and durable offset) and the statuses the
// site has not acknowledged live in the pull DP's own SQLite database (store::PullJobRepository,
// <dp.content_library>/pulldp.db by default), so a restart, kill -9 included, resumes them.
//
// Threads: the component's state and database are touched only on its strand. Jobs run on a pool
// of pulldp.max_concurrent_jobs threads the component owns (at most that many at once; the rest
// queue, first come first served), status messages on one thread of its own. Route handlers run
// on the DP server's handler executor and hand each request to the strand.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "pkgxfer/common/status.h"
#include "pkgxfer/dp/dp_service.h"
#include "pkgxfer/host/component.h"

namespace pkgxfer::pulldp {

struct Options {
  // The database; empty: store::pullDpDatabasePath(dp.content_library).
  std::filesystem::path database;
  // How often the strand looks for jobs to start and statuses to send (real time; what is due is
  // decided with the Clock). Default 250 ms.
  std::chrono::milliseconds poll_interval{250};
  // A running job's progress is reported at most this often (Clock time); state changes at once.
  // Default 5 s.
  std::chrono::milliseconds progress_interval{std::chrono::seconds(5)};
  // Backoff of status messages to a site that does not take them: initial delay, doubled at each
  // failure up to the cap (Clock time). Defaults 2 s, 5 min.
  std::chrono::milliseconds status_retry_initial{std::chrono::seconds(2)};
  std::chrono::milliseconds status_retry_max{std::chrono::minutes(5)};
  // One status message may take this long (real time). Default 30 s.
  std::chrono::milliseconds status_timeout{std::chrono::seconds(30)};
  // A job attempt that failed on something that may pass (a source down, a body no source has
  // yet, a disk error) is tried again after a delay doubling from job_retry_initial to
  // job_retry_max (Clock time), up to max_attempts attempts; then the job fails. A wrong request
  // (InvalidArgument), another manifest under the same version (AlreadyExists) or a bug
  // (Internal) fail it at once. Defaults 30 s, 30 min, 10.
  std::chrono::milliseconds job_retry_initial{std::chrono::seconds(30)};
  std::chrono::milliseconds job_retry_max{std::chrono::minutes(30)};
  int max_attempts = 10;
  // Checkpoints of a large body (fdatasync + resume point): every 8 MiB or 1 s (Clock time).
  std::uint64_t checkpoint_bytes = 8ull << 20;
  std::chrono::milliseconds checkpoint_interval{std::chrono::seconds(1)};
  // Jobs that ended (their outcome acknowledged by the site) are deleted from the database this
  // long after (checked at start, then hourly). Default 30 days; the site's checks end after 3.
  std::chrono::milliseconds keep_finished_jobs{std::chrono::hours(24 * 30)};
  // The sources: connect (TCP + TLS) and per-read/write progress timeouts. Defaults 10 s, 30 s.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds io_timeout{std::chrono::seconds(30)};
};

// The delay before the next attempt after `failures` (>= 1) consecutive failures: initial,
// doubled at each further failure, never above `max`. Pure.
std::chrono::milliseconds backoffDelay(int failures, std::chrono::milliseconds initial,
                                       std::chrono::milliseconds max);

// Counters for tests and monitoring; read on any thread.
struct PullDpStats {
  std::uint64_t polls = 0;             // strand polls run
  std::uint64_t jobs_running = 0;      // now
  std::uint64_t max_jobs_running = 0;  // the most at once since start
  std::uint64_t status_sent = 0;       // status messages the site acknowledged (2xx)
  std::uint64_t status_failed = 0;     // attempts that failed (no answer, or not 2xx)
};

class PullDistributionPoint : public host::Component {
 public:
  virtual PullDpStats stats() const = 0;
};

// Builds the component and adds its routes to `host`'s server (so it must be called before the
// server starts, i.e. before any DP-side component starts). Reads the token (dp.token_file).
// InvalidArgument without the dp or pulldp blocks; the token file's errors; addRoute's errors.
Result<std::unique_ptr<PullDistributionPoint>> openPullDistributionPoint(
    host::ComponentContext ctx, std::shared_ptr<dp::DpHost> host, Options options = {});

// The same, as pkgxferd hosts it.
Result<host::ComponentPtr> makePullDistributionPoint(host::ComponentContext ctx,
                                                     std::shared_ptr<dp::DpHost> host,
                                                     Options options = {});

}  // namespace pkgxfer::pulldp
