#include "pkgxfer/content/content_library.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "content/content_test_util.h"
#include "fakes/hostile_files.h"
#include "fakes/test_util.h"
#include "pkgxfer/fs/fault_injecting_file_system.h"

namespace pkgxfer::content {
namespace {

namespace fs = std::filesystem;
using pkgxfer::fs::Fault;
using pkgxfer::fs::FaultInjectingFileSystem;
using pkgxfer::fs::Op;
using pkgxfer::testing::describedAs;
using pkgxfer::testing::Hostile;
using pkgxfer::testing::plant;
using pkgxfer::testing::readFile;
using pkgxfer::testing::TempDir;
using pkgxfer::testing::writeFile;
using testing::sha;

class ContentLibraryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() / "ContentLib";
    src_ = dir_.path() / "src";
    lib_ = openLib();
  }

  std::unique_ptr<ContentLibrary> openLib(ContentLibrary::Options options = {},
                                          pkgxfer::fs::FileSystem* on = nullptr) {
    auto lib = on != nullptr ? ContentLibrary::open(*on, root_, std::move(options))
                             : ContentLibrary::open(root_, std::move(options));
    EXPECT_TRUE(lib.ok()) << lib.status().toString();
    return lib.ok() ? std::move(*lib) : nullptr;
  }

  // A body written on its own (not resumable, hashed as written), as a server receiving it would.
  Result<std::unique_ptr<Upload>> newUpload(std::string_view sha256,
                                            std::optional<std::uint64_t> size = std::nullopt) {
    UploadSpec spec;
    spec.sha256 = std::string(sha256);
    spec.size = size;
    return lib_->openUpload(spec);
  }

  // Writes `files` under a fresh source folder `name` and builds its manifest.
  Manifest makeContent(const std::string& package_id, std::uint64_t version,
                       const std::map<std::string, std::string>& files,
                       const std::string& name = "src") {
    const fs::path source = dir_.path() / name;
    for (const auto& [path, content] : files) writeFile(source / path, content);
    fs::create_directories(source);
    auto m = buildManifest(source, nullptr, pool_);
    EXPECT_TRUE(m.ok()) << m.status().toString();
    Manifest out = m.ok() ? *m : Manifest{};
    out.package_id = package_id;
    out.version = version;
    out.name = "Package " + package_id;
    return out;
  }

  AddResult add(const Manifest& m, const std::string& name = "src") {
    auto r = lib_->addContentFromSource(m, dir_.path() / name);
    EXPECT_TRUE(r.ok()) << r.status().toString();
    return r.ok() ? *r : AddResult{};
  }

  // Every file under the library, relative to its root, sorted; the identity file aside.
  std::vector<std::string> allFiles() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      if (e.path() == root_ / kIdentityFileName) continue;
      if (!e.is_directory()) out.push_back(fs::relative(e.path(), root_).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::vector<std::string> tempFiles() const {
    std::vector<std::string> out;
    for (const std::string& f : allFiles()) {
      std::string name = fs::path(f).filename().string();
      if (name.front() == '.' && (name.ends_with(".partial") || name.ends_with(".tmp"))) {
        out.push_back(f);
      }
    }
    return out;
  }

  std::string bodyRel(const std::string& sha256) const {
    return "FileLib/" + sha256.substr(0, 4) + "/" + sha256;
  }

  TempDir dir_;
  fs::path root_;
  fs::path src_;
  boost::asio::thread_pool pool_{2};
  std::unique_ptr<ContentLibrary> lib_;
};

TEST_F(ContentLibraryTest, OpenCreatesTheLayout) {
  ASSERT_TRUE(lib_);
  EXPECT_TRUE(fs::is_directory(root_ / "FileLib"));
  EXPECT_TRUE(fs::is_directory(root_ / "DataLib"));
  EXPECT_TRUE(fs::is_directory(root_ / "PkgLib"));
  EXPECT_TRUE(allFiles().empty());
  auto contents = lib_->listContents();
  ASSERT_TRUE(contents.ok());
  EXPECT_TRUE(contents->empty());
}

TEST_F(ContentLibraryTest, AddStoresEachBodyOnceThenTheManifest) {
  fs::create_directories(src_ / "empty");
  Manifest m = makeContent("PS100001", 1,
                           {{"a.txt", "alpha"}, {"b/c.txt", "alpha"}, {"d #1 100%.bin", "delta"}});
  AddResult r = add(m);
  EXPECT_EQ(r.bodies_copied, 2u);
  EXPECT_EQ(r.bytes_copied, 10u);
  EXPECT_EQ(r.bodies_present, 0u);

  EXPECT_EQ(allFiles(),
            (std::vector<std::string>{
                "DataLib/PS100001.1.json", std::min(bodyRel(sha("alpha")), bodyRel(sha("delta"))),
                std::max(bodyRel(sha("alpha")), bodyRel(sha("delta"))), "PkgLib/PS100001.json"}));
  EXPECT_EQ(readFile(root_ / bodyRel(sha("alpha"))), "alpha");
  EXPECT_EQ(readFile(root_ / "DataLib/PS100001.1.json"), toJson(m));
  EXPECT_EQ(readFile(root_ / "PkgLib/PS100001.json"),
            R"({"package_id":"PS100001","versions":[1]})");
  EXPECT_TRUE(lib_->hasContent("PS100001", 1));
  EXPECT_FALSE(lib_->hasContent("PS100001", 2));
  auto back = lib_->readManifest("PS100001", 1);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(*back, m);
  EXPECT_EQ(back->dirs, (std::vector<std::string>{"b", "empty"}));
  EXPECT_TRUE(lib_->hasBody(sha("delta")));
  EXPECT_EQ(lib_->bodyPath(sha("delta")), root_ / bodyRel(sha("delta")));
}

TEST_F(ContentLibraryTest, AddingAgainCopiesNothing) {
  Manifest m = makeContent("PS100001", 1, {{"a", "A"}, {"b", "B"}});
  add(m);
  AddResult again = add(m);
  EXPECT_EQ(again.bodies_copied, 0u);
  EXPECT_EQ(again.bodies_present, 2u);
  EXPECT_EQ(again.bytes_present, 2u);
}

TEST_F(ContentLibraryTest, AddsMoreBodiesThanOneBatch) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 300; ++i)
    files["d" + std::to_string(i % 3) + "/f" + std::to_string(i)] = "body " + std::to_string(i);
  Manifest m = makeContent("PS100001", 1, files);
  AddResult r = add(m);
  EXPECT_EQ(r.bodies_copied, 300u);
  auto present = lib_->inventory(uniqueBodies(m));
  ASSERT_TRUE(present.ok());
  EXPECT_EQ(present->size(), 300u);
  EXPECT_TRUE(tempFiles().empty());
  auto report = lib_->validate("PS100001", 1, &pool_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->describe();
}

