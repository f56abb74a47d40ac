#include "pkgxfer/host/component_host.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "fakes/test_util.h"
#include "pkgxfer/host/runtime.h"

namespace pkgxfer::host {
namespace {

using namespace std::chrono_literals;
using pkgxfer::testing::TempDir;

// Records what the host did to test components, in order, from any thread.
class EventLog {
 public:
  void add(std::string event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> events_;
};

// How a TestComponent behaves.
enum class StopMode { Immediately, FromPool, Never };

class TestComponent : public Component {
 public:
  TestComponent(std::string name, EventLog& log, Strand strand, BlockingPool& pool,
                Status start_result = Status::Ok(), StopMode stop_mode = StopMode::Immediately)
      : name_(std::move(name)),
        log_(log),
        strand_(std::move(strand)),
        pool_(pool),
        start_result_(std::move(start_result)),
        stop_mode_(stop_mode) {}

  std::string_view name() const override { return name_; }

  Status start() override {
    log_.add("start " + name_ + (strand_.running_in_this_thread() ? " on-strand" : " off-strand"));
    return start_result_;
  }

  void stop(std::function<void()> done) override {
    log_.add("stop " + name_ + (strand_.running_in_this_thread() ? " on-strand" : " off-strand"));
    switch (stop_mode_) {
      case StopMode::Immediately:
        done();
        break;
      case StopMode::FromPool:  // e.g. persisting in-flight jobs on the blocking pool first
        boost::asio::post(pool_.get_executor(), [done = std::move(done)] { done(); });
        break;
      case StopMode::Never:
        kept_ = std::move(done);  // never called: the host must move on at the deadline
        break;
    }
  }

 private:
  std::string name_;
  EventLog& log_;
  Strand strand_;
  BlockingPool& pool_;
  Status start_result_;
  StopMode stop_mode_;
  std::function<void()> kept_;
};

class ComponentHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    logs_ = std::make_unique<LogManager>(LogOptions{dir_.path(), spdlog::level::debug});
    log_ = *logs_->open({"pkgxferd", "SMS_EXECUTIVE", LogFormat::Trace});
    runtime_.start();
  }
  void TearDown() override { runtime_.stop(); }

  void add(ComponentHost& host, const std::string& name, Status start_result = Status::Ok(),
           StopMode stop_mode = StopMode::Immediately) {
    Strand strand = runtime_.makeStrand();
    host.add(std::make_unique<TestComponent>(name, events_, strand, runtime_.blocking(),
                                             std::move(start_result), stop_mode),
             strand);
  }

  TempDir dir_;
  std::unique_ptr<LogManager> logs_;
  Logger log_;
  Runtime runtime_{RuntimeOptions{2, 2, nullptr}};
  EventLog events_;
};

TEST_F(ComponentHostTest, StartsInOrderAndStopsInReverseOnTheirStrands) {
  ComponentHost host(log_);
  add(host, "a");
  add(host, "b", Status::Ok(), StopMode::FromPool);
  add(host, "c");
  ASSERT_TRUE(host.startAll(5s, 5s).ok());
  EXPECT_EQ(host.startedCount(), 3u);
  ComponentHost::StopReport report = host.stopAll(5s);
  EXPECT_TRUE(report.clean);
  EXPECT_TRUE(report.overdue.empty());
  EXPECT_EQ(events_.events(),
            (std::vector<std::string>{"start a on-strand", "start b on-strand", "start c on-strand",
                                      "stop c on-strand", "stop b on-strand", "stop a on-strand"}));
}

TEST_F(ComponentHostTest, FailedStartStopsTheStartedOnesInReverseAndNamesTheComponent) {
  ComponentHost host(log_);
  add(host, "a");
  add(host, "b");
  add(host, "broken", Status::IoError("open /var/x: Permission denied"));
  add(host, "never");
  Status status = host.startAll(5s, 5s);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), Status::Code::IoError);
  EXPECT_EQ(status.message(), "start component broken: open /var/x: Permission denied");
  EXPECT_EQ(host.startedCount(), 0u);
  EXPECT_EQ(events_.events(), (std::vector<std::string>{"start a on-strand", "start b on-strand",
                                                        "start broken on-strand",
                                                        "stop b on-strand", "stop a on-strand"}));
}

