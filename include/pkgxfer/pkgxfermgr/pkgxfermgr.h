#pragma once

// The Package Transfer Manager component (SPEC §1, pkgxfermgr.log): runs the transfer jobs the
// distribution manager writes to the site database, with a bounded pool (job_selection.h), one
// blocking-pool thread per running job (job_runner.h) and a shared pool for the jobs' other
// streams.
//
// Hand-off: the site database is the queue. pkgxfermgr polls transfer_jobs on its strand. The
// distribution manager signals it in-process (host::Signals::Topic::TransferJobs) whenever it
// created, superseded or cancelled a job, which polls at once. Besides, its timer wakes every
// `wake_interval` while the site is idle, and every `poll_interval` while jobs run or wait (a
// schedule window that opens changes nothing in the database); a wake polls when another
// connection committed since the last poll (store::Database::dataVersion; our own writes do not
// count) or poll_interval has passed. The same poll notices jobs superseded or cancelled and stops
// them. Its SQLite connection is used only on its strand (short statements).

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "pkgxfer/host/component.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::pkgxfermgr {

struct Options {
  // Full poll at least this often while jobs run or wait, changes or not. > 0.
  std::chrono::milliseconds poll_interval{250};
  // How often an idle transfer manager wakes to check whether another connection changed the
  // database (new work normally comes with distmgr's signal). > 0; measured, like poll_interval,
  // on the timer's real steady clock (not ctx.clock, which a test may freeze).
  std::chrono::milliseconds wake_interval{1000};
  // Makes the transport of a DP; default: transport::makeTransport.
  transport::TransportFactory transport_factory;
  // Default <site.data_dir>/site.db and <site.data_dir>/ContentLib.
  std::filesystem::path database;
  std::filesystem::path site_library;
  bool sync = true;  // fsync on the DPs (tests may turn it off)
  // A body's resume point is saved, and a stream's sealed bodies installed, at least this often
  // (JobSpec::checkpoint_bytes, JobSpec::checkpoint_interval).
  std::uint64_t checkpoint_bytes = 8ull << 20;
  std::chrono::milliseconds checkpoint_interval{1000};
  std::size_t streams_per_job = 8;  // JobSpec::streams
  // Threads shared by every running job for its streams beyond the first (which runs on the job's
  // own blocking-pool thread): the bound on the threads of all transfers is the blocking pool plus
  // this. With the default 3 x 5 pool a single job still gets all its 8 streams.
  int stream_threads = 16;
};

// Not thread-safe itself: start() and stop() are called on ctx.strand, as the host does.
Result<host::ComponentPtr> makePackageTransferManager(host::ComponentContext ctx,
                                                      Options options = {});

}  // namespace pkgxfer::pkgxfermgr
