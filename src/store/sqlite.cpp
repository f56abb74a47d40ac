#include "sqlite.h"

#include <cerrno>
#include <cstring>
#include <utility>

namespace pkgxfer::store::internal {

namespace {

bool isPermissionErrno(int err) { return err == EACCES || err == EPERM; }

}  // namespace

Status statusFromSqlite(int rc, sqlite3* db) {
  const int primary = rc & 0xff;
  std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (message.empty()) message = sqlite3_errstr(rc);
  const int sys_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
  switch (primary) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Internal("unexpected SQLite result treated as an error: " + message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_SCHEMA:
    case SQLITE_PROTOCOL:
      return Status::Unavailable(message);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return Status::AlreadyExists(message);
      }
      return Status::InvalidArgument(message);
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return Status::InvalidArgument(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(message);
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::PermissionDenied(message);
    case SQLITE_READONLY:
      return Status::PermissionDenied(message);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL: {
      if (sys_errno != 0 && primary != SQLITE_FULL) {
        message += " (";
        message += std::strerror(sys_errno);
        message += ")";
        if (isPermissionErrno(sys_errno)) return Status::PermissionDenied(message);
      }
      return Status::IoError(message);
    }
    case SQLITE_INTERRUPT:
      return Status::Cancelled(message);
    default:
      return Status::Internal(message);
  }
}

// Statement ---------------------------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      sql_(std::move(other.sql_)),
      bind_error_(std::move(other.bind_error_)),
      stepped_(other.stepped_) {}

Statement::~Statement() {
  if (stmt_ != nullptr) conn_->release(std::move(sql_), stmt_);
}

void Statement::resetIfStepped() {
  if (!stepped_) return;
  sqlite3_reset(stmt_);  // returns the last step's error, already reported by step()
  stepped_ = false;
}

Statement& Statement::noteBind(int rc, int index) {
  if (rc != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = statusFromSqlite(rc, conn_->handle())
                      .withContext("bind parameter " + std::to_string(index));
  }
  return *this;
}

Statement& Statement::bindInt64(int index, std::int64_t value) {
  resetIfStepped();
  return noteBind(sqlite3_bind_int64(stmt_, index, value), index);
}

Statement& Statement::bindOverflow(int index) {
  if (bind_error_.ok()) {
    bind_error_ = Status::InvalidArgument("bind parameter " + std::to_string(index) +
                                          ": integer too large for the database");
  }
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  resetIfStepped();
  // A default-constructed string_view has a null data(), which SQLite would bind as NULL.
  const char* data = value.data() != nullptr ? value.data() : "";
  return noteBind(
      sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8), index);
}

Statement& Statement::bind(int index, std::nullptr_t) {
  resetIfStepped();
  return noteBind(sqlite3_bind_null(stmt_, index), index);
}

Statement& Statement::bind(int index, Timestamp value) {
  return bind(index, std::string_view(formatTimestamp(value)));
}

Result<bool> Statement::step() {
  if (!bind_error_.ok()) return std::exchange(bind_error_, Status::Ok());
  stepped_ = true;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status status = statusFromSqlite(rc, conn_->handle());
  // A failed statement must not keep a read snapshot or a half-run state.
  sqlite3_reset(stmt_);
  stepped_ = false;
  return status;
}

Status Statement::exec() {
  while (true) {
    Result<bool> row = step();
    if (!row.ok()) return row.error();
    if (!*row) return Status::Ok();
  }
}

