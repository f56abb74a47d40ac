#include "daemon.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>

#include "pkgxfer/common/units.h"
#include "pkgxfer/dp/dp_service.h"
#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/host/component_catalog.h"
#include "pkgxfer/host/component_host.h"
#include "pkgxfer/host/runtime.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/distribution_point_repository.h"

namespace pkgxfer::daemon {
namespace {

spdlog::level::level_enum toSpdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Debug:
      return spdlog::level::debug;
    case config::LogLevel::Info:
      return spdlog::level::info;
    case config::LogLevel::Warning:
      return spdlog::level::warn;
    case config::LogLevel::Error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool hostsSiteComponent(const config::Config& config);

host::RuntimeOptions runtimeOptions(const config::Config& config, const Logger& log) {
  host::RuntimeOptions options;
  options.io_threads = 2;
  options.log = log;
  // A few for hashing, the database and clean-ups; then every sending thread of the transfer
  // manager (packages x DPs per package), which may block on file or SMB I/O at once
  // (config::kMaxSendingThreads bounds the product); then the DP's request handlers, which block
  // on its disk: their own share, so neither side can take the other's threads.
  options.blocking_threads = 4;
  if (hostsSiteComponent(config)) {
    const auto& d = config.distribution;
    options.blocking_threads += d.max_concurrent_packages * d.max_threads_per_package;
  }
  if (config.hosts("dp")) options.blocking_threads += static_cast<int>(dp::kMaxConcurrentRequests);
  return options;
}

bool hostsSiteComponent(const config::Config& config) {
  for (const auto& name : config.components) {
    const host::ComponentInfo* info = host::findComponentInfo(name);
    if (info && info->site_server) return true;
  }
  return false;
}

// Opens the site database once at start: creates or migrates the schema, checks its integrity and
// records the configured DPs. Components open their own connections on their strands.
Status prepareSiteDatabase(const config::Config& config, Clock& clock, const Logger& log) {
  auto file = store::siteDatabasePath(config.site->data_dir);
  PKGXFER_ASSIGN_OR_RETURN(auto db, store::Database::open(file, clock));
  PKGXFER_ASSIGN_OR_RETURN(int version, db->schemaVersion());
  PX_LOG_INFO(log, "Site database {} opened (schema version {}, integrity check ok)", file.string(),
              version);
  store::DistributionPointRepository dps(*db);
  PKGXFER_ASSIGN_OR_RETURN(auto sync, dps.syncFromConfig(config.distribution_points));
  PX_LOG_INFO(log,
              "Distribution points: {} configured; added: [{}], changed: [{}], restored: [{}], "
              "no longer configured: [{}]",
              config.distribution_points.size(), joined(sync.added), joined(sync.changed),
              joined(sync.restored), joined(sync.removed));
  return Status::Ok();
}

// The folders one pkgxferd owns: the site's data_dir when it hosts a site component, the DP's
// content library when it hosts dp (or pulldp, which shares it). A second service on either would
// requeue the first one's running jobs and sweep its temporary files.
std::vector<std::filesystem::path> ownedFolders(const config::Config& config) {
  std::vector<std::filesystem::path> out;
  if (config.site && hostsSiteComponent(config)) out.push_back(config.site->data_dir);
  if (config.dp && (config.hosts("dp") || config.hosts("pulldp"))) {
    out.push_back(config.dp->content_library);
  }
  return out;
}

}  // namespace

Result<std::vector<std::unique_ptr<fs::File>>> lockOwnedFolders(const config::Config& config,
                                                                fs::FileSystem& fs) {
  std::vector<std::unique_ptr<fs::File>> held;
  const std::string pid = std::to_string(static_cast<long>(::getpid())) + "\n";
  for (const std::filesystem::path& dir : ownedFolders(config)) {
    PKGXFER_RETURN_IF_ERROR(fs::makeDirectories(fs, dir));
    PKGXFER_ASSIGN_OR_RETURN(fs::LockFileAttempt lock,
                             fs::tryLockFile(fs, dir / kInstanceLockFile, pid));
    if (!lock.file) {
      return Status::Unavailable("another pkgxferd (pid " +
                                 (lock.holder.empty() ? std::string("unknown") : lock.holder) +
                                 ") is running on " + fs.display(dir));
    }
    held.push_back(std::move(lock.file));
  }
  return held;
}

int runDaemon(const config::Config& config, const DaemonOptions& options,
              const ComponentFactory& factory, platform::ServiceControl& control) {
  LogOptions log_options;
  log_options.dir = config.logging.dir;
  log_options.level = toSpdlog(config.logging.level);
  log_options.max_size = config.logging.max_size;
  log_options.history = config.logging.history;
  log_options.stderr_copy = options.log_to_stderr && !control.isService();
  // Before anything else touches the site or the DP library (not even a log line): a second
  // service must leave the first one undisturbed.
  auto instance = lockOwnedFolders(config, fs::FileSystem::local());
  if (!instance.ok()) {
    std::fprintf(stderr, "pkgxferd: %s\n", instance.error().message().c_str());
    return kExitStartFailed;
  }
  LogManager logs(log_options);

  auto host_log = logs.open({std::string(host::kHostLog.log_stem),
                             std::string(host::kHostLog.log_component), host::kHostLog.log_format});
  if (!host_log.ok()) {
    std::fprintf(stderr, "pkgxferd: cannot open the log: %s\n",
                 host_log.error().toString().c_str());
    return kExitStartFailed;
  }
  Logger log = *host_log;
  PX_LOG_INFO(log, "pkgxferd {} starting, pid {}, config {}, components: {}", PKGXFER_VERSION,
              static_cast<long>(::getpid()), config.file.string(), joined(config.components));
  for (const auto& warning : config.warnings) PX_LOG_WARN(log, "Config: {}", warning);

  if (hostsSiteComponent(config)) {
    Status site = prepareSiteDatabase(config, SystemClock::instance(), log);
    if (!site.ok()) {
      PX_LOG_ERROR(log, "Cannot open the site database: {}", site.toString());
      if (!log_options.stderr_copy) {
        std::fprintf(stderr, "pkgxferd: cannot open the site database: %s\n",
                     site.toString().c_str());
      }
      return kExitStartFailed;
    }
  }

  host::Runtime runtime(runtimeOptions(config, log));
  host::ComponentHost components(log);
  std::vector<std::string> not_hosted;
  for (const auto& name : config.components) {
    const host::ComponentInfo* info = host::findComponentInfo(name);
    if (info == nullptr) {  // the config loader already rejects unknown names
      PX_LOG_ERROR(log, "Unknown component {}", name);
      return kExitBadConfig;
    }
    auto component_log = logs.open(
        {std::string(info->log_stem), std::string(info->log_component), info->log_format});
    if (!component_log.ok()) {
      PX_LOG_ERROR(log, "Cannot open the log of {}: {}", name, component_log.error().toString());
      return kExitStartFailed;
    }
    host::Strand strand = runtime.makeStrand();
    auto component = factory(name, host::ComponentContext{strand, runtime.io(), runtime.blocking(),
                                                          SystemClock::instance(), *component_log,
                                                          config, runtime.signals()});
    if (!component.ok()) {
      if (component.error().code() == Status::Code::NotFound) {
        PX_LOG_WARN(log, "Component {}; not started", component.error().message());
        not_hosted.push_back(name);
        continue;
      }
      PX_LOG_ERROR(log, "Cannot create component {}: {}", name, component.error().toString());
      return kExitStartFailed;
    }
    components.add(std::move(*component), strand);
  }

  // Subscribe before starting anything, so a stop that arrives during start-up is not lost.
  auto stop_requested = std::make_shared<std::promise<std::string>>();
  auto stop_once = std::make_shared<std::once_flag>();
  auto stop_future = stop_requested->get_future();
  runtime.start();
  auto registration =
      control.onStopRequest(runtime.io(), [stop_requested, stop_once](std::string reason) {
        std::call_once(*stop_once, [&] { stop_requested->set_value(std::move(reason)); });
      });

  Status started = components.startAll(options.start_timeout, options.stop_grace);
  if (!started.ok()) {
    PX_LOG_ERROR(log, "pkgxferd failed to start: {}", started.toString());
    registration.reset();
    runtime.stop();
    return kExitStartFailed;
  }
  control.reportRunning();
  PX_LOG_INFO(log, "pkgxferd running with {} component(s){}", components.startedCount(),
              not_hosted.empty() ? "" : " (not in this build: " + joined(not_hosted) + ")");

  std::string reason = stop_future.get();
  PX_LOG_INFO(log, "Stop requested ({}); stopping components (grace {})", reason,
              formatDuration(options.stop_grace));
  control.reportStopping(options.stop_grace);
  host::ComponentHost::StopReport report = components.stopAll(options.stop_grace);
  registration.reset();
  if (!report.clean) {
    PX_LOG_ERROR(log, "Grace deadline passed; exiting without waiting for: {}",
                 joined(report.overdue));
    logs.flushAll();
    // Their work may still hold io or pool threads, so joining could hang: leave now.
    std::_Exit(kExitStopOverdue);
  }
  runtime.stop();
  PX_LOG_INFO(log, "pkgxferd stopped cleanly (every component stopped within the grace period)");
  logs.flushAll();
  return kExitOk;
}

}  // namespace pkgxfer::daemon
