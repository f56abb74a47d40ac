// The Win32 file system: FileSystem::local() on Windows, mirroring posix_file_system.cpp call for
// call. CMake builds this file instead of the POSIX one on Windows.
//
// Names. Inside pkgxfer names are UTF-8; Win32 takes UTF-16 (the W functions only, never the
// ANSI code page). A Path already holds UTF-16 on Windows (native() is a std::wstring), so the
// calls here take path.native() as it is, and only the names that come back from Windows (list(),
// error texts) are converted, with WideCharToMultiByte(CP_UTF8). The rule for every caller on
// Windows: build a Path from wide text or from UTF-8 as char8_t (std::u8string, u8"..."), never
// from a std::string holding non-ASCII UTF-8. libstdc++ (mingw-w64, GCC 12) converts a narrow
// std::string through the C locale, one byte to one UTF-16 unit ("\xc3\xa9" becomes U+00C3 U+00A9,
// not U+00E9), while path.string() converts back as UTF-8: the two do not round-trip. Paths made
// from char8_t text do.
//
// Long paths. Every path given to Win32 is first made absolute by GetFullPathNameW (which also
// turns '/' into '\' and resolves "." and "..", as Win32 always does) and then given the
// verbatim prefix \\?\ (\\?\UNC\ for \\server\share), so that paths longer than MAX_PATH (260)
// work without the LongPathsEnabled policy. Paths already verbatim (\\?\) or naming a device
// (\\.\) are used as they are.
//
// Sharing. Files are opened with FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, so that,
// as on POSIX, a file may be renamed or deleted while it is open. Windows still differs: the name
// of a file deleted while open stays taken until the last handle closes, and a rename that would
// replace a file open elsewhere fails with ERROR_ACCESS_DENIED (unless the volume uses POSIX
// delete/rename semantics, NTFS on Windows 10 1903 and later for DeleteFile).
//
// Reparse points. A symbolic link or junction (a "name surrogate" reparse point) is what POSIX
// calls a symbolic link: the modes that refuse links refuse these. Other reparse points (Data
// Deduplication, OneDrive, WOF-compressed files, all common on a DP's volume) are regular files
// whose data a file-system filter supplies; they are opened normally, never as reparse points,
// which would read the stub instead of the data.

#include <windows.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "pkgxfer/common/os_error.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::fs {
namespace {

// ---- text and errors ----------------------------------------------------------------------------

// UTF-16 from Windows as UTF-8. An unpaired surrogate (NTFS allows them in names) cannot be UTF-8:
// such a name comes back with U+FFFD in its place, printable but not usable to open the file.
std::string toUtf8(std::wstring_view wide) {
  if (wide.empty()) return {};
  const int wide_size = static_cast<int>(wide.size());
  DWORD flags = WC_ERR_INVALID_CHARS;
  int n =
      ::WideCharToMultiByte(CP_UTF8, flags, wide.data(), wide_size, nullptr, 0, nullptr, nullptr);
  if (n <= 0) {
    flags = 0;
    n = ::WideCharToMultiByte(CP_UTF8, flags, wide.data(), wide_size, nullptr, 0, nullptr, nullptr);
    if (n <= 0) return {};
  }
  std::string out(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, flags, wide.data(), wide_size, out.data(), n, nullptr, nullptr);
  return out;
}

// "There is not enough space on the disk (ERROR_DISK_FULL)": systemErrorText() (common/os_error.h).
std::string win32ErrorText(DWORD err) { return systemErrorText(static_cast<int>(err)); }

// "<op> <path>: <win32ErrorText>" with the kind chosen from the error, as errnoStatus() does for
// errno. A sharing or lock violation is IoError, not PermissionDenied: it is another program
// (an antivirus, a backup) holding the file for a while, not a refusal that retrying cannot fix.
// A name Windows cannot hold (ERROR_INVALID_NAME) is NotFound, as such a name simply does not
// exist on POSIX; a file where a folder is expected (ERROR_DIRECTORY) is NotFound like ENOTDIR.
Status win32Status(std::string_view op, std::string_view what, DWORD err) {
  std::string msg(op);
  msg += ' ';
  msg += what;
  msg += ": ";
  msg += win32ErrorText(err);
  switch (err) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
    case ERROR_DIRECTORY:
      return Status::NotFound(std::move(msg));
    case ERROR_ACCESS_DENIED:
    case ERROR_WRITE_PROTECT:
    case ERROR_PRIVILEGE_NOT_HELD:
    case ERROR_NETWORK_ACCESS_DENIED:
      return Status::PermissionDenied(std::move(msg));
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
      return Status::AlreadyExists(std::move(msg));
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_NET_NAME:
    case ERROR_NETNAME_DELETED:
    case ERROR_UNEXP_NET_ERR:
    case ERROR_REM_NOT_LIST:
    case ERROR_NETWORK_BUSY:
    case ERROR_DEV_NOT_EXIST:
    case ERROR_SEM_TIMEOUT:
    case ERROR_CONNECTION_REFUSED:
    case ERROR_CONNECTION_ABORTED:
    case ERROR_NETWORK_UNREACHABLE:
    case ERROR_HOST_UNREACHABLE:
    case ERROR_NOT_CONNECTED:
    case ERROR_NOT_READY:  // a removed disk or a share not mounted: may come back
      return Status::Unavailable(std::move(msg));
    default:
      return Status::IoError(std::move(msg));
  }
}

