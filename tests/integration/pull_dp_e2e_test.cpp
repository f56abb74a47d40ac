// Pull DPs, the site's side, end to end: a real site pkgxferd (distmgr, pkgxfermgr,
// statusreceiver), a real source DP pkgxferd (dp), and a pull DP stand-in in the test process (an
// http::Server that takes notifications and answers checks as each test decides, and posts status
// to the site's statusreceiver). Durations are shortened in the config.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fakes/test_util.h"
#include "http/http_test_util.h"
#include "pkgxfer/transport/pull_protocol.h"

namespace pkgxfer {
namespace {

namespace fs = std::filesystem;
namespace pull = transport::pull;
using namespace std::chrono_literals;
using testing::binDir;
using testing::freePort;
using testing::Process;
using testing::readFile;
using testing::run;
using testing::waitFor;
using testing::writeFile;

constexpr const char* kToken = "e2e-site-token-0123456789";

// The pull DP as the site sees it: POST /v1/pull-jobs and GET /v1/pull-jobs/{id}.
struct PullDpStandIn {
  std::mutex mu;
  std::vector<pull::Notification> notifications;  // accepted ones
  int notify_failures_left = 0;                   // answer 503 to this many notifications first
  // What GET /v1/pull-jobs/{id} answers: the job's status, or 404 when unset.
  std::map<std::int64_t, pull::JobStatus> jobs;
  std::atomic<int> posts{0};
  std::atomic<int> gets{0};

  std::optional<pull::Notification> last() {
    std::lock_guard lock(mu);
    if (notifications.empty()) return std::nullopt;
    return notifications.back();
  }
};

class PullDpE2eTest : public http::testing::HttpTest {
 protected:
  void SetUp() override {
    dp_port_ = freePort();
    site_port_ = freePort();
    writeFile(dir_ / "site.token", std::string(kToken) + "\n");
    http::ServerOptions options = serverOptions();
    options.bearer_token = kToken;
    http::RouteOptions auth;
    auth.requires_auth = true;
    http::Server& server = startServer(options, [&](http::Server& s) {
      ASSERT_TRUE(s.addRoute("POST", "/v1/pull-jobs", auth,
                             [this](http::Request& req, http::Response& res) {
                               ++pulldp_.posts;
                               auto body = req.readBody(16 << 20);
                               if (!body.ok()) return body.status();
                               auto n = pull::parseNotification(*body);
                               if (!n.ok()) return res.sendError(400, n.status().message());
                               std::lock_guard lock(pulldp_.mu);
                               if (pulldp_.notify_failures_left > 0) {
                                 --pulldp_.notify_failures_left;
                                 return res.sendError(503, "busy (test)");
                               }
                               pulldp_.notifications.push_back(*n);
                               return res.send(202, R"({"accepted":true})");
                             })
                      .ok());
      ASSERT_TRUE(s.addRoute("GET", "/v1/pull-jobs/{id}", {},
                             [this](http::Request& req, http::Response& res) {
                               ++pulldp_.gets;
                               std::lock_guard lock(pulldp_.mu);
                               auto it = pulldp_.jobs.find(std::stoll(req.param("id")));
                               if (it == pulldp_.jobs.end())
                                 return res.sendError(404, "no such job");
                               return res.send(200, pull::toJson(it->second));
                             })
                      .ok());
    });
    pulldp_port_ = server.port();
  }

  void TearDown() override {
    stop(site_);
    stop(dp_);
  }

