// Distribution end to end with the real binaries: `pkgxfer` queues requests, a real `pkgxferd`
// (distmgr + pkgxfermgr) sends the content to file DPs, and is killed -9 mid-transfer.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "fakes/hostile_files.h"
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

class DistributionE2eTest : public ::testing::Test {
 protected:
  // A site with `dps` file DPs dp01..; `distribution` is the body of the distribution block.
  void writeConfig(int dps, const std::string& distribution = R"("retry_delay": "200ms")") {
    std::string list;
    for (int i = 1; i <= dps; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "dp%02d", i);
      if (!list.empty()) list += ",";
      list +=
          R"({ "name": ")" + std::string(name) + R"(", "address": "file://dps/)" + name + R"(" })";
      names_.push_back(name);
    }
    writeFile(dir_ / "pkgxfer.json", R"({
      "site": { "code": "PS1", "data_dir": "site" },
      "logging": { "dir": "log", "level": "debug", "max_size": "64MB" },
      "components": ["distmgr", "pkgxfermgr"],
      "distribution": { )" + distribution +
                                         R"( },
      "distribution_points": [ )" + list +
                                         R"( ]
    })");
  }

  void createDpFolders() {
    for (const auto& n : names_) fs::create_directories(dp(n));
  }
  fs::path dp(const std::string& name) const { return dir_ / "dps" / name; }

  testing::RunResult pkgxfer(std::vector<std::string> args) {
    std::vector<std::string> argv = {(binDir() / "pkgxfer").string(), "--config",
                                     (dir_ / "pkgxfer.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  void addPackage(const std::string& id, const std::map<std::string, std::string>& files,
                  const std::string& priority = "medium") {
    fs::path src = dir_ / "src" / id;
    for (const auto& [path, data] : files) writeFile(src / path, data);
    auto r = pkgxfer({"package", "add", "--id", id, "--name", id, "--source", src.string(),
                      "--priority", priority});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void startService() {
    service_ = std::make_unique<Process>(
        std::vector<std::string>{(binDir() / "pkgxferd").string(), "--config",
                                 (dir_ / "pkgxfer.json").string()},
        dir_ / ("out" + std::to_string(++starts_)));
  }
  void stopService() {
    if (!service_) return;
    service_->signal(SIGTERM);
    EXPECT_EQ(service_->wait(20s), 0) << service_->err();
    service_.reset();
  }
  void TearDown() override { stopService(); }

  // `status --json` as (package, dp) -> row.
  std::map<std::pair<std::string, std::string>, nlohmann::json> status() {
    auto r = pkgxfer({"status", "--json"});
    std::map<std::pair<std::string, std::string>, nlohmann::json> out;
    if (r.exit_code != 0) return out;
    auto parsed = nlohmann::json::parse(r.out, nullptr, false);
    if (!parsed.is_array()) return out;
    for (const auto& row : parsed) {
      out[{row["package_id"].get<std::string>(), row["dp"].get<std::string>()}] = row;
    }
    return out;
  }

  bool waitForStates(const std::string& pkg, const std::vector<std::string>& dps,
                     const std::string& state, std::chrono::milliseconds timeout = 30s) {
    std::map<std::pair<std::string, std::string>, nlohmann::json> last;
    bool ok = waitFor(
        [&] {
          last = status();
          for (const auto& d : dps) {
            auto it = last.find({pkg, d});
            if (it == last.end() || it->second["state"] != state) return false;
          }
          return true;
        },
        timeout);
    if (!ok) {
      for (const auto& [key, row] : last) ADD_FAILURE() << row.dump();
    }
    return ok;
  }

  std::vector<std::string> tempFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "dps")) {
      std::string name = e.path().filename().string();
      if (!name.empty() && name.front() == '.') out.push_back(e.path().string());
    }
    return out;
  }

  std::string log(const std::string& stem) { return readFile(dir_ / "log" / (stem + ".log")); }

  std::vector<store::TransferJob> jobs() {
    auto db = store::Database::open(dir_ / "site" / "site.db", SystemClock::instance());
    if (!db.ok()) return {};
    auto list = store::TransferJobRepository(**db).list();
    return list.ok() ? *list : std::vector<store::TransferJob>{};
  }

  TempDir dir_;
  std::vector<std::string> names_;
  std::unique_ptr<Process> service_;
  int starts_ = 0;
};

