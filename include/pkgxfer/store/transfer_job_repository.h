#pragma once

// Content transfer jobs: created by the distribution manager, run by the package transfer
// manager. A job moves one package version to (or removes it from, or validates it on) one DP.
// Bodies a job has partly sent are recorded so that a large body resumes where it stopped.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store {

struct NewTransferJob {
  std::string package_id;
  int version = 0;
  std::string dp;
  JobAction action = JobAction::Add;
  Priority priority = Priority::Medium;  // usually the package's
  // A job (e.g. one that failed) whose partial bodies the new job takes over, in the same
  // transaction that creates it: the new job is never seen without them, so it cannot start
  // before the hand-over and send those bodies from 0. 0 = none. See movePartials().
  std::int64_t resume_from = 0;
};

struct TransferJob {
  std::int64_t id = 0;  // increasing, never reused; the "job N" of the logs
  std::string package_id;
  int version = 0;
  std::string dp;
  JobAction action = JobAction::Add;
  Priority priority = Priority::Medium;
  JobState state = JobState::Queued;
  Progress progress;
  std::string error;  // why it failed; "" otherwise
  Timestamp created_at{};
  std::optional<Timestamp> started_at;   // first time it ran
  std::optional<Timestamp> finished_at;  // set iff the state is terminal
  Timestamp updated_at{};
};

// A body partly written to a temporary name on the DP.
struct PartialBody {
  std::int64_t job_id = 0;
  std::string sha256;
  std::uint64_t size = 0;    // the whole body, bytes
  std::uint64_t offset = 0;  // bytes durably written on the DP so far; 0..size
  std::string temp_name;     // the temporary file's name on the DP
  Timestamp updated_at{};    // ignored by savePartial()
};

// Unset fields match everything; `states` empty = every state.
struct TransferJobFilter {
  std::optional<std::string> package_id;
  std::optional<std::string> dp;
  std::vector<JobState> states;
};

// Not thread-safe: use it where its Database is used. The Database must outlive it.
class TransferJobRepository {
 public:
  explicit TransferJobRepository(Database& db) : db_(db) {}

  // Queues a job and returns its id. NotFound if the package version or the DP does not exist.
  Result<std::int64_t> create(const NewTransferJob& job);
  // NotFound if there is no such job.
  Result<TransferJob> get(std::int64_t id);
  // By id.
  Result<std::vector<TransferJob>> list(const TransferJobFilter& filter = {});
  // Up to `limit` (> 0) queued or paused jobs: high priority first, then the oldest (created_at,
  // then id). With `after_id` (a job id), the page that follows that job in this order: a caller
  // pages through every runnable job, however many. The caller still applies each DP's schedule
  // and its concurrency bounds.
  Result<std::vector<TransferJob>> listRunnable(int limit, std::int64_t after_id = 0);

  // Moves a job to `state` and sets its error text ("" clears it). Running sets started_at the
  // first time; a terminal state sets finished_at. NotFound (no such job) or InvalidArgument
  // (the job is already in a terminal state).
  Status setState(std::int64_t id, JobState state, std::string_view error = {});
  Status setProgress(std::int64_t id, const Progress& progress);
  // Marks superseded every unfinished job of the pair for a version older than `version`, and
  // returns their ids (the running ones must be stopped by the caller).
  Result<std::vector<std::int64_t>> supersedeOlder(std::string_view package_id, std::string_view dp,
                                                   int version);
  // running → queued for every job, returning how many: for the service's start after a crash
  // (their partial bodies are kept, so they resume).
  Result<int> requeueInterrupted();

  // Records (or moves forward) a partly sent body of job `body.job_id`. Persist an offset only
  // after the bytes up to it are durable on the DP. NotFound (no such job), InvalidArgument
  // (offset > size, bad hash, empty temp_name).
  Status savePartial(const PartialBody& body);
  // The partly sent body, or nullopt.
  Result<std::optional<PartialBody>> findPartial(std::int64_t job_id, std::string_view sha256);
  // By sha256.
  Result<std::vector<PartialBody>> listPartials(std::int64_t job_id);
  // Forgets one body (finished or discarded); OK if it was not recorded.
  Status deletePartial(std::int64_t job_id, std::string_view sha256);
  // Forgets every body of the job.
  Status clearPartials(std::int64_t job_id);
  // Hands the partial bodies of job `from` to job `to` (e.g. a retry created as a new job), so
  // the new job resumes them. Both must target the same DP (InvalidArgument) and exist (NotFound).
  Status movePartials(std::int64_t from, std::int64_t to);
  // Jobs that ended for good but still have partial bodies, whose temporary files on the DP are
  // nobody's now: done, cancelled or superseded jobs (e.g. cancelled by a remove while queued,
  // after a crash), and failed jobs whose pair does not retry (or check again) that version — a
  // retry takes the partial bodies over. Oldest first, at most `limit` (> 0).
  Result<std::vector<TransferJob>> listAbandonedPartials(int limit);

 private:
  Database& db_;
};

}  // namespace pkgxfer::store
