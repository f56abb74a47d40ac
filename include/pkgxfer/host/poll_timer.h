#pragma once

// A component's poll loop on its strand. arm() waits `interval`, then asks `due()`: if it says so
// the component's `poll()` runs (and arms again when it is done), otherwise the timer waits again.
// So a component wakes often and cheaply (e.g. store::ChangeWatch: one PRAGMA per wake) and reads
// its queues only when there is news. One wait at a time: arming again cancels the pending wait.
// After cancel() nothing runs and arm() does nothing. Use it on the strand it was made with.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <utility>

namespace pkgxfer::host {

class PollTimer {
 public:
  PollTimer(boost::asio::any_io_executor strand, std::chrono::milliseconds interval,
            std::function<bool()> due, std::function<void()> poll)
      : timer_(std::move(strand)),
        interval_(interval),
        due_(std::move(due)),
        poll_(std::move(poll)) {}

  void arm() {
    if (cancelled_) return;
    timer_.expires_after(interval_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || cancelled_) return;
      if (due_()) {
        poll_();
      } else {
        arm();
      }
    });
  }

  void cancel() {
    cancelled_ = true;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  const std::chrono::milliseconds interval_;
  const std::function<bool()> due_;
  const std::function<void()> poll_;
  bool cancelled_ = false;
};

}  // namespace pkgxfer::host
