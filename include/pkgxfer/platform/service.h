#pragma once

// The operating system's side of running pkgxferd: POSIX signals or the Windows Service Control
// Manager. The rest of the code sees only this interface; #ifdef _WIN32 lives in this module.

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pkgxfer/common/status.h"

namespace pkgxfer::platform {

// Keeps a stop-request subscription alive; destroying it (before the io_context) unsubscribes.
class StopRegistration {
 public:
  virtual ~StopRegistration() = default;
};

// Given to the service body. Methods are called from the body's thread.
class ServiceControl {
 public:
  virtual ~ServiceControl() = default;
  // Arranges for `on_stop(reason)` to run on `io` when the OS asks the process to stop (SIGINT,
  // SIGTERM; the SCM's STOP or SHUTDOWN control). The OS handler itself only posts.
  [[nodiscard]] virtual std::unique_ptr<StopRegistration> onStopRequest(
      boost::asio::io_context& io, std::function<void(std::string reason)> on_stop) = 0;
  // The body has started its components (Windows: SERVICE_RUNNING).
  virtual void reportRunning() = 0;
  // The body is stopping (Windows: SERVICE_STOP_PENDING with a wait hint).
  virtual void reportStopping(std::chrono::milliseconds wait_hint) = 0;
  // True when running under a service manager rather than in a console.
  virtual bool isService() const = 0;
};

using ServiceBody = std::function<int(ServiceControl&)>;

// POSIX: blocks SIGINT and SIGTERM on the calling thread (and so on every thread it starts), so a
// stop asked for while the process is still starting waits for the handler runService() installs
// instead of killing the process. Call it first thing in main(), before any thread exists.
// Windows: nothing (the SCM's stop control comes through the handler).
void deferStopSignals();

// Runs `body` and returns its exit code. On Windows, when the SCM started the process, runs it as
// the service `service_name` (ServiceMain, control handler); otherwise, and on POSIX, runs it in
// the console with signal handling.
int runService(const std::string& service_name, const ServiceBody& body);

// Windows: registers the service with the SCM to run `exe` with `args` (auto start, restart on
// failure). POSIX: InvalidArgument saying to use the systemd unit in config/.
Status installService(const std::string& service_name, const std::filesystem::path& exe,
                      const std::vector<std::string>& args);
Status uninstallService(const std::string& service_name);

}  // namespace pkgxfer::platform