TEST_F(DistributionE2eTest, DistributesOnePackageToSixDps) {
  writeConfig(6);
  createDpFolders();
  addPackage("PS100001",
             {{"setup.exe", std::string(2 << 20, 's')},
              {"readme.txt", "read me"},
              {"sub/empty/.keep", ""}},
             "high");
  startService();
  auto r = pkgxfer({"distribute", "PS100001", "--all-dps"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(waitForStates("PS100001", names_, "installed"));
  for (const auto& [key, row] : status()) {
    EXPECT_EQ(row["bytes_done"], row["bytes_total"]) << row.dump();
    EXPECT_EQ(row["files_done"], 3) << row.dump();
  }
  for (const auto& n : names_) {
    EXPECT_TRUE(fs::exists(dp(n) / "DataLib" / "PS100001.1.json")) << n;
    EXPECT_TRUE(fs::exists(dp(n) / "PkgLib" / "PS100001.json")) << n;
  }
  EXPECT_TRUE(tempFiles().empty());
  std::string log = this->log("pkgxfermgr");
  EXPECT_TRUE(std::regex_search(
      log, std::regex(R"(Found send request with ID: \d+, Package: PS100001, Version: 1, )"
                      R"(Priority: high, Destination: dp0\d.*\$\$<SMS_PACKAGE_TRANSFER_MANAGER>)")))
      << log;
  EXPECT_NE(log.find("every hash verified by reading the body back from the DP"),
            std::string::npos);
}

// The transfer manager's running set, replayed from its log: "Found send request with ID: N"
// starts job N, "...; job N, PSxxxxxx" on a "Finished:" line ends it.
TEST_F(DistributionE2eTest, PoolBoundIsHeldAndReached) {
  writeConfig(8, R"("max_concurrent_packages": 2, "max_threads_per_package": 3)");
  createDpFolders();
  for (int i = 1; i <= 5; ++i) {
    addPackage("PS10000" + std::to_string(i),
               {{"a.bin", std::string(256 << 10, static_cast<char>('a' + i))}});
  }
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(pkgxfer({"distribute", "PS10000" + std::to_string(i), "--all-dps"}).exit_code, 0);
  }
  startService();  // every request is waiting: the pool fills at once
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(waitForStates("PS10000" + std::to_string(i), names_, "installed"));
  }
  std::regex start(R"(Found send request with ID: (\d+), Package: (PS1\d+))");
  std::regex finish(R"(^Finished: .*; job (\d+), (PS1\d+) )");
  std::map<std::string, int> per_package;
  int running = 0, max_running = 0, max_packages = 0, max_per_package = 0;
  std::istringstream lines(log("pkgxfermgr"));
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, start)) {
      ++running;
      ++per_package[m[2]];
    } else if (std::regex_search(line, m, finish)) {
      --running;
      --per_package[m[2]];
    } else {
      continue;
    }
    int packages = 0;
    for (const auto& [p, n] : per_package) {
      if (n > 0) ++packages;
      max_per_package = std::max(max_per_package, n);
    }
    max_running = std::max(max_running, running);
    max_packages = std::max(max_packages, packages);
  }
  EXPECT_EQ(running, 0);
  EXPECT_EQ(max_running, 6);
  EXPECT_EQ(max_packages, 2);
  EXPECT_EQ(max_per_package, 3);
  EXPECT_EQ(jobs().size(), 40u);
}

std::string bodyFile(const fs::path& dp_root, const std::string& content) {
  // The body's name is its SHA-256: find it by content among the DP's bodies.
  for (const auto& e : fs::recursive_directory_iterator(dp_root / "FileLib")) {
    if (e.is_regular_file() && readFile(e.path()) == content) return e.path().string();
  }
  return {};
}

