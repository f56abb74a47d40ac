#pragma once

// Component: a unit of pkgxferd hosted the way SMS_Executive hosts ConfigMgr's components
// (distmgr, pkgxfermgr, statusreceiver on a site server; dp, pulldp on a DP).

#include <functional>
#include <memory>
#include <string_view>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/host/runtime.h"

namespace pkgxfer::host {

// What the host gives each component. References stay valid until the component is destroyed.
struct ComponentContext {
  Strand strand;  // the component's state is touched only on this strand
  boost::asio::io_context& io;
  BlockingPool& blocking;  // for blocking file/SMB I/O; post, never block the strand
  Clock& clock;
  Logger logger;  // the component's own log file
  const config::Config& config;
  Signals& signals;  // wake-ups between the components of this process (Runtime::signals)
};

// A hosted component. The host calls start() and stop() on the component's strand, one at a time.
// Component code does not throw; runtime errors of one job never take the process down.
class Component {
 public:
  virtual ~Component() = default;
  virtual std::string_view name() const = 0;
  // Begins work (opens resources, arms timers). A non-OK Status means the component did not start:
  // the host stops the ones already started, in reverse order, and the process exits non-zero.
  virtual Status start() = 0;
  // Stops taking work, cancels timers, persists in-flight jobs as resumable, then calls `done`
  // exactly once, from any thread. The host waits up to its grace deadline for `done`.
  virtual void stop(std::function<void()> done) = 0;
};

using ComponentPtr = std::unique_ptr<Component>;

}  // namespace pkgxfer::host
