#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/hostile_files.h"
#include "fakes/test_util.h"
#include "pkgxfer/common/aligned_buffer.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/content/sha256.h"
#include "pkgxfer/fs/fault_injecting_file_system.h"
#include "pkgxfer/transport/file_transport.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::transport {
namespace {

namespace fs = std::filesystem;
using pkgxfer::testing::readFile;
using pkgxfer::testing::TempDir;
using pkgxfer::testing::writeFile;

std::string sha(std::string_view data) { return *content::sha256Hex(data); }

std::vector<std::string> tempFiles(const fs::path& root) {
  std::vector<std::string> out;
  if (!fs::exists(root / "FileLib")) return out;
  for (const auto& e : fs::recursive_directory_iterator(root / "FileLib")) {
    std::string name = e.path().filename().string();
    if (!name.empty() && name.front() == '.') out.push_back(name);
  }
  return out;
}

// True if the file system under `dir` keeps its files on a disk, so that their pages can leave the
// page cache (not tmpfs, whose files live there).
bool pagesCanLeaveTheCache(const fs::path& dir) {
  struct statfs sfs;
  return ::statfs(dir.c_str(), &sfs) == 0 && sfs.f_type != TMPFS_MAGIC;
}

// How many pages of `file` are in the page cache (mincore(2) of a mapping; maps read nothing).
std::size_t cachedPages(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  ::fstat(fd, &st);
  const auto size = static_cast<std::size_t>(st.st_size);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::size_t cached = 0;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map != MAP_FAILED) {
    std::vector<unsigned char> pages((size + page - 1) / page);
    if (::mincore(map, size, pages.data()) == 0) {
      for (unsigned char p : pages) cached += p & 1;
    }
    ::munmap(map, size);
  }
  ::close(fd);
  return cached;
}

// `n` bytes that differ from page to page and from `seed` to `seed`.
std::string pattern(std::size_t n, char seed) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>(seed + i * 7 + i / 4093);
  return out;
}

class FileTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_ / "dp01";
    fs::create_directories(root_);
    dp_.name = "dp01";
    dp_.address = "file://" + root_.string();
    dp_.location = config::FileAddress{root_};
    TransportOptions options;
    options.sync = false;
    auto t = makeTransport(dp_, options);
    ASSERT_TRUE(t.ok()) << t.status().toString();
    transport_ = std::move(*t);
  }

  // The fixture's send of (empty) content of PS100001, begun on first use: beginning a send opens
  // the DP's library, which some tests must see happen themselves.
  ContentSend* send() {
    if (!send_) send_ = begin(*transport_);
    return send_.get();
  }

  // A send of (empty) content of `owner`, for its body uploads.
  static std::unique_ptr<ContentSend> begin(Transport& t, const std::string& owner = "PS100001",
                                            const content::Manifest& m = {}) {
    auto s = t.beginSend(std::make_shared<const content::Manifest>(m), owner, {});
    EXPECT_TRUE(s.ok()) << s.status().toString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Seals and installs one upload.
  static Status finish(ContentSend& send, BodyUpload& up) {
    PKGXFER_RETURN_IF_ERROR(up.seal({}));
    BodyUpload* one = &up;
    return send.install(std::span<BodyUpload* const>(&one, 1), {});
  }
  Status finish(BodyUpload& up) { return finish(*send(), up); }

  Result<std::unique_ptr<BodyUpload>> open(BodySpec spec) { return send()->openBody(spec, {}); }

  // Uploads a whole body in one go.
  void upload(std::string_view data, bool verify = true) {
    auto up = open({sha(data), data.size(), "", 0, verify});
    ASSERT_TRUE(up.ok()) << up.status().toString();
    ASSERT_TRUE((*up)->write(data.data(), data.size(), {}).ok());
    Status s = finish(**up);
    ASSERT_TRUE(s.ok()) << s.toString();
  }

  content::Manifest manifestOf(const std::vector<std::pair<std::string, std::string>>& files,
                               std::uint64_t version = 1) {
    content::Manifest m;
    m.package_id = "PS100001";
    m.version = version;
    m.name = "test";
    for (const auto& [path, data] : files) {
      m.files.push_back({path, data.size(), sha(data), 0, 0644});
    }
    content::canonicalizeManifest(m);
    return m;
  }

  TempDir dir_;
  fs::path root_;
  config::DistributionPointConfig dp_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<ContentSend> send_;
};

TEST_F(FileTransportTest, ProbeReportsFreeSpaceAndCreatesLibrary) {
  auto probe = transport_->probe({});
  ASSERT_TRUE(probe.ok()) << probe.status().toString();
  EXPECT_GT(probe->free_bytes, 0u);
  EXPECT_EQ(probe->location, root_.string());
  EXPECT_TRUE(fs::is_directory(root_ / "FileLib"));
  EXPECT_TRUE(fs::is_directory(root_ / "DataLib"));
  EXPECT_TRUE(fs::is_directory(root_ / "PkgLib"));
  EXPECT_EQ(transport_->describe(), "file://" + root_.string());
}

