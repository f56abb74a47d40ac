// FileSystem::local() on Windows (src/fs/win32_file_system.cpp), run under Wine in CI. Hermetic: a
// folder of its own under the temp folder per test. No tests/fakes here (it has POSIX code).

#include <windows.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::fs {
namespace {

using std::chrono::steady_clock;

// A Path from UTF-8 text: through char8_t, as a narrow std::string would be read one byte per
// character by libstdc++ on Windows (see win32_file_system.cpp).
Path u8(std::string_view utf8) { return Path(std::u8string(utf8.begin(), utf8.end())); }

// The verbatim form, for the test's own clean-up of paths longer than MAX_PATH.
std::wstring verbatim(const Path& path) {
  std::wstring p = path.native();
  for (wchar_t& c : p) {
    if (c == L'/') c = L'\\';
  }
  return p.starts_with(L"\\\\?\\") ? p : L"\\\\?\\" + p;
}

void removeTree(const std::wstring& dir) {
  WIN32_FIND_DATAW data;
  HANDLE find = ::FindFirstFileW((dir + L"\\*").c_str(), &data);
  if (find != INVALID_HANDLE_VALUE) {
    do {
      const std::wstring name = data.cFileName;
      if (name == L"." || name == L"..") continue;
      const std::wstring child = dir + L"\\" + name;
      if ((data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0 &&
          (data.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) == 0) {
        removeTree(child);
      } else if ((data.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0) {
        ::RemoveDirectoryW(child.c_str());
      } else {
        ::SetFileAttributesW(child.c_str(), FILE_ATTRIBUTE_NORMAL);
        ::DeleteFileW(child.c_str());
      }
    } while (::FindNextFileW(find, &data));
    ::FindClose(find);
  }
  ::RemoveDirectoryW(dir.c_str());
}

// Wine (how CI runs these tests) lacks a few calls; the tests that need them say so and skip.
bool underWine() {
  HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

// Waits up to 10 s for `done`; tests never sleep for a fixed time.
template <typename Fn>
bool waitFor(Fn done) {
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class Win32FileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           (L"pkgxfer-fs-test-" + std::to_wstring(::GetCurrentProcessId()) + L"-" +
            std::to_wstring(counter++));
    removeTree(verbatim(dir_));
    ASSERT_TRUE(makeDirectories(fs_, dir_).ok());
  }
  void TearDown() override { removeTree(verbatim(dir_)); }

  std::unique_ptr<File> create(const Path& path, std::string_view text = {}) {
    auto file = fs_.open(path, OpenMode::CreateNew);
    EXPECT_TRUE(file.ok()) << file.status().toString();
    if (!file.ok()) return nullptr;
    EXPECT_TRUE((*file)->writeAt(0, text.data(), text.size()).ok());
    return std::move(*file);
  }

  std::string read(const Path& path) {
    auto text = readWholeFile(fs_, path);
    EXPECT_TRUE(text.ok()) << text.status().toString();
    return text.ok() ? *text : std::string();
  }

  std::set<std::pair<std::string, FileType>> listing(const Path& dir) {
    std::set<std::pair<std::string, FileType>> out;
    Status s = fs_.list(
        dir, [&](std::string_view name, FileType type) { out.emplace(std::string(name), type); });
    EXPECT_TRUE(s.ok()) << s.toString();
    return out;
  }

  FileSystem& fs_ = FileSystem::local();
  Path dir_;
};

TEST_F(Win32FileSystemTest, WritesReadsSyncsAndTruncates) {
  const Path path = dir_ / "a.bin";
  auto file = create(path, "hello world");
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->writeAt(20, "!", 1).ok());  // past the end: a hole of zeros
  char buf[64];
  auto n = file->readAt(0, buf, sizeof buf);
  ASSERT_TRUE(n.ok()) << n.status().toString();
  ASSERT_EQ(*n, 21u);
  EXPECT_EQ(std::string(buf, 11), "hello world");
  EXPECT_EQ(std::string(buf + 11, 9), std::string(9, '\0'));
  EXPECT_EQ(*file->readAt(6, buf, 5), 5u);
  EXPECT_EQ(std::string(buf, 5), "world");
  EXPECT_EQ(*file->readAt(21, buf, sizeof buf), 0u);    // at the end
  EXPECT_EQ(*file->readAt(1000, buf, sizeof buf), 0u);  // past it
  EXPECT_TRUE(file->sync().ok());
  EXPECT_TRUE(file->truncate(5).ok());
  EXPECT_EQ(file->info()->size, 5u);
  EXPECT_TRUE(file->close().ok());
  EXPECT_TRUE(file->close().ok());  // idempotent
  EXPECT_EQ(read(path), "hello");
}

TEST_F(Win32FileSystemTest, SyncsAFileOpenedForReading) {
  const Path path = dir_ / "a.bin";
  ASSERT_TRUE(create(path, "data")->close().ok());
  auto file = fs_.open(path, OpenMode::ReadRegular);
  ASSERT_TRUE(file.ok()) << file.status().toString();
  Status s = (*file)->sync();  // FlushFileBuffers needs write access: a second handle
  EXPECT_TRUE(s.ok()) << s.toString();
}

TEST_F(Win32FileSystemTest, CreateNewOnATakenNameIsAlreadyExists) {
  const Path path = dir_ / "a.bin";
  ASSERT_NE(create(path, "x"), nullptr);
  auto again = fs_.open(path, OpenMode::CreateNew);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::AlreadyExists) << again.status().toString();
}

TEST_F(Win32FileSystemTest, MissingFileIsNotFoundNamingThePath) {
  const Path path = dir_ / "missing.bin";
  for (OpenMode mode : {OpenMode::Read, OpenMode::ReadRegular, OpenMode::ReadWrite}) {
    auto file = fs_.open(path, mode);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), Status::Code::NotFound) << file.status().toString();
    EXPECT_NE(file.status().message().find(fs_.display(path)), std::string::npos)
        << file.status().message();
    EXPECT_NE(file.status().message().find("(ERROR_FILE_NOT_FOUND)"), std::string::npos)
        << file.status().message();
  }
  auto info = fs_.stat(dir_ / "no-folder" / "x");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Status::Code::NotFound) << info.status().toString();
  EXPECT_EQ(fs_.remove(path).code(), Status::Code::NotFound);
  EXPECT_EQ(fs_.list(dir_ / "no-folder", [](std::string_view, FileType) {}).code(),
            Status::Code::NotFound);
  EXPECT_EQ(fs_.canonical(path).status().code(), Status::Code::NotFound);
  EXPECT_EQ(fs_.syncDirectory(dir_ / "no-folder").code(), Status::Code::NotFound);
}

