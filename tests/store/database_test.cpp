#include "pkgxfer/store/database.h"
#include "pkgxfer/store/change_watch.h"
#include "pkgxfer/store/distribution_repository.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "migrations.h"
#include "sqlite.h"
#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

namespace fs = std::filesystem;
using pkgxfer::testing::FakeClock;
using pkgxfer::testing::TempDir;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A bare connection with no schema, for migration tests.
std::unique_ptr<internal::Connection> rawConnection(const fs::path& file, Clock& clock) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
            SQLITE_OK);
  sqlite3_extended_result_codes(db, 1);
  return std::make_unique<internal::Connection>(db, file, clock);
}

Result<std::vector<std::string>> tableNames(internal::Connection& conn) {
  PKGXFER_ASSIGN_OR_RETURN(
      internal::Statement stmt,
      conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
                   "'sqlite_%' ORDER BY name"));
  std::vector<std::string> names;
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
    if (!more) break;
    names.push_back(stmt.columnText(0));
  }
  return names;
}

class DatabaseTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Database>> open(const fs::path& file, DatabaseOptions options = {}) {
    return Database::open(file, clock_, options);
  }
  TempDir dir_;
  FakeClock clock_;
};

// Verifies a first open creates the folders, the file and the whole schema.
TEST_F(DatabaseTest, CreatesFoldersFileAndSchemaFromNothing) {
  const fs::path file = dir_.path() / "var" / "site" / "site.db";
  auto db = open(file);
  ASSERT_TRUE(db.ok()) << db.status().toString();
  EXPECT_TRUE(fs::exists(file));
  EXPECT_EQ((*db)->path(), file);
  auto version = (*db)->schemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(*version, currentSchemaVersion());
  EXPECT_GE(currentSchemaVersion(), 1);
  auto tables = tableNames((*db)->connection());
  ASSERT_TRUE(tables.ok()) << tables.status().toString();
  EXPECT_EQ(*tables, (std::vector<std::string>{
                         "distribution_points", "distributions", "package_dirs", "package_files",
                         "package_versions", "packages", "pull_transfers", "requests",
                         "status_messages", "transfer_jobs", "transfer_partials"}));
}

// Verifies re-opening an up-to-date database changes nothing and keeps the data.
TEST_F(DatabaseTest, ReopenIsIdempotent) {
  const fs::path file = siteDatabasePath(dir_.path());
  EXPECT_EQ(file, dir_.path() / "site.db");
  {
    auto db = open(file);
    ASSERT_TRUE(db.ok()) << db.status().toString();
    ASSERT_TRUE(PackageRepository(**db)
                    .add({"PS100001", "Office", "/src/office", Priority::High}, makeContent(2))
                    .ok());
  }
  for (int i = 0; i < 2; ++i) {
    auto db = open(file);
    ASSERT_TRUE(db.ok()) << db.status().toString();
    EXPECT_EQ(*(*db)->schemaVersion(), currentSchemaVersion());
    auto package = PackageRepository(**db).get("PS100001");
    ASSERT_TRUE(package.ok()) << package.status().toString();
    EXPECT_EQ(package->name, "Office");
  }
}

// Verifies the connection settings the store promises are in effect.
TEST_F(DatabaseTest, PragmasInEffect) {
  auto db = open(dir_.path() / "site.db");
  ASSERT_TRUE(db.ok()) << db.status().toString();
  EXPECT_EQ(*(*db)->pragma("journal_mode"), "wal");
  EXPECT_EQ(*(*db)->pragma("foreign_keys"), "1");
  EXPECT_EQ(*(*db)->pragma("synchronous"), "1");  // NORMAL
  EXPECT_EQ(*(*db)->pragma("busy_timeout"), "5000");
  EXPECT_TRUE((*db)->quickCheck().ok());
  EXPECT_EQ((*db)->pragma("journal_mode; DROP TABLE packages").status().code(),
            Status::Code::InvalidArgument);

  DatabaseOptions full;
  full.durability = Durability::Full;
  full.busy_timeout_ms = 250;
  auto cli = open(dir_.path() / "site.db", full);
  ASSERT_TRUE(cli.ok()) << cli.status().toString();
  EXPECT_EQ(*(*cli)->pragma("synchronous"), "2");  // FULL
  EXPECT_EQ(*(*cli)->pragma("busy_timeout"), "250");
}