bool Statement::columnIsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::int64_t Statement::columnInt64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::columnText(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  const int size = sqlite3_column_bytes(stmt_, col);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::optional<std::string> Statement::columnOptionalText(int col) const {
  if (columnIsNull(col)) return std::nullopt;
  return columnText(col);
}

Result<Timestamp> Statement::columnTime(int col) const {
  std::string text = columnText(col);
  Result<Timestamp> time = parseTimestamp(text);
  if (!time.ok()) {
    return Status::Corruption(std::string("column ") + sqlite3_column_name(stmt_, col) + ": " +
                              time.error().message());
  }
  return time;
}

Result<std::optional<Timestamp>> Statement::columnOptionalTime(int col) const {
  if (columnIsNull(col)) return std::optional<Timestamp>();
  PKGXFER_ASSIGN_OR_RETURN(Timestamp time, columnTime(col));
  return std::optional<Timestamp>(time);
}

std::int64_t Statement::changes() const { return sqlite3_changes64(conn_->handle()); }

std::int64_t Statement::lastInsertRowid() const {
  return sqlite3_last_insert_rowid(conn_->handle());
}

// Connection --------------------------------------------------------------------------------------

Connection::~Connection() {
  for (auto& [sql, stmts] : idle_) {
    for (sqlite3_stmt* stmt : stmts) sqlite3_finalize(stmt);
  }
  idle_.clear();
  // close_v2 defers the close if a statement is still alive (a bug), instead of failing.
  sqlite3_close_v2(db_);
}

Result<Statement> Connection::prepare(std::string_view sql) {
  std::string key(sql);
  auto it = idle_.find(key);
  if (it != idle_.end() && !it->second.empty()) {
    sqlite3_stmt* stmt = it->second.back();
    it->second.pop_back();
    return Statement(this, stmt, std::move(key));
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db_, key.data(), static_cast<int>(key.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    Status status = statusFromSqlite(rc, db_);
    // Name the SQL only when it is the problem; "file is not a database" needs no SQL.
    if (status.code() == Status::Code::Internal) {
      status = status.withContext("prepare \"" + key + "\"");
    }
    return status;
  }
  if (stmt == nullptr) return Status::Internal("prepare \"" + key + "\": no statement");
  if (tail != nullptr &&
      std::string_view(tail).find_first_not_of(" \t\r\n;") != std::string_view::npos) {
    sqlite3_finalize(stmt);
    return Status::Internal("prepare \"" + key + "\": more than one statement");
  }
  return Statement(this, stmt, std::move(key));
}

void Connection::release(std::string sql, sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  idle_[std::move(sql)].push_back(stmt);
}

Status Connection::exec(std::string_view sql) {
  std::string text(sql);
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return Status::Ok();
  sqlite3_free(error);  // the same text as sqlite3_errmsg(), which statusFromSqlite uses
  return statusFromSqlite(rc, db_);
}

Result<int> Connection::begin(bool write) {
  if (depth_ == 0) {
    PKGXFER_RETURN_IF_ERROR(
        exec(write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
            .withContext(write ? "begin write transaction" : "begin read transaction"));
    outer_is_read_ = !write;
    return depth_ = 1;
  }
  if (write && outer_is_read_) {
    return Status::Internal("a write transaction cannot be nested in a read transaction");
  }
  const int depth = depth_ + 1;
  PKGXFER_RETURN_IF_ERROR(
      exec("SAVEPOINT px_" + std::to_string(depth)).withContext("begin nested transaction"));
  return depth_ = depth;
}

Status Connection::commit(int depth) {
  if (depth != depth_) {
    return Status::Internal("transaction " + std::to_string(depth) + " committed while " +
                            std::to_string(depth_) + " is innermost");
  }
  if (depth == 1) {
    PKGXFER_RETURN_IF_ERROR(exec("COMMIT").withContext("commit"));
  } else {
    PKGXFER_RETURN_IF_ERROR(
        exec("RELEASE px_" + std::to_string(depth)).withContext("commit nested transaction"));
  }
  --depth_;
  return Status::Ok();
}

void Connection::rollback(int depth) {
  if (depth != depth_) return;  // out of order: a bug, reported by commit(); nothing safe to do
  --depth_;
  // After some errors (e.g. IOERR, FULL) SQLite has already rolled everything back.
  if (sqlite3_get_autocommit(db_) != 0) return;
  if (depth == 1) {
    (void)exec("ROLLBACK");
  } else {
    const std::string name = "px_" + std::to_string(depth);
    (void)exec("ROLLBACK TO " + name + "; RELEASE " + name);
  }
}

}  // namespace pkgxfer::store::internal