TEST_F(ContentLibraryTest, PackagesShareBodies) {
  add(makeContent("PS100001", 1, {{"shared.dll", "common"}, {"one.exe", "1"}}, "s1"), "s1");
  AddResult r =
      add(makeContent("PS100002", 1, {{"x/shared.dll", "common"}, {"two.exe", "2"}}, "s2"), "s2");
  EXPECT_EQ(r.bodies_copied, 1u);
  EXPECT_EQ(r.bodies_present, 1u);
  auto contents = lib_->listContents();
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(*contents, (std::vector<ContentRef>{{"PS100001", 1}, {"PS100002", 1}}));
}

TEST_F(ContentLibraryTest, PkgLibListsVersions) {
  add(makeContent("PS100001", 1, {{"a", "v1"}}, "v1"), "v1");
  add(makeContent("PS100001", 2, {{"a", "v2"}}, "v2"), "v2");
  EXPECT_EQ(readFile(root_ / "PkgLib/PS100001.json"),
            R"({"package_id":"PS100001","versions":[1,2]})");
  auto versions = lib_->listVersions("PS100001");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(lib_->listVersions("PS1FFFFF")->empty());
}

TEST_F(ContentLibraryTest, CommitNeedsEveryBody) {
  Manifest m = makeContent("PS100001", 1, {{"a", "A"}, {"b", "B"}});
  ASSERT_TRUE(lib_->importBody(src_ / "a", sha("A")).ok());
  Status s = lib_->commitManifest(m);
  EXPECT_EQ(s.code(), Status::Code::NotFound) << s.toString();
  EXPECT_NE(s.message().find(sha("B")), std::string::npos) << s.message();
  EXPECT_FALSE(lib_->hasContent("PS100001", 1));
  EXPECT_FALSE(fs::exists(root_ / "PkgLib/PS100001.json"));
  ASSERT_TRUE(lib_->importBody(src_ / "b", sha("B"), 1).ok());
  EXPECT_TRUE(lib_->commitManifest(m).ok());
  EXPECT_TRUE(lib_->commitManifest(m).ok()) << "committing the same manifest again is fine";
}

TEST_F(ContentLibraryTest, DifferentManifestUnderSameVersionIsRefused) {
  Manifest m = makeContent("PS100001", 1, {{"a", "A"}});
  add(m);
  Manifest other = m;
  other.name = "renamed";
  EXPECT_EQ(lib_->commitManifest(other).code(), Status::Code::AlreadyExists);
  EXPECT_EQ(lib_->readManifest("PS100001", 1)->name, m.name);
}

TEST_F(ContentLibraryTest, SourceChangedSinceManifestIsCorruption) {
  Manifest m = makeContent("PS100001", 1, {{"ok.txt", "fine"}, {"z.txt", "before"}});
  writeFile(src_ / "z.txt", "after!");  // same size, different bytes
  auto r = lib_->addContentFromSource(m, src_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::Corruption);
  EXPECT_NE(r.error().message().find("z.txt"), std::string::npos) << r.error().message();
  EXPECT_FALSE(lib_->hasBody(sha("before")));
  EXPECT_FALSE(lib_->hasBody(sha("after!")));
  EXPECT_FALSE(lib_->hasContent("PS100001", 1));
  EXPECT_TRUE(tempFiles().empty());

  writeFile(src_ / "z.txt", "longer than before");
  r = lib_->addContentFromSource(m, src_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::Corruption);
  EXPECT_NE(r.error().message().find("size"), std::string::npos) << r.error().message();
}

TEST_F(ContentLibraryTest, MissingSourceFileIsNotFound) {
  Manifest m = makeContent("PS100001", 1, {{"gone.txt", "x"}});
  fs::remove(src_ / "gone.txt");
  auto r = lib_->addContentFromSource(m, src_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::NotFound);
  EXPECT_NE(r.error().message().find("gone.txt"), std::string::npos);
}

// ---- body writers ------------------------------------------------------------------------------

TEST_F(ContentLibraryTest, BodyWriterAcceptsChunksInOrder) {
  const std::string body = "0123456789abcdef";
  auto w = newUpload(sha(body), body.size());
  ASSERT_TRUE(w.ok());
  Upload& writer = **w;
  ASSERT_TRUE(writer.write(0, body.substr(0, 5)).ok());
  EXPECT_EQ(writer.write(3, "xx").code(), Status::Code::InvalidArgument);
  EXPECT_EQ(writer.write(6, "xx").code(), Status::Code::InvalidArgument);
  ASSERT_TRUE(writer.write(5, body.substr(5)).ok());
  EXPECT_EQ(writer.offset(), body.size());
  EXPECT_EQ(writer.write(body.size(), "!").code(), Status::Code::InvalidArgument)
      << "more than the expected size";
  EXPECT_FALSE(lib_->hasBody(sha(body))) << "not visible before commit";
  EXPECT_EQ(tempFiles().size(), 1u);
  ASSERT_TRUE(writer.commit().ok());
  EXPECT_TRUE(lib_->hasBody(sha(body)));
  EXPECT_EQ(readFile(lib_->bodyPath(sha(body))), body);
  EXPECT_TRUE(tempFiles().empty());
}

TEST_F(ContentLibraryTest, BodyWriterDiscardsAMismatch) {
  auto w = newUpload(sha("expected"));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(0, "tampered").ok());
  Status s = (*w)->commit();
  EXPECT_EQ(s.code(), Status::Code::Corruption) << s.toString();
  EXPECT_NE(s.message().find(sha("tampered")), std::string::npos);
  EXPECT_FALSE(lib_->hasBody(sha("expected")));
  EXPECT_TRUE(tempFiles().empty());
  EXPECT_FALSE((*w)->commit().ok());
}

TEST_F(ContentLibraryTest, BodyWriterDiscardsShortBody) {
  auto w = newUpload(sha("full body"), 9);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(0, "full").ok());
  EXPECT_EQ((*w)->commit().code(), Status::Code::Corruption);
  EXPECT_TRUE(tempFiles().empty());
}

TEST_F(ContentLibraryTest, AbandonedWriterLeavesNothing) {
  {
    auto w = newUpload(sha("x"));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(0, "x").ok());
  }
  auto w = newUpload(sha("y"));
  ASSERT_TRUE((*w)->write(0, "y").ok());
  (*w)->abort();
  EXPECT_FALSE((*w)->commit().ok());
  EXPECT_TRUE(tempFiles().empty());
  EXPECT_FALSE(lib_->hasBody(sha("x")));
}

