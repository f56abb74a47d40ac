// The pulldp component end to end on real sockets (127.0.0.1): notifications over HTTP, bodies
// from real source DPs (DpService over temp libraries) or scripted ones, statuses to a stand-in
// of the site's status receiver, and the pull DP's real library and SQLite database. Time-based
// behaviour (backoff, throttling) runs on a FakeClock the tests advance.

#include <gtest/gtest.h>

#include <filesystem>

#include "pull_dp_fixture.h"

namespace pkgxfer::pulldp::testing {
namespace {

using pkgxfer::testing::waitFor;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string sha(const std::string& body) { return http::testing::sha256Hex(body); }

// Temporary files anywhere in a library (SPEC §3: none once the service is at rest).
std::vector<std::string> partialFiles(const std::filesystem::path& root) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (name.find(".partial") != std::string::npos) out.push_back(name);
  }
  return out;
}

TEST_F(PullDpTest, DownloadsOnlyMissingBodiesCommitsTheManifestAndReportsInstalled) {
  startSite();
  RealSource& src = startSource("src1");
  const std::string a = makeBody(300 * 1024, 1), b = makeBody(2500 * 1024, 2), c = makeBody(10, 3);
  for (const auto& body : {a, b, c}) putBody(*src.library, body);
  startPullDp();
  putBody(pullLibrary(), c);  // already on the pull DP

  notifyOk(notification(1, {a, b, c}, {src.url}));
  ASSERT_TRUE(waitFor([&] { return site_.has(1, PullState::Installed); }, seconds(30)))
      << pullLog();

  EXPECT_TRUE(pullLibrary().hasContent("PS100001", 1));
  EXPECT_TRUE(pullLibrary().hasBody(sha(a)));
  EXPECT_TRUE(pullLibrary().hasBody(sha(b)));
  auto report = pullLibrary().validate("PS100001", 1);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->describe();
  auto final = *site_.last(1);
  EXPECT_EQ(final.files_total, 2u);
  EXPECT_EQ(final.files_done, 2u);
  EXPECT_EQ(final.bytes_total, a.size() + b.size());
  EXPECT_EQ(final.bytes_done, a.size() + b.size());
  EXPECT_EQ(final.dp, "pdp01");
  EXPECT_TRUE(final.error.empty()) << final.error;
  auto got = jobStatus(1);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->state, PullState::Installed);

  const std::string log = pullLog();
  EXPECT_NE(log.find("Notification received from"), std::string::npos) << log;
  EXPECT_NE(log.find("2 files (2.7 MB) to download, 1 already present (10 B)"), std::string::npos)
      << log;
  EXPECT_NE(log.find("Downloading " + sha(a)), std::string::npos);
  EXPECT_NE(log.find("Hash of " + sha(b)), std::string::npos);
  EXPECT_EQ(log.find("Downloading " + sha(c)), std::string::npos);  // present: not fetched
  EXPECT_NE(log.find("Status sent to " + config_.pulldp->site_status_url + ": job 1"),
            std::string::npos);
  EXPECT_TRUE(partialFiles(dir_ / "pdp01").empty());
}

TEST_F(PullDpTest, RedistributeDownloadsEveryBodyAgain) {
  startSite();
  RealSource& src = startSource("src1");
  const std::string a = makeBody(1000, 1), c = makeBody(5000, 3);
  putBody(*src.library, a);
  putBody(*src.library, c);
  startPullDp();
  putBody(pullLibrary(), c);

  notifyOk(notification(2, {a, c}, {src.url}, /*redistribute=*/true));
  ASSERT_TRUE(waitFor([&] { return site_.has(2, PullState::Installed); })) << pullLog();
  EXPECT_EQ(site_.last(2)->files_total, 2u);
  EXPECT_NE(pullLog().find("Downloading " + sha(c)), std::string::npos);
  EXPECT_TRUE(pullLibrary().hasContent("PS100001", 2));
}

