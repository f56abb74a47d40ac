#pragma once

// An in-process site server for the distribution tests: a real site database and content library
// in a temp folder, DPs as folders, and distmgr + pkgxfermgr hosted on a real Runtime, as pkgxferd
// hosts them. Requests are enqueued the way the CLI does (RequestRepository).

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/test_util.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/content/manifest.h"
#include "pkgxfer/distmgr/distmgr.h"
#include "pkgxfer/host/component_host.h"
#include "pkgxfer/host/runtime.h"
#include "pkgxfer/pkgxfermgr/pkgxfermgr.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/distribution_point_repository.h"
#include "pkgxfer/store/distribution_repository.h"
#include "pkgxfer/store/package_repository.h"
#include "pkgxfer/store/request_repository.h"
#include "pkgxfer/store/transfer_job_repository.h"

namespace pkgxfer::testing {

class SiteFixture : public ::testing::Test {
 protected:
  using Files = std::map<std::string, std::string>;

  void SetUp() override {
    config_.site = config::SiteConfig{};
    config_.site->code = "PS1";
    config_.site->data_dir = dir_ / "site";
    config_.logging.dir = dir_ / "log";
    config_.components = {"distmgr", "pkgxfermgr"};
    config_.distribution.retry_delay = std::chrono::milliseconds(200);
    config_.distribution.retry_count = 3;
  }

  void TearDown() override { stopSite(); }

  std::filesystem::path dpRoot(const std::string& name) const { return dir_ / "dps" / name; }

  // Adds standard file DPs dp01..dpNN (folders created unless `create` is false).
  void addDps(int count, bool create = true) {
    for (int i = 1; i <= count; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "dp%02d", i);
      config::DistributionPointConfig dp;
      dp.name = name;
      dp.location = config::FileAddress{dpRoot(name)};
      dp.address = "file://" + dpRoot(name).string();
      config_.distribution_points.push_back(dp);
      if (create) std::filesystem::create_directories(dpRoot(name));
    }
  }

  store::Database& db() {
    if (!db_) {
      auto db = store::Database::open(store::siteDatabasePath(config_.site->data_dir),
                                      SystemClock::instance());
      EXPECT_TRUE(db.ok()) << db.status().toString();
      db_ = std::move(*db);
      auto sync =
          store::DistributionPointRepository(*db_).syncFromConfig(config_.distribution_points);
      EXPECT_TRUE(sync.ok()) << sync.status().toString();
    }
    return *db_;
  }

  content::ContentLibrary& siteLibrary() {
    if (!site_) {
      content::ContentLibrary::Options options;
      options.sync = false;
      site_ =
          std::move(*content::ContentLibrary::open(config_.site->data_dir / "ContentLib", options));
    }
    return *site_;
  }

  // Creates (or, if it exists, adds a version to) a package with these files; returns the
  // manifest of the new version.
  content::Manifest addPackage(const std::string& id, const Files& files,
                               store::Priority priority = store::Priority::Medium) {
    const std::filesystem::path source = dir_ / "src" / id;
    std::filesystem::remove_all(source);
    for (const auto& [path, data] : files) writeFile(source / path, data);
    boost::asio::thread_pool pool(2);
    auto manifest = content::buildManifest(source, nullptr, pool);
    EXPECT_TRUE(manifest.ok()) << manifest.status().toString();
    store::PackageRepository packages(db());
    auto existing = packages.get(id);
    manifest->package_id = id;
    manifest->name = "package " + id;
    manifest->version = existing.ok() ? existing->current_version + 1 : 1;
    auto added = siteLibrary().addContentFromSource(*manifest, source);
    EXPECT_TRUE(added.ok()) << added.status().toString();
    store::PackageContent content;
    content.manifest_sha256 = *content::sha256Hex(content::toJson(*manifest));
    content.dirs = manifest->dirs;
    for (const auto& f : manifest->files) {
      store::PackageFile file;
      file.path = f.path;
      file.size = f.size;
      file.sha256 = f.sha256;
      file.mtime = store::Timestamp(std::chrono::duration_cast<store::Timestamp::duration>(
          std::chrono::nanoseconds(f.mtime)));
      file.attributes = f.attributes;
      content.files.push_back(file);
    }
    if (existing.ok()) {
      auto v = packages.addVersion(id, content);
      EXPECT_TRUE(v.ok()) << v.status().toString();
    } else {
      Status s = packages.add({id, "package " + id, source.string(), priority}, content);
      EXPECT_TRUE(s.ok()) << s.toString();
    }
    return *manifest;
  }

