// End-to-end distribution in one process: distmgr and pkgxfermgr on a real Runtime with a real site
// database, the site content library and DPs as folders.

#include <algorithm>
#include <set>

#include "distmgr/site_fixture.h"
#include "distmgr/wrapped_transport.h"

namespace pkgxfer::testing {
namespace {

using store::DistributionState;
using store::JobAction;
using store::JobState;
using store::RequestKind;

std::string bodyPath(const std::filesystem::path& root, const std::string& sha) {
  return (root / "FileLib" / sha.substr(0, 4) / sha).string();
}

std::string shaOf(const std::string& data) { return *content::sha256Hex(data); }

class DistributionTest : public SiteFixture {
 protected:
  // Starts the site with `record` on its DP and distributes a two-file package to dp01.
  content::Manifest distributeTwoFiles(TransportRecord& record) {
    addDps(1);
    auto m = addPackage("PS100001", {{"a", "one"}, {"b", "two"}});
    startSite(recordingFactory(record));
    request(RequestKind::Distribute, "PS100001", {"dp01"});
    EXPECT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
    EXPECT_EQ(record.openedTotal(), 2);
    return m;
  }

  // After a redistribute of distributeTwoFiles(): both files were sent again, and the second of
  // two finished jobs is the redistribute.
  void expectResentBoth(TransportRecord& record, const content::Manifest& m) {
    ASSERT_TRUE(waitFor([&] { return record.openedTotal() == 4; }))
        << "the redistribute sent " << record.openedTotal() - 2 << " file(s)";
    ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
    expectInstalled("dp01", m);
    auto done = jobs({std::nullopt, std::nullopt, {JobState::Done}});
    ASSERT_EQ(done.size(), 2u);
    EXPECT_EQ(done[1].action, JobAction::Redistribute);
  }
};

TEST_F(DistributionTest, DistributesOnePackageToSixDps) {
  addDps(6);
  auto m = addPackage("PS100001",
                      {{"setup.exe", std::string(300000, 'x')},
                       {"data/a.txt", "alpha"},
                       {"data/b.txt", "beta"},
                       {"data/copy.txt", "alpha"}},
                      store::Priority::High);
  TransportRecord record;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", dpNames());
  ASSERT_TRUE(waitForState("PS100001", dpNames(), DistributionState::Installed));
  for (const auto& dp : dpNames()) {
    expectInstalled(dp, m);
    auto row = dist("PS100001", dp);
    EXPECT_EQ(row.progress.files_total, 4u);
    EXPECT_EQ(row.progress.files_done, 4u);
    EXPECT_EQ(row.progress.bytes_done, m.total_bytes);
    EXPECT_EQ(row.attempts, 0);
  }
  // Three distinct bodies per DP, each sent once.
  EXPECT_EQ(record.openedTotal(), 3 * 6);
  std::string log = this->log("pkgxfermgr");
  EXPECT_NE(log.find("Found send request with ID: 1, Package: PS100001, Version: 1, Priority: "
                     "high, Destination: dp0"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("to send, 0 already present on the DP"), std::string::npos);
  EXPECT_NE(log.find("Sending file setup.exe"), std::string::npos);  // debug level
  EXPECT_NE(log.find("Finished: content PS100001.1 is installed on dp01"), std::string::npos);
  for (const auto& job : jobs()) EXPECT_EQ(job.state, JobState::Done);
  std::string dlog = this->log("distmgr");
  EXPECT_NE(dlog.find("Preliminary check of DP dp01 passed"), std::string::npos) << dlog;
}

// Overlap of the jobs' [started_at, finished_at] intervals, overall and per package.
struct Concurrency {
  int max_jobs = 0;
  int max_packages = 0;
  int max_per_package = 0;
};

Concurrency observedConcurrency(const std::vector<store::TransferJob>& jobs) {
  struct Event {
    store::Timestamp at;
    int delta;  // -1 end (sorted first at equal times), +1 start
    std::string package;
  };
  std::vector<Event> events;
  for (const auto& j : jobs) {
    if (!j.started_at || !j.finished_at) continue;
    events.push_back({*j.started_at, +1, j.package_id});
    events.push_back({*j.finished_at, -1, j.package_id});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.at != b.at ? a.at < b.at : a.delta < b.delta;
  });
  Concurrency c;
  std::map<std::string, int> per;
  int total = 0;
  for (const auto& e : events) {
    total += e.delta;
    per[e.package] += e.delta;
    int packages = 0;
    for (const auto& [p, n] : per) {
      if (n > 0) ++packages;
      c.max_per_package = std::max(c.max_per_package, n);
    }
    c.max_jobs = std::max(c.max_jobs, total);
    c.max_packages = std::max(c.max_packages, packages);
  }
  return c;
}

TEST_F(DistributionTest, SmallFilesAreMadeDurableInBatchesNotOneByOne) {
  addDps(1);
  // One stream, so the batches are the stream's own: with several, the last batch of every
  // stream goes in one install call at the end of the job.
  streams_per_job_ = 1;
  Files files;
  for (int i = 0; i < 300; ++i) files["d/f" + std::to_string(i)] = "body #" + std::to_string(i);
  auto m = addPackage("PS100001", files);
  TransportRecord record;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  // At most 128 bodies per batch (fewer when a batch is a second old), one install call per batch
  // (two flushes of the DP's volume each: tests/transport/file_transport_test.cpp). Never one per
  // file.
  EXPECT_GE(record.installs.load(), 3);
  EXPECT_LE(record.installs.load(), 300 / 10);
  EXPECT_EQ(record.openedTotal(), 300);
}

TEST_F(DistributionTest, FailureMidJobKeepsTheFilesAlreadyVerified) {
  addDps(1);
  config_.distribution.retry_delay = std::chrono::milliseconds(100);
  Files files;
  for (int i = 0; i < 200; ++i) {
    files["f" + std::to_string(i)] =
        std::string(20000, static_cast<char>('a' + i % 26)) + std::to_string(i);
  }
  auto m = addPackage("PS100001", files);
  TransportRecord record;
  record.fail_write_after = 2'000'000;  // the connection drops about half way
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);  // nothing half-sent or temporary left behind
  EXPECT_EQ(dist("PS100001", "dp01").attempts, 1);
  // The ~100 bodies verified before the failure were installed, not thrown away: the retry sends
  // only the rest (plus the few that were in flight on the streams).
  EXPECT_LE(record.openedTotal(), 200 + 10);
  auto all = jobs();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].state, JobState::Failed);
  EXPECT_NE(all[0].error.find("Connection reset by peer"), std::string::npos) << all[0].error;
}

