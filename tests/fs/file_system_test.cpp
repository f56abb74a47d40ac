#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "fakes/hostile_files.h"
#include "fakes/test_util.h"
#include "pkgxfer/fs/fault_injecting_file_system.h"
#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::fs {
namespace {

using pkgxfer::testing::describedAs;
using pkgxfer::testing::Hostile;
using pkgxfer::testing::plant;
using pkgxfer::testing::plantSparse;
using pkgxfer::testing::readFile;
using pkgxfer::testing::TempDir;
using pkgxfer::testing::writeFile;

class FileSystemTest : public ::testing::Test {
 protected:
  FileSystem& local_ = FileSystem::local();
  TempDir dir_;
};

TEST_F(FileSystemTest, CreateWriteReadSyncAndRename) {
  const Path a = dir_ / "a.tmp";
  auto file = local_.open(a, OpenMode::CreateNew);
  ASSERT_TRUE(file.ok()) << file.status().toString();
  ASSERT_TRUE((*file)->writeAt(0, "hello world", 11).ok());
  ASSERT_TRUE((*file)->writeAt(6, "there", 5).ok());
  ASSERT_TRUE((*file)->sync().ok());
  char buf[32];
  auto n = (*file)->readAt(0, buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "hello there");
  auto info = (*file)->info();
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->isRegular());
  EXPECT_EQ(info->size, 11u);
  ASSERT_TRUE((*file)->truncate(5).ok());
  ASSERT_TRUE((*file)->close().ok());
  ASSERT_TRUE((*file)->close().ok());  // idempotent

  ASSERT_TRUE(local_.rename(a, dir_ / "b").ok());
  EXPECT_EQ(readFile(dir_ / "b"), "hello");
  auto st = local_.stat(dir_ / "b");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->size, 5u);
  EXPECT_TRUE(st->sameFile(*info));  // the rename kept the file
  EXPECT_TRUE(local_.syncDirectory(dir_.path()).ok());
  EXPECT_TRUE(local_.syncVolume(dir_.path()).ok());
  EXPECT_GT(*local_.freeSpace(dir_.path()), 0u);
}

TEST_F(FileSystemTest, ErrorsNameTheCallThePathAndTheCause) {
  auto missing = local_.open(dir_ / "nope", OpenMode::Read);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::NotFound);
  EXPECT_EQ(missing.status().message(),
            "open " + (dir_ / "nope").string() + ": No such file or directory (ENOENT)");

  writeFile(dir_ / "taken", "x");
  auto taken = local_.open(dir_ / "taken", OpenMode::CreateNew);
  EXPECT_EQ(taken.status().code(), Status::Code::AlreadyExists) << taken.status().toString();
  EXPECT_NE(taken.status().message().find("create " + (dir_ / "taken").string()),
            std::string::npos);

  EXPECT_EQ(local_.remove(dir_ / "nope").code(), Status::Code::NotFound);
  EXPECT_EQ(local_.list(dir_ / "nope", [](std::string_view, FileType) {}).code(),
            Status::Code::NotFound);
  EXPECT_EQ(local_.rename(dir_ / "nope", dir_ / "x").code(), Status::Code::NotFound);
}

TEST_F(FileSystemTest, MakeDirectorySaysWhetherItMadeIt) {
  EXPECT_TRUE(*local_.makeDirectory(dir_ / "d"));
  EXPECT_FALSE(*local_.makeDirectory(dir_ / "d"));
  EXPECT_EQ(local_.makeDirectory(dir_ / "no" / "parents").status().code(), Status::Code::NotFound);
}

TEST_F(FileSystemTest, ListReportsNamesAndTypes) {
  writeFile(dir_ / "f", "x");
  std::filesystem::create_directory(dir_ / "d");
  std::filesystem::create_symlink("f", dir_ / "l");
  std::set<std::string> names;
  ASSERT_TRUE(local_
                  .list(dir_.path(),
                        [&](std::string_view name, FileType type) {
                          names.insert(std::string(name));
                          if (type == FileType::Unknown) return;  // the listing need not say
                          if (name == "f") {
                            EXPECT_EQ(type, FileType::Regular);
                          } else if (name == "d") {
                            EXPECT_EQ(type, FileType::Directory);
                          } else {
                            EXPECT_EQ(type, FileType::Symlink);
                          }
                        })
                  .ok());
  EXPECT_EQ(names, (std::set<std::string>{"f", "d", "l"}));
  EXPECT_EQ(local_.stat(dir_ / "l", /*follow_links=*/false)->type, FileType::Symlink);
  EXPECT_EQ(local_.stat(dir_ / "l")->type, FileType::Regular);
  EXPECT_EQ(*local_.canonical(dir_ / "l"), std::filesystem::canonical(dir_ / "f"));
}

