// HTTP(S) distribution points end to end: a site pkgxferd (distmgr + pkgxfermgr) and a DP
// pkgxferd (dp) as two processes on loopback. The site pushes over HTTP and HTTPS, the DP is
// killed -9 mid-body and comes back, and a wrong CA shows the TLS error where an administrator
// looks.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>

#include "fakes/test_util.h"
#include "http/http_test_util.h"

namespace pkgxfer {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::binDir;
using testing::freePort;
using testing::Process;
using testing::readFile;
using testing::run;
using testing::TempDir;
using testing::waitFor;
using testing::writeFile;

class HttpDpE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = freePort();
    writeFile(dir_ / "site.token", "e2e-site-token-0123456789\n");
  }

  // The DP machine: dp only, its library in dp03/, its own logs.
  void writeDpConfig(bool tls = false) {
    std::string tls_block;
    if (tls) {
      const auto& certs = http::testing::testCerts();
      tls_block = R"(, "tls": { "cert_file": ")" + certs.server_cert.string() +
                  R"(", "key_file": ")" + certs.server_key.string() + R"(" })";
    }
    writeFile(dir_ / "dp.json", R"({
      "logging": { "dir": "dplog", "level": "debug", "max_size": "64MB" },
      "components": ["dp"],
      "dp": { "name": "dp03", "content_library": "dp03", "listen": "127.0.0.1:)" +
                                    std::to_string(port_) + R"(", "token_file": "site.token")" +
                                    tls_block + R"( }
    })");
  }

  // The site: one standard DP over http(s).
  void writeSiteConfig(bool https = false, const std::string& ca_file = {}) {
    std::string dp = R"({ "name": "dp03", "address": ")" + std::string(https ? "https" : "http") +
                     "://127.0.0.1:" + std::to_string(port_) + "\"";
    if (!ca_file.empty()) dp += R"(, "ca_file": ")" + ca_file + "\"";
    dp += " }";
    writeFile(dir_ / "site.json", R"({
      "site": { "code": "PS1", "data_dir": "site", "token_file": "site.token" },
      "logging": { "dir": "log", "level": "debug", "max_size": "64MB" },
      "components": ["distmgr", "pkgxfermgr"],
      "distribution": { "retry_delay": "200ms" },
      "distribution_points": [ )" + dp +
                                      R"( ]
    })");
  }

  testing::RunResult pkgxfer(std::vector<std::string> args) {
    std::vector<std::string> argv = {(binDir() / "pkgxfer").string(), "--config",
                                     (dir_ / "site.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  std::unique_ptr<Process> start(const std::string& config) {
    return std::make_unique<Process>(std::vector<std::string>{(binDir() / "pkgxferd").string(),
                                                              "--config", (dir_ / config).string()},
                                     dir_ / ("out-" + config + std::to_string(++starts_)));
  }
  void startDp() {
    dp_ = start("dp.json");
    // Serving once dp.log says so.
    ASSERT_TRUE(waitFor(
        [&] { return dpLog().find("serving the content library") != std::string::npos; }, 20s))
        << dp_->err();
  }
  static void stop(std::unique_ptr<Process>& p) {
    if (!p) return;
    p->signal(SIGTERM);
    EXPECT_EQ(p->wait(20s), 0) << p->err();
    p.reset();
  }
  void TearDown() override {
    stop(site_);
    stop(dp_);
  }

  void addPackage(const std::string& id, const std::map<std::string, std::string>& files) {
    fs::path src = dir_ / "src" / id;
    for (const auto& [path, data] : files) writeFile(src / path, data);
    auto r = pkgxfer({"package", "add", "--id", id, "--name", id, "--source", src.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  nlohmann::json pair(const std::string& pkg, const std::string& dp = "dp03") {
    auto r = pkgxfer({"status", "--json"});
    auto parsed = nlohmann::json::parse(r.out, nullptr, false);
    if (!parsed.is_array()) return {};
    for (const auto& row : parsed) {
      if (row["package_id"] == pkg && row["dp"] == dp) return row;
    }
    return {};
  }
  bool waitForState(const std::string& pkg, const std::string& state,
                    std::chrono::milliseconds timeout = 60s, const std::string& dp = "dp03") {
    nlohmann::json last;
    bool ok = waitFor(
        [&] {
          last = pair(pkg, dp);
          return last.is_object() && last["state"] == state;
        },
        timeout);
    if (!ok) ADD_FAILURE() << "last status: " << last.dump();
    return ok;
  }

  std::string siteLog() { return readFile(dir_ / "log" / "pkgxfermgr.log"); }
  std::string dpLog() { return readFile(dir_ / "dplog" / "dp.log"); }
  fs::path dpBody(const std::string& sha) {
    return dir_ / "dp03" / "FileLib" / sha.substr(0, 4) / sha;
  }
  std::vector<std::string> dpTempFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "dp03" / "FileLib")) {
      const std::string name = e.path().filename().string();
      if (!name.empty() && name.front() == '.') out.push_back(e.path().string());
    }
    return out;
  }

  // Distributes a few files and checks every body and the manifest on the DP's disk.
  void distributeAndCheck() {
    std::map<std::string, std::string> files = {{"setup.exe", std::string(3 << 20, 'x') + "end"},
                                                {"readme.txt", "hello over http\n"},
                                                {"sub/empty.dat", ""},
                                                {"sub/data.bin", std::string(200 * 1024, 'd')}};
    addPackage("PS100001", files);
    ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp03"}).exit_code, 0);
    ASSERT_TRUE(waitForState("PS100001", "installed"));
    for (const auto& [path, data] : files) {
      const std::string sha = http::testing::sha256Hex(data);
      EXPECT_EQ(readFile(dpBody(sha)), data) << path;
    }
    EXPECT_TRUE(fs::exists(dir_ / "dp03" / "DataLib" / "PS100001.1.json"));
    EXPECT_TRUE(dpTempFiles().empty());
  }

  TempDir dir_;
  std::uint16_t port_ = 0;
  int starts_ = 0;
  std::unique_ptr<Process> site_;
  std::unique_ptr<Process> dp_;
};

TEST_F(HttpDpE2eTest, DistributesOverHttp) {
  writeDpConfig();
  writeSiteConfig();
  startDp();
  site_ = start("site.json");
  distributeAndCheck();
  EXPECT_NE(dpLog().find("Content PS100001.1 is installed"), std::string::npos) << dpLog();
  EXPECT_NE(siteLog().find("every hash verified by the DP as it received the body"),
            std::string::npos);
  // The same version again sends nothing; validate re-hashes on the DP.
  ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "dp03"}).exit_code, 0);
  EXPECT_TRUE(
      waitFor([&] { return dpLog().find("Validated PS100001.1") != std::string::npos; }, 30s));
  ASSERT_TRUE(waitForState("PS100001", "installed"));
  // Remove over HTTP.
  ASSERT_EQ(pkgxfer({"remove", "PS100001", "--dp", "dp03"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "removed"));
  EXPECT_FALSE(fs::exists(dir_ / "dp03" / "DataLib" / "PS100001.1.json"));
}

