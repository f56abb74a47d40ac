#pragma once

// Packages and their content versions (SPEC §2): what `pkgxfer package add/update/list/show`
// writes and reads, and what the distribution manager turns into transfer jobs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store {

// One file of a content version, as in the manifest (SPEC §3).
struct PackageFile {
  std::string path;              // relative, '/'-separated, no leading '/'
  std::uint64_t size = 0;        // bytes
  std::string sha256;            // 64 lower-case hex digits
  Timestamp mtime{};             // stored to the millisecond (truncated)
  std::uint32_t attributes = 0;  // file attribute bits, as the manifest carries them

  friend bool operator==(const PackageFile&, const PackageFile&) = default;
};

struct PackageRow {
  std::string package_id;  // e.g. "PS100001"
  std::string name;
  std::string source_path;  // the source folder as the administrator gave it (UTF-8)
  Priority priority = Priority::Medium;
  int current_version = 0;  // the latest content version; 0 only while the package has none
  Timestamp created_at{};
  Timestamp updated_at{};  // changes when a version is added
};

struct PackageVersionRow {
  std::string package_id;
  int version = 0;
  std::string manifest_sha256;    // SHA-256 of the DataLib manifest of this version
  std::uint64_t total_bytes = 0;  // sum of the files' sizes, duplicates counted
  std::uint64_t file_count = 0;
  Timestamp created_at{};
};

// What `package add` creates.
struct NewPackage {
  std::string package_id;  // must satisfy isValidPackageId() (upper case)
  std::string name;
  std::string source_path;
  Priority priority = Priority::Medium;
};

// One content version to record. total_bytes and file_count are computed from `files`.
struct PackageContent {
  std::string manifest_sha256;
  std::vector<PackageFile> files;  // paths unique within the version
  std::vector<std::string> dirs;   // every folder, empty ones included; unique
};

// Reads and writes packages, versions and their file lists. Every write is one transaction:
// a failure part-way (a duplicate path, a bad hash, a full disk) leaves no trace.
//
// Not thread-safe: use it where its Database is used (one thread or strand at a time). Holds a
// reference to the Database, which must outlive it.
class PackageRepository {
 public:
  explicit PackageRepository(Database& db) : db_(db) {}

  // Creates the package with content version 1. Errors: AlreadyExists (the ID is taken, or two
  // files or dirs share a path), InvalidArgument (malformed ID, empty name or source, bad hash or
  // path).
  Status add(const NewPackage& package, const PackageContent& content);
  // Records the next content version (current + 1), makes it current and returns its number.
  // Errors: NotFound (no such package), and those of add().
  Result<int> addVersion(std::string_view package_id, const PackageContent& content);

  // NotFound if there is no such package.
  Result<PackageRow> get(std::string_view package_id);
  // Every package, by ID.
  Result<std::vector<PackageRow>> list();
  // The current version. NotFound if there is no such package.
  Result<int> latestVersion(std::string_view package_id);
  // NotFound if the package or the version does not exist.
  Result<PackageVersionRow> getVersion(std::string_view package_id, int version);
  // Oldest first.
  Result<std::vector<PackageVersionRow>> listVersions(std::string_view package_id);
  // The files of one version, by path. NotFound if the version does not exist.
  Result<std::vector<PackageFile>> files(std::string_view package_id, int version);
  // The folders of one version, sorted. NotFound if the version does not exist.
  Result<std::vector<std::string>> dirs(std::string_view package_id, int version);

 private:
  Status insertVersion(std::string_view package_id, int version, const PackageContent& content);
  Database& db_;
};

}  // namespace pkgxfer::store