TEST_F(FileTransportTest, MissingRootIsUnavailableAndNotCreated) {
  fs::remove_all(root_);
  auto probe = transport_->probe({});
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.status().code(), Status::Code::Unavailable);
  EXPECT_NE(probe.status().message().find("No such file or directory"), std::string::npos)
      << probe.status().message();
  EXPECT_FALSE(fs::exists(root_));
  EXPECT_EQ(transport_->inventory({sha("x")}, {}).status().code(), Status::Code::Unavailable);
  // Appearing later makes it usable.
  fs::create_directories(root_);
  EXPECT_TRUE(transport_->probe({}).ok());
}

TEST_F(FileTransportTest, ReadOnlyRootIsPermissionDenied) {
  // A root we may not write to (EACCES from the file system; root ignores permissions, so the
  // fault-injecting file system plays the share that refuses us).
  pkgxfer::fs::FaultInjectingFileSystem faulty;
  faulty.inject(pkgxfer::fs::Fault::failing(pkgxfer::fs::Op::Create, "/.pkgxfer-probe.", EACCES));
  FileTransport t(faulty, root_, FileTransportOptions{});
  auto probe = t.probe({});
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.status().code(), Status::Code::PermissionDenied) << probe.status().toString();
  EXPECT_NE(probe.status().message().find(root_.string() + "/.pkgxfer-probe."), std::string::npos)
      << probe.status().message();
  EXPECT_NE(probe.status().message().find("Permission denied (EACCES)"), std::string::npos);
  EXPECT_TRUE(t.probe({}).ok()) << "once the share lets us write";
}

TEST_F(FileTransportTest, UploadedBodyLandsUnderItsHashWithNoTempLeft) {
  const std::string data = "hello, distribution point";
  upload(data);
  const std::string h = sha(data);
  EXPECT_EQ(readFile(root_ / "FileLib" / h.substr(0, 4) / h), data);
  EXPECT_TRUE(tempFiles(root_).empty());
  auto inv = transport_->inventory({h, sha("other")}, {});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->size(), 1u);
  EXPECT_TRUE(inv->count(h));
}

TEST_F(FileTransportTest, WrongBytesAreRejectedAndDiscarded) {
  for (bool verify : {true, false}) {
    const std::string expected = "the real body";
    const std::string wrong = "the fake body";
    auto up = open({sha(expected), expected.size(), "", 0, verify});
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->write(wrong.data(), wrong.size(), {}).ok());
    Status s = finish(**up);
    EXPECT_EQ(s.code(), Status::Code::Corruption) << s.toString();
    EXPECT_NE(s.message().find(sha(wrong)), std::string::npos) << s.message();
    EXPECT_TRUE(tempFiles(root_).empty());
    EXPECT_TRUE(transport_->inventory({sha(expected)}, {})->empty());
  }
}

TEST_F(FileTransportTest, WriteBeyondSizeIsInvalid) {
  auto up = open({sha("abc"), 3, "", 0});
  ASSERT_TRUE(up.ok());
  EXPECT_EQ((*up)->write("abcd", 4, {}).code(), Status::Code::InvalidArgument);
  (*up)->abort();
  EXPECT_TRUE(tempFiles(root_).empty());
}

TEST_F(FileTransportTest, ShortBodyFailsFinish) {
  auto up = open({sha("abc"), 3, "", 0});
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE((*up)->write("ab", 2, {}).ok());
  EXPECT_EQ(finish(**up).code(), Status::Code::Corruption);
  EXPECT_TRUE(tempFiles(root_).empty());
}

TEST_F(FileTransportTest, ResumesAtDurableOffsetAndCutsTornTail) {
  const std::string data(100000, 'z');
  std::string body = data;
  body[5] = 'a';
  const std::string h = sha(body);
  std::string temp;
  {
    auto up = open({h, body.size(), "", 0});
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->write(body.data(), 60000, {}).ok());
    ASSERT_TRUE((*up)->checkpoint({}).ok());
    // Bytes after the durable point, possibly torn: garbage.
    ASSERT_TRUE((*up)->write("XXXXXXXXXX", 10, {}).ok());
    temp = (*up)->tempName();
    // Destroyed without finish or abort: the temp stays for a resume.
  }
  ASSERT_EQ(tempFiles(root_).size(), 1u);
  for (bool verify : {false, true}) {
    auto up = open({h, body.size(), temp, 60000, verify});
    ASSERT_TRUE(up.ok()) << up.status().toString();
    EXPECT_EQ((*up)->tempName(), temp);
    EXPECT_EQ((*up)->offset(), 60000u);
    ASSERT_TRUE((*up)->write(body.data() + 60000, body.size() - 60000, {}).ok());
    Status s = finish(**up);
    ASSERT_TRUE(s.ok()) << s.toString();
    EXPECT_EQ(readFile(root_ / "FileLib" / h.substr(0, 4) / h), body);
    EXPECT_TRUE(tempFiles(root_).empty());
    if (!verify) {
      // Next round: leave a new partial to resume with verify on.
      fs::remove(root_ / "FileLib" / h.substr(0, 4) / h);
      auto again = open({h, body.size(), "", 0});
      ASSERT_TRUE(again.ok());
      ASSERT_TRUE((*again)->write(body.data(), 60000, {}).ok());
      temp = (*again)->tempName();
    }
  }
}