TEST_F(Win32FileSystemTest, RegularModesRefuseAFolder) {
  ASSERT_TRUE(*fs_.makeDirectory(dir_ / "sub"));
  for (OpenMode mode : {OpenMode::ReadRegular, OpenMode::ReadWrite}) {
    auto file = fs_.open(dir_ / "sub", mode);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), Status::Code::InvalidArgument) << file.status().toString();
    EXPECT_NE(file.status().message().find("a folder, not a regular file"), std::string::npos)
        << file.status().message();
  }
  auto folder = fs_.open(dir_ / "sub", OpenMode::Read);  // any type, as on POSIX
  ASSERT_TRUE(folder.ok()) << folder.status().toString();
  EXPECT_TRUE((*folder)->info()->isDirectory());
}

TEST_F(Win32FileSystemTest, RegularModesRefuseASymbolicLink) {
  ASSERT_NE(create(dir_ / "target", "x"), nullptr);
  const std::wstring link = verbatim(dir_ / "link");
  if (!::CreateSymbolicLinkW(link.c_str(), L"target",
                             SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE)) {
    GTEST_SKIP() << "cannot make a symbolic link here (error " << ::GetLastError() << ")";
  }
  if (::GetFileAttributesW(link.c_str()) == INVALID_FILE_ATTRIBUTES) {
    // Wine 8: CreateSymbolicLinkW is a stub that returns TRUE and makes nothing.
    GTEST_SKIP() << "CreateSymbolicLinkW reported success but made no link (Wine)";
  }
  for (OpenMode mode : {OpenMode::ReadRegular, OpenMode::ReadWrite}) {
    auto file = fs_.open(dir_ / "link", mode);
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), Status::Code::InvalidArgument) << file.status().toString();
    EXPECT_NE(file.status().message().find("a symbolic link"), std::string::npos);
  }
  EXPECT_TRUE(fs_.open(dir_ / "link", OpenMode::Read).ok());  // followed
  EXPECT_EQ(fs_.stat(dir_ / "link", false)->type, FileType::Symlink);
  EXPECT_EQ(fs_.stat(dir_ / "link", true)->type, FileType::Regular);
  EXPECT_EQ(fs_.open(dir_ / "link", OpenMode::CreateNew).status().code(),
            Status::Code::AlreadyExists);
}

