#include "pkgxfer/transport/rate_limiter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "fakes/fake_clock.h"

namespace pkgxfer::transport {
namespace {

using config::RateLimit;
using config::RateLimitMode;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using testing::FakeClock;
using Wait = RateLimiter::Wait;

// 2026-01-05 00:00 UTC (a Monday), a whole number of slices.
Clock::SystemTime start() {
  return Clock::SystemTime(std::chrono::sys_days(std::chrono::year(2026) / 1 / 5));
}

RateLimit maxRate(std::uint64_t bps) {
  RateLimit limit;
  limit.mode = RateLimitMode::MaxRate;
  limit.bytes_per_second.fill(bps);
  return limit;
}

TEST(RateLimiterTest, UnlimitedNeverWaits) {
  FakeClock clock(start());
  RateLimiter limiter(RateLimit{}, TimeZone::utc(), clock);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(limiter.acquire(1 << 20), Wait::zero());
  }
  EXPECT_EQ(limiter.blockSize(1 << 20), 1u << 20);
}

TEST(RateLimiterTest, PulseIsOneBlockPerDelayForTheWholeDp) {
  FakeClock clock(start());
  RateLimit limit;
  limit.mode = RateLimitMode::Pulse;
  limit.block_size = 64 * 1024;
  limit.delay = seconds(2);
  RateLimiter limiter(limit, TimeZone::utc(), clock);
  EXPECT_EQ(limiter.blockSize(1 << 20), 64u * 1024);
  EXPECT_EQ(limiter.blockSize(1000), 1000u);
  // Three connections ask at once: they are spaced one delay apart.
  EXPECT_EQ(limiter.acquire(65536), Wait::zero());
  EXPECT_EQ(limiter.acquire(65536), seconds(2));
  EXPECT_EQ(limiter.acquire(65536), seconds(4));
  clock.advance(seconds(5));  // the third block started at 4 s; the next may start at 6 s
  EXPECT_EQ(limiter.acquire(65536), seconds(1));
  clock.advance(seconds(60));  // idle time does not accumulate pulses
  EXPECT_EQ(limiter.acquire(65536), Wait::zero());
  // An oversized request costs two pulses.
  EXPECT_EQ(limiter.acquire(65537), seconds(2));
  EXPECT_EQ(limiter.acquire(1), seconds(6));
}

TEST(RateLimiterTest, PulseIsThreadSafe) {
  FakeClock clock(start());
  RateLimit limit;
  limit.mode = RateLimitMode::Pulse;
  limit.block_size = 1024;
  limit.delay = seconds(1);
  RateLimiter limiter(limit, TimeZone::utc(), clock);
  constexpr int kThreads = 4, kEach = 250;
  std::vector<std::vector<Wait>> waits(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) waits[t].push_back(limiter.acquire(1024));
    });
  }
  for (auto& t : threads) t.join();
  std::vector<Wait> all;
  for (auto& w : waits) all.insert(all.end(), w.begin(), w.end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i < kThreads * kEach; ++i) {
    ASSERT_EQ(all[i], seconds(i));  // every slot handed out exactly once
  }
}

TEST(RateLimiterTest, LimitedOpensThePercentOfEachSlice) {
  FakeClock clock(start());
  RateLimit limit;
  limit.mode = RateLimitMode::Limited;
  limit.percent.fill(40);
  RateLimiter limiter(limit, TimeZone::utc(), clock);
  EXPECT_EQ(limiter.acquire(65536), Wait::zero());
  clock.advance(milliseconds(3999));
  EXPECT_EQ(limiter.acquire(65536), Wait::zero());
  clock.advance(milliseconds(1));
  EXPECT_EQ(limiter.acquire(65536), seconds(6));
  clock.advance(seconds(5));
  EXPECT_EQ(limiter.acquire(65536), seconds(1));
}

