#include "pkgxfer/store/pull_job_repository.h"

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

namespace {

constexpr std::string_view kColumns =
    "id, job_id, dp, package_id, version, redistribute, notification, state, sequence, "
    "acked_sequence, attempts, bytes_total, bytes_done, files_total, files_done, error, source, "
    "received_at, updated_at";

Result<PullJobRow> readRow(const Statement& stmt) {
  PullJobRow row;
  row.id = stmt.columnInt64(0);
  row.job_id = stmt.columnInt64(1);
  row.dp = stmt.columnText(2);
  row.package_id = stmt.columnText(3);
  row.version = static_cast<std::uint64_t>(stmt.columnInt64(4));
  row.redistribute = stmt.columnInt64(5) != 0;
  row.notification = stmt.columnText(6);
  row.progress.state = stmt.columnText(7);
  row.sequence = static_cast<std::uint64_t>(stmt.columnInt64(8));
  row.acked_sequence = static_cast<std::uint64_t>(stmt.columnInt64(9));
  row.attempts = static_cast<int>(stmt.columnInt64(10));
  row.progress.bytes_total = static_cast<std::uint64_t>(stmt.columnInt64(11));
  row.progress.bytes_done = static_cast<std::uint64_t>(stmt.columnInt64(12));
  row.progress.files_total = static_cast<std::uint64_t>(stmt.columnInt64(13));
  row.progress.files_done = static_cast<std::uint64_t>(stmt.columnInt64(14));
  row.progress.error = stmt.columnText(15);
  row.progress.source = stmt.columnText(16);
  PKGXFER_ASSIGN_OR_RETURN(row.received_at, stmt.columnTime(17));
  PKGXFER_ASSIGN_OR_RETURN(row.updated_at, stmt.columnTime(18));
  return row;
}

Result<std::vector<PullJobRow>> readRows(Statement& stmt) {
  std::vector<PullJobRow> rows;
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    PKGXFER_ASSIGN_OR_RETURN(PullJobRow r, readRow(stmt));
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string jobContext(std::int64_t job_id) { return "pull job " + std::to_string(job_id); }

}  // namespace

std::filesystem::path pullDpDatabasePath(const std::filesystem::path& content_library) {
  return content_library / "pulldp.db";
}

Result<bool> PullJobRepository::insert(const NewPullJob& job) {
  if (job.job_id <= 0) {
    return Status::InvalidArgument("pull job id must be 1 or more, got " +
                                   std::to_string(job.job_id));
  }
  Connection& conn = db_.connection();
  return internal::inWriteTransaction(db_, [&]() -> Result<bool> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("INSERT INTO pull_jobs (job_id, dp, package_id, version, redistribute, "
                     "notification, received_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                     "?7) ON CONFLICT (job_id) DO NOTHING"));
    stmt.bindAll(job.job_id, job.dp, job.package_id, job.version, job.redistribute,
                 job.notification, conn.now());
    PKGXFER_RETURN_IF_ERROR(stmt.exec().withContext(jobContext(job.job_id)));
    return stmt.changes() > 0;
  });
}

Result<PullJobRow> PullJobRepository::find(std::int64_t job_id) {
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt,
                           db_.connection().prepare("SELECT " + std::string(kColumns) +
                                                    " FROM pull_jobs WHERE job_id = ?1"));
  stmt.bindAll(job_id);
  PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) return Status::NotFound(jobContext(job_id) + " is unknown");
  return readRow(stmt);
}

Result<std::vector<PullJobRow>> PullJobRepository::listRunnable(std::size_t limit,
                                                                std::int64_t after_id) {
  PKGXFER_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.connection().prepare("SELECT " + std::string(kColumns) +
                               " FROM pull_jobs WHERE state IN ('queued', 'downloading') AND "
                               "id > ?1 ORDER BY id LIMIT ?2"));
  stmt.bindAll(after_id, static_cast<std::int64_t>(limit));
  return readRows(stmt);
}

Result<std::vector<PullJobRow>> PullJobRepository::listUnreported() {
  PKGXFER_ASSIGN_OR_RETURN(
      Statement stmt, db_.connection().prepare("SELECT " + std::string(kColumns) +
                                               " FROM pull_jobs WHERE sequence > acked_sequence "
                                               "ORDER BY id"));
  return readRows(stmt);
}

