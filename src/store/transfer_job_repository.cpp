#include "pkgxfer/store/transfer_job_repository.h"

#include <algorithm>

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

namespace {

constexpr std::string_view kColumns =
    "id, package_id, version, dp, action, priority, state, bytes_total, bytes_done, files_total, "
    "files_done, error, created_at, started_at, finished_at, updated_at";

constexpr std::string_view kPartialColumns =
    "job_id, sha256, size, body_offset, temp_name, updated_at";

Result<TransferJob> readJob(const Statement& stmt) {
  TransferJob job;
  job.id = stmt.columnInt64(0);
  job.package_id = stmt.columnText(1);
  job.version = static_cast<int>(stmt.columnInt64(2));
  job.dp = stmt.columnText(3);
  PKGXFER_ASSIGN_OR_RETURN(job.action, internal::columnEnum(stmt, 4, parseJobAction));
  PKGXFER_ASSIGN_OR_RETURN(job.priority, internal::columnEnum(stmt, 5, parsePriority));
  PKGXFER_ASSIGN_OR_RETURN(job.state, internal::columnEnum(stmt, 6, parseJobState));
  job.progress.bytes_total = static_cast<std::uint64_t>(stmt.columnInt64(7));
  job.progress.bytes_done = static_cast<std::uint64_t>(stmt.columnInt64(8));
  job.progress.files_total = static_cast<std::uint64_t>(stmt.columnInt64(9));
  job.progress.files_done = static_cast<std::uint64_t>(stmt.columnInt64(10));
  job.error = stmt.columnText(11);
  PKGXFER_ASSIGN_OR_RETURN(job.created_at, stmt.columnTime(12));
  PKGXFER_ASSIGN_OR_RETURN(job.started_at, stmt.columnOptionalTime(13));
  PKGXFER_ASSIGN_OR_RETURN(job.finished_at, stmt.columnOptionalTime(14));
  PKGXFER_ASSIGN_OR_RETURN(job.updated_at, stmt.columnTime(15));
  return job;
}

Result<std::vector<TransferJob>> readJobs(Statement& stmt) {
  std::vector<TransferJob> jobs;
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
    if (!more) break;
    PKGXFER_ASSIGN_OR_RETURN(TransferJob job, readJob(stmt));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Result<TransferJob> fetchJob(Connection& conn, std::int64_t id) {
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt, conn.prepare("SELECT " + std::string(kColumns) +
                                                        " FROM transfer_jobs WHERE id = ?1"));
  stmt.bindAll(id);
  PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
  if (!found) return Status::NotFound("transfer job " + std::to_string(id) + " does not exist");
  return readJob(stmt);
}

Result<PartialBody> readPartial(const Statement& stmt) {
  PartialBody body;
  body.job_id = stmt.columnInt64(0);
  body.sha256 = stmt.columnText(1);
  body.size = static_cast<std::uint64_t>(stmt.columnInt64(2));
  body.offset = static_cast<std::uint64_t>(stmt.columnInt64(3));
  body.temp_name = stmt.columnText(4);
  PKGXFER_ASSIGN_OR_RETURN(body.updated_at, stmt.columnTime(5));
  return body;
}

std::string jobName(std::int64_t id) { return "transfer job " + std::to_string(id); }

// movePartials() inside the caller's transaction.
Status movePartialsIn(Connection& conn, std::int64_t from, std::int64_t to) {
  PKGXFER_ASSIGN_OR_RETURN(TransferJob source, fetchJob(conn, from));
  PKGXFER_ASSIGN_OR_RETURN(TransferJob target, fetchJob(conn, to));
  if (source.dp != target.dp) {
    return Status::InvalidArgument("the jobs target different DPs (" + source.dp + ", " +
                                   target.dp + ")");
  }
  {
    // A body the target already records keeps the target's entry; the source's is dropped.
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("UPDATE OR IGNORE transfer_partials SET job_id = ?2 WHERE job_id = ?1"));
    stmt.bindAll(from, to);
    PKGXFER_RETURN_IF_ERROR(stmt.exec());
  }
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt,
                           conn.prepare("DELETE FROM transfer_partials WHERE job_id = ?1"));
  stmt.bindAll(from);
  return stmt.exec();
}

}  // namespace

