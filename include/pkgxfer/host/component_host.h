#pragma once

// ComponentHost: starts components in configuration order and stops them in reverse, each on its
// own strand, with one grace deadline for the whole stop.

#include <chrono>
#include <string>
#include <vector>

#include "pkgxfer/common/log.h"
#include "pkgxfer/host/component.h"

namespace pkgxfer::host {

// Not thread-safe: used only by the thread that owns the process (main / the service thread).
class ComponentHost {
 public:
  // `logger` is the host's own log (pkgxferd.log).
  explicit ComponentHost(Logger logger);
  ~ComponentHost();

  // Adds a component with the strand it runs on. Order of add() is start order.
  void add(ComponentPtr component, Strand strand);

  // Starts every component in order, waiting up to `start_timeout` for each start() to return. On
  // the first failure (or a start that times out), stops the already-started ones in reverse
  // (within `grace`) and returns that failure with the component's name as context.
  Status startAll(std::chrono::milliseconds start_timeout, std::chrono::milliseconds grace);

  struct StopReport {
    bool clean = true;                 // every started component reported done in time
    std::vector<std::string> overdue;  // components that missed the deadline
  };
  // Stops started components in reverse order. Each is given the time left until the deadline
  // (now + grace), but at least one second once the deadline has passed; a component that misses
  // it is reported and the host moves on.
  StopReport stopAll(std::chrono::milliseconds grace);

  size_t startedCount() const { return started_; }

  // A component that missed its deadline may still have work queued on its strand, so it is never
  // destroyed: the host parks it for the life of the process, which is expected to exit soon.

 private:
  struct Entry {
    ComponentPtr component;
    Strand strand;
  };
  StopReport stopStarted(std::chrono::steady_clock::time_point deadline);

  Logger logger_;
  std::vector<Entry> entries_;
  size_t started_ = 0;
};

}  // namespace pkgxfer::host
