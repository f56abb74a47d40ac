#include "pkgxfer/distribution/pair_states.h"

namespace pkgxfer::distribution {

using store::DistributionState;
using store::JobAction;

DistributionState queuedState(JobAction action) {
  switch (action) {
    case JobAction::Validate:
      return DistributionState::Verifying;
    case JobAction::Remove:
      return DistributionState::Removing;
    case JobAction::Add:
    case JobAction::Redistribute:
      break;
  }
  return DistributionState::Waiting;
}

bool needsLiveWork(DistributionState state) {
  switch (state) {
    case DistributionState::Checking:
    case DistributionState::Waiting:
    case DistributionState::Transferring:
    case DistributionState::Verifying:
    case DistributionState::Removing:
      return true;
    case DistributionState::WaitingSource:  // pull DPs: the pull DP cycles own these
    case DistributionState::Notified:
    case DistributionState::Pulling:
    case DistributionState::Installed:
    case DistributionState::Retrying:  // listDueRetries() picks it up
    case DistributionState::Failed:
    case DistributionState::Removed:
      break;
  }
  return false;
}

DistributionState runningState(JobAction action) {
  // A validate or a remove shows the same state waiting and running; a transfer says when it
  // begins.
  const bool transfer = action == JobAction::Add || action == JobAction::Redistribute;
  return transfer ? DistributionState::Transferring : queuedState(action);
}

PairStates::PairStates(store::Database& db, const config::DistributionConfig& cfg, Clock& clock,
                       Logger log)
    : repo_(db), cfg_(cfg), clock_(clock), log_(std::move(log)) {}

Result<int> PairStates::request(std::string_view package_id, std::string_view dp, JobAction action,
                                int latest_version) {
  if (action == JobAction::Add || action == JobAction::Redistribute) {
    PKGXFER_RETURN_IF_ERROR(
        repo_.start(package_id, dp, latest_version, DistributionState::Checking, action));
    return latest_version;
  }
  auto existing = repo_.get(package_id, dp);
  if (!existing.ok()) {
    if (existing.status().code() != Status::Code::NotFound) return existing.status();
    PKGXFER_RETURN_IF_ERROR(
        repo_.start(package_id, dp, latest_version, queuedState(action), action));
    return latest_version;
  }
  // A validate of a pair that was removed checks the latest version; otherwise the version the
  // pair holds (or last held) is the one to check or remove.
  int version = existing->version;
  if (action == JobAction::Validate && existing->state == DistributionState::Removed) {
    version = latest_version;
    PKGXFER_RETURN_IF_ERROR(repo_.start(package_id, dp, version, queuedState(action), action));
    return version;
  }
  PKGXFER_RETURN_IF_ERROR(repo_.setStateFor(package_id, dp, queuedState(action), action));
  return version;
}

Status PairStates::checking(std::string_view package_id, std::string_view dp) {
  return repo_.setState(package_id, dp, DistributionState::Checking);
}

Status PairStates::queued(std::string_view package_id, std::string_view dp, JobAction action) {
  return repo_.setState(package_id, dp, queuedState(action));
}

Status PairStates::running(std::string_view package_id, std::string_view dp, JobAction action) {
  return repo_.setState(package_id, dp, runningState(action));
}

Status PairStates::committing(std::string_view package_id, std::string_view dp) {
  return repo_.setState(package_id, dp, DistributionState::Verifying);
}

Status PairStates::waitingForWindow(std::string_view package_id, std::string_view dp,
                                    std::string_view why) {
  return repo_.setState(package_id, dp, DistributionState::Waiting, why);
}

Status PairStates::progress(std::string_view package_id, std::string_view dp,
                            const store::Progress& progress) {
  return repo_.setProgress(package_id, dp, progress);
}

Status PairStates::waitingSource(std::string_view package_id, std::string_view dp,
                                 std::string_view why) {
  return repo_.setState(package_id, dp, DistributionState::WaitingSource, why);
}

Status PairStates::notified(std::string_view package_id, std::string_view dp) {
  return repo_.setState(package_id, dp, DistributionState::Notified);
}

Status PairStates::pulling(std::string_view package_id, std::string_view dp,
                           const store::Progress& progress) {
  PKGXFER_RETURN_IF_ERROR(repo_.setProgress(package_id, dp, progress));
  return repo_.setState(package_id, dp, DistributionState::Pulling);
}

Status PairStates::installed(std::string_view package_id, std::string_view dp) {
  return repo_.setState(package_id, dp, DistributionState::Installed);
}

Status PairStates::removed(std::string_view package_id, std::string_view dp) {
  return repo_.setState(package_id, dp, DistributionState::Removed);
}

Status PairStates::validationFailed(std::string_view package_id, std::string_view dp,
                                    std::string_view detail) {
  return repo_.setState(package_id, dp, DistributionState::Failed,
                        "validation failed: " + std::string(detail));
}

Status PairStates::failed(std::string_view package_id, std::string_view dp, std::string_view why) {
  return repo_.setState(package_id, dp, DistributionState::Failed, why);
}

Result<RetryDecision> PairStates::attemptFailed(std::string_view package_id, std::string_view dp,
                                                const Status& error, std::string_view what) {
  return recordFailure(repo_, package_id, dp, error, cfg_, clock_.systemNow(), log_, what);
}

Result<bool> PairStates::ownedBy(const store::TransferJob& job) {
  PKGXFER_ASSIGN_OR_RETURN(store::DistributionRow row, repo_.get(job.package_id, job.dp));
  return row.version == job.version && row.action == job.action;
}

}  // namespace pkgxfer::distribution
