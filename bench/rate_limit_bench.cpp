// pkgxfer_rate_limit_bench: drives one transport::RateLimiter (real SystemClock) from N sender
// threads so that bench/rate_limit_bench.sh can compare its accuracy with `rsync --bwlimit` and
// `curl --limit-rate` in the same run (docs/performance.md, "Rate limits").
//
//   pkgxfer_rate_limit_bench maxrate BYTES_PER_SECOND SENDERS SECONDS DIR
//   pkgxfer_rate_limit_bench paced BYTES_PER_SECOND SENDERS SECONDS DIR     (no limiter: each
//       sender sleeps until its own next slot at rate/SENDERS; the CPU baseline for `maxrate`)
//   pkgxfer_rate_limit_bench pulse BLOCK_BYTES DELAY_MS SENDERS SECONDS DIR
//
// Each sender loops: n = blockSize(64 KiB); wait = acquire(n); if the block would start after the
// window, refund(n) and stop; sleep_for(wait); pwrite the block into its own file DIR/senderK.bin
// (offsets cycle over 16 MiB, so the data stays in the page cache and the disk is not measured).
// Prints one line of key=value results on stdout. Exit code 2 on bad arguments, 1 on I/O errors.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/transport/rate_limiter.h"
#include "pkgxfer/transport/time_zone.h"

namespace {

using Steady = std::chrono::steady_clock;
using pkgxfer::transport::RateLimiter;

constexpr std::uint64_t kPreferredBlock = 64 * 1024;
constexpr std::uint64_t kFileSpan = 16 * 1024 * 1024;
// The "steady" rate leaves out the first second (the bucket starts full: one burst of
// min(rate × 100 ms, 1 MiB) is sent at once).
constexpr double kWarmup = 1.0;

int usage() {
  std::fprintf(stderr,
               "usage: pkgxfer_rate_limit_bench maxrate BYTES_PER_SECOND SENDERS SECONDS DIR\n"
               "       pkgxfer_rate_limit_bench paced BYTES_PER_SECOND SENDERS SECONDS DIR\n"
               "       pkgxfer_rate_limit_bench pulse BLOCK_BYTES DELAY_MS SENDERS SECONDS DIR\n");
  return 2;
}

double seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

struct Block {
  Steady::time_point start;  // after the wait, just before the write
  std::uint64_t bytes;
};

struct SenderResult {
  std::vector<Block> blocks;
  std::uint64_t acquires = 0;
  Steady::duration in_acquire{};
  bool io_error = false;
};

enum class Mode { MaxRate, Paced, Pulse };

// One sender thread. `limiter` is null in Paced mode (then `paced_rate` is this sender's share).
void sender(int index, const std::string& dir, RateLimiter* limiter, double paced_rate,
            Steady::time_point begin, Steady::time_point deadline, SenderResult& out) {
  const std::string file = dir + "/sender" + std::to_string(index) + ".bin";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    out.io_error = true;
    return;
  }
  std::vector<char> buf(kPreferredBlock, static_cast<char>('a' + index % 26));
  std::uint64_t offset = 0;
  Steady::time_point next_slot = begin;
  out.blocks.reserve(1 << 16);
  while (true) {
    const Steady::time_point now = Steady::now();
    if (now >= deadline) break;
    std::uint64_t n = kPreferredBlock;
    if (limiter != nullptr) {
      n = limiter->blockSize(kPreferredBlock);
      const Steady::time_point t0 = Steady::now();
      const RateLimiter::Wait wait = limiter->acquire(n);
      const Steady::time_point t1 = Steady::now();
      out.in_acquire += t1 - t0;
      ++out.acquires;
      if (t1 + wait >= deadline) {
        limiter->refund(n);
        break;
      }
      if (wait > RateLimiter::Wait::zero()) std::this_thread::sleep_for(wait);
    } else {
      if (next_slot >= deadline) break;
      std::this_thread::sleep_until(next_slot);
      next_slot += std::chrono::duration_cast<Steady::duration>(
          std::chrono::duration<double>(static_cast<double>(n) / paced_rate));
    }
    const Steady::time_point start = Steady::now();
    if (::pwrite(fd, buf.data(), n, static_cast<off_t>(offset)) != static_cast<ssize_t>(n)) {
      out.io_error = true;
      break;
    }
    offset = (offset + n) % kFileSpan;
    out.blocks.push_back({start, n});
  }
  ::close(fd);
  ::unlink(file.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode_name = argv[1];
  Mode mode;
  pkgxfer::config::RateLimit limit;
  double rate = 0;
  int senders = 0;
  double window = 0;
  std::string dir;
  if ((mode_name == "maxrate" || mode_name == "paced") && argc == 6) {
    mode = mode_name == "maxrate" ? Mode::MaxRate : Mode::Paced;
    rate = std::strtod(argv[2], nullptr);
    senders = std::atoi(argv[3]);
    window = std::strtod(argv[4], nullptr);
    dir = argv[5];
    limit.mode = pkgxfer::config::RateLimitMode::MaxRate;
    limit.bytes_per_second.fill(static_cast<std::uint64_t>(rate));
  } else if (mode_name == "pulse" && argc == 7) {
    mode = Mode::Pulse;
    limit.mode = pkgxfer::config::RateLimitMode::Pulse;
    limit.block_size = std::strtoull(argv[2], nullptr, 10);
    limit.delay = std::chrono::milliseconds(std::atoll(argv[3]));
    senders = std::atoi(argv[4]);
    window = std::strtod(argv[5], nullptr);
    dir = argv[6];
  } else {
    return usage();
  }
  if (senders < 1 || window <= kWarmup || (mode != Mode::Pulse && rate <= 0)) return usage();

  RateLimiter limiter(limit, pkgxfer::transport::TimeZone::utc(), pkgxfer::SystemClock::instance());
  std::vector<SenderResult> results(senders);
  std::vector<std::thread> threads;
  const double cpu0 = cpuSeconds();
  const Steady::time_point begin = Steady::now();
  const Steady::time_point deadline =
      begin + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(window));
  for (int i = 0; i < senders; ++i) {
    threads.emplace_back(sender, i, std::cref(dir), mode == Mode::Paced ? nullptr : &limiter,
                         rate / senders, begin, deadline, std::ref(results[i]));
  }
  for (auto& t : threads) t.join();
  const double elapsed = seconds(Steady::now() - begin);
  const double cpu = cpuSeconds() - cpu0;

