#include "pkgxfer/content/manifest.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "content/content_test_util.h"
#include "fakes/test_util.h"

namespace pkgxfer::content {
namespace {

namespace fs = std::filesystem;
using pkgxfer::testing::TempDir;
using pkgxfer::testing::writeFile;
using testing::setMtime;
using testing::sha;

// ---- paths and package IDs ---------------------------------------------------------------------

TEST(RelativePathTest, AcceptsOrdinaryNames) {
  for (const char* ok : {"a", "a/b/c.txt", "Setup Files/app #1 100%.msi", "Ünïcödé/日本語.txt",
                         ".hidden", "a..b", "name.with.dots.txt", "x/...y"}) {
    EXPECT_TRUE(validateRelativePath(ok).ok()) << ok << ": " << validateRelativePath(ok).toString();
  }
}

TEST(RelativePathTest, RejectsUnsafePaths) {
  const std::string bad[] = {
      "",         "/etc/passwd", "a//b",    "a/",      "/",        "./a",
      "a/./b",    "../x",        "a/../b",  "..",      "C:/x",     "c:x",
      "a\\b",     "a:b",         "what?",   "a*b",     "\"q\"",    "<x>",
      "a|b",      "tab\there",   "nl\nx",   "del\x7f", "bad\xff",  "ends.",
      "ends ",    "CON",         "nul.txt", "a/COM1",  "lpt9.log", std::string("a\0b", 3),
      "\xc0\xaf", "\xed\xa0\x80"};
  for (const std::string& p : bad) {
    Status s = validateRelativePath(p);
    EXPECT_EQ(s.code(), Status::Code::InvalidArgument) << "accepted: " << p;
  }
}

TEST(PackageIdTest, Format) {
  EXPECT_TRUE(isValidPackageId("PS100001"));
  EXPECT_TRUE(isValidPackageId("ABC0001F"));
  EXPECT_FALSE(isValidPackageId("ps100001"));
  EXPECT_FALSE(isValidPackageId("PS10000"));
  EXPECT_FALSE(isValidPackageId("PS1000001"));
  EXPECT_FALSE(isValidPackageId("PS10000G"));
  EXPECT_FALSE(isValidPackageId("PS1/0001"));
  EXPECT_EQ(contentId("PS100001", 3), "PS100001.3");
}

// ---- JSON --------------------------------------------------------------------------------------

Manifest sampleManifest() {
  Manifest m;
  m.package_id = "PS100001";
  m.version = 2;
  m.name = "Office";
  m.files.push_back({"a/b.txt", 3, sha("abc"), 1'700'000'000'000'000'000LL, 0644});
  m.files.push_back({"z.bin", 0, sha(""), -5, 0600});
  m.dirs = {"a", "a/empty"};
  m.total_bytes = 3;
  return m;
}

TEST(ManifestJsonTest, ExactShapeAndKeyOrder) {
  EXPECT_EQ(toJson(sampleManifest()),
            R"({"package_id":"PS100001","version":2,"name":"Office","files":[)"
            R"({"path":"a/b.txt","size":3,"sha256":")" +
                sha("abc") +
                R"(","mtime":1700000000000000000,"attributes":420},)"
                R"({"path":"z.bin","size":0,"sha256":")" +
                sha("") +
                R"(","mtime":-5,"attributes":384}],"dirs":["a","a/empty"],"total_bytes":3})");
}

TEST(ManifestJsonTest, RoundTrips) {
  const Manifest m = sampleManifest();
  auto parsed = parseManifest(toJson(m));
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  EXPECT_EQ(*parsed, m);
  EXPECT_EQ(toJson(*parsed), toJson(m));
}

TEST(ManifestJsonTest, IgnoresUnknownKeys) {
  std::string json = toJson(sampleManifest());
  json.insert(1, R"("future":{"x":1},)");
  EXPECT_TRUE(parseManifest(json).ok());
}

// Replaces the first occurrence of `from` in the sample's JSON.
std::string mutated(std::string_view from, std::string_view to) {
  std::string json = toJson(sampleManifest());
  auto pos = json.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  json.replace(pos, from.size(), to);
  return json;
}

