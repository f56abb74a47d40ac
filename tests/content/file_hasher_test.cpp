#include "pkgxfer/content/file_hasher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>

#include <gtest/gtest.h>
#include <boost/asio/post.hpp>

#include "content/content_test_util.h"
#include "fakes/test_util.h"

namespace pkgxfer::content {
namespace {

namespace fs = std::filesystem;
using pkgxfer::testing::TempDir;
using pkgxfer::testing::writeFile;
using testing::sha;

std::string patterned(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 7919) >> 5);
  return s;
}

class FileHasherTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(FileHasherTest, HashesAcrossBufferBoundaries) {
  HashOptions options;
  options.buffer_size = 4096;
  for (std::size_t size : {0u, 1u, 4095u, 4096u, 4097u, 3 * 4096u + 5u, 100'000u}) {
    const std::string content = patterned(size);
    const fs::path file = dir_ / ("f" + std::to_string(size));
    writeFile(file, content);
    auto r = hashFile(file, options);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(r->sha256, sha(content)) << size;
    EXPECT_EQ(r->size, size);
  }
}

TEST_F(FileHasherTest, ReportsMetadataTheHashBelongsTo) {
  const fs::path file = dir_ / "a.txt";
  writeFile(file, "hello");
  ::chmod(file.c_str(), 0640);
  testing::setMtime(file, 1'700'000'000, 123'456'789);
  auto r = hashFile(file);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mtime_ns, 1'700'000'000'123'456'789LL);
  EXPECT_EQ(r->mode, 0640u);
  EXPECT_EQ(r->size, 5u);
}

TEST_F(FileHasherTest, RereadsAFileThatChangedWhileRead) {
  const fs::path file = dir_ / "growing.log";
  writeFile(file, "first version");
  HashOptions options;
  int calls = 0;
  options.after_read_for_test = [&](const fs::path& f, int attempt) {
    ++calls;
    if (attempt == 1) {
      std::ofstream(f, std::ios::app) << " plus more";  // the size changes
    }
  };
  auto r = hashFile(file, options);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r->sha256, sha("first version plus more"));
  EXPECT_EQ(r->size, std::string("first version plus more").size());
}

TEST_F(FileHasherTest, DetectsSameSizeRewriteByMtime) {
  const fs::path file = dir_ / "same-size.bin";
  writeFile(file, "AAAA");
  testing::setMtime(file, 1'600'000'000);
  HashOptions options;
  options.after_read_for_test = [&](const fs::path& f, int attempt) {
    if (attempt == 1) {
      writeFile(f, "BBBB");
      testing::setMtime(f, 1'600'000'001);
    }
  };
  auto r = hashFile(file, options);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->sha256, sha("BBBB"));
  EXPECT_EQ(r->mtime_ns, 1'600'000'001'000'000'000LL);
}

TEST_F(FileHasherTest, GivesUpOnAFileThatKeepsChanging) {
  const fs::path file = dir_ / "busy.dat";
  writeFile(file, "x");
  HashOptions options;
  int calls = 0;
  options.after_read_for_test = [&](const fs::path& f, int) {
    ++calls;
    std::ofstream(f, std::ios::app) << "x";
  };
  auto r = hashFile(file, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::Unavailable);
  EXPECT_NE(r.error().message().find(file.string()), std::string::npos) << r.error().message();
  EXPECT_EQ(calls, 3);
}

TEST_F(FileHasherTest, MissingFileIsNotFoundNamingIt) {
  auto r = hashFile(dir_ / "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::NotFound);
  EXPECT_NE(r.error().message().find("nope"), std::string::npos);
  EXPECT_NE(r.error().message().find("ENOENT"), std::string::npos);
}

TEST_F(FileHasherTest, RejectsFifoWithoutBlocking) {
  const fs::path fifo = dir_ / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  auto r = hashFile(fifo);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::InvalidArgument);
  EXPECT_NE(r.error().message().find("FIFO"), std::string::npos);
}

TEST_F(FileHasherTest, RejectsDirectory) {
  auto r = hashFile(dir_.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::InvalidArgument);
}

TEST_F(FileHasherTest, CancelStops) {
  const fs::path file = dir_ / "big";
  writeFile(file, patterned(1 << 16));
  std::atomic<bool> cancel{true};
  HashOptions options;
  options.cancel = &cancel;
  auto r = hashFile(file, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Status::Code::Cancelled);
}

TEST_F(FileHasherTest, HashFilesReturnsResultsInInputOrder) {
  std::vector<fs::path> files;
  std::vector<std::string> contents;
  for (int i = 0; i < 200; ++i) {
    contents.push_back(patterned(static_cast<std::size_t>(i * 97)) + std::to_string(i));
    files.push_back(dir_ / ("f" + std::to_string(i)));
    writeFile(files.back(), contents.back());
  }
  files.insert(files.begin() + 50, dir_ / "missing");
  contents.insert(contents.begin() + 50, "");
  boost::asio::thread_pool pool(3);
  HashOptions options;
  options.buffer_size = 4096;
  auto results = hashFiles(files, pool, options, 4);
  ASSERT_EQ(results.size(), files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (i == 50) {
      ASSERT_FALSE(results[i].ok());
      EXPECT_EQ(results[i].error().code(), Status::Code::NotFound);
      continue;
    }
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().toString();
    EXPECT_EQ(results[i]->sha256, sha(contents[i])) << i;
  }
  pool.join();
}

TEST_F(FileHasherTest, HashFilesEmptyInput) {
  boost::asio::thread_pool pool(1);
  EXPECT_TRUE(hashFiles({}, pool).empty());
  pool.join();
}

TEST_F(FileHasherTest, HashFilesFromInsideTheOnlyPoolThreadDoesNotDeadlock) {
  std::vector<fs::path> files;
  for (int i = 0; i < 20; ++i) {
    files.push_back(dir_ / ("f" + std::to_string(i)));
    writeFile(files.back(), std::to_string(i));
  }
  boost::asio::thread_pool pool(1);
  std::promise<std::size_t> ok_count;
  boost::asio::post(pool, [&] {
    std::size_t ok = 0;
    for (auto& r : hashFiles(files, pool, {}, 4)) ok += r.ok() ? 1 : 0;
    ok_count.set_value(ok);
  });
  auto future = ok_count.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(future.get(), files.size());
  pool.join();
}

}  // namespace
}  // namespace pkgxfer::content
