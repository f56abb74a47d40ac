#pragma once

// BlockingPool: a fixed set of threads for blocking work (file and SMB I/O, hashing), so a slow
// disk never stalls the io_context. Every thread has a top-level catch: a handler that throws is
// reported (what, and which pool) and the thread goes on with the next handler, so one stray
// exception never ends the service. Code that must turn an exception into a failed job catches it
// itself, inside its handler; this is the last line of defence.
//
// runOnHelpers() fans one piece of work out over a pool without ever waiting for a free thread.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pkgxfer/common/log.h"

namespace pkgxfer::host {

// Runs io.run() until it returns normally; an exception thrown by a handler is reported to `log`
// (or stderr without one) as "uncaught exception in <where>: <what>" and the loop goes on.
void runCatchingExceptions(boost::asio::io_context& io, std::string_view where, const Logger& log);

// Thread-safe: post work from any thread (boost::asio::post(pool.get_executor(), fn)).
class BlockingPool {
 public:
  using executor_type = boost::asio::io_context::executor_type;

  // Starts `threads` (at least 1) threads. `name` says which pool in reports ("blocking pool",
  // "transfer streams"); `log` is where exceptions are reported (null: stderr).
  BlockingPool(std::string name, int threads, Logger log = nullptr);
  ~BlockingPool();  // stop()
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  executor_type get_executor() noexcept { return io_.get_executor(); }
  int threads() const { return static_cast<int>(threads_.size()); }
  const std::string& name() const { return name_; }

  // Stops taking work and joins the threads once the handlers running now return; handlers still
  // queued are destroyed without running. Idempotent; not from one of the pool's own threads.
  void stop();

 private:
  const std::string name_;
  const Logger log_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<executor_type>> guard_;
  std::vector<std::thread> threads_;
};

// Runs work(0) on the calling thread and work(1) … work(n - 1) as tasks on `pool`, then waits for
// the tasks that started. A task that has not started by the time work(0) returns never runs
// work: so the caller never waits for a free thread, and a busy pool makes the work use fewer
// threads instead of deadlocking (e.g. when the caller itself runs on that pool). `work` is
// called concurrently. If a call throws, the first exception is rethrown here once every started
// task has finished.
void runOnHelpers(BlockingPool& pool, std::size_t n, const std::function<void(std::size_t)>& work);

}  // namespace pkgxfer::host
