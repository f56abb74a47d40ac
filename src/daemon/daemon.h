#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "pkgxfer/config/config.h"
#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/host/component.h"
#include "pkgxfer/platform/service.h"

namespace pkgxfer::daemon {

// Exit codes of pkgxferd (docs/operations.md).
inline constexpr int kExitOk = 0;           // stopped cleanly
inline constexpr int kExitStartFailed = 1;  // a component or the site database failed to start
inline constexpr int kExitBadConfig = 2;    // bad usage or config; nothing was started
inline constexpr int kExitStopOverdue = 3;  // stopped, but a component missed the grace deadline

// Builds the component `name` for this process; NotFound if this build does not host it.
using ComponentFactory =
    std::function<Result<host::ComponentPtr>(std::string_view name, host::ComponentContext ctx)>;

struct DaemonOptions {
  bool log_to_stderr = true;  // foreground: a readable copy of every log line on stderr
  std::chrono::milliseconds start_timeout = std::chrono::seconds(60);
  // Below the 30 s the Windows SCM allows a stopping service.
  std::chrono::milliseconds stop_grace = std::chrono::seconds(25);
};

// The lock file in each folder a service owns (site.data_dir, dp.content_library), holding the
// pid of the service that holds it.
inline constexpr std::string_view kInstanceLockFile = "pkgxferd.lock";

// Takes the lock of every folder this config makes the process own (the site's data_dir if it
// hosts a site component, the dp content library if it hosts dp or pulldp), making the folders
// if missing. Held until the returned files are destroyed. Unavailable "another pkgxferd (pid N)
// is running on <dir>" if another process holds one; the file system's error otherwise.
Result<std::vector<std::unique_ptr<fs::File>>> lockOwnedFolders(const config::Config& config,
                                                                fs::FileSystem& fs);

// The service body: logs, runtime, site database, components; runs until a stop request.
int runDaemon(const config::Config& config, const DaemonOptions& options,
              const ComponentFactory& factory, platform::ServiceControl& control);

}  // namespace pkgxfer::daemon
