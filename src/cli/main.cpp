// pkgxfer: the admin CLI. It writes requests into the site database (the queue pkgxferd reads)
// and reads status from it; it works whether or not the service is running.

#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli_context.h"
#include "package_commands.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/platform/process.h"
#include "request_commands.h"
#include "status_command.h"

using namespace pkgxfer;

namespace {

int cliMain(int argc, char** argv) {
  CLI::App app{"pkgxfer: administer packages and their distribution to distribution points",
               "pkgxfer"};
  app.set_version_flag("--version", std::string("pkgxfer ") + PKGXFER_VERSION);
  std::string config_file;
  app.add_option("--config", config_file, "the site's configuration file (JSON)");
  app.require_subcommand(1);

  auto* package_cmd = app.add_subcommand("package", "define packages and read their sources");
  package_cmd->require_subcommand(1);
  cli::PackageAddOptions add;
  auto* add_cmd = package_cmd->add_subcommand("add", "add a package from a source folder");
  add_cmd->add_option("--id", add.id, "package ID, <site code><5 hex digits> (e.g. PS100001)")
      ->required();
  add_cmd->add_option("--name", add.name, "display name")->required();
  add_cmd->add_option("--source", add.source, "the source folder")->required();
  add_cmd->add_option("--priority", add.priority, "distribution priority: high, medium or low")
      ->check(CLI::IsMember({"high", "medium", "low"}));
  std::string package_id;
  auto* update_cmd =
      package_cmd->add_subcommand("update", "re-read the source; a new version if it changed");
  update_cmd->add_option("package", package_id, "package ID")->required();
  auto* list_cmd = package_cmd->add_subcommand("list", "list every package");
  auto* show_cmd = package_cmd->add_subcommand("show", "show a package and its versions");
  show_cmd->add_option("package", package_id, "package ID")->required();

  // distribute / redistribute / validate / remove: each queues requests for the service.
  struct RequestCommand {
    store::RequestKind kind;
    const char* name;
    const char* help;
    CLI::App* app = nullptr;
    cli::RequestOptions options;
  };
  RequestCommand requests[] = {
      {store::RequestKind::Distribute,
       "distribute",
       "send a package's content to DPs",
       nullptr,
       {}},
      {store::RequestKind::Redistribute,
       "redistribute",
       "send every file again, even those already present",
       nullptr,
       {}},
      {store::RequestKind::Validate,
       "validate",
       "re-hash the content on the DP, report mismatches",
       nullptr,
       {}},
      {store::RequestKind::Remove,
       "remove",
       "delete the package's content from the DP",
       nullptr,
       {}},
  };
  for (auto& r : requests) {
    r.app = app.add_subcommand(r.name, r.help);
    r.app->add_option("package", r.options.package_id, "package ID")->required();
    auto* dp = r.app->add_option("--dp", r.options.dps, "distribution point (repeatable)");
    auto* all = r.app->add_flag("--all-dps", r.options.all_dps, "every configured DP");
    dp->excludes(all);
  }

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
  auto config = config::loadConfig(pathFromUtf8(config_file));
  if (!config.ok()) return cli::fail(cli::kExitUsage, config.error().message());
  if (!config->site) {
    return cli::fail(cli::kExitUsage, config->file.string() +
                                          ": this config has no `site` block; pkgxfer needs the "
                                          "site server's config");
  }
  cli::CliContext ctx(std::move(*config));

  if (*add_cmd) return cli::runPackageAdd(ctx, add);
  if (*update_cmd) return cli::runPackageUpdate(ctx, package_id);
  if (*list_cmd) return cli::runPackageList(ctx);
  if (*show_cmd) return cli::runPackageShow(ctx, package_id);
  for (auto& r : requests) {
    if (*r.app) return cli::runRequest(ctx, r.kind, r.options);
  }
  if (*status_cmd) {
    if (status.package_id) {
      auto id = cli::normalizePackageId(ctx, *status.package_id);
      if (!id.ok()) return cli::fail(cli::kExitUsage, id.error().message());
      status.package_id = *id;
    }
    return cli::runStatus(ctx, status);
  }
  return cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  return pkgxfer::platform::runWithUtf8Arguments(argc, argv, &cliMain);
}
