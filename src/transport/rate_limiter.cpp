#include "pkgxfer/transport/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace pkgxfer::transport {
namespace {

double burstFor(std::uint64_t rate) {
  const double window = std::chrono::duration<double>(RateLimiter::kBurstWindow).count();
  return std::max(1.0, std::min(static_cast<double>(rate) * window,
                                static_cast<double>(RateLimiter::kMaxBurst)));
}

RateLimiter::Wait secondsToWait(double seconds) {
  return std::chrono::duration_cast<RateLimiter::Wait>(
      std::chrono::duration<double>(std::ceil(seconds * 1e9) / 1e9));
}

}  // namespace

RateLimiter::RateLimiter(const config::RateLimit& limit, TimeZone zone, const Clock& clock)
    : limit_(limit), zone_(std::move(zone)), clock_(clock) {}

std::uint64_t RateLimiter::blockSize(std::uint64_t preferred) const {
  if (limit_.mode == config::RateLimitMode::Pulse) {
    return std::max<std::uint64_t>(1, std::min(preferred, limit_.block_size));
  }
  return preferred;
}

RateLimiter::Wait RateLimiter::acquire(std::uint64_t bytes) {
  if (bytes == 0 || limit_.mode == config::RateLimitMode::Unlimited) {
    return Wait::zero();
  }
  const Clock::SteadyTime now = clock_.steadyNow();
  std::lock_guard<std::mutex> lock(mu_);
  switch (limit_.mode) {
    case config::RateLimitMode::Unlimited:
      return Wait::zero();
    case config::RateLimitMode::Pulse:
      return acquirePulse(bytes, now);
    case config::RateLimitMode::Limited:
      return acquireLimited(clock_.systemNow());
    case config::RateLimitMode::MaxRate:
      return acquireMaxRate(bytes, now, clock_.systemNow());
  }
  return Wait::zero();
}

void RateLimiter::refund(std::uint64_t bytes) {
  if (limit_.mode != config::RateLimitMode::MaxRate) {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (rate_ == 0) {
    return;
  }
  tokens_ = std::min(tokens_ + static_cast<double>(bytes), burstFor(rate_));
}

RateLimiter::Wait RateLimiter::acquirePulse(std::uint64_t bytes, Clock::SteadyTime now) {
  const std::uint64_t block = std::max<std::uint64_t>(1, limit_.block_size);
  const std::uint64_t pulses = (bytes + block - 1) / block;
  const Clock::SteadyTime start = std::max(now, next_pulse_);
  next_pulse_ = start + std::chrono::duration_cast<Clock::SteadyTime::duration>(limit_.delay) *
                            static_cast<std::int64_t>(pulses);
  return start - now;
}

RateLimiter::Wait RateLimiter::acquireLimited(Clock::SystemTime now_sys) {
  const int percent = std::clamp(limit_.percent[zone_.localTime(now_sys).hour], 1, 100);
  if (percent >= 100) {
    return Wait::zero();
  }
  const Wait slice = kSliceLength;
  Wait into = now_sys.time_since_epoch() % slice;
  if (into < Wait::zero()) {
    into += slice;  // instants before 1970
  }
  const Wait open = slice * percent / 100;
  if (into < open) {
    return Wait::zero();
  }
  return slice - into;  // the next slice opens at its start, whatever the hour's percent
}

RateLimiter::Wait RateLimiter::acquireMaxRate(std::uint64_t bytes, Clock::SteadyTime now,
                                              Clock::SystemTime now_sys) {
  const std::uint64_t rate = limit_.bytes_per_second[zone_.localTime(now_sys).hour];
  if (rate_ != 0) {
    // Refill for the time since the last call at the rate that was in effect then.
    const double elapsed = std::chrono::duration<double>(now - last_refill_).count();
    tokens_ =
        std::min(tokens_ + std::max(0.0, elapsed) * static_cast<double>(rate_), burstFor(rate_));
  }
  last_refill_ = now;
  if (rate == 0) {
    rate_ = 0;  // an unlimited hour: no bucket; debt is forgiven
    return Wait::zero();
  }
  if (rate_ == 0) {
    tokens_ = burstFor(rate);  // entering a limited hour (or the first call): a full bucket
  }
  rate_ = rate;
  tokens_ = std::min(tokens_, burstFor(rate));  // the burst shrinks with a lower rate
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) {
    return Wait::zero();
  }
  return secondsToWait(-tokens_ / static_cast<double>(rate));
}

}  // namespace pkgxfer::transport
