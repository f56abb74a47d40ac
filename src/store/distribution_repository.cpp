#include "pkgxfer/store/distribution_repository.h"

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

namespace {

constexpr std::string_view kColumns =
    "package_id, dp, version, state, bytes_total, bytes_done, files_total, files_done, attempts, "
    "last_error, next_attempt_at, created_at, updated_at, action";

Result<DistributionRow> readRow(const Statement& stmt) {
  DistributionRow row;
  row.package_id = stmt.columnText(0);
  row.dp = stmt.columnText(1);
  row.version = static_cast<int>(stmt.columnInt64(2));
  PKGXFER_ASSIGN_OR_RETURN(row.state, internal::columnEnum(stmt, 3, parseDistributionState));
  row.progress.bytes_total = static_cast<std::uint64_t>(stmt.columnInt64(4));
  row.progress.bytes_done = static_cast<std::uint64_t>(stmt.columnInt64(5));
  row.progress.files_total = static_cast<std::uint64_t>(stmt.columnInt64(6));
  row.progress.files_done = static_cast<std::uint64_t>(stmt.columnInt64(7));
  row.attempts = static_cast<int>(stmt.columnInt64(8));
  row.last_error = stmt.columnText(9);
  PKGXFER_ASSIGN_OR_RETURN(row.next_attempt_at, stmt.columnOptionalTime(10));
  PKGXFER_ASSIGN_OR_RETURN(row.created_at, stmt.columnTime(11));
  PKGXFER_ASSIGN_OR_RETURN(row.updated_at, stmt.columnTime(12));
  PKGXFER_ASSIGN_OR_RETURN(row.action, internal::columnEnum(stmt, 13, parseJobAction));
  return row;
}

Result<std::vector<DistributionRow>> readRows(Statement& stmt) {
  std::vector<DistributionRow> rows;
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
    if (!more) break;
    PKGXFER_ASSIGN_OR_RETURN(DistributionRow row, readRow(stmt));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string pairName(std::string_view package_id, std::string_view dp) {
  return std::string(package_id) + " on " + std::string(dp);
}

Status notFound(std::string_view package_id, std::string_view dp) {
  return Status::NotFound("no distribution of package " + pairName(package_id, dp));
}

// Runs an UPDATE of one pair bound as ?1 = package_id, ?2 = dp, then `args` as ?3, ...; NotFound
// if it matched no row.
template <typename... Args>
Status updatePair(Database& db, std::string_view sql, std::string_view package_id,
                  std::string_view dp, const Args&... args) {
  return internal::inWriteTransaction(db, [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(Statement stmt, db.connection().prepare(sql));
    stmt.bindAll(package_id, dp, args...);
    PKGXFER_RETURN_IF_ERROR(stmt.exec());
    if (stmt.changes() == 0) return notFound(package_id, dp);
    return Status::Ok();
  });
}

}  // namespace

Status DistributionRepository::start(std::string_view package_id, std::string_view dp, int version,
                                     DistributionState state, JobAction action) {
  auto run = [&]() -> Status {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    PKGXFER_RETURN_IF_ERROR(internal::requirePackageVersion(conn, package_id, version));
    PKGXFER_RETURN_IF_ERROR(internal::requireDp(conn, dp, /*configured=*/false));
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare(
              "INSERT INTO distributions (package_id, dp, version, state, action, created_at, "
              "updated_at) VALUES (?1, ?2, ?3, ?4, ?6, ?5, ?5) "
              "ON CONFLICT (package_id, dp) DO UPDATE SET version = excluded.version, "
              "state = excluded.state, action = excluded.action, bytes_total = 0, "
              "bytes_done = 0, files_total = 0, files_done = 0, attempts = 0, last_error = '', "
              "next_attempt_at = NULL, updated_at = excluded.updated_at"));
      stmt.bindAll(package_id, dp, version, toString(state), conn.now(), toString(action));
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
    }
    return tx.commit();
  };
  return run().withContext("start distribution of package " + pairName(package_id, dp));
}

Status DistributionRepository::setState(std::string_view package_id, std::string_view dp,
                                        DistributionState state, std::string_view last_error) {
  Connection& conn = db_.connection();
  return updatePair(db_,
                    "UPDATE distributions SET state = ?3, last_error = ?4, "
                    "next_attempt_at = NULL, updated_at = ?5 WHERE package_id = ?1 AND dp = ?2",
                    package_id, dp, toString(state), last_error, conn.now())
      .withContext("set state of package " + pairName(package_id, dp) + " to " +
                   std::string(toString(state)));
}

Status DistributionRepository::setStateFor(std::string_view package_id, std::string_view dp,
                                           DistributionState state, JobAction action) {
  Connection& conn = db_.connection();
  return updatePair(db_,
                    "UPDATE distributions SET state = ?3, action = ?4, last_error = '', "
                    "next_attempt_at = NULL, updated_at = ?5 WHERE package_id = ?1 AND dp = ?2",
                    package_id, dp, toString(state), toString(action), conn.now())
      .withContext("set state of package " + pairName(package_id, dp) + " to " +
                   std::string(toString(state)) + " for " + std::string(toString(action)));
}

