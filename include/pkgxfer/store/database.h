#pragma once

// The site database: one SQLite file, <site.data_dir>/site.db, shared by the service (pkgxferd)
// and the admin CLI (pkgxfer), each through its own connection. It is also the request queue
// between them (SPEC §5). Only the store module includes sqlite3.h; other modules see a Database
// and the repositories built on it (package_repository.h, request_repository.h, ...).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/status.h"

namespace pkgxfer::store {

namespace internal {
class Connection;
}  // namespace internal

// The schema version this build creates and understands (PRAGMA user_version). Opening a file
// with a newer version is refused; an older one is migrated step by step.
int currentSchemaVersion();

// How hard a commit is pushed to disk. The journal is always WAL.
//
// Normal (synchronous=NORMAL, the default): a committed transaction survives a crash or kill -9 of
// the process, because it is in the WAL file and the next open replays it. A power loss or OS crash
// may roll back the transactions committed since the last checkpoint, but never corrupts the file.
// That suits the service: every state it writes is re-derivable (the next check of a DP finds what
// is there; a partial-body offset that goes back only resends bytes) and a progress update per
// block must not cost an fsync.
//
// Full (synchronous=FULL): the WAL is fsynced at every commit, so a commit also survives power
// loss. Use it where a commit is acknowledged to a person, i.e. the CLI: once `pkgxfer distribute`
// says the request is queued, the request must not vanish.
enum class Durability { Normal, Full };

// Which database a file is, so which migrations open() applies: the site's (site.db: packages,
// DPs, distributions, jobs, status) or a pull DP's own (pulldp.db beside its content library:
// the pull jobs it was notified of and their resume points, pull_job_repository.h).
enum class Schema { Site, PullDp };

struct DatabaseOptions {
  Durability durability = Durability::Normal;
  // How long a statement waits for another connection's lock before failing with Unavailable.
  int busy_timeout_ms = 5000;  // 0..600000
  // Run PRAGMA quick_check when opening (O(size of the file); a few ms for a site database).
  bool integrity_check = true;
  Schema schema = Schema::Site;
};

// One connection to the site database.
//
// Open: creates the folder and the file if needed, sets WAL journaling, the durability above,
// busy_timeout and foreign_keys=ON, runs PRAGMA quick_check, then applies the schema migrations
// this build knows (each in its own transaction). A file left by a killed process opens cleanly
// (SQLite replays or discards the WAL).
//
// Thread-safety: not thread-safe. A Database (and every repository built on it) is used from one
// thread or strand at a time — in the service, the owning component's strand. Several processes
// or threads may each open their own Database on the same file concurrently: WAL lets readers run
// beside the writer, and writers wait up to busy_timeout_ms for each other.
class Database {
 public:
  // Opens (creating if needed) the database at `file`; `clock` stamps every *_at column and must
  // outlive the Database. Errors name the file and the cause, e.g.
  // "open /x/site.db: unable to open database file (Permission denied)":
  //   PermissionDenied (EACCES/EPERM, or the file is read-only), IoError (other OS errors),
  //   Corruption (not a database, or quick_check failed — the message holds its findings),
  //   InvalidArgument ("database schema version N is newer than this pkgxfer supports (M)"),
  //   Unavailable (another connection held a lock past busy_timeout_ms during migration).
  static Result<std::unique_ptr<Database>> open(const std::filesystem::path& file, Clock& clock,
                                                const DatabaseOptions& options = {});

  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::filesystem::path& path() const;
  Clock& clock() const;

  // PRAGMA user_version of the file: currentSchemaVersion() once open() succeeded.
  Result<int> schemaVersion();
  // PRAGMA quick_check now; Corruption with its findings unless the answer is "ok".
  Status quickCheck();
  // The value of a read-only PRAGMA for diagnostics and tests ("journal_mode" → "wal",
  // "foreign_keys" → "1"). `name` must be [a-z_]+ (InvalidArgument otherwise).
  Result<std::string> pragma(std::string_view name);
  // PRAGMA data_version: a number that changes when ANOTHER connection (this process or another)
  // committed to the file since the last call on this connection; our own commits leave it as is.
  // Cheap (in WAL mode it reads the shared-memory index, no file I/O), so a component can check it
  // every few milliseconds to notice new work without re-reading its queue. Only the change means
  // something, not the value. Must be called outside a transaction (inside one it cannot change).
  Result<std::int64_t> dataVersion();

  // For the store's own implementation; opaque to other modules.
  internal::Connection& connection() { return *conn_; }

 private:
  explicit Database(std::unique_ptr<internal::Connection> conn);
  std::unique_ptr<internal::Connection> conn_;
};

// Where a site keeps its database: <data_dir>/site.db.
std::filesystem::path siteDatabasePath(const std::filesystem::path& data_dir);

// An RAII transaction over a Database, so that several repository calls commit together
// (e.g. complete a request and create its jobs). Rolled back on destruction unless committed.
//
// Write (BEGIN IMMEDIATE) takes the database's write lock at once, so the transaction never fails
// half-way on a lock another writer took after it started reading. Read (BEGIN DEFERRED) gives a
// consistent snapshot across several reads without blocking writers.
//
// Transactions nest: beginning one while another is open on the same Database makes a savepoint,
// committed or rolled back with its parent. Every repository method runs in such a (possibly
// nested) transaction. A Write nested in a Read is refused (Internal). Not thread-safe, like
// the Database; it must not outlive it, and nested transactions end in reverse order.
class Transaction {
 public:
  enum class Kind { Write, Read };

  // Errors: Unavailable when the write lock stayed busy past busy_timeout_ms.
  static Result<Transaction> begin(Database& db, Kind kind = Kind::Write);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  // Makes the changes permanent (or, nested, part of the parent). After a failed commit the
  // transaction is rolled back by the destructor.
  Status commit();
  // Undoes the changes now; the destructor does the same if neither was called.
  void rollback();

 private:
  Transaction(internal::Connection* conn, int depth) : conn_(conn), depth_(depth) {}
  internal::Connection* conn_;
  int depth_;  // 1 = outermost
};

}  // namespace pkgxfer::store
