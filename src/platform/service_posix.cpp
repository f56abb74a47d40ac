// POSIX side of the service: a console program stopped by SIGINT/SIGTERM
// (signal_registration.h); systemd runs it in the foreground (config/pkgxferd.service).

#include <pthread.h>
#include <sys/resource.h>

#include <csignal>

#include "pkgxfer/platform/service.h"
#include "signal_registration.h"

namespace pkgxfer::platform {
namespace {

sigset_t stopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// The console control, with SIGINT and SIGTERM held back until the stop request is subscribed:
// a SIGTERM that comes while the service is still starting (before the handler exists) would
// otherwise kill it on the spot, without its stop sequence. runService() blocks them before any
// thread is made, so every thread inherits the block; once Asio's handler is installed, the body's
// thread unblocks them and receives any that is pending.
class PosixControl final : public ServiceControl {
 public:
  std::unique_ptr<StopRegistration> onStopRequest(
      boost::asio::io_context& io, std::function<void(std::string)> on_stop) override {
    auto registration = console_.onStopRequest(io, std::move(on_stop));
    const sigset_t set = stopSignals();
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    return registration;
  }
  void reportRunning() override { console_.reportRunning(); }
  void reportStopping(std::chrono::milliseconds hint) override { console_.reportStopping(hint); }
  bool isService() const override { return console_.isService(); }

 private:
  ConsoleControl console_;
};

}  // namespace

void deferStopSignals() {
  const sigset_t set = stopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int runService(const std::string&, const ServiceBody& body) {
  // A DP or peer closing a socket must surface as an error on that socket, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Every HTTP connection, open upload and library file is a descriptor: a DP serving many
  // clients outgrows the usual soft limit of 1,024 long before the hard limit. Best effort.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }
  const sigset_t set = stopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  PosixControl control;
  return body(control);
}

Status installService(const std::string& service_name, const std::filesystem::path&,
                      const std::vector<std::string>&) {
  return Status::InvalidArgument(
      "'install' registers " + service_name +
      " with the Windows Service Control Manager; on Linux install the systemd unit "
      "config/pkgxferd.service (see README.md)");
}

Status uninstallService(const std::string& service_name) {
  return Status::InvalidArgument("'uninstall' removes the Windows service " + service_name +
                                 "; on Linux use: systemctl disable --now pkgxferd");
}

}  // namespace pkgxfer::platform
