// The POSIX file system: what the content library did with direct system calls before the seam,
// call for call (so the seam costs a virtual call, not a system call).

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "pkgxfer/common/os_error.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::fs {
namespace {

Status osError(std::string_view op, const Path& path, int err) {
  return errnoStatus(op, displayPath(path), err);
}

FileType typeOf(mode_t mode) {
  if (S_ISREG(mode)) return FileType::Regular;
  if (S_ISDIR(mode)) return FileType::Directory;
  if (S_ISLNK(mode)) return FileType::Symlink;
  if (S_ISFIFO(mode)) return FileType::Fifo;
  if (S_ISSOCK(mode)) return FileType::Socket;
  if (S_ISCHR(mode)) return FileType::CharacterDevice;
  if (S_ISBLK(mode)) return FileType::BlockDevice;
  return FileType::Unknown;
}

FileType typeOfDirent(unsigned char d_type) {
  switch (d_type) {
    case DT_REG:
      return FileType::Regular;
    case DT_DIR:
      return FileType::Directory;
    case DT_LNK:
      return FileType::Symlink;
    case DT_FIFO:
      return FileType::Fifo;
    case DT_SOCK:
      return FileType::Socket;
    case DT_CHR:
      return FileType::CharacterDevice;
    case DT_BLK:
      return FileType::BlockDevice;
    default:
      return FileType::Unknown;
  }
}

Status notRegular(const Path& path, FileType type) {
  return Status::InvalidArgument(displayPath(path) + ": " + std::string(describe(type)) +
                                 ", not a regular file");
}

FileInfo infoOf(const struct stat& st) {
  FileInfo info;
  info.type = typeOf(st.st_mode);
  info.size = static_cast<std::uint64_t>(st.st_size);
  info.mtime_ns = std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  info.ctime_ns = std::int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
  info.mode = static_cast<std::uint32_t>(st.st_mode & 07777);
  info.volume = static_cast<std::uint64_t>(st.st_dev);
  info.id = static_cast<std::uint64_t>(st.st_ino);
  return info;
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, Path path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  const Path& path() const override { return path_; }

  Result<std::size_t> readAt(std::uint64_t offset, void* data, std::size_t size) override {
    char* p = static_cast<char*>(data);
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::pread(fd_, p + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return osError("read", path_, errno);
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Status writeAt(std::uint64_t offset, const void* data, std::size_t size) override {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return osError("write", path_, errno);
      }
      p += n;
      size -= static_cast<std::size_t>(n);
      offset += static_cast<std::uint64_t>(n);
    }
    return Status::Ok();
  }

  Status sync() override {
    if (::fdatasync(fd_) != 0) return osError("fdatasync", path_, errno);
    return Status::Ok();
  }

  Status truncate(std::uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return osError("truncate", path_, errno);
    return Status::Ok();
  }

  Result<FileInfo> info() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return osError("stat", path_, errno);
    return infoOf(st);
  }

  Result<bool> tryLock() override {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    return osError("lock", path_, errno);
  }

  void startWriteback(std::uint64_t offset, std::uint64_t size) override {
    ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(size),
                      SYNC_FILE_RANGE_WRITE);
  }
  void dropCache(std::uint64_t offset, std::uint64_t size) override {
    ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(size), POSIX_FADV_DONTNEED);
  }
  void adviseSequential() override { ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL); }

  Status close() override {
    if (fd_ < 0) return Status::Ok();
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0 && errno != EINTR) return osError("close", path_, errno);
    return Status::Ok();
  }

 private:
  int fd_;
  const Path path_;
};

class PosixDirectoryLock final : public DirectoryLock {
 public:
  explicit PosixDirectoryLock(int fd) : fd_(fd) {}
  ~PosixDirectoryLock() override { ::close(fd_); }  // releases the flock

 private:
  int fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  std::string display(const Path& path) const override { return displayPath(path); }

