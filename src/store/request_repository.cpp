#include "pkgxfer/store/request_repository.h"

#include <algorithm>

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

namespace {

constexpr std::string_view kColumns =
    "id, kind, package_id, dp, state, created_at, picked_at, finished_at, error";

Result<RequestRow> readRow(const Statement& stmt) {
  RequestRow row;
  row.id = stmt.columnInt64(0);
  PKGXFER_ASSIGN_OR_RETURN(row.kind, internal::columnEnum(stmt, 1, parseRequestKind));
  row.package_id = stmt.columnText(2);
  row.dp = stmt.columnText(3);
  PKGXFER_ASSIGN_OR_RETURN(row.state, internal::columnEnum(stmt, 4, parseRequestState));
  PKGXFER_ASSIGN_OR_RETURN(row.created_at, stmt.columnTime(5));
  PKGXFER_ASSIGN_OR_RETURN(row.picked_at, stmt.columnOptionalTime(6));
  PKGXFER_ASSIGN_OR_RETURN(row.finished_at, stmt.columnOptionalTime(7));
  row.error = stmt.columnText(8);
  return row;
}

Result<std::vector<RequestRow>> readRows(Statement& stmt) {
  std::vector<RequestRow> rows;
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
    if (!more) break;
    PKGXFER_ASSIGN_OR_RETURN(RequestRow row, readRow(stmt));
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<RequestRow> fetch(Connection& conn, std::int64_t id) {
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt, conn.prepare("SELECT " + std::string(kColumns) +
                                                        " FROM requests WHERE id = ?1"));
  stmt.bindAll(id);
  PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
  if (!found) return Status::NotFound("request " + std::to_string(id) + " does not exist");
  return readRow(stmt);
}

}  // namespace

Result<std::int64_t> RequestRepository::enqueue(RequestKind kind, std::string_view package_id,
                                                std::string_view dp) {
  PKGXFER_ASSIGN_OR_RETURN(std::vector<std::int64_t> ids,
                           enqueue(kind, package_id, std::vector<std::string>{std::string(dp)}));
  return ids.front();
}

Result<std::vector<std::int64_t>> RequestRepository::enqueue(RequestKind kind,
                                                             std::string_view package_id,
                                                             const std::vector<std::string>& dps) {
  auto run = [&]() -> Result<std::vector<std::int64_t>> {
    if (dps.empty()) return Status::InvalidArgument("no distribution point given");
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    PKGXFER_RETURN_IF_ERROR(internal::requirePackage(conn, package_id));
    const Timestamp now = conn.now();
    std::vector<std::int64_t> ids;
    for (const std::string& dp : dps) {
      PKGXFER_RETURN_IF_ERROR(internal::requireDp(conn, dp, /*configured=*/true));
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("INSERT INTO requests (kind, package_id, dp, state, created_at) "
                       "VALUES (?1, ?2, ?3, 'pending', ?4)"));
      stmt.bindAll(toString(kind), package_id, dp, now);
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
      ids.push_back(stmt.lastInsertRowid());
    }
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    return ids;
  };
  return internal::withContext(
      run(), "enqueue " + std::string(toString(kind)) + " request for " + std::string(package_id));
}

Result<std::vector<RequestRow>> RequestRepository::claimPending(int limit) {
  auto run = [&]() -> Result<std::vector<RequestRow>> {
    if (limit <= 0) {
      return Status::InvalidArgument("limit must be positive, got " + std::to_string(limit));
    }
    // BEGIN IMMEDIATE: the select and the update see the same queue, and no other connection can
    // claim in between.
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    std::vector<RequestRow> rows;
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("UPDATE requests SET state = 'taken', picked_at = ?1 WHERE id IN ("
                       "SELECT id FROM requests WHERE state = 'pending' ORDER BY id LIMIT ?2) "
                       "RETURNING " +
                       std::string(kColumns)));
      stmt.bindAll(conn.now(), limit);
      PKGXFER_ASSIGN_OR_RETURN(rows, readRows(stmt));
    }
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    std::sort(rows.begin(), rows.end(),
              [](const RequestRow& a, const RequestRow& b) { return a.id < b.id; });
    return rows;
  };
  return internal::withContext(run(), "claim pending requests");
}

Status RequestRepository::finish(std::int64_t id, RequestState state, std::string_view error) {
  PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
  Connection& conn = db_.connection();
  {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt, conn.prepare("UPDATE requests SET state = ?2, finished_at = ?3, error = ?4 "
                                     "WHERE id = ?1 AND state = 'taken'"));
    stmt.bindAll(id, toString(state), conn.now(), error);
    PKGXFER_RETURN_IF_ERROR(stmt.exec());
    if (stmt.changes() == 0) {
      PKGXFER_ASSIGN_OR_RETURN(RequestRow row, fetch(conn, id));
      return Status::InvalidArgument("request " + std::to_string(id) + " is " +
                                     std::string(toString(row.state)) + ", not taken");
    }
  }
  return tx.commit();
}

Status RequestRepository::complete(std::int64_t id) {
  return finish(id, RequestState::Done, {}).withContext("complete request " + std::to_string(id));
}

Status RequestRepository::reject(std::int64_t id, std::string_view error) {
  return finish(id, RequestState::Rejected, error)
      .withContext("reject request " + std::to_string(id));
}

Result<int> RequestRepository::releaseTaken() {
  auto run = [&]() -> Result<int> {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    int released = 0;
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          db_.connection().prepare(
              "UPDATE requests SET state = 'pending', picked_at = NULL WHERE state = 'taken'"));
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
      released = static_cast<int>(stmt.changes());
    }
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    return released;
  };
  return internal::withContext(run(), "release taken requests");
}

Result<RequestRow> RequestRepository::get(std::int64_t id) {
  return internal::withContext(fetch(db_.connection(), id), "get request " + std::to_string(id));
}

Result<std::vector<RequestRow>> RequestRepository::list(std::optional<RequestState> state) {
  auto run = [&]() -> Result<std::vector<RequestRow>> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT " + std::string(kColumns) +
                                 " FROM requests WHERE ?1 IS NULL OR state = ?1 ORDER BY id"));
    std::optional<std::string_view> state_text;
    if (state) state_text = toString(*state);
    stmt.bindAll(state_text);
    return readRows(stmt);
  };
  return internal::withContext(run(), "list requests");
}

}  // namespace pkgxfer::store