TEST_F(Win32FileSystemTest, RenameReplacesAnExistingFile) {
  ASSERT_TRUE(create(dir_ / "new", "new")->close().ok());
  ASSERT_TRUE(create(dir_ / "old", "old")->close().ok());
  Status s = fs_.rename(dir_ / "new", dir_ / "old");
  ASSERT_TRUE(s.ok()) << s.toString();
  EXPECT_EQ(read(dir_ / "old"), "new");
  EXPECT_EQ(fs_.stat(dir_ / "new").status().code(), Status::Code::NotFound);
}

TEST_F(Win32FileSystemTest, RenamesAFileThatIsOpen) {
  auto file = create(dir_ / "a", "data");  // FILE_SHARE_DELETE lets the name change
  ASSERT_NE(file, nullptr);
  Status s = fs_.rename(dir_ / "a", dir_ / "b");
  ASSERT_TRUE(s.ok()) << s.toString();
  EXPECT_TRUE(file->writeAt(4, "!", 1).ok());
  EXPECT_TRUE(file->close().ok());
  EXPECT_EQ(read(dir_ / "b"), "data!");
}

// Windows (before POSIX rename semantics) refuses to replace a file that is open elsewhere, with
// ERROR_ACCESS_DENIED; the library only replaces files nobody has open. Here the reader holds the
// replaced file, which a library's reader may do: either the rename works and the reader keeps the
// old data, or it fails as PermissionDenied and both files are intact.
TEST_F(Win32FileSystemTest, RenameOverAFileOpenElsewhere) {
  ASSERT_TRUE(create(dir_ / "new", "new")->close().ok());
  ASSERT_TRUE(create(dir_ / "old", "old")->close().ok());
  auto reader = fs_.open(dir_ / "old", OpenMode::ReadRegular);
  ASSERT_TRUE(reader.ok());
  Status s = fs_.rename(dir_ / "new", dir_ / "old");
  char buf[8];
  auto n = (*reader)->readAt(0, buf, sizeof buf);
  ASSERT_TRUE(n.ok()) << n.status().toString();
  EXPECT_EQ(std::string(buf, *n), "old");
  if (s.ok()) {
    EXPECT_EQ(read(dir_ / "old"), "new");
  } else {
    EXPECT_EQ(s.code(), Status::Code::PermissionDenied) << s.toString();
    EXPECT_EQ(read(dir_ / "new"), "new");
  }
  std::printf("[ note ] rename over a file open elsewhere: %s\n", s.toString().c_str());
}

TEST_F(Win32FileSystemTest, RemovesAFileEvenWhileOpen) {
  ASSERT_TRUE(create(dir_ / "a", "x")->close().ok());
  EXPECT_TRUE(fs_.remove(dir_ / "a").ok());
  EXPECT_EQ(fs_.stat(dir_ / "a").status().code(), Status::Code::NotFound);
  auto open = create(dir_ / "b", "x");
  Status s = fs_.remove(dir_ / "b");
  EXPECT_TRUE(s.ok()) << s.toString();
  EXPECT_TRUE(open->close().ok());
  EXPECT_EQ(fs_.stat(dir_ / "b").status().code(), Status::Code::NotFound);
}

TEST_F(Win32FileSystemTest, ListsNamesAndTypes) {
  ASSERT_TRUE(create(dir_ / "f.txt", "x")->close().ok());
  ASSERT_TRUE(*fs_.makeDirectory(dir_ / "sub"));
  EXPECT_FALSE(*fs_.makeDirectory(dir_ / "sub"));  // already there
  const std::set<std::pair<std::string, FileType>> expected = {{"f.txt", FileType::Regular},
                                                               {"sub", FileType::Directory}};
  EXPECT_EQ(listing(dir_), expected);
  EXPECT_TRUE(listing(dir_ / "sub").empty());
}

