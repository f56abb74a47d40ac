// One service per site: a second pkgxferd on the same site data folder (or the same DP content
// library) must exit at once and leave the first one and its jobs alone.

#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fakes/test_util.h"
#include "pkgxfer/common/clock.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/transfer_job_repository.h"

namespace pkgxfer {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::binDir;
using testing::Process;
using testing::readFile;
using testing::run;
using testing::TempDir;
using testing::waitFor;
using testing::writeFile;

class SingleServiceTest : public ::testing::Test {
 protected:
  std::vector<std::string> pkgxferd() const {
    return {(binDir() / "pkgxferd").string(), "--config", (dir_ / "pkgxfer.json").string()};
  }
  testing::RunResult pkgxfer(std::vector<std::string> args) {
    std::vector<std::string> argv = {(binDir() / "pkgxfer").string(), "--config",
                                     (dir_ / "pkgxfer.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  std::string state() {
    auto r = pkgxfer({"status", "--json"});
    auto rows = nlohmann::json::parse(r.out, nullptr, false);
    if (!rows.is_array() || rows.empty()) return "";
    return rows[0]["state"].get<std::string>();
  }
  std::vector<store::TransferJob> jobs() {
    auto db = store::Database::open(dir_ / "site" / "site.db", SystemClock::instance());
    if (!db.ok()) return {};
    auto list = store::TransferJobRepository(**db).list();
    return list.ok() ? *list : std::vector<store::TransferJob>{};
  }
  std::vector<std::string> tempFiles() {
    std::vector<std::string> out;
    if (!fs::exists(dir_ / "dp01" / "FileLib")) return out;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "dp01" / "FileLib")) {
      std::string name = e.path().filename().string();
      if (name.front() == '.') out.push_back(e.path().string());
    }
    return out;
  }

  // A second service on the same config exits 1 at once, naming the first one and the folder.
  void expectSecondRefused(Process& first, const fs::path& folder) {
    auto second = run(pkgxferd(), {}, 20s);
    EXPECT_EQ(second.exit_code, 1) << second.err;
    EXPECT_NE(second.err.find("another pkgxferd (pid " + std::to_string(first.pid()) +
                              ") is running on " + folder.string()),
              std::string::npos)
        << second.err;
  }

  TempDir dir_;
};

TEST_F(SingleServiceTest, ASecondServiceOnTheSiteExitsAndLeavesTheFirstAndItsJobsAlone) {
  // A slow DP (256 KB/s): the first service's job is still sending when the second one starts.
  writeFile(dir_ / "pkgxfer.json", R"({
    "site": { "code": "PS1", "data_dir": "site" },
    "logging": { "dir": "log", "level": "debug" },
    "components": ["distmgr", "pkgxfermgr"],
    "distribution_points": [ { "name": "dp01", "address": "file://dp01",
      "rate_limit": { "mode": "max_rate", "hours": { "00-24": "256KB/s" } } } ]
  })");
  fs::create_directories(dir_ / "dp01");
  std::string body(2 << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 + i / 4093);
  writeFile(dir_ / "src" / "big.bin", body);
  ASSERT_EQ(pkgxfer({"package", "add", "--id", "PS100001", "--name", "big", "--source",
                     (dir_ / "src").string()})
                .exit_code,
            0);

  Process first(pkgxferd(), dir_ / "out1");
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_TRUE(waitFor([&] { return state() == "transferring" && !tempFiles().empty(); }, 30s))
      << state() << first.err();
  const auto jobs_before = jobs();
  ASSERT_EQ(jobs_before.size(), 1u);
  ASSERT_EQ(jobs_before[0].state, store::JobState::Running);
  const auto temps_before = tempFiles();

  ASSERT_NO_FATAL_FAILURE(expectSecondRefused(first, dir_ / "site"));

  // The first one runs on, its job neither requeued nor swept.
  EXPECT_TRUE(first.running());
  const auto jobs_after = jobs();
  ASSERT_EQ(jobs_after.size(), 1u);
  EXPECT_EQ(jobs_after[0].id, jobs_before[0].id);
  EXPECT_EQ(jobs_after[0].state, store::JobState::Running);
  for (const auto& temp : temps_before) {
    EXPECT_TRUE(fs::exists(temp) || state() == "installed") << temp << " was swept";
  }
  std::string log = readFile(dir_ / "log" / "pkgxferd.log");
  EXPECT_EQ(log.find("starting, pid " + std::to_string(first.pid())), log.rfind("starting, pid "))
      << "the second service wrote nothing in the first one's log:\n"
      << log;
  const std::string mgr = readFile(dir_ / "log" / "pkgxfermgr.log");
  EXPECT_EQ(mgr.find("Package Transfer Manager starting"),
            mgr.rfind("Package Transfer Manager starting"))
      << "no second transfer manager started (and requeued the job):\n"
      << mgr;

  ASSERT_TRUE(waitFor([&] { return state() == "installed"; }, 60s)) << state();
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(30s), 0) << first.err();

  // Once the first one is gone, the lock goes with it: a service starts again.
  Process third(pkgxferd(), dir_ / "out3");
  EXPECT_TRUE(waitFor(
      [&] {
        std::string l = readFile(dir_ / "log" / "pkgxferd.log");
        return l.find("starting, pid " + std::to_string(third.pid())) != std::string::npos &&
               l.rfind("pkgxferd running") > l.find("starting, pid " + std::to_string(third.pid()));
      },
      20s))
      << third.err();
  third.signal(SIGTERM);
  EXPECT_EQ(third.wait(30s), 0) << third.err();
}

TEST_F(SingleServiceTest, ASecondServiceOnTheDpContentLibraryExits) {
  writeFile(dir_ / "pkgxfer.json", R"({
    "logging": { "dir": "log" },
    "components": ["dp"],
    "dp": { "name": "dp01", "content_library": "lib", "token_file": "site.token" }
  })");
  Process first(pkgxferd(), dir_ / "out1");
  ASSERT_TRUE(waitFor(
      [&] {
        return readFile(dir_ / "log" / "pkgxferd.log").find("pkgxferd running") !=
               std::string::npos;
      },
      20s))
      << first.err();
  ASSERT_NO_FATAL_FAILURE(expectSecondRefused(first, dir_ / "lib"));
  EXPECT_TRUE(first.running());
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(30s), 0) << first.err();
}

}  // namespace
}  // namespace pkgxfer