TEST_F(DistributionTest, PoolBoundHoldsAndIsReached) {
  config_.distribution.max_concurrent_packages = 2;
  config_.distribution.max_threads_per_package = 3;
  addDps(8);
  std::vector<std::string> packages;
  for (int i = 1; i <= 5; ++i) {
    std::string id = "PS10000" + std::to_string(i);
    addPackage(id, {{"f.bin", std::string(1000 + i, static_cast<char>('a' + i))}});
    packages.push_back(id);
  }
  TransportRecord record;
  record.inventory_delay_ms = 60;  // every job holds its slot a while
  for (const auto& id : packages) request(RequestKind::Distribute, id, dpNames());
  startSite(recordingFactory(record));
  for (const auto& id : packages) {
    ASSERT_TRUE(waitForState(id, dpNames(), DistributionState::Installed));
  }
  auto all = jobs();
  ASSERT_EQ(all.size(), 40u);
  Concurrency c = observedConcurrency(all);
  EXPECT_EQ(c.max_packages, 2);
  EXPECT_EQ(c.max_per_package, 3);
  EXPECT_EQ(c.max_jobs, 6);
}

TEST_F(DistributionTest, SecondPackageSendsOnlyWhatIsMissing) {
  addDps(2);
  auto m1 = addPackage("PS100001", {{"a", "shared one"}, {"b", "shared two"}, {"c", "own c"}});
  auto m2 = addPackage("PS100002",
                       {{"x", "shared one"}, {"y", "shared two"}, {"z", "own z"}, {"w", "own w"}});
  TransportRecord record;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", dpNames());
  ASSERT_TRUE(waitForState("PS100001", dpNames(), DistributionState::Installed));
  request(RequestKind::Distribute, "PS100002", dpNames());
  ASSERT_TRUE(waitForState("PS100002", dpNames(), DistributionState::Installed));
  for (const auto& dp : dpNames()) {
    expectInstalled(dp, m1);
    expectInstalled(dp, m2);
  }
  EXPECT_EQ(record.opened(shaOf("shared one")), 2);  // once per DP, for PS100001
  EXPECT_EQ(record.opened(shaOf("own z")), 2);
  EXPECT_EQ(record.openedTotal(), 3 * 2 + 2 * 2);
  EXPECT_NE(log("pkgxfermgr").find("2 file(s) (10 B) to send, 2 already present on the DP"),
            std::string::npos)
      << log("pkgxfermgr");
}