TEST_F(DistributionE2eTest, SharedBodiesSentOnceAndKeptWhenAnotherPackageIsRemoved) {
  writeConfig(2);
  createDpFolders();
  addPackage("PS100001", {{"a.txt", "shared alpha"}, {"b.txt", "shared beta"}, {"c", "own c"}});
  addPackage("PS100002",
             {{"x.txt", "shared alpha"}, {"y.txt", "shared beta"}, {"z", "own z"}, {"w", "own w"}});
  startService();
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--all-dps"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", names_, "installed"));
  ASSERT_EQ(pkgxfer({"distribute", "PS100002", "--all-dps"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100002", names_, "installed"));
  std::string log = this->log("pkgxfermgr");
  // PS100002: 2 of its 4 bodies were already there, on each DP.
  std::regex second(R"(2 file\(s\) \(10 B\) to send, 2 already present on the DP \(23 B\))");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(log.begin(), log.end(), second), std::sregex_iterator()),
      2)
      << log;

  ASSERT_EQ(pkgxfer({"remove", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"dp01"}, "removed"));
  EXPECT_FALSE(fs::exists(dp("dp01") / "DataLib" / "PS100001.1.json"));
  EXPECT_EQ(bodyFile(dp("dp01"), "own c"), "");
  EXPECT_NE(bodyFile(dp("dp01"), "shared alpha"), "");
  EXPECT_NE(bodyFile(dp("dp01"), "shared beta"), "");
  EXPECT_EQ(status()[std::make_pair(std::string("PS100002"), std::string("dp01"))]["state"],
            "installed");
  EXPECT_EQ(status()[std::make_pair(std::string("PS100001"), std::string("dp02"))]["state"],
            "installed");
}

TEST_F(DistributionE2eTest, ValidateFindsDamageAndRedistributeRepairsIt) {
  writeConfig(1);
  createDpFolders();
  addPackage("PS100001",
             {{"good.txt", "good body"}, {"bad.txt", "bad body"}, {"gone.txt", "gone body"}});
  startService();
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"dp01"}, "installed"));
  std::string bad = bodyFile(dp("dp01"), "bad body");
  std::string gone = bodyFile(dp("dp01"), "gone body");
  ASSERT_FALSE(bad.empty());
  ASSERT_FALSE(gone.empty());
  writeFile(bad, "BAD body");
  fs::remove(gone);

  ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"dp01"}, "failed"));
  std::string error =
      status()[std::make_pair(std::string("PS100001"), std::string("dp01"))]["last_error"];
  EXPECT_NE(error.find("bad.txt"), std::string::npos) << error;
  EXPECT_NE(error.find("gone.txt"), std::string::npos) << error;
  EXPECT_EQ(error.find("good.txt"), std::string::npos) << error;
  std::string log = this->log("pkgxfermgr");
  EXPECT_NE(log.find("ERROR: Validation: file gone.txt"), std::string::npos) << log;
  EXPECT_NE(log.find("ERROR: Validation: file bad.txt"), std::string::npos) << log;

  ASSERT_EQ(pkgxfer({"redistribute", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"dp01"}, "installed"));
  EXPECT_EQ(readFile(bad), "bad body");
  EXPECT_EQ(readFile(gone), "gone body");
  EXPECT_NE(this->log("pkgxfermgr").find("(redistribute: every file is sent)"), std::string::npos);
  ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_TRUE(waitFor([&] {
    auto all = jobs();
    return all.size() == 4 && all[3].state == store::JobState::Done;
  }));
  EXPECT_TRUE(waitForStates("PS100001", {"dp01"}, "installed"));
}

TEST_F(DistributionE2eTest, MissingDpFolderRetriesThenInstalls) {
  writeConfig(1);
  addPackage("PS100001", {{"a.txt", "alpha"}});
  startService();
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"dp01"}, "retrying"));
  auto row = status()[{"PS100001", "dp01"}];
  EXPECT_NE(row["last_error"].get<std::string>().find("No such file or directory"),
            std::string::npos)
      << row.dump();
  fs::create_directories(dp("dp01"));
  ASSERT_TRUE(waitForStates("PS100001", {"dp01"}, "installed"));
  EXPECT_NE(log("distmgr").find("Failure count = 1/100, Restart time = "), std::string::npos);
}