TEST_F(FileSystemTest, ReadWriteNeverWritesThroughALink) {
  writeFile(dir_ / "target", "keep");
  std::filesystem::create_symlink("target", dir_ / "link");
  EXPECT_FALSE(local_.open(dir_ / "link", OpenMode::ReadWrite).ok());
  EXPECT_EQ(local_.open(dir_ / "link", OpenMode::CreateNew).status().code(),
            Status::Code::AlreadyExists);
  EXPECT_EQ(readFile(dir_ / "target"), "keep");
}

TEST_F(FileSystemTest, OpeningAFifoForReadingDoesNotBlock) {
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  auto file = local_.open(dir_ / "fifo", OpenMode::Read);  // would hang without O_NONBLOCK
  ASSERT_TRUE(file.ok()) << file.status().toString();
  EXPECT_EQ((*file)->info()->type, FileType::Fifo);
  auto whole = readWholeFile(local_, dir_ / "fifo");
  EXPECT_EQ(whole.status().code(), Status::Code::InvalidArgument);
  EXPECT_NE(whole.status().message().find("a FIFO"), std::string::npos);
}

// The modes that need a regular file refuse whatever else is at the name, at once (a FIFO open
// must not wait for a writer), with a message that names the file and says what is there, and
// never touch what a link points to.
TEST_F(FileSystemTest, RegularOnlyModesRefuseHostileFilesAndNameThem) {
  writeFile(dir_ / "outside", "keep");
  for (Hostile kind : {Hostile::Fifo, Hostile::Socket, Hostile::Symlink}) {
    SCOPED_TRACE(pkgxfer::testing::toString(kind));
    const Path path = dir_ / "planted";
    plant(kind, path, dir_ / "outside");
    for (OpenMode mode : {OpenMode::ReadRegular, OpenMode::ReadWrite}) {
      auto file = local_.open(path, mode);
      ASSERT_FALSE(file.ok());
      EXPECT_EQ(file.status().code(), Status::Code::InvalidArgument) << file.status().toString();
      EXPECT_EQ(file.status().message(),
                path.string() + ": " + describedAs(kind) + ", not a regular file");
    }
    auto whole = readWholeFile(local_, path, 1 << 20, /*follow_links=*/false);
    EXPECT_EQ(whole.status().code(), Status::Code::InvalidArgument);
    EXPECT_NE(whole.status().message().find(path.string() + ": " + describedAs(kind)),
              std::string::npos)
        << whole.status().toString();
  }
  EXPECT_EQ(readFile(dir_ / "outside"), "keep");

  std::filesystem::create_directory(dir_ / "folder");
  EXPECT_EQ(local_.open(dir_ / "folder", OpenMode::ReadWrite).status().message(),
            (dir_ / "folder").string() + ": a folder, not a regular file");
  EXPECT_EQ(local_.open(dir_ / "folder", OpenMode::ReadRegular).status().message(),
            (dir_ / "folder").string() + ": a folder, not a regular file");
}

TEST_F(FileSystemTest, ReadRegularFollowsLinksAlongThePathButNotAtTheName) {
  writeFile(dir_ / "real" / "f", "data");
  std::filesystem::create_directory_symlink("real", dir_ / "root");  // a library root may be one
  auto file = local_.open(dir_ / "root" / "f", OpenMode::ReadRegular);
  ASSERT_TRUE(file.ok()) << file.status().toString();
  EXPECT_EQ((*file)->info()->size, 4u);
  // Read (package sources) still follows a link at the name.
  std::filesystem::create_symlink("real/f", dir_ / "alias");
  EXPECT_TRUE(local_.open(dir_ / "alias", OpenMode::Read).ok());
  EXPECT_EQ(*readWholeFile(local_, dir_ / "alias"), "data");
}

