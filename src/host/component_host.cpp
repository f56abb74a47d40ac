#include "pkgxfer/host/component_host.h"

#include <boost/asio/post.hpp>

#include <future>
#include <string>

#include "pkgxfer/common/units.h"

namespace pkgxfer::host {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

ComponentHost::ComponentHost(Logger logger) : logger_(std::move(logger)) {}

ComponentHost::~ComponentHost() {
  // Components that were stopped in time, or never started, are destroyed normally. Overdue ones
  // were already released by stopStarted().
}

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
    boost::asio::post(entry.strand, [component, promise] { promise->set_value(component->start()); });
    if (future.wait_for(start_timeout) != std::future_status::ready) {
      PX_LOG_ERROR(logger_, "Component {} did not start within {}; stopping the others", name,
                   formatDuration(start_timeout));
      // It may still be running start(): never destroy it.
      (void)entry.component.release();
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
    if (future.wait_until(deadline) == std::future_status::ready) {
      PX_LOG_INFO(logger_, "Component {} stopped", name);
      continue;
    }
    PX_LOG_ERROR(logger_, "Component {} did not stop before the grace deadline; moving on", name);
    report.clean = false;
    report.overdue.push_back(name);
    (void)entry.component.release();  // its work may still run: never destroy it
  }
  return report;
}

}  // namespace pkgxfer::host