Status osError(std::string_view op, const Path& path, DWORD err) {
  return win32Status(op, displayPath(path), err);
}

Status lastError(std::string_view op, const Path& path) {
  return osError(op, path, ::GetLastError());
}

// ---- paths --------------------------------------------------------------------------------------

// The form of `path` Win32 calls take (see "Long paths" above).
std::wstring win32Path(const Path& path) {
  const std::wstring& in = path.native();
  if (in.starts_with(L"\\\\?\\") || in.starts_with(L"\\\\.\\")) return in;
  std::wstring full(std::max<std::size_t>(in.size() + 1, MAX_PATH), L'\0');
  DWORD n = ::GetFullPathNameW(in.c_str(), static_cast<DWORD>(full.size()), full.data(), nullptr);
  if (n >= full.size()) {
    full.resize(n);
    n = ::GetFullPathNameW(in.c_str(), static_cast<DWORD>(full.size()), full.data(), nullptr);
  }
  if (n == 0 || n >= full.size()) {  // not a path GetFullPathNameW knows: leave it to the call
    std::wstring out = in;
    std::replace(out.begin(), out.end(), L'/', L'\\');
    return out;
  }
  full.resize(n);
  if (full.starts_with(L"\\\\?\\") || full.starts_with(L"\\\\.\\")) return full;  // a device
  if (full.starts_with(L"\\\\")) return L"\\\\?\\UNC\\" + full.substr(2);
  return L"\\\\?\\" + full;
}

// A path as GetFinalPathNameByHandleW gives it, without the \\?\ prefix where a shorter form
// names the same file ("\\?\C:\x" is "C:\x", "\\?\UNC\s\share\x" is "\\s\share\x").
std::wstring withoutVerbatimPrefix(std::wstring p) {
  if (p.starts_with(L"\\\\?\\UNC\\")) return L"\\\\" + p.substr(8);
  if (p.size() >= 6 && p.starts_with(L"\\\\?\\") && p[5] == L':') return p.substr(4);
  return p;  // \\?\Volume{...}\: a volume without a drive letter
}

// ---- file information ---------------------------------------------------------------------------

constexpr DWORD kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

// A symbolic link or junction: what POSIX calls a symbolic link (see "Reparse points" above).
bool isLinkTag(DWORD reparse_tag) { return IsReparseTagNameSurrogate(reparse_tag); }