TEST_F(HttpDpE2eTest, DistributesOverHttpsVerifyingTheDpsCertificate) {
  writeDpConfig(/*tls=*/true);
  writeSiteConfig(/*https=*/true, http::testing::testCerts().ca.string());
  startDp();
  site_ = start("site.json");
  distributeAndCheck();
}

TEST_F(HttpDpE2eTest, AWrongCaFailsWithTheTlsError) {
  writeDpConfig(/*tls=*/true);
  writeSiteConfig(/*https=*/true, http::testing::testCerts().other_ca.string());
  startDp();
  site_ = start("site.json");
  addPackage("PS100001", {{"a.txt", "a"}});
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp03"}).exit_code, 0);
  nlohmann::json last;
  ASSERT_TRUE(waitFor(
      [&] {
        last = pair("PS100001");
        return last.is_object() && (last["state"] == "retrying" || last["state"] == "failed");
      },
      30s))
      << last.dump();
  EXPECT_NE(last["last_error"].get<std::string>().find("certificate verify failed"),
            std::string::npos)
      << last.dump();
  EXPECT_FALSE(fs::exists(dir_ / "dp03" / "DataLib" / "PS100001.1.json"));
}

TEST_F(HttpDpE2eTest, ADpKilledMidBodyResumesAboveZeroAfterItRestarts) {
  writeDpConfig();
  writeSiteConfig();
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
  startDp();
  site_ = start("site.json");
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp03"}).exit_code, 0);
  // Kill -9 the DP once the site recorded a durable resume point, i.e. mid-body.
  ASSERT_TRUE(
      waitFor([&] { return siteLog().find("Resume point saved") != std::string::npos; }, 60s))
      << siteLog();
  dp_->signal(SIGKILL);
  EXPECT_EQ(dp_->wait(10s), 128 + SIGKILL);
  dp_.reset();
  // The site notices and retries with the cause; then the DP comes back.
  ASSERT_TRUE(
      waitFor([&] { return siteLog().find("Failure count = 1/") != std::string::npos; }, 30s))
      << siteLog();
  startDp();
  ASSERT_TRUE(waitForState("PS100001", "installed", 120s));
  std::smatch m;
  const std::string log = siteLog();
  ASSERT_TRUE(std::regex_search(
      log, m, std::regex(R"(Resuming file big\.bin \([0-9a-f]{64}\) at offset (\d+) of (\d+))")))
      << log;
  EXPECT_GT(std::stoull(m[1]), 0u);
  EXPECT_EQ(std::stoull(m[2]), 200ull << 20);
  const std::string dplog = dpLog();
  ASSERT_TRUE(std::regex_search(
      dplog, m, std::regex(R"(Resuming the upload of [0-9a-f]{64} .* at offset (\d+))")))
      << dplog;
  EXPECT_GT(std::stoull(m[1]), 0u);
  EXPECT_TRUE(dpTempFiles().empty());
  // What the DP holds hashes right.
  ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "dp03"}).exit_code, 0);
  ASSERT_TRUE(
      waitFor([&] { return dpLog().find("Validated PS100001.1") != std::string::npos; }, 60s));
}

