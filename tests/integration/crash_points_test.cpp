// Crash points end to end (issue 13): a real pkgxferd dies with _exit at a named point along a
// distribution, a remove or a validate (include/pkgxfer/common/crash_point.h), then runs again.
// Whatever the point, the pair ends installed (or removed), no temporary file is left on the DP,
// and no body already installed there is sent again.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "fakes/test_util.h"
#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/crash_point.h"
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

// What is asked while the armed service runs.
enum class Step { Distribute, Remove, Validate, DistributeThenRemoveWhileDown };

struct CrashCase {
  Step step;
  const char* point;
};

std::string stepName(Step step) {
  switch (step) {
    case Step::Distribute:
      return "Distribute";
    case Step::Remove:
      return "Remove";
    case Step::Validate:
      return "Validate";
    case Step::DistributeThenRemoveWhileDown:
      return "DistributeThenRemoveWhileDown";
  }
  return "?";
}

void PrintTo(const CrashCase& c, std::ostream* os) { *os << stepName(c.step) << " at " << c.point; }

class CrashPointsTest : public ::testing::TestWithParam<CrashCase> {
 protected:
  void SetUp() override {
    if (!crashPointsEnabled()) GTEST_SKIP() << "built without PKGXFER_CRASH_POINTS";
    fs::create_directories(dp());
    writeFile(dir_ / "pkgxfer.json", R"({
      "site": { "code": "PS1", "data_dir": "site" },
      "logging": { "dir": "log", "level": "debug", "max_size": "64MB" },
      "components": ["distmgr", "pkgxfermgr"],
      "distribution": { "retry_delay": "200ms" },
      "distribution_points": [ { "name": "dp01", "address": "file://dps/dp01" } ]
    })");
    // A body large enough for resume points (one every 8 MiB), small ones, and a duplicate.
    const fs::path src = dir_ / "src";
    fs::create_directories(src / "bin");
    std::ofstream out(src / "bin" / "big.bin", std::ios::binary);
    std::mt19937_64 rng(7);
    std::vector<std::uint64_t> block(1 << 17);  // 1 MiB
    for (int mib = 0; mib < 20; ++mib) {
      for (auto& v : block) v = rng();
      out.write(reinterpret_cast<const char*>(block.data()), block.size() * 8);
    }
    out.close();
    writeFile(src / "readme.txt", "read me");
    writeFile(src / "docs" / "a.txt", "alpha");
    writeFile(src / "docs" / "a-copy.txt", "alpha");
    auto r = pkgxfer(
        {"package", "add", "--id", "PS100001", "--name", "crash", "--source", src.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void TearDown() override {
    if (service_) {
      service_->signal(SIGTERM);
      service_->wait(20s);
    }
  }

  fs::path dp() const { return dir_ / "dps" / "dp01"; }

  testing::RunResult pkgxfer(std::vector<std::string> args) {
    std::vector<std::string> argv = {(binDir() / "pkgxfer").string(), "--config",
                                     (dir_ / "pkgxfer.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  void startService(const std::string& crash_point = {}) {
    log_at_start_ = fs::exists(hostLog()) ? fs::file_size(hostLog()) : 0;
    std::vector<std::string> env;
    if (!crash_point.empty()) env.push_back("PKGXFER_CRASH_POINT=" + crash_point);
    service_ = std::make_unique<Process>(
        std::vector<std::string>{(binDir() / "pkgxferd").string(), "--config",
                                 (dir_ / "pkgxfer.json").string()},
        dir_ / ("out" + std::to_string(++starts_)), env);
  }
  fs::path hostLog() const { return dir_ / "log" / "pkgxferd.log"; }
  // A stop this test asks for comes once the service has started: before main() runs (the
  // dynamic loader's time, tens of milliseconds with libsmbclient) a SIGTERM cannot be deferred.
  void stopService() {
    EXPECT_TRUE(waitFor(
        [&] {
          return readFile(hostLog()).find("pkgxferd running", log_at_start_) != std::string::npos;
        },
        20s));
    service_->signal(SIGTERM);
    EXPECT_EQ(service_->wait(20s), 0) << service_->err();
    service_.reset();
  }

  nlohmann::json pair() {
    auto r = pkgxfer({"status", "--json"});
    auto rows = nlohmann::json::parse(r.out, nullptr, false);
    if (!rows.is_array()) return {};
    for (const auto& row : rows) {
      if (row["package_id"] == "PS100001" && row["dp"] == "dp01") return row;
    }
    return {};
  }
  bool waitForState(const std::string& state, std::chrono::milliseconds timeout = 30s) {
    nlohmann::json last;
    bool ok = waitFor(
        [&] {
          last = pair();
          return !last.is_null() && last["state"] == state;
        },
        timeout);
    if (!ok) ADD_FAILURE() << "waiting for " << state << ", last: " << last.dump();
    return ok;
  }
  std::vector<store::TransferJob> jobs() {
    auto db = store::Database::open(dir_ / "site" / "site.db", SystemClock::instance());
    if (!db.ok()) return {};
    auto list = store::TransferJobRepository(**db).list();
    return list.ok() ? *list : std::vector<store::TransferJob>{};
  }
  // The pair in `state` with no job left to run, and for a validate one that succeeded.
  bool waitForRest(const std::string& state, bool validated) {
    nlohmann::json last;
    bool ok = waitFor(
        [&] {
          last = pair();
          if (last.is_null() || last["state"] != state) return false;
          bool validate_done = false;
          for (const auto& job : jobs()) {
            if (!store::isTerminal(job.state)) return false;
            validate_done |=
                job.action == store::JobAction::Validate && job.state == store::JobState::Done;
          }
          return !validated || validate_done;
        },
        30s);
    if (!ok) ADD_FAILURE() << "waiting for " << state << ", last: " << last.dump();
    return ok;
  }
  void distributeAndWait() {
    startService();
    ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp01"}).exit_code, 0);
    ASSERT_TRUE(waitForState("installed"));
    stopService();
  }

  // Final-named bodies on the DP and their inodes: a body sent again would be a new file.
  std::map<std::string, ino_t> bodies() {
    std::map<std::string, ino_t> out;
    if (!fs::exists(dp() / "FileLib")) return out;
    for (const auto& e : fs::recursive_directory_iterator(dp() / "FileLib")) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file() || name.front() == '.') continue;
      struct stat st {};
      if (::stat(e.path().c_str(), &st) == 0) out[name] = st.st_ino;
    }
    return out;
  }
  std::vector<std::string> tempFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dp())) {
      const std::string name = e.path().filename().string();
      if (name.front() == '.' || name.find(".partial") != std::string::npos) {
        out.push_back(e.path().string());
      }
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Process> service_;
  int starts_ = 0;
  std::uintmax_t log_at_start_ = 0;  // pkgxferd.log's size when the service last started
};

TEST_P(CrashPointsTest, RestartFinishesTheWork) {
  const CrashCase c = GetParam();
  if (c.step == Step::Remove || c.step == Step::Validate) distributeAndWait();

  startService(c.point);
  switch (c.step) {
    case Step::Distribute:
    case Step::DistributeThenRemoveWhileDown:
      ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp01"}).exit_code, 0);
      break;
    case Step::Remove:
      ASSERT_EQ(pkgxfer({"remove", "PS100001", "--dp", "dp01"}).exit_code, 0);
      break;
    case Step::Validate:
      ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "dp01"}).exit_code, 0);
      break;
  }
  ASSERT_EQ(service_->wait(30s), kCrashPointExitCode)
      << "the service did not die at " << c.point << ": " << service_->err();
  EXPECT_NE(service_->err().find(std::string("crash point ") + c.point + " reached"),
            std::string::npos)
      << service_->err();
  service_.reset();

  if (c.step == Step::DistributeThenRemoveWhileDown) {
    // The half-sent body stays on the DP to be resumed; the package is then removed instead.
    EXPECT_FALSE(tempFiles().empty());
    ASSERT_EQ(pkgxfer({"remove", "PS100001", "--dp", "dp01"}).exit_code, 0);
  }
  const auto before = bodies();
  startService();
  const bool removing = c.step == Step::Remove || c.step == Step::DistributeThenRemoveWhileDown;
  ASSERT_TRUE(waitForRest(removing ? "removed" : "installed", c.step == Step::Validate));
  // The clean-up of what nobody resumes runs on the pool just after: give it the moment.
  EXPECT_TRUE(waitFor([&] { return tempFiles().empty(); }, 10s))
      << tempFiles().size() << " temporary file(s), e.g. " << tempFiles()[0];
  stopService();
  EXPECT_TRUE(tempFiles().empty());

  const auto after = bodies();
  if (removing) {
    EXPECT_TRUE(after.empty()) << after.size() << " body(ies) left, e.g. " << after.begin()->first;
    EXPECT_FALSE(fs::exists(dp() / "DataLib" / "PS100001.1.json"));
  } else {
    EXPECT_TRUE(fs::exists(dp() / "DataLib" / "PS100001.1.json"));
    EXPECT_EQ(after.size(), 3u);  // big.bin, readme.txt, a.txt (its copy is stored once)
    for (const auto& [sha, inode] : before) {
      auto it = after.find(sha);
      ASSERT_NE(it, after.end()) << sha;
      EXPECT_EQ(it->second, inode) << "body " << sha << " was sent again";
    }
    if (std::string(c.point) == "pkgxfermgr.resume-point-saved") {
      // The half-sent body went on from its resume point, not from 0.
      std::smatch m;
      const std::string log = readFile(dir_ / "log" / "pkgxfermgr.log");
      ASSERT_TRUE(std::regex_search(
          log, m, std::regex(R"(Resuming file bin/big\.bin \([0-9a-f]{64}\) at offset (\d+))")))
          << log;
      EXPECT_GT(std::stoull(m[1]), 0u);
    }
    // The DP's copy is right: every body hashes to its name.
    for (const auto& e : fs::recursive_directory_iterator(dp() / "FileLib")) {
      if (!e.is_regular_file()) continue;
      auto r = run({"/usr/bin/sha256sum", e.path().string()});
      EXPECT_EQ(r.out.substr(0, 64), e.path().filename().string());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    , CrashPointsTest,
    ::testing::Values(
        CrashCase{Step::Distribute, "distmgr.request-taken"},
        CrashCase{Step::Distribute, "distmgr.checking"},
        CrashCase{Step::Distribute, "distmgr.job-created"},
        CrashCase{Step::Distribute, "pkgxfermgr.resume-point-saved"},
        CrashCase{Step::Distribute, "job.sealed"}, CrashCase{Step::Distribute, "job.installed"},
        CrashCase{Step::Distribute, "job.committed"},
        CrashCase{Step::Distribute, "pkgxfermgr.result-recorded"},
        CrashCase{Step::Remove, "distmgr.request-taken"},
        CrashCase{Step::Remove, "distmgr.job-created"},
        CrashCase{Step::Remove, "content.manifest-removed"}, CrashCase{Step::Remove, "job.removed"},
        CrashCase{Step::Remove, "pkgxfermgr.result-recorded"},
        CrashCase{Step::Validate, "distmgr.request-taken"},
        CrashCase{Step::Validate, "distmgr.job-created"},
        CrashCase{Step::Validate, "job.validated"},
        CrashCase{Step::Validate, "pkgxfermgr.result-recorded"},
        CrashCase{Step::DistributeThenRemoveWhileDown, "pkgxfermgr.resume-point-saved"}),
    [](const ::testing::TestParamInfo<CrashCase>& info) {
      std::string name = stepName(info.param.step) + "_";
      for (char ch : std::string(info.param.point)) name += std::isalnum(ch) ? ch : '_';
      return name;
    });

}  // namespace
}  // namespace pkgxfer