FileType typeOf(DWORD attributes, DWORD reparse_tag) {
  if ((attributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0 && isLinkTag(reparse_tag)) {
    return FileType::Symlink;
  }
  if ((attributes & FILE_ATTRIBUTE_DIRECTORY) != 0) return FileType::Directory;
  if ((attributes & FILE_ATTRIBUTE_DEVICE) != 0) return FileType::CharacterDevice;
  return FileType::Regular;
}

// FILETIME (100 ns ticks since 1601-01-01 UTC) as nanoseconds since the Unix epoch.
std::int64_t unixNanos(std::int64_t ticks) {
  constexpr std::int64_t kTicksFrom1601To1970 = 116'444'736'000'000'000;
  return (ticks - kTicksFrom1601To1970) * 100;
}

std::int64_t unixNanos(const FILETIME& t) {
  return unixNanos(
      static_cast<std::int64_t>((std::uint64_t{t.dwHighDateTime} << 32) | t.dwLowDateTime));
}

// The attributes and reparse tag of an open handle.
bool attributeTag(HANDLE h, FILE_ATTRIBUTE_TAG_INFO* out) {
  return ::GetFileInformationByHandleEx(h, FileAttributeTagInfo, out, sizeof *out) != 0;
}

Result<FileInfo> infoOfHandle(HANDLE h, const Path& path) {
  BY_HANDLE_FILE_INFORMATION bh;
  if (!::GetFileInformationByHandle(h, &bh)) return lastError("stat", path);
  FileInfo info;
  DWORD tag = 0;
  if ((bh.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0) {
    FILE_ATTRIBUTE_TAG_INFO at;
    if (attributeTag(h, &at)) tag = at.ReparseTag;
  }
  info.type = typeOf(bh.dwFileAttributes, tag);
  const DWORD kind = ::GetFileType(h);
  if (kind == FILE_TYPE_CHAR) info.type = FileType::CharacterDevice;
  if (kind == FILE_TYPE_PIPE) info.type = FileType::Fifo;
  info.size = (std::uint64_t{bh.nFileSizeHigh} << 32) | bh.nFileSizeLow;
  info.mtime_ns = unixNanos(bh.ftLastWriteTime);
  // NTFS keeps a change time (attributes, renames, links) like POSIX's ctime; FileBasicInfo has
  // it. 0 where the file system or Wine does not give it.
  FILE_BASIC_INFO basic;
  if (::GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof basic)) {
    info.ctime_ns = unixNanos(basic.ChangeTime.QuadPart);
  }
  info.mode = (bh.dwFileAttributes & FILE_ATTRIBUTE_READONLY) != 0 ? 0444 : 0644;
  if (info.type == FileType::Directory) info.mode |= 0111;
  info.volume = bh.dwVolumeSerialNumber;
  info.id = (std::uint64_t{bh.nFileIndexHigh} << 32) | bh.nFileIndexLow;
  return info;
}

Status notRegular(const Path& path, FileType type) {
  return Status::InvalidArgument(displayPath(path) + ": " + std::string(describe(type)) +
                                 ", not a regular file");
}

// Closes a handle when it goes out of scope.
class Handle {
 public:
  explicit Handle(HANDLE h = INVALID_HANDLE_VALUE) : h_(h) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : h_(std::exchange(other.h_, INVALID_HANDLE_VALUE)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      h_ = std::exchange(other.h_, INVALID_HANDLE_VALUE);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  bool valid() const { return h_ != INVALID_HANDLE_VALUE; }
  HANDLE get() const { return h_; }
  HANDLE release() { return std::exchange(h_, INVALID_HANDLE_VALUE); }
  void reset() {
    if (valid()) ::CloseHandle(std::exchange(h_, INVALID_HANDLE_VALUE));
  }

 private:
  HANDLE h_;
};

// For stat(), canonical() and the folder calls: no data access (works on a file another program
// holds), folders allowed (FILE_FLAG_BACKUP_SEMANTICS), links followed or not.
Handle openForMetadata(const std::wstring& name, bool follow_links) {
  DWORD flags = FILE_FLAG_BACKUP_SEMANTICS;
  if (!follow_links) flags |= FILE_FLAG_OPEN_REPARSE_POINT;
  return Handle(::CreateFileW(name.c_str(), FILE_READ_ATTRIBUTES, kShareAll, nullptr, OPEN_EXISTING,
                              flags, nullptr));
}

// ---- files --------------------------------------------------------------------------------------

// Byte-range locks on Windows are mandatory: a lock over the data would make other handles'
// reads fail, and tryLockFile() reads the holder's text from a file another process has locked.
// So a lock covers one byte far past any data instead of the whole file (as SQLite does).
constexpr DWORD kLockOffsetHigh = 0x40000000;  // byte 2^62

bool lockOneByte(HANDLE h, DWORD flags) {
  OVERLAPPED ov{};
  ov.OffsetHigh = kLockOffsetHigh;
  return ::LockFileEx(h, flags, 0, 1, 0, &ov) != 0;
}

void unlockOneByte(HANDLE h) {
  OVERLAPPED ov{};
  ov.OffsetHigh = kLockOffsetHigh;
  ::UnlockFileEx(h, 0, 1, 0, &ov);
}

OVERLAPPED at(std::uint64_t offset) {
  OVERLAPPED ov{};
  ov.Offset = static_cast<DWORD>(offset);
  ov.OffsetHigh = static_cast<DWORD>(offset >> 32);
  return ov;
}

// One ReadFile/WriteFile moves at most this much (its count is a DWORD).
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

class Win32File final : public File {
 public:
  Win32File(HANDLE h, Path path, bool writable)
      : h_(h), path_(std::move(path)), writable_(writable) {}
  ~Win32File() override { (void)close(); }

  const Path& path() const override { return path_; }

  // The handle is synchronous: ReadFile with an OVERLAPPED offset reads at that offset and
  // returns when done, so several threads may call this at once.
  Result<std::size_t> readAt(std::uint64_t offset, void* data, std::size_t size) override {
    char* p = static_cast<char*>(data);
    std::size_t done = 0;
    while (done < size) {
      OVERLAPPED ov = at(offset + done);
      DWORD n = 0;
      const auto chunk = static_cast<DWORD>(std::min(size - done, kMaxChunk));
      if (!::ReadFile(h_, p + done, chunk, &n, &ov)) {
        const DWORD err = ::GetLastError();
        if (err == ERROR_HANDLE_EOF) break;
        return osError("read", path_, err);
      }
      if (n == 0) break;
      done += n;
    }
    return done;
  }

  Status writeAt(std::uint64_t offset, const void* data, std::size_t size) override {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      OVERLAPPED ov = at(offset);
      DWORD n = 0;
      const auto chunk = static_cast<DWORD>(std::min(size, kMaxChunk));
      if (!::WriteFile(h_, p, chunk, &n, &ov)) return lastError("write", path_);
      if (n == 0) return osError("write", path_, ERROR_WRITE_FAULT);  // never loop for ever
      p += n;
      size -= n;
      offset += n;
    }
    return Status::Ok();
  }

  // FlushFileBuffers needs write access, and fdatasync does not: a file opened for reading (the
  // library reopens a finished upload with ReadRegular to sync it) is flushed through a second,
  // writable handle to the same file (ReOpenFile), so the same data reaches the disk.
  Status sync() override {
    if (writable_) {
      if (!::FlushFileBuffers(h_)) return lastError("flush", path_);
      return Status::Ok();
    }
    Handle writable(::ReOpenFile(h_, GENERIC_WRITE, kShareAll, 0));
    if (!writable.valid()) return lastError("flush", path_);
    if (!::FlushFileBuffers(writable.get())) return lastError("flush", path_);
    return Status::Ok();
  }

  Status truncate(std::uint64_t size) override {
    FILE_END_OF_FILE_INFO eof;
    eof.EndOfFile.QuadPart = static_cast<LONGLONG>(size);
    if (!::SetFileInformationByHandle(h_, FileEndOfFileInfo, &eof, sizeof eof)) {
      return lastError("truncate", path_);
    }
    return Status::Ok();
  }

  Result<FileInfo> info() override { return infoOfHandle(h_, path_); }

  Result<bool> tryLock() override {
    if (lockOneByte(h_, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY)) {
      locked_ = true;
      return true;
    }
    const DWORD err = ::GetLastError();
    if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING) return false;
    return osError("lock", path_, err);
  }

  // startWriteback, dropCache and adviseSequential: no Win32 equivalent on an open handle (the
  // cache manager reads ahead by itself); the defaults do nothing.

  Status close() override {
    if (h_ == INVALID_HANDLE_VALUE) return Status::Ok();
    const HANDLE h = std::exchange(h_, INVALID_HANDLE_VALUE);
    // Windows frees a closed handle's locks "when resources allow"; unlock now so the next
    // process to try gets the lock at once.
    if (locked_) unlockOneByte(h);
    if (!::CloseHandle(h)) return lastError("close", path_);
    return Status::Ok();
  }

 private:
  HANDLE h_;
  const Path path_;
  const bool writable_;
  bool locked_ = false;
};

