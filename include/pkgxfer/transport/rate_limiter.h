#pragma once

// RateLimiter: a DP's rate limit (SPEC §4 `rate_limit`), shared by every transfer to that DP.
// Pure policy: it never sleeps; it tells the caller how long to wait.

#include <chrono>
#include <cstdint>
#include <mutex>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/transport/time_zone.h"

namespace pkgxfer::transport {

// One per DP; every connection to the DP calls acquire() before each block it sends, waits the
// returned time (on a timer, not a thread), then sends the block without asking again. A grant is a
// reservation: the bytes count against the limit whether or not they are sent, so a caller that
// gives up a granted block (window closed, stop) calls refund().
//
// Modes (the hourly settings are read in `zone` at each acquire, so a limit changes at the local
// hour boundary without restarting transfers):
//   - Unlimited: always 0.
//   - Pulse: one block of at most block_size per `delay`, start to start, for the DP as a whole
//     (not per connection). A request larger than block_size counts as ceil(bytes/block_size)
//     pulses; callers should size blocks with blockSize().
//   - Limited: time slicing. Time is cut into kSliceLength slices aligned on the UTC second count
//     (so also on local hours); in each slice sending may start during the first p% of it, where p
//     is the current local hour's percent. A block started near the end of the open part may run
//     past it by at most one block per connection.
//   - MaxRate: a token bucket holding at most burst = max(min(rate × 100 ms, 1 MiB), 1 byte) with
//     rate = bytes_per_second[local hour] (0 = unlimited for that hour). Requests are served in
//     arrival order: the bucket may go into debt, and each caller waits for the debt ahead of it
//     plus its own bytes, which shares the rate evenly among connections that keep asking.
//
// Thread-safe: any number of connections may call concurrently (one mutex, O(1) work inside).
class RateLimiter {
 public:
  using Wait = std::chrono::nanoseconds;

  // 10 s: ConfigMgr documents only "sends for a short period then pauses" (50% = equal send and
  // idle periods). 10 s keeps 1% (100 ms) above a block's send time on a LAN while idle gaps stay
  // short enough for other traffic to notice the limit within seconds; 360 slices fit an hour.
  static constexpr std::chrono::seconds kSliceLength{10};
  static constexpr std::chrono::milliseconds kBurstWindow{100};
  static constexpr std::uint64_t kMaxBurst = 1ull << 20;

  // `clock` must outlive the limiter. `limit` is taken as loaded (ranges already checked).
  RateLimiter(const config::RateLimit& limit, TimeZone zone, const Clock& clock);

  // Reserves `bytes` (> 0) and returns how long to wait before sending them; 0 = send now.
  Wait acquire(std::uint64_t bytes);
  // Returns bytes granted by acquire() but not sent. Effective in MaxRate mode (the tokens go
  // back, up to the burst); a no-op in the other modes, which stay conservative.
  void refund(std::uint64_t bytes);
  // The block size a sender should use given the size it would like: pulse mode caps it at
  // block_size; the other modes return `preferred`.
  std::uint64_t blockSize(std::uint64_t preferred) const;

  config::RateLimitMode mode() const { return limit_.mode; }

 private:
  Wait acquirePulse(std::uint64_t bytes, Clock::SteadyTime now);
  Wait acquireLimited(Clock::SystemTime now_sys);
  Wait acquireMaxRate(std::uint64_t bytes, Clock::SteadyTime now, Clock::SystemTime now_sys);

  const config::RateLimit limit_;
  const TimeZone zone_;
  const Clock& clock_;

  std::mutex mu_;
  // Pulse: the earliest start of the next pulse.
  Clock::SteadyTime next_pulse_;  // guarded by mu_
  // MaxRate: tokens in bytes (negative = debt), last refill, rate in effect since then (0 = none).
  double tokens_ = 0;              // guarded by mu_
  Clock::SteadyTime last_refill_;  // guarded by mu_
  std::uint64_t rate_ = 0;         // guarded by mu_
};

}  // namespace pkgxfer::transport
