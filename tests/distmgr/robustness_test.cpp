// What a distribution survives, in one process: a DP's file system that fails at any write-side
// call (disk full, I/O error, access denied), a removal of another package that shares a body
// while the body is on its way, an exception on a sending stream, and a DP that stops answering
// while the service stops.

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "distmgr/site_fixture.h"
#include "distmgr/wrapped_transport.h"
#include "pkgxfer/fs/fault_injecting_file_system.h"

namespace pkgxfer::testing {
namespace {

using fs::Fault;
using fs::FaultInjectingFileSystem;
using fs::Op;
using store::DistributionState;
using store::JobState;
using store::RequestKind;

std::string shaOf(const std::string& data) { return *content::sha256Hex(data); }

// `n` bytes that differ from position to position.
std::string pattern(std::size_t n, char seed) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>(seed + i * 7 + i / 4093);
  return out;
}

// Every file under a final body name in the DP's FileLib holds the complete body of that name.
void expectOnlyCompleteBodies(const std::filesystem::path& root) {
  if (!std::filesystem::exists(root / "FileLib")) return;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root / "FileLib")) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || !content::isSha256Hex(name)) continue;
    EXPECT_EQ(shaOf(readFile(e.path())), name) << "a partial body under its final name";
  }
}

struct FaultCase {
  const char* name;
  Op op;
  const char* path_piece;  // which calls (see FaultInjectingFileSystem)
  int after;               // calls let through first
  // The package: false, four bodies sent on one stream and installed as one batch (one of them
  // 3 MiB, checkpointed on its way); true, one small body, installed on its own.
  bool single = false;
};

struct FaultParam {
  FaultCase where;
  int error;
};

std::string paramName(const ::testing::TestParamInfo<FaultParam>& info) {
  return std::string(info.param.where.name) + "_" + ::strerrorname_np(info.param.error);
}

class DpFaultTest : public SiteFixture, public ::testing::WithParamInterface<FaultParam> {};

// ENOSPC, EIO or EACCES at a write-side call of an upload, of a batch install or of a manifest
// commit: the attempt fails with an error naming the file and the cause, nothing incomplete is
// ever under a final name, and the distribution completes once the fault is gone (the retry).
TEST_P(DpFaultTest, FailsNamingTheFileAndTheCauseThenCompletes) {
  const FaultParam& p = GetParam();
  addDps(1);
  streams_per_job_ = 1;           // one stream: the bodies are installed as one batch
  checkpoint_bytes_ = 256 << 10;  // the large body is checkpointed on its way (by bytes:
  checkpoint_interval_ = std::chrono::minutes(10);  // never by time, so the batch stays whole)
  const Files files = p.where.single ? Files{{"only.txt", "the one body"}}
                                     : Files{{"big.bin", pattern(3 << 20, 'b')},
                                             {"a.txt", "alpha"},
                                             {"b.txt", "beta"},
                                             {"dir/c.txt", "gamma"}};
  auto m = addPackage("PS100001", files);
  FaultInjectingFileSystem faulty;
  const int rule = faulty.inject(
      Fault::failing(p.where.op, p.where.path_piece, p.error, p.where.after, /*count=*/1));
  TransportRecord record;
  record.file_system = &faulty;
  record.sync = true;  // the volume and file flushes are calls that can fail too
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  ASSERT_EQ(faulty.hits(rule), 1) << "the fault was not reached";
  expectInstalled("dp01", m);
  expectOnlyCompleteBodies(dpRoot("dp01"));

  // The first attempt failed with the cause and the file; the retry (the fault gone) installed.
  auto all = jobs();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].state, JobState::Failed);
  EXPECT_EQ(all[1].state, JobState::Done);
  EXPECT_EQ(dist("PS100001", "dp01").attempts, 1);
  const std::string cause =
      std::string(std::strerror(p.error)) + " (" + ::strerrorname_np(p.error) + ")";
  EXPECT_NE(all[0].error.find(cause), std::string::npos) << all[0].error;
  EXPECT_NE(all[0].error.find(dpRoot("dp01").string()), std::string::npos)
      << "names the file: " << all[0].error;
  const Status::Code kind =
      p.error == EACCES ? Status::Code::PermissionDenied : Status::Code::IoError;
  EXPECT_EQ(all[0].error.rfind(std::string(codeName(kind)), 0), 0u) << all[0].error;
  EXPECT_NE(log("pkgxfermgr").find(cause), std::string::npos);
}

