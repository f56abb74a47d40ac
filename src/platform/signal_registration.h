#pragma once

// Stop requests from SIGINT (Ctrl+C) and SIGTERM through Asio's signal_set, whose handler runs on
// the io_context, not in signal context, so stopping is ordinary code. Used by the POSIX side and
// by the Windows console fallback.

#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <functional>
#include <string>

#include "pkgxfer/platform/service.h"

namespace pkgxfer::platform {

class SignalRegistration final : public StopRegistration {
 public:
  SignalRegistration(boost::asio::io_context& io, std::function<void(std::string)> on_stop)
      : signals_(io, SIGINT, SIGTERM) {
    signals_.async_wait(
        [on_stop = std::move(on_stop)](const boost::system::error_code& ec, int signo) {
          if (ec) return;  // cancelled at shutdown
          on_stop(signo == SIGINT ? "SIGINT" : "SIGTERM");
        });
  }
  ~SignalRegistration() override {
    boost::system::error_code ignored;
    signals_.cancel(ignored);
  }

 private:
  boost::asio::signal_set signals_;
};

// A console program: no service manager to report to.
class ConsoleControl final : public ServiceControl {
 public:
  std::unique_ptr<StopRegistration> onStopRequest(
      boost::asio::io_context& io, std::function<void(std::string)> on_stop) override {
    return std::make_unique<SignalRegistration>(io, std::move(on_stop));
  }
  void reportRunning() override {}
  void reportStopping(std::chrono::milliseconds) override {}
  bool isService() const override { return false; }
};

}  // namespace pkgxfer::platform
