#pragma once

// One pull job's download, run on a thread of the pull DP's job pool: the bodies of a content
// version missing from the DP's library (all of them for a redistribute), each taken from the
// first source that has it (GET {source}/v1/files/{sha256}), resumed with Range from the upload's
// durable offset, continued from the same offset at the next source when a source fails mid-body,
// verified (Upload::seal), installed in batches; the manifest committed last.
//
// The job thread owns nothing of the component: it reports what the component must record
// (progress, resume points) through JobEvents, whose callbacks post to the component's strand.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "pkgxfer/common/call_context.h"
#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/http/client.h"
#include "pkgxfer/store/pull_job_repository.h"
#include "pkgxfer/transport/pull_protocol.h"

namespace pkgxfer::pulldp {

// "scheme://authority[/path]" split into the origin an http::Client takes and the path the API
// sits under (no trailing '/'). InvalidArgument for anything but an http(s) URL.
struct SplitUrl {
  std::string origin;
  std::string path;
};
Result<SplitUrl> splitUrl(std::string_view url);

// One pooled http::Client per origin, made on first use. Thread-safe.
class ClientCache {
 public:
  explicit ClientCache(http::ClientOptions options) : options_(std::move(options)) {}
  // The client of `origin`; InvalidArgument for a bad origin (http::Client::create's errors).
  Result<http::Client*> get(const std::string& origin);

 private:
  const http::ClientOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<http::Client>> clients_;  // guarded by mu_
};

struct JobProgress {
  std::uint64_t bytes_total = 0;  // bytes of the distinct bodies to download
  std::uint64_t bytes_done = 0;   // of those, in the library or written (resumed bytes included)
  std::uint64_t files_total = 0;  // distinct bodies to download
  std::uint64_t files_done = 0;   // of those, verified and installed
  std::string source;             // the source URL of the body being downloaded
};

// Called on the job thread, in order; must return quickly (post to the strand).
struct JobEvents {
  std::function<void(const JobProgress&)> progress;
  // A body's upload was checkpointed: its temporary name and durable offset are a resume point.
  std::function<void(const store::PullPartial&)> partial;
  // A body's resume point is no longer valid (installed, or discarded as corrupt).
  std::function<void(const std::string& sha256)> partial_gone;
};

struct JobOptions {
  // A large body is checkpointed (fdatasync, then its offset reported) every checkpoint_bytes or
  // checkpoint_interval (Clock time), whichever comes first. Defaults 8 MiB, 1 s.
  std::uint64_t checkpoint_bytes = 8ull << 20;
  std::chrono::milliseconds checkpoint_interval{std::chrono::seconds(1)};
  // Progress events at most this often (Clock time), and at each body installed. Default 1 s.
  std::chrono::milliseconds progress_interval{std::chrono::seconds(1)};
  // Bodies verified are installed in batches of this many bodies or bytes
  // (ContentLibrary::install).
  std::size_t batch_bodies = 128;
  std::uint64_t batch_bytes = 256ull << 20;
};

struct JobSetup {
  std::int64_t job_id = 0;
  transport::pull::Notification notification;
  std::map<std::string, store::PullPartial> resume;  // by SHA-256: where each download stands
};

// The owner of a job's uploads in the library (part of their temporary names).
std::string uploadOwner(std::int64_t job_id);

// Runs the job to the end: OK once the manifest is committed. Errors: Cancelled when `ctx` was
// stopped (resume points reported); for a body no source could supply, the sources' errors (each
// named) with the kind Unavailable if one of them was unreachable or cut, else NotFound or
// Corruption; the library's errors (disk full, ...) as they are; AlreadyExists when a different
// manifest is stored under that package and version.
Status runPullJob(content::ContentLibrary& library, ClientCache& sources, const JobSetup& setup,
                  const JobEvents& events, const JobOptions& options, Clock& clock,
                  const Logger& log, const CallContext& ctx);

}  // namespace pkgxfer::pulldp