constexpr FaultCase kWriteSideCalls[] = {
    // An upload.
    {"PrefixFolder", Op::MakeDirectory, "/FileLib/", 0},
    {"UploadCreate", Op::Create, "/FileLib/", 0},
    {"UploadWrite", Op::Write, "/FileLib/", 0},
    {"UploadWriteLater", Op::Write, "/FileLib/", 2},
    {"UploadCheckpoint", Op::Sync, "/FileLib/", 0},
    {"UploadClose", Op::Close, "/FileLib/", 0},
    // A batch install: the flush of the bytes, the renames, the flush of the renames.
    {"InstallFlushBefore", Op::SyncVolume, "/dp01", 0},
    {"InstallRename", Op::Rename, "/FileLib/", 1},
    {"InstallFlushAfter", Op::SyncVolume, "/dp01", 1},
    // A body installed on its own: its fsync, its rename, its folder's and FileLib's fsync.
    {"SingleSync", Op::Sync, "/FileLib/", 0, true},
    {"SingleRename", Op::Rename, "/FileLib/", 0, true},
    {"SingleFolderSync", Op::SyncDirectory, "/FileLib/", 0, true},
    {"SingleFileLibSync", Op::SyncDirectory, "/FileLib", 1, true},
    // The manifest commit: the flush of the bodies' renames, then DataLib, then PkgLib.
    {"CommitFlush", Op::SyncVolume, "/dp01", 2},
    {"ManifestCreate", Op::Create, "/DataLib/", 0},
    {"ManifestWrite", Op::Write, "/DataLib/", 0},
    {"ManifestSync", Op::Sync, "/DataLib/", 0},
    {"ManifestRename", Op::Rename, "/DataLib/", 0},
    {"ManifestFolderSync", Op::SyncDirectory, "/DataLib", 0},
    {"PkgLibCreate", Op::Create, "/PkgLib/", 0},
    {"PkgLibWrite", Op::Write, "/PkgLib/", 0},
    {"PkgLibSync", Op::Sync, "/PkgLib/", 0},
    {"PkgLibRename", Op::Rename, "/PkgLib/", 0},
    {"PkgLibFolderSync", Op::SyncDirectory, "/PkgLib", 0},
};

std::vector<FaultParam> allFaults() {
  std::vector<FaultParam> out;
  for (const FaultCase& c : kWriteSideCalls) {
    for (int error : {ENOSPC, EIO, EACCES}) out.push_back({c, error});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(WriteSideCalls, DpFaultTest, ::testing::ValuesIn(allFaults()), paramName);

class RobustnessTest : public SiteFixture {};

// A job pins the bodies of the content it sends from before its inventory until its commit: a
// removal of another package that shares one, running meanwhile on the same DP, keeps it.
TEST_F(RobustnessTest, RemovingAPackageDuringAnUploadOfASharedBodyKeepsIt) {
  addDps(1);
  const std::string shared = "shared by both packages";
  auto a = addPackage("PS100001", {{"shared.dll", shared}, {"a.txt", "only in A"}});
  auto b = addPackage("PS100002", {{"lib/shared.dll", shared}, {"big.bin", pattern(3 << 20, 'z')}});
  TransportRecord record;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));

  // B's job sends only big.bin (shared.dll is there) and is held mid-body until A is removed.
  std::atomic<bool> release{false};
  std::atomic<bool> holding{false};
  record.after_write = [&](std::uint64_t) {
    if (release.load()) return;
    holding = true;
    waitFor([&] { return release.load(); }, std::chrono::seconds(20));
  };
  request(RequestKind::Distribute, "PS100002", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return holding.load(); }));
  request(RequestKind::Remove, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Removed));
  release = true;

  ASSERT_TRUE(waitForState("PS100002", {"dp01"}, DistributionState::Installed));
  EXPECT_EQ(dist("PS100002", "dp01").attempts, 0) << "B's distribution never failed";
  expectInstalled("dp01", b);
  EXPECT_EQ(record.opened(shaOf(shared)), 1) << "sent once, for A; never again";
  // A's own body went; the shared one stayed for B.
  EXPECT_FALSE(std::filesystem::exists(dpRoot("dp01") / "DataLib" / "PS100001.1.json"));
  const std::string only_a = shaOf("only in A");
  EXPECT_FALSE(std::filesystem::exists(dpRoot("dp01") / "FileLib" / only_a.substr(0, 4) / only_a));
  (void)a;
}