TEST_F(FileSystemTest, AHugeSparseFileIsRefusedBeforeAnythingIsRead) {
  plantSparse(dir_ / "huge.json");
  const auto start = std::chrono::steady_clock::now();
  auto whole = readWholeFile(local_, dir_ / "huge.json", 256 << 20, /*follow_links=*/false);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_EQ(whole.status().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(whole.status().message(), (dir_ / "huge.json").string() + ": " +
                                          std::to_string(pkgxfer::testing::kHugeSparseSize) +
                                          " bytes, more than the 268435456 this file may have");
}

TEST_F(FileSystemTest, ReadWholeFileHonoursItsLimit) {
  writeFile(dir_ / "m.json", std::string(1000, 'x'));
  EXPECT_EQ(readWholeFile(local_, dir_ / "m.json")->size(), 1000u);
  auto big = readWholeFile(local_, dir_ / "m.json", 999);
  EXPECT_EQ(big.status().code(), Status::Code::InvalidArgument);
  writeFile(dir_ / "empty", "");
  EXPECT_EQ(*readWholeFile(local_, dir_ / "empty"), "");
}

TEST_F(FileSystemTest, TryLockIsExclusiveAcrossOpenFiles) {
  auto one = local_.open(dir_ / "locked", OpenMode::CreateNew);
  auto two = local_.open(dir_ / "locked", OpenMode::Read);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_TRUE(*(*one)->tryLock());
  EXPECT_FALSE(*(*two)->tryLock());
  ASSERT_TRUE((*one)->close().ok());
  EXPECT_TRUE(*(*two)->tryLock());
}

TEST_F(FileSystemTest, DirectoryLockExcludesAnotherHolder) {
  auto held = local_.lockDirectory(dir_.path());
  ASSERT_TRUE(held.ok());
  std::atomic<bool> taken{false};
  std::thread other([&] {
    auto lock = local_.lockDirectory(dir_.path());  // waits for the first
    taken = lock.ok();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // give it the chance to be wrong
  EXPECT_FALSE(taken.load());
  held->reset();
  other.join();
  EXPECT_TRUE(taken.load());
}

TEST_F(FileSystemTest, MakeDirectoriesMakesTheMissingParents) {
  ASSERT_TRUE(makeDirectories(local_, dir_ / "a/b/c").ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir_ / "a/b/c"));
  EXPECT_TRUE(makeDirectories(local_, dir_ / "a/b/c").ok());  // already there
  writeFile(dir_ / "file", "x");
  Status s = makeDirectories(local_, dir_ / "file/sub");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("file/sub"), std::string::npos) << s.toString();
}

TEST_F(FileSystemTest, LockFileIsExclusiveAndNamesItsHolder) {
  const Path path = dir_ / "service.lock";
  auto first = tryLockFile(local_, path, "1234\n");
  ASSERT_TRUE(first.ok()) << first.status().toString();
  ASSERT_NE(first->file, nullptr);
  EXPECT_EQ(readFile(path), "1234\n");

  auto second = tryLockFile(local_, path, "5678\n");
  ASSERT_TRUE(second.ok()) << second.status().toString();
  EXPECT_EQ(second->file, nullptr);
  EXPECT_EQ(second->holder, "1234");  // the first holder's text, left alone
  EXPECT_EQ(readFile(path), "1234\n");

  first->file.reset();  // released (as by the holder's death)
  auto third = tryLockFile(local_, path, "9");
  ASSERT_TRUE(third.ok());
  ASSERT_NE(third->file, nullptr);
  EXPECT_EQ(readFile(path), "9");  // the old text replaced, not appended to
}

TEST_F(FileSystemTest, LockFileRefusesALinkAtItsName) {
  writeFile(dir_ / "target", "keep");
  ASSERT_EQ(::symlink((dir_ / "target").c_str(), (dir_ / "link.lock").c_str()), 0);
  auto lock = tryLockFile(local_, dir_ / "link.lock", "1");
  EXPECT_FALSE(lock.ok());
  EXPECT_EQ(readFile(dir_ / "target"), "keep");
}

// ---- FaultInjectingFileSystem -------------------------------------------------------------------

class FaultInjectingFileSystemTest : public FileSystemTest {
 protected:
  FaultInjectingFileSystem faulty_;
};

TEST_F(FaultInjectingFileSystemTest, FailsTheNthMatchingCallAsTheOsWould) {
  faulty_.inject(Fault::failing(Op::Write, ".partial", ENOSPC, /*after=*/1));
  auto other = faulty_.open(dir_ / "plain", OpenMode::CreateNew);
  auto file = faulty_.open(dir_ / "x.partial", OpenMode::CreateNew);
  ASSERT_TRUE(other.ok() && file.ok());
  EXPECT_TRUE((*other)->writeAt(0, "a", 1).ok());  // another path: not picked
  EXPECT_TRUE((*file)->writeAt(0, "a", 1).ok());   // the first passes
  Status s = (*file)->writeAt(1, "b", 1);          // the second fails
  EXPECT_EQ(s.code(), Status::Code::IoError);
  EXPECT_EQ(s.message(),
            "write " + (dir_ / "x.partial").string() + ": No space left on device (ENOSPC)");
  EXPECT_TRUE((*file)->writeAt(1, "c", 1).ok());  // then it passes again
  ASSERT_TRUE((*file)->close().ok());
  EXPECT_EQ(readFile(dir_ / "x.partial"), "ac");  // the failed write reached nothing
  EXPECT_EQ(faulty_.calls(Op::Write), 4u);
}

TEST_F(FaultInjectingFileSystemTest, EachErrorHasItsKind) {
  faulty_.inject(Fault::failing(Op::Create, "", EACCES));
  faulty_.inject(Fault::failing(Op::MakeDirectory, "", EIO));
  faulty_.inject(Fault::failing(Op::Rename, "dest", ENOSPC));
  auto create = faulty_.open(dir_ / "f", OpenMode::CreateNew);
  EXPECT_EQ(create.status().code(), Status::Code::PermissionDenied);
  EXPECT_NE(create.status().message().find("Permission denied (EACCES)"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "f"));
  auto mkdir = faulty_.makeDirectory(dir_ / "d");
  EXPECT_EQ(mkdir.status().code(), Status::Code::IoError);
  EXPECT_NE(mkdir.status().message().find("Input/output error (EIO)"), std::string::npos);
  writeFile(dir_ / "src", "x");
  Status rename = faulty_.rename(dir_ / "src", dir_ / "dest");  // matched by the second path
  EXPECT_EQ(rename.message(), "rename " + (dir_ / "src").string() + " to " +
                                  (dir_ / "dest").string() + ": No space left on device (ENOSPC)");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "src"));
}

