// Schedules and rate limits end to end with the real binaries: `pkgxfer` queues requests and a real
// `pkgxferd` (distmgr + pkgxfermgr) sends to file DPs under the DPs' limits. A window closing
// mid-transfer needs hours to pass: tests/distmgr/schedule_test.cpp covers it with a fake clock.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "fakes/test_util.h"

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

class LimitsE2eTest : public ::testing::Test {
 protected:
  // `dps` is the body of distribution_points; DP folders dps/<name> are created for `names`.
  void writeConfig(const std::string& distribution, const std::string& dps,
                   const std::vector<std::string>& names) {
    writeFile(dir_ / "pkgxfer.json", R"({
      "site": { "code": "PS1", "data_dir": "site", "timezone": "UTC" },
      "logging": { "dir": "log", "level": "debug", "max_size": "64MB" },
      "components": ["distmgr", "pkgxfermgr"],
      "distribution": { )" + distribution +
                                         R"( },
      "distribution_points": [ )" + dps + R"( ]
    })");
    for (const auto& n : names) fs::create_directories(dir_ / "dps" / n);
  }

  testing::RunResult pkgxfer(std::vector<std::string> args) {
    std::vector<std::string> argv = {(binDir() / "pkgxfer").string(), "--config",
                                     (dir_ / "pkgxfer.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  void addPackage(const std::string& id, const std::string& data) {
    fs::path src = dir_ / "src" / id;
    writeFile(src / "data.bin", data);
    auto r = pkgxfer({"package", "add", "--id", id, "--name", id, "--source", src.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void startService() {
    service_ = std::make_unique<Process>(
        std::vector<std::string>{(binDir() / "pkgxferd").string(), "--config",
                                 (dir_ / "pkgxfer.json").string()},
        dir_ / "out");
  }
  void TearDown() override {
    if (!service_) return;
    service_->signal(SIGTERM);
    EXPECT_EQ(service_->wait(20s), 0) << service_->err();
    service_.reset();
  }

  // The `status --json` row of (package, dp); null if none.
  nlohmann::json statusOf(const std::string& pkg, const std::string& dp) {
    auto r = pkgxfer({"status", "--json"});
    if (r.exit_code != 0) return nullptr;
    auto parsed = nlohmann::json::parse(r.out, nullptr, false);
    if (!parsed.is_array()) return nullptr;
    for (const auto& row : parsed) {
      if (row["package_id"] == pkg && row["dp"] == dp) return row;
    }
    return nullptr;
  }

  bool waitForState(const std::string& pkg, const std::string& dp, const std::string& state) {
    nlohmann::json last;
    bool ok = waitFor(
        [&] {
          last = statusOf(pkg, dp);
          return !last.is_null() && last["state"] == state;
        },
        30s);
    if (!ok) ADD_FAILURE() << pkg << " on " << dp << ": " << last.dump();
    return ok;
  }

  std::string log(const std::string& stem) { return readFile(dir_ / "log" / (stem + ".log")); }

  TempDir dir_;
  std::unique_ptr<Process> service_;
};

// The time stamp of a Trace log line ("... $$<comp><11-25-2026 17:20:39.123+0><thread=...>").
std::optional<std::chrono::sys_time<std::chrono::milliseconds>> stampOf(const std::string& line) {
  static const std::regex stamp(
      R"(\$\$<[^>]*><(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{3}))");
  std::smatch m;
  if (!std::regex_search(line, m, stamp)) return std::nullopt;
  using namespace std::chrono;
  auto day = sys_days(year(std::stoi(m[3])) / month(std::stoi(m[1])) / std::stoi(m[2]));
  return day + hours(std::stoi(m[4])) + minutes(std::stoi(m[5])) + seconds(std::stoi(m[6])) +
         milliseconds(std::stoi(m[7]));
}

TEST_F(LimitsE2eTest, MaxRateIsSharedByEveryTransferToTheDp) {
  // 3 packages × 2 MiB to one DP at 2 MiB/s, three jobs at once: 3 s for the DP as a whole. A
  // limit per connection would take ~1 s, no limit a fraction of a second.
  writeConfig(R"("max_concurrent_packages": 3)",
              R"({ "name": "dp01", "address": "file://dps/dp01",
                   "rate_limit": { "mode": "max_rate", "hours": { "00-24": "2MB/s" } } })",
              {"dp01"});
  for (int i = 1; i <= 3; ++i) {
    addPackage("PS10000" + std::to_string(i), std::string(2 << 20, static_cast<char>('a' + i)));
  }
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(pkgxfer({"distribute", "PS10000" + std::to_string(i), "--dp", "dp01"}).exit_code, 0);
  }
  startService();  // every request is waiting: the three jobs start together
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(waitForState("PS10000" + std::to_string(i), "dp01", "installed"));
  }
  // From the first job's first line to the last job's last line.
  std::optional<std::chrono::sys_time<std::chrono::milliseconds>> first, last;
  int started = 0, finished = 0;
  std::istringstream lines(log("pkgxfermgr"));
  for (std::string line; std::getline(lines, line);) {
    const bool start = line.find("Found send request with ID:") != std::string::npos;
    const bool end = line.find("Finished: content ") != std::string::npos;
    if (!start && !end) continue;
    auto t = stampOf(line);
    ASSERT_TRUE(t) << line;
    if (start && ++started == 1) first = t;
    if (end) {
      ++finished;
      last = t;
    }
  }
  ASSERT_EQ(started, 3);
  ASSERT_EQ(finished, 3);
  const double secs = std::chrono::duration<double>(*last - *first).count();
  RecordProperty("seconds", std::to_string(secs));
  EXPECT_GE(secs, 2.25) << log("pkgxfermgr");
  EXPECT_LE(secs, 3.75) << log("pkgxfermgr");
}

TEST_F(LimitsE2eTest, DpClosedForeverGetsNothingAndSaysSo) {
  writeConfig(R"("retry_delay": "200ms")",
              R"({ "name": "dp01", "address": "file://dps/dp01",
                   "schedule": { "default": "closed" } },
                 { "name": "dp02", "address": "file://dps/dp02" })",
              {"dp01", "dp02"});
  addPackage("PS100001", "content");
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp01", "--dp", "dp02"}).exit_code, 0);
  startService();
  ASSERT_TRUE(waitForState("PS100001", "dp02", "installed"));
  const std::string expected =
      "waiting for the schedule window of dp01; it never opens: every hour of the week is closed "
      "to priority medium";
  nlohmann::json row;
  ASSERT_TRUE(waitFor(
      [&] {
        row = statusOf("PS100001", "dp01");
        return !row.is_null() && row["last_error"] == expected;
      },
      30s))
      << row.dump();
  EXPECT_EQ(row["state"], "waiting");
  // Checked like any distribution, then nothing sent.
  EXPECT_NE(log("distmgr").find("Preliminary check of DP dp01 passed"), std::string::npos);
  // The check may initialise the library (its folders and identity file), but sends no content.
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "dps" / "dp01")) {
    if (e.is_regular_file() && e.path().filename() != "pkgxfer-library.json") {
      files.push_back(e.path().string());
    }
  }
  EXPECT_EQ(files, std::vector<std::string>{});
  EXPECT_NE(log("pkgxfermgr").find("The schedule of DP dp01 does not allow priority medium now"),
            std::string::npos);
}

}  // namespace
}  // namespace pkgxfer