TEST_F(FileTransportTest, ResumeOfVanishedTempStartsOver) {
  const std::string body = "0123456789";
  const std::string h = sha(body);
  auto up = open({h, body.size(), "." + h + ".PS100001.0123456789abcdef.partial", 5});
  ASSERT_TRUE(up.ok());
  EXPECT_EQ((*up)->offset(), 0u);
  ASSERT_TRUE((*up)->write(body.data(), body.size(), {}).ok());
  EXPECT_TRUE(finish(**up).ok());
}

TEST_F(FileTransportTest, ResumeWithForeignNameIsIgnored) {
  const std::string body = "0123456789";
  const std::string h = sha(body);
  auto up = open({h, body.size(), "../../etc/passwd", 5});
  ASSERT_TRUE(up.ok());
  EXPECT_EQ((*up)->offset(), 0u);
  EXPECT_NE((*up)->tempName(), "../../etc/passwd");
  (*up)->abort();
  EXPECT_EQ(transport_->discardTemp(h, "../x", {}).code(), Status::Code::InvalidArgument);
}

TEST_F(FileTransportTest, DiscardTempDeletesAPartial) {
  const std::string body = "0123456789";
  const std::string h = sha(body);
  std::string temp;
  {
    auto up = open({h, body.size(), "", 0});
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->write(body.data(), 4, {}).ok());
    temp = (*up)->tempName();
  }
  ASSERT_EQ(tempFiles(root_).size(), 1u);
  EXPECT_TRUE(transport_->discardTemp(h, temp, {}).ok());
  EXPECT_TRUE(tempFiles(root_).empty());
  EXPECT_TRUE(transport_->discardTemp(h, temp, {}).ok());  // idempotent
}

TEST_F(FileTransportTest, ManifestCommitValidateAndRemove) {
  auto m1 = manifestOf({{"a.txt", "alpha"}, {"dir/b.txt", "shared"}});
  // Not every body there yet: refused.
  upload("alpha");
  auto send1 = begin(*transport_, "PS100001", m1);
  EXPECT_EQ(send1->commit({}).code(), Status::Code::NotFound);
  upload("shared");
  ASSERT_TRUE(send1->commit({}).ok());
  send1.reset();  // the send is over: its bodies are no longer pinned
  EXPECT_TRUE(fs::exists(root_ / "DataLib" / "PS100001.1.json"));
  EXPECT_TRUE(fs::exists(root_ / "PkgLib" / "PS100001.json"));
  auto read = transport_->readManifest("PS100001", 1, {});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, m1);
  EXPECT_EQ(transport_->readManifest("PS100001", 2, {}).status().code(), Status::Code::NotFound);
  EXPECT_EQ(*transport_->listVersions("PS100001", {}), std::vector<std::uint64_t>{1});

  auto report = transport_->validate("PS100001", 1, {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());

  // Another package shares a body.
  content::Manifest other = manifestOf({{"s.txt", "shared"}});
  other.package_id = "PS100002";
  ASSERT_TRUE(begin(*transport_, "PS100002", other)->commit({}).ok());

  // Corrupt one body, delete... validation reports it.
  const std::string ha = sha("alpha");
  writeFile(root_ / "FileLib" / ha.substr(0, 4) / ha, "alphX");
  report = transport_->validate("PS100001", 1, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->mismatched.size(), 1u);
  EXPECT_EQ(report->mismatched[0].path, "a.txt");

  ASSERT_TRUE(transport_->removeContent("PS100001", 1, {}).ok());
  EXPECT_FALSE(fs::exists(root_ / "DataLib" / "PS100001.1.json"));
  EXPECT_FALSE(fs::exists(root_ / "FileLib" / ha.substr(0, 4) / ha));
  const std::string hs = sha("shared");
  EXPECT_TRUE(fs::exists(root_ / "FileLib" / hs.substr(0, 4) / hs));  // PS100002 still uses it
  EXPECT_TRUE(transport_->listVersions("PS100001", {})->empty());
  EXPECT_EQ(transport_->removeContent("PS100001", 1, {}).code(), Status::Code::NotFound);
}

TEST_F(FileTransportTest, DiscardTempsSweepsOnlyThatOwner) {
  const std::string body = "0123456789";
  const std::string h = sha(body);
  for (const char* owner : {"PS100001", "PS100001", "PS100002"}) {
    auto up = begin(*transport_, owner)->openBody({h, body.size(), "", 0}, {});
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->write(body.data(), 3, {}).ok());
  }
  ASSERT_EQ(tempFiles(root_).size(), 3u);
  auto n = send()->discardLeftovers({h, sha("absent")}, {});
  ASSERT_TRUE(n.ok()) << n.status().toString();
  EXPECT_EQ(*n, 2u);
  auto left = tempFiles(root_);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_NE(left[0].find(".PS100002."), std::string::npos);
}

