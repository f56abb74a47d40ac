#include "pkgxfer/host/poll_timer.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>

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

}  // namespace
}  // namespace pkgxfer::host
