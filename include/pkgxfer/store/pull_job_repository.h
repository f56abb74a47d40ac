#pragma once

// A pull DP's own database (pulldp.db, by default beside its content library; open it with
// DatabaseOptions::schema = Schema::PullDp): the notifications the pull DP accepted, each job's
// state, progress and the status it still owes the site, and where each body's download stands,
// so a restart (kill -9 included) resumes queued and running jobs and their downloads.
//
// The repository knows nothing of the pull protocol: the notification is kept as the JSON text
// the site sent, states are the protocol's names ("queued", "downloading", "installed",
// "failed"). Not thread-safe, like the Database: the pulldp component uses it on its strand.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store {

// Where a pull DP's database lives by default: <content_library>/pulldp.db (the library's sweeps
// touch only its FileLib, DataLib and PkgLib folders).
std::filesystem::path pullDpDatabasePath(const std::filesystem::path& content_library);

struct NewPullJob {
  std::int64_t job_id = 0;  // the site's id; > 0
  std::string dp;
  std::string package_id;
  std::uint64_t version = 0;
  bool redistribute = false;
  std::string notification;  // the notification's JSON
};

// A job's progress and outcome, as the pull DP reports it.
struct PullJobProgress {
  std::string state;  // "queued", "downloading", "installed" or "failed"
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_done = 0;
  std::uint64_t files_total = 0;
  std::uint64_t files_done = 0;
  std::string error;
  std::string source;
};

struct PullJobRow {
  std::int64_t id = 0;  // arrival order
  std::int64_t job_id = 0;
  std::string dp;
  std::string package_id;
  std::uint64_t version = 0;
  bool redistribute = false;
  std::string notification;
  PullJobProgress progress;
  std::uint64_t sequence = 1;        // of the latest status (starts at 1: "queued")
  std::uint64_t acked_sequence = 0;  // the highest the site acknowledged
  int attempts = 0;                  // download attempts started
  Timestamp received_at;
  Timestamp updated_at;
};

// Where one body's download stands: its upload's temporary name in the library and the offset
// known durable there.
struct PullPartial {
  std::string sha256;
  std::string temp_name;
  std::uint64_t offset = 0;
};

class PullJobRepository {
 public:
  explicit PullJobRepository(Database& db) : db_(db) {}

  // Records a new job, queued, sequence 1. Idempotent by job_id: returns false (and changes
  // nothing) if that job_id is already known. InvalidArgument for a bad field.
  Result<bool> insert(const NewPullJob& job);
  // NotFound if unknown.
  Result<PullJobRow> find(std::int64_t job_id);
  // Jobs queued or downloading (to run, or to resume after a restart), in arrival order, at most
  // `limit`, after arrival number `after_id`.
  Result<std::vector<PullJobRow>> listRunnable(std::size_t limit, std::int64_t after_id = 0);
  // Jobs whose latest status the site has not acknowledged, in arrival order.
  Result<std::vector<PullJobRow>> listUnreported();
  // Sets the job's state and progress; with `bump_sequence`, its status gets the next sequence
  // (it is to be reported). Returns the job's sequence afterwards. NotFound if unknown.
  Result<std::uint64_t> update(std::int64_t job_id, const PullJobProgress& progress,
                               bool bump_sequence);
  // One more download attempt started; returns the count.
  Result<int> addAttempt(std::int64_t job_id);
  // The site acknowledged the status of `sequence` (a lower one than recorded changes nothing).
  Status acknowledge(std::int64_t job_id, std::uint64_t sequence);

  // Deletes the jobs that ended (installed or failed) before `before` and whose last status the
  // site acknowledged; returns how many. The site asks about a job within days (72 x 60 min by
  // default); a job it asks about after that is unknown and it notifies again.
  Result<std::size_t> pruneFinished(Timestamp before);

  // Resume points of a job's bodies.
  Status savePartial(std::int64_t job_id, const PullPartial& partial);
  Status forgetPartial(std::int64_t job_id, std::string_view sha256);
  Status forgetPartials(std::int64_t job_id);
  Result<std::vector<PullPartial>> partials(std::int64_t job_id);

 private:
  Database& db_;
};

}  // namespace pkgxfer::store
