// End-to-end tests of the real pkgxfer admin CLI against a real site database.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/test_util.h"
#include "site_fixture.h"

namespace pkgxfer {
namespace {

using testing::writeFile;

using CliTest = testing::SiteFixture;

TEST_F(CliTest, StatusWorksWithoutTheServiceAndCreatesTheDatabase) {
  auto r = pkgxfer({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "No distributions.\n");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "site" / "site.db"));
}

TEST_F(CliTest, StatusJsonIsAnArray) {
  auto r = pkgxfer({"status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto json = nlohmann::json::parse(r.out);
  EXPECT_TRUE(json.is_array());
  EXPECT_TRUE(json.empty());
}

TEST_F(CliTest, UnknownDpFailsWithExitOne) {
  auto r = pkgxfer({"status", "--dp", "dp99"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown distribution point dp99"), std::string::npos) << r.err;
}

TEST_F(CliTest, MalformedPackageIdIsBadUsage) {
  auto r = pkgxfer({"status", "PS1XYZ"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'PS1XYZ' is not a package ID"), std::string::npos) << r.err;
}

TEST_F(CliTest, UnknownSubcommandIsBadUsage) {
  auto r = pkgxfer({"distribte"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(CliTest, BadConfigIsExitTwoWithThePointer) {
  writeFile(dir_ / "pkgxfer.json", R"({ "site": { "code": "P" } })");
  auto r = pkgxfer({"status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/site/code"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pkgxfer