  void writeConfigs(const std::string& distribution) {
    writeFile(dir_ / "dp.json", R"({
      "logging": { "dir": "dplog", "level": "debug" },
      "components": ["dp"],
      "dp": { "name": "dp03", "content_library": "dp03", "listen": "127.0.0.1:)" +
                                    std::to_string(dp_port_) + R"(", "token_file": "site.token" }
    })");
    writeFile(dir_ / "site.json", R"({
      "site": { "code": "PS1", "data_dir": "site", "token_file": "site.token",
                "listen": "127.0.0.1:)" +
                                      std::to_string(site_port_) + R"(" },
      "logging": { "dir": "log", "level": "debug", "max_size": "64MB" },
      "components": ["distmgr", "pkgxfermgr", "statusreceiver"],
      "distribution": )" + distribution +
                                      R"(,
      "distribution_points": [
        { "name": "dp03", "address": "http://127.0.0.1:)" +
                                      std::to_string(dp_port_) + R"(" },
        { "name": "pdp01", "type": "pull", "address": "http://127.0.0.1:)" +
                                      std::to_string(pulldp_port_) + R"(", "sources": ["dp03"] }
      ]
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
    ASSERT_TRUE(waitFor(
        [&] {
          return readFile(dir_ / "dplog" / "dp.log").find("serving the content library") !=
                 std::string::npos;
        },
        20s))
        << dp_->err();
  }
  void startSite() {
    site_ = start("site.json");
    ASSERT_TRUE(
        waitFor([&] { return receiverLog().find("listening on") != std::string::npos; }, 20s))
        << site_->err();
  }
  static void stop(std::unique_ptr<Process>& p) {
    if (!p) return;
    p->signal(SIGTERM);
    EXPECT_EQ(p->wait(20s), 0) << p->err();
    p.reset();
  }

  void addPackage(const std::string& id, const std::map<std::string, std::string>& files) {
    fs::path src = dir_ / "src" / id;
    for (const auto& [path, data] : files) writeFile(src / path, data);
    auto r = pkgxfer({"package", "add", "--id", id, "--name", id, "--source", src.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  nlohmann::json pair(const std::string& pkg, const std::string& dp) {
    auto r = pkgxfer({"status", "--json"});
    auto parsed = nlohmann::json::parse(r.out, nullptr, false);
    if (!parsed.is_array()) return {};
    for (const auto& row : parsed) {
      if (row["package_id"] == pkg && row["dp"] == dp) return row;
    }
    return {};
  }
  bool waitForState(const std::string& pkg, const std::string& dp, const std::string& state,
                    std::chrono::milliseconds timeout = 30s) {
    nlohmann::json last;
    bool ok = waitFor(
        [&] {
          last = pair(pkg, dp);
          return last.is_object() && last["state"] == state;
        },
        timeout);
    if (!ok) ADD_FAILURE() << "last status of " << pkg << " on " << dp << ": " << last.dump();
    return ok;
  }

  std::string xferLog() { return readFile(dir_ / "log" / "pkgxfermgr.log"); }
  std::string distLog() { return readFile(dir_ / "log" / "distmgr.log"); }
  std::string receiverLog() { return readFile(dir_ / "log" / "statusreceiver.log"); }

  // Posts a status to the site's statusreceiver as a pull DP does; the HTTP status.
  int postStatus(const pull::JobStatus& s, const std::string& token = kToken) {
    http::ClientOptions o;
    o.bearer_token = token;
    auto client = makeClient(site_port_, o);
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/v1/status";
    req.body = pull::toJson(s);
    req.content_type = "application/json";
    auto r = client->request(within(10s), req);
    return r.ok() ? r->status : -1;
  }
  pull::JobStatus statusOf(const pull::Notification& n, pull::PullState state,
                           std::uint64_t sequence) {
    pull::JobStatus s;
    s.job_id = n.job_id;
    s.dp = n.dp;
    s.package_id = n.manifest.package_id;
    s.version = n.manifest.version;
    s.state = state;
    s.sequence = sequence;
    s.files_total = n.manifest.files.size();
    s.bytes_total = n.manifest.total_bytes;
    if (state == pull::PullState::Installed) {
      s.files_done = s.files_total;
      s.bytes_done = s.bytes_total;
    }
    return s;
  }

  testing::TempDir dir_;
  std::uint16_t dp_port_ = 0;
  std::uint16_t site_port_ = 0;
  std::uint16_t pulldp_port_ = 0;
  int starts_ = 0;
  PullDpStandIn pulldp_;
  std::unique_ptr<Process> site_;
  std::unique_ptr<Process> dp_;
};

const std::map<std::string, std::string> kFiles = {{"setup.exe", std::string(100000, 'x')},
                                                   {"readme.txt", "hello pull\n"}};

// The source does not hold the content: waiting_source, rechecked every 500 ms; once the content
// is distributed to the source, the pull DP is notified (with the manifest, the source's URL and
// the site's status URL) within a recheck interval; its status messages move the pair to pulling
// and installed, and a duplicate or late message changes nothing.
TEST_F(PullDpE2eTest, WaitsForTheSourceThenNotifiesAndFollowsStatus) {
  writeConfigs(R"({ "pull_source_recheck": "500ms", "pull_status_timeout": "1h" })");
  startDp();
  startSite();
  addPackage("PS100001", kFiles);
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "pdp01"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "waiting_source"));
  EXPECT_NE(pair("PS100001", "pdp01")["last_error"].get<std::string>().find(
                "no source has the content yet; next check at"),
            std::string::npos);
  EXPECT_TRUE(waitFor([&] { return xferLog().find("(2/30)") != std::string::npos; }, 10s))
      << xferLog();
  EXPECT_NE(distLog().find("is a PullDP; no preliminary check"), std::string::npos);
  EXPECT_EQ(pulldp_.posts.load(), 0);

  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp03"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "dp03", "installed"));
  const auto installed_on_source = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "notified"));
  EXPECT_LT(std::chrono::steady_clock::now() - installed_on_source, 5s);
  EXPECT_NE(xferLog().find("PullDP notification sent to pdp01"), std::string::npos);
  auto n = pulldp_.last();
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->dp, "pdp01");
  EXPECT_FALSE(n->redistribute);
  EXPECT_EQ(n->manifest.package_id, "PS100001");
  EXPECT_EQ(n->manifest.files.size(), 2u);
  EXPECT_EQ(n->sources, std::vector<std::string>{"http://127.0.0.1:" + std::to_string(dp_port_)});
  EXPECT_EQ(n->status_url, "http://127.0.0.1:" + std::to_string(site_port_));

  auto downloading = statusOf(*n, pull::PullState::Downloading, 2);
  downloading.bytes_done = 5000;
  downloading.files_done = 1;
  EXPECT_EQ(postStatus(downloading), 200);
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "pulling"));
  EXPECT_EQ(pair("PS100001", "pdp01")["bytes_done"], 5000);
  EXPECT_EQ(postStatus(statusOf(*n, pull::PullState::Installed, 3)), 200);
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "installed"));
  EXPECT_NE(distLog().find("is installed on pull DP pdp01"), std::string::npos);
  // Late (sequence 1 < 3) and duplicate messages are recorded harmlessly and change nothing.
  EXPECT_EQ(postStatus(statusOf(*n, pull::PullState::Queued, 1)), 200);
  EXPECT_EQ(postStatus(statusOf(*n, pull::PullState::Installed, 3)), 200);
  EXPECT_TRUE(waitFor([&] { return distLog().find("Ignored status") != std::string::npos; }, 10s));
  EXPECT_NE(receiverLog().find("already recorded"), std::string::npos);
  EXPECT_EQ(pair("PS100001", "pdp01")["state"], "installed");
}

