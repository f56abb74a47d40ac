#pragma once

// The store's private SQLite layer: the connection with its prepared-statement cache and
// transaction bookkeeping, an RAII Statement with bind/step/column helpers, and the one place
// SQLite result codes become Status. Not thread-safe, like the Database that owns the connection.

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store::internal {

// Maps a SQLite result code (primary or extended) to a Status whose message is the connection's
// error text, e.g. "UNIQUE constraint failed: packages.package_id":
//   BUSY, LOCKED, SCHEMA, PROTOCOL → Unavailable;  CONSTRAINT (PRIMARYKEY, UNIQUE) → AlreadyExists;
//   other CONSTRAINT, TOOBIG, RANGE, MISMATCH → InvalidArgument;  CORRUPT, NOTADB → Corruption;
//   PERM, AUTH, READONLY, CANTOPEN/IOERR with EACCES/EPERM → PermissionDenied;
//   CANTOPEN, IOERR, FULL → IoError (the OS error text appended);  INTERRUPT → Cancelled;
//   anything else (ERROR, MISUSE, NOMEM, ...) → Internal.
// `db` may be null (then only sqlite3_errstr(rc) is used).
Status statusFromSqlite(int rc, sqlite3* db);

class Connection;

// A prepared statement borrowed from the connection's cache; reset and returned on destruction.
// Bind indexes are 1-based, column indexes 0-based. A bind error is reported by the next step().
// Binding after a step resets the statement, so one statement can run in a loop: bind, exec,
// bind, exec... (parameters not bound again keep their values).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  // Any integer type (bool binds 0/1); an unsigned value above INT64_MAX is a bind error.
  template <typename T>
  requires std::is_integral_v<T> Statement& bind(int index, T value) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
      if (value > static_cast<T>(INT64_MAX)) return bindOverflow(index);
    }
    return bindInt64(index, static_cast<std::int64_t>(value));
  }
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) {
    return bind(index, std::string_view(value));
  }
  Statement& bind(int index, std::nullptr_t);
  Statement& bind(int index, Timestamp value);  // as formatTimestamp()
  template <typename T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, nullptr);
  }
  // Binds the arguments to ?1, ?2, ... in order.
  template <typename... Args>
  Statement& bindAll(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Advances: true when a row is available, false when done.
  Result<bool> step();
  // Runs to completion, ignoring any rows (e.g. of RETURNING).
  Status exec();

  bool columnIsNull(int col) const;
  std::int64_t columnInt64(int col) const;
  std::string columnText(int col) const;
  std::optional<std::string> columnOptionalText(int col) const;
  // Corruption when the column does not hold formatTimestamp() text.
  Result<Timestamp> columnTime(int col) const;
  Result<std::optional<Timestamp>> columnOptionalTime(int col) const;

  // Rows changed by the last exec()/step() of this connection.
  std::int64_t changes() const;
  std::int64_t lastInsertRowid() const;

 private:
  friend class Connection;
  Statement(Connection* conn, sqlite3_stmt* stmt, std::string sql)
      : conn_(conn), stmt_(stmt), sql_(std::move(sql)) {}
  void resetIfStepped();
  Statement& bindInt64(int index, std::int64_t value);
  Statement& bindOverflow(int index);
  Statement& noteBind(int rc, int index);

  Connection* conn_;
  sqlite3_stmt* stmt_;
  std::string sql_;
  Status bind_error_;
  bool stepped_ = false;  // binding again needs a reset first
};

// Owns the sqlite3 handle (closed on destruction) and the statement cache.
class Connection {
 public:
  Connection(sqlite3* db, std::filesystem::path path, Clock& clock)
      : db_(db), path_(std::move(path)), clock_(clock) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }
  const std::filesystem::path& path() const { return path_; }
  Clock& clock() const { return clock_; }
  // The clock's system time, for *_at columns.
  Timestamp now() const { return clock_.systemNow(); }

  // Prepares (or reuses) exactly one statement. Internal on SQL errors.
  Result<Statement> prepare(std::string_view sql);
  // Runs one or more statements that return no rows (schema scripts, pragmas).
  Status exec(std::string_view sql);

  // Transaction bookkeeping for store::Transaction: returns the new depth (1 = outermost).
  Result<int> begin(bool write);
  Status commit(int depth);
  void rollback(int depth);
  int depth() const { return depth_; }

 private:
  friend class Statement;
  void release(std::string sql, sqlite3_stmt* stmt);

  sqlite3* db_;
  std::filesystem::path path_;
  Clock& clock_;
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>> idle_;
  int depth_ = 0;
  bool outer_is_read_ = false;
};

}  // namespace pkgxfer::store::internal
