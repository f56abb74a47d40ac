#include "pkgxfer/fs/fault_injecting_file_system.h"

#include <type_traits>
#include <utility>

#include "pkgxfer/common/os_error.h"

namespace pkgxfer::fs {

std::string_view toString(Op op) {
  switch (op) {
    case Op::Open:
      return "open";
    case Op::Create:
      return "create";
    case Op::Read:
      return "read";
    case Op::Write:
      return "write";
    case Op::Sync:
      return "fdatasync";
    case Op::Truncate:
      return "truncate";
    case Op::Info:
      return "stat";
    case Op::Lock:
      return "lock";
    case Op::Close:
      return "close";
    case Op::Stat:
      return "stat";
    case Op::Canonical:
      return "resolve";
    case Op::MakeDirectory:
      return "create folder";
    case Op::Rename:
      return "rename";
    case Op::Remove:
      return "delete";
    case Op::List:
      return "open folder";
    case Op::SyncDirectory:
      return "fsync folder";
    case Op::SyncVolume:
      return "syncfs";
    case Op::FreeSpace:
      return "statvfs";
    case Op::LockDirectory:
      return "lock folder";
  }
  return "call";
}

namespace {

bool pathMatches(const std::string& piece, const Path& path, const Path* other) {
  if (piece.empty()) return true;
  if (path.string().find(piece) != std::string::npos) return true;
  return other != nullptr && other->string().find(piece) != std::string::npos;
}

}  // namespace

FaultInjectingFileSystem::FaultInjectingFileSystem(FileSystem& base) : base_(base) {}
FaultInjectingFileSystem::~FaultInjectingFileSystem() = default;

int FaultInjectingFileSystem::inject(Fault fault) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back({std::move(fault), 0, 0});
  return static_cast<int>(rules_.size()) - 1;
}

void FaultInjectingFileSystem::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Rule& r : rules_) r.fault.count = 0;  // ids stay valid for hits()
}

std::uint64_t FaultInjectingFileSystem::calls(Op op) const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_[static_cast<std::size_t>(op)];
}

int FaultInjectingFileSystem::hits(int id) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (id < 0 || static_cast<std::size_t>(id) >= rules_.size()) return 0;
  return rules_[static_cast<std::size_t>(id)].hits;
}

std::vector<Fault> FaultInjectingFileSystem::match(Op op, const Path& path, const Path* other) {
  std::vector<Fault> acting;
  std::lock_guard<std::mutex> lock(mu_);
  ++calls_[static_cast<std::size_t>(op)];
  for (Rule& r : rules_) {
    if (r.fault.op != op || !pathMatches(r.fault.path_contains, path, other)) continue;
    const int n = ++r.seen;
    if (n <= r.fault.after) continue;
    if (r.fault.count >= 0 && n > r.fault.after + r.fault.count) continue;
    ++r.hits;
    acting.push_back(r.fault);
  }
  return acting;
}

template <typename R, typename Real>
R FaultInjectingFileSystem::around(Op op, const Path& path, const Path* other, Real&& real) {
  const std::vector<Fault> acting = match(op, path, other);
  if (acting.empty()) return real();
  // Every rule due runs its hook, in the order the rules were added; the first with an error
  // decides the failure.
  auto run = [&](Fault::When when) -> int {
    int error = 0;
    for (const Fault& f : acting) {
      if (f.when != when) continue;
      if (f.hook) f.hook(op, path);
      if (error == 0) error = f.error;
    }
    return error;
  };
  auto failure = [&](int error) -> Status {
    std::string what = base_.display(path);
    if (op == Op::Rename && other != nullptr) what += " to " + base_.display(*other);
    return errnoStatus(toString(op), what, error);
  };
  if (int error = run(Fault::When::Before); error != 0) return failure(error);
  R result = real();
  if (int error = run(Fault::When::After); error != 0) return failure(error);
  return result;
}

class FaultInjectingFileSystem::WrappedFile final : public File {
 public:
  WrappedFile(FaultInjectingFileSystem& fs, std::unique_ptr<File> inner)
      : fs_(fs), inner_(std::move(inner)) {}

