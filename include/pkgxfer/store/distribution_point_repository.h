#pragma once

// The distribution points the site knows: the ones in the config, plus the ones that were once
// configured (kept, marked as removed from the config, so their history stays readable).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store {

struct DistributionPointRow {
  std::string name;
  config::DpType type = config::DpType::Standard;
  std::string address;                  // as written in the config
  std::string content_url;              // "" if none
  std::vector<std::string> sources;     // pull DPs: source DP names, in priority order
  bool in_config = true;                // false once the config no longer names it
  Timestamp added_at{};                 // first seen in a config
  Timestamp updated_at{};               // last change of any field above
  std::optional<Timestamp> removed_at;  // when it left the config; set iff !in_config
};

// What syncFromConfig() changed, by DP name, for the log.
struct DpSyncSummary {
  std::vector<std::string> added;     // new rows
  std::vector<std::string> changed;   // type, address, content_url or sources differ
  std::vector<std::string> restored;  // back in the config after having been removed
  std::vector<std::string> removed;   // no longer in the config (rows kept)
};

// Not thread-safe: use it where its Database is used. The Database must outlive it.
class DistributionPointRepository {
 public:
  explicit DistributionPointRepository(Database& db) : db_(db) {}

  // Makes the table match the configured DPs in one transaction: upserts each, and marks every
  // other DP still marked configured as removed from the config (never deletes it).
  // InvalidArgument on an empty or duplicate name.
  Result<DpSyncSummary> syncFromConfig(const std::vector<config::DistributionPointConfig>& dps);

  // NotFound if the DP was never configured.
  Result<DistributionPointRow> get(std::string_view name);
  // By name; DPs removed from the config only if `include_removed`.
  Result<std::vector<DistributionPointRow>> list(bool include_removed = false);

 private:
  Database& db_;
};

}  // namespace pkgxfer::store