// Verifies a file written by a newer pkgxfer is refused with both versions named.
TEST_F(DatabaseTest, RefusesNewerSchemaVersion) {
  const fs::path file = dir_.path() / "site.db";
  {
    auto db = open(file);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->connection().exec("PRAGMA user_version = 99").ok());
  }
  auto db = open(file);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::InvalidArgument);
  EXPECT_TRUE(contains(db.status().message(),
                       "database schema version 99 is newer than this pkgxfer supports (" +
                           std::to_string(currentSchemaVersion()) + ")"))
      << db.status().message();
  EXPECT_TRUE(contains(db.status().message(), file.string())) << db.status().message();
}

// Verifies damaged pages in the middle of the file are reported as Corruption by the open-time
// integrity check.
TEST_F(DatabaseTest, ReportsCorruptPages) {
  const fs::path file = dir_.path() / "site.db";
  {
    auto db = open(file);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(
        PackageRepository(**db).add({"PS100001", "Big", "/src/big"}, makeContent(3000)).ok());
    ASSERT_TRUE((*db)->quickCheck().ok());
  }
  // Closing the last connection checkpoints the WAL into the file and deletes it.
  ASSERT_FALSE(fs::exists(file.string() + "-wal"));
  const auto size = fs::file_size(file);
  const std::uintmax_t page = 4096;
  ASSERT_GT(size, 40 * page);
  {
    std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
    const std::uintmax_t start = (size / page / 2) * page;
    out.seekp(static_cast<std::streamoff>(start));
    std::string garbage(4 * page, '\0');
    for (std::size_t i = 0; i < garbage.size(); ++i) {
      garbage[i] = static_cast<char>((i * 131 + 7) & 0xff);
    }
    out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    ASSERT_TRUE(out.good());
  }
  auto db = open(file);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::Corruption) << db.status().toString();
  EXPECT_TRUE(contains(db.status().message(), "open " + file.string() + ": integrity check"))
      << db.status().message();

  // Without the open-time check, quickCheck() finds the same.
  DatabaseOptions unchecked;
  unchecked.integrity_check = false;
  auto unchecked_db = open(file, unchecked);
  ASSERT_TRUE(unchecked_db.ok()) << unchecked_db.status().toString();
  EXPECT_EQ((*unchecked_db)->quickCheck().code(), Status::Code::Corruption);
}

// Verifies a file that is not a database is Corruption naming the file.
TEST_F(DatabaseTest, NotADatabaseIsCorruption) {
  const fs::path file = dir_.path() / "site.db";
  pkgxfer::testing::writeFile(file, std::string(8192, 'x'));
  auto db = open(file);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::Corruption) << db.status().toString();
  EXPECT_EQ(db.status().message(), "open " + file.string() + ": file is not a database");
}

// Verifies open errors name the file and the OS cause.
TEST_F(DatabaseTest, OpenErrorsNameFileAndCause) {
  // The database path is a folder.
  const fs::path folder = dir_.path() / "folder.db";
  fs::create_directories(folder);
  auto db = open(folder);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::IoError) << db.status().toString();
  EXPECT_TRUE(
      contains(db.status().message(), "open " + folder.string() + ": unable to open database file"))
      << db.status().message();

  // The parent "folder" is a file.
  const fs::path file = dir_.path() / "plain";
  pkgxfer::testing::writeFile(file, "x");
  db = open(file / "site.db");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::IoError) << db.status().toString();
  EXPECT_TRUE(contains(db.status().message(), "create directory " + file.string()))
      << db.status().message();

  EXPECT_EQ(open("").status().code(), Status::Code::InvalidArgument);
  DatabaseOptions bad;
  bad.busy_timeout_ms = -1;
  EXPECT_EQ(open(dir_.path() / "x.db", bad).status().code(), Status::Code::InvalidArgument);
}

// Verifies an unwritable folder is PermissionDenied (meaningless as root, who bypasses modes).
TEST_F(DatabaseTest, UnwritableFolderIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  const fs::path locked = dir_.path() / "locked";
  fs::create_directories(locked);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  auto db = open(locked / "site.db");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::PermissionDenied) << db.status().toString();
  EXPECT_TRUE(contains(db.status().message(), (locked / "site.db").string()));
}

