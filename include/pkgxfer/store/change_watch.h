#pragma once

// When a component that polls the site database should read its queue again: when another
// connection committed since its last read (PRAGMA data_version: the CLI queued a request, the
// other component created or superseded a job), or when `period` passed since then (for work that
// is due by time: retries, schedule windows). A component's timer wakes often (every few tens of
// milliseconds) and asks; an idle service costs one cheap PRAGMA per wake. Not thread-safe: use it
// on the component's strand.

#include <chrono>
#include <cstdint>

#include "pkgxfer/store/database.h"

namespace pkgxfer::store {

class ChangeWatch {
 public:
  ChangeWatch(Database& db, std::chrono::steady_clock::duration period);

  // True if the queue should be read now. If data_version cannot be read, only the periodic read
  // runs (and reports the database error), so a broken database is not logged at every wake.
  bool due();
  // From now on the queue is due after `period` without changes (e.g. longer while nothing is
  // due by time).
  void setPeriod(std::chrono::steady_clock::duration period) { period_ = period; }
  // Call just before reading the queue. The version is taken before the reads: a commit that lands
  // while they run moves it again and is read at the next wake.
  void reading();

 private:
  Database& db_;
  std::chrono::steady_clock::duration period_;
  std::chrono::steady_clock::time_point last_read_{};
  std::int64_t version_ = 0;
};

}  // namespace pkgxfer::store