void expectCorrupt(const std::string& json, std::string_view mention) {
  auto r = parseManifest(json);
  ASSERT_FALSE(r.ok()) << "accepted: " << json;
  EXPECT_EQ(r.error().code(), Status::Code::Corruption) << r.error().toString();
  EXPECT_NE(r.error().message().find(mention), std::string::npos)
      << "message does not mention '" << mention << "': " << r.error().message();
}

TEST(ManifestJsonTest, RejectsMalformedManifests) {
  expectCorrupt("{not json", "not valid JSON");
  expectCorrupt("[]", "object");
  expectCorrupt(mutated(R"("package_id":"PS100001")", R"("package_id":"ps100001")"), "package_id");
  expectCorrupt(mutated(R"("version":2)", R"("version":0)"), "version");
  expectCorrupt(mutated(R"("version":2)", R"("version":"2")"), "version");
  expectCorrupt(mutated(R"("a/b.txt")", R"("../b.txt")"), "'..'");
  expectCorrupt(mutated(R"("a/b.txt")", R"("/etc/b.txt")"), "absolute");
  expectCorrupt(mutated(R"("a/b.txt")", R"("a//b.txt")"), "empty segment");
  expectCorrupt(mutated(R"("a/b.txt")", R"("C:/b.txt")"), "drive");
  expectCorrupt(mutated(R"("a/b.txt")", R"("a\\b.txt")"), "backslash");
  expectCorrupt(mutated(sha("abc"), std::string(64, 'A')), "sha256");
  expectCorrupt(mutated(sha("abc"), sha("abc").substr(1)), "sha256");
  expectCorrupt(mutated(R"("size":3)", R"("size":-3)"), "size");
  expectCorrupt(mutated(R"("size":3)", R"("size":3.5)"), "size");
  expectCorrupt(mutated(R"("size":3)", R"("size":"3")"), "size");
  expectCorrupt(mutated(R"("mtime":-5)", R"("mtime":1.5)"), "mtime");
  expectCorrupt(mutated(R"("attributes":420)", R"("attributes":-1)"), "attributes");
  expectCorrupt(mutated(R"("attributes":420)", R"("attributes":4294967296)"), "attributes");
  expectCorrupt(mutated(R"("total_bytes":3)", R"("total_bytes":4)"), "total_bytes");
  expectCorrupt(mutated(R"("z.bin")", R"("a/b.txt")"), "duplicate path");
  expectCorrupt(mutated(R"("z.bin")", R"("0.bin")"), "not sorted");
  expectCorrupt(mutated(R"(["a","a/empty"])", R"(["a","a"])"), "duplicate");
  expectCorrupt(mutated(R"(["a","a/empty"])", R"(["a/empty"])"), "not listed in dirs");
  expectCorrupt(mutated(R"(["a","a/empty"])", R"(["a","a/b.txt"])"), "both a file and a folder");
  expectCorrupt(mutated(R"(,"dirs":["a","a/empty"])", ""), "dirs");
  expectCorrupt(mutated(R"("name":"Office",)", ""), "name");
}

TEST(ManifestTest, NameMustBeUtf8) {
  Manifest m = sampleManifest();
  m.name = "caf\xe9";  // Latin-1
  EXPECT_EQ(validateManifest(m).code(), Status::Code::Corruption);
  m.name = "café";
  EXPECT_TRUE(validateManifest(m).ok());
}

TEST(ManifestTest, CanonicalizeSortsAndFillsParents) {
  Manifest m;
  m.package_id = "PS100001";
  m.version = 1;
  m.files.push_back({"z/y/x.txt", 5, sha("hello"), 0, 0644});
  m.files.push_back({"a.txt", 1, sha("a"), 0, 0644});
  m.dirs = {"empty/inner", "z"};
  canonicalizeManifest(m);
  EXPECT_EQ(m.files[0].path, "a.txt");
  EXPECT_EQ(m.dirs, (std::vector<std::string>{"empty", "empty/inner", "z", "z/y"}));
  EXPECT_EQ(m.total_bytes, 6u);
  EXPECT_TRUE(validateManifest(m).ok()) << validateManifest(m).toString();
}

TEST(ManifestTest, DiffCountsUniqueMissingBodies) {
  Manifest m;
  m.package_id = "PS100001";
  m.version = 1;
  m.files = {{"a", 10, sha("A"), 0, 0},
             {"b", 10, sha("A"), 0, 0},
             {"c", 20, sha("C"), 0, 0},
             {"d", 30, sha("D"), 0, 0},
             {"e", 20, sha("C"), 0, 0}};
  canonicalizeManifest(m);
  ContentDiff diff = diffContent(m, ShaSet{sha("D")});
  ASSERT_EQ(diff.missing.size(), 2u);
  EXPECT_EQ(diff.missing[0].path, "a");
  EXPECT_EQ(diff.missing[1].path, "c");
  EXPECT_EQ(diff.missing_bytes, 30u);
  EXPECT_EQ(diff.present_bodies, 1u);
  EXPECT_EQ(diff.present_bytes, 30u);
  EXPECT_EQ(uniqueBodies(m), (std::vector<std::string>{sha("A"), sha("C"), sha("D")}));
  EXPECT_TRUE(diffContent(m, ShaSet{sha("A"), sha("C"), sha("D")}).missing.empty());
}

// ---- building from a source folder -------------------------------------------------------------

class BuildManifestTest : public ::testing::Test {
 protected:
  void SetUp() override { src_ = dir_.path() / "source"; }

  Result<Manifest> build(const Manifest* previous = nullptr, BuildStats* stats = nullptr) {
    return buildManifest(src_, previous, pool_, stats);
  }

  void expectError(Status::Code code, std::string_view mention) {
    auto r = build();
    ASSERT_FALSE(r.ok()) << "built a manifest with " << r->files.size() << " files";
    EXPECT_EQ(r.error().code(), code) << r.error().toString();
    EXPECT_NE(r.error().message().find(mention), std::string::npos)
        << "message does not mention '" << mention << "': " << r.error().message();
  }

  TempDir dir_;
  fs::path src_;
  boost::asio::thread_pool pool_{2};
};

TEST_F(BuildManifestTest, ListsFilesAndFoldersWithAwkwardNames) {
  writeFile(src_ / "readme.txt", "read me");
  writeFile(src_ / "Setup Files/app #1 100%.msi", "msi body");
  writeFile(src_ / "Ünïcödé/日本語.txt", "konnichiwa");
  writeFile(src_ / "dup1.bin", "same");
  writeFile(src_ / "nested/dup2.bin", "same");
  fs::create_directories(src_ / "empty dir");
  fs::create_directories(src_ / "nested/deeper/empty");
  ::chmod((src_ / "readme.txt").c_str(), 0600);
  setMtime(src_ / "readme.txt", 1'650'000'000, 42);

  BuildStats stats;
  auto r = build(nullptr, &stats);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const Manifest& m = *r;
  std::vector<std::string> paths;
  for (const auto& f : m.files) paths.push_back(f.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"Setup Files/app #1 100%.msi", "dup1.bin", "nested/dup2.bin",
                                      "readme.txt", "Ünïcödé/日本語.txt"}));
  EXPECT_EQ(m.dirs, (std::vector<std::string>{"Setup Files", "empty dir", "nested", "nested/deeper",
                                              "nested/deeper/empty", "Ünïcödé"}));
  EXPECT_EQ(m.total_bytes, 7u + 8u + 10u + 4u + 4u);
  const ManifestFile& readme = m.files[3];
  EXPECT_EQ(readme.sha256, sha("read me"));
  EXPECT_EQ(readme.size, 7u);
  EXPECT_EQ(readme.attributes, 0600u);
  EXPECT_EQ(readme.mtime, 1'650'000'000'000'000'042LL);
  EXPECT_EQ(m.files[1].sha256, m.files[2].sha256);
  EXPECT_EQ(stats.files, 5u);
  EXPECT_EQ(stats.files_hashed, 5u);
  EXPECT_EQ(stats.files_reused, 0u);

  Manifest named = m;
  named.package_id = "PS100001";
  named.version = 1;
  named.name = "Awkward";
  EXPECT_TRUE(validateManifest(named).ok()) << validateManifest(named).toString();
  auto again = parseManifest(toJson(named));
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_EQ(*again, named);
}

TEST_F(BuildManifestTest, IsDeterministic) {
  for (int i = 0; i < 50; ++i) {
    writeFile(src_ / ("d" + std::to_string(i % 7)) / ("f" + std::to_string(i)), std::to_string(i));
  }
  fs::create_directories(src_ / "zz/empty");
  auto a = build();
  ASSERT_TRUE(a.ok());
  boost::asio::thread_pool other(1);
  auto b = buildManifest(src_, nullptr, other);
  ASSERT_TRUE(b.ok());
  other.join();
  EXPECT_EQ(toJson(*a), toJson(*b));
}

TEST_F(BuildManifestTest, EmptySourceGivesEmptyManifest) {
  fs::create_directories(src_);
  auto r = build();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->files.empty());
  EXPECT_TRUE(r->dirs.empty());
  EXPECT_EQ(r->total_bytes, 0u);
}

