#pragma once

// Helpers for the content module's tests.

#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "pkgxfer/content/sha256.h"

namespace pkgxfer::content::testing {

inline std::string sha(std::string_view data) {
  auto r = sha256Hex(data);
  EXPECT_TRUE(r.ok()) << r.status().toString();
  return r.ok() ? *r : std::string();
}

// Sets a file's mtime to `seconds` + `nanos` since the epoch (atime too).
inline void setMtime(const std::filesystem::path& file, long seconds, long nanos = 0) {
  struct timespec times[2] = {{seconds, nanos}, {seconds, nanos}};
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0) << file;
}

inline std::int64_t mtimeNsOf(const std::filesystem::path& file) {
  struct stat st;
  EXPECT_EQ(::stat(file.c_str(), &st), 0);
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace pkgxfer::content::testing
