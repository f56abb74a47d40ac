#include "resolver.h"

#include <boost/asio/io_context.hpp>

#include <exception>
#include <thread>

#include "stream.h"

namespace pkgxfer::http::detail {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Result<std::vector<tcp::endpoint>> Lookup::wait(std::chrono::steady_clock::time_point until,
                                                const std::stop_token& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, stop, until, [&] { return done_; });
  if (!done_) {
    abandoned_ = true;
    if (stop.stop_requested()) return Status::Cancelled("resolve " + host_ + ": stopped");
    return Status::Unavailable("resolve " + host_ + ": timed out");
  }
  if (!error_.empty()) return Status::Unavailable("resolve " + host_ + ": " + error_);
  return endpoints_;
}

Resolver& Resolver::instance() {
  static Resolver* resolver = new Resolver();  // never destroyed: its threads live until exit
  return *resolver;
}

std::shared_ptr<Lookup> Resolver::start(std::string host, std::uint16_t port) {
  auto lookup = std::make_shared<Lookup>();
  lookup->host_ = std::move(host);
  lookup->port_ = std::to_string(port);
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(lookup);
  // A new thread when every thread is busy (one may be stuck in a lookup that never ends) and the
  // pool is not full.
  if (idle_ < static_cast<int>(queue_.size()) && threads_ < kLookupThreads) {
    try {
      std::thread([this] { run(); }).detach();
      ++threads_;
    } catch (const std::system_error&) {
      // No thread now: the lookup waits for one of the others (or times out, if there is none).
    }
  }
  cv_.notify_one();
  return lookup;
}

void Resolver::run() {
  net::io_context ioc(1);
  tcp::resolver resolver(ioc);
  while (true) {
    std::shared_ptr<Lookup> lookup;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++idle_;
      cv_.wait(lock, [&] { return !queue_.empty(); });
      --idle_;
      lookup = std::move(queue_.front());
      queue_.erase(queue_.begin());
    }
    {
      std::lock_guard<std::mutex> lock(lookup->mu_);
      if (lookup->abandoned_) continue;
    }
    boost::system::error_code ec;
    std::vector<tcp::endpoint> endpoints;
    // Top-level catch: a lookup that throws (it reports by error code) fails, the thread goes on.
    try {
      auto results =
          resolver.resolve(lookup->host_, lookup->port_, tcp::resolver::numeric_service, ec);
      if (!ec) {
        for (const auto& r : results) endpoints.push_back(r.endpoint());
      }
    } catch (const std::exception&) {
      ec = boost::asio::error::host_not_found;
    }
    std::lock_guard<std::mutex> lock(lookup->mu_);
    lookup->done_ = true;
    if (ec) {
      lookup->error_ = errorText(ec);
    } else if (endpoints.empty()) {
      lookup->error_ = "no address";
    }
    lookup->endpoints_ = std::move(endpoints);
    lookup->cv_.notify_all();
  }
}

}  // namespace pkgxfer::http::detail