// The statusreceiver's answers on a real socket: 401 without the token, 400 for a malformed
// message, 404 for an unknown job or a job of another DP.
TEST_F(PullDpE2eTest, StatusReceiverRefusesWhatItCannotRecord) {
  writeConfigs(R"({ "pull_source_recheck": "1h" })");
  startDp();
  startSite();
  addPackage("PS100001", kFiles);
  pull::Notification fake;
  fake.job_id = 777;
  fake.dp = "pdp01";
  fake.manifest.package_id = "PS100001";
  fake.manifest.version = 1;
  EXPECT_EQ(postStatus(statusOf(fake, pull::PullState::Installed, 1), "wrong-token"), 401);
  EXPECT_EQ(postStatus(statusOf(fake, pull::PullState::Installed, 1)), 404);
  http::ClientOptions o;
  o.bearer_token = kToken;
  auto client = makeClient(site_port_, o);
  auto r = client->sendJson(within(10s), "POST", "/v1/status", nlohmann::json{{"job_id", "x"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  // A real job of pdp01, reported by another DP.
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "pdp01"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "waiting_source"));
  auto jobs = nlohmann::json::parse(pkgxfer({"status", "--json"}).out);
  pull::Notification other = fake;
  other.job_id = 1;
  other.dp = "dp03";
  EXPECT_EQ(postStatus(statusOf(other, pull::PullState::Installed, 1)), 404);
  EXPECT_EQ(pair("PS100001", "pdp01")["state"], "waiting_source");
}

// No status arrives (the pull DP's reports are lost): after pull_status_timeout the site asks the
// pull DP, which says the job is in progress, then installed; the pair ends installed.
TEST_F(PullDpE2eTest, StatusLostTheSiteAsksThePullDp) {
  writeConfigs(R"({ "pull_source_recheck": "500ms", "pull_status_timeout": "1s" })");
  startDp();
  startSite();
  addPackage("PS100001", kFiles);
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp03"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "dp03", "installed"));
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "pdp01"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "notified"));
  auto n = pulldp_.last();
  ASSERT_TRUE(n.has_value());
  {
    std::lock_guard lock(pulldp_.mu);
    pulldp_.jobs[n->job_id] = statusOf(*n, pull::PullState::Downloading, 4);
  }
  ASSERT_TRUE(
      waitFor([&] { return xferLog().find("Status timeout of job") != std::string::npos; }, 20s))
      << xferLog();
  EXPECT_NE(xferLog().find("it reports downloading"), std::string::npos);
  EXPECT_EQ(pair("PS100001", "pdp01")["state"], "notified");
  {
    std::lock_guard lock(pulldp_.mu);
    pulldp_.jobs[n->job_id] = statusOf(*n, pull::PullState::Installed, 9);
  }
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "installed"));
  EXPECT_NE(xferLog().find("reports job " + std::to_string(n->job_id) + " installed"),
            std::string::npos);
}

