#pragma once

// The file-system seam, in the spirit of LevelDB's Env: every call a content library (and the
// hashing of package sources) makes to a file system goes through FileSystem and File, so the
// same library runs over the local disk (PosixFileSystem; a Win32 one on Windows), over SMB
// (libsmbclient) and, in tests, over FaultInjectingFileSystem, which fails or stops a chosen call.
//
// Errors are Status values that name the operation, the path (as display() shows it) and the
// cause, the way every module reports them:
//   "create /srv/dp01/FileLib/3a4f/.3a4f....partial: No space left on device (ENOSPC)"
// with the kind chosen from the OS error (common/os_error.h): NotFound, PermissionDenied,
// AlreadyExists (a create of a name that is taken) or IoError; InvalidArgument where a regular
// file is required and something else is at the name ("<path>: a FIFO, not a regular file").
//
// Paths are std::filesystem::path values that the implementation interprets: absolute local
// paths for the local file system, paths inside a share for SMB.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "pkgxfer/common/status.h"

namespace pkgxfer::fs {

using Path = std::filesystem::path;

enum class FileType : std::uint8_t {
  Unknown,  // a listing that does not say (stat the entry to know)
  Regular,
  Directory,
  Symlink,
  Fifo,
  Socket,
  CharacterDevice,
  BlockDevice,
};

// "a regular file", "a folder", "a FIFO", ...: for messages.
std::string_view describe(FileType type);

// What stat() and File::info() report.
struct FileInfo {
  FileType type = FileType::Unknown;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  // last modification, nanoseconds since the Unix epoch (UTC)
  std::int64_t ctime_ns = 0;  // last status change (POSIX), 0 where the file system has none
  std::uint32_t mode = 0;     // permission bits (POSIX st_mode & 07777)
  // With `id`, identifies the file: device and inode on POSIX. 0 where unknown.
  std::uint64_t volume = 0;
  std::uint64_t id = 0;

  bool isRegular() const { return type == FileType::Regular; }
  bool isDirectory() const { return type == FileType::Directory; }
  // Same file (not only same name): the name was not replaced in between.
  bool sameFile(const FileInfo& other) const { return volume == other.volume && id == other.id; }
};

// No mode blocks: opening a FIFO does not wait for its other end. The modes that require a
// regular file refuse anything else at `path` (a symbolic link, which is not followed, a FIFO, a
// socket, a device, a folder) with InvalidArgument naming the path and what is there; folders
// along the path may be links (a library root may be one).
enum class OpenMode {
  Read,         // an existing file of any type (symbolic links followed): package sources
  ReadRegular,  // an existing regular file, the link itself refused: a library's own files
  ReadWrite,    // an existing regular file; a link at `path` is refused, never written through
  CreateNew,    // a new file, read-write; AlreadyExists if the name is taken (a link included)
};

// An open file. Not thread-safe, except readAt(), which may be called from several threads at
// once. Destroying it closes it without reporting an error: call close() where a lost write must
// be seen (a network file system reports some only there).
class File {
 public:
  virtual ~File() = default;

  // The path it was opened with, for messages.
  virtual const Path& path() const = 0;
  // Reads up to `size` bytes at `offset`; fewer only at the end of the file (0 at or past it).
  virtual Result<std::size_t> readAt(std::uint64_t offset, void* data, std::size_t size) = 0;
  // Writes all `size` bytes at `offset`.
  virtual Status writeAt(std::uint64_t offset, const void* data, std::size_t size) = 0;
  // Makes the file's data and size durable (fdatasync).
  virtual Status sync() = 0;
  virtual Status truncate(std::uint64_t size) = 0;
  virtual Result<FileInfo> info() = 0;
  // Takes an exclusive advisory lock on the file without waiting; held until the file is closed.
  // True if taken, false if another holder has it. A file system without such locks returns true.
  virtual Result<bool> tryLock() = 0;
  // Page-cache hints; advisory, errors ignored, no-ops where there is no page cache.
  // Start writing back [offset, offset + size) now (sync_file_range), without waiting.
  virtual void startWriteback(std::uint64_t offset, std::uint64_t size) {
    (void)offset;
    (void)size;
  }
  // Drop clean cached pages of [offset, offset + size); size 0 = to the end.
  virtual void dropCache(std::uint64_t offset, std::uint64_t size) {
    (void)offset;
    (void)size;
  }
  // The file will be read from start to end.
  virtual void adviseSequential() {}
  // Closes the file, reporting what the close found. Later calls fail. Idempotent.
  virtual Status close() = 0;
};

// An exclusive lock on a folder across processes, held until destroyed.
class DirectoryLock {
 public:
  virtual ~DirectoryLock() = default;
};

// Thread-safe: every method may be called from any thread.
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The process's own file system: POSIX here, Win32 on Windows. Lives for the process.
  static FileSystem& local();