TEST_F(FileTransportTest, OpeningABodyCanDiscardItsOwnersLeftovers) {
  // Leftovers of earlier uploads: two of PS100001 for this body, one of PS100002 for it, and one
  // of PS100001 for another body in the same folder (same first four hex digits).
  const std::string body = "0123456789";
  const std::string h = sha(body);
  std::string other = h;
  other.back() = other.back() == '0' ? '1' : '0';
  std::vector<std::string> names;
  for (auto [owner, of] : std::vector<std::pair<const char*, std::string>>{
           {"PS100001", h}, {"PS100001", h}, {"PS100002", h}, {"PS100001", other}}) {
    auto up = begin(*transport_, owner)->openBody({of, body.size(), "", 0}, {});
    ASSERT_TRUE(up.ok());
    EXPECT_EQ((*up)->leftoversDiscarded(), 0u);  // not asked to
    ASSERT_TRUE((*up)->write(body.data(), 3, {}).ok());
    names.push_back((*up)->tempName());
  }
  ASSERT_EQ(tempFiles(root_).size(), 4u);

  // Resuming the second one: the first goes, the resumed one and everybody else's stay.
  BodySpec spec{h, body.size(), names[1], 3};
  spec.discard_leftovers = true;
  auto up = open(spec);
  ASSERT_TRUE(up.ok()) << up.status().toString();
  EXPECT_EQ((*up)->leftoversDiscarded(), 1u);
  EXPECT_EQ((*up)->tempName(), names[1]);
  auto left = tempFiles(root_);
  EXPECT_EQ(left.size(), 3u);
  EXPECT_EQ(std::count_if(left.begin(), left.end(),
                          [&](const std::string& p) { return p.ends_with(names[0]); }),
            0);
  ASSERT_TRUE((*up)->write(body.data() + 3, body.size() - 3, {}).ok());
  ASSERT_TRUE(finish(**up).ok());
  EXPECT_EQ(tempFiles(root_).size(), 2u);  // PS100002's, and PS100001's of the other body

  // A body whose folder does not exist yet has nothing to discard.
  const std::string fresh = "fresh body";
  spec = {sha(fresh), fresh.size(), "", 0};
  spec.discard_leftovers = true;
  up = open(spec);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ((*up)->leftoversDiscarded(), 0u);
  (*up)->abort();
}

TEST_F(FileTransportTest, SealedBodiesStayHiddenUntilInstalledAsABatch) {
  // Durable, over a file system that counts: a batch of several bodies costs one volume flush for
  // their bytes and one for the renames, and never an fsync per body.
  pkgxfer::fs::FaultInjectingFileSystem counting;
  FileTransport t(counting, root_, FileTransportOptions{});
  auto send = begin(t);
  const std::vector<std::string> bodies = {"first body", "second body", "third body"};
  std::vector<std::unique_ptr<BodyUpload>> uploads;
  for (const std::string& b : bodies) {
    auto up = send->openBody({sha(b), b.size(), "", 0}, {});
    ASSERT_TRUE(up.ok()) << up.status().toString();
    ASSERT_TRUE((*up)->write(b.data(), b.size(), {}).ok());
    BodyUpload* unsealed = up->get();
    EXPECT_EQ(send->install(std::span<BodyUpload* const>(&unsealed, 1), {}).code(),
              Status::Code::Internal);  // not sealed yet
    ASSERT_TRUE((*up)->seal({}).ok());
    EXPECT_EQ((*up)->write("x", 1, {}).code(), Status::Code::Internal);  // sealed: no more bytes
    uploads.push_back(std::move(*up));
  }
  // Verified, but still under their temporary names: not part of the library yet.
  EXPECT_EQ(tempFiles(root_).size(), 3u);
  EXPECT_TRUE(t.inventory({sha(bodies[0]), sha(bodies[1]), sha(bodies[2])}, {})->empty());
  const auto volume_flushes = counting.calls(pkgxfer::fs::Op::SyncVolume);
  const auto file_flushes = counting.calls(pkgxfer::fs::Op::Sync);
  const auto renames = counting.calls(pkgxfer::fs::Op::Rename);  // the identity file's, at open
  // Every rename comes after the flush of the bytes, and before the flush of the renames.
  counting.inject(pkgxfer::fs::Fault::stopping(
      pkgxfer::fs::Op::Rename, "/FileLib/",
      [&](pkgxfer::fs::Op, const fs::path&) {
        EXPECT_EQ(counting.calls(pkgxfer::fs::Op::SyncVolume), volume_flushes + 1);
      },
      pkgxfer::fs::Fault::When::Before, 0, /*count=*/-1));
  std::vector<BodyUpload*> batch;
  for (auto& up : uploads) batch.push_back(up.get());
  ASSERT_TRUE(send->install(batch, {}).ok());
  EXPECT_EQ(counting.calls(pkgxfer::fs::Op::SyncVolume) - volume_flushes, 2u);
  EXPECT_EQ(counting.calls(pkgxfer::fs::Op::Sync) - file_flushes, 0u);
  EXPECT_EQ(counting.calls(pkgxfer::fs::Op::Rename) - renames, 3u);
  EXPECT_TRUE(tempFiles(root_).empty());
  for (const std::string& b : bodies) {
    const std::string h = sha(b);
    EXPECT_EQ(readFile(root_ / "FileLib" / h.substr(0, 4) / h), b);
  }
}

