// pkgxfer: the admin CLI. It writes requests into the site database (the queue pkgxferd reads)
// and reads status from it; it works whether or not the service is running.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <regex>

#include "cli_context.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/store/types.h"
#include "status_command.h"

using namespace pkgxfer;

int main(int argc, char** argv) {
  CLI::App app{"pkgxfer: administer packages and their distribution to distribution points",
               "pkgxfer"};
  app.set_version_flag("--version", std::string("pkgxfer ") + PKGXFER_VERSION);
  std::string config_file;
  app.add_option("--config", config_file, "the site's configuration file (JSON)");
  app.require_subcommand(1);

  cli::StatusOptions status;
  auto* status_cmd = app.add_subcommand("status", "show the state of each (package, DP) pair");
  status_cmd->add_option("package", status.package_id, "only this package (e.g. PS100001)");
  status_cmd->add_option("--dp", status.dp, "only this distribution point");
  status_cmd->add_flag("--json", status.json, "print a JSON array (SPEC fields)");
  status_cmd->add_flag("--watch", status.watch, "refresh every second until interrupted");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cli::kExitUsage;
  }
  if (config_file.empty()) return cli::fail(cli::kExitUsage, "--config FILE is required");
  auto config = config::loadConfig(config_file);
  if (!config.ok()) return cli::fail(cli::kExitUsage, config.error().message());
  cli::CliContext ctx(std::move(*config));

  if (status.package_id && !store::isValidPackageId(*status.package_id)) {
    return cli::fail(cli::kExitUsage, "'" + *status.package_id +
                                          "' is not a package ID (<site code><5 hex digits>, "
                                          "e.g. PS100001)");
  }
  if (*status_cmd) return cli::runStatus(ctx, status);
  return cli::kExitUsage;
}
