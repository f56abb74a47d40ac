#include "pkgxfer/store/pull_transfer_repository.h"

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

std::string_view toString(PullPhase phase) {
  switch (phase) {
    case PullPhase::SourceCheck:
      return "source_check";
    case PullPhase::Notify:
      return "notify";
    case PullPhase::StatusWait:
      return "status_wait";
  }
  return "unknown";
}

Result<PullPhase> parsePullPhase(std::string_view text) {
  for (PullPhase p : {PullPhase::SourceCheck, PullPhase::Notify, PullPhase::StatusWait}) {
    if (toString(p) == text) return p;
  }
  return Status::InvalidArgument("pull phase must be source_check, notify or status_wait, got \"" +
                                 std::string(text) + "\"");
}

Result<std::optional<PullTransfer>> PullTransferRepository::get(std::int64_t job_id) {
  auto run = [&]() -> Result<std::optional<PullTransfer>> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT job_id, phase, source_checks, notify_failures, "
                                 "status_checks, next_at, waiting_since, updated_at FROM "
                                 "pull_transfers WHERE job_id = ?1"));
    stmt.bind(1, job_id);
    PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
    if (!found) return std::optional<PullTransfer>();
    PullTransfer t;
    t.job_id = stmt.columnInt64(0);
    PKGXFER_ASSIGN_OR_RETURN(t.phase, internal::columnEnum(stmt, 1, parsePullPhase));
    t.source_checks = static_cast<int>(stmt.columnInt64(2));
    t.notify_failures = static_cast<int>(stmt.columnInt64(3));
    t.status_checks = static_cast<int>(stmt.columnInt64(4));
    PKGXFER_ASSIGN_OR_RETURN(t.next_at, stmt.columnTime(5));
    PKGXFER_ASSIGN_OR_RETURN(t.waiting_since, stmt.columnOptionalTime(6));
    PKGXFER_ASSIGN_OR_RETURN(t.updated_at, stmt.columnTime(7));
    return std::optional<PullTransfer>(std::move(t));
  };
  return internal::withContext(run(),
                               "read the pull cycle of transfer job " + std::to_string(job_id));
}

Status PullTransferRepository::save(const PullTransfer& t) {
  auto run = [&]() -> Status {
    return internal::inWriteTransaction(db_, [&]() -> Status {
      Connection& conn = db_.connection();
      PKGXFER_RETURN_IF_ERROR(internal::requireJob(conn, t.job_id));
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("INSERT INTO pull_transfers (job_id, phase, source_checks, "
                       "notify_failures, status_checks, next_at, waiting_since, updated_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (job_id) DO UPDATE "
                       "SET phase = ?2, source_checks = ?3, notify_failures = ?4, "
                       "status_checks = ?5, next_at = ?6, waiting_since = ?7, updated_at = ?8"));
      stmt.bindAll(t.job_id, toString(t.phase), t.source_checks, t.notify_failures, t.status_checks,
                   t.next_at, t.waiting_since, conn.now());
      return stmt.exec();
    });
  };
  return internal::withContext(run(),
                               "save the pull cycle of transfer job " + std::to_string(t.job_id));
}

Result<std::vector<TransferJob>> PullTransferRepository::listQueued() {
  auto run = [&]() -> Result<std::vector<TransferJob>> {
    std::vector<std::int64_t> ids;
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          db_.connection().prepare(
              "SELECT j.id FROM transfer_jobs j JOIN distribution_points d ON d.name = j.dp "
              "WHERE j.state = 'queued' AND d.type = 'pull' AND j.action IN ('add', "
              "'redistribute') "
              "ORDER BY j.id"));
      while (true) {
        PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
        if (!more) break;
        ids.push_back(stmt.columnInt64(0));
      }
    }
    std::vector<TransferJob> jobs;
    TransferJobRepository repo(db_);
    for (std::int64_t id : ids) {
      PKGXFER_ASSIGN_OR_RETURN(TransferJob job, repo.get(id));
      jobs.push_back(std::move(job));
    }
    return jobs;
  };
  return internal::withContext(run(), "list the queued transfer jobs of pull DPs");
}

}  // namespace pkgxfer::store
