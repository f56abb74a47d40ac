// The package commands of the real pkgxfer binary against a real site database and library.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "fakes/test_util.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/content/manifest.h"
#include "pkgxfer/fs/file_system.h"
#include "site_fixture.h"

namespace pkgxfer {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::readFile;
using testing::writeFile;

class PackageCliTest : public testing::SiteFixture {
 protected:
  void SetUp() override {
    SiteFixture::SetUp();
    writeFile(dir_ / "src" / "setup.exe", std::string(100000, 'x'));
    writeFile(dir_ / "src" / "docs" / "read me #1 (100%).txt", "hello");
    writeFile(dir_ / "src" / "docs" / "Grüße 日本.txt", "unicode");
    writeFile(dir_ / "src" / "copy-of-setup.exe", std::string(100000, 'x'));
    fs::create_directories(dir_ / "src" / "empty" / "nested");
  }
  testing::RunResult add(const std::string& id = "PS100001") {
    return pkgxfer({"package", "add", "--id", id, "--name", "Office 365", "--source",
                    (dir_ / "src").string(), "--priority", "high"});
  }
  // Stores the content of `source` as `id` v`version` in the site library without recording it
  // in the database: what an add or update killed between the two leaves behind.
  void storeUnrecorded(const fs::path& source, const std::string& id, std::uint64_t version,
                       const std::string& name) {
    boost::asio::thread_pool pool(2);
    auto m = content::buildManifest(source, nullptr, pool);
    ASSERT_TRUE(m.ok()) << m.status().toString();
    m->package_id = id;
    m->version = version;
    m->name = name;
    auto library = content::ContentLibrary::open(dir_ / "site" / "ContentLib");
    ASSERT_TRUE(library.ok()) << library.status().toString();
    auto added = (*library)->addContentFromSource(*m, source);
    ASSERT_TRUE(added.ok()) << added.status().toString();
  }
  fs::path lockFile(const std::string& id) { return dir_ / "site" / "locks" / (id + ".lock"); }
  nlohmann::json manifest(const std::string& id, int version) {
    return nlohmann::json::parse(readFile(dir_ / "site" / "ContentLib" / "DataLib" /
                                          (id + "." + std::to_string(version) + ".json")));
  }
};

TEST_F(PackageCliTest, AddStoresEachBodyOnceAndRecordsVersionOne) {
  auto r = add();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Package PS100001 (Office 365) added: version 1, 4 files"),
            std::string::npos)
      << r.out;
  auto m = manifest("PS100001", 1);
  EXPECT_EQ(m["package_id"], "PS100001");
  EXPECT_EQ(m["version"], 1);
  EXPECT_EQ(m["total_bytes"], 200000 + 5 + 7);
  std::vector<std::string> paths;
  for (const auto& f : m["files"]) paths.push_back(f["path"]);
  EXPECT_EQ(paths, (std::vector<std::string>{"copy-of-setup.exe", "docs/Grüße 日本.txt",
                                             "docs/read me #1 (100%).txt", "setup.exe"}));
  EXPECT_EQ(m["dirs"], (nlohmann::json{"docs", "empty", "empty/nested"}));
  // Two files with the same body are stored once.
  int bodies = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "site" / "ContentLib" / "FileLib")) {
    if (e.is_regular_file()) ++bodies;
  }
  EXPECT_EQ(bodies, 3);

  auto list = pkgxfer({"package", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("PS100001"), std::string::npos);
  EXPECT_NE(list.out.find("high"), std::string::npos);
  EXPECT_NE(list.out.find("Office 365"), std::string::npos);
  auto show = pkgxfer({"package", "show", "ps100001"});  // IDs are case-insensitive on input
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("Version:  1"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find((dir_ / "src").string()), std::string::npos) << show.out;
}

