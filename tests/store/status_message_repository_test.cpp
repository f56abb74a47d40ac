#include "pkgxfer/store/status_message_repository.h"

#include <gtest/gtest.h>

#include "pkgxfer/store/transfer_job_repository.h"
#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

class StatusMessageRepositoryTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    addDps({"pdp01", "pdp02"}, config::DpType::Pull);
    addPackage("PS100001");
    addPackage("PS100002");
    auto job = TransferJobRepository(db()).create(
        {"PS100001", 1, "pdp01", JobAction::Add, Priority::Medium});
    ASSERT_TRUE(job.ok());
    job_ = *job;
  }

  StatusMessage message(const std::string& dp, const std::string& package_id,
                        DistributionState state, std::optional<std::int64_t> job = {}) {
    StatusMessage m;
    m.dp = dp;
    m.package_id = package_id;
    m.version = 1;
    m.job_id = job;
    m.state = state;
    m.progress = {1000, 250, 8, 2};
    m.message = "downloaded 2 of 8 files from http://dp03:8531";
    return m;
  }

  std::int64_t job_ = 0;
};

// Verifies a message is stored whole, stamped on receipt by the injected clock.
TEST_F(StatusMessageRepositoryTest, RecordsMessages) {
  StatusMessageRepository messages(db());
  auto sent = message("pdp01", "PS100001", DistributionState::Pulling, job_);
  sent.received_at = Timestamp{};  // ignored
  auto id = messages.insert(sent);
  ASSERT_TRUE(id.ok()) << id.status().toString();
  auto all = messages.list();
  ASSERT_TRUE(all.ok()) << all.status().toString();
  ASSERT_EQ(all->size(), 1u);
  const StatusMessage& got = (*all)[0];
  EXPECT_EQ(got.id, *id);
  EXPECT_EQ(got.received_at, nowMs());
  EXPECT_EQ(got.dp, "pdp01");
  EXPECT_EQ(got.package_id, "PS100001");
  EXPECT_EQ(got.version, 1);
  EXPECT_EQ(got.job_id, job_);
  EXPECT_EQ(got.state, DistributionState::Pulling);
  EXPECT_EQ(got.progress, (Progress{1000, 250, 8, 2}));
  EXPECT_EQ(got.message, sent.message);
}

// Verifies messages about unknown things are refused.
TEST_F(StatusMessageRepositoryTest, RefusesUnknownReferences) {
  StatusMessageRepository messages(db());
  EXPECT_EQ(
      messages.insert(message("pdp09", "PS100001", DistributionState::Pulling)).status().code(),
      Status::Code::NotFound);
  EXPECT_EQ(
      messages.insert(message("pdp01", "PS1FFFFF", DistributionState::Pulling)).status().code(),
      Status::Code::NotFound);
  EXPECT_EQ(messages.insert(message("pdp01", "PS100001", DistributionState::Pulling, job_ + 50))
                .status()
                .code(),
            Status::Code::NotFound);
  auto bad_version = message("pdp01", "PS100001", DistributionState::Pulling);
  bad_version.version = 0;
  EXPECT_EQ(messages.insert(bad_version).status().code(), Status::Code::InvalidArgument);
  EXPECT_TRUE(messages.list()->empty());
}

// Verifies filters, paging after an id, and the limit.
TEST_F(StatusMessageRepositoryTest, ListsWithFilters) {
  StatusMessageRepository messages(db());
  std::vector<std::int64_t> ids;
  ids.push_back(*messages.insert(message("pdp01", "PS100001", DistributionState::Pulling, job_)));
  ids.push_back(*messages.insert(message("pdp02", "PS100001", DistributionState::Pulling)));
  ids.push_back(*messages.insert(message("pdp01", "PS100002", DistributionState::Failed)));
  ids.push_back(*messages.insert(message("pdp01", "PS100001", DistributionState::Installed, job_)));

  StatusMessageFilter by_dp;
  by_dp.dp = "pdp01";
  EXPECT_EQ(messages.list(by_dp)->size(), 3u);
  StatusMessageFilter by_pair;
  by_pair.dp = "pdp01";
  by_pair.package_id = "PS100001";
  auto pair = messages.list(by_pair);
  ASSERT_EQ(pair->size(), 2u);
  EXPECT_EQ((*pair)[1].state, DistributionState::Installed);
  StatusMessageFilter by_job;
  by_job.job_id = job_;
  EXPECT_EQ(messages.list(by_job)->size(), 2u);
  StatusMessageFilter page;
  page.after_id = ids[1];
  page.limit = 1;
  auto next = messages.list(page);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].id, ids[2]);
}

// Verifies a (job, sequence) already recorded is not recorded again, while messages without a
// sequence are never taken for duplicates.
TEST_F(StatusMessageRepositoryTest, RecordsEachSequenceOfAJobOnce) {
  StatusMessageRepository messages(db());
  auto first = message("pdp01", "PS100001", DistributionState::Pulling, job_);
  first.sequence = 3;
  auto a = messages.record(first);
  ASSERT_TRUE(a.ok()) << a.status().toString();
  EXPECT_FALSE(a->duplicate);
  auto again = first;
  again.state = DistributionState::Installed;  // a different body with the same sequence
  auto b = messages.record(again);
  ASSERT_TRUE(b.ok()) << b.status().toString();
  EXPECT_TRUE(b->duplicate);
  EXPECT_EQ(b->id, a->id);
  EXPECT_EQ(messages.insert(again).status().code(), Status::Code::AlreadyExists);
  auto next = first;
  next.sequence = 4;
  EXPECT_FALSE(messages.record(next)->duplicate);
  auto unnumbered = message("pdp01", "PS100001", DistributionState::Pulling, job_);
  EXPECT_FALSE(messages.record(unnumbered)->duplicate);
  EXPECT_FALSE(messages.record(unnumbered)->duplicate);
  auto all = messages.list();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].sequence, 3u);
  EXPECT_EQ((*all)[0].state, DistributionState::Pulling);  // the first one kept
  EXPECT_FALSE((*all)[2].sequence.has_value());
}

// Verifies the distribution manager's queue: unprocessed messages oldest first, each marked once
// applied, and the last applied sequence and receipt time of a job.
TEST_F(StatusMessageRepositoryTest, TracksWhatWasProcessed) {
  StatusMessageRepository messages(db());
  EXPECT_EQ(*messages.lastProcessedSequence(job_), 0u);
  EXPECT_FALSE(messages.lastReceivedAt(job_)->has_value());
  std::vector<std::int64_t> ids;
  for (std::uint64_t seq : {1u, 2u, 5u}) {
    auto m = message("pdp01", "PS100001", DistributionState::Pulling, job_);
    m.sequence = seq;
    ids.push_back(*messages.insert(m));
    clock_.advance(std::chrono::seconds(1));
  }
  auto pending = messages.listUnprocessed(2);
  ASSERT_TRUE(pending.ok()) << pending.status().toString();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, ids[0]);
  EXPECT_FALSE((*pending)[0].processed_at.has_value());
  ASSERT_TRUE(messages.markProcessed(ids[0]).ok());
  ASSERT_TRUE(messages.markProcessed(ids[1]).ok());
  EXPECT_EQ(messages.markProcessed(ids[2] + 100).code(), Status::Code::NotFound);
  EXPECT_EQ(*messages.lastProcessedSequence(job_), 2u);  // 5 is not processed yet
  pending = messages.listUnprocessed(10);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].id, ids[2]);
  auto last = messages.lastReceivedAt(job_);
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ(**last, nowMs() - std::chrono::seconds(1));
}

}  // namespace
}  // namespace pkgxfer::store
