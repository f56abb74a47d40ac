#pragma once

// Private to the http module: what a Server shares with its connections. The Server object owns a
// shared_ptr to it and so does every connection, so a connection still finishing after the
// Server was destroyed has its routes, options and TLS context.
//
// Threads: the acceptor and the stop timer live on accept_strand_; the connection registry and
// the stop state are guarded by mu_ (connections register and unregister from their own strands
// and from whichever thread drops them last). Everything else is immutable once start()
// succeeded.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pkgxfer/http/server.h"
#include "router.h"
#include "tls.h"

namespace pkgxfer::http::detail {

class Connection;

class ServerCore : public std::enable_shared_from_this<ServerCore> {
 public:
  ServerCore(boost::asio::io_context& io, ServerOptions options);
  ~ServerCore();

  Status addRoute(std::string_view method, std::string_view pattern, RouteOptions options,
                  Handler handler);
  Status start();
  void stop(std::function<void()> done);
  std::uint16_t port() const { return port_.load(std::memory_order_relaxed); }
  ServerStats stats() const;

  // For connections.
  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  TlsContext* tls() { return tls_.get(); }
  const Logger& log() const { return options_.logger; }
  // Constant time in the token's content: compares SHA-256 digests with CRYPTO_memcmp.
  bool tokenMatches(std::string_view token) const;
  void countRequest() { requests_.fetch_add(1, std::memory_order_relaxed); }
  void countBusy() { busy_.fetch_add(1, std::memory_order_relaxed); }
  // Takes one of max_concurrent_handlers slots; false when all are taken. Thread-safe.
  bool tryAcquireHandler();
  // Gives back a slot taken by tryAcquireHandler(), once the handler returned (or was skipped).
  void releaseHandler() { handlers_.fetch_sub(1, std::memory_order_acq_rel); }
  // Called by a connection's destructor.
  void onConnectionGone(Connection* connection, bool refused);

 private:
  friend struct ServerTestAccess;

  void doAccept();
  void onAccept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);
  void onStopTimer(const boost::system::error_code& ec);
  // REQUIRES: mu_ held. Calls the stop callbacks once nothing is left.
  void maybeFinishStopLocked();

  boost::asio::io_context& io_;
  ServerOptions options_;
  Router router_;
  std::unique_ptr<TlsContext> tls_;
  std::string token_digest_;  // SHA-256 hex of the bearer token

  boost::asio::strand<boost::asio::io_context::executor_type> accept_strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // after an accept error (e.g. EMFILE)
  boost::asio::steady_timer stop_timer_;
  std::atomic<std::uint16_t> port_{0};

  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> busy_{0};
  std::atomic<std::size_t> handlers_{0};  // slots taken (see tryAcquireHandler)

  // Tests only (ServerTestAccess): called by start() once the socket listens, just before start()
  // publishes the server as started, with the bound port: where a concurrent stop() can land.
  std::function<void(std::uint16_t port)> start_hook_for_test_;

  mutable std::mutex mu_;
  bool started_ = false;      // guarded by mu_
  bool stopping_ = false;     // guarded by mu_
  bool accepting_ = false;    // guarded by mu_: the accept loop still runs
  bool stopped_ = false;      // guarded by mu_: the stop callbacks were called
  std::size_t open_ = 0;      // guarded by mu_: served connections
  std::size_t refusing_ = 0;  // guarded by mu_: refused connections being answered
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections_;  // guarded by mu_
  std::vector<std::function<void()>> stop_callbacks_;                       // guarded by mu_
};

// For tests: reaches a Server's core to set its test hooks. Before start() only.
struct ServerTestAccess {
  static void setStartHook(Server& server, std::function<void(std::uint16_t port)> hook) {
    server.core_->start_hook_for_test_ = std::move(hook);
  }
};

}  // namespace pkgxfer::http::detail
