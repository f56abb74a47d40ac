#pragma once

#include <string>

#include "cli_context.h"

namespace pkgxfer::cli {

struct PackageAddOptions {
  std::string id;
  std::string name;
  std::string source;
  std::string priority = "medium";
};

// `pkgxfer package add`: reads the source into a manifest, copies its bodies into the site's
// content library and records the package with version 1 in the site database.
int runPackageAdd(CliContext& ctx, const PackageAddOptions& options);
// `pkgxfer package update ID`: re-reads the source; a new version only if the content changed.
int runPackageUpdate(CliContext& ctx, const std::string& id);
// `pkgxfer package list`.
int runPackageList(CliContext& ctx);
// `pkgxfer package show ID`: the package and each of its versions.
int runPackageShow(CliContext& ctx, const std::string& id);

// Upper-cases `id` and checks it is "<site code><5 hex digits>" with this site's code.
// InvalidArgument (bad usage, exit 2) otherwise.
Result<std::string> normalizePackageId(const CliContext& ctx, std::string id);

}  // namespace pkgxfer::cli
