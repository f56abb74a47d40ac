#pragma once

// The site's side of each transfer job to a pull DP (issue 15): the phase of the transfer
// manager's pull cycle the job is in, the counts each cycle's limit is checked against and when
// its next step is due. The transfer manager writes it at every step, so after a restart (kill -9
// included) it rebuilds every timer from here: a job waiting for a source checks again at its
// next_at, a notified job checks on the pull DP at its own.
//
// Not thread-safe: use it where its Database is used. The Database must outlive it.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/transfer_job_repository.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store {

enum class PullPhase {
  SourceCheck,  // checking the pull DP's sources for the content (every pull_source_recheck)
  Notify,       // a source has it: notifying the pull DP (retried with backoff)
  StatusWait,   // notified: waiting for its status (checking on it after pull_status_timeout)
};
std::string_view toString(PullPhase phase);
Result<PullPhase> parsePullPhase(std::string_view text);

struct PullTransfer {
  std::int64_t job_id = 0;
  PullPhase phase = PullPhase::SourceCheck;
  int source_checks = 0;    // checks that found no source holding the content
  int notify_failures = 0;  // failed notifications since the phase began
  int status_checks = 0;    // checks on the pull DP since its last status (or the notification)
  Timestamp next_at{};      // when the phase's next step is due
  std::optional<Timestamp> waiting_since;  // StatusWait: since when status is awaited
  Timestamp updated_at{};                  // ignored by save()
};

class PullTransferRepository {
 public:
  explicit PullTransferRepository(Database& db) : db_(db) {}

  // The job's row; nullopt if it has none yet.
  Result<std::optional<PullTransfer>> get(std::int64_t job_id);
  // Inserts or replaces the job's row. NotFound if the transfer job does not exist.
  Status save(const PullTransfer& transfer);
  // Queued distributions (add, redistribute) to pull DPs, oldest first: what the transfer manager
  // takes into its pull cycle (never into its worker pool). A validate or a remove of a pull DP
  // goes through its HTTP transport like a standard DP's, and is not listed.
  Result<std::vector<TransferJob>> listQueued();

 private:
  Database& db_;
};

}  // namespace pkgxfer::store
