#pragma once

// PairStates: every change of a (package, DP) pair's state (SPEC §5: what `pkgxfer status`
// shows), in one place for both site components. The distribution manager records requests,
// checks and the jobs it creates; the transfer manager records what its jobs do. Each transition
// here is named for what happened, so a state means the same whoever wrote it, and the retry
// policy (retry_policy.h) is applied the same way to a failed check and to a failed job.
//
//   request ──► checking ──► queued (waiting) ──► running (transferring) ──► committing
//      │            │            │                     │                    (verifying)
//      │            │            └─ waitingForWindow ◄─┘                        │
//      │            └─► attemptFailed ──► retrying ──► checking …  / failed      ▼
//      │                                                                    installed
//      └─ pull DP: queued ──► waitingSource ──► notified ──► pulling ──► installed
//                              (the transfer manager)   (status messages, the distribution
//                                                        manager) … attemptFailed / failed
//      └─ validate: verifying ──► installed | validationFailed (failed)
//      └─ remove:   removing  ──► removed
//
// Not thread-safe: used on the owning component's strand, with that component's Database.

#include <string>
#include <string_view>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/distribution/retry_policy.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/distribution_repository.h"
#include "pkgxfer/store/transfer_job_repository.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::distribution {

// The state a pair shows while a job of `action` waits to run: waiting (add, redistribute),
// verifying (validate), removing (remove).
store::DistributionState queuedState(store::JobAction action);
// Whether a pair in `state` is explained only by work in progress: a preliminary check (checking)
// or an unfinished job (waiting, transferring, verifying, removing). Such a pair with nothing
// working on it was left by a run that died.
bool needsLiveWork(store::DistributionState state);
// The state a pair shows while a job of `action` runs: transferring (add, redistribute),
// verifying (validate), removing (remove).
store::DistributionState runningState(store::JobAction action);

class PairStates {
 public:
  // `db`, `cfg`, `clock` and `log` must outlive the object.
  PairStates(store::Database& db, const config::DistributionConfig& cfg, Clock& clock, Logger log);

  // A new request for the pair. A distribute or redistribute starts a new distribution of
  // `latest_version` in state checking (progress and failure count start over); a validate or a
  // remove applies to the version the pair holds (`latest_version` for a pair that has none, or
  // was removed, for a validate) and goes to its queued state. Returns that version. NotFound if
  // the package version or the DP is unknown.
  Result<int> request(std::string_view package_id, std::string_view dp, store::JobAction action,
                      int latest_version);
  // A retry runs the preliminary check again.
  Status checking(std::string_view package_id, std::string_view dp);
  // A transfer job of `action` exists for the pair and waits to run.
  Status queued(std::string_view package_id, std::string_view dp, store::JobAction action);
  // Its job runs.
  Status running(std::string_view package_id, std::string_view dp, store::JobAction action);
  // Every body is on the DP and verified; the manifest is being committed (verifying).
  Status committing(std::string_view package_id, std::string_view dp);
  // The DP's schedule keeps the job from sending now; `why` says until when (state waiting).
  Status waitingForWindow(std::string_view package_id, std::string_view dp, std::string_view why);
  Status progress(std::string_view package_id, std::string_view dp,
                  const store::Progress& progress);
  // Pull DPs. No source DP holds the content yet; `why` says when it is checked again
  // (waiting_source).
  Status waitingSource(std::string_view package_id, std::string_view dp, std::string_view why);
  // The pull DP accepted the notification (notified).
  Status notified(std::string_view package_id, std::string_view dp);
  // The pull DP reported it is downloading, with its progress (pulling).
  Status pulling(std::string_view package_id, std::string_view dp, const store::Progress& progress);
  Status installed(std::string_view package_id, std::string_view dp);
  Status removed(std::string_view package_id, std::string_view dp);
  // Validation found missing or mismatched files (state failed, not retried: redistribute
  // repairs it).
  Status validationFailed(std::string_view package_id, std::string_view dp,
                          std::string_view detail);
  // Fails for good without a retry: nothing could make another attempt work (e.g. the DP is no
  // longer configured).
  Status failed(std::string_view package_id, std::string_view dp, std::string_view why);
  // An attempt (a check or a job) failed with `error`: retrying with the next attempt time or
  // failed, per the retry policy, logged as ConfigMgr logs it. `what` names the attempt for the
  // log ("Distribution of package PS100001 v2 to dp01").
  Result<RetryDecision> attemptFailed(std::string_view package_id, std::string_view dp,
                                      const Status& error, std::string_view what);

  // Whether the pair still belongs to `job`: its distribution is of the job's version, for the
  // job's action. A later request (another version, a validate or remove of an installed pair)
  // owns it otherwise, and the job's result must not be written to it. Call it in the
  // transaction that writes the result, so no request slips in between. NotFound if the pair
  // does not exist.
  Result<bool> ownedBy(const store::TransferJob& job);

  store::DistributionRepository& repository() { return repo_; }

 private:
  store::DistributionRepository repo_;
  const config::DistributionConfig& cfg_;
  Clock& clock_;
  Logger log_;
};

}  // namespace pkgxfer::distribution
