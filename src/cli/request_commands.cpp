#include "request_commands.h"

#include <cstdio>

#include "package_commands.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/store/distribution_point_repository.h"
#include "pkgxfer/store/request_repository.h"

namespace pkgxfer::cli {
namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

int runRequest(CliContext& ctx, store::RequestKind kind, const RequestOptions& options) {
  const std::string verb(store::toString(kind));
  auto id = normalizePackageId(ctx, options.package_id);
  if (!id.ok()) return fail(kExitUsage, id.error().message());
  if (options.all_dps == !options.dps.empty()) {
    return fail(kExitUsage, verb + " needs either --dp NAME (one or more) or --all-dps");
  }
  std::vector<std::string> dps = options.dps;
  if (options.all_dps) {
    for (const auto& dp : ctx.config().distribution_points) dps.push_back(dp.name);
    if (dps.empty()) return fail(kExitFailed, "the config defines no distribution points");
  }
  for (const auto& dp : dps) {
    if (!ctx.config().findDp(dp)) return fail(kExitFailed, "unknown distribution point " + dp);
  }

  auto package = ctx.findPackage(*id);
  if (!package.ok()) return fail(kExitFailed, package.error().message());
  store::Database& db = **ctx.database();
  // The config is the truth about DPs; the service syncs it at start, and so must a request made
  // while the service is down.
  store::DistributionPointRepository dp_rows(db);
  auto synced = dp_rows.syncFromConfig(ctx.config().distribution_points);
  if (!synced.ok()) return fail(kExitFailed, synced.error().toString());
  store::RequestRepository requests(db);
  auto ids = requests.enqueue(kind, *id, dps);
  if (!ids.ok()) return fail(kExitFailed, ids.error().message());

  std::printf("Queued %s of %s (version %d) to %s: %zu request(s).\n", verb.c_str(), id->c_str(),
              package->current_version, joined(dps).c_str(), ids->size());
  std::printf("Follow it with: pkgxfer --config %s status %s\n",
              pathToUtf8(ctx.config().file).c_str(), id->c_str());
  return kExitOk;
}

}  // namespace pkgxfer::cli
