#include "pkgxfer/host/runtime.h"

#include <algorithm>

namespace pkgxfer::host {

Runtime::Runtime(RuntimeOptions options)
    : options_(options),
      io_(std::max(1, options.io_threads)),
      blocking_(std::make_unique<BlockingPool>(
          "the blocking pool", std::max(1, options.blocking_threads), options.log)) {}

Runtime::~Runtime() { stop(); }

void Runtime::start() {
  if (running_) return;
  running_ = true;
  guard_.emplace(boost::asio::make_work_guard(io_));
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
    threads_.emplace_back([this] { runCatchingExceptions(io_, "an io thread", options_.log); });
  }
}

void Runtime::stop() {
  if (!running_) {
    if (blocking_) blocking_->stop();
    return;
  }
  running_ = false;
  guard_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  blocking_->stop();
}

}  // namespace pkgxfer::host