TEST_F(ContentLibraryTest, RejectsMalformedHashes) {
  EXPECT_EQ(newUpload("../../etc/passwd").status().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(newUpload(std::string(64, 'A')).status().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(lib_->openBody("abc").status().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(lib_->inventory({"nope"}).status().code(), Status::Code::InvalidArgument);
  EXPECT_FALSE(lib_->hasBody("nope"));
  EXPECT_EQ(lib_->removeContent("../../x", 1).code(), Status::Code::InvalidArgument);
  EXPECT_EQ(lib_->readManifest("ps100001", 1).status().code(), Status::Code::InvalidArgument);
}

TEST_F(ContentLibraryTest, WriteBodyFromAReader) {
  std::string body(3 << 20, 'q');  // several copy buffers
  body += "tail";
  std::size_t pos = 0;
  Status s = lib_->writeBody(sha(body), body.size(), [&](char* buf, std::size_t cap) {
    std::size_t n = std::min(cap, body.size() - pos);
    std::memcpy(buf, body.data() + pos, n);
    pos += n;
    return Result<std::size_t>(n);
  });
  ASSERT_TRUE(s.ok()) << s.toString();
  auto reader = lib_->openBody(sha(body));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->size(), body.size());
  char buf[8] = {};
  auto n = reader->readAt(body.size() - 4, buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "tail");
  EXPECT_EQ(*reader->readAt(body.size() + 10, buf, sizeof buf), 0u);
  EXPECT_EQ(lib_->openBody(sha("absent")).status().code(), Status::Code::NotFound);
}

TEST_F(ContentLibraryTest, ReaderErrorIsReturned) {
  Status s = lib_->writeBody(sha("x"), std::nullopt, [](char*, std::size_t) {
    return Result<std::size_t>(Status::Unavailable("peer went away"));
  });
  EXPECT_EQ(s.code(), Status::Code::Unavailable);
  EXPECT_TRUE(tempFiles().empty());
}

TEST_F(ContentLibraryTest, ConcurrentWritersOfSameAndDifferentBodies) {
  std::vector<std::string> bodies;
  for (int i = 0; i < 4; ++i)
    bodies.push_back(std::string(100'000 + i, static_cast<char>('a' + i)));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        const std::string& body = bodies[static_cast<std::size_t>((t + round) % 4)];
        auto w = newUpload(sha(body), body.size());
        if (!w.ok()) {
          ++failures;
          continue;
        }
        for (std::size_t off = 0; off < body.size(); off += 7000) {
          if (!(*w)->write(off, std::string_view(body).substr(off, 7000)).ok()) ++failures;
        }
        if (!(*w)->commit().ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (const auto& body : bodies) EXPECT_EQ(readFile(lib_->bodyPath(sha(body))), body);
  EXPECT_TRUE(tempFiles().empty());
}

// ---- inventory, diff, validate -----------------------------------------------------------------

TEST_F(ContentLibraryTest, InventoryAndDiff) {
  Manifest m = makeContent("PS100001", 1, {{"a", "A"}, {"b", "B"}, {"c", "C"}, {"d", "A"}});
  ASSERT_TRUE(lib_->importBody(src_ / "b", sha("B")).ok());
  auto present = lib_->inventory({sha("A"), sha("B"), sha("C"), sha("B")});
  ASSERT_TRUE(present.ok());
  EXPECT_EQ(*present, (ShaSet{sha("B")}));
  ContentDiff diff = diffContent(m, *present);
  ASSERT_EQ(diff.missing.size(), 2u);
  EXPECT_EQ(diff.missing[0].path, "a");
  EXPECT_EQ(diff.missing[1].path, "c");
  EXPECT_EQ(diff.missing_bytes, 2u);
  EXPECT_EQ(diff.present_bodies, 1u);
  EXPECT_TRUE(lib_->inventory({})->empty());
}

TEST_F(ContentLibraryTest, InventoryWithManyBodiesUnderOnePrefix) {
  // Bodies written directly under one prefix folder: inventory lists it once and finds them all.
  std::vector<std::string> shas;
  const std::string prefix = sha("anything").substr(0, 4);
  fs::create_directories(root_ / "FileLib" / prefix);
  for (int i = 0; i < 50; ++i) {
    std::string fake = prefix + std::to_string(1000 + i) + std::string(56, '0');
    ASSERT_EQ(fake.size(), 64u);
    shas.push_back(fake);
    if (i % 2 == 0) writeFile(root_ / "FileLib" / prefix / fake, "x");
  }
  auto present = lib_->inventory(shas);
  ASSERT_TRUE(present.ok());
  EXPECT_EQ(present->size(), 25u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(present->count(shas[i]), i % 2 == 0 ? 1u : 0u);
}

TEST_F(ContentLibraryTest, InventoryOfManyBodiesAcrossPrefixes) {
  // Asked for many bodies at once (FileLib is listed first): every third one is present, in
  // folders holding one, two or three of them.
  std::vector<std::string> shas;
  for (int i = 0; i < 300; ++i) {
    char prefix[5];
    std::snprintf(prefix, sizeof prefix, "%04x", i % 150);
    shas.push_back(std::string(prefix) + std::to_string(1000 + i) + std::string(56, 'e'));
    if (i % 3 == 0) {
      fs::create_directories(root_ / "FileLib" / prefix);
      writeFile(root_ / "FileLib" / prefix / shas.back(), "x");
    }
  }
  auto present = lib_->inventory(shas);
  ASSERT_TRUE(present.ok()) << present.status().toString();
  EXPECT_EQ(present->size(), 100u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(present->count(shas[i]), i % 3 == 0 ? 1u : 0u) << i;
}

TEST_F(ContentLibraryTest, InventoryRefusesWhatIsNotAFileUnderABodysName) {
  // A folder, a link, a FIFO or a socket under a body's name is not the body, and not something
  // to replace behind the administrator's back either: the inventory fails naming it, alone in
  // its prefix folder (looked up one by one) and among several asked for there (the folder is
  // listed). Without the check a link to a file outside counted as present.
  writeFile(dir_ / "outside", "x");
  int n = 0;
  for (Hostile kind : {Hostile::Fifo, Hostile::Socket, Hostile::Symlink}) {
    for (int wanted : {1, 3}) {
      SCOPED_TRACE(std::string(pkgxfer::testing::toString(kind)) + " " + std::to_string(wanted));
      const std::string prefix = "a" + std::to_string(100 + n++);
      std::vector<std::string> shas;
      for (int i = 0; i < wanted; ++i) {
        shas.push_back(prefix + std::to_string(1000 + i) + std::string(56, '0'));
      }
      const fs::path planted = root_ / "FileLib" / prefix / shas[0];
      plant(kind, planted, dir_ / "outside");
      if (wanted > 1) writeFile(root_ / "FileLib" / prefix / shas[1], "x");
      auto present = lib_->inventory(shas);
      ASSERT_FALSE(present.ok());
      EXPECT_EQ(present.status().code(), Status::Code::Corruption);
      EXPECT_EQ(present.status().message(),
                planted.string() + ": " + describedAs(kind) +
                    " where the body should be (not a regular file; remove it)");
      fs::remove(planted);
    }
  }
  fs::create_directories(root_ / "FileLib" / "bbbb" / ("bbbb" + std::string(60, '0')));
  auto folder = lib_->inventory({"bbbb" + std::string(60, '0')});
  EXPECT_NE(folder.status().message().find("a folder where the body should be"), std::string::npos)
      << folder.status().toString();
  EXPECT_EQ(readFile(dir_ / "outside"), "x");
}

TEST_F(ContentLibraryTest, ValidateFindsMissingAndMismatchedBodies) {
  Manifest m = makeContent("PS100001", 1,
                           {{"a.txt", "AAA"}, {"copy/a.txt", "AAA"}, {"b.txt", "BBB"}, {"c", "C"}});
  add(m);
  auto report = lib_->validate("PS100001", 1);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->describe();
  EXPECT_EQ(report->bodies_checked, 3u);
  EXPECT_EQ(report->bytes_checked, 7u);

  writeFile(lib_->bodyPath(sha("AAA")), "AAB");  // bit rot
  fs::remove(lib_->bodyPath(sha("BBB")));        // someone deleted it
  report = lib_->validate("PS100001", 1, &pool_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
  ASSERT_EQ(report->missing.size(), 1u);
  EXPECT_EQ(report->missing[0].path, "b.txt");
  EXPECT_EQ(report->missing[0].sha256, sha("BBB"));
  ASSERT_EQ(report->mismatched.size(), 2u);
  EXPECT_EQ(report->mismatched[0].path, "a.txt");
  EXPECT_EQ(report->mismatched[1].path, "copy/a.txt");
  EXPECT_EQ(report->mismatched[0].reason, "content hashes to " + sha("AAB"));
  EXPECT_EQ(report->describe(),
            "1 missing, 2 mismatched: b.txt (missing), a.txt (content hashes to " + sha("AAB") +
                "), copy/a.txt (content hashes to " + sha("AAB") + ")");
  EXPECT_EQ(lib_->validate("PS100001", 9).status().code(), Status::Code::NotFound);
}

TEST_F(ContentLibraryTest, DamagedManifestIsCorruption) {
  add(makeContent("PS100001", 1, {{"a", "A"}}));
  writeFile(root_ / "DataLib/PS100001.1.json", R"({"package_id":"PS100001")");
  EXPECT_EQ(lib_->readManifest("PS100001", 1).status().code(), Status::Code::Corruption);
  EXPECT_EQ(lib_->validate("PS100001", 1).status().code(), Status::Code::Corruption);
}

// ---- removal -----------------------------------------------------------------------------------

TEST_F(ContentLibraryTest, RemovalKeepsBodiesOtherContentUses) {
  add(makeContent("PS100001", 1, {{"shared", "S"}, {"only1", "1"}}, "s1"), "s1");
  add(makeContent("PS100002", 1, {{"shared", "S"}, {"only2", "2"}}, "s2"), "s2");

  ASSERT_TRUE(lib_->removeContent("PS100001", 1).ok());
  EXPECT_FALSE(lib_->hasContent("PS100001", 1));
  EXPECT_FALSE(fs::exists(root_ / "PkgLib/PS100001.json"));
  EXPECT_FALSE(lib_->hasBody(sha("1")));
  EXPECT_TRUE(lib_->hasBody(sha("S")));
  EXPECT_TRUE(lib_->hasBody(sha("2")));
  EXPECT_EQ(lib_->removeContent("PS100001", 1).code(), Status::Code::NotFound);

  ASSERT_TRUE(lib_->removeContent("PS100002", 1).ok());
  std::vector<std::string> left;
  for (const auto& f : allFiles()) left.push_back(f);
  EXPECT_TRUE(left.empty()) << left.front();
}

TEST_F(ContentLibraryTest, RemovingOneVersionKeepsTheOther) {
  add(makeContent("PS100001", 1, {{"a", "v1"}}, "v1"), "v1");
  add(makeContent("PS100001", 2, {{"a", "v2"}}, "v2"), "v2");
  ASSERT_TRUE(lib_->removeContent("PS100001", 1).ok());
  EXPECT_EQ(readFile(root_ / "PkgLib/PS100001.json"),
            R"({"package_id":"PS100001","versions":[2]})");
  EXPECT_FALSE(lib_->hasBody(sha("v1")));
  EXPECT_TRUE(lib_->hasBody(sha("v2")));
}

TEST_F(ContentLibraryTest, RemovalKeepsBodiesWhenAnotherManifestIsDamaged) {
  add(makeContent("PS100001", 1, {{"a", "A"}}, "s1"), "s1");
  add(makeContent("PS100002", 1, {{"b", "B"}}, "s2"), "s2");
  writeFile(root_ / "DataLib/PS100002.1.json", "garbage");
  Status s = lib_->removeContent("PS100001", 1);
  EXPECT_EQ(s.code(), Status::Code::Corruption) << s.toString();
  EXPECT_NE(s.message().find("PS100002.1"), std::string::npos) << s.message();
  EXPECT_FALSE(lib_->hasContent("PS100001", 1));
  EXPECT_TRUE(lib_->hasBody(sha("A")));
}

TEST_F(ContentLibraryTest, RemoveUnreferencedBodies) {
  add(makeContent("PS100001", 1, {{"a", "A"}}));
  ASSERT_TRUE(lib_->writeBody(sha("orphan"), std::nullopt,
                              [done = false](char* b, std::size_t) mutable {
                                if (done) return Result<std::size_t>(0);
                                done = true;
                                std::memcpy(b, "orphan", 6);
                                return Result<std::size_t>(6);
                              })
                  .ok());
  auto removed = lib_->removeUnreferencedBodies();
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1u);
  EXPECT_FALSE(lib_->hasBody(sha("orphan")));
  EXPECT_TRUE(lib_->hasBody(sha("A")));
}

TEST_F(ContentLibraryTest, RemovalSparesBodiesPinnedByAWriter) {
  add(makeContent("PS100001", 1, {{"a", "A"}}));
  auto w = newUpload(sha("A"), 1);  // e.g. a redistribution in flight
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(lib_->removeContent("PS100001", 1).ok());
  EXPECT_TRUE(lib_->hasBody(sha("A")));
  ASSERT_TRUE((*w)->write(0, "A").ok());
  ASSERT_TRUE((*w)->commit().ok());
}

TEST_F(ContentLibraryTest, PinnedBodiesSurviveRemovalsUntilReleased) {
  // B is on its way (its bodies pinned from the start): one body shared with A was already there,
  // one B uploaded itself, installed but not yet named by any manifest.
  add(makeContent("PS100001", 1, {{"shared", "S"}, {"only-a", "A"}}));
  BodyPins pins = lib_->pin({sha("S"), sha("B")});
  ASSERT_TRUE(lib_->writeBody(sha("B"), 1,
                              [done = false](char* b, std::size_t) mutable {
                                if (done) return Result<std::size_t>(0);
                                done = true;
                                b[0] = 'B';
                                return Result<std::size_t>(1);
                              })
                  .ok());
  ASSERT_TRUE(lib_->removeContent("PS100001", 1).ok());
  EXPECT_EQ(*lib_->removeUnreferencedBodies(), 0u);
  EXPECT_TRUE(lib_->hasBody(sha("S")));
  EXPECT_TRUE(lib_->hasBody(sha("B")));
  EXPECT_FALSE(lib_->hasBody(sha("A")));
  BodyPins moved = std::move(pins);  // movable; the pins go with it
  EXPECT_EQ(*lib_->removeUnreferencedBodies(), 0u);
  moved = BodyPins();  // released
  EXPECT_EQ(*lib_->removeUnreferencedBodies(), 2u);
}

// ---- atomicity and crash recovery --------------------------------------------------------------

TEST_F(ContentLibraryTest, FailureBeforeBodyRenameLeavesNothingUnderAFinalName) {
  Manifest m = makeContent("PS100001", 1, {{"a", "first"}, {"b", "second"}});
  FaultInjectingFileSystem faulty;
  std::vector<fs::path> temps_seen;
  faulty.inject(Fault::stopping(
      Op::Rename, "FileLib/",
      [&](Op, const fs::path& temp) {
        temps_seen.push_back(temp);
        EXPECT_TRUE(fs::exists(temp));
      },
      Fault::When::Before, 0, /*count=*/-1));
  faulty.inject(Fault::failing(Op::Rename, sha("second"), EIO));  // the disk went away
  lib_ = openLib({}, &faulty);
  auto r = lib_->addContentFromSource(m, src_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::IoError);
  EXPECT_NE(r.error().message().find("Input/output error (EIO)"), std::string::npos)
      << r.error().message();
  ASSERT_EQ(temps_seen.size(), 2u);
  EXPECT_EQ(temps_seen[1].parent_path(), lib_->bodyPath(sha("second")).parent_path())
      << "temporary files live in the body's own folder";
  EXPECT_NE(r.error().message().find(temps_seen[1].string()), std::string::npos)
      << "the error names the file: " << r.error().message();
  EXPECT_TRUE(lib_->hasBody(sha("first")));
  EXPECT_FALSE(lib_->hasBody(sha("second")));
  EXPECT_FALSE(lib_->hasContent("PS100001", 1));
  EXPECT_TRUE(fs::is_empty(root_ / "DataLib"));
  EXPECT_TRUE(fs::is_empty(root_ / "PkgLib"));
  EXPECT_TRUE(tempFiles().empty());
}

TEST_F(ContentLibraryTest, FailureBeforeManifestWriteLeavesContentAbsent) {
  Manifest m = makeContent("PS100001", 1, {{"a", "A"}, {"b", "B"}});
  FaultInjectingFileSystem faulty;
  bool all_bodies_there = false;
  Fault power_cut = Fault::failing(Op::Create, "DataLib/", EIO);
  power_cut.hook = [&](Op, const fs::path&) {
    all_bodies_there = lib_->hasBody(sha("A")) && lib_->hasBody(sha("B"));
  };
  faulty.inject(power_cut);
  lib_ = openLib({}, &faulty);
  auto r = lib_->addContentFromSource(m, src_);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(all_bodies_there) << "the manifest is written only after every body";
  EXPECT_NE(r.error().message().find("DataLib/.PS100001.1.json."), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(lib_->hasContent("PS100001", 1));
  EXPECT_TRUE(lib_->listContents()->empty());
  EXPECT_TRUE(fs::is_empty(root_ / "DataLib"));
  EXPECT_TRUE(fs::is_empty(root_ / "PkgLib"));
  EXPECT_TRUE(tempFiles().empty());

  lib_ = openLib();
  AddResult again = add(m);
  EXPECT_EQ(again.bodies_copied, 0u);
  EXPECT_TRUE(lib_->hasContent("PS100001", 1));
}

// A commit that fails once the manifest has its name (the folder cannot be flushed, PkgLib cannot
// be written) takes the manifest back: the content is not half committed, and a retry commits it.
TEST_F(ContentLibraryTest, ACommitThatFailsAfterTheManifestRenameTakesItBack) {
  Manifest m = makeContent("PS100001", 1, {{"a", "A"}});
  for (auto [op, piece] : {std::pair{Op::SyncDirectory, "/DataLib"},
                           std::pair{Op::Create, "/PkgLib/"}, std::pair{Op::Rename, "/PkgLib/"}}) {
    SCOPED_TRACE(std::string(toString(op)) + " " + piece);
    FaultInjectingFileSystem faulty;
    faulty.inject(Fault::failing(op, piece, EIO));
    lib_ = openLib({}, &faulty);
    auto r = lib_->addContentFromSource(m, src_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("Input/output error (EIO)"), std::string::npos);
    EXPECT_FALSE(lib_->hasContent("PS100001", 1));
    EXPECT_TRUE(fs::is_empty(root_ / "DataLib"));
    EXPECT_TRUE(fs::is_empty(root_ / "PkgLib"));
    EXPECT_TRUE(tempFiles().empty());
    ASSERT_TRUE(lib_->commitManifest(m).ok());  // the fault is gone: the retry
    EXPECT_EQ(readFile(root_ / "PkgLib/PS100001.json"),
              R"({"package_id":"PS100001","versions":[1]})");
    lib_.reset();
    fs::remove(root_ / "DataLib/PS100001.1.json");
    fs::remove(root_ / "PkgLib/PS100001.json");
  }
}

// A real crash: a child process dies between writing a body and renaming it.
TEST_F(ContentLibraryTest, CrashLeavesOnlyTemporaryFilesAndReopenCleansThem) {
  Manifest m = makeContent("PS100001", 1, {{"a", "body of a"}, {"b", "body of b"}});
  lib_.reset();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FaultInjectingFileSystem faulty;
    // Power cut after one body is in place.
    faulty.inject(Fault::stopping(
        Op::Rename, "FileLib/", [](Op, const fs::path&) { ::_exit(3); }, Fault::When::Before,
        /*after=*/1));
    auto lib = ContentLibrary::open(faulty, root_, ContentLibrary::Options{});
    if (!lib.ok()) ::_exit(1);
    (void)(*lib)->addContentFromSource(m, src_);
    ::_exit(2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 3);

  // One body made it, one is a temporary file; no manifest.
  EXPECT_EQ(tempFiles().size(), 1u);
  int bodies = 0;
  for (const auto& f : allFiles()) {
    std::string name = fs::path(f).filename().string();
    if (isSha256Hex(name)) {
      ++bodies;
      std::string content = readFile(root_ / f);
      EXPECT_EQ(sha(content), name) << "a final name always holds a complete body";
    }
  }
  EXPECT_EQ(bodies, 1);
  EXPECT_TRUE(fs::is_empty(root_ / "DataLib"));
  writeFile(root_ / "DataLib/.PS100001.1.json.0123456789abcdef.partial", "{\"partial");
  writeFile(root_ / "DataLib/.PS100001.1.json.0123456789abcdef.tmp", "{\"earlier version");

  lib_ = openLib();
  EXPECT_TRUE(tempFiles().empty());
  EXPECT_FALSE(lib_->hasContent("PS100001", 1));
  AddResult r = add(m);
  EXPECT_EQ(r.bodies_copied, 1u);
  EXPECT_EQ(r.bodies_present, 1u);
}

TEST_F(ContentLibraryTest, OpeningWithoutTheSweepKeepsStaleTemporaryFiles) {
  lib_.reset();
  writeFile(root_ / "DataLib/.PS100001.1.json.0123456789abcdef.partial", "{\"partial");
  ContentLibrary::Options options;
  options.sweep_on_open = false;
  auto quick = ContentLibrary::open(root_, options);
  ASSERT_TRUE(quick.ok()) << quick.error().toString();
  EXPECT_EQ(tempFiles().size(), 1u);
  quick->reset();
  lib_ = openLib();  // the default sweeps
  EXPECT_TRUE(tempFiles().empty());
}

TEST_F(ContentLibraryTest, OpeningCanSweepTheMetadataFoldersOnly) {
  // A DP's library: FileLib is not listed (bodies come as transport uploads), DataLib is swept.
  lib_.reset();
  const std::string h = sha("left by a crash");
  fs::create_directories(root_ / "FileLib" / h.substr(0, 4));
  writeFile(root_ / "FileLib" / h.substr(0, 4) / ("." + h + ".0123456789abcdef.partial"), "left");
  writeFile(root_ / "DataLib/.PS100001.1.json.0123456789abcdef.partial", "{\"partial");
  ContentLibrary::Options options;
  options.sweep_file_lib_on_open = false;
  auto dp = ContentLibrary::open(root_, options);
  ASSERT_TRUE(dp.ok()) << dp.error().toString();
  auto left = tempFiles();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].rfind("FileLib/", 0), 0u) << left[0];
  dp->reset();
  lib_ = openLib();  // the default sweeps FileLib as well
  EXPECT_TRUE(tempFiles().empty());
}

TEST_F(ContentLibraryTest, CleanupSparesTemporaryFilesOfLiveWriters) {
  auto w = newUpload(sha("in flight"));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->write(0, "in ").ok());
  auto second = openLib();  // another instance (or process) opening the same library
  ASSERT_TRUE(second);
  auto cleaned = lib_->cleanTemporaryFiles();
  ASSERT_TRUE(cleaned.ok());
  EXPECT_EQ(*cleaned, 0u);
  EXPECT_EQ(tempFiles().size(), 1u);
  ASSERT_TRUE((*w)->write(3, "flight").ok());
  ASSERT_TRUE((*w)->commit().ok());
  EXPECT_TRUE(second->hasBody(sha("in flight")));
}

TEST_F(ContentLibraryTest, ReadManifestSeesAManifestReplacedOrRewritten) {
  // Parsed manifests are reused across reads (and libraries) only while the file is the same.
  Manifest m = makeContent("PS100001", 1, {{"a", "A"}});
  add(m);
  const fs::path path = root_ / "DataLib" / "PS100001.1.json";
  auto first = lib_->readManifest("PS100001", 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, m);
  auto other = openLib();  // another library on the same folder gets the same answer
  EXPECT_EQ(*other->readManifest("PS100001", 1), m);

  Manifest renamed = m;
  renamed.name = "replaced by a rename";
  writeFile(root_ / "DataLib" / "new.json", toJson(renamed));
  fs::rename(root_ / "DataLib" / "new.json", path);
  EXPECT_EQ(*lib_->readManifest("PS100001", 1), renamed);

  Manifest rewritten = m;
  rewritten.name = "rewritten in place";  // same inode, another size and mtime
  writeFile(path, toJson(rewritten));
  EXPECT_EQ(*lib_->readManifest("PS100001", 1), rewritten);
  EXPECT_EQ(*other->readManifest("PS100001", 1), rewritten);

  fs::remove(path);
  EXPECT_EQ(lib_->readManifest("PS100001", 1).status().code(), Status::Code::NotFound);
}

// ---- identity and folders deleted behind the library's back ---------------------------------

TEST_F(ContentLibraryTest, OpenWritesAnIdentityOnceAndKeepsIt) {
  lib_.reset();
  fs::remove_all(root_);
  ContentLibrary::Options options;
  options.site_code = "PS1";
  lib_ = openLib(options);
  const LibraryIdentity first = lib_->identity();
  EXPECT_EQ(first.site_code, "PS1");
  EXPECT_EQ(first.library_id.size(), 32u);
  EXPECT_EQ(*ContentLibrary::readIdentity(pkgxfer::fs::FileSystem::local(), root_), first);
  EXPECT_EQ(readFile(root_ / kIdentityFileName),
            R"({"site_code":"PS1","library_id":")" + first.library_id + "\"}");
  EXPECT_TRUE(tempFiles().empty());
  EXPECT_TRUE(lib_->checkIdentity().ok());

  lib_ = openLib();  // another opener (e.g. the CLI) keeps it
  EXPECT_EQ(lib_->identity(), first);
}

TEST_F(ContentLibraryTest, DataLibAndPkgLibDeletedUnderAnOpenLibraryAreMadeAgain) {
  add(makeContent("PS100001", 1, {{"a", "A"}}));
  fs::remove_all(root_ / "DataLib");
  fs::remove_all(root_ / "PkgLib");
  EXPECT_TRUE(lib_->listContents()->empty()) << "nothing is present without DataLib";
  Manifest m = makeContent("PS100002", 1, {{"b", "B"}}, "src2");
  AddResult r = add(m, "src2");
  EXPECT_EQ(r.bodies_copied, 1u);
  EXPECT_TRUE(lib_->hasContent("PS100002", 1));
  EXPECT_EQ(readFile(root_ / "PkgLib/PS100002.json"),
            R"({"package_id":"PS100002","versions":[1]})");
  fs::remove_all(root_ / "FileLib");
  EXPECT_TRUE(lib_->writeBody(sha("C"), 1,
                              [done = false](char* b, std::size_t) mutable -> Result<std::size_t> {
                                if (done) return std::size_t{0};
                                done = true;
                                b[0] = 'C';
                                return std::size_t{1};
                              })
                  .ok());
  EXPECT_TRUE(lib_->hasBody(sha("C")));
}

// An unmounted share shows its empty mount point where the library was: nothing may be made
// there, not even the library's folders.
TEST_F(ContentLibraryTest, ARootThatIsNoLongerTheLibraryReceivesNothing) {
  add(makeContent("PS100001", 1, {{"a", "A"}}));
  fs::remove_all(root_);
  fs::create_directories(root_);
  Manifest m = makeContent("PS100002", 1, {{"b", "B"}}, "src2");
  auto r = lib_->addContentFromSource(m, dir_.path() / "src2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().toString(), "Unavailable: add PS100002.1: library at " + root_.string() +
                                      " is not the one this site initialised (share not "
                                      "mounted?)");
  EXPECT_EQ(lib_->commitManifest(makeContent("PS100003", 1, {}, "src3")).code(),
            Status::Code::Unavailable);
  EXPECT_TRUE(fs::is_empty(root_)) << "nothing made under a root that is not the library";

  // Another library's identity in its place is not this library either.
  writeFile(root_ / kIdentityFileName, R"({"site_code":"PS1","library_id":"0123"})");
  EXPECT_EQ(lib_->checkIdentity().code(), Status::Code::Unavailable);
  writeFile(root_ / kIdentityFileName, "{damaged");
  EXPECT_EQ(lib_->checkIdentity().code(), Status::Code::Corruption);
}

TEST_F(ContentLibraryTest, ASweepReportsALockItCouldNotTake) {
  FaultInjectingFileSystem faulty;
  lib_ = openLib({}, &faulty);
  const std::string stale = ".PS100001.1.json.0123456789abcdef.partial";
  writeFile(root_ / "DataLib" / stale, "{\"partial");
  writeFile(root_ / "PkgLib/.PS100001.json.0123456789abcdef.partial", "{\"partial");
  faulty.inject(Fault::failing(Op::Lock, "DataLib/", ENOLCK));
  auto swept = lib_->cleanTemporaryFiles();
  ASSERT_FALSE(swept.ok());
  EXPECT_EQ(swept.status().message(), "delete stale temporary file: lock " +
                                          (root_ / "DataLib" / stale).string() +
                                          ": No locks available (ENOLCK)");
  EXPECT_TRUE(fs::exists(root_ / "DataLib" / stale));
  EXPECT_FALSE(fs::exists(root_ / "PkgLib/.PS100001.json.0123456789abcdef.partial"))
      << "the sweep goes on past the file it could not check";
}

// A network file system may report a lost write only when the file is closed.
TEST_F(ContentLibraryTest, TheCloseOfAnInstalledBodyIsChecked) {
  FaultInjectingFileSystem faulty;
  lib_ = openLib({}, &faulty);
  faulty.inject(Fault::failing(Op::Close, "FileLib/", EIO));
  auto upload = newUpload(sha("body"), 4);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->write(0, "body").ok());
  Status s = (*upload)->commit();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "close " + (root_ / "FileLib" / sha("body").substr(0, 4)).string() + "/" +
                             (*upload)->tempName() + ": Input/output error (EIO)");
}

TEST_F(ContentLibraryTest, OpenRepairsPkgLibFromDataLib) {
  add(makeContent("PS100001", 1, {{"a", "A"}}));
  fs::remove(root_ / "PkgLib/PS100001.json");
  writeFile(root_ / "PkgLib/PS1ABCDE.json", R"({"package_id":"PS1ABCDE","versions":[7]})");
  lib_ = openLib();
  EXPECT_EQ(readFile(root_ / "PkgLib/PS100001.json"),
            R"({"package_id":"PS100001","versions":[1]})");
  EXPECT_FALSE(fs::exists(root_ / "PkgLib/PS1ABCDE.json"));
}

// ---- hostile files ------------------------------------------------------------------------------
// A DP's library is a folder anybody with access to the share can put things in. Whatever is
// planted where a manifest, a body or a temporary file should be, the library never hangs on it
// (a FIFO open does not wait for a writer), never reads or writes through a link, never reads a
// huge file whole, and says which file is wrong.

class HostileLibraryTest : public ContentLibraryTest,
                           public ::testing::WithParamInterface<Hostile> {
 protected:
  void SetUp() override {
    ContentLibraryTest::SetUp();
    outside_ = dir_.path() / "outside";
  }
  // A file outside the library that a planted link points to, holding `content`.
  void makeOutside(const std::string& content) { writeFile(outside_, content); }
  void plantAt(const fs::path& path) { plant(GetParam(), path, outside_); }
  // The error names `path` and says what is there.
  void expectNamed(const Status& status, const fs::path& path) {
    EXPECT_NE(status.message().find(path.string()), std::string::npos) << status.toString();
    EXPECT_NE(status.message().find(describedAs(GetParam())), std::string::npos)
        << status.toString();
  }

  fs::path outside_;
};

std::string hostileName(const ::testing::TestParamInfo<Hostile>& info) {
  return pkgxfer::testing::toString(info.param);
}

TEST_P(HostileLibraryTest, WhereAManifestShouldBe) {
  Manifest m = makeContent("PS100001", 1, {{"a", "A"}});
  add(m);
  const fs::path path = lib_->manifestPath("PS100001", 1);
  makeOutside(readFile(path));  // a valid manifest: only the link makes it wrong
  ASSERT_TRUE(lib_->readManifest("PS100001", 1).ok());  // cached now; must not be served
  plantAt(path);
  const auto start = std::chrono::steady_clock::now();

  // A huge regular file is there, only damaged; anything else is not a manifest.
  EXPECT_EQ(lib_->hasContent("PS100001", 1), GetParam() == Hostile::Sparse);
  auto read = lib_->readManifest("PS100001", 1);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), Status::Code::Corruption);
  expectNamed(read.status(), path);
  auto json = lib_->readManifestJson("PS100001", 1);
  EXPECT_EQ(json.status().code(), Status::Code::Corruption);
  expectNamed(json.status(), path);
  EXPECT_EQ(lib_->validate("PS100001", 1).status().code(), Status::Code::Corruption);
  // A commit does not overwrite (or write through) what is there; it says what is in its way.
  Status commit = lib_->commitManifest(m);
  EXPECT_EQ(commit.code(), Status::Code::Corruption);
  expectNamed(commit, path);
  Status removed = lib_->removeContent("PS100001", 1);
  EXPECT_EQ(removed.code(), Status::Code::Corruption);
  expectNamed(removed, path);

  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(readFile(outside_), toJson(m));
}