TEST_F(FileTransportTest, VerifyReadsTheBodyBackFromTheDp) {
  // The bytes at rest on the DP change after they were written (a bad disk, a meddler): a
  // read-back catches it; without verify the hash is of the bytes as they were sent.
  for (bool verify : {true, false}) {
    const std::string body = "what was sent to the DP";
    const std::string h = sha(body);
    auto up = open({h, body.size(), "", 0, verify});
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->write(body.data(), body.size(), {}).ok());
    const fs::path temp = root_ / "FileLib" / h.substr(0, 4) / (*up)->tempName();
    std::string changed = body;
    changed[0] = 'W';
    writeFile(temp, changed);
    Status s = (*up)->seal({});
    if (verify) {
      EXPECT_EQ(s.code(), Status::Code::Corruption) << s.toString();
      EXPECT_NE(s.message().find("(read back)"), std::string::npos) << s.message();
      EXPECT_NE(s.message().find(sha(changed)), std::string::npos) << s.message();
      EXPECT_TRUE(tempFiles(root_).empty());
    } else {
      EXPECT_TRUE(s.ok()) << s.toString();
      (*up)->abort();
    }
  }
}

TEST_F(FileTransportTest, InstalledBodiesLeaveThePageCache) {
  // Once a body is durable its pages are dropped, alone (finish) or in a batch (seal, sync,
  // install, sync): sending a package does not fill the DP's memory and push out the files it
  // serves. With drop_from_cache off, the body stays cached, which shows the check sees the cache.
  if (!pagesCanLeaveTheCache(root_)) GTEST_SKIP() << root_ << " keeps files in memory";
  const std::size_t size = (2u << 20) + 100;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  char seed = 'a';
  for (bool drop : {true, false}) {
    for (bool batch : {false, true}) {
      SCOPED_TRACE(std::string(drop ? "drop" : "keep") + (batch ? ", batch" : ", alone"));
      FileTransportOptions options;  // sync on: pages are dropped once durable
      options.drop_from_cache = drop;
      FileTransport t(pkgxfer::fs::FileSystem::local(), root_, options);
      auto send = begin(t);
      const std::string body = pattern(size, seed++);
      const std::string h = sha(body);
      auto up = send->openBody({h, body.size(), "", 0, /*verify=*/true}, {});
      ASSERT_TRUE(up.ok()) << up.status().toString();
      for (std::size_t at = 0; at < size; at += 1 << 20) {
        const std::size_t n = std::min<std::size_t>(1 << 20, size - at);
        ASSERT_TRUE((*up)->write(body.data() + at, n, {}).ok());
      }
      if (batch) {
        // With another body: a batch of one is installed the way a single body is.
        const std::string other = "the other body " + std::string(1, seed);
        auto second = send->openBody({sha(other), other.size(), "", 0}, {});
        ASSERT_TRUE(second.ok());
        ASSERT_TRUE((*second)->write(other.data(), other.size(), {}).ok());
        ASSERT_TRUE((*up)->seal({}).ok());
        ASSERT_TRUE((*second)->seal({}).ok());
        std::vector<BodyUpload*> both{up->get(), second->get()};
        ASSERT_TRUE(send->install(both, {}).ok());
      } else {
        Status s = finish(*send, **up);
        ASSERT_TRUE(s.ok()) << s.toString();
      }
      const fs::path final_path = root_ / "FileLib" / h.substr(0, 4) / h;
      const std::size_t cached = cachedPages(final_path);  // before anything reads it here
      EXPECT_EQ(readFile(final_path), body);
      if (drop) {
        EXPECT_EQ(cached, 0u) << "pages of an installed body left in the page cache";
      } else {
        EXPECT_GE(cached, size / page) << "without the drop the body stays in the page cache";
      }
    }
  }
}