class Win32DirectoryLock final : public DirectoryLock {
 public:
  explicit Win32DirectoryLock(Handle h) : h_(std::move(h)) {}
  ~Win32DirectoryLock() override { unlockOneByte(h_.get()); }  // then h_ closes

 private:
  Handle h_;
};

// The file lockDirectory() locks inside the folder (a folder handle cannot be locked).
constexpr wchar_t kDirectoryLockName[] = L".pkgxfer-dirlock";

class Win32FileSystem final : public FileSystem {
 public:
  std::string display(const Path& path) const override { return displayPath(path); }

  Result<std::unique_ptr<File>> open(const Path& path, OpenMode mode) override {
    const std::wstring name = win32Path(path);
    if (mode == OpenMode::CreateNew) {
      // CREATE_NEW fails on any name that is taken, a link (dangling or not) included.
      HANDLE h = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, kShareAll, nullptr,
                               CREATE_NEW, FILE_ATTRIBUTE_NORMAL, nullptr);
      if (h == INVALID_HANDLE_VALUE) return lastError("create", path);
      return std::unique_ptr<File>(std::make_unique<Win32File>(h, path, true));
    }
    const bool writable = mode == OpenMode::ReadWrite;
    const DWORD access = writable ? GENERIC_READ | GENERIC_WRITE : GENERIC_READ;
    // A folder needs FILE_FLAG_BACKUP_SEMANTICS to open at all: with it, Read opens one as POSIX
    // does and ReadRegular can say "a folder". ReadWrite leaves it out (a folder then fails with
    // ERROR_ACCESS_DENIED, looked at below).
    const DWORD folder_flag = writable ? 0 : FILE_FLAG_BACKUP_SEMANTICS;
    if (mode == OpenMode::Read) {
      HANDLE h = ::CreateFileW(name.c_str(), access, kShareAll, nullptr, OPEN_EXISTING,
                               FILE_ATTRIBUTE_NORMAL | folder_flag, nullptr);
      if (h == INVALID_HANDLE_VALUE) return lastError("open", path);
      return std::unique_ptr<File>(std::make_unique<Win32File>(h, path, false));
    }

