#pragma once

// Value types shared by the site database's repositories: the enumerations stored in its columns
// (with the exact spellings SPEC §5 shows to administrators) and the timestamp format of every
// `*_at` column. Pure functions and plain values: thread-safe.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/status.h"

namespace pkgxfer::store {

using Timestamp = Clock::SystemTime;

// A package's priority (SPEC §2). Orders transfer jobs: high before medium before low.
enum class Priority { High, Medium, Low };

// What an administrator asked for with the CLI (SPEC §5): one row of the request queue.
enum class RequestKind { Distribute, Redistribute, Validate, Remove };

// A request's life: pending (written by the CLI) → taken (claimed by the service) → done or
// rejected (with an error text).
enum class RequestState { Pending, Taken, Done, Rejected };

// The state of one (package, DP) pair, SPEC §5 "States".
enum class DistributionState {
  Waiting,   // queued, or waiting for a schedule window
  Checking,  // preliminary checks
  Transferring,
  Verifying,
  WaitingSource,  // pull DP: no source has the content yet
  Notified,       // pull DP told to download
  Pulling,        // pull DP reported progress
  Installed,
  Retrying,  // a failure, next attempt scheduled (next_attempt_at)
  Failed,    // retries exhausted or a permanent error
  Removing,
  Removed,
};

// What a transfer job does to a DP.
enum class JobAction { Add, Redistribute, Validate, Remove };

// A transfer job's life. Queued and Paused are runnable (Paused: a schedule window closed
// mid-transfer; what was sent is kept); Done, Failed, Superseded and Cancelled are terminal.
enum class JobState { Queued, Running, Paused, Done, Failed, Superseded, Cancelled };

// Lower-case spellings as stored in the database and shown by `pkgxfer status`
// ("waiting_source", "redistribute", ...).
std::string_view toString(Priority value);
std::string_view toString(RequestKind value);
std::string_view toString(RequestState value);
std::string_view toString(DistributionState value);
std::string_view toString(JobAction value);
std::string_view toString(JobState value);

// Inverse of toString; InvalidArgument naming the accepted values on anything else.
Result<Priority> parsePriority(std::string_view text);
Result<RequestKind> parseRequestKind(std::string_view text);
Result<RequestState> parseRequestState(std::string_view text);
Result<DistributionState> parseDistributionState(std::string_view text);
Result<JobAction> parseJobAction(std::string_view text);
Result<JobState> parseJobState(std::string_view text);

bool isTerminal(JobState state);

// How far a distribution, a transfer job or a pull DP has got. Totals are what the content needs;
// done counts what is on the DP so far (including bodies already present). Bytes and file counts.
struct Progress {
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_done = 0;
  std::uint64_t files_total = 0;
  std::uint64_t files_done = 0;

  friend bool operator==(const Progress&, const Progress&) = default;
};

// ISO-8601 UTC with milliseconds, the format of every time column: "2026-11-25T14:05:09.118Z".
// Truncates to the millisecond (towards the past). Fixed width for years 0000..9999, so the text
// sorts like the time, which the queries rely on.
std::string formatTimestamp(Timestamp time);
// Strict inverse of formatTimestamp (exactly that form); InvalidArgument otherwise.
Result<Timestamp> parseTimestamp(std::string_view text);

// True for "<site code><5 hex digits>" with a 3-character [A-Z0-9] site code and upper-case hex,
// e.g. "PS100001". The store accepts only this normalized form; callers upper-case user input.
bool isValidPackageId(std::string_view package_id);
// True for 64 lower-case hex digits.
bool isValidSha256(std::string_view hex);

}  // namespace pkgxfer::store
