#pragma once

// The pull DP on real sockets: the pulldp component (with its DpHost: the DP's library and server
// on 127.0.0.1:0) hosted on a real Runtime with a FakeClock, real source DPs (DpService over temp
// libraries) or scripted ones (an http::Server serving bodies from memory: cut, corrupt or stalled
// on demand), and a stand-in for the site's status receiver that records POST /v1/status.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fakes/fake_clock.h"
#include "fakes/test_util.h"
#include "http/http_test_util.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/dp/dp_service.h"
#include "pkgxfer/host/component.h"
#include "pkgxfer/host/runtime.h"
#include "pkgxfer/http/range.h"
#include "pkgxfer/pulldp/pull_dp.h"
#include "pkgxfer/transport/pull_protocol.h"
#include "pulldp/test_servers.h"

namespace pkgxfer::pulldp::testing {

class PullDpTest : public http::testing::HttpTest {
 protected:
  PullDpTest() {
    pkgxfer::testing::writeFile(dir_ / "site.token", std::string(kToken) + "\n");
    // dp.listen takes no port 0: a port the OS just handed out and took back, kept across
    // restarts of the pull DP (it comes back where the site knows it).
    config_.dp =
        config::DpConfig{"pdp01", dir_ / "pdp01", "127.0.0.1:" + std::to_string(freePort()),
                         dir_ / "site.token", std::nullopt};
    config_.pulldp = config::PullDpConfig{};
    config_.components = {"dp", "pulldp"};
    options_.poll_interval = std::chrono::milliseconds(5);
    options_.connect_timeout = std::chrono::seconds(5);
    options_.io_timeout = std::chrono::seconds(5);
    options_.status_timeout = std::chrono::seconds(5);
    options_.job_retry_initial = std::chrono::seconds(30);
    LogOptions log_options;
    log_options.dir = dir_ / "logs";
    log_options.level = spdlog::level::debug;
    logs_ = std::make_unique<LogManager>(log_options);
    pull_log_ = *logs_->open({"pulldp", "PullDP", LogFormat::CmTrace});
  }
  ~PullDpTest() override {
    // PULLDP_TEST_PRINT_LOG=1 prints each test's pulldp.log, to read what an administrator would.
    if (std::getenv("PULLDP_TEST_PRINT_LOG")) std::fprintf(stderr, "%s", pullLog().c_str());
    for (auto& s : scripted_) s->release();
    stopPullDp();
    for (auto& s : sources_) stopSource(*s);
    // Before the scripted sources, the site and the handler pools they use go.
    for (http::Server* s : my_servers_) stopServer(*s);
  }

  // ---- the site ----
  void startSite(std::uint16_t port = 0) {
    http::ServerOptions o = serverOptions();
    o.bearer_token = kToken;
    o.port = port;
    site_server_ = &startServer(o, [&](http::Server& s) { site_.addRoutes(s); });
    my_servers_.push_back(site_server_);
    config_.pulldp->site_status_url = "http://127.0.0.1:" + std::to_string(site_server_->port());
  }

  // ---- sources ----
  struct RealSource {
    std::filesystem::path root;
    std::unique_ptr<content::ContentLibrary> library;
    std::unique_ptr<dp::DpService> service;
    std::string url;
  };
  RealSource& startSource(const std::string& name) {
    auto src = std::make_unique<RealSource>();
    src->root = dir_ / name;
    auto lib = content::ContentLibrary::open(src->root);
    EXPECT_TRUE(lib.ok()) << lib.status().toString();
    src->library = std::move(*lib);
    dp::DpServiceOptions o;
    o.name = name;
    o.server = serverOptions();
    o.server.bearer_token = kToken;
    src->service =
        std::make_unique<dp::DpService>(io_, *src->library, system_clock_, std::move(o), logger_);
    Status s = src->service->start();
    EXPECT_TRUE(s.ok()) << s.toString();
    src->url = "http://127.0.0.1:" + std::to_string(src->service->port());
    sources_.push_back(std::move(src));
    return *sources_.back();
  }
  void stopSource(RealSource& src) {
    if (!src.service) return;
    std::promise<void> done;
    src.service->stop([&] { done.set_value(); });
    done.get_future().wait_for(std::chrono::seconds(20));
    src.service.reset();
  }
  static void putBody(content::ContentLibrary& library, const std::string& body) {
    std::size_t at = 0;
    Status s = library.writeBody(http::testing::sha256Hex(body), body.size(),
                                 [&](char* buf, std::size_t cap) -> Result<std::size_t> {
                                   std::size_t n = std::min(cap, body.size() - at);
                                   std::memcpy(buf, body.data() + at, n);
                                   at += n;
                                   return n;
                                 });
    ASSERT_TRUE(s.ok()) << s.toString();
  }
  // A scripted source on its own server, with `handlers` handler threads; its URL in `url`.
  ScriptedSource& startScripted(std::string* url, int handlers = 6) {
    scripted_.push_back(std::make_unique<ScriptedSource>());
    ScriptedSource& source = *scripted_.back();
    http::ServerOptions o = serverOptions();
    if (handlers > 6) {
      big_pools_.push_back(std::make_unique<boost::asio::thread_pool>(handlers));
      o.handler_executor = big_pools_.back()->get_executor();
    }
    o.max_concurrent_handlers = handlers;
    http::Server& s = startServer(o, [&](http::Server& server) { source.addRoutes(server); });
    my_servers_.push_back(&s);
    *url = "http://127.0.0.1:" + std::to_string(s.port());
    return source;
  }