  // The factories make the DPs' transports of pkgxfermgr's jobs and of distmgr's checks (default:
  // real file transports).
  void startSite(transport::TransportFactory pkgxfer_transports = nullptr,
                 transport::TransportFactory distmgr_transports = nullptr) {
    db();  // creates the schema and the DP rows, as pkgxferd does at start
    LogOptions log_options;
    log_options.dir = config_.logging.dir;
    log_options.level = spdlog::level::debug;
    logs_ = std::make_unique<LogManager>(log_options);
    host_log_ = *logs_->open({"pkgxferd", "SMS_EXECUTIVE", LogFormat::Trace});
    runtime_ = std::make_unique<host::Runtime>(
        host::RuntimeOptions{2,
                             config_.distribution.max_concurrent_packages *
                                     config_.distribution.max_threads_per_package +
                                 4,
                             host_log_});
    host_ = std::make_unique<host::ComponentHost>(host_log_);
    {
      host::Strand strand = runtime_->makeStrand();
      auto log = *logs_->open({"distmgr", "SMS_DISTRIBUTION_MANAGER", LogFormat::Trace});
      distmgr::Options options;
      options.poll_interval = poll_interval_;
      options.wake_interval = wake_interval_;
      options.transport_factory = std::move(distmgr_transports);
      auto c = distmgr::makeDistributionManager({strand, runtime_->io(), runtime_->blocking(),
                                                 *clock_, log, config_, runtime_->signals()},
                                                options);
      ASSERT_TRUE(c.ok()) << c.status().toString();
      host_->add(std::move(*c), strand);
    }
    {
      host::Strand strand = runtime_->makeStrand();
      auto log = *logs_->open({"pkgxfermgr", "SMS_PACKAGE_TRANSFER_MANAGER", LogFormat::Trace});
      pkgxfermgr::Options options;
      options.poll_interval = transfer_poll_interval_.value_or(poll_interval_);
      options.wake_interval = transfer_wake_interval_.value_or(wake_interval_);
      options.sync = false;
      options.checkpoint_bytes = checkpoint_bytes_;
      options.checkpoint_interval = checkpoint_interval_;
      options.streams_per_job = streams_per_job_;
      options.transport_factory = std::move(pkgxfer_transports);
      auto c = pkgxfermgr::makePackageTransferManager({strand, runtime_->io(), runtime_->blocking(),
                                                       *clock_, log, config_, runtime_->signals()},
                                                      options);
      ASSERT_TRUE(c.ok()) << c.status().toString();
      host_->add(std::move(*c), strand);
    }
    runtime_->start();
    Status s = host_->startAll(std::chrono::seconds(10), std::chrono::seconds(10));
    ASSERT_TRUE(s.ok()) << s.toString();
  }

  void stopSite() {
    if (!host_) return;
    auto report = host_->stopAll(std::chrono::seconds(10));
    EXPECT_TRUE(report.clean);
    runtime_->stop();
    host_.reset();
    runtime_.reset();
  }

  void request(store::RequestKind kind, const std::string& pkg,
               const std::vector<std::string>& dps) {
    auto ids = store::RequestRepository(db()).enqueue(kind, pkg, dps);
    ASSERT_TRUE(ids.ok()) << ids.status().toString();
  }

  std::vector<std::string> dpNames() const {
    std::vector<std::string> out;
    for (const auto& dp : config_.distribution_points) out.push_back(dp.name);
    return out;
  }

  store::DistributionRow dist(const std::string& pkg, const std::string& dp) {
    auto row = store::DistributionRepository(db()).get(pkg, dp);
    return row.ok() ? *row : store::DistributionRow{};
  }

  // Waits until every listed pair is in `state` (and fails the test with the states seen if not).
  bool waitForState(const std::string& pkg, const std::vector<std::string>& dps,
                    store::DistributionState state,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    bool ok = waitFor(
        [&] {
          for (const auto& dp : dps) {
            auto row = store::DistributionRepository(db()).get(pkg, dp);
            if (!row.ok() || row->state != state) return false;
          }
          return true;
        },
        timeout);
    if (!ok) {
      for (const auto& dp : dps) {
        auto row = dist(pkg, dp);
        ADD_FAILURE() << pkg << " on " << dp << ": " << store::toString(row.state) << " "
                      << row.last_error << " (wanted " << store::toString(state) << ")";
      }
    }
    return ok;
  }

  std::vector<store::TransferJob> jobs(const store::TransferJobFilter& filter = {}) {
    auto list = store::TransferJobRepository(db()).list(filter);
    return list.ok() ? *list : std::vector<store::TransferJob>{};
  }

  // Every body of `m` present and correct on the DP, its manifest there, no temporary file.
  void expectInstalled(const std::string& dp, const content::Manifest& m) {
    EXPECT_EQ(tempFiles(dp), std::vector<std::string>{}) << dp;
    content::ContentLibrary::Options look_only;  // a sweep would hide leftovers
    look_only.sweep_on_open = false;
    look_only.create_root = false;
    auto lib = content::ContentLibrary::open(dpRoot(dp), look_only);
    ASSERT_TRUE(lib.ok());
    EXPECT_TRUE((*lib)->hasContent(m.package_id, m.version)) << dp;
    auto report = (*lib)->validate(m.package_id, m.version);
    ASSERT_TRUE(report.ok()) << report.status().toString();
    EXPECT_TRUE(report->ok()) << dp << ": " << report->describe();
    EXPECT_EQ(tempFiles(dp), std::vector<std::string>{}) << dp;
  }

  std::vector<std::string> tempFiles(const std::string& dp) {
    std::vector<std::string> out;
    if (!std::filesystem::exists(dpRoot(dp))) return out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dpRoot(dp))) {
      std::string name = e.path().filename().string();
      if (!name.empty() && name.front() == '.') out.push_back(e.path().string());
    }
    return out;
  }

  std::string log(const std::string& stem) { return readFile(dir_ / "log" / (stem + ".log")); }

  TempDir dir_;
  config::Config config_;
  std::uint64_t checkpoint_bytes_ = 8ull << 20;
  std::chrono::milliseconds checkpoint_interval_{1000};
  std::size_t streams_per_job_ = 8;
  // Both components' full polls and wake-ups (a test may change them before startSite()).
  std::chrono::milliseconds poll_interval_{50};
  std::chrono::milliseconds wake_interval_{50};
  // pkgxfermgr's own, when a test sets them (default: the two above).
  std::optional<std::chrono::milliseconds> transfer_poll_interval_;
  std::optional<std::chrono::milliseconds> transfer_wake_interval_;
  // The components' clock; a test may point it at a FakeClock before startSite().
  Clock* clock_ = &SystemClock::instance();
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<content::ContentLibrary> site_;
  std::unique_ptr<LogManager> logs_;
  Logger host_log_;
  std::unique_ptr<host::Runtime> runtime_;
  std::unique_ptr<host::ComponentHost> host_;
};

}  // namespace pkgxfer::testing
