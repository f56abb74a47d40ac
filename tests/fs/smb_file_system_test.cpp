// The libsmbclient file system against a real smbd (tests/fakes/smb_server.h).

#include "pkgxfer/fs/smb_file_system.h"

#include <sys/statvfs.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/smb_server.h"
#include "fakes/test_util.h"

namespace pkgxfer::fs {
namespace {

using pkgxfer::testing::readFile;
using pkgxfer::testing::SmbServer;
using pkgxfer::testing::writeFile;

class SmbFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = pkgxfer::testing::smbdUnavailableReason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    server_ = std::make_unique<SmbServer>(std::vector<std::string>{"dp", "other"});
    ASSERT_TRUE(server_->started());
    fs_ = make("dp", SmbServer::kPassword);
  }

  std::unique_ptr<FileSystem> make(const std::string& share, const std::string& password,
                                   bool encrypt = false) {
    SmbShareOptions o;
    o.host = "127.0.0.1";
    o.port = static_cast<std::uint16_t>(server_->port());
    o.share = share;
    o.user = SmbServer::kUser;
    o.domain = "WORKGROUP";
    o.password = password;
    o.encrypt = encrypt;
    o.timeout = std::chrono::seconds(10);
    auto made = makeSmbFileSystem(o);
    EXPECT_TRUE(made.ok()) << made.status().toString();
    return made.ok() ? std::move(*made) : nullptr;
  }

  std::unique_ptr<SmbServer> server_;
  std::unique_ptr<FileSystem> fs_;
};

std::string pattern(std::size_t size, char seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>(seed + i * 7 % 251);
  return s;
}

TEST_F(SmbFileSystemTest, CreateWriteReadRenameListAndRemove) {
  ASSERT_TRUE(*fs_->makeDirectory("/lib"));
  EXPECT_FALSE(*fs_->makeDirectory("/lib"));  // already there

  auto file = fs_->open("/lib/a.tmp", OpenMode::CreateNew);
  ASSERT_TRUE(file.ok()) << file.status().toString();
  const std::string big = pattern(3 << 20, 'a');  // more than one SMB write
  ASSERT_TRUE((*file)->writeAt(0, big.data(), big.size()).ok());
  ASSERT_TRUE((*file)->writeAt(5, "HELLO", 5).ok());
  ASSERT_TRUE((*file)->sync().ok());
  std::string back(big.size(), '\0');
  auto n = (*file)->readAt(0, back.data(), back.size());
  ASSERT_TRUE(n.ok()) << n.status().toString();
  ASSERT_EQ(*n, big.size());
  EXPECT_EQ(back.substr(5, 5), "HELLO");
  EXPECT_EQ(back.substr(10), big.substr(10));
  char tail[16];
  EXPECT_EQ(*(*file)->readAt(big.size() - 4, tail, sizeof tail), 4u);  // short only at the end
  EXPECT_EQ(*(*file)->readAt(big.size() + 10, tail, sizeof tail), 0u);
  auto info = (*file)->info();
  ASSERT_TRUE(info.ok()) << info.status().toString();
  EXPECT_TRUE(info->isRegular());
  EXPECT_EQ(info->size, big.size());
  ASSERT_TRUE((*file)->truncate(1000).ok());
  ASSERT_TRUE((*file)->close().ok());
  ASSERT_TRUE((*file)->close().ok());  // idempotent

  // What the share's folder holds is what was written.
  std::string expected = big.substr(0, 1000);
  expected.replace(5, 5, "HELLO");
  EXPECT_EQ(readFile(server_->shareDir("dp") / "lib" / "a.tmp"), expected);

  ASSERT_TRUE(fs_->rename("/lib/a.tmp", "/lib/a").ok());
  auto st = fs_->stat("/lib/a");
  ASSERT_TRUE(st.ok()) << st.status().toString();
  EXPECT_EQ(st->size, 1000u);
  EXPECT_TRUE(st->sameFile(*info));  // the rename kept the file
  EXPECT_TRUE(fs_->stat("/lib")->isDirectory());
  EXPECT_TRUE(fs_->stat("/")->isDirectory());

  // Replacing an existing name.
  writeFile(server_->shareDir("dp") / "lib" / "b", "old");
  ASSERT_TRUE(fs_->rename("/lib/a", "/lib/b").ok());
  EXPECT_EQ(readFile(server_->shareDir("dp") / "lib" / "b"), expected);

  std::set<std::pair<std::string, FileType>> seen;
  ASSERT_TRUE(fs_->makeDirectory("/lib/sub").ok());
  ASSERT_TRUE(fs_->list("/lib", [&](std::string_view name,
                                    FileType type) { seen.emplace(std::string(name), type); })
                  .ok());
  EXPECT_EQ(seen, (std::set<std::pair<std::string, FileType>>{{"b", FileType::Regular},
                                                              {"sub", FileType::Directory}}));
  ASSERT_TRUE(fs_->remove("/lib/b").ok());
  EXPECT_EQ(fs_->remove("/lib/b").code(), Status::Code::NotFound);
  EXPECT_FALSE(std::filesystem::exists(server_->shareDir("dp") / "lib" / "b"));
  EXPECT_EQ(*fs_->canonical("/lib/./sub/"), Path("/lib/sub"));

  EXPECT_TRUE(fs_->syncDirectory("/lib").ok());
  EXPECT_TRUE(fs_->syncVolume("/").ok());
  // Free space as the server reports it: the share's volume, within what changes meanwhile.
  struct statvfs local {};
  ASSERT_EQ(::statvfs(server_->shareDir("dp").c_str(), &local), 0);
  const double local_free = static_cast<double>(local.f_bavail) * local.f_frsize;
  auto free_bytes = fs_->freeSpace("/");
  ASSERT_TRUE(free_bytes.ok()) << free_bytes.status().toString();
  EXPECT_NEAR(static_cast<double>(*free_bytes), local_free, local_free * 0.05 + (64 << 20));
}

