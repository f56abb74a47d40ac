#include "pkgxfer/store/request_repository.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

class RequestRepositoryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    addDps({"dp01", "dp02", "dp03"});
    addPackage("PS100001");
  }
};

// Verifies a request is queued pending with the clock's time.
TEST_F(RequestRepositoryTest, EnqueuesPending) {
  RequestRepository requests(db());
  auto id = requests.enqueue(RequestKind::Redistribute, "PS100001", "dp02");
  ASSERT_TRUE(id.ok()) << id.status().toString();
  auto row = requests.get(*id);
  ASSERT_TRUE(row.ok()) << row.status().toString();
  EXPECT_EQ(row->kind, RequestKind::Redistribute);
  EXPECT_EQ(row->package_id, "PS100001");
  EXPECT_EQ(row->dp, "dp02");
  EXPECT_EQ(row->state, RequestState::Pending);
  EXPECT_EQ(row->created_at, nowMs());
  EXPECT_FALSE(row->picked_at.has_value());
  EXPECT_EQ(requests.get(*id + 100).status().code(), Status::Code::NotFound);
}

// Verifies unknown packages and DPs are NotFound, and a multi-DP request is all or nothing.
TEST_F(RequestRepositoryTest, RefusesUnknownTargets) {
  RequestRepository requests(db());
  auto unknown_package = requests.enqueue(RequestKind::Distribute, "PS1FFFFF", "dp01");
  EXPECT_EQ(unknown_package.status().code(), Status::Code::NotFound);
  EXPECT_NE(unknown_package.status().message().find("package PS1FFFFF does not exist"),
            std::string::npos);
  auto unknown_dp = requests.enqueue(RequestKind::Distribute, "PS100001", "dp09");
  EXPECT_EQ(unknown_dp.status().code(), Status::Code::NotFound);
  EXPECT_NE(unknown_dp.status().message().find("distribution point dp09 does not exist"),
            std::string::npos);

  auto partly = requests.enqueue(RequestKind::Distribute, "PS100001",
                                 std::vector<std::string>{"dp01", "dp02", "dp09"});
  EXPECT_EQ(partly.status().code(), Status::Code::NotFound);
  EXPECT_TRUE(requests.list()->empty());

  auto all = requests.enqueue(RequestKind::Distribute, "PS100001",
                              std::vector<std::string>{"dp01", "dp02", "dp03"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);

  // A DP no longer in the config takes no new requests.
  configured_.pop_back();
  ASSERT_TRUE(DistributionPointRepository(db()).syncFromConfig(configured_).ok());
  EXPECT_EQ(requests.enqueue(RequestKind::Validate, "PS100001", "dp03").status().code(),
            Status::Code::NotFound);
}

// Verifies claiming takes the oldest pending requests, up to the limit, once.
TEST_F(RequestRepositoryTest, ClaimsOldestFirstOnce) {
  RequestRepository requests(db());
  std::vector<std::int64_t> ids;
  for (const char* dp : {"dp01", "dp02", "dp03", "dp01", "dp02"}) {
    ids.push_back(*requests.enqueue(RequestKind::Distribute, "PS100001", dp));
    clock_.advance(std::chrono::seconds(1));
  }
  auto first = requests.claimPending(2);
  ASSERT_TRUE(first.ok()) << first.status().toString();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id, ids[0]);
  EXPECT_EQ((*first)[1].id, ids[1]);
  EXPECT_EQ((*first)[0].state, RequestState::Taken);
  EXPECT_EQ((*first)[0].picked_at, nowMs());

  auto rest = requests.claimPending(10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[0].id, ids[2]);
  EXPECT_EQ((*rest)[2].id, ids[4]);
  EXPECT_TRUE(requests.claimPending(10)->empty());
  EXPECT_EQ(requests.list(RequestState::Taken)->size(), 5u);
  EXPECT_EQ(requests.claimPending(0).status().code(), Status::Code::InvalidArgument);
}

