#pragma once

// Runtime: the threads of a pkgxferd process. One io_context run by a few threads (every
// component's asynchronous work, each component on its own strand) and a bounded pool for blocking
// file/SMB I/O and hashing, so a slow disk never stalls the io_context. Every thread has a
// top-level catch (blocking_pool.h): an exception escaping a handler is logged and the thread
// goes on.

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "pkgxfer/common/log.h"
#include "pkgxfer/host/blocking_pool.h"
#include "pkgxfer/host/signals.h"

namespace pkgxfer::host {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

struct RuntimeOptions {
  int io_threads = 2;         // threads running the io_context; 1..64
  int blocking_threads = 16;  // bounded pool for blocking I/O; >= 1
  Logger log;                 // where uncaught exceptions are reported (pkgxferd.log); null: stderr
};

// Thread-safe. start() and stop() are called by the owner (the host's main thread) only.
class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  ~Runtime();  // stop() if still running
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Starts the io threads. The io_context keeps running (work guard) until stop().
  void start();
  // Stops the io_context and joins its threads and the blocking pool. Work still queued is dropped;
  // components must have been stopped first. Idempotent.
  void stop();

  boost::asio::io_context& io() { return io_; }
  BlockingPool& blocking() { return *blocking_; }
  Strand makeStrand() { return boost::asio::make_strand(io_); }
  // The components' in-process wake-ups (signals.h).
  Signals& signals() { return signals_; }

 private:
  RuntimeOptions options_;
  Signals signals_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::unique_ptr<BlockingPool> blocking_;
  std::vector<std::thread> threads_;
  bool running_ = false;
};

}  // namespace pkgxfer::host
