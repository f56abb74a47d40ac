#pragma once

// Small POSIX helpers private to the content module: an owning file descriptor, errno → Status
// conversion with the path, full reads and writes, directory fsync, and display of file names
// that may not be printable. Windows will get its own posix_io_windows.cpp later.

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "pkgxfer/common/aligned_buffer.h"
#include "pkgxfer/common/os_error.h"
#include "pkgxfer/common/status.h"

namespace pkgxfer::content::internal {

// Owns a file descriptor; closes it on destruction. Movable, not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// pkgxfer::errnoStatus (common/os_error.h) with the path made printable by displayPath().
Status errnoStatus(std::string_view op, const std::filesystem::path& path, int err);

// A path for messages: bytes that are not printable UTF-8 are shown as \xNN.
std::string displayPath(const std::filesystem::path& path);
std::string displayBytes(std::string_view bytes);

// Writes all of `data` (retrying short writes and EINTR). `path` is for the message only.
Status writeAll(int fd, const void* data, std::size_t size, const std::filesystem::path& path);
// Reads up to `size` bytes, retrying EINTR and short reads until `size` or end of file. Returns
// the count read (less than `size` only at end of file).
Result<std::size_t> readUpTo(int fd, void* data, std::size_t size,
                             const std::filesystem::path& path);

// fsync on a directory, so that a rename or create inside it is durable.
Status fsyncDir(const std::filesystem::path& dir);

// Modification time of a stat result in nanoseconds since the Unix epoch.
inline std::int64_t mtimeNs(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Page-aligned I/O buffers (see common/aligned_buffer.h).
using pkgxfer::AlignedBuffer;
using pkgxfer::kBufferAlignment;
using pkgxfer::makeAlignedBuffer;

// Reads a whole (small) file, e.g. a manifest.
Result<std::string> readWholeFile(const std::filesystem::path& path);

// Length of the well-formed UTF-8 sequence starting at s[i] (1-4), or 0 if the bytes there are
// not well-formed UTF-8 (overlong forms, surrogates and code points above U+10FFFF are rejected).
std::size_t utf8SequenceLength(std::string_view s, std::size_t i);

// A random 16-hex-digit token for temporary file names.
std::string randomToken();

}  // namespace pkgxfer::content::internal