// Verifies a lock held past busy_timeout is Unavailable (retryable), not a hard failure.
TEST_F(DatabaseTest, BusyLockIsUnavailable) {
  const fs::path file = dir_.path() / "site.db";
  auto first = open(file);
  ASSERT_TRUE(first.ok());
  DatabaseOptions impatient;
  impatient.busy_timeout_ms = 0;
  auto second = open(file, impatient);
  ASSERT_TRUE(second.ok()) << second.status().toString();

  auto holding = Transaction::begin(**first);
  ASSERT_TRUE(holding.ok());
  auto blocked = Transaction::begin(**second);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), Status::Code::Unavailable) << blocked.status().toString();
  // Readers are not blocked by the writer (WAL).
  EXPECT_TRUE(PackageRepository(**second).list().ok());
  holding->rollback();
  EXPECT_TRUE(Transaction::begin(**second).ok());
}

// Verifies rollback on destruction, commit, and nested savepoints.
TEST_F(DatabaseTest, TransactionsRollBackUnlessCommitted) {
  auto db = open(dir_.path() / "site.db");
  ASSERT_TRUE(db.ok());
  PackageRepository packages(**db);
  {
    auto tx = Transaction::begin(**db);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(packages.add({"PS100001", "A", "/a"}, makeContent(1)).ok());
    EXPECT_TRUE(packages.get("PS100001").ok());  // visible inside
  }
  EXPECT_EQ(packages.get("PS100001").status().code(), Status::Code::NotFound);

  {
    auto outer = Transaction::begin(**db);
    ASSERT_TRUE(outer.ok());
    ASSERT_TRUE(packages.add({"PS100001", "A", "/a"}, makeContent(1)).ok());
    {
      auto inner = Transaction::begin(**db);
      ASSERT_TRUE(inner.ok());
      ASSERT_TRUE(packages.add({"PS100002", "B", "/b"}, makeContent(1)).ok());
      // dropped: inner rolls back
    }
    {
      auto read = Transaction::begin(**db, Transaction::Kind::Read);
      ASSERT_TRUE(read.ok());
      EXPECT_TRUE(read->commit().ok());
    }
    ASSERT_TRUE(outer->commit().ok());
    EXPECT_EQ(outer->commit().code(), Status::Code::Internal);
  }
  EXPECT_TRUE(packages.get("PS100001").ok());
  EXPECT_EQ(packages.get("PS100002").status().code(), Status::Code::NotFound);

  auto read = Transaction::begin(**db, Transaction::Kind::Read);
  ASSERT_TRUE(read.ok());
  auto write = Transaction::begin(**db, Transaction::Kind::Write);
  EXPECT_EQ(write.status().code(), Status::Code::Internal);
  // Repository writes inside a read transaction are refused the same way.
  EXPECT_EQ(packages.add({"PS100003", "C", "/c"}, makeContent(1)).code(), Status::Code::Internal);
  EXPECT_TRUE(packages.get("PS100001").ok());  // reads are fine
}

// Verifies data_version moves when another connection commits, and neither after our own commit
// nor after the other connection only reads: what lets a component notice new work cheaply.
TEST_F(DatabaseTest, DataVersionChangesOnlyForAnotherConnectionsCommit) {
  auto mine = open(dir_.path() / "site.db");
  ASSERT_TRUE(mine.ok()) << mine.status().toString();
  auto other = open(dir_.path() / "site.db");
  ASSERT_TRUE(other.ok()) << other.status().toString();
  auto v0 = (*mine)->dataVersion();
  ASSERT_TRUE(v0.ok()) << v0.status().toString();
  EXPECT_EQ(*(*mine)->dataVersion(), *v0);  // nothing happened

  ASSERT_TRUE(PackageRepository(**mine).add({"PS100001", "A", "/a"}, makeContent(1)).ok());
  EXPECT_EQ(*(*mine)->dataVersion(), *v0);  // our own commit

  EXPECT_TRUE(PackageRepository(**other).get("PS100001").ok());
  EXPECT_EQ(*(*mine)->dataVersion(), *v0);  // the other one only read

  ASSERT_TRUE(PackageRepository(**other).add({"PS100002", "B", "/b"}, makeContent(1)).ok());
  auto v1 = (*mine)->dataVersion();
  ASSERT_TRUE(v1.ok());
  EXPECT_NE(*v1, *v0);
  EXPECT_EQ(*(*mine)->dataVersion(), *v1);  // stable until the next foreign commit

  {  // a transaction the other connection rolled back changes nothing
    auto tx = Transaction::begin(**other);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(PackageRepository(**other).add({"PS100003", "C", "/c"}, makeContent(1)).ok());
  }
  EXPECT_EQ(*(*mine)->dataVersion(), *v1);
  ASSERT_TRUE(PackageRepository(**other).add({"PS100003", "C", "/c"}, makeContent(1)).ok());
  EXPECT_NE(*(*mine)->dataVersion(), *v1);
}

