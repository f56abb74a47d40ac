// The package commands of the real pkgxfer binary against a real site database and library.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "fakes/test_util.h"
#include "site_fixture.h"

namespace pkgxfer {
namespace {

namespace fs = std::filesystem;
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

}  // namespace
}  // namespace pkgxfer