// As on POSIX, a file this process holds open can be renamed (the content library renames a
// manifest's locked temporary file into place) or deleted; SMB itself refuses both.
TEST_F(SmbFileSystemTest, AnOpenFileCanBeRenamedAndDeleted) {
  auto file = fs_->open("/m.tmp", OpenMode::CreateNew);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(*(*file)->tryLock());
  ASSERT_TRUE((*file)->writeAt(0, "manifest", 8).ok());
  ASSERT_TRUE(fs_->rename("/m.tmp", "/m.json").ok());
  ASSERT_TRUE((*file)->writeAt(8, "!", 1).ok());  // still usable, under its new name
  ASSERT_TRUE((*file)->close().ok());
  EXPECT_EQ(readFile(server_->shareDir("dp") / "m.json"), "manifest!");

  auto doomed = fs_->open("/d.tmp", OpenMode::CreateNew);
  ASSERT_TRUE(doomed.ok());
  ASSERT_TRUE(fs_->remove("/d.tmp").ok());
  EXPECT_FALSE(std::filesystem::exists(server_->shareDir("dp") / "d.tmp"));
  EXPECT_TRUE((*doomed)->close().ok());
}

TEST_F(SmbFileSystemTest, OpenModesRefuseWhatTheyMust) {
  ASSERT_TRUE(fs_->makeDirectory("/d").ok());
  writeFile(server_->shareDir("dp") / "taken", "x");
  auto taken = fs_->open("/taken", OpenMode::CreateNew);
  EXPECT_EQ(taken.status().code(), Status::Code::AlreadyExists) << taken.status().toString();
  EXPECT_NE(taken.status().message().find("create " + server_->url("dp", "/taken")),
            std::string::npos)
      << taken.status().message();

  auto folder = fs_->open("/d", OpenMode::ReadRegular);
  EXPECT_EQ(folder.status().code(), Status::Code::InvalidArgument) << folder.status().toString();
  EXPECT_EQ(folder.status().message(), server_->url("dp", "/d") + ": a folder, not a regular file");

  auto missing = fs_->open("/nope", OpenMode::ReadWrite);
  EXPECT_EQ(missing.status().code(), Status::Code::NotFound);
  EXPECT_EQ(missing.status().message(),
            "open " + server_->url("dp", "/nope") + ": No such file or directory (ENOENT)");
  auto rw = fs_->open("/taken", OpenMode::ReadWrite);
  ASSERT_TRUE(rw.ok()) << rw.status().toString();
  ASSERT_TRUE((*rw)->writeAt(1, "yz", 2).ok());
  ASSERT_TRUE((*rw)->close().ok());
  EXPECT_EQ(readFile(server_->shareDir("dp") / "taken"), "xyz");
}

