#include "pkgxfer/store/status_message_repository.h"

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

namespace {

constexpr std::string_view kColumns =
    "id, received_at, dp, package_id, version, job_id, state, bytes_total, bytes_done, "
    "files_total, files_done, message, sequence, processed_at";

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
  if (!stmt.columnIsNull(12)) row.sequence = static_cast<std::uint64_t>(stmt.columnInt64(12));
  PKGXFER_ASSIGN_OR_RETURN(row.processed_at, stmt.columnOptionalTime(13));
  return row;
}

}  // namespace

Result<std::int64_t> StatusMessageRepository::insert(const StatusMessage& message) {
  PKGXFER_ASSIGN_OR_RETURN(RecordedMessage recorded, record(message));
  if (recorded.duplicate) {
    return Status::AlreadyExists("status message " + std::to_string(*message.sequence) +
                                 " of transfer job " + std::to_string(*message.job_id) +
                                 " is already recorded");
  }
  return recorded.id;
}

Result<RecordedMessage> StatusMessageRepository::record(const StatusMessage& message) {
  auto run = [&]() -> Result<RecordedMessage> {
    if (message.version < 1) {
      return Status::InvalidArgument("version must be 1 or more, got " +
                                     std::to_string(message.version));
    }
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    PKGXFER_RETURN_IF_ERROR(internal::requireDp(conn, message.dp, /*configured=*/false));
    PKGXFER_RETURN_IF_ERROR(internal::requirePackage(conn, message.package_id));
    if (message.job_id) PKGXFER_RETURN_IF_ERROR(internal::requireJob(conn, *message.job_id));
    RecordedMessage out;
    if (message.job_id && message.sequence) {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement find,
          conn.prepare("SELECT id FROM status_messages WHERE job_id = ?1 AND sequence = ?2"));
      find.bindAll(*message.job_id, *message.sequence);
      PKGXFER_ASSIGN_OR_RETURN(bool found, find.step());
      if (found) {
        out.id = find.columnInt64(0);
        out.duplicate = true;
        return out;  // the transaction rolls back: nothing was written
      }
    }
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("INSERT INTO status_messages (received_at, dp, package_id, version, "
                       "job_id, state, bytes_total, bytes_done, files_total, files_done, message, "
                       "sequence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"));
      stmt.bindAll(conn.now(), message.dp, message.package_id, message.version, message.job_id,
                   toString(message.state), message.progress.bytes_total,
                   message.progress.bytes_done, message.progress.files_total,
                   message.progress.files_done, message.message, message.sequence);
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
      out.id = stmt.lastInsertRowid();
    }
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    return out;
  };
  return internal::withContext(
      run(), "record status message from " + message.dp + " for " + message.package_id);
}

Result<std::vector<StatusMessage>> StatusMessageRepository::listUnprocessed(int limit) {
  auto run = [&]() -> Result<std::vector<StatusMessage>> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT " + std::string(kColumns) +
                                 " FROM status_messages WHERE processed_at IS NULL ORDER BY id "
                                 "LIMIT ?1"));
    stmt.bind(1, limit);
    std::vector<StatusMessage> rows;
    while (true) {
      PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
      if (!more) break;
      PKGXFER_ASSIGN_OR_RETURN(StatusMessage row, readRow(stmt));
      rows.push_back(std::move(row));
    }
    return rows;
  };
  return internal::withContext(run(), "list unprocessed status messages");
}

Status StatusMessageRepository::markProcessed(std::int64_t id) {
  auto run = [&]() -> Status {
    return internal::inWriteTransaction(db_, [&]() -> Status {
      Connection& conn = db_.connection();
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("UPDATE status_messages SET processed_at = ?2 WHERE id = ?1"));
      stmt.bindAll(id, conn.now());
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
      if (stmt.changes() == 0) {
        return Status::NotFound("status message " + std::to_string(id) + " does not exist");
      }
      return Status::Ok();
    });
  };
  return internal::withContext(run(), "mark status message processed");
}

Result<std::uint64_t> StatusMessageRepository::lastProcessedSequence(std::int64_t job_id) {
  auto run = [&]() -> Result<std::uint64_t> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT COALESCE(MAX(sequence), 0) FROM status_messages WHERE "
                                 "job_id = ?1 AND processed_at IS NOT NULL"));
    stmt.bind(1, job_id);
    PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
    return row ? static_cast<std::uint64_t>(stmt.columnInt64(0)) : 0;
  };
  return internal::withContext(run(),
                               "read the last status of transfer job " + std::to_string(job_id));
}

Result<std::optional<Timestamp>> StatusMessageRepository::lastReceivedAt(std::int64_t job_id) {
  auto run = [&]() -> Result<std::optional<Timestamp>> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt, db_.connection().prepare("SELECT MAX(received_at) FROM status_messages "
                                                 "WHERE job_id = ?1"));
    stmt.bind(1, job_id);
    PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
    if (!row) return std::optional<Timestamp>();
    return stmt.columnOptionalTime(0);
  };
  return internal::withContext(
      run(), "read the last status time of transfer job " + std::to_string(job_id));
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
