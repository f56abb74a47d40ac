// SMB DPs end to end: a real pkgxferd (distmgr + pkgxfermgr) distributes, validates and removes
// content on shares of a real smbd (scripts/smbd.sh through tests/fakes/smb_server.h), which is
// stopped mid-transfer and started again.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "fakes/smb_server.h"
#include "fakes/test_util.h"
#include "pkgxfer/content/sha256.h"

namespace pkgxfer {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::binDir;
using testing::Process;
using testing::readFile;
using testing::run;
using testing::SmbServer;
using testing::TempDir;
using testing::waitFor;
using testing::writeFile;

constexpr const char* kPasswordEnv = "PKGXFER_TEST_SMB_PASSWORD";

class SmbDpE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = testing::smbdUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
    server_ = std::make_unique<SmbServer>(std::vector<std::string>{"share1", "share2"});
    ASSERT_TRUE(server_->started());
    // The library folder inside each share, as an administrator makes it (never created by us).
    fs::create_directories(server_->shareDir("share1") / "ContentLib");
    fs::create_directories(server_->shareDir("share2") / "ContentLib");
  }
  void TearDown() override { stopService(); }

  // DPs as (name, address) pairs; `extra` is added to each DP's object.
  void writeConfig(const std::vector<std::pair<std::string, std::string>>& dps,
                   const std::string& extra = "") {
    std::string list;
    for (const auto& [name, address] : dps) {
      if (!list.empty()) list += ",";
      list += R"({ "name": ")" + name + R"(", "address": ")" + address +
              R"(", "credentials": { "user": "pkgxfer", "domain": "WORKGROUP", "password_env": ")" +
              kPasswordEnv + R"(" })" + extra + " }";
    }
    writeFile(dir_ / "pkgxfer.json", R"({
      "site": { "code": "PS1", "data_dir": "site" },
      "logging": { "dir": "log", "level": "debug", "max_size": "64MB" },
      "components": ["distmgr", "pkgxfermgr"],
      "distribution": { "retry_delay": "200ms" },
      "distribution_points": [ )" + list +
                                         R"( ]
    })");
  }

  testing::RunResult pkgxfer(std::vector<std::string> args) {
    std::vector<std::string> argv = {(binDir() / "pkgxfer").string(), "--config",
                                     (dir_ / "pkgxfer.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  void addPackage(const std::string& id, const std::map<std::string, std::string>& files) {
    fs::path src = dir_ / "src" / id;
    fs::create_directories(src / "empty");
    for (const auto& [path, data] : files) writeFile(src / path, data);
    auto r = pkgxfer({"package", "add", "--id", id, "--name", id, "--source", src.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void startService(const std::string& password = SmbServer::kPassword) {
    service_ = std::make_unique<Process>(
        std::vector<std::string>{(binDir() / "pkgxferd").string(), "--config",
                                 (dir_ / "pkgxfer.json").string()},
        dir_ / ("out" + std::to_string(++starts_)),
        std::vector<std::string>{std::string(kPasswordEnv) + "=" + password});
  }
  void stopService() {
    if (!service_) return;
    service_->signal(SIGTERM);
    EXPECT_EQ(service_->wait(30s), 0) << service_->err();
    service_.reset();
  }

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
  nlohmann::json row(const std::string& pkg, const std::string& dp) { return status()[{pkg, dp}]; }

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
      for (const auto& [key, r] : last) ADD_FAILURE() << r.dump();
    }
    return ok;
  }

  std::string log(const std::string& stem) { return readFile(dir_ / "log" / (stem + ".log")); }
  std::string allLogs() { return log("pkgxfermgr") + log("distmgr") + log("pkgxferd"); }

  fs::path lib(const std::string& share) { return server_->shareDir(share) / "ContentLib"; }
  fs::path body(const std::string& share, const std::string& data) {
    const std::string sha = *content::sha256Hex(data);
    return lib(share) / "FileLib" / sha.substr(0, 4) / sha;
  }
  std::vector<std::string> tempFiles(const std::string& share) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(lib(share))) {
      std::string name = e.path().filename().string();
      if (!name.empty() && name.front() == '.') out.push_back(e.path().string());
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SmbServer> server_;
  std::unique_ptr<Process> service_;
  int starts_ = 0;
};

const std::map<std::string, std::string> kFiles = {
    {"setup.exe", std::string(3 << 20, 'x') + "end"},  // more than one block
    {"data/a.cab", "cabinet a"},
    {"data/copy.cab", "cabinet a"},  // the same body: stored once
    {"readme.txt", "hello from an SMB DP"},
};

TEST_F(SmbDpE2eTest, DistributeValidateAndRemoveOverSmb) {
  writeConfig({{"smb01", server_->url("share1", "/ContentLib")}});
  addPackage("PS100001", kFiles);
  startService();
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "smb01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"smb01"}, "installed"));

  // What the share's folder holds: every body once under its hash, the manifest, the PkgLib entry,
  // the identity file, and no temporary file.
  for (const auto& [path, data] : kFiles) EXPECT_EQ(readFile(body("share1", data)), data) << path;
  std::size_t bodies = 0;
  for (const auto& e : fs::recursive_directory_iterator(lib("share1") / "FileLib")) {
    if (e.is_regular_file()) ++bodies;
  }
  EXPECT_EQ(bodies, 3u);
  auto manifest = nlohmann::json::parse(readFile(lib("share1") / "DataLib" / "PS100001.1.json"));
  EXPECT_EQ(manifest["package_id"], "PS100001");
  EXPECT_EQ(manifest["files"].size(), 4u);
  EXPECT_NE(manifest["dirs"].dump().find("empty"), std::string::npos);
  EXPECT_TRUE(fs::exists(lib("share1") / "PkgLib" / "PS100001.json"));
  EXPECT_TRUE(fs::exists(lib("share1") / "pkgxfer-library.json"));
  EXPECT_TRUE(tempFiles("share1").empty()) << tempFiles("share1")[0];
  EXPECT_NE(allLogs().find(server_->url("share1", "/ContentLib")), std::string::npos);

  // Validate re-hashes the bodies on the share: all good, then one damaged behind our back.
  ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "smb01"}).exit_code, 0);
  ASSERT_TRUE(
      waitFor([&] { return log("pkgxfermgr").find("Validation succeeded") != std::string::npos; }));
  ASSERT_TRUE(waitForStates("PS100001", {"smb01"}, "installed"));
  writeFile(body("share1", "hello from an SMB DP"), "tampered with");
  ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "smb01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"smb01"}, "failed"));
  EXPECT_NE(row("PS100001", "smb01")["last_error"].get<std::string>().find("readme.txt"),
            std::string::npos)
      << row("PS100001", "smb01").dump();

  // Remove: the manifest goes, then every body no other manifest names.
  ASSERT_EQ(pkgxfer({"remove", "PS100001", "--dp", "smb01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"smb01"}, "removed"));
  EXPECT_FALSE(fs::exists(lib("share1") / "DataLib" / "PS100001.1.json"));
  for (const auto& [path, data] : kFiles) EXPECT_FALSE(fs::exists(body("share1", data))) << path;
  EXPECT_TRUE(tempFiles("share1").empty());
}

TEST_F(SmbDpE2eTest, TwoDpsOnTwoSharesAtOnce) {
  writeConfig({{"smb01", server_->url("share1", "/ContentLib")},
               {"smb02", server_->url("share2", "/ContentLib")}},
              R"(, "smb": { "encrypt": true })");
  addPackage("PS100001", kFiles);
  startService();
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "smb01", "--dp", "smb02"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"smb01", "smb02"}, "installed"));
  for (const std::string share : {"share1", "share2"}) {
    for (const auto& [path, data] : kFiles) EXPECT_EQ(readFile(body(share, data)), data) << path;
    EXPECT_TRUE(fs::exists(lib(share) / "DataLib" / "PS100001.1.json"));
    EXPECT_TRUE(tempFiles(share).empty());
  }
}