TEST_F(SmbFileSystemTest, WrongPasswordIsPermissionDeniedWithTheServersAnswer) {
  const std::string password = "not-the-password-1234";
  auto wrong = make("dp", password);
  auto st = wrong->stat("/");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Status::Code::PermissionDenied) << st.status().toString();
  const std::string& msg = st.status().message();
  EXPECT_NE(msg.find("stat " + server_->url("dp") + ": Permission denied (EACCES)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("the server refused the logon of WORKGROUP\\pkgxfer: The attempted logon is "
                     "invalid"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find(password), std::string::npos);
  // Every call says so, not only the first.
  auto again = wrong->open("/x", OpenMode::CreateNew);
  EXPECT_EQ(again.status().code(), Status::Code::PermissionDenied);
  EXPECT_NE(again.status().message().find("refused the logon"), std::string::npos);
}

TEST_F(SmbFileSystemTest, MissingShareOrPathIsNotFound) {
  auto no_share = make("no-such-share", SmbServer::kPassword);
  auto st = no_share->stat("/ContentLib");
  EXPECT_EQ(st.status().code(), Status::Code::NotFound) << st.status().toString();
  EXPECT_NE(st.status().message().find(server_->url("no-such-share", "/ContentLib")),
            std::string::npos);
  auto list = fs_->list("/not/there", [](std::string_view, FileType) {});
  EXPECT_EQ(list.code(), Status::Code::NotFound) << list.toString();
}

TEST_F(SmbFileSystemTest, UnreachableServerIsUnavailable) {
  server_->stop();
  auto st = fs_->stat("/");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Status::Code::Unavailable) << st.status().toString();
  EXPECT_NE(st.status().message().find("Connection refused (ECONNREFUSED)"), std::string::npos)
      << st.status().message();
}

TEST_F(SmbFileSystemTest, DroppedConnectionFailsUnavailableAndTheNextCallReconnects) {
  auto file = fs_->open("/body.partial", OpenMode::CreateNew);
  ASSERT_TRUE(file.ok()) << file.status().toString();
  const std::string first = pattern(2 << 20, 'q');
  ASSERT_TRUE((*file)->writeAt(0, first.data(), first.size()).ok());
  ASSERT_TRUE((*file)->sync().ok());  // the offset a checkpoint would record: 2 MiB

  server_->stop();  // returns once every smbd process is gone: the connection is dead
  Status lost = (*file)->writeAt(first.size(), first.data(), first.size());
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.code(), Status::Code::Unavailable) << lost.toString();
  EXPECT_FALSE((*file)->close().ok());  // the handle died with the connection

  ASSERT_TRUE(server_->start());
  // Same thread, same context: it reconnects, and what the server acknowledged is there.
  auto resumed = fs_->open("/body.partial", OpenMode::ReadWrite);
  ASSERT_TRUE(resumed.ok()) << resumed.status().toString();
  EXPECT_EQ((*resumed)->info()->size, first.size());
  ASSERT_TRUE((*resumed)->writeAt(first.size(), "end", 3).ok());
  ASSERT_TRUE((*resumed)->close().ok());
  EXPECT_EQ(readFile(server_->shareDir("dp") / "body.partial"), first + "end");
}