// An exception that escapes the code of a sending stream fails that job with its message; the
// service goes on and distributes the next package.
TEST_F(RobustnessTest, AnExceptionOnAStreamFailsItsJobAndTheServiceGoesOn) {
  addDps(1);
  std::string files_body;
  Files files;
  for (int i = 0; i < 20; ++i) files["f" + std::to_string(i)] = pattern(5000 + i, 'a');
  addPackage("PS100001", files);
  auto second = addPackage("PS100002", {{"x.txt", "after the exception"}});
  TransportRecord record;
  record.throw_write_after = 30000;  // on whichever stream passes it
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Failed));
  const auto row = dist("PS100001", "dp01");
  EXPECT_NE(row.last_error.find("uncaught exception on sending stream"), std::string::npos)
      << row.last_error;
  EXPECT_NE(row.last_error.find("vector::_M_range_check"), std::string::npos) << row.last_error;
  EXPECT_NE(log("pkgxfermgr").find("vector::_M_range_check"), std::string::npos);
  EXPECT_TRUE(tempFiles("dp01").empty()) << "nothing left behind";

  request(RequestKind::Distribute, "PS100002", {"dp01"});
  ASSERT_TRUE(waitForState("PS100002", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", second);
}

// A DP that stops answering in the middle of a write: the service's stop reaches the call through
// its stop token, so the stop takes well under the grace period, and the job resumes later.
TEST_F(RobustnessTest, AStopReachesACallThatHangs) {
  addDps(1);
  auto m = addPackage("PS100001", {{"big.bin", pattern(2 << 20, 'h')}});
  TransportRecord record;
  record.hang_writes = true;
  startSite(recordingFactory(record));
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] { return record.hanging.load() > 0; }));
  const auto before = std::chrono::steady_clock::now();
  stopSite();  // asserts every component stopped in time
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(3));
  EXPECT_EQ(record.hanging.load(), 0);
  EXPECT_EQ(jobs().back().state, JobState::Queued) << "kept to resume at the next start";

  record.hang_writes = false;
  startSite(recordingFactory(record));
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  expectInstalled("dp01", m);
}

// A DP whose library root comes back empty (a share not mounted, a folder that vanished and came
// back) while the site records content there receives nothing: the check says so, and the pair
// retries until the right library is back.
TEST_F(RobustnessTest, AnEmptyRootWhereTheSiteHasContentReceivesNothing) {
  addDps(1);
  auto m = addPackage("PS100001", {{"a.txt", "alpha"}});
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitForState("PS100001", {"dp01"}, DistributionState::Installed));
  stopSite();
  // The share is unmounted: its mount point is an empty folder.
  const auto moved = dir_.path() / "dp01-mounted";
  std::filesystem::rename(dpRoot("dp01"), moved);
  std::filesystem::create_directories(dpRoot("dp01"));
  addPackage("PS100001", {{"a.txt", "alpha"}, {"b.txt", "beta"}});  // version 2
  config_.distribution.retry_count = 100;
  startSite();
  request(RequestKind::Distribute, "PS100001", {"dp01"});
  ASSERT_TRUE(waitFor([&] {
    return dist("PS100001", "dp01").last_error.find("is not the one this site initialised") !=
           std::string::npos;
  })) << dist("PS100001", "dp01").last_error;
  EXPECT_EQ(dist("PS100001", "dp01").state, DistributionState::Retrying);
  EXPECT_TRUE(std::filesystem::is_empty(dpRoot("dp01")))
      << "something was written to the mount point";
  // The share is back: the retry installs the new version there.
  std::filesystem::remove(dpRoot("dp01"));
  std::filesystem::rename(moved, dpRoot("dp01"));
  ASSERT_TRUE(waitFor(
      [&] {
        auto row = dist("PS100001", "dp01");
        return row.state == DistributionState::Installed && row.version == 2;
      },
      std::chrono::seconds(30)));
  (void)m;
}

}  // namespace
}  // namespace pkgxfer::testing
