#include "pkgxfer/content/file_hasher.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/post.hpp>

#include "pkgxfer/common/aligned_buffer.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/content/sha256.h"

namespace pkgxfer::content {

using Path = std::filesystem::path;

namespace {

constexpr std::size_t kMinBuffer = 4096;

bool sameVersion(const fs::FileInfo& a, const fs::FileInfo& b) {
  return a.sameFile(b) && a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns;
}

bool cancelled(const HashOptions& options) {
  return options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed);
}

Result<HashedFile> hashWithBuffer(fs::FileSystem& fs, const Path& file, const HashOptions& options,
                                  char* buffer, std::size_t buffer_size) {
  Sha256 hasher;
  const int attempts = std::max(1, options.max_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    // Opening for reading never blocks, not even on a FIFO (see fs::OpenMode).
    PKGXFER_ASSIGN_OR_RETURN(
        std::unique_ptr<fs::File> f,
        fs.open(file, options.follow_links ? fs::OpenMode::Read : fs::OpenMode::ReadRegular));
    PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo before, f->info());
    if (!before.isRegular()) {
      return Status::InvalidArgument(fs.display(file) + ": " +
                                     std::string(fs::describe(before.type)) +
                                     ", not a regular file");
    }
    if (before.size > options.max_size) {
      return Status::InvalidArgument(fs.display(file) + ": " + std::to_string(before.size) +
                                     " bytes, more than the " + std::to_string(options.max_size) +
                                     " expected; not read");
    }
    f->adviseSequential();

    std::uint64_t total = 0;
    while (true) {
      if (cancelled(options)) return Status::Cancelled("hashing " + fs.display(file));
      PKGXFER_ASSIGN_OR_RETURN(std::size_t n, f->readAt(total, buffer, buffer_size));
      if (n == 0) break;
      hasher.update(buffer, n);
      total += n;
    }
    if (options.after_read_for_test) options.after_read_for_test(file, attempt);

    PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo after, f->info());
    PKGXFER_ASSIGN_OR_RETURN(std::string hex, hasher.finishHex());
    if (sameVersion(before, after) && total == before.size) {
      HashedFile out;
      out.sha256 = std::move(hex);
      out.size = total;
      out.mtime_ns = before.mtime_ns;
      out.mode = before.mode;
      return out;
    }
  }
  return Status::Unavailable(fs.display(file) + ": the file changed while it was read (" +
                             std::to_string(attempts) +
                             " attempts); not hashed, try again when it is no longer written");
}

}  // namespace

Result<HashedFile> hashFile(fs::FileSystem& fs, const Path& file, const HashOptions& options) {
  const std::size_t size = std::max(options.buffer_size, kMinBuffer);
  auto buffer = makeAlignedBuffer(size);
  return hashWithBuffer(fs, file, options, buffer.get(), size);
}

Result<HashedFile> hashFile(const Path& file, const HashOptions& options) {
  return hashFile(fs::FileSystem::local(), file, options);
}

std::vector<Result<HashedFile>> hashFiles(const std::vector<Path>& files,
                                          boost::asio::thread_pool& pool,
                                          const HashOptions& options, unsigned parallelism) {
  return hashFiles(fs::FileSystem::local(), files, pool, options, parallelism);
}

std::vector<Result<HashedFile>> hashFiles(fs::FileSystem& fs, const std::vector<Path>& files,
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

  auto work = [state, &fs, &files, &options, &results, buffer_size] {
    AlignedBuffer buffer;
    while (true) {
      std::size_t i = state->next.fetch_add(1, std::memory_order_relaxed);
      if (i >= state->count) return;
      if (!buffer) buffer = makeAlignedBuffer(buffer_size);
      results[i] = hashWithBuffer(fs, files[i], options, buffer.get(), buffer_size);
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