TEST_F(SmbDpE2eTest, WrongPasswordRetriesWithTheServersAnswer) {
  const std::string wrong = "wrong-password-5678";
  writeConfig({{"smb01", server_->url("share1", "/ContentLib")}});
  addPackage("PS100001", kFiles);
  startService(wrong);
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "smb01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"smb01"}, "retrying"));
  const std::string error = row("PS100001", "smb01")["last_error"].get<std::string>();
  EXPECT_NE(error.find("Permission denied (EACCES)"), std::string::npos) << error;
  EXPECT_NE(error.find("the server refused the logon of WORKGROUP\\pkgxfer: The attempted logon "
                       "is invalid"),
            std::string::npos)
      << error;
  EXPECT_NE(log("distmgr").find("refused the logon"), std::string::npos);
  stopService();
  EXPECT_EQ(allLogs().find(wrong), std::string::npos);  // a password never reaches a log
  EXPECT_EQ(allLogs().find(SmbServer::kPassword), std::string::npos);
}

TEST_F(SmbDpE2eTest, MissingShareRetriesAsNotFound) {
  writeConfig({{"smb01", server_->url("no-such-share", "/ContentLib")}});
  addPackage("PS100001", kFiles);
  startService();
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "smb01"}).exit_code, 0);
  ASSERT_TRUE(waitForStates("PS100001", {"smb01"}, "retrying"));
  const std::string error = row("PS100001", "smb01")["last_error"].get<std::string>();
  EXPECT_NE(error.find(server_->url("no-such-share", "/ContentLib") +
                       ": No such file or directory (ENOENT)"),
            std::string::npos)
      << error;
}