TEST_F(DistributionTest, LeftoversOfEarlierAttemptsAreDeleted) {
  // Temporary files an earlier attempt left (its process died before a resume point was
  // recorded): of a body this job sends, and of a body the DP already holds. Both go; another
  // package's stays.
  addDps(1);
  auto m2 = addPackage("PS100002", {{"x", "shared one"}});
  auto m1 = addPackage("PS100001", {{"a", "shared one"}, {"c", "own c"}});
  startSite();
  request(RequestKind::Distribute, "PS100002", {"dp01"});
  ASSERT_TRUE(waitForState("PS100002", {"dp01"}, DistributionState::Installed));
  auto plant = [&](const std::string& content, const std::string& owner) {
    const std::string h = shaOf(content);
    const auto folder = dpRoot("dp01") / "FileLib" / h.substr(0, 4);
    std::filesystem::create_directories(folder);
    writeFile(folder / ("." + h + "." + owner + ".0123456789abcdef.partial"), "half");
  };
  plant("shared one", "PS100001");
  plant("own c", "PS100001");
  plant("own c", "PS100009");
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  auto left = tempFiles("dp01");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_NE(left[0].find(".PS100009."), std::string::npos) << left[0];
  EXPECT_NE(log("pkgxfermgr").find("Deleted 2 leftover temporary file(s) of earlier attempts"),
            std::string::npos)
      << log("pkgxfermgr");
  std::filesystem::remove(left[0]);
  expectInstalled("dp01", m1);
  expectInstalled("dp01", m2);
}

TEST_F(DistributionTest, RedistributeResendsEverything) {
  TransportRecord record;
  auto m = distributeTwoFiles(record);
  request(RequestKind::Redistribute, "PS100001", {"dp01"});
  expectResentBoth(record, m);
}

TEST_F(DistributionTest, RedistributeWhoseCheckFailedIsRetriedAsARedistribute) {
  // The DP is offline when the redistribute comes: its preliminary check fails, no job is
  // created, and the pair retries. The retry must re-send every file, not turn into a plain
  // distribute that finds the content present and sends nothing.
  config_.distribution.retry_delay = std::chrono::milliseconds(100);
  TransportRecord record;
  auto m = distributeTwoFiles(record);
  const auto away = dpRoot("dp01").string() + ".away";
  std::filesystem::rename(dpRoot("dp01"), away);
  request(RequestKind::Redistribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] {
    auto row = dist("PS100001", "dp01");
    return row.state == DistributionState::Retrying && row.attempts >= 1;
  }));
  EXPECT_EQ(dist("PS100001", "dp01").action, JobAction::Redistribute);
  std::filesystem::rename(away, dpRoot("dp01"));
  expectResentBoth(record, m);
  EXPECT_NE(log("distmgr").find("Retrying redistribute of package PS100001 v1 to dp01"),
            std::string::npos);
}

