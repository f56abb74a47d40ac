#pragma once

// The Distribution Manager component (SPEC §1, distmgr.log): takes the requests the admin CLI
// writes to the site database, runs preliminary checks on standard DPs (reachable, library root
// writable, free space for what is still missing), creates transfer jobs for the package transfer
// manager, records each (package, DP) state change, and retries failed distributions.
//
// Hand-off: the site database is the queue both ways. distmgr polls the requests (and due retries)
// on its strand every `poll_interval` (a request is picked up within a second, SPEC §5) and writes
// transfer_jobs rows, which pkgxfermgr polls. Checks touch the DP, so they run on the blocking pool
// and post their result back to the strand. The SQLite connection is used only on the strand.

#include <chrono>
#include <filesystem>

#include "pkgxfer/host/component.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::distmgr {

struct Options {
  std::chrono::milliseconds poll_interval{500};
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