Result<std::int64_t> TransferJobRepository::create(const NewTransferJob& job) {
  auto run = [&]() -> Result<std::int64_t> {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    PKGXFER_RETURN_IF_ERROR(internal::requirePackageVersion(conn, job.package_id, job.version));
    PKGXFER_RETURN_IF_ERROR(internal::requireDp(conn, job.dp, /*configured=*/false));
    std::int64_t id = 0;
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare(
              "INSERT INTO transfer_jobs (package_id, version, dp, action, priority, "
              "state, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?6)"));
      stmt.bindAll(job.package_id, job.version, job.dp, toString(job.action),
                   toString(job.priority), conn.now());
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
      id = stmt.lastInsertRowid();
    }
    if (job.resume_from != 0) {
      // A job that no longer exists has nothing to hand over.
      Status moved = movePartialsIn(conn, job.resume_from, id);
      if (!moved.ok() && moved.code() != Status::Code::NotFound) {
        return moved.withContext("take over the partial bodies of " + jobName(job.resume_from));
      }
    }
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    return id;
  };
  return internal::withContext(run(), "create " + std::string(toString(job.action)) +
                                          " job for package " + job.package_id + " version " +
                                          std::to_string(job.version) + " on " + job.dp);
}

Result<TransferJob> TransferJobRepository::get(std::int64_t id) {
  return internal::withContext(fetchJob(db_.connection(), id), "get " + jobName(id));
}

Result<std::vector<TransferJob>> TransferJobRepository::list(const TransferJobFilter& filter) {
  auto run = [&]() -> Result<std::vector<TransferJob>> {
    std::string sql = "SELECT " + std::string(kColumns) + " FROM transfer_jobs WHERE 1";
    if (filter.package_id) sql += " AND package_id = ?1";
    if (filter.dp) sql += " AND dp = ?2";
    if (!filter.states.empty()) {
      sql += " AND state IN (";
      for (std::size_t i = 0; i < filter.states.size(); ++i) {
        if (i > 0) sql += ", ";
        sql += "'" + std::string(toString(filter.states[i])) + "'";  // fixed enum spellings
      }
      sql += ")";
    }
    sql += " ORDER BY id";
    PKGXFER_ASSIGN_OR_RETURN(Statement stmt, db_.connection().prepare(sql));
    if (filter.package_id) stmt.bind(1, *filter.package_id);
    if (filter.dp) stmt.bind(2, *filter.dp);
    return readJobs(stmt);
  };
  return internal::withContext(run(), "list transfer jobs");
}

Result<std::vector<TransferJob>> TransferJobRepository::listRunnable(int limit,
                                                                     std::int64_t after_id) {
  auto run = [&]() -> Result<std::vector<TransferJob>> {
    if (limit <= 0) {
      return Status::InvalidArgument("limit must be positive, got " + std::to_string(limit));
    }
    if (after_id == 0) {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          db_.connection().prepare("SELECT " + std::string(kColumns) +
                                   " FROM transfer_jobs WHERE state IN ('queued', 'paused') "
                                   "ORDER BY priority_rank, created_at, id LIMIT ?1"));
      stmt.bindAll(limit);
      return readJobs(stmt);
    }
    // The next page: the rows after job `after_id` in the same order (a keyset on the runnable
    // index; the job itself need not be runnable any more).
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare(
            "SELECT " + std::string(kColumns) +
            " FROM transfer_jobs WHERE state IN ('queued', 'paused') AND "
            "(priority_rank, created_at, id) > (SELECT priority_rank, created_at, id FROM "
            "transfer_jobs WHERE id = ?2) ORDER BY priority_rank, created_at, id LIMIT ?1"));
    stmt.bindAll(limit, after_id);
    return readJobs(stmt);
  };
  return internal::withContext(run(), "list runnable transfer jobs");
}

