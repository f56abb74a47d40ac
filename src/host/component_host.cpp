#include "pkgxfer/host/component_host.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <future>
#include <mutex>
#include <string>

#include "pkgxfer/common/units.h"

namespace pkgxfer::host {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

constexpr milliseconds kLateStopSlice{1000};

// A component that missed its deadline may still have work queued on its strand or running on the
// pool, so destroying it could free state that work is using. It is parked here for the life of the
// process instead (reachable, so not a leak), and the process is expected to exit soon after.
void abandon(ComponentPtr component) {
  static std::mutex mutex;
  static auto* parked = new std::vector<ComponentPtr>();
  std::lock_guard lock(mutex);
  parked->push_back(std::move(component));
}

}  // namespace

ComponentHost::ComponentHost(Logger logger) : logger_(std::move(logger)) {}

ComponentHost::~ComponentHost() = default;

void ComponentHost::add(ComponentPtr component, Strand strand) {
  entries_.push_back(Entry{std::move(component), std::move(strand)});
}

Status ComponentHost::startAll(milliseconds start_timeout, milliseconds grace) {
  for (size_t i = started_; i < entries_.size(); ++i) {
    Entry& entry = entries_[i];
    std::string name(entry.component->name());
    PX_LOG_INFO(logger_, "Starting component {}", name);
    // The promise outlives this frame if start() hangs past the timeout.
    auto promise = std::make_shared<std::promise<Status>>();
    auto future = promise->get_future();
    Component* component = entry.component.get();
    boost::asio::post(entry.strand,
                      [component, promise] { promise->set_value(component->start()); });
    if (future.wait_for(start_timeout) != std::future_status::ready) {
      PX_LOG_ERROR(logger_, "Component {} did not start within {}; stopping the others", name,
                   formatDuration(start_timeout));
      abandon(std::move(entry.component));  // it may still be running start()
      entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
      stopStarted(steady_clock::now() + grace);
      return Status::Unavailable("component " + name + " did not start within " +
                                 formatDuration(start_timeout));
    }
    Status status = future.get();
    if (!status.ok()) {
      PX_LOG_ERROR(logger_, "Component {} failed to start: {}", name, status.toString());
      stopStarted(steady_clock::now() + grace);
      return status.withContext("start component " + name);
    }
    ++started_;
    PX_LOG_INFO(logger_, "Component {} started", name);
  }
  return Status::Ok();
}

ComponentHost::StopReport ComponentHost::stopAll(milliseconds grace) {
  return stopStarted(steady_clock::now() + grace);
}

ComponentHost::StopReport ComponentHost::stopStarted(steady_clock::time_point deadline) {
  StopReport report;
  while (started_ > 0) {
    Entry& entry = entries_[started_ - 1];
    --started_;
    std::string name(entry.component->name());
    PX_LOG_INFO(logger_, "Stopping component {}", name);
    auto promise = std::make_shared<std::promise<void>>();
    auto once = std::make_shared<std::once_flag>();
    auto future = promise->get_future();
    Component* component = entry.component.get();
    boost::asio::post(entry.strand, [component, promise, once] {
      component->stop([promise, once] { std::call_once(*once, [&] { promise->set_value(); }); });
    });
    // Past the deadline (a component before this one used it up), a component still gets a short
    // slice: most stop in microseconds, and skipping them would abandon work for nothing.
    auto until = std::max(deadline, steady_clock::now() + kLateStopSlice);
    if (future.wait_until(until) == std::future_status::ready) {
      PX_LOG_INFO(logger_, "Component {} stopped", name);
      continue;
    }
    PX_LOG_ERROR(logger_, "Component {} did not stop before the grace deadline; moving on", name);
    report.clean = false;
    report.overdue.push_back(name);
    abandon(std::move(entry.component));
  }
  return report;
}

}  // namespace pkgxfer::host