// The whole pull chain with real processes: a site (distmgr, pkgxfermgr, statusreceiver), a
// standard HTTP DP as the source, and a pull DP (dp + pulldp). The pull DP is distributed to
// before its source holds the content: it waits for the source, is notified once the source has
// it, pulls the bodies from it and reports; the site marks it installed.
TEST_F(HttpDpE2eTest, APullDpWaitsForItsSourceThenPullsFromIt) {
  const std::uint16_t pull_port = freePort();
  const std::uint16_t site_port = freePort();
  writeDpConfig();
  writeFile(dir_ / "pdp.json", R"({
    "logging": { "dir": "pdplog", "level": "debug", "max_size": "64MB" },
    "components": ["dp", "pulldp"],
    "dp": { "name": "pdp01", "content_library": "pdp01",
            "listen": "127.0.0.1:)" +
                                   std::to_string(pull_port) +
                                   R"(", "token_file": "site.token" },
    "pulldp": { "site_status_url": "http://127.0.0.1:)" +
                                   std::to_string(site_port) + R"(" }
  })");
  writeFile(dir_ / "site.json", R"({
    "site": { "code": "PS1", "data_dir": "site", "token_file": "site.token",
              "listen": "127.0.0.1:)" +
                                    std::to_string(site_port) +
                                    R"(" },
    "logging": { "dir": "log", "level": "debug", "max_size": "64MB" },
    "components": ["distmgr", "pkgxfermgr", "statusreceiver"],
    "distribution": { "retry_delay": "200ms", "pull_source_recheck": "300ms",
                      "pull_status_timeout": "5s" },
    "distribution_points": [
      { "name": "dp03", "address": "http://127.0.0.1:)" +
                                    std::to_string(port_) + R"(" },
      { "name": "pdp01", "type": "pull", "address": "http://127.0.0.1:)" +
                                    std::to_string(pull_port) + R"(", "sources": ["dp03"] } ]
  })");
  startDp();
  auto pull_dp = start("pdp.json");
  ASSERT_TRUE(waitFor(
      [&] {
        return readFile(dir_ / "pdplog" / "dp.log").find("serving the content library") !=
               std::string::npos;
      },
      20s));
  site_ = start("site.json");

  const std::map<std::string, std::string> files = {{"setup.exe", std::string(3 << 20, 's')},
                                                    {"docs/readme.txt", "pulled\n"}};
  addPackage("PS100001", files);
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "pdp01"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "waiting_source", 30s, "pdp01"));
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp03"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "installed", 60s, "dp03"));
  ASSERT_TRUE(waitForState("PS100001", "installed", 60s, "pdp01"))
      << readFile(dir_ / "pdplog" / "pulldp.log");

  for (const auto& [path, data] : files) {
    const std::string sha = http::testing::sha256Hex(data);
    EXPECT_EQ(readFile(dir_ / "pdp01" / "FileLib" / sha.substr(0, 4) / sha), data) << path;
  }
  EXPECT_TRUE(fs::exists(dir_ / "pdp01" / "DataLib" / "PS100001.1.json"));
  const std::string site_log = siteLog();
  EXPECT_NE(site_log.find("PullDP notification sent"), std::string::npos) << site_log;
  stop(pull_dp);
}

}  // namespace
}  // namespace pkgxfer