TEST_F(DatabaseTest, ChangeWatchIsDueOnAForeignCommitOrAfterItsPeriod) {
  auto mine = open(dir_.path() / "site.db");
  ASSERT_TRUE(mine.ok()) << mine.status().toString();
  auto other = open(dir_.path() / "site.db");
  ASSERT_TRUE(other.ok()) << other.status().toString();
  ChangeWatch watch(**mine, std::chrono::hours(1));
  EXPECT_TRUE(watch.due());  // never read yet
  watch.reading();
  EXPECT_FALSE(watch.due());
  ASSERT_TRUE(PackageRepository(**mine).add({"PS100001", "A", "/a"}, makeContent(1)).ok());
  EXPECT_FALSE(watch.due());  // our own commit is not news
  ASSERT_TRUE(PackageRepository(**other).add({"PS100002", "B", "/b"}, makeContent(1)).ok());
  EXPECT_TRUE(watch.due());
  EXPECT_TRUE(watch.due());  // until the queue is read
  watch.reading();
  EXPECT_FALSE(watch.due());

  ChangeWatch periodic(**mine, std::chrono::milliseconds(0));
  periodic.reading();
  EXPECT_TRUE(periodic.due());  // the period passed: time-based work is read even without news
}

// Verifies migrations run in order, each in one transaction: a failing step leaves the previous
// version and nothing of itself.
TEST_F(DatabaseTest, MigrationStepsAreAtomic) {
  auto conn = rawConnection(dir_.path() / "m.db", clock_);
  const internal::Migration good[] = {
      {1, "one", "CREATE TABLE a (x INTEGER) STRICT;"},
      {2, "two", "CREATE TABLE b (x INTEGER) STRICT; INSERT INTO b VALUES (1);"},
  };
  ASSERT_TRUE(internal::migrate(*conn, good).ok());
  EXPECT_EQ(*internal::readUserVersion(*conn), 2);
  ASSERT_TRUE(internal::migrate(*conn, good).ok());  // idempotent
  EXPECT_EQ(*internal::readUserVersion(*conn), 2);

  const internal::Migration failing[] = {
      good[0],
      good[1],
      {3, "three", "CREATE TABLE c (x INTEGER) STRICT; INSERT INTO c VALUES ('not a number');"},
  };
  Status status = internal::migrate(*conn, failing);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(contains(status.message(), "migrate to schema version 3 (three)"))
      << status.message();
  EXPECT_EQ(*internal::readUserVersion(*conn), 2);
  auto tables = tableNames(*conn);
  ASSERT_TRUE(tables.ok());
  EXPECT_EQ(*tables, (std::vector<std::string>{"a", "b"}));  // no table c

  const internal::Migration gap[] = {good[0], {3, "three", "SELECT 1"}};
  EXPECT_EQ(internal::migrate(*conn, gap).code(), Status::Code::Internal);
}

// Verifies the schema's own steps are numbered and apply to an empty file.
TEST_F(DatabaseTest, SchemaMigrationsApplyFromEmpty) {
  auto conn = rawConnection(dir_.path() / "s.db", clock_);
  ASSERT_TRUE(conn->exec("PRAGMA foreign_keys = ON").ok());
  Status status = internal::migrate(*conn, internal::schemaMigrations());
  ASSERT_TRUE(status.ok()) << status.toString();
  EXPECT_EQ(*internal::readUserVersion(*conn), currentSchemaVersion());
}

