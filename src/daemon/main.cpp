// pkgxferd: the composition root. Parses the command line, loads the config, and lists the
// components this build hosts; daemon.cpp runs them.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "daemon.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/distmgr/distmgr.h"
#include "pkgxfer/dp/dp_service.h"
#include "pkgxfer/pkgxfermgr/pkgxfermgr.h"
#include "pkgxfer/platform/process.h"
#include "pkgxfer/platform/service.h"
#include "pkgxfer/pulldp/pull_dp.h"
#include "pkgxfer/statusreceiver/statusreceiver.h"

namespace {

using namespace pkgxfer;

constexpr const char* kServiceName = "pkgxferd";

// The DP-side components of this process share one DpHost (the DP's library and its server). They
// hold it; this only finds it again, so it goes with the last of them, before the runtime whose
// io_context its server uses.
std::weak_ptr<dp::DpHost> dp_host;

Result<std::shared_ptr<dp::DpHost>> dpHost(const host::ComponentContext& ctx) {
  if (auto host = dp_host.lock()) return host;
  PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<dp::DpHost> host, dp::DpHost::open(ctx));
  dp_host = host;
  return host;
}

// One line per component as they land. Until then the host logs that the component is not part
// of this build and runs the others.
Result<host::ComponentPtr> makeComponent(std::string_view name, host::ComponentContext ctx) {
  if (name == "distmgr") return distmgr::makeDistributionManager(std::move(ctx));
  if (name == "pkgxfermgr") return pkgxfermgr::makePackageTransferManager(std::move(ctx));
  if (name == "statusreceiver") return statusreceiver::makeStatusReceiver(std::move(ctx));
  if (name == "dp") {
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<dp::DpHost> host, dpHost(ctx));
    return dp::makeDistributionPoint(std::move(ctx), std::move(host));
  }
  if (name == "pulldp") {
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<dp::DpHost> host, dpHost(ctx));
    return pulldp::makePullDistributionPoint(std::move(ctx), std::move(host));
  }
  return Status::NotFound(std::string(name) + " is not available in pkgxfer " PKGXFER_VERSION);
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "pkgxferd: %s\n", message.c_str());
  return code;
}

}  // namespace

int daemonMain(int argc, char** argv) {
  CLI::App app{"pkgxferd: the pkgxfer content distribution service", "pkgxferd"};
  app.set_version_flag("--version", std::string("pkgxferd ") + PKGXFER_VERSION);
  std::string config_file;
  bool check_config = false;
  bool foreground = false;
  app.add_option("--config", config_file, "configuration file (JSON)");
  app.add_flag("--check-config", check_config, "validate the configuration and exit (0 or 2)");
  app.add_flag("--foreground", foreground,
               "run in the foreground with a readable log copy on stderr (the default on Linux)");
  auto* install = app.add_subcommand("install", "Windows: register the service with the SCM");
  install->add_option("--config", config_file, "configuration file (JSON)")->required();
  app.add_subcommand("uninstall", "Windows: remove the service from the SCM");
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return daemon::kExitBadConfig;
  }

  if (app.got_subcommand("uninstall")) {
    Status s = platform::uninstallService(kServiceName);
    if (!s.ok()) return fail(1, s.toString());
    std::printf("Removed the service %s\n", kServiceName);
    return 0;
  }
  if (config_file.empty()) return fail(daemon::kExitBadConfig, "--config FILE is required");

  auto config = config::loadConfig(pathFromUtf8(config_file));
  const bool service_run = !check_config && !app.got_subcommand("install");
  // A service started by the SCM reports a bad config through the SCM (exit code 2), so that run
  // reaches runService() first; the other commands answer on the console at once.
  if (!config.ok() && !service_run) {
    return fail(daemon::kExitBadConfig, config.error().message());
  }
  if (check_config) {
    for (const auto& warning : config->warnings)
      std::fprintf(stderr, "warning: %s\n", warning.c_str());
    std::printf("%s: configuration OK (components: %zu, distribution points: %zu)\n",
                pathToUtf8(config->file).c_str(), config->components.size(),
                config->distribution_points.size());
    return 0;
  }
  if (app.got_subcommand("install")) {
    auto exe = platform::currentExecutable();
    if (!exe.ok()) return fail(1, exe.status().toString());
    Status s = platform::installService(kServiceName, *exe, {"--config", pathToUtf8(config->file)});
    if (!s.ok()) return fail(1, s.toString());
    std::printf("Installed the service %s: %s --config %s (automatic start)\n", kServiceName,
                pathToUtf8(*exe).c_str(), pathToUtf8(config->file).c_str());
    return 0;
  }

  daemon::DaemonOptions options;
  options.log_to_stderr = true;  // foreground is the default on Linux; --foreground is explicit
  (void)foreground;
  return platform::runService(kServiceName, [&](platform::ServiceControl& control) {
    if (!config.ok()) return fail(daemon::kExitBadConfig, config.error().message());
    return daemon::runDaemon(*config, options, makeComponent, control);
  });
}

int main(int argc, char** argv) {
  // Before anything else: a SIGTERM while the config loads must stop the service cleanly, not kill
  // it (the dynamic loader's time before main() is the only window left).
  platform::deferStopSignals();
  return platform::runWithUtf8Arguments(argc, argv, &daemonMain);
}
