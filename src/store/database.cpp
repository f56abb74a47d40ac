#include "pkgxfer/store/database.h"

#include <cerrno>
#include <chrono>
#include <system_error>
#include <thread>
#include <utility>

#include "migrations.h"
#include "sqlite.h"

namespace pkgxfer::store {

namespace fs = std::filesystem;
using internal::Connection;
using internal::Statement;
using internal::statusFromSqlite;

namespace {

Status statusFromErrorCode(const std::error_code& ec, const std::string& context) {
  std::string message = context + ": " + ec.message();
  if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted) {
    return Status::PermissionDenied(std::move(message));
  }
  return Status::IoError(std::move(message));
}

// Runs a PRAGMA and returns the first column of its first row ("" when it returns none).
Result<std::string> pragmaValue(Connection& conn, const std::string& sql) {
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt, conn.prepare(sql));
  PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) return std::string();
  return stmt.columnText(0);
}

Status checkIntegrity(Connection& conn) {
  Result<Statement> stmt = conn.prepare("PRAGMA quick_check");
  if (!stmt.ok()) return stmt.error().withContext("integrity check failed");
  std::string findings;
  int lines = 0;
  while (true) {
    Result<bool> row = stmt->step();
    if (!row.ok()) {
      // SQLite may refuse to read a damaged page at all: that is a finding too.
      Status error = row.error();
      if (error.code() == Status::Code::Corruption) {
        return Status::Corruption("integrity check failed: " + error.message());
      }
      return error.withContext("integrity check");
    }
    if (!*row) break;
    std::string line = stmt->columnText(0);
    if (line == "ok" && lines == 0) continue;
    if (lines < 10) {
      if (!findings.empty()) findings += "; ";
      findings += line;
    }
    ++lines;
  }
  if (lines == 0) return Status::Ok();
  if (lines > 10) findings += "; ... (" + std::to_string(lines) + " findings)";
  return Status::Corruption("integrity check failed: " + findings);
}

Status configure(Connection& conn, const DatabaseOptions& options) {
  sqlite3* db = conn.handle();
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  // Hardening: no writable_schema tricks, and a double-quoted string is an identifier, never a
  // silent string literal (catches typos in our SQL).
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  if (sqlite3_db_readonly(db, "main") == 1) {
    return Status::PermissionDenied("the file is read-only");
  }

  // The first statement reads the file's header: a file that is not a database fails here.
  // Switching a new file to WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY at once,
  // without its busy handler, while another process does the same (two CLIs on a new site): wait
  // for it as for any lock, up to the busy timeout.
  Result<std::string> wal = pragmaValue(conn, "PRAGMA journal_mode = WAL");
  for (int waited_ms = 0; !wal.ok() && wal.status().code() == Status::Code::Unavailable &&
                          waited_ms < options.busy_timeout_ms;
       waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    wal = pragmaValue(conn, "PRAGMA journal_mode = WAL");
  }
  PKGXFER_ASSIGN_OR_RETURN(std::string mode, std::move(wal));
  if (mode != "wal") {
    return Status::IoError("cannot use WAL journaling (journal_mode is '" + mode + "')");
  }
  PKGXFER_RETURN_IF_ERROR(conn.exec(options.durability == Durability::Full
                                        ? "PRAGMA synchronous = FULL"
                                        : "PRAGMA synchronous = NORMAL"));
  PKGXFER_RETURN_IF_ERROR(conn.exec("PRAGMA foreign_keys = ON"));
  PKGXFER_ASSIGN_OR_RETURN(std::string fk, pragmaValue(conn, "PRAGMA foreign_keys"));
  if (fk != "1") return Status::Internal("this SQLite does not enforce foreign keys");
  if (options.integrity_check) PKGXFER_RETURN_IF_ERROR(checkIntegrity(conn));
  return internal::migrate(conn, options.schema == Schema::PullDp
                                     ? internal::pullDpSchemaMigrations()
                                     : internal::schemaMigrations());
}

}  // namespace

int currentSchemaVersion() { return static_cast<int>(internal::schemaMigrations().size()); }

fs::path siteDatabasePath(const fs::path& data_dir) { return data_dir / "site.db"; }

Result<std::unique_ptr<Database>> Database::open(const fs::path& file, Clock& clock,
                                                 const DatabaseOptions& options) {
  const std::string context = "open " + file.string();
  if (file.empty()) return Status::InvalidArgument("open: empty database path");
  if (options.busy_timeout_ms < 0 || options.busy_timeout_ms > 600000) {
    return Status::InvalidArgument(context + ": busy_timeout_ms must be 0..600000, got " +
                                   std::to_string(options.busy_timeout_ms));
  }
  if (file.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) {
      return statusFromErrorCode(ec, "create directory " + file.parent_path().string())
          .withContext(context);
    }
  }

  sqlite3* raw = nullptr;
  // NOMUTEX: a connection is used by one thread at a time (the Database contract), so SQLite's
  // per-connection mutex would only cost.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  // SQLite takes a UTF-8 name on every OS (on Windows it converts to UTF-16 itself).
  const std::u8string name = file.u8string();
  const int rc = sqlite3_open_v2(reinterpret_cast<const char*>(name.c_str()), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status status = statusFromSqlite(rc, raw).withContext(context);
    sqlite3_close_v2(raw);
    return status;
  }
  auto conn = std::make_unique<Connection>(raw, file, clock);
  PKGXFER_RETURN_IF_ERROR(configure(*conn, options).withContext(context));
  return std::unique_ptr<Database>(new Database(std::move(conn)));
}

Database::Database(std::unique_ptr<Connection> conn) : conn_(std::move(conn)) {}

Database::~Database() = default;

const fs::path& Database::path() const { return conn_->path(); }

Clock& Database::clock() const { return conn_->clock(); }

Result<int> Database::schemaVersion() { return internal::readUserVersion(*conn_); }

Status Database::quickCheck() { return checkIntegrity(*conn_); }

Result<std::string> Database::pragma(std::string_view name) {
  if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != name.npos) {
    return Status::InvalidArgument("invalid pragma name '" + std::string(name) + "'");
  }
  return pragmaValue(*conn_, "PRAGMA " + std::string(name));
}

Result<std::int64_t> Database::dataVersion() {
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt, conn_->prepare("PRAGMA data_version"));
  PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) return Status::Internal("PRAGMA data_version returned no row");
  return stmt.columnInt64(0);
}

// Transaction -------------------------------------------------------------------------------------

Result<Transaction> Transaction::begin(Database& db, Kind kind) {
  Connection* conn = &db.connection();
  PKGXFER_ASSIGN_OR_RETURN(int depth, conn->begin(kind == Kind::Write));
  return Transaction(conn, depth);
}

Transaction::Transaction(Transaction&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), depth_(other.depth_) {}

Transaction::~Transaction() { rollback(); }

Status Transaction::commit() {
  if (conn_ == nullptr) return Status::Internal("commit of a finished transaction");
  PKGXFER_RETURN_IF_ERROR(conn_->commit(depth_));
  conn_ = nullptr;
  return Status::Ok();
}

void Transaction::rollback() {
  if (conn_ == nullptr) return;
  conn_->rollback(depth_);
  conn_ = nullptr;
}

}  // namespace pkgxfer::store
