#pragma once

#include <optional>
#include <string>

#include "cli_context.h"

namespace pkgxfer::cli {

struct StatusOptions {
  std::optional<std::string> package_id;
  std::optional<std::string> dp;
  bool json = false;
  bool watch = false;
  int watch_interval_ms = 1000;
};

// `pkgxfer status [ID] [--dp NAME] [--json] [--watch]`: one row per (package, DP).
int runStatus(CliContext& ctx, const StatusOptions& options);

}  // namespace pkgxfer::cli