TEST_F(DistributionTest, DistributeToDpThatHoldsTheVersionSendsNothing) {
  addDps(1);
  auto m = addPackage("PS100001", {{"a", "one"}});
  TransportRecord record;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  auto before = dist("PS100001", "dp01");
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] {
    auto row = dist("PS100001", "dp01");
    return row.state == DistributionState::Installed && row.updated_at > before.updated_at;
  }));
  EXPECT_EQ(record.openedTotal(), 1);
  EXPECT_EQ(jobs().size(), 1u);
  EXPECT_NE(log("distmgr").find("DP dp01 already holds package PS100001 v1; nothing to send"),
            std::string::npos);
}

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The no-op fast path: a DP whose committed manifest is byte-identical to the site's is installed
// without listing its FileLib (no inventory) and without a job.
TEST_F(DistributionTest, DistributeToDpWithIdenticalManifestSkipsTheInventory) {
  addDps(1);
  auto m = addPackage("PS100001", {{"a", "one"}, {"dir/b", "two"}, {"dir/c", "one"}});
  TransportRecord sends, checks;
  startSite(recordingFactory(sends), recordingFactory(checks));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  EXPECT_EQ(checks.inventory_calls.load(), 1);  // nothing on the DP yet: the full check
  auto before = dist("PS100001", "dp01");

  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] {
    auto row = dist("PS100001", "dp01");
    return row.state == DistributionState::Installed && row.updated_at > before.updated_at;
  }));
  EXPECT_EQ(checks.inventory_calls.load(), 1);
  EXPECT_EQ(sends.openedTotal(), 2);
  EXPECT_EQ(jobs().size(), 1u);
  auto row = dist("PS100001", "dp01");
  EXPECT_EQ(row.progress.files_total, 3u);
  EXPECT_EQ(row.progress.files_done, 3u);
  EXPECT_EQ(row.progress.bytes_total, m.total_bytes);
  EXPECT_EQ(row.progress.bytes_done, m.total_bytes);
  const std::string log = this->log("distmgr");
  EXPECT_NE(log.find("Preliminary check of DP dp01 passed: library " + dpRoot("dp01").string() +
                     " writable"),
            std::string::npos)
      << log;
  EXPECT_EQ(count(log, "its manifest of package PS100001 v1 is identical to the site's (3 file(s)"),
            1u)
      << log;
  EXPECT_NE(log.find("DP dp01 already holds package PS100001 v1; nothing to send; installed (its "
                     "manifest is identical to the site's"),
            std::string::npos)
      << log;
  expectInstalled("dp01", m);
}

// Anything but an identical manifest goes through the full check: a manifest that differs in
// bytes (here only the name) is compared by content after the inventory, and a missing manifest
// (with a body gone) makes a job that sends what is missing.
TEST_F(DistributionTest, DpManifestThatDiffersGoesThroughTheFullCheck) {
  addDps(1);
  auto m = addPackage("PS100001", {{"a", "one"}, {"b", "two"}});
  TransportRecord sends, checks;
  startSite(recordingFactory(sends), recordingFactory(checks));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  ASSERT_EQ(checks.inventory_calls.load(), 1);
  const auto manifest_file = dpRoot("dp01") / "DataLib" / "PS100001.1.json";

  content::Manifest renamed = m;
  renamed.name = "renamed on the DP";
  writeFile(manifest_file, content::toJson(renamed));
  auto before = dist("PS100001", "dp01");
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] {
    auto row = dist("PS100001", "dp01");
    return row.state == DistributionState::Installed && row.updated_at > before.updated_at;
  }));
  EXPECT_EQ(checks.inventory_calls.load(), 2);
  EXPECT_EQ(jobs().size(), 1u);
  EXPECT_EQ(count(log("distmgr"), "identical to the site's"), 0u) << log("distmgr");
  EXPECT_EQ(count(log("distmgr"), "DP dp01 already holds package PS100001 v1; nothing to send"),
            1u);

  std::filesystem::remove(manifest_file);
  std::filesystem::remove(bodyPath(dpRoot("dp01"), shaOf("two")));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return jobs().size() == 2 && isTerminal(jobs()[1].state); }));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  EXPECT_EQ(checks.inventory_calls.load(), 3);
  EXPECT_EQ(sends.opened(shaOf("two")), 2);
  EXPECT_EQ(sends.opened(shaOf("one")), 1);
  EXPECT_NE(log("distmgr").find("1 file(s) (3 B) to send, 1 already present"), std::string::npos)
      << log("distmgr");
  expectInstalled("dp01", m);
}