  const Path& path() const override { return inner_->path(); }
  Result<std::size_t> readAt(std::uint64_t offset, void* data, std::size_t size) override {
    return fs_.around<Result<std::size_t>>(Op::Read, path(), nullptr,
                                           [&] { return inner_->readAt(offset, data, size); });
  }
  Status writeAt(std::uint64_t offset, const void* data, std::size_t size) override {
    return fs_.around<Status>(Op::Write, path(), nullptr,
                              [&] { return inner_->writeAt(offset, data, size); });
  }
  Status sync() override {
    return fs_.around<Status>(Op::Sync, path(), nullptr, [&] { return inner_->sync(); });
  }
  Status truncate(std::uint64_t size) override {
    return fs_.around<Status>(Op::Truncate, path(), nullptr,
                              [&] { return inner_->truncate(size); });
  }
  Result<FileInfo> info() override {
    return fs_.around<Result<FileInfo>>(Op::Info, path(), nullptr, [&] { return inner_->info(); });
  }
  Result<bool> tryLock() override {
    return fs_.around<Result<bool>>(Op::Lock, path(), nullptr, [&] { return inner_->tryLock(); });
  }
  void startWriteback(std::uint64_t offset, std::uint64_t size) override {
    inner_->startWriteback(offset, size);
  }
  void dropCache(std::uint64_t offset, std::uint64_t size) override {
    inner_->dropCache(offset, size);
  }
  void adviseSequential() override { inner_->adviseSequential(); }
  Status close() override {
    return fs_.around<Status>(Op::Close, path(), nullptr, [&] { return inner_->close(); });
  }

 private:
  FaultInjectingFileSystem& fs_;
  std::unique_ptr<File> inner_;
};

Result<std::unique_ptr<File>> FaultInjectingFileSystem::open(const Path& path, OpenMode mode) {
  const Op op = mode == OpenMode::CreateNew ? Op::Create : Op::Open;
  auto file = around<Result<std::unique_ptr<File>>>(op, path, nullptr,
                                                    [&] { return base_.open(path, mode); });
  if (!file.ok()) return file;
  return std::unique_ptr<File>(std::make_unique<WrappedFile>(*this, std::move(*file)));
}

Result<FileInfo> FaultInjectingFileSystem::stat(const Path& path, bool follow_links) {
  return around<Result<FileInfo>>(Op::Stat, path, nullptr,
                                  [&] { return base_.stat(path, follow_links); });
}

Result<Path> FaultInjectingFileSystem::canonical(const Path& path) {
  return around<Result<Path>>(Op::Canonical, path, nullptr, [&] { return base_.canonical(path); });
}

Result<bool> FaultInjectingFileSystem::makeDirectory(const Path& path) {
  return around<Result<bool>>(Op::MakeDirectory, path, nullptr,
                              [&] { return base_.makeDirectory(path); });
}

Status FaultInjectingFileSystem::rename(const Path& from, const Path& to) {
  return around<Status>(Op::Rename, from, &to, [&] { return base_.rename(from, to); });
}

Status FaultInjectingFileSystem::remove(const Path& path) {
  return around<Status>(Op::Remove, path, nullptr, [&] { return base_.remove(path); });
}

Status FaultInjectingFileSystem::list(const Path& dir, const ListFn& fn) {
  return around<Status>(Op::List, dir, nullptr, [&] { return base_.list(dir, fn); });
}

Status FaultInjectingFileSystem::syncDirectory(const Path& dir) {
  return around<Status>(Op::SyncDirectory, dir, nullptr, [&] { return base_.syncDirectory(dir); });
}

Status FaultInjectingFileSystem::syncVolume(const Path& path) {
  return around<Status>(Op::SyncVolume, path, nullptr, [&] { return base_.syncVolume(path); });
}

Result<std::uint64_t> FaultInjectingFileSystem::freeSpace(const Path& path) {
  return around<Result<std::uint64_t>>(Op::FreeSpace, path, nullptr,
                                       [&] { return base_.freeSpace(path); });
}

Result<std::unique_ptr<DirectoryLock>> FaultInjectingFileSystem::lockDirectory(const Path& dir) {
  return around<Result<std::unique_ptr<DirectoryLock>>>(Op::LockDirectory, dir, nullptr,
                                                        [&] { return base_.lockDirectory(dir); });
}

}  // namespace pkgxfer::fs
