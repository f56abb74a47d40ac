#include "pkgxfer/host/poll_timer.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <thread>

#include "pkgxfer/host/signals.h"

namespace pkgxfer::host {
namespace {

using namespace std::chrono_literals;

TEST(PollTimerTest, PollsOnlyWhenDueAndStopsWhenCancelled) {
  boost::asio::io_context io;
  int asked = 0;
  int polls = 0;
  PollTimer* self = nullptr;
  PollTimer timer(
      io.get_executor(), 1ms, [&] { return ++asked % 3 == 0; },  // news at every third wake
      [&] {
        if (++polls == 2) {
          self->cancel();
        } else {
          self->arm();  // a poll arms again when it is done
        }
      });
  self = &timer;
  timer.arm();
  io.run_for(5s);  // returns as soon as nothing is pending: after the cancel
  EXPECT_EQ(polls, 2);
  EXPECT_EQ(asked, 6);
  timer.arm();  // cancelled: nothing is scheduled
  io.restart();
  EXPECT_EQ(io.run_for(50ms), 0u);
}

TEST(PollTimerTest, ArmingAgainReplacesThePendingWait) {
  boost::asio::io_context io;
  int polls = 0;
  PollTimer timer(
      io.get_executor(), 1ms, [] { return true; }, [&] { ++polls; });
  timer.arm();
  timer.arm();  // e.g. poll() called early (a job ended) while a wait was pending
  io.run_for(5s);
  EXPECT_EQ(polls, 1);
}

// Verifies wakeNow(): the poll runs at once instead of at the end of a long wait, from another
// thread too, and not after cancel().
TEST(PollTimerTest, WakeNowPollsAtOnce) {
  boost::asio::io_context io;
  int polls = 0;
  PollTimer* self = nullptr;
  PollTimer timer(
      io.get_executor(), 1h, [] { return true; },
      [&] {
        ++polls;
        self->arm();  // waits an hour again
      });
  self = &timer;
  timer.arm();
  std::thread other([&] { timer.wakeNow(); });
  other.join();
  const auto start = std::chrono::steady_clock::now();
  io.run_for(200ms);
  EXPECT_EQ(polls, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  timer.cancel();
  timer.wakeNow();
  io.restart();
  io.run_for(50ms);
  EXPECT_EQ(polls, 1) << "no poll after cancel()";
}

// Verifies nudge(): a change not yet visible when the nudge comes is polled once due() sees it,
// a moment later, without waiting for the regular (long) wake.
TEST(PollTimerTest, NudgeAsksAgainShortlyWhenTheChangeIsNotVisibleYet) {
  boost::asio::io_context io;
  int asked = 0;
  int polls = 0;
  PollTimer* self = nullptr;
  PollTimer timer(
      io.get_executor(), 1h, [&] { return ++asked >= 3; },  // visible at the third look
      [&] {
        ++polls;
        self->arm();
      });
  self = &timer;
  timer.arm();
  timer.nudge();
  io.run_for(2s);
  EXPECT_EQ(polls, 1);
  EXPECT_EQ(asked, 3);
}

// Verifies Signals: a notify reaches the subscribers of its topic, and none after unsubscribe().
TEST(SignalsTest, NotifyReachesSubscribersUntilTheyUnsubscribe) {
  Signals signals;
  int woken = 0;
  const auto id = signals.subscribe(Signals::Topic::TransferJobs, [&] { ++woken; });
  signals.notify(Signals::Topic::TransferJobs);
  signals.notify(Signals::Topic::TransferJobs);
  EXPECT_EQ(woken, 2);
  signals.unsubscribe(id);
  signals.notify(Signals::Topic::TransferJobs);
  EXPECT_EQ(woken, 2);
}

}  // namespace
}  // namespace pkgxfer::host