TEST_F(FaultInjectingFileSystemTest, EveryLaterCallAndClear) {
  const int id = faulty_.inject(Fault::failing(Op::SyncVolume, "", EIO, 0, -1));
  EXPECT_FALSE(faulty_.syncVolume(dir_.path()).ok());
  EXPECT_FALSE(faulty_.syncVolume(dir_.path()).ok());
  faulty_.clear();  // the fault goes away
  EXPECT_TRUE(faulty_.syncVolume(dir_.path()).ok());
  EXPECT_EQ(faulty_.hits(id), 2);
  EXPECT_EQ(faulty_.calls(Op::SyncVolume), 3u);
}

TEST_F(FaultInjectingFileSystemTest, AHookStopsAtTheCallBeforeOrAfterIt) {
  std::vector<std::string> seen;
  auto hook = [&](Op op, const Path& p) {
    seen.push_back(std::string(toString(op)) + " " + p.filename().string() + " " +
                   (std::filesystem::exists(p) ? "still there" : "gone"));
  };
  faulty_.inject(Fault::stopping(Op::Rename, "", hook));
  faulty_.inject(Fault::stopping(Op::Rename, "", hook, Fault::When::After, /*after=*/1));
  writeFile(dir_ / "a", "x");
  ASSERT_TRUE(faulty_.rename(dir_ / "a", dir_ / "b").ok());
  ASSERT_TRUE(faulty_.rename(dir_ / "b", dir_ / "c").ok());
  // The first rule saw the first rename before it happened; the second, the second one after.
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "rename a still there");
  EXPECT_EQ(seen[1], "rename b gone");
}

TEST_F(FaultInjectingFileSystemTest, ALockFileThatCannotBeLockedNamesTheCallAndTheCause) {
  faulty_.inject(Fault::failing(Op::Lock, "service.lock", ENOLCK));
  auto lock = tryLockFile(faulty_, dir_ / "service.lock", "1");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().message(),
            "lock " + (dir_ / "service.lock").string() + ": No locks available (ENOLCK)");
}

TEST_F(FaultInjectingFileSystemTest, AnAnswerLostAfterTheCall) {
  Fault lost = Fault::failing(Op::Rename, "", EIO);
  lost.when = Fault::When::After;
  faulty_.inject(lost);
  writeFile(dir_ / "a", "x");
  EXPECT_EQ(faulty_.rename(dir_ / "a", dir_ / "b").code(), Status::Code::IoError);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "b"));  // it happened anyway
}

}  // namespace
}  // namespace pkgxfer::fs
