#pragma once

// FaultInjectingFileSystem: a FileSystem that forwards to another one (the local one by default)
// and, following the rules a test gives it, fails a chosen call with an OS error (ENOSPC, EIO,
// EACCES, ...) or stops at it: runs a hook there, which may block until the test lets it go or end
// the process to simulate a crash at that exact point. Like LevelDB's fault-injection Env.
//
// A rule picks calls by kind (Op) and by a piece of their path ("FileLib/", "DataLib/",
// ".partial"); it lets the first `after` matching calls through and then acts on the next `count`
// ones. Several rules may act on one call: each runs its hook, the first with an error fails it. An
// injected failure reads exactly as the real one would:
//   "write /srv/dp01/FileLib/3a4f/.3a4f...partial: No space left on device (ENOSPC)"
// It also counts every call by kind, so a test can assert what a piece of code did (two volume
// flushes per batch, no fsync per file).
//
// Thread-safe. Hooks run on the calling thread with no lock held.

#include <array>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::fs {

// The calls a rule can pick. File calls are named after the file's path.
enum class Op : std::uint8_t {
  Open,       // open(any mode but CreateNew)
  Create,     // open(CreateNew)
  Read,       // File::readAt
  Write,      // File::writeAt
  Sync,       // File::sync
  Truncate,   // File::truncate
  Info,       // File::info
  Lock,       // File::tryLock
  Close,      // File::close
  Stat,       // stat
  Canonical,  // canonical
  MakeDirectory,
  Rename,  // matched against either path
  Remove,
  List,
  SyncDirectory,
  SyncVolume,
  FreeSpace,
  LockDirectory,
};
inline constexpr std::size_t kOpCount = static_cast<std::size_t>(Op::LockDirectory) + 1;
std::string_view toString(Op op);

struct Fault {
  enum class When { Before, After };

  Op op = Op::Write;
  // Only calls whose path contains this ("" = every call of the kind).
  std::string path_contains;
  // Let this many matching calls through, then act on the next `count` (-1 = on every later one).
  int after = 0;
  int count = 1;
  // The errno the call fails with; 0 = it does not fail (only `hook` runs).
  int error = EIO;
  // Before: the call fails without reaching the real file system. After: the real call is made,
  // then reported failed (an answer lost on the way back, as a network file system can do).
  When when = When::Before;
  // Runs at the call (before or after it, as `when` says), before the failure is reported. May
  // block, or end the process (std::_Exit) to leave the disk as a crash at that point would.
  std::function<void(Op op, const Path& path)> hook;

  // The `after`+1-th to `after`+`count`-th calls of `op` on a path containing `path_contains`
  // fail with `error`.
  static Fault failing(Op op, std::string path_contains, int error, int after = 0, int count = 1) {
    Fault f;
    f.op = op;
    f.path_contains = std::move(path_contains);
    f.error = error;
    f.after = after;
    f.count = count;
    return f;
  }
  // The `after`+1-th to `after`+`count`-th such calls run `hook` (before or after the call), and
  // then go on.
  static Fault stopping(Op op, std::string path_contains, std::function<void(Op, const Path&)> hook,
                        When when = When::Before, int after = 0, int count = 1) {
    Fault f = failing(op, std::move(path_contains), 0, after, count);
    f.hook = std::move(hook);
    f.when = when;
    return f;
  }
};

class FaultInjectingFileSystem final : public FileSystem {
 public:
  explicit FaultInjectingFileSystem(FileSystem& base = FileSystem::local());
  ~FaultInjectingFileSystem() override;

  // Adds a rule; returns its id for hits().
  int inject(Fault fault);
  // Removes every rule (the faults "go away"); counts are kept.
  void clear();
  // Calls of `op` so far, whether or not a rule acted on them.
  std::uint64_t calls(Op op) const;
  // How many calls rule `id` acted on.
  int hits(int id) const;

  std::string display(const Path& path) const override { return base_.display(path); }
  Result<std::unique_ptr<File>> open(const Path& path, OpenMode mode) override;
  Result<FileInfo> stat(const Path& path, bool follow_links) override;
  Result<Path> canonical(const Path& path) override;
  Result<bool> makeDirectory(const Path& path) override;
  Status rename(const Path& from, const Path& to) override;
  Status remove(const Path& path) override;
  Status list(const Path& dir, const ListFn& fn) override;
  Status syncDirectory(const Path& dir) override;
  Status syncVolume(const Path& path) override;
  Result<std::uint64_t> freeSpace(const Path& path) override;
  Result<std::unique_ptr<DirectoryLock>> lockDirectory(const Path& dir) override;

 private:
  class WrappedFile;
  struct Rule {
    Fault fault;
    int seen = 0;
    int hits = 0;
  };
  // Counts the call; the rules that act on it, in the order they were added.
  std::vector<Fault> match(Op op, const Path& path, const Path* other);
  // Runs the rules around a call: `real` makes it on the base file system.
  template <typename R, typename Real>
  R around(Op op, const Path& path, const Path* other, Real&& real);

  FileSystem& base_;
  mutable std::mutex mu_;
  std::vector<Rule> rules_;                      // guarded by mu_
  std::array<std::uint64_t, kOpCount> calls_{};  // guarded by mu_
};

}  // namespace pkgxfer::fs