TEST_P(HostileLibraryTest, WhereABodyShouldBe) {
  Manifest m = makeContent("PS100001", 1, {{"a", "AAAA"}, {"b", "BBBB"}});
  add(m);
  const fs::path path = lib_->bodyPath(sha("AAAA"));
  makeOutside("AAAA");  // the right bytes: only the link makes it wrong
  plantAt(path);
  const auto start = std::chrono::steady_clock::now();

  if (GetParam() == Hostile::Sparse) {
    // A regular file, only a huge one: present, and readable piece by piece (a server would send
    // the range asked for), but validation does not read a terabyte to say it is wrong.
    EXPECT_TRUE(lib_->hasBody(sha("AAAA")));
  } else {
    EXPECT_FALSE(lib_->hasBody(sha("AAAA")));
    auto body = lib_->openBody(sha("AAAA"));
    ASSERT_FALSE(body.ok());
    EXPECT_EQ(body.status().code(), Status::Code::Corruption);
    expectNamed(body.status(), path);
    auto present = lib_->inventory({sha("AAAA"), sha("BBBB")});
    ASSERT_FALSE(present.ok());
    expectNamed(present.status(), path);
  }
  auto report = lib_->validate("PS100001", 1, &pool_);
  ASSERT_TRUE(report.ok()) << report.status().toString();
  ASSERT_EQ(report->mismatched.size(), 1u) << report->describe();
  EXPECT_EQ(report->mismatched[0].path, "a");
  EXPECT_NE(report->mismatched[0].reason.find(path.string()), std::string::npos)
      << report->mismatched[0].reason;
  EXPECT_NE(report->mismatched[0].reason.find(describedAs(GetParam())), std::string::npos)
      << report->mismatched[0].reason;

  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(readFile(outside_), "AAAA");
}

