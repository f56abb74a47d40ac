#pragma once

// The request queue between the admin CLI and the service (SPEC §5: "the database is the queue").
// The CLI enqueues; the distribution manager claims, acts, and completes or rejects.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/types.h"

namespace pkgxfer::store {

struct RequestRow {
  std::int64_t id = 0;  // increasing; never reused
  RequestKind kind = RequestKind::Distribute;
  std::string package_id;
  std::string dp;
  RequestState state = RequestState::Pending;
  Timestamp created_at{};
  std::optional<Timestamp> picked_at;    // set once claimed
  std::optional<Timestamp> finished_at;  // set when done or rejected
  std::string error;                     // why it was rejected; "" otherwise
};

// Not thread-safe: use it where its Database is used. The Database must outlive it. Several
// processes may use the queue at once, each with its own Database: claiming is atomic, so each
// request is claimed by exactly one of them.
class RequestRepository {
 public:
  explicit RequestRepository(Database& db) : db_(db) {}

  // Queues one request and returns its id. NotFound if the package does not exist or the DP is
  // not configured (unknown, or removed from the config).
  Result<std::int64_t> enqueue(RequestKind kind, std::string_view package_id, std::string_view dp);
  // Queues one request per DP, all or none (e.g. `distribute PS100001 --dp dp01 --dp dp02`).
  Result<std::vector<std::int64_t>> enqueue(RequestKind kind, std::string_view package_id,
                                            const std::vector<std::string>& dps);

  // Marks up to `limit` (> 0) pending requests taken, oldest first, in one transaction, and
  // returns them in id order.
  Result<std::vector<RequestRow>> claimPending(int limit);
  // taken → done. NotFound (no such request) or InvalidArgument (not taken).
  Status complete(std::int64_t id);
  // taken → rejected with `error` (e.g. "package PS100001 has no content"). Errors as complete().
  Status reject(std::int64_t id, std::string_view error);
  // taken → pending for every request, returning how many: for the service's start, when a
  // previous run died between claiming requests and completing them.
  Result<int> releaseTaken();

  // NotFound if there is no such request.
  Result<RequestRow> get(std::int64_t id);
  // By id; only those in `state` if given.
  Result<std::vector<RequestRow>> list(std::optional<RequestState> state = std::nullopt);

 private:
  Status finish(std::int64_t id, RequestState state, std::string_view error);
  Database& db_;
};

}  // namespace pkgxfer::store