    // ReadRegular, ReadWrite: open the name itself, not what a link there points to.
    Handle h(::CreateFileW(name.c_str(), access, kShareAll, nullptr, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL | folder_flag | FILE_FLAG_OPEN_REPARSE_POINT,
                           nullptr));
    if (!h.valid()) {
      const DWORD err = ::GetLastError();
      if (err == ERROR_ACCESS_DENIED) {  // a folder opened for writing, say so
        const DWORD attributes = ::GetFileAttributesW(name.c_str());
        if (attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY) != 0) {
          return notRegular(path, (attributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0
                                      ? FileType::Symlink
                                      : FileType::Directory);
        }
      }
      return osError("open", path, err);
    }
    FILE_ATTRIBUTE_TAG_INFO at;
    if (!attributeTag(h.get(), &at)) return lastError("stat", path);
    if ((at.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0) {
      if (isLinkTag(at.ReparseTag)) return notRegular(path, FileType::Symlink);
      // Another kind of reparse point (deduplicated, cloud, compressed): open its data, and
      // make sure the name was not replaced by a link in between.
      PKGXFER_ASSIGN_OR_RETURN(FileInfo first, infoOfHandle(h.get(), path));
      Handle data(::CreateFileW(name.c_str(), access, kShareAll, nullptr, OPEN_EXISTING,
                                FILE_ATTRIBUTE_NORMAL | folder_flag, nullptr));
      if (!data.valid()) return lastError("open", path);
      PKGXFER_ASSIGN_OR_RETURN(FileInfo second, infoOfHandle(data.get(), path));
      if (!first.sameFile(second)) {
        return Status::IoError("open " + displayPath(path) + ": replaced while being opened");
      }
      h = std::move(data);
    }
    const FileType type = typeOf(at.FileAttributes, 0);
    if (type != FileType::Regular) return notRegular(path, type);
    if (::GetFileType(h.get()) != FILE_TYPE_DISK) {
      return notRegular(path, ::GetFileType(h.get()) == FILE_TYPE_PIPE ? FileType::Fifo
                                                                       : FileType::CharacterDevice);
    }
    return std::unique_ptr<File>(std::make_unique<Win32File>(h.release(), path, writable));
  }

