#pragma once

// The state of each (package, DP) pair (SPEC §5): what `pkgxfer status` prints, kept by the
// distribution manager and the transfer manager. A pair that was removed stays, in state removed.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store {

struct DistributionRow {
  std::string package_id;
  std::string dp;
  int version = 0;  // the content version being (or last) distributed
  DistributionState state = DistributionState::Waiting;
  // What the latest request for the pair asked for; a retry of the pair repeats it.
  JobAction action = JobAction::Add;
  Progress progress;
  int attempts = 0;  // failed attempts of this distribution so far
  std::string last_error;
  std::optional<Timestamp> next_attempt_at;  // set while retrying
  Timestamp created_at{};
  Timestamp updated_at{};  // any change, from the injected Clock
};

// Unset fields match everything.
struct DistributionFilter {
  std::optional<std::string> package_id;
  std::optional<std::string> dp;
  std::optional<DistributionState> state;
};

// Every method stamps updated_at with the Database's clock. Errors: NotFound when the pair does
// not exist (methods other than start()).
//
// Not thread-safe: use it where its Database is used. The Database must outlive it.
class DistributionRepository {
 public:
  explicit DistributionRepository(Database& db) : db_(db) {}

  // Begins (or restarts) the distribution of `version` to `dp` for `action`: inserts the pair or
  // overwrites it with that version, state and action, zero progress and attempts, no error, no
  // retry time. NotFound if the package version or the DP does not exist.
  Status start(std::string_view package_id, std::string_view dp, int version,
               DistributionState state, JobAction action = JobAction::Add);
  // A new request (`action`) for an existing pair that keeps its version, progress and attempts:
  // moves it to `state`, records the action, clears last_error and next_attempt_at.
  Status setStateFor(std::string_view package_id, std::string_view dp, DistributionState state,
                     JobAction action);
  // Moves the pair to `state`, setting last_error to `last_error` ("" clears it) and clearing
  // next_attempt_at. updated_at changes even if the state does not.
  Status setState(std::string_view package_id, std::string_view dp, DistributionState state,
                  std::string_view last_error = {});
  Status setProgress(std::string_view package_id, std::string_view dp, const Progress& progress);
  // Adds one to attempts and returns the new count.
  Result<int> incrementAttempts(std::string_view package_id, std::string_view dp);
  // state retrying, with the error and the time of the next attempt.
  Status scheduleRetry(std::string_view package_id, std::string_view dp, std::string_view error,
                       Timestamp next_attempt_at);

  Result<DistributionRow> get(std::string_view package_id, std::string_view dp);
  // By package ID, then DP name.
  Result<std::vector<DistributionRow>> list(const DistributionFilter& filter = {});
  // Pairs in state retrying whose next_attempt_at is at or before `now`, earliest first.
  Result<std::vector<DistributionRow>> listDueRetries(Timestamp now);
  // Whether any pair is retrying (due or not): the distribution manager then polls by time.
  Result<bool> anyRetrying();
  // Whether the site has put content on `dp`: a pair installed, or being sent, validated or
  // removed there, or a transfer job to it that finished (its library must then be the one the
  // site initialised, even while a new request restarts the pair).
  Result<bool> dpHoldsContent(std::string_view dp);

 private:
  Database& db_;
};

}  // namespace pkgxfer::store
