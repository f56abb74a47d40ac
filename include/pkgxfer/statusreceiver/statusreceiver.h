#pragma once

// The status receiver component (SPEC §1, statusreceiver.log): the site's management point for
// pull DPs. An http::Server on site.listen with one endpoint, POST /v1/status (bearer token: the
// site's), whose body is a transport::pull::JobStatus. Each message is recorded in the site
// database (store::StatusMessageRepository, once per job and sequence) and the distribution
// manager is woken (host::Signals::Topic::StatusMessages) to apply it to the pair; the database
// stays the hand-off, so a message recorded while distmgr is not running is applied when it
// starts. Answers: 200 recorded (or already recorded), 400 a malformed message or one that does
// not match its job, 401 no or a wrong token, 404 an unknown job or a job of another DP.
//
// Threads: the server's sockets are on the io threads; handlers run on the blocking pool and use
// the component's own SQLite connection under a mutex (a short insert each).

#include <cstdint>
#include <filesystem>
#include <string>

#include "pkgxfer/host/component.h"

namespace pkgxfer::statusreceiver {

struct Options {
  // Default <site.data_dir>/site.db.
  std::filesystem::path database;
  // Handlers running at once (http::ServerOptions::max_concurrent_handlers); more get 503 with
  // Retry-After, which a pull DP retries. Default 4: short inserts, on the blocking pool shared
  // with the transfer manager.
  std::size_t max_concurrent_handlers = 4;
};

// start() and stop() are called on ctx.strand, as the host does. InvalidArgument without the
// site block.
Result<host::ComponentPtr> makeStatusReceiver(host::ComponentContext ctx, Options options = {});

}  // namespace pkgxfer::statusreceiver
