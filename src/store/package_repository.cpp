#include "pkgxfer/store/package_repository.h"

#include "repository_util.h"
#include "sqlite.h"

namespace pkgxfer::store {

using internal::Connection;
using internal::Statement;

namespace {

constexpr std::string_view kPackageColumns =
    "package_id, name, source_path, priority, current_version, created_at, updated_at";

Result<PackageRow> readPackage(const Statement& stmt) {
  PackageRow row;
  row.package_id = stmt.columnText(0);
  row.name = stmt.columnText(1);
  row.source_path = stmt.columnText(2);
  PKGXFER_ASSIGN_OR_RETURN(row.priority, internal::columnEnum(stmt, 3, parsePriority));
  row.current_version = static_cast<int>(stmt.columnInt64(4));
  PKGXFER_ASSIGN_OR_RETURN(row.created_at, stmt.columnTime(5));
  PKGXFER_ASSIGN_OR_RETURN(row.updated_at, stmt.columnTime(6));
  return row;
}

Result<PackageVersionRow> readVersion(const Statement& stmt) {
  PackageVersionRow row;
  row.package_id = stmt.columnText(0);
  row.version = static_cast<int>(stmt.columnInt64(1));
  row.manifest_sha256 = stmt.columnText(2);
  row.total_bytes = static_cast<std::uint64_t>(stmt.columnInt64(3));
  row.file_count = static_cast<std::uint64_t>(stmt.columnInt64(4));
  PKGXFER_ASSIGN_OR_RETURN(row.created_at, stmt.columnTime(5));
  return row;
}

Result<int> currentVersion(Connection& conn, std::string_view package_id) {
  PKGXFER_ASSIGN_OR_RETURN(
      Statement stmt, conn.prepare("SELECT current_version FROM packages WHERE package_id = ?1"));
  stmt.bindAll(package_id);
  PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
  if (!found) return Status::NotFound("package " + std::string(package_id) + " does not exist");
  return static_cast<int>(stmt.columnInt64(0));
}

Status checkNewPackage(const NewPackage& package) {
  if (!isValidPackageId(package.package_id)) {
    return Status::InvalidArgument("package ID '" + package.package_id +
                                   "' is not of the form <site code><5 hex digits>");
  }
  if (package.name.empty()) return Status::InvalidArgument("the package name is empty");
  if (package.source_path.empty()) return Status::InvalidArgument("the source path is empty");
  return Status::Ok();
}

}  // namespace

Status PackageRepository::insertVersion(std::string_view package_id, int version,
                                        const PackageContent& content) {
  Connection& conn = db_.connection();
  const Timestamp now = conn.now();
  if (!isValidSha256(content.manifest_sha256)) {
    return Status::InvalidArgument("manifest hash '" + content.manifest_sha256 +
                                   "' is not 64 lower-case hex digits");
  }
  std::uint64_t total_bytes = 0;
  for (const PackageFile& file : content.files) total_bytes += file.size;
  {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("INSERT INTO package_versions (package_id, version, manifest_sha256, "
                     "total_bytes, file_count, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    stmt.bindAll(package_id, version, content.manifest_sha256, total_bytes, content.files.size(),
                 now);
    PKGXFER_RETURN_IF_ERROR(stmt.exec());
  }
  {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("INSERT INTO package_files (package_id, version, path, size, sha256, mtime, "
                     "attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    for (const PackageFile& file : content.files) {
      stmt.bindAll(package_id, version, file.path, file.size, file.sha256, file.mtime,
                   file.attributes);
      PKGXFER_RETURN_IF_ERROR(stmt.exec().withContext("file '" + file.path + "'"));
    }
  }
  {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.prepare("INSERT INTO package_dirs (package_id, version, path) VALUES (?1, ?2, ?3)"));
    for (const std::string& dir : content.dirs) {
      stmt.bindAll(package_id, version, dir);
      PKGXFER_RETURN_IF_ERROR(stmt.exec().withContext("folder '" + dir + "'"));
    }
  }
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt,
                           conn.prepare("UPDATE packages SET current_version = ?2, updated_at = ?3 "
                                        "WHERE package_id = ?1"));
  stmt.bindAll(package_id, version, now);
  return stmt.exec();
}

Status PackageRepository::add(const NewPackage& package, const PackageContent& content) {
  auto run = [&]() -> Status {
    PKGXFER_RETURN_IF_ERROR(checkNewPackage(package));
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    Connection& conn = db_.connection();
    PKGXFER_ASSIGN_OR_RETURN(
        bool exists, internal::rowExists(conn, "SELECT 1 FROM packages WHERE package_id = ?1",
                                         package.package_id));
    if (exists) {
      return Status::AlreadyExists("package " + package.package_id + " already exists");
    }
    const Timestamp now = conn.now();
    {
      PKGXFER_ASSIGN_OR_RETURN(
          Statement stmt,
          conn.prepare("INSERT INTO packages (package_id, name, source_path, priority, "
                       "current_version, created_at, updated_at) "
                       "VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)"));
      stmt.bindAll(package.package_id, package.name, package.source_path,
                   toString(package.priority), now);
      PKGXFER_RETURN_IF_ERROR(stmt.exec());
    }
    PKGXFER_RETURN_IF_ERROR(insertVersion(package.package_id, 1, content));
    return tx.commit();
  };
  return run().withContext("add package " + package.package_id);
}

Result<int> PackageRepository::addVersion(std::string_view package_id,
                                          const PackageContent& content) {
  auto run = [&]() -> Result<int> {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_));
    PKGXFER_ASSIGN_OR_RETURN(int current, currentVersion(db_.connection(), package_id));
    const int version = current + 1;
    PKGXFER_RETURN_IF_ERROR(insertVersion(package_id, version, content));
    PKGXFER_RETURN_IF_ERROR(tx.commit());
    return version;
  };
  return internal::withContext(run(), "add a version of package " + std::string(package_id));
}