  // ---- the pull DP ----
  void startPullDp() {
    runtime_ = std::make_unique<host::Runtime>(host::RuntimeOptions{2, 20, nullptr});
    host::Strand strand = runtime_->makeStrand();
    strand_.emplace(strand);
    host::ComponentContext ctx{strand,    runtime_->io(), runtime_->blocking(), clock_,
                               pull_log_, config_,        runtime_->signals()};
    auto host = dp::DpHost::open(ctx);
    ASSERT_TRUE(host.ok()) << host.status().toString();
    host_ = *host;
    auto c = openPullDistributionPoint(ctx, host_, options_);
    ASSERT_TRUE(c.ok()) << c.status().toString();
    pulldp_ = std::move(*c);
    runtime_->start();
    std::promise<Status> started;
    boost::asio::post(*strand_, [&] { started.set_value(pulldp_->start()); });
    Status s = started.get_future().get();
    ASSERT_TRUE(s.ok()) << s.toString();
    client_ = makeClient(host_->service().port());
  }
  void stopPullDp() {
    if (!pulldp_) return;
    std::promise<void> done;
    boost::asio::post(*strand_, [&] { pulldp_->stop([&] { done.set_value(); }); });
    EXPECT_EQ(done.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
    client_.reset();
    runtime_->stop();
    pulldp_.reset();
    host_.reset();
    strand_.reset();  // its implementation belongs to the runtime's io_context: before it goes
    runtime_.reset();
  }
  content::ContentLibrary& pullLibrary() { return host_->library(); }

  // ---- the site's side of the protocol ----
  Notification notification(std::int64_t job_id, const std::vector<std::string>& bodies,
                            const std::vector<std::string>& sources, bool redistribute = false) {
    Notification n;
    n.job_id = job_id;
    n.dp = "pdp01";
    n.redistribute = redistribute;
    n.manifest.package_id = "PS100001";
    n.manifest.version = static_cast<std::uint64_t>(job_id);
    n.manifest.name = "package";
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      content::ManifestFile f;
      f.path = "dir/file" + std::to_string(100 + i) + ".bin";
      f.size = bodies[i].size();
      f.sha256 = http::testing::sha256Hex(bodies[i]);
      f.attributes = 0644;
      n.manifest.files.push_back(f);
      n.manifest.total_bytes += f.size;
    }
    n.manifest.dirs = {"dir"};
    n.sources = sources;
    return n;
  }
  Result<http::ClientResponse> notify(const Notification& n) {
    http::ClientRequest r;
    r.method = "POST";
    r.target = "/v1/pull-jobs";
    r.body = transport::pull::toJson(n);
    r.content_type = "application/json";
    r.headers.push_back({"Authorization", std::string("Bearer ") + kToken});
    return client_->request(within(std::chrono::seconds(10)), r);
  }
  void notifyOk(const Notification& n) {
    auto r = notify(n);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    ASSERT_EQ(r->status, 202) << r->body;
  }
  Result<http::ClientResponse> getJob(const std::string& id, bool token = true) {
    http::Headers h;
    if (token) h.push_back({"Authorization", std::string("Bearer ") + kToken});
    return client_->get(within(std::chrono::seconds(10)), "/v1/pull-jobs/" + id, h);
  }
  std::optional<JobStatus> jobStatus(std::int64_t id) {
    auto r = getJob(std::to_string(id));
    if (!r.ok() || r->status != 200) return std::nullopt;
    auto s = transport::pull::parseJobStatus(r->body);
    if (!s.ok()) return std::nullopt;
    return *s;
  }
  bool waitState(std::int64_t id, PullState state,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return pkgxfer::testing::waitFor(
        [&] {
          auto s = jobStatus(id);
          return s && s->state == state;
        },
        timeout);
  }

  std::string pullLog() { return pkgxfer::testing::readFile(dir_ / "logs" / "pulldp.log"); }
  bool logHas(const std::string& text) { return pullLog().find(text) != std::string::npos; }

  pkgxfer::testing::TempDir dir_;
  pkgxfer::testing::FakeClock clock_;
  SystemClock system_clock_;
  config::Config config_;
  Options options_;
  std::unique_ptr<LogManager> logs_;
  Logger pull_log_;
  SiteReceiver site_;
  http::Server* site_server_ = nullptr;
  std::vector<std::unique_ptr<RealSource>> sources_;
  std::vector<std::unique_ptr<boost::asio::thread_pool>> big_pools_;
  std::vector<std::unique_ptr<ScriptedSource>> scripted_;
  std::vector<http::Server*> my_servers_;
  std::unique_ptr<host::Runtime> runtime_;
  std::optional<host::Strand> strand_;
  std::shared_ptr<dp::DpHost> host_;
  std::unique_ptr<PullDistributionPoint> pulldp_;
  std::unique_ptr<http::Client> client_;
};

}  // namespace pkgxfer::pulldp::testing