// Verifies complete/reject finish only taken requests.
TEST_F(RequestRepositoryTest, CompletesAndRejects) {
  RequestRepository requests(db());
  auto a = *requests.enqueue(RequestKind::Distribute, "PS100001", "dp01");
  auto b = *requests.enqueue(RequestKind::Remove, "PS100001", "dp02");
  auto c = *requests.enqueue(RequestKind::Validate, "PS100001", "dp03");

  Status early = requests.complete(a);
  EXPECT_EQ(early.code(), Status::Code::InvalidArgument);
  EXPECT_NE(early.message().find("is pending, not taken"), std::string::npos) << early.message();

  ASSERT_EQ(requests.claimPending(2)->size(), 2u);
  ASSERT_TRUE(requests.complete(a).ok());
  ASSERT_TRUE(requests.reject(b, "package PS100001 is not on dp02").ok());
  EXPECT_EQ(requests.complete(a).code(), Status::Code::InvalidArgument);
  EXPECT_EQ(requests.reject(9999, "x").code(), Status::Code::NotFound);

  auto done = requests.get(a);
  EXPECT_EQ(done->state, RequestState::Done);
  EXPECT_EQ(done->finished_at, nowMs());
  auto rejected = requests.get(b);
  EXPECT_EQ(rejected->state, RequestState::Rejected);
  EXPECT_EQ(rejected->error, "package PS100001 is not on dp02");
  EXPECT_EQ(requests.list(RequestState::Pending)->at(0).id, c);
  EXPECT_EQ(requests.list()->size(), 3u);
}

// Verifies requests claimed by a process that died go back to the queue.
TEST_F(RequestRepositoryTest, ReleasesTakenRequests) {
  RequestRepository requests(db());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(requests.enqueue(RequestKind::Distribute, "PS100001", "dp01").ok());
  }
  ASSERT_EQ(requests.claimPending(2)->size(), 2u);
  EXPECT_EQ(*requests.releaseTaken(), 2);
  auto pending = requests.list(RequestState::Pending);
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_FALSE((*pending)[0].picked_at.has_value());
  EXPECT_EQ(requests.claimPending(5)->size(), 3u);
}

// Verifies the CLI-and-service setup: one connection enqueues while two others (threads, each
// with its own connection, as separate processes would have) claim. Every request is claimed
// exactly once.
TEST_F(RequestRepositoryTest, ConcurrentConnectionsClaimEachRequestOnce) {
  constexpr int kRequests = 300;
  std::atomic<int> claimed_total{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::vector<std::int64_t> claimed;
  std::string failure;
  auto fail = [&](const Status& status) {
    std::lock_guard<std::mutex> lock(mu);
    failure = status.toString();
    failed = true;
  };

  std::thread producer([&] {
    auto conn = Database::open(dbPath(), clock_);
    if (!conn.ok()) return fail(conn.status());
    RequestRepository requests(**conn);
    const char* dps[] = {"dp01", "dp02", "dp03"};
    for (int i = 0; i < kRequests && !failed; ++i) {
      auto id = requests.enqueue(RequestKind::Distribute, "PS100001", dps[i % 3]);
      if (!id.ok()) return fail(id.status());
    }
  });
  auto consumer = [&] {
    auto conn = Database::open(dbPath(), clock_);
    if (!conn.ok()) return fail(conn.status());
    RequestRepository requests(**conn);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (claimed_total < kRequests && !failed) {
      if (std::chrono::steady_clock::now() > deadline) {
        return fail(Status::Internal("timed out claiming"));
      }
      auto batch = requests.claimPending(7);
      if (!batch.ok()) return fail(batch.status());
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& row : *batch) claimed.push_back(row.id);
      claimed_total += static_cast<int>(batch->size());
    }
  };
  std::thread consumer1(consumer);
  std::thread consumer2(consumer);
  producer.join();
  consumer1.join();
  consumer2.join();

  ASSERT_FALSE(failed) << failure;
  EXPECT_EQ(claimed.size(), static_cast<std::size_t>(kRequests));
  std::set<std::int64_t> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kRequests));
  RequestRepository requests(db());
  EXPECT_EQ(requests.list(RequestState::Taken)->size(), static_cast<std::size_t>(kRequests));
  EXPECT_TRUE(requests.list(RequestState::Pending)->empty());
}

}  // namespace
}  // namespace pkgxfer::store
