#include "status_command.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

#include "pkgxfer/common/units.h"
#include "pkgxfer/store/distribution_repository.h"

namespace pkgxfer::cli {
namespace {

std::string percent(const store::Progress& p) {
  if (p.bytes_total == 0) return p.files_total == 0 ? "-" : "0%";
  return std::to_string(p.bytes_done * 100 / p.bytes_total) + "%";
}

std::string toJson(const std::vector<store::DistributionRow>& rows) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& row : rows) {
    out.push_back({{"package_id", row.package_id},
                   {"version", row.version},
                   {"dp", row.dp},
                   {"state", std::string(store::toString(row.state))},
                   {"bytes_total", row.progress.bytes_total},
                   {"bytes_done", row.progress.bytes_done},
                   {"files_total", row.progress.files_total},
                   {"files_done", row.progress.files_done},
                   {"attempts", row.attempts},
                   {"last_error", row.last_error},
                   {"updated_at", store::formatTimestamp(row.updated_at)}});
  }
  return out.dump(2) + "\n";
}

std::string toTable(const std::vector<store::DistributionRow>& rows) {
  if (rows.empty()) return "No distributions.\n";
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-10s %7s  %-16s %-14s %9s %8s  %s\n", "PACKAGE", "VERSION",
                "DP", "STATE", "PROGRESS", "ATTEMPTS", "LAST ERROR");
  out += line;
  for (const auto& row : rows) {
    std::string progress = percent(row.progress);
    std::snprintf(line, sizeof line, "%-10s %7d  %-16s %-14s %9s %8d  %s\n", row.package_id.c_str(),
                  row.version, row.dp.c_str(), std::string(store::toString(row.state)).c_str(),
                  progress.c_str(), row.attempts, row.last_error.c_str());
    out += line;
  }
  return out;
}

}  // namespace

int runStatus(CliContext& ctx, const StatusOptions& options) {
  if (options.dp && !ctx.config().findDp(*options.dp)) {
    return fail(kExitFailed, "unknown distribution point " + *options.dp);
  }
  auto db = ctx.database();
  if (!db.ok()) return fail(kExitFailed, db.error().message());
  store::DistributionRepository distributions(**db);
  store::DistributionFilter filter;
  filter.package_id = options.package_id;
  filter.dp = options.dp;
  while (true) {
    auto rows = distributions.list(filter);
    if (!rows.ok()) return fail(kExitFailed, rows.error().toString());
    std::string text = options.json ? toJson(*rows) : toTable(*rows);
    if (options.watch && !options.json) std::fputs("\x1b[H\x1b[2J", stdout);  // clear screen
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    if (!options.watch) return kExitOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(options.watch_interval_ms));
  }
}

}  // namespace pkgxfer::cli
