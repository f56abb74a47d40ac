#include "pkgxfer/host/blocking_pool.h"

#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "fakes/test_util.h"

namespace pkgxfer::host {
namespace {

using namespace std::chrono_literals;

TEST(BlockingPoolTest, AThrowingHandlerIsReportedAndThePoolGoesOn) {
  pkgxfer::testing::TempDir dir;
  LogOptions options;
  options.dir = dir.path();
  LogManager logs(options);
  Logger log = *logs.open({"pkgxferd", "SMS_EXECUTIVE", LogFormat::Trace});
  BlockingPool pool("the test pool", 1, log);
  std::atomic<bool> after{false};
  boost::asio::post(pool.get_executor(), [] { throw std::runtime_error("boom in a handler"); });
  boost::asio::post(pool.get_executor(), [&] { after = true; });
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return after.load(); }))
      << "the one thread of the pool survived the exception";
  pool.stop();
  EXPECT_NE(pkgxfer::testing::readFile(dir.path() / "pkgxferd.log")
                .find("ERROR: Uncaught exception in the test pool: boom in a handler; the thread "
                      "goes on"),
            std::string::npos);
}

TEST(BlockingPoolTest, RunsOnItsThreadsAndStopDropsWhatIsQueued) {
  BlockingPool pool("p", 2);
  EXPECT_EQ(pool.threads(), 2);
  std::mutex mu;
  std::set<std::thread::id> seen;
  std::atomic<int> arrived{0};
  for (int i = 0; i < 2; ++i) {
    boost::asio::post(pool.get_executor(), [&] {
      ++arrived;
      pkgxfer::testing::waitFor([&] { return arrived == 2; }, 5s);
      std::lock_guard<std::mutex> lock(mu);
      seen.insert(std::this_thread::get_id());
    });
  }
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() == 2;
  }));
  EXPECT_EQ(seen.count(std::this_thread::get_id()), 0u);
  pool.stop();
  pool.stop();  // idempotent
}

TEST(RunOnHelpersTest, FansOutAndWaitsForEveryStartedHelper) {
  BlockingPool pool("p", 4);
  std::atomic<int> inside{0};
  std::atomic<int> peak{0};
  std::atomic<int> ran{0};
  runOnHelpers(pool, 4, [&](std::size_t) {
    int now = ++inside;
    peak = std::max(peak.load(), now);
    pkgxfer::testing::waitFor([&] { return peak.load() == 4; }, 5s);
    --inside;
    ++ran;
  });
  EXPECT_EQ(peak.load(), 4) << "the caller and three helpers at once";
  EXPECT_EQ(ran.load(), 4) << "returns only once every started helper finished";
}

TEST(RunOnHelpersTest, NeverWaitsForAThreadThePoolDoesNotHave) {
  // Every thread of the pool is busy: the caller does the work alone, and the helpers that start
  // later find it done and do nothing.
  BlockingPool pool("p", 1);
  std::atomic<bool> release{false};
  boost::asio::post(pool.get_executor(),
                    [&] { pkgxfer::testing::waitFor([&] { return release.load(); }, 10s); });
  std::atomic<int> calls{0};
  std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> only_caller{true};
  runOnHelpers(pool, 3, [&](std::size_t) {
    ++calls;
    if (std::this_thread::get_id() != caller) only_caller = false;
  });
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(only_caller.load());
  // Let the late helpers run (a marker posted after them runs after them), then look again.
  release = true;
  std::atomic<bool> marker{false};
  boost::asio::post(pool.get_executor(), [&] { marker = true; });
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return marker.load(); }));
  EXPECT_EQ(calls.load(), 1) << "a helper that started late ran the work";
}

TEST(RunOnHelpersTest, AnExceptionComesBackAfterTheOthersFinish) {
  BlockingPool pool("p", 2);
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::atomic<bool> thrown{false};
  EXPECT_THROW(runOnHelpers(pool, 3,
                            [&](std::size_t i) {
                              if (i == 1) {
                                thrown = true;
                                throw std::runtime_error("stream 2 broke");
                              }
                              ++started;
                              // Still busy when the other one throws.
                              pkgxfer::testing::waitFor([&] { return thrown.load(); }, 5s);
                              ++finished;
                            }),
               std::runtime_error);
  // Whatever started ran to its end before the call returned.
  EXPECT_GE(started.load(), 1);
  EXPECT_EQ(finished.load(), started.load());
}

}  // namespace
}  // namespace pkgxfer::host