TEST_F(FileTransportTest, CheckpointsOfALargeBodyLeaveThePageCache) {
  // A large body is read back and dropped a checkpoint at a time (flush), so a stream holds at
  // most one checkpoint of it in memory, not the whole body until it is installed. The hash still
  // covers every byte: a body whose first checkpoint differs from what the DP holds is refused.
  if (!pagesCanLeaveTheCache(root_)) GTEST_SKIP() << root_ << " keeps files in memory";
  const std::size_t step = 1 << 20;
  const std::size_t size = 3 * step + 100;
  char seed = 'c';
  for (auto [drop, verify] :
       {std::pair{true, true}, std::pair{true, false}, std::pair{false, true}}) {
    SCOPED_TRACE(std::string(drop ? "drop" : "keep") + (verify ? ", verify" : ""));
    FileTransportOptions options;  // sync on
    options.drop_from_cache = drop;
    FileTransport t(pkgxfer::fs::FileSystem::local(), root_, options);
    auto send = begin(t);
    const std::string body = pattern(size, seed++);
    const std::string h = sha(body);
    auto up = send->openBody({h, body.size(), "", 0, verify}, {});
    ASSERT_TRUE(up.ok()) << up.status().toString();
    const fs::path temp = root_ / "FileLib" / h.substr(0, 4) / (*up)->tempName();
    for (std::size_t at = 0; at < size; at += step) {
      const std::size_t n = std::min(step, size - at);
      ASSERT_TRUE((*up)->write(body.data() + at, n, {}).ok());
      if (at + n == size) break;
      ASSERT_TRUE((*up)->checkpoint({}).ok());
      if (drop) {
        EXPECT_EQ(cachedPages(temp), 0u) << "after a checkpoint at " << at + n;
      } else {
        EXPECT_GE(cachedPages(temp), (at + n) / 4096);
      }
    }
    Status s = finish(*send, **up);
    ASSERT_TRUE(s.ok()) << s.toString();
    EXPECT_EQ(readFile(root_ / "FileLib" / h.substr(0, 4) / h), body);
  }

  // The bytes of a checkpoint are read back from the DP at the checkpoint, not taken from the
  // caller: a body that is not what the DP holds fails at seal and leaves nothing behind.
  const std::string body = pattern(2 * step, 'x');
  std::string claimed = body;
  claimed[10] ^= 1;
  auto up = open({sha(claimed), claimed.size(), "", 0, true});
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE((*up)->write(body.data(), step, {}).ok());
  ASSERT_TRUE((*up)->checkpoint({}).ok());
  ASSERT_TRUE((*up)->write(body.data() + step, step, {}).ok());
  EXPECT_EQ(finish(**up).code(), Status::Code::Corruption);
  EXPECT_TRUE(tempFiles(root_).empty());
}

TEST_F(FileTransportTest, TakesWritesOfAnyShape) {
  // Sizes around page edges, odd write sizes, a buffer that is not aligned, with and without
  // read-back: the installed body is the bytes written.
  AlignedBuffer buffer = makeAlignedBuffer((1 << 20) + 8192);
  char seed = 'A';
  for (std::size_t size : {std::size_t{1}, std::size_t{4095}, std::size_t{4096}, std::size_t{4097},
                           std::size_t{3 * 4096 + 5}, std::size_t{(1 << 20) + 4097}}) {
    for (std::size_t chunk :
         {std::size_t{0}, std::size_t{4096}, std::size_t{1000}, std::size_t{8192 + 1}}) {
      for (bool verify : {true, false}) {
        SCOPED_TRACE("size " + std::to_string(size) + ", chunk " + std::to_string(chunk) +
                     (verify ? ", verify" : ""));
        const std::string body = pattern(size, seed++);
        const std::string h = sha(body);
        auto up = open({h, body.size(), "", 0, verify});
        ASSERT_TRUE(up.ok()) << up.status().toString();
        // chunk 0: the whole body in one write; 8193: from an address one past a page.
        const std::size_t step = chunk == 0 ? size : chunk;
        char* from = buffer.get() + (chunk == 8192 + 1 ? 1 : 0);
        for (std::size_t at = 0; at < size; at += step) {
          const std::size_t n = std::min(step, size - at);
          std::memcpy(from, body.data() + at, n);
          Status w = (*up)->write(from, n, {});
          ASSERT_TRUE(w.ok()) << w.toString();
        }
        Status s = finish(**up);
        ASSERT_TRUE(s.ok()) << s.toString();
        EXPECT_EQ(readFile(root_ / "FileLib" / h.substr(0, 4) / h), body);
      }
    }
  }
  EXPECT_TRUE(tempFiles(root_).empty());
}

TEST_F(FileTransportTest, InstallFlushesTheDpVolumeAndNeedsTheRoot) {
  pkgxfer::fs::FaultInjectingFileSystem counting;
  FileTransport t(counting, root_, FileTransportOptions{});  // sync on
  auto send = begin(t);
  std::vector<std::unique_ptr<BodyUpload>> uploads;
  for (const std::string body : {"durable", "also durable", "late"}) {
    auto up = send->openBody({sha(body), body.size(), "", 0}, {});
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->write(body.data(), body.size(), {}).ok());
    ASSERT_TRUE((*up)->seal({}).ok());
    uploads.push_back(std::move(*up));
  }
  std::vector<BodyUpload*> batch{uploads[0].get(), uploads[1].get()};
  const auto flushes = counting.calls(pkgxfer::fs::Op::SyncVolume);
  EXPECT_TRUE(send->install(batch, {}).ok());
  EXPECT_EQ(counting.calls(pkgxfer::fs::Op::SyncVolume) - flushes, 2u);
  // One body alone: its own fsync and its folder's, not a flush of the whole volume.
  fs::remove_all(root_);
  BodyUpload* late = uploads[2].get();
  EXPECT_EQ(send->install(std::span<BodyUpload* const>(&late, 1), {}).code(),
            Status::Code::Unavailable);
}