TEST_F(Win32FileSystemTest, StatsFilesAndFolders) {
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(5);
  auto file = create(dir_ / "f", "12345");
  auto by_handle = file->info();
  ASSERT_TRUE(by_handle.ok()) << by_handle.status().toString();
  auto by_name = fs_.stat(dir_ / "f");
  ASSERT_TRUE(by_name.ok()) << by_name.status().toString();
  EXPECT_TRUE(by_name->isRegular());
  EXPECT_EQ(by_name->size, 5u);
  EXPECT_EQ(by_name->mode, 0644u);
  EXPECT_NE(by_name->id, 0u);
  EXPECT_TRUE(by_name->sameFile(*by_handle));
  const std::int64_t before_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(before.time_since_epoch()).count();
  EXPECT_GT(by_name->mtime_ns, before_ns);
  EXPECT_LT(by_name->mtime_ns, before_ns + std::int64_t{60} * 1'000'000'000);
  ASSERT_TRUE(create(dir_ / "g", "x")->close().ok());
  EXPECT_FALSE(fs_.stat(dir_ / "g")->sameFile(*by_name));
  EXPECT_TRUE(fs_.stat(dir_)->isDirectory());
}

TEST_F(Win32FileSystemTest, SecondTryLockInOneProcessFails) {
  auto first = fs_.open(dir_ / "lock", OpenMode::CreateNew);
  ASSERT_TRUE(first.ok());
  auto second = fs_.open(dir_ / "lock", OpenMode::ReadWrite);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(*(*first)->tryLock());
  EXPECT_FALSE(*(*second)->tryLock());
  ASSERT_TRUE((*first)->close().ok());
  EXPECT_TRUE(*(*second)->tryLock());  // released by the close
}

// The lock covers a byte past the data, so the holder's text stays readable (Windows byte-range
// locks are mandatory).
TEST_F(Win32FileSystemTest, TryLockFileTellsWhoHoldsIt) {
  auto first = tryLockFile(fs_, dir_ / "pid.lock", "pid 42\n");
  ASSERT_TRUE(first.ok()) << first.status().toString();
  ASSERT_NE(first->file, nullptr);
  auto second = tryLockFile(fs_, dir_ / "pid.lock", "pid 43\n");
  ASSERT_TRUE(second.ok()) << second.status().toString();
  EXPECT_EQ(second->file, nullptr);
  EXPECT_EQ(second->holder, "pid 42");
}

TEST_F(Win32FileSystemTest, LockDirectoryExcludesOthersUntilReleased) {
  auto held = fs_.lockDirectory(dir_);
  ASSERT_TRUE(held.ok()) << held.status().toString();
  std::atomic<bool> taken{false};
  std::thread other([&] {
    auto lock = fs_.lockDirectory(dir_);  // waits for `held`
    EXPECT_TRUE(lock.ok()) << lock.status().toString();
    taken = true;
  });
  // Held: another handle cannot take the same lock now.
  HANDLE probe = ::CreateFileW(
      verbatim(dir_ / ".pkgxfer-dirlock").c_str(), GENERIC_READ | GENERIC_WRITE,
      FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING, 0, nullptr);
  ASSERT_NE(probe, INVALID_HANDLE_VALUE);
  OVERLAPPED ov{};
  ov.OffsetHigh = 0x40000000;
  EXPECT_FALSE(
      ::LockFileEx(probe, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov));
  ::CloseHandle(probe);
  EXPECT_FALSE(taken);
  held->reset();
  EXPECT_TRUE(waitFor([&] { return taken.load(); }));
  other.join();
}

TEST_F(Win32FileSystemTest, ReportsFreeSpaceAndSyncs) {
  auto free = fs_.freeSpace(dir_);
  ASSERT_TRUE(free.ok()) << free.status().toString();
  EXPECT_GT(*free, 0u);
  Status s = fs_.syncDirectory(dir_);
  EXPECT_TRUE(s.ok()) << s.toString();
  s = fs_.syncVolume(dir_);
  EXPECT_TRUE(s.ok()) << s.toString();
}

TEST_F(Win32FileSystemTest, CanonicalResolvesDotsWithoutThePrefix) {
  ASSERT_TRUE(*fs_.makeDirectory(dir_ / "sub"));
  ASSERT_TRUE(create(dir_ / "f", "x")->close().ok());
  auto direct = fs_.canonical(dir_ / "f");
  ASSERT_TRUE(direct.ok()) << direct.status().toString();
  auto dotted = fs_.canonical(dir_ / "sub" / ".." / "." / "f");
  ASSERT_TRUE(dotted.ok()) << dotted.status().toString();
  EXPECT_EQ(direct->native(), dotted->native());
  EXPECT_FALSE(direct->native().starts_with(L"\\\\?\\")) << fs_.display(*direct);
  EXPECT_TRUE(direct->is_absolute());
  EXPECT_EQ(direct->filename().native(), L"f");
}

TEST_F(Win32FileSystemTest, HandlesPathsLongerThanMaxPath) {
  Path deep = dir_;
  for (int i = 0; deep.native().size() < 400; ++i) {
    deep /= "folder-with-a-rather-long-name-" + std::to_string(i);
  }
  Status s = makeDirectories(fs_, deep);
  ASSERT_TRUE(s.ok()) << s.toString();
  const Path file = deep / "body.bin";
  ASSERT_GT(file.native().size(), 260u);
  auto created = create(file, "deep");
  ASSERT_NE(created, nullptr);
  ASSERT_TRUE(created->close().ok());
  EXPECT_EQ(read(file), "deep");
  EXPECT_EQ(fs_.stat(file)->size, 4u);
  const std::set<std::pair<std::string, FileType>> expected = {{"body.bin", FileType::Regular}};
  EXPECT_EQ(listing(deep), expected);
  s = fs_.rename(file, deep / "renamed.bin");
  EXPECT_TRUE(s.ok()) << s.toString();
  // Wine 8's GetFinalPathNameByHandleW fails on names longer than MAX_PATH (a fixed buffer).
  if (!underWine()) {
    auto canonical = fs_.canonical(deep / "renamed.bin");
    EXPECT_TRUE(canonical.ok()) << canonical.status().toString();
  }
  auto lock = fs_.lockDirectory(deep);
  EXPECT_TRUE(lock.ok()) << lock.status().toString();
  EXPECT_TRUE(fs_.freeSpace(deep).ok());
  EXPECT_TRUE(fs_.remove(deep / "renamed.bin").ok());
  // A relative path is made absolute first, so it may be long too.
  wchar_t cwd[MAX_PATH];
  ASSERT_NE(::GetCurrentDirectoryW(MAX_PATH, cwd), 0u);
  ASSERT_TRUE(::SetCurrentDirectoryW(dir_.c_str()));
  auto relative = fs_.stat(deep.lexically_relative(dir_));
  ::SetCurrentDirectoryW(cwd);
  EXPECT_TRUE(relative.ok()) << relative.status().toString();
  EXPECT_TRUE(relative.ok() && relative->isDirectory());
}

TEST_F(Win32FileSystemTest, NonAsciiNamesRoundTripAsUtf8) {
  const std::string name = "Paket-\xc3\xa9\xe2\x82\xac.txt";
  const Path path = dir_ / u8(name);
  ASSERT_TRUE(create(path, "x")->close().ok());
  // On disk as UTF-16 U+00E9 U+20AC, not as the UTF-8 bytes read one by one.
  EXPECT_NE(::GetFileAttributesW((dir_.native() + L"\\Paket-\u00e9\u20ac.txt").c_str()),
            INVALID_FILE_ATTRIBUTES);
  const std::set<std::pair<std::string, FileType>> expected = {{name, FileType::Regular}};
  EXPECT_EQ(listing(dir_), expected);
  EXPECT_EQ(read(dir_ / u8(listing(dir_).begin()->first)), "x");
  EXPECT_NE(fs_.display(path).find(name), std::string::npos);  // messages show it as UTF-8
}

}  // namespace
}  // namespace pkgxfer::fs