Status TransferJobRepository::setState(std::int64_t id, JobState state, std::string_view error) {
  auto run = [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("UPDATE transfer_jobs SET state = ?2, error = ?3, updated_at = ?4, "
                       "started_at = CASE WHEN ?2 = 'running' THEN coalesce(started_at, ?4) "
                       "ELSE started_at END, "
                       "finished_at = CASE WHEN ?5 THEN ?4 ELSE NULL END "
                       "WHERE id = ?1 AND state NOT IN ('done', 'failed', 'superseded', "
                       "'cancelled')"));
      const Timestamp now = conn.now();
      stmt.bindAll(id, toString(state), error, now, isTerminal(state));
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
      if (stmt.changes() == 0) {
        PKGXFER_ASSIGN_OR_RETURN(TransferJob job, fetchJob(conn, id));
        return Status::InvalidArgument(jobName(id) + " is already " +
                                       std::string(toString(job.state)));
      }
    }
    return tx.commit();
  };
  return run().withContext("set " + jobName(id) + " " + std::string(toString(state)));
}

Status TransferJobRepository::setProgress(std::int64_t id, const Progress& progress) {
  auto run = [&]() -> Status {
    Connection& conn = db_.connection();
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("UPDATE transfer_jobs SET bytes_total = ?2, bytes_done = ?3, "
                     "files_total = ?4, files_done = ?5, updated_at = ?6 WHERE id = ?1"));
    stmt.bindAll(id, progress.bytes_total, progress.bytes_done, progress.files_total,
                 progress.files_done, conn.now());
    PKGXFER_RETURN_IF_ERROR(stmt.exec());
    if (stmt.changes() == 0) return Status::NotFound(jobName(id) + " does not exist");
    return Status::Ok();
  };
  return internal::inWriteTransaction(db_, run).withContext("set progress of " + jobName(id));
}

Result<std::vector<std::int64_t>> TransferJobRepository::supersedeOlder(std::string_view package_id,
                                                                        std::string_view dp,
                                                                        int version) {
  auto run = [&]() -> Result<std::vector<std::int64_t>> {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    std::vector<std::int64_t> ids;
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("UPDATE transfer_jobs SET state = 'superseded', finished_at = ?4, "
                       "updated_at = ?4 WHERE package_id = ?1 AND dp = ?2 AND version < ?3 AND "
                       "state IN ('queued', 'running', 'paused') RETURNING id"));
      stmt.bindAll(package_id, dp, version, conn.now());
      while (true) {
        PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
        if (!more) break;
        ids.push_back(stmt.columnInt64(0));
      }
    }
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  return internal::withContext(
      run(), "supersede jobs of package " + std::string(package_id) + " on " + std::string(dp));
}

Result<int> TransferJobRepository::requeueInterrupted() {
  auto run = [&]() -> Result<int> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("UPDATE transfer_jobs SET state = 'queued', updated_at = ?1 "
                                 "WHERE state = 'running'"));
    stmt.bindAll(db_.connection().now());
    PKGXFER_RETURN_IF_ERROR(stmt.exec());
    return static_cast<int>(stmt.changes());
  };
  return internal::withContext(internal::inWriteTransaction(db_, run),
                               "requeue interrupted transfer jobs");
}

Status TransferJobRepository::savePartial(const PartialBody& body) {
  auto run = [&]() -> Status {
    if (!isValidSha256(body.sha256)) {
      return Status::InvalidArgument("'" + body.sha256 + "' is not 64 lower-case hex digits");
    }
    if (body.offset > body.size) {
      return Status::InvalidArgument("offset " + std::to_string(body.offset) +
                                     " is past the body's size " + std::to_string(body.size));
    }
    if (body.temp_name.empty()) return Status::InvalidArgument("empty temporary name");
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    PKGXFER_RETURN_IF_ERROR(internal::requireJob(conn, body.job_id));
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("INSERT INTO transfer_partials (" + std::string(kPartialColumns) +
                       ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job_id, sha256) DO UPDATE "
                       "SET size = excluded.size, body_offset = excluded.body_offset, "
                       "temp_name = excluded.temp_name, updated_at = excluded.updated_at"));
      stmt.bindAll(body.job_id, body.sha256, body.size, body.offset, body.temp_name, conn.now());
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
    }
    return tx.commit();
  };
  return run().withContext("save partial body " + body.sha256 + " of " + jobName(body.job_id));
}