TEST_F(FileTransportTest, ABodyInstalledAloneIsFsyncedWithItsFolder) {
  pkgxfer::fs::FaultInjectingFileSystem counting;
  FileTransport t(counting, root_, FileTransportOptions{});  // sync on
  auto send = begin(t);
  const std::string body = "installed on its own";
  auto up = send->openBody({sha(body), body.size(), "", 0}, {});
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE((*up)->write(body.data(), body.size(), {}).ok());
  const auto volume = counting.calls(pkgxfer::fs::Op::SyncVolume);
  const auto files = counting.calls(pkgxfer::fs::Op::Sync);
  const auto folders = counting.calls(pkgxfer::fs::Op::SyncDirectory);
  ASSERT_TRUE(finish(*send, **up).ok());
  EXPECT_EQ(counting.calls(pkgxfer::fs::Op::SyncVolume), volume);
  EXPECT_EQ(counting.calls(pkgxfer::fs::Op::Sync) - files, 1u);
  // Its prefix folder, and FileLib, which gained that folder just now.
  EXPECT_EQ(counting.calls(pkgxfer::fs::Op::SyncDirectory) - folders, 2u);
}

// openBody() does not stat the root for every body: a root that went away (an unmounted share)
// must still come out as Unavailable, not as a create error, and must not be remade.
TEST_F(FileTransportTest, RootGoneMidJobIsUnavailableAndNotRemade) {
  ASSERT_TRUE(transport_->probe({}).ok());
  upload("first body");
  fs::remove_all(root_);
  auto up = open({sha("second body"), 11, "", 0});
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), Status::Code::Unavailable) << up.status().toString();
  EXPECT_FALSE(fs::exists(root_));
}

// A FileLib deleted behind the transport's back is made again under a root that is still there.
TEST_F(FileTransportTest, MissingFileLibIsMadeAgain) {
  ASSERT_TRUE(transport_->probe({}).ok());
  fs::remove_all(root_ / "FileLib");
  const std::string data = "body after FileLib went";
  upload(data);
  const std::string h = sha(data);
  EXPECT_EQ(readFile(root_ / "FileLib" / h.substr(0, 4) / h), data);
}

// The site's database says the DP holds content, but the root is an empty folder (an unmounted
// share's mount point, a disk that came back empty): the check says so and writes nothing there.
TEST_F(FileTransportTest, ProbeExpectingContentRefusesARootTheSiteDidNotInitialise) {
  auto probe = transport_->probe({}, {.expect_initialised = true});
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.status().toString(), "Unavailable: library at " + root_.string() +
                                           " is not the one this site initialised (share not "
                                           "mounted?)");
  EXPECT_TRUE(fs::is_empty(root_)) << "not even a probe file or a library folder";

  // A probe that expects nothing initialises it; from then on the expectation holds, also for a
  // transport of another process (a restarted service).
  ASSERT_TRUE(transport_->probe({}).ok());
  EXPECT_TRUE(fs::exists(root_ / content::kIdentityFileName));
  FileTransport again(pkgxfer::fs::FileSystem::local(), root_, FileTransportOptions{});
  EXPECT_TRUE(again.probe({}, {.expect_initialised = true}).ok());
}

TEST_F(FileTransportTest, ALibraryFromBeforeIdentityFilesIsAdopted) {
  fs::create_directories(root_ / "DataLib");
  fs::create_directories(root_ / "FileLib");
  auto probe = transport_->probe({}, {.expect_initialised = true});
  ASSERT_TRUE(probe.ok()) << probe.status().toString();
  EXPECT_TRUE(fs::exists(root_ / content::kIdentityFileName));
}

TEST_F(FileTransportTest, InitialisingRecordsTheSiteCode) {
  FileTransportOptions options;
  options.site_code = "PS1";
  FileTransport t(pkgxfer::fs::FileSystem::local(), root_, options);
  ASSERT_TRUE(t.probe({}).ok());
  auto identity = content::ContentLibrary::readIdentity(pkgxfer::fs::FileSystem::local(), root_);
  ASSERT_TRUE(identity.ok());
  EXPECT_EQ(identity->site_code, "PS1");
}

// The root vanished and came back empty under a running service: whatever the caller expects,
// the transport knows it opened another library there.
TEST_F(FileTransportTest, ARootThatCameBackEmptyIsNotTheLibraryAnyMore) {
  ASSERT_TRUE(transport_->probe({}).ok());
  upload("first body");
  fs::remove_all(root_);
  fs::create_directories(root_);
  auto probe = transport_->probe({});
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.status().toString(), "Unavailable: library at " + root_.string() +
                                           " is not the one this site initialised (share not "
                                           "mounted?)");
  auto up = open({sha("second body"), 11, "", 0});
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), Status::Code::Unavailable) << up.status().toString();
  EXPECT_TRUE(fs::is_empty(root_)) << "no content on the wrong disk";
}

