#include "pkgxfer/store/status_message_repository.h"

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

namespace {

constexpr std::string_view kColumns =
    "id, received_at, dp, package_id, version, job_id, state, bytes_total, bytes_done, "
    "files_total, files_done, message";

Result<StatusMessage> readRow(const Statement& stmt) {
  StatusMessage row;
  row.id = stmt.columnInt64(0);
  PKGXFER_ASSIGN_OR_RETURN(row.received_at, stmt.columnTime(1));
  row.dp = stmt.columnText(2);
  row.package_id = stmt.columnText(3);
  row.version = static_cast<int>(stmt.columnInt64(4));
  if (!stmt.columnIsNull(5)) row.job_id = stmt.columnInt64(5);
  PKGXFER_ASSIGN_OR_RETURN(row.state, internal::columnEnum(stmt, 6, parseDistributionState));
  row.progress.bytes_total = static_cast<std::uint64_t>(stmt.columnInt64(7));
  row.progress.bytes_done = static_cast<std::uint64_t>(stmt.columnInt64(8));
  row.progress.files_total = static_cast<std::uint64_t>(stmt.columnInt64(9));
  row.progress.files_done = static_cast<std::uint64_t>(stmt.columnInt64(10));
  row.message = stmt.columnText(11);
  return row;
}

}  // namespace

Result<std::int64_t> StatusMessageRepository::insert(const StatusMessage& message) {
  auto run = [&]() -> Result<std::int64_t> {
    if (message.version < 1) {
      return Status::InvalidArgument("version must be 1 or more, got " +
                                     std::to_string(message.version));
    }
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    PKGXFER_RETURN_IF_ERROR(internal::requireDp(conn, message.dp, /*configured=*/false));
    PKGXFER_RETURN_IF_ERROR(internal::requirePackage(conn, message.package_id));
    if (message.job_id) PKGXFER_RETURN_IF_ERROR(internal::requireJob(conn, *message.job_id));
    std::int64_t id = 0;
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("INSERT INTO status_messages (received_at, dp, package_id, version, "
                       "job_id, state, bytes_total, bytes_done, files_total, files_done, message) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
      stmt.bindAll(conn.now(), message.dp, message.package_id, message.version, message.job_id,
                   toString(message.state), message.progress.bytes_total,
                   message.progress.bytes_done, message.progress.files_total,
                   message.progress.files_done, message.message);
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
      id = stmt.lastInsertRowid();
    }
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    return id;
  };
  return internal::withContext(
      run(), "record status message from " + message.dp + " for " + message.package_id);
}

Result<std::vector<StatusMessage>> StatusMessageRepository::list(
    const StatusMessageFilter& filter) {
  auto run = [&]() -> Result<std::vector<StatusMessage>> {
    std::string sql = "SELECT " + std::string(kColumns) + " FROM status_messages WHERE id > ?1";
    if (filter.package_id) sql += " AND package_id = ?2";
    if (filter.dp) sql += " AND dp = ?3";
    if (filter.job_id) sql += " AND job_id = ?4";
    sql += " ORDER BY id";
    if (filter.limit > 0) sql += " LIMIT ?5";
    PKGXFER_ASSIGN_OR_RETURN(Statement stmt, db_.connection().prepare(sql));
    stmt.bind(1, filter.after_id);
    if (filter.package_id) stmt.bind(2, *filter.package_id);
    if (filter.dp) stmt.bind(3, *filter.dp);
    if (filter.job_id) stmt.bind(4, *filter.job_id);
    if (filter.limit > 0) stmt.bind(5, filter.limit);
    std::vector<StatusMessage> rows;
    while (true) {
      PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
      if (!more) break;
      PKGXFER_ASSIGN_OR_RETURN(StatusMessage row, readRow(stmt));
      rows.push_back(std::move(row));
    }
    return rows;
  };
  return internal::withContext(run(), "list status messages");
}

}  // namespace pkgxfer::store