Result<std::optional<PartialBody>> TransferJobRepository::findPartial(std::int64_t job_id,
                                                                      std::string_view sha256) {
  auto run = [&]() -> Result<std::optional<PartialBody>> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT " + std::string(kPartialColumns) +
                                 " FROM transfer_partials WHERE job_id = ?1 AND sha256 = ?2"));
    stmt.bindAll(job_id, sha256);
    PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
    if (!found) return std::optional<PartialBody>();
    PKGXFER_ASSIGN_OR_RETURN(PartialBody body, readPartial(stmt));
    return std::optional<PartialBody>(std::move(body));
  };
  return internal::withContext(
      run(), "find partial body " + std::string(sha256) + " of " + jobName(job_id));
}

Result<std::vector<PartialBody>> TransferJobRepository::listPartials(std::int64_t job_id) {
  auto run = [&]() -> Result<std::vector<PartialBody>> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT " + std::string(kPartialColumns) +
                                 " FROM transfer_partials WHERE job_id = ?1 ORDER BY sha256"));
    stmt.bindAll(job_id);
    std::vector<PartialBody> bodies;
    while (true) {
      PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
      if (!more) break;
      PKGXFER_ASSIGN_OR_RETURN(PartialBody body, readPartial(stmt));
      bodies.push_back(std::move(body));
    }
    return bodies;
  };
  return internal::withContext(run(), "list partial bodies of " + jobName(job_id));
}

Status TransferJobRepository::deletePartial(std::int64_t job_id, std::string_view sha256) {
  auto run = [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt, db_.connection().prepare(
                            "DELETE FROM transfer_partials WHERE job_id = ?1 AND sha256 = ?2"));
    stmt.bindAll(job_id, sha256);
    return stmt.exec();
  };
  return internal::inWriteTransaction(db_, run).withContext(
      "delete partial body " + std::string(sha256) + " of " + jobName(job_id));
}

Status TransferJobRepository::clearPartials(std::int64_t job_id) {
  auto run = [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("DELETE FROM transfer_partials WHERE job_id = ?1"));
    stmt.bindAll(job_id);
    return stmt.exec();
  };
  return internal::inWriteTransaction(db_, run).withContext("clear partial bodies of " +
                                                            jobName(job_id));
}

Result<std::vector<TransferJob>> TransferJobRepository::listAbandonedPartials(int limit) {
  auto run = [&]() -> Result<std::vector<TransferJob>> {
    if (limit <= 0) {
      return Status::InvalidArgument("limit must be positive, got " + std::to_string(limit));
    }
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare(
            "SELECT " + std::string(kColumns) +
            " FROM transfer_jobs AS j WHERE id IN (SELECT job_id FROM transfer_partials) AND "
            "(state IN ('done', 'cancelled', 'superseded') OR (state = 'failed' AND NOT EXISTS "
            "(SELECT 1 FROM distributions AS d WHERE d.package_id = j.package_id AND d.dp = j.dp "
            "AND d.version = j.version AND d.state IN ('retrying', 'checking')))) "
            "ORDER BY id LIMIT ?1"));
    stmt.bindAll(limit);
    return readJobs(stmt);
  };
  return internal::withContext(run(), "list abandoned partial bodies");
}

Status TransferJobRepository::movePartials(std::int64_t from, std::int64_t to) {
  auto run = [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    PKGXFER_RETURN_IF_ERROR(movePartialsIn(db_.connection(), from, to));
    return tx.commit();
  };
  return run().withContext("move partial bodies from " + jobName(from) + " to job " +
                           std::to_string(to));
}

}  // namespace pkgxfer::store
