// End-to-end tests of the real pkgxferd binary: command line, config checking, logs, signals.

#include <gtest/gtest.h>

#include <signal.h>

#include <regex>
#include <string>

#include "fakes/test_util.h"

namespace pkgxfer {
namespace {

using namespace std::chrono_literals;
using testing::binDir;
using testing::Process;
using testing::readFile;
using testing::run;
using testing::sourceDir;
using testing::TempDir;
using testing::waitFor;
using testing::writeFile;

std::string pkgxferd() { return (binDir() / "pkgxferd").string(); }

// A site whose data and logs live in the test's temp dir.
std::string siteConfig(const std::string& components = R"(["distmgr", "pkgxfermgr"])") {
  return R"({
    "site": { "code": "PS1", "data_dir": "site" },
    "logging": { "dir": "log", "level": "debug" },
    "components": )" +
         components + R"(,
    "distribution_points": [ { "name": "dp01", "address": "file://dp01" } ]
  })";
}

TEST(DaemonTest, VersionPrintsTheVersion) {
  auto r = run({pkgxferd(), "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^pkgxferd \d+\.\d+\.\d+)"))) << r.out;
}

TEST(DaemonTest, UnknownFlagIsBadUsage) {
  auto r = run({pkgxferd(), "--confgi", "x.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--confgi"), std::string::npos) << r.err;
}

TEST(DaemonTest, MissingConfigFlagIsBadUsage) {
  auto r = run({pkgxferd()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--config FILE is required"), std::string::npos) << r.err;
}

TEST(DaemonTest, CheckConfigAcceptsEveryShippedExample) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(sourceDir() / "config")) {
    if (entry.path().extension() != ".json") continue;
    auto r = run({pkgxferd(), "--check-config", "--config", entry.path().string()});
    EXPECT_EQ(r.exit_code, 0) << entry.path() << "\n" << r.err;
    EXPECT_NE(r.out.find("configuration OK"), std::string::npos) << r.out;
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

TEST(DaemonTest, CheckConfigRejectsABrokenCopyWithTheJsonPointer) {
  TempDir dir;
  std::string text = readFile(sourceDir() / "config" / "pkgxfer.json");
  // Break one value deep in the document: the error must point at it.
  auto pos = text.find("\"max_concurrent_packages\"");
  ASSERT_NE(pos, std::string::npos) << "the example should show max_concurrent_packages";
  auto colon = text.find(':', pos);
  auto end = text.find_first_of(",\n}", colon);
  text.replace(colon + 1, end - colon - 1, " 0");
  writeFile(dir / "broken.json", text);
  auto r = run({pkgxferd(), "--check-config", "--config", (dir / "broken.json").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/distribution/max_concurrent_packages"), std::string::npos) << r.err;
}

TEST(DaemonTest, BadConfigStartsNothing) {
  TempDir dir;
  writeFile(dir / "pkgxfer.json", R"({
    "site": { "code": "PS1", "data_dir": "site" },
    "logging": { "dir": "log" },
    "components": ["distmgr", "sms_executive"],
    "distribution_points": []
  })");
  auto r = run({pkgxferd(), "--config", (dir / "pkgxfer.json").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/components/1"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "log")) << "nothing may be started, not even logs";
  EXPECT_FALSE(std::filesystem::exists(dir / "site"));
}

// The trace format line of pkgxferd.log, parsed independently of the formatter.
const std::regex kTraceLine(
    R"(^(.*) \$\$<SMS_EXECUTIVE><(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{3})([+-]\d+)><thread=(\d+) \(0x([0-9A-F]+)\)>$)");

// Waits until pkgxferd.log says the host started its components.
void waitUntilRunning(Process& daemon, const std::filesystem::path& log_file) {
  ASSERT_TRUE(waitFor(
      [&] { return readFile(log_file).find("pkgxferd running") != std::string::npos; }, 20s))
      << readFile(log_file) << daemon.err();
}

class DaemonRunTest : public ::testing::TestWithParam<int> {};

TEST_P(DaemonRunTest, StopsGracefullyOnSignalAndLogsItsLife) {
  int signo = GetParam();
  TempDir dir;
  writeFile(dir / "pkgxfer.json", siteConfig());
  Process daemon({pkgxferd(), "--config", (dir / "pkgxfer.json").string()}, dir / "out");
  auto log_file = dir / "log" / "pkgxferd.log";
  ASSERT_NO_FATAL_FAILURE(waitUntilRunning(daemon, log_file));
  daemon.signal(signo);
  EXPECT_EQ(daemon.wait(30s), 0) << daemon.err();

  auto lines = testing::readLines(log_file);
  ASSERT_FALSE(lines.empty());
  std::vector<std::string> messages;
  for (const auto& line : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, kTraceLine)) << "not in the trace format: " << line;
    messages.push_back(m[1]);
  }
  auto has = [&](const std::string& text) {
    for (const auto& m : messages) {
      if (m.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("pkgxferd 0.")) << readFile(log_file);
  EXPECT_TRUE(has(std::string("Stop requested (") + (signo == SIGINT ? "SIGINT" : "SIGTERM") + ")"))
      << readFile(log_file);
  EXPECT_TRUE(has("pkgxferd stopped cleanly")) << readFile(log_file);
  // The foreground copy on stderr carries the same story.
  EXPECT_NE(daemon.err().find("pkgxferd stopped cleanly"), std::string::npos);
}

TEST(DaemonSiteTest, OpensTheSiteDatabaseAndRecordsTheConfiguredDps) {
  TempDir dir;
  writeFile(dir / "pkgxfer.json", siteConfig());
  Process daemon({pkgxferd(), "--config", (dir / "pkgxfer.json").string()}, dir / "out");
  auto log_file = dir / "log" / "pkgxferd.log";
  ASSERT_NO_FATAL_FAILURE(waitUntilRunning(daemon, log_file));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0) << daemon.err();
  EXPECT_TRUE(std::filesystem::exists(dir / "site" / "site.db"));
  std::string log = readFile(log_file);
  EXPECT_NE(log.find("integrity check ok"), std::string::npos) << log;
  EXPECT_NE(log.find("added: [dp01]"), std::string::npos) << log;
}

TEST(DaemonSiteTest, CorruptSiteDatabaseFailsToStartNamingTheCause) {
  TempDir dir;
  writeFile(dir / "pkgxfer.json", siteConfig());
  writeFile(dir / "site" / "site.db", std::string(8192, 'x'));
  auto r = run({pkgxferd(), "--config", (dir / "pkgxfer.json").string()}, {}, 30s);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  std::string log = readFile(dir / "log" / "pkgxferd.log");
  EXPECT_NE(log.find("ERROR: Cannot open the site database: Corruption"), std::string::npos) << log;
  EXPECT_NE(log.find("site.db"), std::string::npos) << log;
}

INSTANTIATE_TEST_SUITE_P(Signals, DaemonRunTest, ::testing::Values(SIGTERM, SIGINT),
                         [](const auto& info) {
                           return info.param == SIGINT ? "SIGINT" : "SIGTERM";
                         });

}  // namespace
}  // namespace pkgxfer
