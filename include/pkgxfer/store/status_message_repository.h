#pragma once

// Status messages pull DPs send to the site's management point (statusreceiver), kept as a log
// the distribution manager reads to follow pull distributions: it applies each new message once,
// in arrival order (listUnprocessed, markProcessed), so messages recorded while it was down are
// applied at its next start. A message carries the pull DP's sequence number for its job; the same
// (job, sequence) is recorded once, so a status sent twice is harmless.

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
  // The pull DP's number of this report of the job (increasing); unset for messages without one.
  std::optional<std::uint64_t> sequence;
  // When the distribution manager applied (or ignored) it; unset until then. insert() ignores it.
  std::optional<Timestamp> processed_at;
};

struct RecordedMessage {
  std::int64_t id = 0;
  bool duplicate = false;  // (job_id, sequence) was already recorded: `id` is that message
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
  // AlreadyExists if a message with the same job and sequence was recorded.
  Result<std::int64_t> insert(const StatusMessage& message);
  // insert(), except that a message whose job and sequence are already recorded is not recorded
  // again: its id comes back with duplicate = true.
  Result<RecordedMessage> record(const StatusMessage& message);
  // Messages not yet processed, oldest first, at most `limit` (> 0).
  Result<std::vector<StatusMessage>> listUnprocessed(int limit);
  // Stamps processed_at with the Database's clock. NotFound if there is no such message.
  Status markProcessed(std::int64_t id);
  // The highest sequence among the processed messages of `job_id`; 0 if none.
  Result<std::uint64_t> lastProcessedSequence(std::int64_t job_id);
  // When the last message of `job_id` was received; nullopt if none.
  Result<std::optional<Timestamp>> lastReceivedAt(std::int64_t job_id);
  // Oldest first.
  Result<std::vector<StatusMessage>> list(const StatusMessageFilter& filter = {});

 private:
  Database& db_;
};

}  // namespace pkgxfer::store