// Verifies a site.db of schema version 1 (before distributions.action) is brought forward with
// its rows: a pair it holds reads back as an `add`.
TEST_F(DatabaseTest, VersionOneDatabaseGainsTheDistributionAction) {
  const fs::path file = dir_.path() / "v1.db";
  {
    auto conn = rawConnection(file, clock_);
    ASSERT_TRUE(internal::migrate(*conn, internal::schemaMigrations().first(1)).ok());
    Status s = conn->exec(
        "INSERT INTO distribution_points (name, type, address, added_at, updated_at) "
        "VALUES ('dp01', 'standard', 'file:///dp01', '2026-01-01T00:00:00.000Z', "
        "'2026-01-01T00:00:00.000Z');"
        "INSERT INTO packages (package_id, name, source_path, priority, current_version, "
        "created_at, updated_at) VALUES ('PS100001', 'p', '/src', 'medium', 1, "
        "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');"
        "INSERT INTO package_versions (package_id, version, manifest_sha256, total_bytes, "
        "file_count, created_at) VALUES ('PS100001', 1, '" +
        std::string(64, 'a') +
        "', 1, 1, '2026-01-01T00:00:00.000Z');"
        "INSERT INTO distributions (package_id, dp, version, state, created_at, updated_at) "
        "VALUES ('PS100001', 'dp01', 1, 'retrying', '2026-01-01T00:00:00.000Z', "
        "'2026-01-01T00:00:00.000Z');");
    ASSERT_TRUE(s.ok()) << s.toString();
  }
  auto db = open(file);
  ASSERT_TRUE(db.ok()) << db.status().toString();
  EXPECT_EQ(*(*db)->schemaVersion(), currentSchemaVersion());
  auto row = DistributionRepository(**db).get("PS100001", "dp01");
  ASSERT_TRUE(row.ok()) << row.status().toString();
  EXPECT_EQ(row->state, DistributionState::Retrying);
  EXPECT_EQ(row->action, JobAction::Add);
}

// Verifies the statement cache hands out distinct statements for the same SQL in use at once.
TEST_F(DatabaseTest, StatementCacheAllowsNestedUse) {
  auto db = open(dir_.path() / "site.db");
  ASSERT_TRUE(db.ok());
  internal::Connection& conn = (*db)->connection();
  auto a = conn.prepare("SELECT ?1");
  auto b = conn.prepare("SELECT ?1");
  ASSERT_TRUE(a.ok() && b.ok());
  a->bindAll("first");
  b->bindAll("second");
  ASSERT_TRUE(*a->step());
  ASSERT_TRUE(*b->step());
  EXPECT_EQ(a->columnText(0), "first");
  EXPECT_EQ(b->columnText(0), "second");
  EXPECT_EQ(conn.prepare("SELECT 1; SELECT 2").status().code(), Status::Code::Internal);
  EXPECT_EQ(conn.prepare("SELEC 1").status().code(), Status::Code::Internal);
}

// Verifies SQLite result codes map to the Status kinds callers act on.
TEST(StatusFromSqliteTest, MapsResultCodes) {
  using internal::statusFromSqlite;
  EXPECT_EQ(statusFromSqlite(SQLITE_BUSY, nullptr).code(), Status::Code::Unavailable);
  EXPECT_EQ(statusFromSqlite(SQLITE_LOCKED, nullptr).code(), Status::Code::Unavailable);
  EXPECT_EQ(statusFromSqlite(SQLITE_CONSTRAINT_UNIQUE, nullptr).code(),
            Status::Code::AlreadyExists);
  EXPECT_EQ(statusFromSqlite(SQLITE_CONSTRAINT_PRIMARYKEY, nullptr).code(),
            Status::Code::AlreadyExists);
  EXPECT_EQ(statusFromSqlite(SQLITE_CONSTRAINT_CHECK, nullptr).code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(statusFromSqlite(SQLITE_CONSTRAINT_FOREIGNKEY, nullptr).code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(statusFromSqlite(SQLITE_CORRUPT, nullptr).code(), Status::Code::Corruption);
  EXPECT_EQ(statusFromSqlite(SQLITE_NOTADB, nullptr).code(), Status::Code::Corruption);
  EXPECT_EQ(statusFromSqlite(SQLITE_READONLY, nullptr).code(), Status::Code::PermissionDenied);
  EXPECT_EQ(statusFromSqlite(SQLITE_IOERR_WRITE, nullptr).code(), Status::Code::IoError);
  EXPECT_EQ(statusFromSqlite(SQLITE_FULL, nullptr).code(), Status::Code::IoError);
  EXPECT_EQ(statusFromSqlite(SQLITE_INTERRUPT, nullptr).code(), Status::Code::Cancelled);
  EXPECT_EQ(statusFromSqlite(SQLITE_MISUSE, nullptr).code(), Status::Code::Internal);
  EXPECT_EQ(statusFromSqlite(SQLITE_BUSY, nullptr).message(), "database is locked");
}

}  // namespace
}  // namespace pkgxfer::store