TEST_F(SmbFileSystemTest, ThreadsUseContextsOfTheirOwnInParallel) {
  constexpr int kThreads = 8;
  constexpr int kFiles = 20;
  std::atomic<int> failures{0};
  std::mutex mu;
  std::vector<std::string> errors;  // what failed, for the report
  auto failed = [&](const std::string& what) {
    ++failures;
    std::lock_guard lock(mu);
    errors.push_back(what);
  };
  std::vector<std::thread> threads;
  ASSERT_TRUE(fs_->makeDirectory("/t").ok());
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kFiles; ++i) {
        const Path p = "/t/f" + std::to_string(t) + "-" + std::to_string(i);
        const std::string body = pattern(70'000 + t * 1000 + i, static_cast<char>('a' + t));
        auto f = fs_->open(p, OpenMode::CreateNew);
        if (!f.ok()) {
          failed(f.status().toString());
          continue;
        }
        Status written = (*f)->writeAt(0, body.data(), body.size());
        if (!written.ok()) {
          failed(written.toString());
          continue;
        }
        std::string back(body.size(), '\0');
        auto n = (*f)->readAt(0, back.data(), back.size());
        if (!n.ok()) failed(n.status().toString());
        if (back != body) failed(p.string() + ": read back differs");
        Status closed = (*f)->close();
        if (!closed.ok()) failed(closed.toString());
        auto st = fs_->stat(p);
        if (!st.ok()) failed(st.status().toString());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << (errors.empty() ? std::string() : errors.front());
  int count = 0;
  ASSERT_TRUE(fs_->list("/t", [&](std::string_view, FileType) { ++count; }).ok());
  EXPECT_EQ(count, kThreads * kFiles);
}

TEST_F(SmbFileSystemTest, AFileUsedFromAnotherThreadWaitsForItsContext) {
  auto file = fs_->open("/shared", OpenMode::CreateNew);
  ASSERT_TRUE(file.ok());
  const std::string body = pattern(1 << 20, 'z');
  std::thread other([&] { EXPECT_TRUE((*file)->writeAt(0, body.data(), body.size()).ok()); });
  other.join();
  std::string back(body.size(), '\0');
  EXPECT_EQ(*(*file)->readAt(0, back.data(), back.size()), body.size());
  EXPECT_EQ(back, body);
  std::thread closer([&] { EXPECT_TRUE((*file)->close().ok()); });
  closer.join();
}

TEST_F(SmbFileSystemTest, LocksHoldWithinTheProcess) {
  auto a = fs_->open("/lockme", OpenMode::CreateNew);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(*(*a)->tryLock());
  EXPECT_TRUE(*(*a)->tryLock());                     // already ours
  auto other_fs = make("dp", SmbServer::kPassword);  // another transport of the same share
  auto b = other_fs->open("/lockme", OpenMode::ReadRegular);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(*(*b)->tryLock());
  ASSERT_TRUE((*a)->close().ok());
  EXPECT_TRUE(*(*b)->tryLock());

  auto held = fs_->lockDirectory("/");
  ASSERT_TRUE(held.ok());
  std::atomic<bool> second{false};
  std::thread waiter([&] {
    auto l = other_fs->lockDirectory("/");
    second = l.ok();
  });
  EXPECT_FALSE(
      pkgxfer::testing::waitFor([&] { return second.load(); }, std::chrono::milliseconds(100)));
  held->reset();
  EXPECT_TRUE(pkgxfer::testing::waitFor([&] { return second.load(); }));
  waiter.join();
}

TEST_F(SmbFileSystemTest, EncryptedConnectionsWork) {
  auto enc = make("other", SmbServer::kPassword, /*encrypt=*/true);
  auto f = enc->open("/e", OpenMode::CreateNew);
  ASSERT_TRUE(f.ok()) << f.status().toString();
  ASSERT_TRUE((*f)->writeAt(0, "secret", 6).ok());
  ASSERT_TRUE((*f)->close().ok());
  EXPECT_EQ(readFile(server_->shareDir("other") / "e"), "secret");
}

TEST_F(SmbFileSystemTest, DisplayShowsTheUrl) {
  EXPECT_EQ(fs_->display("/ContentLib/FileLib/3a4f/x"),
            server_->url("dp", "/ContentLib/FileLib/3a4f/x"));
  EXPECT_EQ(fs_->display("/"), server_->url("dp"));
  SmbShareOptions o;
  o.host = "fs02";
  o.share = "ContentLib";
  EXPECT_EQ(smbShareUrl(o), "smb://fs02/ContentLib");
  o.host = "::1";
  o.port = 4455;
  EXPECT_EQ(smbShareUrl(o), "smb://[::1]:4455/ContentLib");
  o.share.clear();
  EXPECT_EQ(makeSmbFileSystem(o).status().code(), Status::Code::InvalidArgument);
}

TEST_F(SmbFileSystemTest, NamesThatNeedEncoding) {
  ASSERT_TRUE(fs_->makeDirectory("/a b%20c").ok());
  auto f = fs_->open("/a b%20c/x#y", OpenMode::CreateNew);
  ASSERT_TRUE(f.ok()) << f.status().toString();
  ASSERT_TRUE((*f)->close().ok());
  EXPECT_TRUE(std::filesystem::exists(server_->shareDir("dp") / "a b%20c" / "x#y"));
}

}  // namespace
}  // namespace pkgxfer::fs