// A DP that holds an older version has no manifest of the new one: full check, and only the
// changed body is sent.
TEST_F(DistributionTest, NewVersionGoesThroughTheFullCheck) {
  addDps(1);
  addPackage("PS100001", {{"a", "one"}, {"b", "two"}});
  TransportRecord sends, checks;
  startSite(recordingFactory(sends), recordingFactory(checks));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  auto m2 = addPackage("PS100001", {{"a", "one"}, {"b", "two, changed"}});
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return jobs().size() == 2 && isTerminal(jobs()[1].state); }));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  EXPECT_EQ(dist("PS100001", "dp01").version, 2);
  EXPECT_EQ(checks.inventory_calls.load(), 2);
  EXPECT_EQ(sends.opened(shaOf("two, changed")), 1);
  EXPECT_EQ(sends.opened(shaOf("one")), 1);
  EXPECT_EQ(count(log("distmgr"), "identical to the site's"), 0u);
  expectInstalled("dp01", m2);
}

// With a 30 s poll interval, a request another connection commits (as the CLI does) is picked up
// by distmgr, and the job distmgr then writes by pkgxfermgr, within a few wake intervals: the
// components notice the database changed (data_version) instead of waiting for the next poll.
TEST_F(DistributionTest, WorkAnotherConnectionCommitsIsPickedUpWithoutWaitingForThePoll) {
  poll_interval_ = std::chrono::seconds(30);
  wake_interval_ = std::chrono::milliseconds(20);
  addDps(1);
  addPackage("PS100001", {{"a", "one"}});
  addPackage("PS100002", {{"b", "two"}});
  startSite();
  // Whether or not this one beats the components' first poll, the second comes after it.
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(
      waitForState("PS100001", {"dp01"}, DistributionState::Installed, std::chrono::seconds(3)));
  const auto t0 = std::chrono::steady_clock::now();
  request(RequestKind::Distribute, "PS100002", {"dp01"});
  ASSERT_TRUE(
      waitForState("PS100002", {"dp01"}, DistributionState::Installed, std::chrono::seconds(3)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(jobs().size(), 2u);
}

TEST_F(DistributionTest, ValidateCatchesDamageAndRedistributeRepairs) {
  addDps(1);
  auto m = addPackage("PS100001", {{"a.txt", "alpha body"}, {"b.txt", "beta body"}, {"c", "c"}});
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  request(RequestKind::Validate, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return jobs().size() == 2 && isTerminal(jobs()[1].state); }));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));

  writeFile(bodyPath(dpRoot("dp01"), shaOf("alpha body")), "alpha BODY");
  std::filesystem::remove(bodyPath(dpRoot("dp01"), shaOf("beta body")));
  request(RequestKind::Validate, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Failed));
  auto row = dist("PS100001", "dp01");
  EXPECT_NE(row.last_error.find("a.txt"), std::string::npos) << row.last_error;
  EXPECT_NE(row.last_error.find("b.txt"), std::string::npos) << row.last_error;
  std::string log = this->log("pkgxfermgr");
  EXPECT_NE(log.find("Validation: file b.txt"), std::string::npos) << log;
  EXPECT_NE(log.find("is missing on the DP"), std::string::npos);
  EXPECT_NE(log.find("ERROR: Validation: file a.txt"), std::string::npos);

  request(RequestKind::Redistribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  request(RequestKind::Validate, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return jobs().size() == 5 && isTerminal(jobs()[4].state); }));
  EXPECT_EQ(jobs()[4].state, JobState::Done);
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
}

