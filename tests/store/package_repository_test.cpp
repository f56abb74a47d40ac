#include "pkgxfer/store/package_repository.h"

#include <gtest/gtest.h>

#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

class PackageRepositoryTest : public StoreTest {
 protected:
  std::int64_t rowsOf(const std::string& package_id) {
    return count("SELECT (SELECT count(*) FROM packages WHERE package_id = '" + package_id +
                 "') + (SELECT count(*) FROM package_versions WHERE package_id = '" + package_id +
                 "') + (SELECT count(*) FROM package_files WHERE package_id = '" + package_id +
                 "') + (SELECT count(*) FROM package_dirs WHERE package_id = '" + package_id +
                 "')");
  }
};

// Verifies add() records the package, its version 1 with totals, every file and folder.
TEST_F(PackageRepositoryTest, AddsPackageWithFirstVersion) {
  PackageRepository packages(db());
  PackageContent content = makeContent(5);
  ASSERT_TRUE(
      packages.add({"PS100001", "Office 2024", "/src/office", Priority::High}, content).ok());

  auto row = packages.get("PS100001");
  ASSERT_TRUE(row.ok()) << row.status().toString();
  EXPECT_EQ(row->name, "Office 2024");
  EXPECT_EQ(row->source_path, "/src/office");
  EXPECT_EQ(row->priority, Priority::High);
  EXPECT_EQ(row->current_version, 1);
  EXPECT_EQ(row->created_at, nowMs());
  EXPECT_EQ(*packages.latestVersion("PS100001"), 1);

  auto version = packages.getVersion("PS100001", 1);
  ASSERT_TRUE(version.ok()) << version.status().toString();
  EXPECT_EQ(version->manifest_sha256, content.manifest_sha256);
  EXPECT_EQ(version->file_count, 5u);
  EXPECT_EQ(version->total_bytes, 100u + 101 + 102 + 103 + 104);

  auto files = packages.files("PS100001", 1);
  ASSERT_TRUE(files.ok()) << files.status().toString();
  std::vector<PackageFile> expected = content.files;
  std::sort(expected.begin(), expected.end(),
            [](const PackageFile& a, const PackageFile& b) { return a.path < b.path; });
  EXPECT_EQ(*files, expected);

  auto dirs = packages.dirs("PS100001", 1);
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(*dirs, (std::vector<std::string>{"dir0", "dir1", "dir2", "empty"}));
}

// Verifies a package with no files (an empty source folder) is a valid version.
TEST_F(PackageRepositoryTest, AddsEmptyContent) {
  PackageRepository packages(db());
  PackageContent empty;
  empty.manifest_sha256 = fakeSha(1);
  ASSERT_TRUE(packages.add({"PS100001", "Empty", "/src/empty"}, empty).ok());
  EXPECT_EQ(packages.getVersion("PS100001", 1)->total_bytes, 0u);
  EXPECT_TRUE(packages.files("PS100001", 1)->empty());
}

// Verifies mtime is kept to the millisecond.
TEST_F(PackageRepositoryTest, KeepsMtimeToTheMillisecond) {
  PackageRepository packages(db());
  PackageContent content = makeContent(1);
  content.files[0].mtime = Timestamp(std::chrono::nanoseconds(1'700'000'000'123'456'789LL));
  ASSERT_TRUE(packages.add({"PS100001", "A", "/a"}, content).ok());
  EXPECT_EQ(packages.files("PS100001", 1)->at(0).mtime,
            Timestamp(std::chrono::milliseconds(1'700'000'000'123LL)));
}

// Verifies a duplicate file path part-way through leaves no package, version, file or folder row:
// the whole add is one transaction.
TEST_F(PackageRepositoryTest, FailedAddLeavesNothing) {
  PackageRepository packages(db());
  PackageContent content = makeContent(10);
  content.files.push_back(content.files[3]);  // the 11th insert violates the primary key
  Status status = packages.add({"PS100001", "A", "/a"}, content);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), Status::Code::AlreadyExists) << status.toString();
  EXPECT_NE(status.message().find("add package PS100001: file '" + content.files[3].path + "'"),
            std::string::npos)
      << status.message();
  EXPECT_EQ(packages.get("PS100001").status().code(), Status::Code::NotFound);
  EXPECT_EQ(rowsOf("PS100001"), 0);

  // A bad hash on the last file: a CHECK constraint, InvalidArgument, same all-or-nothing.
  content = makeContent(4);
  content.files.back().sha256 = "ABC";
  status = packages.add({"PS100001", "A", "/a"}, content);
  EXPECT_EQ(status.code(), Status::Code::InvalidArgument) << status.toString();
  EXPECT_EQ(rowsOf("PS100001"), 0);

  // Folders are inserted last.
  content = makeContent(4);
  content.dirs.push_back("dir0");
  EXPECT_EQ(packages.add({"PS100001", "A", "/a"}, content).code(), Status::Code::AlreadyExists);
  EXPECT_EQ(rowsOf("PS100001"), 0);

  // The same package then adds cleanly.
  EXPECT_TRUE(packages.add({"PS100001", "A", "/a"}, makeContent(4)).ok());
}

