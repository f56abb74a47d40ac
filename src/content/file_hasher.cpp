#include "pkgxfer/content/file_hasher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/post.hpp>

#include "pkgxfer/content/sha256.h"
#include "posix_io.h"

namespace pkgxfer::content {

namespace fs = std::filesystem;
using internal::AlignedBuffer;
using internal::displayPath;
using internal::errnoStatus;
using internal::makeAlignedBuffer;
using internal::UniqueFd;

namespace {

constexpr std::size_t kMinBuffer = 4096;

const char* fileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

bool sameVersion(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

bool cancelled(const HashOptions& options) {
  return options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed);
}

Result<HashedFile> hashWithBuffer(const fs::path& file, const HashOptions& options, char* buffer,
                                  std::size_t buffer_size) {
  Sha256 hasher;
  const int attempts = std::max(1, options.max_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise block until a writer appears.
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd.valid()) return errnoStatus("open", file, errno);
    struct stat before;
    if (::fstat(fd.get(), &before) != 0) return errnoStatus("stat", file, errno);
    if (!S_ISREG(before.st_mode)) {
      return Status::InvalidArgument(displayPath(file) + ": " + fileTypeName(before.st_mode) +
                                     ", not a regular file");
    }
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

    std::uint64_t total = 0;
    while (true) {
      if (cancelled(options)) return Status::Cancelled("hashing " + displayPath(file));
      ssize_t n = ::read(fd.get(), buffer, buffer_size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoStatus("read", file, errno);
      }
      if (n == 0) break;
      hasher.update(buffer, static_cast<std::size_t>(n));
      total += static_cast<std::uint64_t>(n);
    }
    if (options.after_read_for_test) options.after_read_for_test(file, attempt);

    struct stat after;
    if (::fstat(fd.get(), &after) != 0) return errnoStatus("stat", file, errno);
    PKGXFER_ASSIGN_OR_RETURN(std::string hex, hasher.finishHex());
    if (sameVersion(before, after) && total == static_cast<std::uint64_t>(before.st_size)) {
      HashedFile out;
      out.sha256 = std::move(hex);
      out.size = total;
      out.mtime_ns = internal::mtimeNs(before);
      out.mode = static_cast<std::uint32_t>(before.st_mode & 07777);
      return out;
    }
  }
  return Status::Unavailable(displayPath(file) + ": the file changed while it was read (" +
                             std::to_string(attempts) +
                             " attempts); not hashed, try again when it is no longer written");
}

}  // namespace

Result<HashedFile> hashFile(const fs::path& file, const HashOptions& options) {
  const std::size_t size = std::max(options.buffer_size, kMinBuffer);
  auto buffer = makeAlignedBuffer(size);
  return hashWithBuffer(file, options, buffer.get(), size);
}

std::vector<Result<HashedFile>> hashFiles(const std::vector<fs::path>& files,
                                          boost::asio::thread_pool& pool,
                                          const HashOptions& options, unsigned parallelism) {
  const std::size_t n = files.size();
  std::vector<Result<HashedFile>> results(n, Result<HashedFile>(Status::Internal("not hashed")));
  if (n == 0) return results;

  // Shared with the posted tasks, which may start after this call returned (the pool was busy);
  // such a late task finds no index left and touches nothing but this state.
  struct State {
    std::atomic<std::size_t> next{0};
    std::size_t count = 0;
    std::mutex mu;
    std::condition_variable cv;
    std::size_t done = 0;  // guarded by mu
  };
  auto state = std::make_shared<State>();
  state->count = n;
  const std::size_t buffer_size = std::max(options.buffer_size, kMinBuffer);

  auto work = [state, &files, &options, &results, buffer_size] {
    AlignedBuffer buffer;
    while (true) {
      std::size_t i = state->next.fetch_add(1, std::memory_order_relaxed);
      if (i >= state->count) return;
      if (!buffer) buffer = makeAlignedBuffer(buffer_size);
      results[i] = hashWithBuffer(files[i], options, buffer.get(), buffer_size);
      std::lock_guard<std::mutex> lock(state->mu);
      if (++state->done == state->count) state->cv.notify_all();
    }
  };

  if (parallelism == 0) parallelism = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t helpers = std::min<std::size_t>(parallelism, n) - 1;
  for (std::size_t k = 0; k < helpers; ++k) boost::asio::post(pool, work);
  work();
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait(lock, [&] { return state->done == state->count; });
  return results;
}

}  // namespace pkgxfer::content