Status DistributionRepository::setProgress(std::string_view package_id, std::string_view dp,
                                           const Progress& progress) {
  Connection& conn = db_.connection();
  return updatePair(db_,
                    "UPDATE distributions SET bytes_total = ?3, bytes_done = ?4, "
                    "files_total = ?5, files_done = ?6, updated_at = ?7 "
                    "WHERE package_id = ?1 AND dp = ?2",
                    package_id, dp, progress.bytes_total, progress.bytes_done, progress.files_total,
                    progress.files_done, conn.now())
      .withContext("set progress of package " + pairName(package_id, dp));
}

Result<int> DistributionRepository::incrementAttempts(std::string_view package_id,
                                                      std::string_view dp) {
  auto run = [&]() -> Result<int> {
    Connection& conn = db_.connection();
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("UPDATE distributions SET attempts = attempts + 1, updated_at = ?3 "
                     "WHERE package_id = ?1 AND dp = ?2 RETURNING attempts"));
    stmt.bindAll(package_id, dp, conn.now());
    PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
    if (!found) return notFound(package_id, dp);
    const int attempts = static_cast<int>(stmt.columnInt64(0));
    PKGXFER_RETURN_IF_ERROR(stmt.exec());  // run the statement to completion
    return attempts;
  };
  return internal::withContext(internal::inWriteTransaction(db_, run),
                               "count an attempt of package " + pairName(package_id, dp));
}

Status DistributionRepository::scheduleRetry(std::string_view package_id, std::string_view dp,
                                             std::string_view error, Timestamp next_attempt_at) {
  Connection& conn = db_.connection();
  return updatePair(db_,
                    "UPDATE distributions SET state = 'retrying', last_error = ?3, "
                    "next_attempt_at = ?4, updated_at = ?5 WHERE package_id = ?1 AND dp = ?2",
                    package_id, dp, error, next_attempt_at, conn.now())
      .withContext("schedule a retry of package " + pairName(package_id, dp));
}

Result<DistributionRow> DistributionRepository::get(std::string_view package_id,
                                                    std::string_view dp) {
  auto run = [&]() -> Result<DistributionRow> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT " + std::string(kColumns) +
                                 " FROM distributions WHERE package_id = ?1 AND dp = ?2"));
    stmt.bindAll(package_id, dp);
    PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
    if (!found) return notFound(package_id, dp);
    return readRow(stmt);
  };
  return internal::withContext(run(), "get distribution of package " + pairName(package_id, dp));
}

Result<std::vector<DistributionRow>> DistributionRepository::list(
    const DistributionFilter& filter) {
  auto run = [&]() -> Result<std::vector<DistributionRow>> {
    std::string sql = "SELECT " + std::string(kColumns) + " FROM distributions WHERE 1";
    if (filter.package_id) sql += " AND package_id = ?1";
    if (filter.dp) sql += " AND dp = ?2";
    if (filter.state) sql += " AND state = ?3";
    sql += " ORDER BY package_id, dp";
    PKGXFER_ASSIGN_OR_RETURN(Statement stmt, db_.connection().prepare(sql));
    if (filter.package_id) stmt.bind(1, *filter.package_id);
    if (filter.dp) stmt.bind(2, *filter.dp);
    if (filter.state) stmt.bind(3, toString(*filter.state));
    return readRows(stmt);
  };
  return internal::withContext(run(), "list distributions");
}

Result<std::vector<DistributionRow>> DistributionRepository::listDueRetries(Timestamp now) {
  auto run = [&]() -> Result<std::vector<DistributionRow>> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT " + std::string(kColumns) +
                                 " FROM distributions WHERE state = 'retrying' AND "
                                 "next_attempt_at <= ?1 ORDER BY next_attempt_at, package_id, dp"));
    stmt.bindAll(now);
    return readRows(stmt);
  };
  return internal::withContext(run(), "list due retries");
}

Result<bool> DistributionRepository::anyRetrying() {
  auto run = [&]() -> Result<bool> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT EXISTS (SELECT 1 FROM distributions WHERE "
                                 "state = 'retrying' AND next_attempt_at IS NOT NULL)"));
    PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
    return row && stmt.columnInt64(0) != 0;
  };
  return internal::withContext(run(), "look for retries");
}

Result<bool> DistributionRepository::dpHoldsContent(std::string_view dp) {
  auto run = [&]() -> Result<bool> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare(
            "SELECT EXISTS (SELECT 1 FROM distributions WHERE dp = ?1 AND state IN ('installed', "
            "'transferring', 'verifying', 'removing')) OR EXISTS (SELECT 1 FROM transfer_jobs "
            "WHERE dp = ?1 AND state = 'done' AND action IN ('add', 'redistribute'))"));
    stmt.bindAll(dp);
    PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
    return row && stmt.columnInt64(0) != 0;
  };
  return internal::withContext(run(), "look for content on DP " + std::string(dp));
}

}  // namespace pkgxfer::store