TEST_F(DistributionE2eTest, HostileFilesOnDpsAreNamedAndTheServiceStillStops) {
  // dp01..dp04: a FIFO, a socket, a link to a file outside, a 1 TB sparse file where the
  // manifest goes; dp05: a FIFO where the body goes; dp06 is clean. Nothing hangs: each pair
  // retries with the file named in last_error, the clean DP is not held up, and SIGTERM stops the
  // service
  // within the grace period (a FIFO opened without O_NONBLOCK would block a pool thread for ever,
  // and the stop would end in exit 3 after 25 s).
  using testing::Hostile;
  const std::vector<Hostile> kinds = {Hostile::Fifo, Hostile::Socket, Hostile::Symlink,
                                      Hostile::Sparse, Hostile::Fifo};
  writeConfig(static_cast<int>(kinds.size()) + 1);
  createDpFolders();
  addPackage("PS100001", {{"a.txt", "alpha"}});
  writeFile(dir_ / "outside", "keep");
  std::vector<fs::path> planted;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const fs::path lib = dp(names_[i]);
    const std::string alpha = "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8";
    planted.push_back(i + 1 < kinds.size() ? lib / "DataLib" / "PS100001.1.json"
                                           : lib / "FileLib" / alpha.substr(0, 4) / alpha);
    testing::plant(kinds[i], planted.back(), dir_ / "outside");
  }
  startService();
  std::vector<std::string> all(names_.begin(), names_.end() - 1);
  std::vector<std::string> args = {"distribute", "PS100001"};
  for (const auto& n : names_) args.insert(args.end(), {"--dp", n});
  ASSERT_EQ(pkgxfer(args).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", all, "retrying"));
  ASSERT_TRUE(waitForStates("PS100001", {names_.back()}, "installed"));
  auto rows = status();
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const std::string error = rows[{"PS100001", names_[i]}]["last_error"].get<std::string>();
    EXPECT_NE(error.find(planted[i].string()), std::string::npos) << names_[i] << ": " << error;
    EXPECT_NE(error.find(testing::describedAs(kinds[i])), std::string::npos)
        << names_[i] << ": " << error;
  }
  EXPECT_EQ(readFile(dir_ / "outside"), "keep");

  const auto start = std::chrono::steady_clock::now();
  service_->signal(SIGTERM);
  EXPECT_EQ(service_->wait(20s), 0) << service_->err();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  service_.reset();
}

TEST_F(DistributionE2eTest, KilledMidBodyResumesWithoutResendingDurableBytes) {
  writeConfig(1);
  createDpFolders();
  // 200 MiB of incompressible bytes.
  {
    fs::create_directories(dir_ / "src" / "PS100001");
    std::ofstream out(dir_ / "src" / "PS100001" / "big.bin", std::ios::binary);
    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> block(1 << 17);  // 1 MiB
    for (int mib = 0; mib < 200; ++mib) {
      for (auto& v : block) v = rng();
      out.write(reinterpret_cast<const char*>(block.data()), block.size() * 8);
    }
  }
  auto r = pkgxfer({"package", "add", "--id", "PS100001", "--name", "big", "--source",
                    (dir_ / "src" / "PS100001").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  startService();
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp01"}).exit_code, 0);
  // Kill -9 once a resume point is durable in the database, i.e. mid-body.
  ASSERT_TRUE(waitFor(
      [&] { return log("pkgxfermgr").find("Resume point saved") != std::string::npos; }, 30s));
  service_->signal(SIGKILL);
  EXPECT_EQ(service_->wait(10s), 128 + SIGKILL);
  service_.reset();
  EXPECT_EQ(status()[std::make_pair(std::string("PS100001"), std::string("dp01"))]["state"],
            "transferring");
  EXPECT_FALSE(tempFiles().empty());  // the partial body, kept to resume

  startService();
  ASSERT_TRUE(waitForStates("PS100001", {"dp01"}, "installed", 60s));
  std::string log = this->log("pkgxfermgr");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      log, m, std::regex(R"(Resuming file big\.bin \([0-9a-f]{64}\) at offset (\d+) of (\d+))")))
      << log;
  EXPECT_GT(std::stoull(m[1]), 0u);
  EXPECT_EQ(std::stoull(m[2]), 200ull << 20);
  EXPECT_NE(log.find("interrupted job(s) queued again"), std::string::npos);
  EXPECT_TRUE(tempFiles().empty()) << tempFiles()[0];
  // The hashes on the DP are right: validation re-hashes them there.
  ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_TRUE(waitFor(
      [&] {
        auto all = jobs();
        return all.size() == 2 && all[1].state == store::JobState::Done;
      },
      30s));
  EXPECT_EQ(status()[std::make_pair(std::string("PS100001"), std::string("dp01"))]["state"],
            "installed");
}

}  // namespace
}  // namespace pkgxfer