  Result<std::unique_ptr<File>> open(const Path& path, OpenMode mode) override {
    // O_NONBLOCK: opening a FIFO would otherwise wait for its other end (for ever, on a FIFO
    // planted in a library). It changes nothing for a regular file.
    int flags = O_CLOEXEC | O_NONBLOCK;
    const char* op = "open";
    bool regular_only = true;
    switch (mode) {
      case OpenMode::Read:
        flags |= O_RDONLY;
        regular_only = false;
        break;
      case OpenMode::ReadRegular:
        flags |= O_RDONLY | O_NOFOLLOW;
        break;
      case OpenMode::ReadWrite:
        flags |= O_RDWR | O_NOFOLLOW;
        break;
      case OpenMode::CreateNew:
        flags |= O_RDWR | O_CREAT | O_EXCL;  // O_EXCL: a link at the name is not followed
        op = "create";
        regular_only = false;  // made just now, by us
        break;
    }
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) {
      const int err = errno;
      // A link not followed (ELOOP), a socket (ENXIO), a folder opened for writing (EISDIR):
      // say what is there rather than the errno's words.
      if (regular_only && (err == ELOOP || err == ENXIO || err == EISDIR || err == ENODEV)) {
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
          return notRegular(path, typeOf(st.st_mode));
        }
      }
      return osError(op, path, err);
    }
    if (regular_only) {
      struct stat st;
      if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return osError("stat", path, err);
      }
      if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return notRegular(path, typeOf(st.st_mode));
      }
    }
    return std::unique_ptr<File>(std::make_unique<PosixFile>(fd, path));
  }

  Result<FileInfo> stat(const Path& path, bool follow_links) override {
    struct stat st;
    const int rc = follow_links ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
    if (rc != 0) return osError("stat", path, errno);
    return infoOf(st);
  }

  Result<Path> canonical(const Path& path) override {
    std::error_code ec;
    Path out = std::filesystem::canonical(path, ec);
    if (ec) return osError("resolve", path, ec.value());
    return out;
  }

  Result<bool> makeDirectory(const Path& path) override {
    if (::mkdir(path.c_str(), 0777) == 0) return true;
    if (errno == EEXIST) return false;
    return osError("create folder", path, errno);
  }

  Status rename(const Path& from, const Path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return osError("rename " + displayPath(from) + " to", to, errno);
    }
    return Status::Ok();
  }

  Status remove(const Path& path) override {
    if (::unlink(path.c_str()) != 0) return osError("delete", path, errno);
    return Status::Ok();
  }

  Status list(const Path& dir, const ListFn& fn) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return osError("open folder", dir, errno);
    Status status;
    while (true) {
      errno = 0;
      struct dirent* e = ::readdir(d);
      if (e == nullptr) {
        if (errno != 0) status = osError("read folder", dir, errno);
        break;
      }
      std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      fn(name, typeOfDirent(e->d_type));
    }
    ::closedir(d);
    return status;
  }

  Status syncDirectory(const Path& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return osError("open folder", dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return osError("fsync folder", dir, err);
    return Status::Ok();
  }

  Status syncVolume(const Path& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return osError("open", path, errno);
    const int rc = ::syncfs(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return osError("syncfs", path, err);
    return Status::Ok();
  }

  Result<std::uint64_t> freeSpace(const Path& path) override {
    struct statvfs vfs;
    if (::statvfs(path.c_str(), &vfs) != 0) return osError("statvfs", path, errno);
    return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  }

  Result<std::unique_ptr<DirectoryLock>> lockDirectory(const Path& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return osError("open folder", dir, errno);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return osError("lock folder", dir, err);
    }
    return std::unique_ptr<DirectoryLock>(std::make_unique<PosixDirectoryLock>(fd));
  }
};

}  // namespace

FileSystem& FileSystem::local() {
  static PosixFileSystem* fs = new PosixFileSystem();  // never destroyed: used until exit
  return *fs;
}

}  // namespace pkgxfer::fs