TEST_F(DistributionTest, RemoveKeepsBodiesOtherPackagesUse) {
  addDps(1);
  auto m1 = addPackage("PS100001", {{"a", "shared"}, {"b", "only one"}});
  auto m2 = addPackage("PS100002", {{"c", "shared"}});
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  request(RequestKind::Distribute, "PS100002", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  ASSERT_TRUE(waitForState("PS100002", {"dp01"}, DistributionState::Installed));
  request(RequestKind::Remove, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Removed));
  EXPECT_FALSE(std::filesystem::exists(dpRoot("dp01") / "DataLib" / "PS100001.1.json"));
  EXPECT_FALSE(std::filesystem::exists(bodyPath(dpRoot("dp01"), shaOf("only one"))));
  EXPECT_TRUE(std::filesystem::exists(bodyPath(dpRoot("dp01"), shaOf("shared"))));
  expectInstalled("dp01", m2);
  (void)m1;
}

TEST_F(DistributionTest, MissingDpRetriesThenInstallsWhenItAppears) {
  addDps(1, /*create=*/false);
  config_.distribution.retry_count = 100;
  auto m = addPackage("PS100001", {{"a", "one"}});
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] {
    auto row = dist("PS100001", "dp01");
    return row.state == DistributionState::Retrying && row.attempts >= 1;
  }));
  auto row = dist("PS100001", "dp01");
  EXPECT_NE(row.last_error.find("No such file or directory"), std::string::npos) << row.last_error;
  EXPECT_TRUE(row.next_attempt_at.has_value());
  std::filesystem::create_directories(dpRoot("dp01"));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  std::string log = this->log("distmgr");
  EXPECT_NE(log.find("ERROR: Distribution of package PS100001 v1 to dp01 failed: Unavailable: "
                     "DP library root"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("Failure count = 1/100, Restart time = "), std::string::npos);
}

TEST_F(DistributionTest, RetriesRunOutThenFailed) {
  addDps(1, /*create=*/false);
  config_.distribution.retry_count = 2;
  config_.distribution.retry_delay = std::chrono::milliseconds(100);
  addPackage("PS100001", {{"a", "one"}});
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Failed));
  EXPECT_EQ(dist("PS100001", "dp01").attempts, 3);
  EXPECT_NE(log("distmgr").find("retries exhausted"), std::string::npos);
}

TEST_F(DistributionTest, InterruptedBodyResumesFromLastCheckpoint) {
  addDps(1);
  checkpoint_bytes_ = 64 * 1024;
  std::string big(3 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 5);
  auto m = addPackage("PS100001", {{"big.bin", big}});
  TransportRecord record;
  record.fail_write_after = 2 << 20;  // the connection drops after 2 MiB of the 3
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  EXPECT_EQ(dist("PS100001", "dp01").attempts, 1);
  // Sent: 2 MiB before the failure, then only what was not durable yet.
  EXPECT_LT(record.bytes_written.load(), big.size() + (1u << 20) / 2);
  std::string log = this->log("pkgxfermgr");
  EXPECT_NE(log.find("Resuming file big.bin"), std::string::npos) << log;
  EXPECT_NE(log.find("Connection reset by peer"), std::string::npos);
  auto all = jobs();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].state, JobState::Failed);
  EXPECT_EQ(all[1].state, JobState::Done);
  EXPECT_TRUE(store::TransferJobRepository(db()).listPartials(all[1].id)->empty());
}

TEST_F(DistributionTest, FailingForGoodLeavesNoTemporaryFiles) {
  addDps(1);
  config_.distribution.retry_count = 0;  // the first failure is the last
  checkpoint_bytes_ = 64 * 1024;
  std::string big(3 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 6);
  addPackage("PS100001", {{"big.bin", big}});
  TransportRecord record;
  record.fail_write_after = 2 << 20;  // after several resume points were saved
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Failed));
  auto all = jobs();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(store::TransferJobRepository(db()).listPartials(all[0].id)->empty());
  // Nobody will resume the half-sent body: its temporary file goes (on the pool, just after).
  EXPECT_TRUE(waitFor([&] { return tempFiles("dp01").empty(); })) << tempFiles("dp01").size();
}

