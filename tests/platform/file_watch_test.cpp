#include "pkgxfer/platform/file_watch.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <fstream>

#include "fakes/test_util.h"

namespace pkgxfer::platform {
namespace {

using namespace std::chrono_literals;

// Verifies watchFile() on Linux: a write to the file calls on_change on the executor, a file that
// does not exist is a clear Unavailable, and nothing is called after cancel().
TEST(FileWatchTest, AWriteToTheFileCallsOnChange) {
#ifndef __linux__
  GTEST_SKIP() << "no file-change notification on this platform yet";
#endif
  testing::TempDir dir;
  const auto file = dir.path() / "site.db-wal";
  testing::writeFile(file, "");
  boost::asio::io_context io;
  auto strand = boost::asio::make_strand(io);
  int changes = 0;
  auto watch = watchFile(strand, file, [&] {
    ++changes;
    io.stop();
  });
  ASSERT_TRUE(watch.ok()) << watch.status().toString();
  {
    std::ofstream out(file, std::ios::app);
    out << "a frame";
  }
  io.run_for(10s);
  EXPECT_GE(changes, 1);

  (*watch)->cancel();
  const int before = changes;
  {
    std::ofstream out(file, std::ios::app);
    out << "another frame";
  }
  io.restart();
  io.run_for(100ms);
  EXPECT_EQ(changes, before) << "no call after cancel()";

  auto missing = watchFile(strand, dir.path() / "nope", [] {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::Unavailable);
  EXPECT_NE(missing.status().message().find("nope: No such file or directory (ENOENT)"),
            std::string::npos)
      << missing.status().message();
}

}  // namespace
}  // namespace pkgxfer::platform