  Result<FileInfo> stat(const Path& path, bool follow_links) override {
    Handle h = openForMetadata(win32Path(path), follow_links);
    if (!h.valid()) return lastError("stat", path);
    return infoOfHandle(h.get(), path);
  }

  Result<Path> canonical(const Path& path) override {
    Handle h = openForMetadata(win32Path(path), true);
    if (!h.valid()) return lastError("resolve", path);
    std::wstring out(MAX_PATH, L'\0');
    constexpr DWORD kFlags = FILE_NAME_NORMALIZED | VOLUME_NAME_DOS;
    DWORD n = 0;
    while (true) {
      n = ::GetFinalPathNameByHandleW(h.get(), out.data(), static_cast<DWORD>(out.size()), kFlags);
      if (n > 0 && n < out.size()) break;
      // Too small: Windows returns the size needed (with the terminating null). Wine 8 returns 0
      // with ERROR_MORE_DATA instead, and for a name longer than MAX_PATH whatever the buffer
      // (its own is fixed): there this ends in ERROR_FILENAME_EXCED_RANGE.
      if (n == 0 && ::GetLastError() != ERROR_MORE_DATA) return lastError("resolve", path);
      if (out.size() >= 65536) return osError("resolve", path, ERROR_FILENAME_EXCED_RANGE);
      out.resize(std::max<std::size_t>(n, out.size() * 2));
    }
    out.resize(n);
    return Path(withoutVerbatimPrefix(std::move(out)));
  }

  Result<bool> makeDirectory(const Path& path) override {
    if (::CreateDirectoryW(win32Path(path).c_str(), nullptr)) return true;
    const DWORD err = ::GetLastError();
    if (err == ERROR_ALREADY_EXISTS) return false;
    return osError("create folder", path, err);
  }

  // MOVEFILE_WRITE_THROUGH: returns once the rename is on disk, which is what syncDirectory()
  // does on POSIX (and cannot do here).
  Status rename(const Path& from, const Path& to) override {
    if (!::MoveFileExW(win32Path(from).c_str(), win32Path(to).c_str(),
                       MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
      return lastError("rename " + displayPath(from) + " to", to);
    }
    return Status::Ok();
  }

  Status remove(const Path& path) override {
    const std::wstring name = win32Path(path);
    if (::DeleteFileW(name.c_str())) return Status::Ok();
    const DWORD err = ::GetLastError();
    // A link to a folder (a directory symlink or junction) is a folder to DeleteFileW; unlink()
    // deletes such a link, and RemoveDirectoryW does (never what it points to).
    if (err == ERROR_ACCESS_DENIED) {
      const DWORD attributes = ::GetFileAttributesW(name.c_str());
      constexpr DWORD kFolderLink = FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT;
      if (attributes != INVALID_FILE_ATTRIBUTES && (attributes & kFolderLink) == kFolderLink &&
          ::RemoveDirectoryW(name.c_str())) {
        return Status::Ok();
      }
    }
    return osError("delete", path, err);
  }

  Status list(const Path& dir, const ListFn& fn) override {
    const std::wstring name = win32Path(dir);
    WIN32_FIND_DATAW data;
    HANDLE find = ::FindFirstFileExW((name + L"\\*").c_str(), FindExInfoBasic, &data,
                                     FindExSearchNameMatch, nullptr, FIND_FIRST_EX_LARGE_FETCH);
    if (find == INVALID_HANDLE_VALUE) {
      const DWORD err = ::GetLastError();
      // No match at all: only a drive's root can be empty (other folders hold "." and "..").
      if (err == ERROR_FILE_NOT_FOUND) {
        const DWORD attributes = ::GetFileAttributesW(name.c_str());
        if (attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY) != 0) {
          return Status::Ok();
        }
      }
      return osError("open folder", dir, err);
    }
    Status status;
    do {
      const std::wstring_view entry(data.cFileName);
      if (entry == L"." || entry == L"..") continue;
      // dwReserved0 holds the reparse tag when the entry is a reparse point.
      fn(toUtf8(entry), typeOf(data.dwFileAttributes, data.dwReserved0));
    } while (::FindNextFileW(find, &data));
    const DWORD err = ::GetLastError();
    if (err != ERROR_NO_MORE_FILES) status = osError("read folder", dir, err);
    ::FindClose(find);
    return status;
  }