TEST(RateLimiterTest, LimitedDutyCycleOverTenMinutes) {
  for (int percent : {1, 25, 50, 90}) {
    SCOPED_TRACE(percent);
    FakeClock clock(start());
    RateLimit limit;
    limit.mode = RateLimitMode::Limited;
    limit.percent.fill(percent);
    RateLimiter limiter(limit, TimeZone::utc(), clock);
    // One sender whose blocks take 10 ms each: the time spent sending is the duty cycle.
    const auto block_time = milliseconds(10);
    nanoseconds sending{0};
    const auto end = clock.steadyNow() + std::chrono::minutes(10);
    while (clock.steadyNow() < end) {
      const Wait w = limiter.acquire(65536);
      if (w > Wait::zero()) {
        clock.advance(w);
        continue;
      }
      clock.advance(block_time);
      sending += block_time;
    }
    const double duty = std::chrono::duration<double>(sending).count() / 600.0;
    EXPECT_NEAR(duty, percent / 100.0, 0.0011 + 0.01 / 10);  // ± one block per slice
  }
}

TEST(RateLimiterTest, LimitedPercentChangesAtTheLocalHour) {
  // Berlin in January is UTC+1: local 06:00 is 05:00 UTC.
  Result<TimeZone> berlin = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  FakeClock clock(start() + hours(4) + seconds(59 * 60 + 55));  // 05:59:55 local, slice half open
  RateLimit limit;
  limit.mode = RateLimitMode::Limited;
  limit.percent.fill(100);
  limit.percent[5] = 10;
  RateLimiter limiter(limit, *berlin, clock);
  EXPECT_EQ(limiter.acquire(1), seconds(5));  // 10% of 10 s is 1 s; 5 s into the slice
  clock.advance(seconds(5));
  EXPECT_EQ(limiter.acquire(1), Wait::zero());
  clock.advance(seconds(9));  // local 06:00:09: 100%
  EXPECT_EQ(limiter.acquire(1), Wait::zero());
}

// Consumers that each send `block` bytes whenever the limiter lets them, sending taking no time
// (ties go to the one that waited longest, as with real connections whose sends take time);
// returns the simulated time at which the last byte was granted and the bytes each one sent.
struct SimResult {
  nanoseconds finish{0};
  std::vector<std::uint64_t> sent;
};
SimResult simulate(RateLimiter& limiter, FakeClock& clock, int consumers, std::uint64_t block,
                   std::uint64_t total) {
  const auto t0 = clock.steadyNow();
  std::vector<std::pair<Clock::SteadyTime, std::uint64_t>> ready;  // (ready at, turn)
  for (int i = 0; i < consumers; ++i) ready.emplace_back(t0, i);
  std::uint64_t turn = consumers;
  SimResult r;
  r.sent.assign(consumers, 0);
  std::uint64_t granted = 0;
  while (granted < total) {
    const auto next = std::min_element(ready.begin(), ready.end());
    if (next->first > clock.steadyNow()) clock.advance(next->first - clock.steadyNow());
    const std::uint64_t n = std::min(block, total - granted);
    const Wait w = limiter.acquire(n);
    granted += n;
    r.sent[next - ready.begin()] += n;
    *next = {clock.steadyNow() + w, turn++};
    r.finish = std::max(r.finish, next->first - t0);
  }
  return r;
}

TEST(RateLimiterTest, MaxRateSharedByThreeConsumers) {
  FakeClock clock(start());
  constexpr std::uint64_t kRate = 2'000'000, kBlock = 64 * 1024, kTotal = 6'000'000;
  RateLimiter limiter(maxRate(kRate), TimeZone::utc(), clock);
  const SimResult r = simulate(limiter, clock, 3, kBlock, kTotal);
  // 6 MB at 2 MB/s is 3 s, less the initial burst of 200 KB (100 ms); ± one block.
  const double finish = std::chrono::duration<double>(r.finish).count();
  const double block_time = double(kBlock) / kRate;
  EXPECT_GE(finish, 3.0 - 0.1 - block_time);
  EXPECT_LE(finish, 3.0 + block_time);
  const auto [lo, hi] = std::minmax_element(r.sent.begin(), r.sent.end());
  EXPECT_LE(*hi - *lo, kBlock);  // fair within one block
}