TEST_P(HostileLibraryTest, AtAResumableUploadsTemporaryName) {
  // The name a job recorded for its resume point now holds something it did not write: the
  // upload starts over under a new name and nothing is written through (or into) what was there.
  if (GetParam() == Hostile::Sparse) GTEST_SKIP() << "a regular file: resuming it is right";
  makeOutside("keep");
  const std::string body = "the body";
  const std::string temp = "." + sha(body) + ".PS100001.0123456789abcdef.partial";
  const fs::path planted = lib_->bodyPath(sha(body)).parent_path() / temp;
  plantAt(planted);
  UploadSpec spec;
  spec.sha256 = sha(body);
  spec.size = body.size();
  spec.owner = "PS100001";
  spec.resumable = true;
  spec.resume_name = temp;
  spec.resume_offset = 4;
  auto up = lib_->openUpload(spec);
  ASSERT_TRUE(up.ok()) << up.status().toString();
  EXPECT_EQ((*up)->offset(), 0u);
  EXPECT_NE((*up)->tempName(), temp);
  ASSERT_TRUE((*up)->write(0, body).ok());
  ASSERT_TRUE((*up)->commit().ok());
  EXPECT_EQ(readFile(lib_->bodyPath(sha(body))), body);
  EXPECT_EQ(readFile(outside_), "keep");
  EXPECT_FALSE(fs::exists(fs::symlink_status(planted))) << "the planted file is ours to delete";
}

