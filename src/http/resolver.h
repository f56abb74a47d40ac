#pragma once

// Host-name lookups for the client, on a small pool of threads the http module keeps for the
// life of the process (kLookupThreads, started at the first lookup of a name, shared by every
// client). getaddrinfo cannot be interrupted: a call waits for its lookup only until its own
// deadline or stop request and then goes on, leaving the lookup to finish on the pool. A lookup
// nobody waits for any more is dropped before it starts, so a DNS server that stopped answering
// costs queued entries, not threads. Thread-safe.

#include <boost/asio/ip/tcp.hpp>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "pkgxfer/common/status.h"

namespace pkgxfer::http::detail {

inline constexpr int kLookupThreads = 4;

class Lookup {
 public:
  // Waits until the lookup is done, `until` passes or `stop` is requested. Unavailable
  // ("resolve <host>: <reason>" or "...: timed out"), Cancelled on a stop.
  Result<std::vector<boost::asio::ip::tcp::endpoint>> wait(
      std::chrono::steady_clock::time_point until, const std::stop_token& stop);

 private:
  friend class Resolver;
  std::string host_;
  std::string port_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool done_ = false;
  bool abandoned_ = false;  // the waiter gave up: drop it if it has not started
  std::string error_;       // set when done and failed
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
};

class Resolver {
 public:
  static Resolver& instance();
  // Queues a lookup of `host` (a name, not an IP literal) and `port` (numeric).
  std::shared_ptr<Lookup> start(std::string host, std::uint16_t port);

 private:
  Resolver() = default;
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Lookup>> queue_;  // guarded by mu_; FIFO from the front
  int threads_ = 0;                             // guarded by mu_
  int idle_ = 0;                                // threads waiting for a lookup; guarded by mu_
};

}  // namespace pkgxfer::http::detail