TEST_F(DistributionTest, GracefulStopKeepsWhatWasSentAndResumes) {
  addDps(1);
  checkpoint_bytes_ = 256 * 1024;
  std::string big(8 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 31) >> 7);
  auto m = addPackage("PS100001", {{"big.bin", big}});
  TransportRecord record;
  record.write_delay_us = 20000;  // 1 MiB blocks at ~50 MiB/s
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  store::TransferJobRepository repo(db());
  ASSERT_TRUE(waitFor([&] {
    auto all = jobs();
    return !all.empty() && !repo.listPartials(all[0].id)->empty();
  }));
  stopSite();
  auto all = jobs();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state, JobState::Queued);
  auto partials = *repo.listPartials(all[0].id);
  ASSERT_EQ(partials.size(), 1u);
  const std::uint64_t kept = partials[0].offset;
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, big.size());
  EXPECT_EQ(tempFiles("dp01").size(), 1u);
  EXPECT_EQ(dist("PS100001", "dp01").state, DistributionState::Transferring);
  EXPECT_GT(dist("PS100001", "dp01").progress.bytes_done, 0u);

  record.write_delay_us = 0;
  const std::uint64_t before = record.bytes_written.load();
  EXPECT_EQ(before, kept);  // the stop flushed everything it had written
  // Progress never goes backwards: from its first report, the resumed job shows the bytes kept
  // (held at its first write, before any byte of this run was counted).
  // (A marker value first, so the wait below sees the new run's report, not the old one.)
  store::Progress marker = dist("PS100001", "dp01").progress;
  marker.bytes_done = 1;
  ASSERT_TRUE(store::DistributionRepository(db()).setProgress("PS100001", "dp01", marker).ok());
  record.hang_writes = true;
  startSite(recordingFactory(record));
  ASSERT_TRUE(waitFor([&] { return record.hanging.load() == 1; }));
  EXPECT_TRUE(waitFor([&] { return dist("PS100001", "dp01").progress.bytes_done == kept; }))
      << dist("PS100001", "dp01").progress.bytes_done << " shown, " << kept << " kept";
  EXPECT_EQ(dist("PS100001", "dp01").state, DistributionState::Transferring);
  record.releaseWrites();
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
  EXPECT_EQ(record.bytes_written.load() - before, big.size() - kept);
  EXPECT_EQ(jobs().size(), 1u);
  EXPECT_NE(log("pkgxfermgr").find("Resuming file big.bin"), std::string::npos);
}

TEST_F(DistributionTest, NewVersionSupersedesQueuedJob) {
  config_.distribution.max_concurrent_packages = 1;
  addDps(1);
  addPackage("PS100001", {{"a", "blocker"}});
  addPackage("PS100002", {{"a", "v1"}});
  TransportRecord record;
  record.inventory_delay_ms = 300;  // PS100001 holds the only package slot a while
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return !jobs().empty() && jobs()[0].state == JobState::Running; }));
  request(RequestKind::Distribute, "PS100002", {"dp01"});
  ASSERT_TRUE(waitForState("PS100002", {"dp01"}, DistributionState::Waiting));
  auto m2 = addPackage("PS100002", {{"a", "v2"}});
  request(RequestKind::Distribute, "PS100002", {"dp01"});
  ASSERT_TRUE(waitForState("PS100002", {"dp01"}, DistributionState::Installed));
  EXPECT_EQ(dist("PS100002", "dp01").version, 2);
  expectInstalled("dp01", m2);
  store::TransferJobFilter f;
  f.package_id = "PS100002";
  auto pjobs = jobs(f);
  ASSERT_EQ(pjobs.size(), 2u);
  EXPECT_EQ(pjobs[0].state, JobState::Superseded);
  EXPECT_EQ(pjobs[1].state, JobState::Done);
  EXPECT_EQ(record.opened(shaOf("v1")), 0);
}

}  // namespace
}  // namespace pkgxfer::testing
