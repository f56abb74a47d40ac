// A real pkgxferd hosting ["dp", "pulldp"], killed -9 in the middle of a body and started again:
// the job goes on from the durable offset recorded before the kill, not from 0, and its final
// status reaches the site. The source DP and the site's status receiver are servers in this test
// process (tests/pulldp/test_servers.h).

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <string>

#include "fakes/test_util.h"
#include "http/http_test_util.h"
#include "pulldp/test_servers.h"

namespace pkgxfer::pulldp::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using pkgxfer::testing::binDir;
using pkgxfer::testing::Process;
using pkgxfer::testing::readFile;
using pkgxfer::testing::waitFor;
using pkgxfer::testing::writeFile;

class PullDpE2eTest : public http::testing::HttpTest {
 protected:
  void SetUp() override {
    writeFile(dir_ / "site.token", std::string(kToken) + "\n");
    http::ServerOptions site = serverOptions();
    site.bearer_token = kToken;
    site_server_ = &startServer(site, [&](http::Server& s) { site_.addRoutes(s); });
    source_server_ = &startServer(serverOptions(), [&](http::Server& s) { source_.addRoutes(s); });
    source_url_ = "http://127.0.0.1:" + std::to_string(source_server_->port());
    port_ = freePort();
    writeFile(dir_ / "pulldp.json", R"({
      "logging": { "dir": "log", "level": "debug", "max_size": "64MB" },
      "components": ["dp", "pulldp"],
      "dp": { "name": "pdp01", "content_library": "pdp01", "listen": "127.0.0.1:)" +
                                        std::to_string(port_) + R"(", "token_file": "site.token" },
      "pulldp": { "site_status_url": "http://127.0.0.1:)" +
                                        std::to_string(site_server_->port()) + R"(" }
    })");
  }
  void TearDown() override {
    source_.release();
    if (pulldp_) {
      pulldp_->signal(SIGTERM);
      EXPECT_EQ(pulldp_->wait(20s), 0) << pulldp_->err();
    }
    stopServer(*source_server_);
    stopServer(*site_server_);
  }

  void startPullDp() {
    pulldp_ = std::make_unique<Process>(
        std::vector<std::string>{(binDir() / "pkgxferd").string(), "--config",
                                 (dir_ / "pulldp.json").string()},
        dir_ / ("out" + std::to_string(++starts_)));
    const std::string started = "Pull DP pdp01 started";
    const std::size_t before = count(started);
    ASSERT_TRUE(waitFor([&] { return count(started) > before; }, 20s)) << pulldp_->err();
    client_ = makeClient(port_);
  }
  std::size_t count(const std::string& text) {
    const std::string log = pullLog();
    std::size_t n = 0;
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  }
  std::string pullLog() {
    std::error_code ec;
    if (!fs::exists(dir_ / "log" / "pulldp.log", ec)) return {};
    return readFile(dir_ / "log" / "pulldp.log");
  }
  std::optional<JobStatus> jobStatus(std::int64_t id) {
    auto r = client_->get(within(5s), "/v1/pull-jobs/" + std::to_string(id),
                          {{"Authorization", std::string("Bearer ") + kToken}});
    if (!r.ok() || r->status != 200) return std::nullopt;
    auto s = transport::pull::parseJobStatus(r->body);
    if (!s.ok()) return std::nullopt;
    return *s;
  }

  pkgxfer::testing::TempDir dir_;
  SiteReceiver site_;
  ScriptedSource source_;
  http::Server* site_server_ = nullptr;
  http::Server* source_server_ = nullptr;
  std::string source_url_;
  std::uint16_t port_ = 0;
  int starts_ = 0;
  std::unique_ptr<Process> pulldp_;
  std::unique_ptr<http::Client> client_;
};

TEST_F(PullDpE2eTest, KilledMidBodyItResumesFromTheDurableOffsetAfterARestart) {
  const std::string body = makeBody(24 << 20, 21);
  const std::string sha = http::testing::sha256Hex(body);
  source_.add(body);
  source_.stall_after = 12 << 20;  // the first 12 MiB, then nothing: one 8 MiB checkpoint
  startPullDp();

  Notification n;
  n.job_id = 41;
  n.dp = "pdp01";
  n.manifest.package_id = "PS100001";
  n.manifest.version = 1;
  n.manifest.name = "big";
  n.manifest.files.push_back({"setup/big.bin", body.size(), sha, 0, 0644});
  n.manifest.dirs = {"setup"};
  n.manifest.total_bytes = body.size();
  n.sources = {source_url_};
  http::ClientRequest post;
  post.method = "POST";
  post.target = "/v1/pull-jobs";
  post.body = transport::pull::toJson(n);
  post.content_type = "application/json";
  post.headers.push_back({"Authorization", std::string("Bearer ") + kToken});
  auto accepted = client_->request(within(10s), post);
  ASSERT_TRUE(accepted.ok()) << accepted.status().toString();
  ASSERT_EQ(accepted->status, 202) << accepted->body;

  // The pull DP's own answer says 8 MiB are durable (it records the resume point first).
  ASSERT_TRUE(waitFor(
      [&] {
        auto s = jobStatus(41);
        return s && s->bytes_done >= (8u << 20);
      },
      30s))
      << pullLog();
  pulldp_->signal(SIGKILL);
  EXPECT_EQ(pulldp_->wait(10s), 128 + SIGKILL);
  pulldp_.reset();
  client_.reset();
  source_.stall_after = 0;
  source_.release();

  startPullDp();
  ASSERT_TRUE(waitFor([&] { return site_.has(41, PullState::Installed); }, 60s)) << pullLog();
  auto served = source_.served();
  ASSERT_FALSE(served.empty());
  const std::string range = served.back().range;
  ASSERT_EQ(range.rfind("bytes=", 0), 0u) << range << "\n" << pullLog();
  const std::uint64_t resumed_at = std::stoull(range.substr(6));
  EXPECT_GE(resumed_at, 8u << 20);
  EXPECT_LE(resumed_at, 12u << 20);
  EXPECT_EQ(served.back().bytes, body.size() - resumed_at);
  const std::string log = pullLog();
  EXPECT_NE(
      log.find("Resuming " + sha + " (setup/big.bin) at offset " + std::to_string(resumed_at)),
      std::string::npos)
      << log;
  EXPECT_NE(log.find("Resuming job 41"), std::string::npos);
  // The body in place is the right one, and nothing temporary is left.
  const fs::path lib = dir_ / "pdp01";
  EXPECT_EQ(http::testing::sha256Hex(readFile(lib / "FileLib" / sha.substr(0, 4) / sha)), sha);
  EXPECT_TRUE(fs::exists(lib / "DataLib" / "PS100001.1.json"));
  for (const auto& e : fs::recursive_directory_iterator(lib)) {
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
  }
  auto final = site_.last(41);
  EXPECT_EQ(final->bytes_done, body.size());
}

}  // namespace
}  // namespace pkgxfer::pulldp::testing