// DataLib and PkgLib deleted behind a running transport's back are made again at the commit.
TEST_F(FileTransportTest, MissingDataLibAndPkgLibAreMadeAgain) {
  ASSERT_TRUE(transport_->probe({}).ok());
  upload("alpha");
  fs::remove_all(root_ / "DataLib");
  fs::remove_all(root_ / "PkgLib");
  auto m = manifestOf({{"a.txt", "alpha"}});
  ASSERT_TRUE(begin(*transport_, "PS100001", m)->commit({}).ok());
  EXPECT_TRUE(fs::exists(root_ / "DataLib" / "PS100001.1.json"));
  EXPECT_TRUE(fs::exists(root_ / "PkgLib" / "PS100001.json"));
  EXPECT_EQ(*transport_->listVersions("PS100001", {}), std::vector<std::uint64_t>{1});
}

TEST_F(FileTransportTest, OwnerMustBeASimpleName) {
  for (const char* owner : {"../x", ""}) {
    EXPECT_EQ(transport_->beginSend(std::make_shared<const content::Manifest>(), owner, {})
                  .status()
                  .code(),
              Status::Code::InvalidArgument)
        << owner;
  }
}

// An smb:// DP is a file transport over the share (tests/transport/smb_transport_test.cpp, against
// a real smbd); a build without SMB says so (config refuses the address before that).
TEST(MakeTransportTest, SmbDpsNeedABuildWithSmb) {
  config::DistributionPointConfig dp;
  dp.name = "dp02";
  dp.address = "smb://fs02/ContentLib";
  dp.location = config::SmbAddress{"fs02", 0, "ContentLib", ""};
  auto t = makeTransport(dp);
#if defined(PKGXFER_WITH_SMB)
  ASSERT_TRUE(t.ok()) << t.status().toString();  // connects on first use
  EXPECT_EQ((*t)->describe(), "smb://fs02/ContentLib");
#else
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Status::Code::InvalidArgument);
  EXPECT_NE(t.status().message().find("SMB support was not built"), std::string::npos);
#endif
}

// A DP's library with a FIFO, a socket, a link to a file outside or a 1 TB sparse file where the
// manifest and a body of installed content should be: every call a distribution, a validation or a
// removal makes to the DP returns at once, with an error (or a validation report) that names the
// file, and nothing is written through the link.
class FileTransportHostileTest : public FileTransportTest,
                                 public ::testing::WithParamInterface<pkgxfer::testing::Hostile> {};

TEST_P(FileTransportHostileTest, EveryCallEndsAndNamesTheFile) {
  using pkgxfer::testing::describedAs;
  using pkgxfer::testing::Hostile;
  const Hostile kind = GetParam();
  auto m = manifestOf({{"a.txt", "alpha"}, {"b.txt", "beta"}});
  upload("alpha");
  upload("beta");
  ASSERT_TRUE(begin(*transport_, "PS100001", m)->commit({}).ok());
  send_.reset();

  const fs::path outside = dir_ / "outside";
  const fs::path manifest = root_ / "DataLib" / "PS100001.1.json";
  const std::string ha = sha("alpha");
  const fs::path body = root_ / "FileLib" / ha.substr(0, 4) / ha;
  auto expectNamed = [&](const Status& status, const fs::path& path) {
    EXPECT_FALSE(status.ok());
    EXPECT_NE(status.toString().find(path.string()), std::string::npos) << status.toString();
    EXPECT_NE(status.toString().find(describedAs(kind)), std::string::npos) << status.toString();
  };
  const auto start = std::chrono::steady_clock::now();

  // A body: the inventory (the preliminary check) and validation say which file is wrong.
  writeFile(outside, "alpha");
  pkgxfer::testing::plant(kind, body, outside);
  if (kind != Hostile::Sparse) {
    expectNamed(transport_->inventory({ha, sha("beta")}, {}).status(), body);
  }
  auto report = transport_->validate("PS100001", 1, {});
  ASSERT_TRUE(report.ok()) << report.status().toString();
  ASSERT_EQ(report->mismatched.size(), 1u) << report->describe();
  EXPECT_NE(report->describe().find(body.string()), std::string::npos) << report->describe();
  fs::remove(body);
  upload("alpha");

  // The manifest: reading it (the check, a pull DP's source) and committing it again.
  writeFile(outside, readFile(manifest));
  pkgxfer::testing::plant(kind, manifest, outside);
  expectNamed(transport_->readManifest("PS100001", 1, {}).status(), manifest);
  expectNamed(transport_->readManifestJson("PS100001", 1, {}).status(), manifest);
  expectNamed(begin(*transport_, "PS100001", m)->commit({}), manifest);
  expectNamed(transport_->validate("PS100001", 1, {}).status(), manifest);
  expectNamed(transport_->removeContent("PS100001", 1, {}), manifest);

  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(readFile(outside), content::toJson(m)) << "nothing was written through a link";
}

INSTANTIATE_TEST_SUITE_P(Planted, FileTransportHostileTest,
                         ::testing::Values(pkgxfer::testing::Hostile::Fifo,
                                           pkgxfer::testing::Hostile::Socket,
                                           pkgxfer::testing::Hostile::Symlink,
                                           pkgxfer::testing::Hostile::Sparse),
                         [](const auto& info) { return pkgxfer::testing::toString(info.param); });

}  // namespace
}  // namespace pkgxfer::transport