TEST_F(PullDpTest, TakesEachBodyFromTheFirstSourceThatHasIt) {
  startSite();
  RealSource& first = startSource("src1");
  RealSource& second = startSource("src2");
  const std::string a = makeBody(4000, 1), b = makeBody(6000, 2);
  putBody(*first.library, a);
  putBody(*second.library, a);
  putBody(*second.library, b);
  startPullDp();

  notifyOk(notification(3, {a, b}, {first.url, second.url}));
  ASSERT_TRUE(waitFor([&] { return site_.has(3, PullState::Installed); })) << pullLog();
  const std::string log = pullLog();
  EXPECT_NE(log.find("Downloading " + sha(a) + " (dir/file100.bin, 3.9 KB) from " + first.url +
                     " (1 of 2 sources: the first source)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("Source " + first.url + " does not have " + sha(b)), std::string::npos);
  EXPECT_NE(log.find("Downloading " + sha(b) + " (dir/file101.bin, 5.9 KB) from " + second.url +
                     " (2 of 2 sources: the previous source does not have it)"),
            std::string::npos)
      << log;
  EXPECT_TRUE(pullLibrary().hasContent("PS100001", 3));
}

TEST_F(PullDpTest, ASourceThatFailsMidBodyLeavesItToTheNextWhichContinuesAtTheSameOffset) {
  startSite();
  std::string url1, url2;
  ScriptedSource& first = startScripted(&url1);
  ScriptedSource& second = startScripted(&url2);
  const std::string body = makeBody(1 << 20, 4);
  first.add(body);
  second.add(body);
  first.cut_after = 300000;
  startPullDp();

  notifyOk(notification(4, {body}, {url1, url2}));
  ASSERT_TRUE(waitFor([&] { return site_.has(4, PullState::Installed); })) << pullLog();
  auto from_first = first.served();
  auto from_second = second.served();
  ASSERT_EQ(from_first.size(), 1u);
  EXPECT_EQ(from_first[0].bytes, 300000u);
  EXPECT_EQ(from_first[0].range, "");
  ASSERT_EQ(from_second.size(), 1u);
  EXPECT_EQ(from_second[0].range, "bytes=300000-");  // not from 0
  EXPECT_EQ(from_second[0].bytes, body.size() - 300000);
  const std::string log = pullLog();
  EXPECT_NE(log.find("Source " + url1 + " failed for " + sha(body) +
                     " (dir/file100.bin) at offset 300000"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("(2 of 2 sources: the previous source failed at offset 300000), from offset "
                     "300000"),
            std::string::npos)
      << log;
  EXPECT_TRUE(pullLibrary().hasBody(sha(body)));
  EXPECT_TRUE(pullLibrary().validate("PS100001", 4)->ok());
}

TEST_F(PullDpTest, ACorruptBodyIsRefusedAndTheNextSourceUsed) {
  startSite();
  std::string url1;
  ScriptedSource& bad = startScripted(&url1);
  RealSource& good = startSource("src2");
  const std::string body = makeBody(200 * 1024, 5);
  bad.add(body);
  bad.corrupt = true;
  putBody(*good.library, body);
  startPullDp();

  notifyOk(notification(5, {body}, {url1, good.url}));
  ASSERT_TRUE(waitFor([&] { return site_.has(5, PullState::Installed); })) << pullLog();
  const std::string log = pullLog();
  EXPECT_NE(log.find("Body " + sha(body) + " (dir/file100.bin) from " + url1 +
                     " does not match its hash, discarded"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("(2 of 2 sources: the previous source sent a corrupt body)"),
            std::string::npos);
  EXPECT_TRUE(pullLibrary().validate("PS100001", 5)->ok());
  EXPECT_TRUE(partialFiles(dir_ / "pdp01").empty());
}

TEST_F(PullDpTest, NoSourceHasABodyFailsTheJobAfterItsAttempts) {
  startSite();
  RealSource& src = startSource("src1");
  const std::string body = makeBody(100, 6);
  options_.max_attempts = 2;
  options_.job_retry_initial = seconds(30);
  startPullDp();

  notifyOk(notification(6, {body}, {src.url}));
  ASSERT_TRUE(waitFor([&] { return logHas("Job 6 attempt 1 of 2 failed"); })) << pullLog();
  EXPECT_TRUE(logHas("next attempt in 30s"));
  clock_.advance(seconds(30));
  ASSERT_TRUE(waitFor([&] { return site_.has(6, PullState::Failed); })) << pullLog();
  EXPECT_NE(site_.last(6)->error.find("no source could supply " + sha(body)), std::string::npos)
      << site_.last(6)->error;
  EXPECT_NE(site_.last(6)->error.find("HTTP 404"), std::string::npos);
  EXPECT_FALSE(pullLibrary().hasContent("PS100001", 6));
}

TEST_F(PullDpTest, StatusIsRetriedWithBackoffWhileTheSiteRefusesItThenDelivered) {
  startSite();
  site_.answer = 503;
  RealSource& src = startSource("src1");
  const std::string body = makeBody(5000, 7);
  putBody(*src.library, body);
  startPullDp();

  notifyOk(notification(7, {body}, {src.url}));
  ASSERT_TRUE(waitState(7, PullState::Installed)) << pullLog();
  ASSERT_TRUE(waitFor([&] { return pulldp_->stats().status_failed >= 1; }));
  auto quiet = [&](std::uint64_t failures) {  // many polls, and no new attempt
    const auto polls = pulldp_->stats().polls;
    EXPECT_TRUE(waitFor([&] { return pulldp_->stats().polls >= polls + 20; }));
    EXPECT_EQ(pulldp_->stats().status_failed, failures);
  };
  quiet(1);
  clock_.advance(seconds(2));
  ASSERT_TRUE(waitFor([&] { return pulldp_->stats().status_failed >= 2; }));
  clock_.advance(seconds(3));  // the next is 4 s after the second failure
  quiet(2);
  clock_.advance(seconds(1));
  ASSERT_TRUE(waitFor([&] { return pulldp_->stats().status_failed >= 3; }));
  quiet(3);
  EXPECT_EQ(site_.attempts(), 3u);
  site_.answer = 200;
  clock_.advance(seconds(8));
  ASSERT_TRUE(waitFor([&] { return site_.has(7, PullState::Installed); })) << pullLog();
  // The site records a status before it answers: the pull DP learns of the delivery (and logs
  // it) a moment later.
  ASSERT_TRUE(waitFor([&] { return pulldp_->stats().status_sent >= 1; })) << pullLog();

  const std::string log = pullLog();
  EXPECT_NE(log.find("(attempt 1): "), std::string::npos) << log;
  EXPECT_NE(log.find("HTTP 503"), std::string::npos);
  EXPECT_NE(log.find("next attempt in 2s"), std::string::npos);
  EXPECT_NE(log.find("next attempt in 4s"), std::string::npos);
  EXPECT_NE(log.find("next attempt in 8s"), std::string::npos);
  EXPECT_NE(log.find("takes status messages again after 3 failed attempt(s)"), std::string::npos);
  // Only the latest status went, with the job's latest sequence.
  auto received = site_.received();
  ASSERT_FALSE(received.empty());
  EXPECT_EQ(received.back().sequence, jobStatus(7)->sequence);
  for (std::size_t i = 1; i < received.size(); ++i) {
    EXPECT_LT(received[i - 1].sequence, received[i].sequence);
  }
  // Nothing more to send: no further attempts however long we wait.
  const auto sent = pulldp_->stats().status_sent;
  clock_.advance(std::chrono::minutes(10));
  const auto polls = pulldp_->stats().polls;
  EXPECT_TRUE(waitFor([&] { return pulldp_->stats().polls >= polls + 20; }));
  EXPECT_EQ(pulldp_->stats().status_sent, sent);
}

TEST_F(PullDpTest, StatusReachesASiteThatWasDownOnceItIsUp) {
  startSite();
  const std::uint16_t port = site_server_->port();
  ASSERT_TRUE(stopServer(*site_server_));
  my_servers_.clear();
  RealSource& src = startSource("src1");
  const std::string body = makeBody(5000, 8);
  putBody(*src.library, body);
  startPullDp();

  notifyOk(notification(8, {body}, {src.url}));
  ASSERT_TRUE(waitState(8, PullState::Installed)) << pullLog();
  ASSERT_TRUE(waitFor([&] { return pulldp_->stats().status_failed >= 1; }));
  EXPECT_TRUE(waitFor([&] { return logHas("Connection refused"); })) << pullLog();
  startSite(port);  // the site comes back where it was
  clock_.advance(std::chrono::minutes(5));
  ASSERT_TRUE(waitFor([&] { return site_.has(8, PullState::Installed); })) << pullLog();
}

TEST_F(PullDpTest, AStatusTheSiteRefusesForGoodHoldsNoOtherJobBack) {
  startSite();
  site_.unknown_job = 20;  // the site does not know job 20 (404), e.g. its database was reset
  RealSource& src = startSource("src1");
  const std::string a = makeBody(100, 20), b = makeBody(200, 21);
  putBody(*src.library, a);
  putBody(*src.library, b);
  startPullDp();
  notifyOk(notification(20, {a}, {src.url}));
  ASSERT_TRUE(waitState(20, PullState::Installed)) << pullLog();
  notifyOk(notification(21, {b}, {src.url}));
  // No backoff: job 21's statuses go at once (the FakeClock never moves here).
  ASSERT_TRUE(waitFor([&] { return site_.has(21, PullState::Installed); })) << pullLog();
  EXPECT_FALSE(site_.last(20));
  EXPECT_TRUE(logHas("refused the status of job 20 (installed, sequence 3)")) << pullLog();
  EXPECT_TRUE(logHas("HTTP 404"));
  // Refused once per status: nothing is retried.
  const auto attempts = site_.attempts();
  const auto polls = pulldp_->stats().polls;
  EXPECT_TRUE(waitFor([&] { return pulldp_->stats().polls >= polls + 20; }));
  EXPECT_EQ(site_.attempts(), attempts);
}

TEST_F(PullDpTest, GetPullJobAnswersProgressAndStateAnd404ForAnUnknownJob) {
  startSite();
  std::string url;
  ScriptedSource& src = startScripted(&url);
  const std::string body = makeBody(1 << 20, 9);
  src.add(body);
  src.stall_after = 256 * 1024;
  options_.checkpoint_bytes = 64 * 1024;
  startPullDp();

  notifyOk(notification(9, {body}, {url}));
  ASSERT_TRUE(waitFor([&] {
    auto s = jobStatus(9);
    return s && s->state == PullState::Downloading && s->bytes_done >= 64 * 1024;
  })) << pullLog();
  auto s = jobStatus(9);
  EXPECT_EQ(s->bytes_total, body.size());
  EXPECT_EQ(s->files_total, 1u);
  EXPECT_EQ(s->files_done, 0u);
  EXPECT_EQ(s->source, url);

  auto unknown = getJob("10");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
  auto bad = getJob("abc");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);

  src.release();
  ASSERT_TRUE(waitState(9, PullState::Installed)) << pullLog();
  s = jobStatus(9);
  EXPECT_EQ(s->bytes_done, body.size());
  EXPECT_EQ(s->files_done, 1u);
}

TEST_F(PullDpTest, NotificationsAreIdempotentByJobId) {
  startSite();
  RealSource& src = startSource("src1");
  const std::string body = makeBody(100, 10);
  putBody(*src.library, body);
  startPullDp();
  auto n = notification(11, {body}, {src.url});
  notifyOk(n);
  ASSERT_TRUE(waitState(11, PullState::Installed));
  notifyOk(n);  // again: the same job, already done
  EXPECT_EQ(jobStatus(11)->state, PullState::Installed);
  EXPECT_TRUE(logHas("Notification of job 11 (PS100001 v11) received again"));
  auto other = notification(11, {body}, {src.url});
  other.manifest.version = 12;
  auto r = notify(other);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 409) << r->body;
}

TEST_F(PullDpTest, AMissingOrWrongTokenIsRefusedWith401AndChangesNothing) {
  startSite();
  startPullDp();
  auto n = notification(12, {makeBody(10, 1)}, {"http://127.0.0.1:1"});
  for (const std::string auth : {"", "Bearer wrong-token"}) {
    http::ClientRequest r;
    r.method = "POST";
    r.target = "/v1/pull-jobs";
    r.body = transport::pull::toJson(n);
    r.content_type = "application/json";
    if (!auth.empty()) r.headers.push_back({"Authorization", auth});
    auto res = client_->request(within(seconds(10)), r);
    ASSERT_TRUE(res.ok()) << res.status().toString();
    EXPECT_EQ(res->status, 401);
  }
  auto get = getJob("12", /*token=*/false);
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 401);
  auto known = getJob("12");
  ASSERT_TRUE(known.ok());
  EXPECT_EQ(known->status, 404);  // nothing was recorded
}

TEST_F(PullDpTest, SixtyNotificationsRunAtMostFiftyAtOnceAndAllFinish) {
  startSite();
  std::string url;
  ScriptedSource& src = startScripted(&url, /*handlers=*/64);
  src.stall_whole = true;
  std::vector<std::string> bodies;
  for (int i = 0; i < 60; ++i) {
    bodies.push_back(makeBody(1000, 100 + i));
    src.add(bodies.back());
  }
  ASSERT_EQ(config_.pulldp->max_concurrent_jobs, 50);
  startPullDp();
  for (int i = 0; i < 60; ++i) notifyOk(notification(100 + i, {bodies[i]}, {url}));

  ASSERT_TRUE(waitFor([&] {
    return src.in_flight.load() == 50 && pulldp_->stats().jobs_running == 50;
  })) << src.in_flight.load()
      << " downloads in flight";
  // The last ten wait their turn (first come, first served).
  for (int i = 50; i < 60; ++i) EXPECT_EQ(jobStatus(100 + i)->state, PullState::Queued);
  EXPECT_EQ(jobStatus(100)->state, PullState::Downloading);
  src.release();
  ASSERT_TRUE(waitFor(
      [&] {
        for (int i = 0; i < 60; ++i) {
          if (!site_.has(100 + i, PullState::Installed)) return false;
        }
        return true;
      },
      seconds(60)))
      << pullLog();
  EXPECT_EQ(pulldp_->stats().max_jobs_running, 50u);
  EXPECT_EQ(src.max_in_flight.load(), 50);
}

TEST_F(PullDpTest, ARestartResumesAHalfDownloadedBodyAboveZero) {
  startSite();
  std::string url;
  ScriptedSource& src = startScripted(&url);
  const std::string body = makeBody(2 << 20, 13);
  src.add(body);
  src.stall_after = 512 * 1024;
  options_.checkpoint_bytes = 128 * 1024;
  startPullDp();

  notifyOk(notification(13, {body}, {url}));
  ASSERT_TRUE(waitFor([&] {
    auto s = jobStatus(13);
    return s && s->bytes_done >= 512 * 1024;
  })) << pullLog();
  stopPullDp();  // the component stops: its library and database are closed
  src.stall_after = 0;
  src.release();
  EXPECT_FALSE(partialFiles(dir_ / "pdp01").empty());  // the half body waits for the restart

  startPullDp();  // reopens the same library and database
  ASSERT_TRUE(waitFor([&] { return site_.has(13, PullState::Installed); }, seconds(30)))
      << pullLog();
  auto served = src.served();
  ASSERT_GE(served.size(), 2u);
  const std::string range = served.back().range;
  ASSERT_EQ(range.rfind("bytes=", 0), 0u) << range;
  const std::uint64_t resumed_at = std::stoull(range.substr(6));
  EXPECT_GE(resumed_at, 128u * 1024);  // a durable offset above 0
  EXPECT_EQ(served.back().bytes, body.size() - resumed_at);
  EXPECT_TRUE(logHas("Resuming " + sha(body) + " (dir/file100.bin) at offset " +
                     std::to_string(resumed_at)))
      << pullLog();
  EXPECT_TRUE(logHas("Resuming job 13"));
  EXPECT_TRUE(pullLibrary().validate("PS100001", 13)->ok());
  EXPECT_TRUE(partialFiles(dir_ / "pdp01").empty());
}

}  // namespace
}  // namespace pkgxfer::pulldp::testing