// kill -9 of the site while a job is notified: after the restart its status check is rebuilt
// from the database, runs, and completes the distribution.
TEST_F(PullDpE2eTest, ChecksAreRebuiltAfterTheSiteIsKilled) {
  writeConfigs(R"({ "pull_source_recheck": "500ms", "pull_status_timeout": "2s" })");
  startDp();
  startSite();
  addPackage("PS100001", kFiles);
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp03"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "dp03", "installed"));
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "pdp01"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "notified"));
  site_->signal(SIGKILL);
  site_->wait(10s);
  site_.reset();
  auto n = pulldp_.last();
  ASSERT_TRUE(n.has_value());
  {
    std::lock_guard lock(pulldp_.mu);
    pulldp_.jobs[n->job_id] = statusOf(*n, pull::PullState::Installed, 5);
  }
  const int posts = pulldp_.posts.load();
  startSite();
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "installed"));
  EXPECT_NE(xferLog().find("Resuming the pull of a previous run: phase status_wait"),
            std::string::npos)
      << xferLog();
  EXPECT_EQ(pulldp_.posts.load(), posts);  // not notified again: the check found it installed
  EXPECT_GE(pulldp_.gets.load(), 1);
}

// The pull DP refuses the first notifications (503): they are retried with backoff, logged as
// ConfigMgr does, until one is accepted.
TEST_F(PullDpE2eTest, FailedNotificationsAreRetriedWithBackoff) {
  writeConfigs(R"({ "pull_source_recheck": "2s", "pull_status_timeout": "1h" })");
  pulldp_.notify_failures_left = 3;
  startDp();
  startSite();
  addPackage("PS100001", kFiles);
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp03"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "dp03", "installed"));
  ASSERT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "pdp01"}).exit_code, 0);
  ASSERT_TRUE(waitForState("PS100001", "pdp01", "notified"));
  EXPECT_EQ(pulldp_.posts.load(), 4);
  const std::string log = xferLog();
  EXPECT_NE(log.find("PullDP notification failed: "), std::string::npos) << log;
  EXPECT_NE(log.find("Failure count = 1/30, Restart time = "), std::string::npos);
  EXPECT_NE(log.find("Failure count = 3/30, Restart time = "), std::string::npos);
  EXPECT_NE(log.find("busy (test)"), std::string::npos);
  EXPECT_NE(log.find("PullDP notification sent to pdp01"), std::string::npos);
}

}  // namespace
}  // namespace pkgxfer
