#pragma once

// A component's poll loop on its strand. arm() waits `interval`, then asks `due()`: if it says so
// the component's `poll()` runs (and arms again when it is done), otherwise the timer waits again.
// So a component wakes often and cheaply (e.g. store::ChangeWatch: one PRAGMA per wake) and reads
// its queues only when there is news. One wait at a time: arming again cancels the pending wait.
// After cancel() nothing runs and arm() does nothing. Use it on the strand it was made with
// (wakeNow() excepted).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <iterator>
#include <utility>

namespace pkgxfer::host {

class PollTimer {
 public:
  PollTimer(boost::asio::any_io_executor strand, std::chrono::milliseconds interval,
            std::function<bool()> due, std::function<void()> poll)
      : recheck_(strand),
        timer_(std::move(strand)),
        interval_(interval),
        due_(std::move(due)),
        poll_(std::move(poll)) {}

  void arm() { arm(interval_); }
  // The same, after `interval` instead of the usual one (e.g. longer while the component is idle).
  void arm(std::chrono::milliseconds interval) {
    if (cancelled_) return;
    timer_.expires_after(interval);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || cancelled_) return;
      if (due_()) {
        poll_();
      } else {
        arm();
      }
    });
  }

  // Runs poll() now instead of at the next wake (e.g. another component of the process just gave
  // this one work). Thread-safe: the poll runs on the timer's strand.
  void wakeNow() {
    boost::asio::post(timer_.get_executor(), [this] {
      if (!cancelled_) pollNow();
    });
  }

  // Something may have changed (a file watch fired): polls now if due() says so, and otherwise
  // asks due() again a few times over the next second, in case the change was seen a moment before
  // it became visible (a SQLite writer's log frames are written before its commit is published in
  // the shared index). Does not touch the regular wait. On the strand.
  void nudge() {
    if (cancelled_) return;
    if (due_()) return pollNow();
    rechecks_ = 0;
    recheck();
  }

  void cancel() {
    cancelled_ = true;
    timer_.cancel();
    recheck_.cancel();
  }

 private:
  void pollNow() {
    recheck_.cancel();
    timer_.cancel();  // the pending wait ends without polling; poll() arms again
    poll_();
  }

  void recheck() {
    static constexpr std::chrono::milliseconds kDelays[] = {
        std::chrono::milliseconds(1), std::chrono::milliseconds(10), std::chrono::milliseconds(100),
        std::chrono::milliseconds(1000)};
    if (rechecks_ >= std::size(kDelays)) return;
    recheck_.expires_after(kDelays[rechecks_++]);
    recheck_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || cancelled_) return;
      if (due_()) return pollNow();
      recheck();
    });
  }

  boost::asio::steady_timer recheck_;
  std::size_t rechecks_ = 0;
  boost::asio::steady_timer timer_;
  const std::chrono::milliseconds interval_;
  const std::function<bool()> due_;
  const std::function<void()> poll_;
  bool cancelled_ = false;
};

}  // namespace pkgxfer::host