  std::vector<Block> all;
  std::uint64_t acquires = 0;
  Steady::duration in_acquire{};
  for (const auto& r : results) {
    if (r.io_error) {
      std::fprintf(stderr, "write error under %s\n", dir.c_str());
      return 1;
    }
    all.insert(all.end(), r.blocks.begin(), r.blocks.end());
    acquires += r.acquires;
    in_acquire += r.in_acquire;
  }
  std::sort(all.begin(), all.end(),
            [](const Block& a, const Block& b) { return a.start < b.start; });
  std::uint64_t total = 0;
  std::uint64_t steady_bytes = 0;
  for (const auto& b : all) {
    total += b.bytes;
    if (seconds(b.start - begin) >= kWarmup) steady_bytes += b.bytes;
  }
  const double cpu_pct = 100.0 * cpu / window;
  const double acquire_pct = 100.0 * seconds(in_acquire) / window;
  const double acquire_ns = acquires ? 1e9 * seconds(in_acquire) / acquires : 0;

  if (mode != Mode::Pulse) {
    const double achieved = static_cast<double>(total) / window;
    const double steady = static_cast<double>(steady_bytes) / (window - kWarmup);
    std::printf(
        "mode=%s limit=%.0f senders=%d window=%.1f elapsed=%.2f bytes=%llu blocks=%zu "
        "achieved=%.0f err_pct=%+.2f steady=%.0f steady_err_pct=%+.2f cpu_pct=%.2f "
        "acquires=%llu acquire_pct=%.4f acquire_ns=%.0f\n",
        mode_name.c_str(), rate, senders, window, elapsed, static_cast<unsigned long long>(total),
        all.size(), achieved, 100.0 * (achieved / rate - 1), steady, 100.0 * (steady / rate - 1),
        cpu_pct, static_cast<unsigned long long>(acquires), acquire_pct, acquire_ns);
    return 0;
  }

  // Pulse: intervals between consecutive block starts (any sender) against `delay`.
  const double delay = seconds(limit.delay);
  double min_gap = 1e9, max_gap = 0, sum_gap = 0, max_dev = 0;
  std::uint64_t min_block = ~0ull, max_block = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    min_block = std::min(min_block, all[i].bytes);
    max_block = std::max(max_block, all[i].bytes);
    if (i == 0) continue;
    const double gap = seconds(all[i].start - all[i - 1].start);
    min_gap = std::min(min_gap, gap);
    max_gap = std::max(max_gap, gap);
    sum_gap += gap;
    max_dev = std::max(max_dev, std::abs(gap / delay - 1));
  }
  const std::size_t gaps = all.size() > 1 ? all.size() - 1 : 0;
  const double expected_blocks = std::floor(window / delay);
  std::printf(
      "mode=pulse block=%llu delay=%.3f senders=%d window=%.1f blocks=%zu expected_blocks=%.0f "
      "block_min=%llu block_max=%llu gap_mean=%.4f gap_min=%.4f gap_max=%.4f "
      "gap_max_dev_pct=%.2f cpu_pct=%.2f acquires=%llu acquire_ns=%.0f\n",
      static_cast<unsigned long long>(limit.block_size), delay, senders, window, all.size(),
      expected_blocks, static_cast<unsigned long long>(min_block),
      static_cast<unsigned long long>(max_block), gaps ? sum_gap / gaps : 0.0, gaps ? min_gap : 0.0,
      max_gap, 100.0 * max_dev, cpu_pct, static_cast<unsigned long long>(acquires), acquire_ns);
  return 0;
}