TEST_F(PackageCliTest, UpdateMakesANewVersionOnlyWhenTheSourceChanged) {
  ASSERT_EQ(add().exit_code, 0);
  auto same = pkgxfer({"package", "update", "PS100001"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_NE(same.out.find("unchanged: still version 1"), std::string::npos) << same.out;
  EXPECT_NE(same.out.find("0 hashed"), std::string::npos) << "unchanged files are not re-read";
  EXPECT_FALSE(fs::exists(dir_ / "site" / "ContentLib" / "DataLib" / "PS100001.2.json"));

  writeFile(dir_ / "src" / "docs" / "read me #1 (100%).txt", "hello, version two");
  auto changed = pkgxfer({"package", "update", "PS100001"});
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  EXPECT_NE(changed.out.find("updated: version 2"), std::string::npos) << changed.out;
  EXPECT_NE(changed.out.find("1 hashed"), std::string::npos) << changed.out;
  EXPECT_EQ(manifest("PS100001", 2)["total_bytes"], 200000 + 18 + 7);
  auto show = pkgxfer({"package", "show", "PS100001"});
  EXPECT_NE(show.out.find("Version:  2"), std::string::npos) << show.out;
}

TEST_F(PackageCliTest, DuplicateIdFailsWithExitOne) {
  ASSERT_EQ(add().exit_code, 0);
  auto r = add();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("package PS100001 already exists"), std::string::npos) << r.err;
}

TEST_F(PackageCliTest, MalformedOrForeignIdIsBadUsage) {
  auto bad = add("PS1XYZ");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("'PS1XYZ' is not a package ID"), std::string::npos) << bad.err;
  auto foreign = add("CAS00001");
  EXPECT_EQ(foreign.exit_code, 2);
  EXPECT_NE(foreign.err.find("does not belong to site PS1"), std::string::npos) << foreign.err;
}

