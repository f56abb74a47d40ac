#pragma once

// Hashing files: one at a time (hashFile) or many in parallel on a thread pool (hashFiles). A file
// that changes while it is read is re-read, and reported as an error if it keeps changing: a hash
// is never paired with a size or mtime it does not belong to.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "pkgxfer/common/status.h"
#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::content {

struct HashOptions {
  // Bytes per read(). 1 MiB measured best (docs/performance.md); at least 4 KiB is used.
  std::size_t buffer_size = 1 << 20;
  // How many times a file that changed while it was read is read again (in total, not extra).
  int max_attempts = 3;
  // False: a symbolic link at the file's name is refused rather than followed (a content
  // library's own bodies; fs::OpenMode::ReadRegular).
  bool follow_links = true;
  // A file larger than this is refused before anything is read (InvalidArgument naming it).
  std::uint64_t max_size = std::numeric_limits<std::uint64_t>::max();
  // Checked between reads; when it becomes true the hash stops with Cancelled. May be null. Must
  // outlive the call.
  const std::atomic<bool>* cancel = nullptr;
  // Test hook: called after the last read of each attempt, before the closing fstat (attempt
  // counts from 1). Lets a test modify the file "while it is read".
  std::function<void(const std::filesystem::path& file, int attempt)> after_read_for_test;
};

// A file's digest together with the metadata it was computed under (stable across the read).
struct HashedFile {
  std::string sha256;         // 64 lower-case hex digits
  std::uint64_t size = 0;     // bytes
  std::int64_t mtime_ns = 0;  // modification time, nanoseconds since the Unix epoch (UTC)
  std::uint32_t mode = 0;     // st_mode & 07777 (POSIX permission bits)
};

// Hashes one regular file of `fs`, following symlinks unless `follow_links` is off. Reads
// sequentially with `buffer_size` reads and a sequential-access hint. The file's size, mtime, ctime
// and identity are taken before and after the read; if they differ (or the byte count read differs
// from the size) the file is read again, up to `max_attempts` times. Errors (each message names the
// file): NotFound (missing), PermissionDenied (EACCES/EPERM), InvalidArgument (not a regular file:
// directory, FIFO, socket, device, or a link with `follow_links` off; larger than `max_size`),
// Unavailable (still changing after max_attempts reads), Cancelled, IoError (other OS errors).
Result<HashedFile> hashFile(fs::FileSystem& fs, const std::filesystem::path& file,
                            const HashOptions& options = {});
// On the local file system.
Result<HashedFile> hashFile(const std::filesystem::path& file, const HashOptions& options = {});

// Hashes `files` on `pool` and returns one result per input, in input order. The calling thread
// hashes too, and waits only for files that were started, so calling this from one of `pool`'s
// own threads cannot deadlock (it just runs with less help). At most `parallelism` pool tasks are
// posted (0 = std::thread::hardware_concurrency()). `options` must stay valid until the call
// returns (it does: the call blocks until every file is done).
std::vector<Result<HashedFile>> hashFiles(fs::FileSystem& fs,
                                          const std::vector<std::filesystem::path>& files,
                                          boost::asio::thread_pool& pool,
                                          const HashOptions& options = {},
                                          unsigned parallelism = 0);
// On the local file system.
std::vector<Result<HashedFile>> hashFiles(const std::vector<std::filesystem::path>& files,
                                          boost::asio::thread_pool& pool,
                                          const HashOptions& options = {},
                                          unsigned parallelism = 0);

}  // namespace pkgxfer::content