TEST_F(BuildManifestTest, MissingSourceIsNotFound) {
  expectError(Status::Code::NotFound, "source");
}

TEST_F(BuildManifestTest, SourceThatIsAFileIsRejected) {
  writeFile(src_, "a file");
  expectError(Status::Code::InvalidArgument, "not a folder");
}

TEST_F(BuildManifestTest, ReusesHashWhenSizeAndMtimeAreUnchanged) {
  writeFile(src_ / "app.exe", "version 1");
  writeFile(src_ / "lib/other.dll", "other");
  setMtime(src_ / "app.exe", 1'700'000'000, 5);
  auto first = build();
  ASSERT_TRUE(first.ok());

  // Same size, same mtime, different bytes: a re-read that trusts the stored hash keeps the old
  // hash, which proves the file was not read.
  writeFile(src_ / "app.exe", "version 2");
  setMtime(src_ / "app.exe", 1'700'000'000, 5);
  BuildStats stats;
  auto reused = build(&*first, &stats);
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused->files[0].sha256, sha("version 1"));
  EXPECT_EQ(stats.files_reused, 2u);
  EXPECT_EQ(stats.files_hashed, 0u);
  EXPECT_EQ(stats.bytes_hashed, 0u);

  // Without a previous manifest everything is read.
  auto fresh = build();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->files[0].sha256, sha("version 2"));

  // A changed mtime forces a re-hash of that file only.
  setMtime(src_ / "app.exe", 1'700'000'001, 5);
  auto rehashed = build(&*first, &stats);
  ASSERT_TRUE(rehashed.ok());
  EXPECT_EQ(rehashed->files[0].sha256, sha("version 2"));
  EXPECT_EQ(rehashed->files[0].mtime, 1'700'000'001'000'000'005LL);
  EXPECT_EQ(stats.files_hashed, 1u);
  EXPECT_EQ(stats.files_reused, 1u);
  EXPECT_FALSE(sameContent(*first, *rehashed));

  // A changed size too.
  writeFile(src_ / "lib/other.dll", "other, longer");
  auto resized = build(&*rehashed, &stats);
  ASSERT_TRUE(resized.ok());
  EXPECT_EQ(resized->files[1].sha256, sha("other, longer"));
  EXPECT_EQ(stats.files_hashed, 1u);
}

TEST_F(BuildManifestTest, UnchangedSourceIsSameContent) {
  writeFile(src_ / "a", "a");
  auto first = build();
  auto second = build(&*first);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(sameContent(*first, *second));
}

TEST_F(BuildManifestTest, RejectsFifo) {
  writeFile(src_ / "ok.txt", "ok");
  ASSERT_EQ(::mkfifo((src_ / "pipe").c_str(), 0644), 0);
  expectError(Status::Code::InvalidArgument, "pipe: a FIFO");
}

TEST_F(BuildManifestTest, RejectsSocket) {
  fs::create_directories(src_);
  const fs::path sock_path = src_ / "sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock_path.native().size(), sizeof(addr.sun_path));
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  expectError(Status::Code::InvalidArgument, "sock: a socket");
  ::close(fd);
}

TEST_F(BuildManifestTest, RejectsDeviceFile) {
  fs::create_directories(src_);
  if (::mknod((src_ / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod not permitted here (no CAP_MKNOD)";
  }
  expectError(Status::Code::InvalidArgument, "character device");
}

TEST_F(BuildManifestTest, RejectsSymlinkOutsideTheSource) {
  writeFile(dir_ / "outside.txt", "secret");
  fs::create_directories(src_);
  fs::create_symlink(dir_ / "outside.txt", src_ / "link.txt");
  expectError(Status::Code::InvalidArgument, "outside the source folder");
}

TEST_F(BuildManifestTest, RejectsRelativeSymlinkEscapingTheSource) {
  writeFile(dir_ / "outside.txt", "secret");
  fs::create_directories(src_ / "sub");
  fs::create_symlink("../../outside.txt", src_ / "sub/link.txt");
  expectError(Status::Code::InvalidArgument, "link.txt");
}

TEST_F(BuildManifestTest, FollowsSymlinkToAFileInside) {
  writeFile(src_ / "real/data.bin", "payload");
  fs::create_symlink("real/data.bin", src_ / "alias.bin");
  auto r = build();
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->files.size(), 2u);
  EXPECT_EQ(r->files[0].path, "alias.bin");
  EXPECT_EQ(r->files[0].sha256, sha("payload"));
  EXPECT_EQ(r->files[0].size, 7u);
}

TEST_F(BuildManifestTest, RejectsSymlinkToAFolder) {
  fs::create_directories(src_ / "real");
  fs::create_directory_symlink("real", src_ / "loop");
  expectError(Status::Code::InvalidArgument, "links to folders are not followed");
}

TEST_F(BuildManifestTest, RejectsSymlinkToTheSourceItself) {
  fs::create_directories(src_);
  fs::create_directory_symlink(".", src_ / "self");
  expectError(Status::Code::InvalidArgument, "self");
}

TEST_F(BuildManifestTest, BrokenSymlinkIsNotFound) {
  fs::create_directories(src_);
  fs::create_symlink("nowhere", src_ / "dangling");
  expectError(Status::Code::NotFound, "broken symbolic link");
}

TEST_F(BuildManifestTest, RejectsNameThatIsNotUtf8) {
  writeFile(src_ / "bad\xff.txt", "x");
  expectError(Status::Code::InvalidArgument, "bad\\xFF.txt");
}

TEST_F(BuildManifestTest, RejectsBackslashInName) {
  writeFile(src_ / "a\\b.txt", "x");
  expectError(Status::Code::InvalidArgument, "backslash");
}

TEST_F(BuildManifestTest, RejectsControlCharacterInName) {
  writeFile(src_ / "tab\there.txt", "x");
  expectError(Status::Code::InvalidArgument, "control character");
}

TEST_F(BuildManifestTest, ReportsFirstProblemAndCount) {
  writeFile(src_ / "b\\.txt", "x");
  writeFile(src_ / "a:.txt", "x");
  expectError(Status::Code::InvalidArgument, "a:.txt");
  expectError(Status::Code::InvalidArgument, "and 1 more");
}

// Root reads any file, so the permission check runs in a child that became "nobody".
TEST_F(BuildManifestTest, UnreadableFileAndFolderArePermissionDenied) {
  writeFile(src_ / "ok.txt", "fine");
  writeFile(src_ / "locked.txt", "secret");
  ASSERT_EQ(::chmod((src_ / "locked.txt").c_str(), 0), 0);
  const fs::path src2 = dir_.path() / "source2";
  writeFile(src2 / "closed/inner.txt", "x");
  ASSERT_EQ(::chmod((src2 / "closed").c_str(), 0), 0);
  for (const fs::path& d : {dir_.path(), src_, src2}) {
    fs::permissions(d, fs::perms(0755));  // traversable by "nobody" whatever the umask
  }
  pool_.join();  // no pool threads while forking

  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(77);
    boost::asio::thread_pool pool(1);
    auto file = buildManifest(src_, nullptr, pool);
    if (file.ok() || file.error().code() != Status::Code::PermissionDenied ||
        file.error().message().find("locked.txt") == std::string::npos ||
        file.error().message().find("EACCES") == std::string::npos) {
      std::fprintf(stderr, "file: %s\n", file.status().toString().c_str());
      ::_exit(1);
    }
    auto folder = buildManifest(src2, nullptr, pool);
    if (folder.ok() || folder.error().code() != Status::Code::PermissionDenied ||
        folder.error().message().find("closed") == std::string::npos) {
      std::fprintf(stderr, "folder: %s\n", folder.status().toString().c_str());
      ::_exit(2);
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot switch to an unprivileged user";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: file case failed, 2: folder case failed (see stderr)";
}

}  // namespace
}  // namespace pkgxfer::content
