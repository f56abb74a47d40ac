#pragma once

#include <string>
#include <vector>

#include "cli_context.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::cli {

struct RequestOptions {
  std::string package_id;
  std::vector<std::string> dps;
  bool all_dps = false;
};

// `distribute`, `redistribute`, `validate`, `remove`: checks the package and the DPs, then queues
// one request per DP in the site database, all or none, and returns at once. The service picks
// them up within a second of being written, or when it next starts.
int runRequest(CliContext& ctx, store::RequestKind kind, const RequestOptions& options);

}  // namespace pkgxfer::cli