TEST_F(ComponentHostTest, ComponentMissingTheGraceDeadlineIsReportedAndTheOthersStillStop) {
  ComponentHost host(log_);
  add(host, "a");
  add(host, "stuck", Status::Ok(), StopMode::Never);
  add(host, "c");
  ASSERT_TRUE(host.startAll(5s, 5s).ok());
  auto begin = std::chrono::steady_clock::now();
  ComponentHost::StopReport report = host.stopAll(300ms);
  auto elapsed = std::chrono::steady_clock::now() - begin;
  EXPECT_FALSE(report.clean);
  EXPECT_EQ(report.overdue, std::vector<std::string>{"stuck"});
  // The deadline is shared: the host waited for "stuck" until the deadline, not longer.
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 5s);
  auto events = events_.events();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[3], "stop c on-strand");
  EXPECT_EQ(events[4], "stop stuck on-strand");
  EXPECT_EQ(events[5], "stop a on-strand");
  // The host's log tells the administrator which component held the stop up.
  logs_->flushAll();
  std::string text = pkgxfer::testing::readFile(dir_.path() / "pkgxferd.log");
  EXPECT_NE(text.find("ERROR: Component stuck did not stop before the grace deadline"),
            std::string::npos)
      << text;
}

// A start() that blocks until released. The host abandons (never destroys) it, so the flags it
// uses are shared rather than borrowed from the test's stack.
class BlockingStart : public Component {
 public:
  struct Flags {
    std::atomic<bool> release{false};
    std::atomic<bool> returned{false};
  };
  explicit BlockingStart(std::shared_ptr<Flags> flags) : flags_(std::move(flags)) {}
  std::string_view name() const override { return "slow"; }
  Status start() override {
    while (!flags_->release) std::this_thread::sleep_for(1ms);
    flags_->returned = true;
    return Status::Ok();
  }
  void stop(std::function<void()> done) override { done(); }

 private:
  std::shared_ptr<Flags> flags_;
};

TEST_F(ComponentHostTest, StartThatDoesNotReturnInTimeFailsAndStopsTheOthers) {
  auto flags = std::make_shared<BlockingStart::Flags>();
  ComponentHost host(log_);
  add(host, "a");
  Strand strand = runtime_.makeStrand();
  host.add(std::make_unique<BlockingStart>(flags), strand);
  Status status = host.startAll(200ms, 5s);
  // Let the abandoned component's start() return so the runtime's threads can be joined.
  flags->release = true;
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return flags->returned.load(); }));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), Status::Code::Unavailable);
  EXPECT_EQ(status.message(), "component slow did not start within 200ms");
  EXPECT_EQ(events_.events(), (std::vector<std::string>{"start a on-strand", "stop a on-strand"}));
}

TEST(RuntimeTest, StrandSerializesWorkAndBlockingPoolRunsInParallel) {
  Runtime runtime(RuntimeOptions{4, 2, nullptr});
  runtime.start();
  Strand strand = runtime.makeStrand();
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 200; ++i) {
    boost::asio::post(strand, [&] {
      int now = ++inside;
      max_inside = std::max(max_inside.load(), now);
      --inside;
      ++done;
    });
  }
  // Two pool tasks that each wait for the other prove the pool runs them at the same time.
  std::atomic<int> arrived{0};
  std::atomic<bool> both{false};
  for (int i = 0; i < 2; ++i) {
    boost::asio::post(runtime.blocking().get_executor(), [&] {
      ++arrived;
      if (pkgxfer::testing::waitFor([&] { return arrived == 2; }, 5s)) both = true;
    });
  }
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return done == 200 && both; }));
  EXPECT_EQ(max_inside, 1);
  runtime.stop();
  runtime.stop();  // idempotent
}

}  // namespace
}  // namespace pkgxfer::host