TEST_F(SmbDpE2eTest, SmbdStoppedMidTransferRetriesAndResumesFromThePersistedOffset) {
  // 64 MiB at 8 MB/s: about 8 s, so smbd stops mid-body.
  writeConfig({{"smb01", server_->url("share1", "/ContentLib")}},
              R"(, "rate_limit": { "mode": "max_rate", "hours": { "00-24": "8MB/s" } })");
  {
    fs::create_directories(dir_ / "src" / "PS100001");
    std::ofstream out(dir_ / "src" / "PS100001" / "big.bin", std::ios::binary);
    std::mt19937_64 rng(7);
    std::vector<std::uint64_t> block(1 << 17);  // 1 MiB
    for (int mib = 0; mib < 64; ++mib) {
      for (auto& v : block) v = rng();
      out.write(reinterpret_cast<const char*>(block.data()), block.size() * 8);
    }
  }
  auto r = pkgxfer({"package", "add", "--id", "PS100001", "--name", "big", "--source",
                    (dir_ / "src" / "PS100001").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  startService();
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "smb01"}).exit_code, 0);
  ASSERT_TRUE(waitFor(
      [&] { return log("pkgxfermgr").find("Resume point saved") != std::string::npos; }, 30s));
  server_->stop();  // every connection dropped mid-body
  ASSERT_TRUE(waitForStates("PS100001", {"smb01"}, "retrying"));
  const std::string error = row("PS100001", "smb01")["last_error"].get<std::string>();
  EXPECT_NE(error.find("smb://127.0.0.1"), std::string::npos) << error;
  EXPECT_FALSE(tempFiles("share1").empty());  // the partial body, kept to resume

  ASSERT_TRUE(server_->start());
  ASSERT_TRUE(waitForStates("PS100001", {"smb01"}, "installed", 60s));
  const std::string log = this->log("pkgxfermgr");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      log, m, std::regex(R"(Resuming file big\.bin \([0-9a-f]{64}\) at offset (\d+) of (\d+))")))
      << log;
  EXPECT_GT(std::stoull(m[1]), 0u);
  EXPECT_EQ(std::stoull(m[2]), 64ull << 20);
  EXPECT_TRUE(tempFiles("share1").empty()) << tempFiles("share1")[0];
  const std::string big = readFile(dir_ / "src" / "PS100001" / "big.bin");
  EXPECT_EQ(readFile(body("share1", big)), big);
}

}  // namespace
}  // namespace pkgxfer