TEST_F(PackageCliTest, UnknownPackageFailsWithExitOne) {
  auto r = pkgxfer({"package", "update", "PS1000FF"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown package PS1000FF"), std::string::npos) << r.err;
}

TEST_F(PackageCliTest, MissingSourceFailsWithExitOne) {
  auto r = pkgxfer({"package", "add", "--id", "PS100001", "--name", "x", "--source",
                    (dir_ / "nowhere").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
}

TEST_F(PackageCliTest, SourceInsideTheDataFolderIsRefused) {
  writeFile(dir_ / "site" / "inbox" / "a.txt", "a");
  auto r = pkgxfer({"package", "add", "--id", "PS100001", "--name", "x", "--source",
                    (dir_ / "site" / "inbox").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is inside the site data folder"), std::string::npos) << r.err;
}

TEST_F(PackageCliTest, BadSourceFileRegistersNothing) {
  ASSERT_EQ(::mkfifo((dir_ / "src" / "docs" / "pipe").c_str(), 0644), 0);
  auto r = add();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("docs/pipe"), std::string::npos) << r.err;
  auto list = pkgxfer({"package", "list"});
  EXPECT_EQ(list.out, "No packages.\n");
  EXPECT_FALSE(fs::exists(dir_ / "site" / "ContentLib" / "DataLib" / "PS100001.1.json"));
}

// Another pkgxfer holds the package (an add or update running): this one fails at once and
// changes nothing.
TEST_F(PackageCliTest, AnAddOrUpdateOfAPackageBeingAddedFailsAndChangesNothing) {
  fs::create_directories(lockFile("PS100001").parent_path());
  auto held = pkgxfer::fs::tryLockFile(pkgxfer::fs::FileSystem::local(), lockFile("PS100001"),
                                       "pid 4242, package add");
  ASSERT_TRUE(held.ok() && held->file);
  auto r = add();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("package PS100001 is being added or updated by another pkgxfer (pid 4242, "
                       "package add); nothing was changed"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(pkgxfer({"package", "list"}).out, "No packages.\n");
  EXPECT_FALSE(fs::exists(dir_ / "site" / "ContentLib" / "DataLib" / "PS100001.1.json"));
  EXPECT_EQ(add("PS100002").exit_code, 0) << "another package is not held up";

  held->file.reset();
  ASSERT_EQ(add().exit_code, 0);
  writeFile(dir_ / "src" / "new.txt", "new");
  held = pkgxfer::fs::tryLockFile(pkgxfer::fs::FileSystem::local(), lockFile("PS100001"),
                                  "pid 4243, package update");
  ASSERT_TRUE(held.ok() && held->file);
  auto update = pkgxfer({"package", "update", "PS100001"});
  EXPECT_EQ(update.exit_code, 1);
  EXPECT_NE(update.err.find("(pid 4243, package update)"), std::string::npos) << update.err;
  EXPECT_FALSE(fs::exists(dir_ / "site" / "ContentLib" / "DataLib" / "PS100001.2.json"));
}

TEST_F(PackageCliTest, TwoAddsOfOnePackageAtOnceOneWinsNothingHalfRegistered) {
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string id = "PS10000" + std::to_string(round + 1);
    std::vector<std::string> argv = {(testing::binDir() / "pkgxfer").string(),
                                     "--config",
                                     (dir_ / "pkgxfer.json").string(),
                                     "package",
                                     "add",
                                     "--id",
                                     id,
                                     "--name",
                                     "Office 365",
                                     "--source",
                                     (dir_ / "src").string()};
    testing::Process a(argv, dir_ / ("a" + std::to_string(round)));
    testing::Process b(argv, dir_ / ("b" + std::to_string(round)));
    const int ra = a.wait(60s), rb = b.wait(60s);
    ASSERT_TRUE((ra == 0 && rb == 1) || (ra == 1 && rb == 0)) << ra << " " << rb;
    const std::string loser = ra == 1 ? a.err() : b.err();
    EXPECT_TRUE(loser.find("is being added or updated by another pkgxfer") != std::string::npos ||
                loser.find("package " + id + " already exists") != std::string::npos)
        << loser;
    // The winner's package is whole: recorded and present.
    auto show = pkgxfer({"package", "show", id});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    EXPECT_NE(show.out.find("Version:  1"), std::string::npos) << show.out;
    EXPECT_EQ(manifest(id, 1)["total_bytes"], 200000 + 5 + 7);
  }
}

// Killed between the library commit and the database insert: the next add takes the unrecorded
// content version over, whether it holds the same content or not.
TEST_F(PackageCliTest, AnAddKilledBeforeItsDatabaseWriteIsTakenOverByTheNextAdd) {
  writeFile(dir_ / "old" / "setup.exe", "an older source");
  ASSERT_NO_FATAL_FAILURE(storeUnrecorded(dir_ / "old", "PS100001", 1, "Office 365"));
  EXPECT_EQ(pkgxfer({"package", "list"}).out, "No packages.\n");
  auto r = add();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("replacing version 1 of PS100001 in the content library"), std::string::npos)
      << r.err;
  EXPECT_EQ(manifest("PS100001", 1)["total_bytes"], 200000 + 5 + 7);
  EXPECT_EQ(manifest("PS100001", 1)["files"].size(), 4u);

  // The same content left unrecorded is simply kept.
  ASSERT_NO_FATAL_FAILURE(storeUnrecorded(dir_ / "src", "PS100002", 1, "Office 365"));
  auto same = add("PS100002");
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_EQ(same.err.find("replacing"), std::string::npos) << same.err;
  EXPECT_NE(pkgxfer({"package", "show", "PS100002"}).out.find("Version:  1"), std::string::npos);
}

TEST_F(PackageCliTest, AnUpdateKilledBeforeItsDatabaseWriteIsTakenOverByTheNextUpdate) {
  ASSERT_EQ(add().exit_code, 0);
  writeFile(dir_ / "old" / "setup.exe", "what the killed update read");
  ASSERT_NO_FATAL_FAILURE(storeUnrecorded(dir_ / "old", "PS100001", 2, "Office 365"));
  writeFile(dir_ / "src" / "docs" / "read me #1 (100%).txt", "hello, version two");
  auto r = pkgxfer({"package", "update", "PS100001"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("updated: version 2"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("replacing version 2 of PS100001"), std::string::npos) << r.err;
  EXPECT_EQ(manifest("PS100001", 2)["total_bytes"], 200000 + 18 + 7);
}

}  // namespace
}  // namespace pkgxfer
