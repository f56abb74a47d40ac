#pragma once

// Status messages pull DPs send to the site's management point (statusreceiver), kept as a log
// the distribution manager reads to follow pull distributions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store {

struct StatusMessage {
  std::int64_t id = 0;      // assigned by insert(); increasing
  Timestamp received_at{};  // assigned by insert() from the Database's clock
  std::string dp;
  std::string package_id;
  int version = 0;
  std::optional<std::int64_t> job_id;  // the transfer job the pull DP was notified with
  DistributionState state = DistributionState::Pulling;
  Progress progress;
  std::string message;  // free text from the pull DP
};

// Unset fields match everything. Rows with id > after_id, at most `limit` (0 = no limit).
struct StatusMessageFilter {
  std::optional<std::string> package_id;
  std::optional<std::string> dp;
  std::optional<std::int64_t> job_id;
  std::int64_t after_id = 0;
  int limit = 0;
};

// Not thread-safe: use it where its Database is used. The Database must outlive it.
class StatusMessageRepository {
 public:
  explicit StatusMessageRepository(Database& db) : db_(db) {}

  // Records a message (its id and received_at are ignored) and returns its id. NotFound if the
  // DP, the package or the job does not exist; InvalidArgument on a version < 1.
  Result<std::int64_t> insert(const StatusMessage& message);
  // Oldest first.
  Result<std::vector<StatusMessage>> list(const StatusMessageFilter& filter = {});

 private:
  Database& db_;
};

}  // namespace pkgxfer::store