INSTANTIATE_TEST_SUITE_P(Planted, HostileLibraryTest,
                         ::testing::Values(Hostile::Fifo, Hostile::Socket, Hostile::Symlink,
                                           Hostile::Sparse),
                         hostileName);

TEST_F(ContentLibraryTest, ALinkPlantedAtATemporaryNameIsNeverWrittenThrough) {
  // Someone guesses the very name a body's or a manifest's temporary file gets and plants a link
  // to a file outside there just before it is created: the create does not follow it (O_EXCL),
  // the library takes another name, and the file outside keeps its bytes.
  writeFile(dir_ / "outside", "keep");
  FaultInjectingFileSystem faulty;
  int planted = 0;
  for (const char* where : {"FileLib/", "DataLib/", "PkgLib/"}) {
    faulty.inject(Fault::stopping(Op::Create, where, [&](Op, const fs::path& path) {
      fs::create_symlink(dir_ / "outside", path);
      ++planted;
    }));
  }
  lib_ = openLib({}, &faulty);
  ASSERT_NE(lib_, nullptr);
  Manifest m = makeContent("PS100001", 1, {{"a", "AAAA"}});
  add(m);
  EXPECT_EQ(planted, 3);
  EXPECT_TRUE(lib_->hasContent("PS100001", 1));
  EXPECT_EQ(readFile(lib_->bodyPath(sha("AAAA"))), "AAAA");
  EXPECT_EQ(readFile(dir_ / "outside"), "keep");
  // The links left at temporary names are not files of ours: the sweep deletes them (not what
  // they point to).
  EXPECT_EQ(*lib_->cleanTemporaryFiles(), 3u);
  EXPECT_EQ(readFile(dir_ / "outside"), "keep");
}

TEST_F(ContentLibraryTest, ALibraryFolderThatIsALinkIsRefused) {
  // FileLib/<prefix>, DataLib, PkgLib or FileLib replaced by a link to a folder elsewhere: what
  // is written into it would land there.
  fs::create_directories(dir_ / "elsewhere");
  const std::string body = "the body";
  const fs::path prefix = lib_->bodyPath(sha(body)).parent_path();
  fs::create_symlink(dir_ / "elsewhere", prefix);
  auto up = newUpload(sha(body));
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), Status::Code::Corruption);
  EXPECT_EQ(up.status().message(),
            prefix.string() +
                ": a symbolic link, not a folder (where the content library expects one; remove "
                "it)");
  EXPECT_TRUE(fs::is_empty(dir_ / "elsewhere"));

  lib_.reset();
  fs::rename(root_ / "DataLib", dir_ / "DataLib.real");
  fs::create_symlink(dir_ / "DataLib.real", root_ / "DataLib");
  auto reopened = ContentLibrary::open(root_);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Status::Code::Corruption);
  EXPECT_NE(reopened.status().message().find((root_ / "DataLib").string() + ": a symbolic link"),
            std::string::npos)
      << reopened.status().toString();
}

}  // namespace
}  // namespace pkgxfer::content
