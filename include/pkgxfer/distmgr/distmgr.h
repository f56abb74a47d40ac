#pragma once

// The Distribution Manager component (SPEC §1, distmgr.log): takes the requests the admin CLI
// writes to the site database, runs preliminary checks on standard DPs (reachable, library root
// writable, free space for what is still missing), creates transfer jobs for the package transfer
// manager, records each (package, DP) state change, and retries failed distributions.
//
// Hand-off: the site database is the queue both ways. distmgr reads the requests (and due retries)
// on its strand and writes transfer_jobs rows, which pkgxfermgr reads; once they are committed it
// signals pkgxfermgr in-process (host::Signals::Topic::TransferJobs). It reads the queue when
// another connection committed since the last read (the CLI queued a request, pkgxfermgr finished
// a job: store::Database::dataVersion), which a platform::FileWatch on the database's
// write-ahead log tells it at once (where there is none, its timer checks every
// `wake_interval`), or, while any pair is retrying, every `poll_interval` (due retries are
// time-based). So a request is picked up at once (SPEC §5 asks for a second) while an idle service
// does not wake to look.
// Checks touch the DP, so they run on the blocking pool and post their result back to the strand.
// The SQLite connection is used only on the strand.

#include <chrono>
#include <filesystem>

#include "pkgxfer/host/component.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::distmgr {

struct Options {
  // Full read of the queue and the due retries at least this often while a pair is retrying,
  // changes or not. > 0.
  std::chrono::milliseconds poll_interval{500};
  // How often the timer checks whether another connection changed the database when no file
  // watch tells it (platform::watchFile unavailable). > 0; a value above poll_interval behaves as
  // poll_interval. Both are measured on the timer's (real) steady
  // clock, not ctx.clock: a FakeClock in a test must not stop the queue from being read.
  std::chrono::milliseconds wake_interval{500};
  // Preliminary checks running at once on the blocking pool (shared with the transfer manager's
  // sending threads). The others wait in a queue, high priority first, then in request order: a
  // distribute to 5,000 DPs neither floods the pool nor holds a high-priority package behind its
  // checks. >= 1.
  int max_concurrent_checks = 8;
  // Default: transport::makeTransport.
  transport::TransportFactory transport_factory;
  // Default <site.data_dir>/site.db and <site.data_dir>/ContentLib.
  std::filesystem::path database;
  std::filesystem::path site_library;
};

// start() and stop() are called on ctx.strand, as the host does.
Result<host::ComponentPtr> makeDistributionManager(host::ComponentContext ctx,
                                                   Options options = {});

}  // namespace pkgxfer::distmgr