  // Windows cannot flush a folder (FlushFileBuffers on a folder handle is refused); the renames
  // the library makes durable this way are made with MOVEFILE_WRITE_THROUGH instead, and NTFS
  // journals creates and deletes. Only checks that the folder is there, as POSIX would.
  Status syncDirectory(const Path& dir) override {
    const DWORD attributes = ::GetFileAttributesW(win32Path(dir).c_str());
    if (attributes == INVALID_FILE_ATTRIBUTES) return lastError("open folder", dir);
    return Status::Ok();
  }

  // FlushFileBuffers on a volume handle flushes every file on it, but opening the volume for
  // writing needs administrator rights (the service, as LocalSystem, has them). Without them, or
  // on a share (no volume handle), this does nothing and returns OK, as the contract allows: the
  // caller's data is then durable only when Windows writes it back (a file's own sync() still
  // works).
  Status syncVolume(const Path& path) override {
    const std::wstring name = win32Path(path);
    std::wstring mount(name.size() + 2, L'\0');
    if (!::GetVolumePathNameW(name.c_str(), mount.data(), static_cast<DWORD>(mount.size()))) {
      return lastError("find volume of", path);
    }
    mount.resize(std::wcslen(mount.c_str()));
    if (!mount.ends_with(L'\\')) mount += L'\\';
    wchar_t volume[MAX_PATH];
    if (!::GetVolumeNameForVolumeMountPointW(mount.c_str(), volume, MAX_PATH)) {
      return Status::Ok();  // a share, or a volume Windows does not name: nothing to flush
    }
    std::wstring device(volume);
    if (device.ends_with(L'\\')) device.pop_back();  // "\\?\Volume{...}": the volume itself
    Handle h(::CreateFileW(device.c_str(), GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr, OPEN_EXISTING, 0, nullptr));
    if (!h.valid()) {
      const DWORD err = ::GetLastError();
      if (err == ERROR_ACCESS_DENIED || err == ERROR_PRIVILEGE_NOT_HELD) return Status::Ok();
      return osError("open volume of", path, err);
    }
    if (!::FlushFileBuffers(h.get())) {
      const DWORD err = ::GetLastError();
      if (err == ERROR_ACCESS_DENIED || err == ERROR_INVALID_FUNCTION) return Status::Ok();
      return osError("flush volume of", path, err);
    }
    return Status::Ok();
  }

  Result<std::uint64_t> freeSpace(const Path& path) override {
    ULARGE_INTEGER available;  // to this caller: quotas count
    if (!::GetDiskFreeSpaceExW(win32Path(path).c_str(), &available, nullptr, nullptr)) {
      return lastError("free space of", path);
    }
    return static_cast<std::uint64_t>(available.QuadPart);
  }

  // A folder handle cannot be locked: this locks the file .pkgxfer-dirlock inside `dir`, made on
  // first use and never deleted (a deletion would let two processes lock two files of one name).
  // Unlike POSIX, the folder must be writable the first time, and the file shows in listings.
  Result<std::unique_ptr<DirectoryLock>> lockDirectory(const Path& dir) override {
    const std::wstring name = win32Path(dir) + L"\\" + kDirectoryLockName;
    Handle h(::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, kShareAll, nullptr,
                           OPEN_ALWAYS, FILE_ATTRIBUTE_HIDDEN, nullptr));
    if (!h.valid()) return lastError("open folder lock in", dir);
    if (!lockOneByte(h.get(), LOCKFILE_EXCLUSIVE_LOCK)) return lastError("lock folder", dir);
    return std::unique_ptr<DirectoryLock>(std::make_unique<Win32DirectoryLock>(std::move(h)));
  }
};

}  // namespace

FileSystem& FileSystem::local() {
  static Win32FileSystem* fs = new Win32FileSystem();  // never destroyed: used until exit
  return *fs;
}

}  // namespace pkgxfer::fs
