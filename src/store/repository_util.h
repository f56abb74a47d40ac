#pragma once

// Helpers shared by the repositories: existence checks that turn a would-be foreign-key failure
// into a NotFound naming the missing thing, enum columns, and error context.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "pkgxfer/common/status.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/types.h"
#include "sqlite.h"

namespace pkgxfer::store::internal {

// Runs a query binding `args` and reports whether it returned a row.
template <typename... Args>
Result<bool> rowExists(Connection& conn, std::string_view sql, const Args&... args) {
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt, conn.prepare(sql));
  stmt.bindAll(args...);
  return stmt.step();
}

inline Status requirePackage(Connection& conn, std::string_view package_id) {
  PKGXFER_ASSIGN_OR_RETURN(
      bool found, rowExists(conn, "SELECT 1 FROM packages WHERE package_id = ?1", package_id));
  if (!found) return Status::NotFound("package " + std::string(package_id) + " does not exist");
  return Status::Ok();
}

inline Status requirePackageVersion(Connection& conn, std::string_view package_id, int version) {
  PKGXFER_ASSIGN_OR_RETURN(
      bool found,
      rowExists(conn, "SELECT 1 FROM package_versions WHERE package_id = ?1 AND version = ?2",
                package_id, version));
  if (found) return Status::Ok();
  PKGXFER_RETURN_IF_ERROR(requirePackage(conn, package_id));
  return Status::NotFound("package " + std::string(package_id) + " has no version " +
                          std::to_string(version));
}

// `configured`: the DP must also still be in the config.
inline Status requireDp(Connection& conn, std::string_view dp, bool configured) {
  PKGXFER_ASSIGN_OR_RETURN(
      Statement stmt, conn.prepare("SELECT in_config FROM distribution_points WHERE name = ?1"));
  stmt.bindAll(dp);
  PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
  if (!found) {
    return Status::NotFound("distribution point " + std::string(dp) + " does not exist");
  }
  if (configured && stmt.columnInt64(0) == 0) {
    return Status::NotFound("distribution point " + std::string(dp) +
                            " is no longer in the configuration");
  }
  return Status::Ok();
}

inline Status requireJob(Connection& conn, std::int64_t job_id) {
  PKGXFER_ASSIGN_OR_RETURN(bool found,
                           rowExists(conn, "SELECT 1 FROM transfer_jobs WHERE id = ?1", job_id));
  if (!found) return Status::NotFound("transfer job " + std::to_string(job_id) + " does not exist");
  return Status::Ok();
}

// Reads an enumeration column with its parse function; Corruption on a value the code does not
// know (the CHECK constraints make that a damaged or foreign file).
template <typename E>
Result<E> columnEnum(const Statement& stmt, int col, Result<E> (*parse)(std::string_view)) {
  Result<E> value = parse(stmt.columnText(col));
  if (!value.ok()) return Status::Corruption(value.error().message());
  return value;
}

// Runs `body` (returning Status or Result<T>) in a write transaction (nested: a savepoint),
// committed only if it succeeds. Every repository write goes through one, so a write nested in a
// read transaction is refused instead of failing later on a stale snapshot.
template <typename F>
auto inWriteTransaction(Database& db, F&& body) -> decltype(body()) {
  Result<Transaction> tx = Transaction::begin(db);
  if (!tx.ok()) return tx.error();
  auto result = body();
  if (!result.ok()) return result;
  Status committed = tx->commit();
  if (!committed.ok()) return committed;
  return result;
}

inline Status withContext(Status status, std::string_view context) {
  return status.withContext(context);
}

template <typename T>
Result<T> withContext(Result<T> result, std::string_view context) {
  if (result.ok()) return result;
  return result.error().withContext(context);
}

}  // namespace pkgxfer::store::internal
