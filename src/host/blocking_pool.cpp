#include "pkgxfer/host/blocking_pool.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

namespace pkgxfer::host {

void runCatchingExceptions(boost::asio::io_context& io, std::string_view where, const Logger& log) {
  while (true) {
    std::string what;
    try {
      io.run();
      return;
    } catch (...) {
      what = exceptionText(std::current_exception());
    }
    // Asio lets the exception out of run(); run() may simply be called again.
    if (log) {
      PX_LOG_ERROR(log, "Uncaught exception in {}: {}; the thread goes on", where, what);
    } else {
      std::fprintf(stderr, "pkgxferd: uncaught exception in %.*s: %s; the thread goes on\n",
                   static_cast<int>(where.size()), where.data(), what.c_str());
    }
  }
}

BlockingPool::BlockingPool(std::string name, int threads, Logger log)
    : name_(std::move(name)), log_(std::move(log)) {
  guard_.emplace(boost::asio::make_work_guard(io_));
  const int n = std::max(1, threads);
  threads_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this] { runCatchingExceptions(io_, name_, log_); });
  }
}

BlockingPool::~BlockingPool() { stop(); }

void BlockingPool::stop() {
  if (threads_.empty()) return;
  guard_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void runOnHelpers(BlockingPool& pool, std::size_t n, const std::function<void(std::size_t)>& work) {
  if (n == 0) return;
  // Shared with the tasks, which may start after this call returned (the pool was busy); such a
  // late task finds `closed` and touches nothing else, `work` included.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool closed = false;     // work(0) returned: tasks that have not started never will
    std::size_t active = 0;  // tasks inside work()
    std::exception_ptr error;
    const std::function<void(std::size_t)>* work = nullptr;
  };
  auto state = std::make_shared<State>();
  state->work = &work;
  for (std::size_t i = 1; i < n; ++i) {
    boost::asio::post(pool.get_executor(), [state, i] {
      {
        std::lock_guard<std::mutex> lock(state->mu);
        if (state->closed) return;
        ++state->active;
      }
      std::exception_ptr error;
      try {
        (*state->work)(i);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(state->mu);
      if (error && !state->error) state->error = error;
      if (--state->active == 0) state->cv.notify_all();
    });
  }
  std::exception_ptr error;
  try {
    work(0);
  } catch (...) {
    error = std::current_exception();
  }
  std::unique_lock<std::mutex> lock(state->mu);
  state->closed = true;
  state->cv.wait(lock, [&] { return state->active == 0; });
  if (!error) error = state->error;
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

}  // namespace pkgxfer::host
