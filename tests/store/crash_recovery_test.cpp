// A process killed (SIGKILL) in the middle of writing leaves a database that opens cleanly, passes
// the integrity check, and holds every transaction it committed, each one whole.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>

#include "pkgxfer/store/database.h"
#include "pkgxfer/store/distribution_repository.h"
#include "pkgxfer/store/package_repository.h"
#include "pkgxfer/store/request_repository.h"
#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

namespace fs = std::filesystem;
using pkgxfer::testing::FakeClock;
using pkgxfer::testing::TempDir;

constexpr int kFilesPerVersion = 20;

// The child: forever, in one transaction each, adds a package version (20 files), enqueues a
// request and records the version in the distribution's progress; after each commit, writes the
// committed version number to `fd`. Never returns.
[[noreturn]] void writeUntilKilled(const fs::path& file, int fd) {
  FakeClock clock;
  auto db = Database::open(file, clock);
  if (!db.ok()) ::_exit(10);
  PackageRepository packages(**db);
  RequestRepository requests(**db);
  DistributionRepository distributions(**db);
  for (int i = 0;; ++i) {
    clock.advance(std::chrono::milliseconds(3));
    auto tx = Transaction::begin(**db);
    if (!tx.ok()) ::_exit(11);
    auto version = packages.addVersion("PS100001", makeContent(kFilesPerVersion, i + 7));
    if (!version.ok()) ::_exit(12);
    if (!requests.enqueue(RequestKind::Distribute, "PS100001", "dp01").ok()) ::_exit(13);
    const auto v = static_cast<std::uint64_t>(*version);
    if (!distributions.setProgress("PS100001", "dp01", {v, v, v, v}).ok()) ::_exit(14);
    if (!tx->commit().ok()) ::_exit(15);
    const int committed = *version;
    if (::write(fd, &committed, sizeof committed) != sizeof committed) ::_exit(16);
  }
}

// Reads committed version numbers from `fd` until one is >= `target`; returns the last read, or
// -1 on timeout or EOF (the child died by itself).
int readUntil(int fd, int target, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int last = 0;
  while (last < target) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return -1;
    pollfd pfd{fd, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    int value = 0;
    const ssize_t got = ::read(fd, &value, sizeof value);  // 4-byte writes to a pipe are atomic
    if (got != sizeof value) return -1;
    last = value;
  }
  return last;
}

// Verifies the database a SIGKILLed writer leaves behind, three times over.
TEST(CrashRecoveryTest, KilledWriterLeavesConsistentDatabase) {
  TempDir dir;
  FakeClock clock;
  const fs::path file = dir.path() / "site.db";
  {
    auto db = Database::open(file, clock);
    ASSERT_TRUE(db.ok()) << db.status().toString();
    ASSERT_TRUE(DistributionPointRepository(**db).syncFromConfig({makeDp("dp01")}).ok());
    ASSERT_TRUE(PackageRepository(**db)
                    .add({"PS100001", "Crash", "/src/crash"}, makeContent(kFilesPerVersion))
                    .ok());
    ASSERT_TRUE(DistributionRepository(**db)
                    .start("PS100001", "dp01", 1, DistributionState::Transferring)
                    .ok());
  }  // no connection is open across fork()

  int last_committed = 1;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      writeUntilKilled(file, fds[1]);
    }
    ::close(fds[1]);
    int reported = readUntil(fds[0], last_committed + 40 + 13 * round, std::chrono::seconds(60));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    // The writer may have committed and reported more between our last read and the kill; those
    // reports are still in the pipe (its write end is closed now, so this ends at EOF).
    for (int value = 0; reported > 0 && ::read(fds[0], &value, sizeof value) == sizeof value;) {
      reported = value;
    }
    ::close(fds[0]);
    ASSERT_GT(reported, 0) << "the writer stopped early, exit code "
                           << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL);
    last_committed = reported;

    // Opening runs WAL recovery and the integrity check.
    auto db = Database::open(file, clock);
    ASSERT_TRUE(db.ok()) << db.status().toString();
    ASSERT_TRUE((*db)->quickCheck().ok());
    PackageRepository packages(**db);

    // Every commit the writer reported is there; at most one more (committed, not yet reported).
    auto latest = packages.latestVersion("PS100001");
    ASSERT_TRUE(latest.ok()) << latest.status().toString();
    EXPECT_GE(*latest, last_committed);
    EXPECT_LE(*latest, last_committed + 1);

    // Each transaction is whole: versions 1..latest, each with all its files; one request per
    // version after the first; the progress written in the same transaction as the latest one.
    auto versions = packages.listVersions("PS100001");
    ASSERT_TRUE(versions.ok());
    ASSERT_EQ(versions->size(), static_cast<std::size_t>(*latest));
    for (const auto& version : *versions) {
      ASSERT_EQ(version.file_count, static_cast<std::uint64_t>(kFilesPerVersion));
      auto files = packages.files("PS100001", version.version);
      ASSERT_TRUE(files.ok());
      ASSERT_EQ(files->size(), static_cast<std::size_t>(kFilesPerVersion)) << version.version;
    }
    EXPECT_EQ(RequestRepository(**db).list()->size(), static_cast<std::size_t>(*latest - 1));
    auto distribution = DistributionRepository(**db).get("PS100001", "dp01");
    ASSERT_TRUE(distribution.ok());
    EXPECT_EQ(distribution->progress.bytes_done, static_cast<std::uint64_t>(*latest));
    last_committed = *latest;
  }
}

}  // namespace
}  // namespace pkgxfer::store
