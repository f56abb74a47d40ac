// POSIX side of the service: a console program stopped by SIGINT/SIGTERM
// (signal_registration.h); systemd runs it in the foreground (config/pkgxferd.service).

#include <csignal>

#include "pkgxfer/platform/service.h"
#include "signal_registration.h"

namespace pkgxfer::platform {

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
      "config/pkgxferd.service (see README.md)");
}

Status uninstallService(const std::string& service_name) {
  return Status::InvalidArgument("'uninstall' removes the Windows service " + service_name +
                                 "; on Linux use: systemctl disable --now pkgxferd");
}

}  // namespace pkgxfer::platform