  // How `path` reads in a message or a log, printable ("/srv/dp01/FileLib/3a4f/x",
  // "smb://fs02/ContentLib/FileLib/3a4f/x").
  virtual std::string display(const Path& path) const = 0;

  virtual Result<std::unique_ptr<File>> open(const Path& path, OpenMode mode) = 0;
  // `follow_links` false reports a symbolic link itself (lstat).
  virtual Result<FileInfo> stat(const Path& path, bool follow_links = true) = 0;
  // The absolute path with every symbolic link, "." and ".." resolved. NotFound if it does not
  // exist.
  virtual Result<Path> canonical(const Path& path) = 0;
  // Creates one folder (not its parents): true if made, false if the name already existed.
  virtual Result<bool> makeDirectory(const Path& path) = 0;
  // Renames a file, replacing `to` if it exists (atomically where the file system can).
  virtual Status rename(const Path& from, const Path& to) = 0;
  // Deletes a file (not a folder). NotFound if absent.
  virtual Status remove(const Path& path) = 0;
  // Calls `fn` for each entry of the folder `dir` except "." and "..", in no particular order.
  // `type` is Unknown where the listing does not say. NotFound if `dir` is missing.
  using ListFn = std::function<void(std::string_view name, FileType type)>;
  virtual Status list(const Path& dir, const ListFn& fn) = 0;
  // Makes the creates, renames and deletes inside `dir` durable (fsync of the folder).
  virtual Status syncDirectory(const Path& dir) = 0;
  // Makes everything written to the volume holding `path` durable (syncfs): one flush for a
  // batch of files. A file system with no such call flushes what it can, or does nothing.
  virtual Status syncVolume(const Path& path) = 0;
  // Bytes available to this process on the volume holding `path`.
  virtual Result<std::uint64_t> freeSpace(const Path& path) = 0;
  // Waits for an exclusive lock on the folder `dir` shared with every process using the same
  // folder (the CLI and the service on one library). Must not be taken twice by one thread.
  // Windows cannot lock a folder handle: there the lock is on the file `.pkgxfer-dirlock` inside
  // `dir`, made on first use and never deleted, so the folder must be writable then and the file
  // shows in list().
  virtual Result<std::unique_ptr<DirectoryLock>> lockDirectory(const Path& dir) = 0;
};

// Makes the folder `dir` and its missing parents, outermost first (mkdir -p). OK if it exists.
// Errors name the folder that could not be made.
Status makeDirectories(FileSystem& fs, const Path& dir);

// What tryLockFile() found: the lock (held while `file` lives), or, if another holder has it,
// what that holder wrote into the file (e.g. its pid; empty if it had not written it yet).
struct LockFileAttempt {
  std::unique_ptr<File> file;  // null: held by another
  std::string holder;          // with file null: the holder's text, at most 256 bytes
};

// Takes an exclusive lock on the lock file `path` without waiting (File::tryLock), creating the
// file if missing, and replaces its content with `holder` (e.g. a pid) so the next process to try
// can say who holds it. The lock is held until the returned file is closed or destroyed (also by
// the process dying: a lock left by a crash is free again). The file itself is never deleted: a
// deletion would let two processes lock two different files of one name. A symbolic link at
// `path` is refused. Errors name the call, the path and the cause.
Result<LockFileAttempt> tryLockFile(FileSystem& fs, const Path& path, std::string_view holder);

// Reads a whole small file (a manifest, a PkgLib entry, a certificate). InvalidArgument if it is
// not a regular file or larger than `max_size` (checked before anything is read, so a huge or
// sparse file costs nothing). `follow_links` false: a symbolic link at `path` is refused too
// (OpenMode::ReadRegular), as a content library reads its own files.
Result<std::string> readWholeFile(FileSystem& fs, const Path& path,
                                  std::uint64_t max_size = 1ull << 30, bool follow_links = true);

// A bearer token kept in a file (site.token_file, dp.token_file): its contents without surrounding
// whitespace (the trailing newline `echo` writes), at most 64 KiB. Errors name the file:
// NotFound/PermissionDenied/IoError as readWholeFile, InvalidArgument if it is empty.
Result<std::string> readTokenFile(FileSystem& fs, const Path& path);

}  // namespace pkgxfer::fs