// Verifies addVersion() numbers versions, keeps older ones, and is atomic too.
TEST_F(PackageRepositoryTest, AddsVersions) {
  PackageRepository packages(db());
  ASSERT_TRUE(packages.add({"PS100001", "A", "/a"}, makeContent(2, 1)).ok());
  clock_.advance(std::chrono::minutes(5));
  auto v2 = packages.addVersion("PS100001", makeContent(7, 2));
  ASSERT_TRUE(v2.ok()) << v2.status().toString();
  EXPECT_EQ(*v2, 2);
  EXPECT_EQ(*packages.latestVersion("PS100001"), 2);
  EXPECT_EQ(packages.get("PS100001")->updated_at, nowMs());
  EXPECT_EQ(packages.files("PS100001", 1)->size(), 2u);
  EXPECT_EQ(packages.files("PS100001", 2)->size(), 7u);
  auto versions = packages.listVersions("PS100001");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 1);
  EXPECT_EQ((*versions)[1].version, 2);

  PackageContent bad = makeContent(3, 3);
  bad.files[1] = bad.files[0];
  EXPECT_EQ(packages.addVersion("PS100001", bad).status().code(), Status::Code::AlreadyExists);
  EXPECT_EQ(*packages.latestVersion("PS100001"), 2);
  EXPECT_EQ(packages.getVersion("PS100001", 3).status().code(), Status::Code::NotFound);
  EXPECT_EQ(count("SELECT count(*) FROM package_files WHERE version = 3"), 0);

  EXPECT_EQ(packages.addVersion("PS1FFFFF", makeContent(1)).status().code(),
            Status::Code::NotFound);
}

// Verifies duplicate and malformed packages are refused with the right kinds.
TEST_F(PackageRepositoryTest, RefusesDuplicateAndMalformed) {
  PackageRepository packages(db());
  ASSERT_TRUE(packages.add({"PS100001", "A", "/a"}, makeContent(1)).ok());
  Status dup = packages.add({"PS100001", "B", "/b"}, makeContent(1));
  EXPECT_EQ(dup.code(), Status::Code::AlreadyExists);
  EXPECT_EQ(dup.message(), "add package PS100001: package PS100001 already exists");
  EXPECT_EQ(packages.get("PS100001")->name, "A");

  EXPECT_EQ(packages.add({"PS10000a", "A", "/a"}, makeContent(1)).code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(packages.add({"PS1", "A", "/a"}, makeContent(1)).code(), Status::Code::InvalidArgument);
  EXPECT_EQ(packages.add({"PS100002", "", "/a"}, makeContent(1)).code(),
            Status::Code::InvalidArgument);
  PackageContent no_manifest = makeContent(1);
  no_manifest.manifest_sha256.clear();
  EXPECT_EQ(packages.add({"PS100002", "A", "/a"}, no_manifest).code(),
            Status::Code::InvalidArgument);
  PackageContent absolute = makeContent(1);
  absolute.files[0].path = "/etc/passwd";
  EXPECT_EQ(packages.add({"PS100002", "A", "/a"}, absolute).code(), Status::Code::InvalidArgument);
  EXPECT_EQ(rowsOf("PS100002"), 0);
}

// Verifies reads of missing things are NotFound, and list() is ordered by ID.
TEST_F(PackageRepositoryTest, ReadsAndNotFound) {
  PackageRepository packages(db());
  EXPECT_EQ(packages.get("PS100001").status().code(), Status::Code::NotFound);
  EXPECT_EQ(packages.latestVersion("PS100001").status().code(), Status::Code::NotFound);
  EXPECT_EQ(packages.listVersions("PS100001").status().code(), Status::Code::NotFound);
  ASSERT_TRUE(packages.add({"PS100002", "B", "/b"}, makeContent(1)).ok());
  ASSERT_TRUE(packages.add({"PS100001", "A", "/a"}, makeContent(1)).ok());
  auto files = packages.files("PS100001", 2);
  EXPECT_EQ(files.status().code(), Status::Code::NotFound);
  EXPECT_NE(files.status().message().find("package PS100001 has no version 2"), std::string::npos)
      << files.status().message();
  EXPECT_EQ(packages.dirs("PS100009", 1).status().code(), Status::Code::NotFound);
  auto all = packages.list();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].package_id, "PS100001");
  EXPECT_EQ((*all)[1].package_id, "PS100002");
}

}  // namespace
}  // namespace pkgxfer::store