Result<PackageRow> PackageRepository::get(std::string_view package_id) {
  auto run = [&]() -> Result<PackageRow> {
    PKGXFER_ASSIGN_OR_RETURN(Statement stmt,
                             db_.connection().prepare("SELECT " + std::string(kPackageColumns) +
                                                      " FROM packages WHERE package_id = ?1"));
    stmt.bindAll(package_id);
    PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
    if (!found) return Status::NotFound("package " + std::string(package_id) + " does not exist");
    return readPackage(stmt);
  };
  return internal::withContext(run(), "get package " + std::string(package_id));
}

Result<std::vector<PackageRow>> PackageRepository::list() {
  auto run = [&]() -> Result<std::vector<PackageRow>> {
    PKGXFER_ASSIGN_OR_RETURN(Statement stmt,
                             db_.connection().prepare("SELECT " + std::string(kPackageColumns) +
                                                      " FROM packages ORDER BY package_id"));
    std::vector<PackageRow> rows;
    while (true) {
      PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
      if (!more) break;
      PKGXFER_ASSIGN_OR_RETURN(PackageRow row, readPackage(stmt));
      rows.push_back(std::move(row));
    }
    return rows;
  };
  return internal::withContext(run(), "list packages");
}

Result<int> PackageRepository::latestVersion(std::string_view package_id) {
  return internal::withContext(currentVersion(db_.connection(), package_id),
                               "get the latest version of package " + std::string(package_id));
}

Result<PackageVersionRow> PackageRepository::getVersion(std::string_view package_id, int version) {
  auto run = [&]() -> Result<PackageVersionRow> {
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT package_id, version, manifest_sha256, total_bytes, "
                                 "file_count, created_at FROM package_versions "
                                 "WHERE package_id = ?1 AND version = ?2"));
    stmt.bindAll(package_id, version);
    PKGXFER_ASSIGN_OR_RETURN(bool found, stmt.step());
    if (!found) {
      PKGXFER_RETURN_IF_ERROR(
          internal::requirePackageVersion(db_.connection(), package_id, version));
      return Status::NotFound("package " + std::string(package_id) + " has no version " +
                              std::to_string(version));
    }
    return readVersion(stmt);
  };
  return internal::withContext(
      run(), "get package " + std::string(package_id) + " version " + std::to_string(version));
}

Result<std::vector<PackageVersionRow>> PackageRepository::listVersions(
    std::string_view package_id) {
  auto run = [&]() -> Result<std::vector<PackageVersionRow>> {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_, Transaction::Kind::Read));
    PKGXFER_RETURN_IF_ERROR(internal::requirePackage(db_.connection(), package_id));
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT package_id, version, manifest_sha256, total_bytes, "
                                 "file_count, created_at FROM package_versions "
                                 "WHERE package_id = ?1 ORDER BY version"));
    stmt.bindAll(package_id);
    std::vector<PackageVersionRow> rows;
    while (true) {
      PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
      if (!more) break;
      PKGXFER_ASSIGN_OR_RETURN(PackageVersionRow row, readVersion(stmt));
      rows.push_back(std::move(row));
    }
    return rows;
  };
  return internal::withContext(run(), "list versions of package " + std::string(package_id));
}

Result<std::vector<PackageFile>> PackageRepository::files(std::string_view package_id,
                                                          int version) {
  auto run = [&]() -> Result<std::vector<PackageFile>> {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_, Transaction::Kind::Read));
    PKGXFER_RETURN_IF_ERROR(internal::requirePackageVersion(db_.connection(), package_id, version));
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT path, size, sha256, mtime, attributes FROM package_files "
                                 "WHERE package_id = ?1 AND version = ?2 ORDER BY path"));
    stmt.bindAll(package_id, version);
    std::vector<PackageFile> files;
    while (true) {
      PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
      if (!more) break;
      PackageFile file;
      file.path = stmt.columnText(0);
      file.size = static_cast<std::uint64_t>(stmt.columnInt64(1));
      file.sha256 = stmt.columnText(2);
      PKGXFER_ASSIGN_OR_RETURN(file.mtime, stmt.columnTime(3));
      file.attributes = static_cast<std::uint32_t>(stmt.columnInt64(4));
      files.push_back(std::move(file));
    }
    return files;
  };
  return internal::withContext(run(), "list files of package " + std::string(package_id) +
                                          " version " + std::to_string(version));
}

Result<std::vector<std::string>> PackageRepository::dirs(std::string_view package_id, int version) {
  auto run = [&]() -> Result<std::vector<std::string>> {
    PKGXFER_ASSIGN_OR_RETURN(Transaction tx, Transaction::begin(db_, Transaction::Kind::Read));
    PKGXFER_RETURN_IF_ERROR(internal::requirePackageVersion(db_.connection(), package_id, version));
    PKGXFER_ASSIGN_OR_RETURN(
        Statement stmt,
        db_.connection().prepare("SELECT path FROM package_dirs "
                                 "WHERE package_id = ?1 AND version = ?2 ORDER BY path"));
    stmt.bindAll(package_id, version);
    std::vector<std::string> dirs;
    while (true) {
      PKGXFER_ASSIGN_OR_RETURN(bool more, stmt.step());
      if (!more) break;
      dirs.push_back(stmt.columnText(0));
    }
    return dirs;
  };
  return internal::withContext(run(), "list folders of package " + std::string(package_id) +
                                          " version " + std::to_string(version));
}

}  // namespace pkgxfer::store
