// POSIX side of the service: SIGINT/SIGTERM through Asio's signal_set, whose handler runs on the
// io_context (not in signal context), so stopping is ordinary code.

#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <memory>

#include "pkgxfer/platform/service.h"

namespace pkgxfer::platform {
namespace {

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

}  // namespace

int runService(const std::string&, const ServiceBody& body) {
  // A DP or peer closing a socket must surface as an error on that socket, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  ConsoleControl control;
  return body(control);
}

Status installService(const std::string& service_name, const std::filesystem::path&,
                      const std::vector<std::string>&) {
  return Status::InvalidArgument(
      "'install' registers " + service_name +
      " with the Windows Service Control Manager; on Linux install the systemd unit "
      "config/pkgxferd.service (see docs/operations.md)");
}

Status uninstallService(const std::string& service_name) {
  return Status::InvalidArgument("'uninstall' removes the Windows service " + service_name +
                                 "; on Linux use: systemctl disable --now pkgxferd");
}

}  // namespace pkgxfer::platform