TEST(RateLimiterTest, MaxRateFairAmongManyConsumers) {
  FakeClock clock(start());
  constexpr std::uint64_t kRate = 10'000'000, kBlock = 32 * 1024;
  RateLimiter limiter(maxRate(kRate), TimeZone::utc(), clock);
  const SimResult r = simulate(limiter, clock, 15, kBlock, 100 * kRate);
  const auto [lo, hi] = std::minmax_element(r.sent.begin(), r.sent.end());
  EXPECT_LE(*hi - *lo, kBlock);
  EXPECT_NEAR(std::chrono::duration<double>(r.finish).count(), 100.0 - 0.1, 0.01);
}

TEST(RateLimiterTest, MaxRateBurstIsBounded) {
  FakeClock clock(start());
  RateLimiter limiter(maxRate(2'000'000), TimeZone::utc(), clock);  // burst 200 KB
  EXPECT_EQ(limiter.acquire(200'000), Wait::zero());
  EXPECT_EQ(limiter.acquire(100'000), milliseconds(50));
  clock.advance(seconds(60));  // a long idle period refills only the burst
  EXPECT_EQ(limiter.acquire(200'000), Wait::zero());
  EXPECT_EQ(limiter.acquire(2'000), milliseconds(1));
  // Refund gives back what was not sent.
  limiter.refund(2'000);
  EXPECT_EQ(limiter.acquire(2'000), milliseconds(1));

  // A high rate caps the burst at 1 MiB.
  FakeClock clock2(start());
  RateLimiter fast(maxRate(100'000'000), TimeZone::utc(), clock2);
  EXPECT_EQ(fast.acquire(1 << 20), Wait::zero());
  EXPECT_GT(fast.acquire(1), Wait::zero());
}

TEST(RateLimiterTest, MaxRateAcceptsBlocksLargerThanTheBurst) {
  FakeClock clock(start());
  RateLimiter limiter(maxRate(1'000), TimeZone::utc(), clock);  // burst 100 B
  EXPECT_EQ(limiter.acquire(1'100), seconds(1));
  EXPECT_EQ(limiter.acquire(1'000), seconds(2));
}

TEST(RateLimiterTest, MaxRateChangesAtTheHour) {
  // 05:59:59 UTC: hour 5 is 1 MB/s, hour 6 unlimited, hour 7 100 KB/s.
  FakeClock clock(start() + hours(5) + seconds(59 * 60 + 59));
  RateLimit limit = maxRate(1'000'000);
  limit.bytes_per_second[6] = 0;
  limit.bytes_per_second[7] = 100'000;
  RateLimiter limiter(limit, TimeZone::utc(), clock);
  EXPECT_EQ(limiter.acquire(100'000), Wait::zero());  // the burst
  EXPECT_EQ(limiter.acquire(500'000), milliseconds(500));
  clock.advance(seconds(1));  // 06:00:00, unlimited: the debt is forgiven
  EXPECT_EQ(limiter.acquire(50'000'000), Wait::zero());
  clock.advance(hours(1));  // 07:00:00, 100 KB/s with a fresh 10 KB burst
  EXPECT_EQ(limiter.acquire(10'000), Wait::zero());
  EXPECT_EQ(limiter.acquire(100'000), seconds(1));
  clock.advance(hours(23));  // 06:00 next day, then back to 07:00 and 1 MB/s at 05:00
  EXPECT_EQ(limiter.acquire(1), Wait::zero());
}

TEST(RateLimiterTest, MaxRateLowerRateShrinksTheBucket) {
  FakeClock clock(start() + hours(5) + seconds(59 * 60));  // 05:59:00
  RateLimit limit = maxRate(10'000'000);                   // burst 1 MB
  limit.bytes_per_second[6] = 10'000;                      // burst 1 KB
  RateLimiter limiter(limit, TimeZone::utc(), clock);
  EXPECT_EQ(limiter.acquire(1), Wait::zero());
  clock.advance(seconds(60));  // a full 1 MB bucket at 06:00 is cut to 1 KB
  EXPECT_EQ(limiter.acquire(1'000), Wait::zero());
  EXPECT_EQ(limiter.acquire(10'000), seconds(1));
}

}  // namespace
}  // namespace pkgxfer::transport