Result<std::uint64_t> PullJobRepository::update(std::int64_t job_id, const PullJobProgress& p,
                                                bool bump_sequence) {
  Connection& conn = db_.connection();
  return internal::inWriteTransaction(db_, [&]() -> Result<std::uint64_t> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("UPDATE pull_jobs SET state = ?2, bytes_total = ?3, bytes_done = ?4, "
                     "files_total = ?5, files_done = ?6, error = ?7, source = ?8, "
                     "sequence = sequence + ?9, updated_at = ?10 WHERE job_id = ?1 "
                     "RETURNING sequence"));
    stmt.bindAll(job_id, p.state, p.bytes_total, p.bytes_done, p.files_total, p.files_done, p.error,
                 p.source, bump_sequence ? 1 : 0, conn.now());
    PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return Status::NotFound(jobContext(job_id) + " is unknown");
    const auto sequence = static_cast<std::uint64_t>(stmt.columnInt64(0));
    PKGXFER_RETURN_IF_ERROR(stmt.exec());  // finish the statement before the commit
    return sequence;
  });
}

Result<int> PullJobRepository::addAttempt(std::int64_t job_id) {
  Connection& conn = db_.connection();
  return internal::inWriteTransaction(db_, [&]() -> Result<int> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("UPDATE pull_jobs SET attempts = attempts + 1 WHERE job_id = ?1 "
                     "RETURNING attempts"));
    stmt.bindAll(job_id);
    PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return Status::NotFound(jobContext(job_id) + " is unknown");
    const int attempts = static_cast<int>(stmt.columnInt64(0));
    PKGXFER_RETURN_IF_ERROR(stmt.exec());
    return attempts;
  });
}

Status PullJobRepository::acknowledge(std::int64_t job_id, std::uint64_t sequence) {
  Connection& conn = db_.connection();
  return internal::inWriteTransaction(db_, [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("UPDATE pull_jobs SET acked_sequence = max(acked_sequence, ?2) "
                     "WHERE job_id = ?1"));
    stmt.bindAll(job_id, sequence);
    return stmt.exec();
  });
}

Result<std::size_t> PullJobRepository::pruneFinished(Timestamp before) {
  return internal::inWriteTransaction(db_, [&]() -> Result<std::size_t> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("DELETE FROM pull_jobs WHERE state IN ('installed', 'failed') "
                                 "AND sequence <= acked_sequence AND updated_at < ?1"));
    stmt.bindAll(before);
    PKGXFER_RETURN_IF_ERROR(stmt.exec());
    return static_cast<std::size_t>(stmt.changes());
  });
}

Status PullJobRepository::savePartial(std::int64_t job_id, const PullPartial& partial) {
  Connection& conn = db_.connection();
  return internal::inWriteTransaction(db_, [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("INSERT INTO pull_partials (job_id, sha256, temp_name, durable_offset, "
                     "updated_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (job_id, sha256) DO "
                     "UPDATE SET temp_name = excluded.temp_name, durable_offset = "
                     "excluded.durable_offset, updated_at = excluded.updated_at"));
    stmt.bindAll(job_id, partial.sha256, partial.temp_name, partial.offset, conn.now());
    return stmt.exec().withContext(jobContext(job_id));
  });
}

Status PullJobRepository::forgetPartial(std::int64_t job_id, std::string_view sha256) {
  return internal::inWriteTransaction(db_, [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("DELETE FROM pull_partials WHERE job_id = ?1 AND sha256 = ?2"));
    stmt.bindAll(job_id, sha256);
    return stmt.exec();
  });
}

Status PullJobRepository::forgetPartials(std::int64_t job_id) {
  return internal::inWriteTransaction(db_, [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt, db_.connection().prepare("DELETE FROM pull_partials WHERE job_id = ?1"));
    stmt.bindAll(job_id);
    return stmt.exec();
  });
}

Result<std::vector<PullPartial>> PullJobRepository::partials(std::int64_t job_id) {
  PKGXFER_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.connection().prepare("SELECT sha256, temp_name, durable_offset FROM pull_partials "
                               "WHERE job_id = ?1 ORDER BY sha256"));
  stmt.bindAll(job_id);
  std::vector<PullPartial> out;
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) break;
    out.push_back(
        {stmt.columnText(0), stmt.columnText(1), static_cast<std::uint64_t>(stmt.columnInt64(2))});
  }
  return out;
}

}  // namespace pkgxfer::store
