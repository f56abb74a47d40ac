// log_file.h on Windows: CreateFileW with FILE_APPEND_DATA (every write lands at the end, as
// O_APPEND), shared for reading, writing and deleting so CMTrace can tail the file and an
// administrator can move it; MoveFileExW to rotate. Paths are the UTF-16 std::filesystem::path
// holds natively.

#include <windows.h>

#include <string>

#include "log_file.h"
#include "pkgxfer/common/os_error.h"

namespace pkgxfer::log_internal {
namespace {

std::string win32Text(DWORD code) { return systemErrorText(static_cast<int>(code)); }

HANDLE handleOf(LogFileHandle file) { return reinterpret_cast<HANDLE>(file); }

}  // namespace

LogFileHandle openLogFile(const std::filesystem::path& path, std::string* error) {
  // FILE_READ_ATTRIBUTES: GetFileSizeEx needs it, for the size rotation starts from.
  HANDLE h = CreateFileW(path.c_str(), FILE_APPEND_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                         OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    *error = win32Text(GetLastError());
    return kNoLogFile;
  }
  return reinterpret_cast<LogFileHandle>(h);
}

std::uint64_t logFileSize(LogFileHandle file) {
  LARGE_INTEGER size{};
  return GetFileSizeEx(handleOf(file), &size) && size.QuadPart > 0
             ? static_cast<std::uint64_t>(size.QuadPart)
             : 0;
}

bool appendLogFile(LogFileHandle file, const char* data, std::size_t size, std::string* error) {
  while (size > 0) {
    const DWORD chunk = size > (1u << 30) ? (1u << 30) : static_cast<DWORD>(size);
    DWORD written = 0;
    if (!WriteFile(handleOf(file), data, chunk, &written, nullptr)) {
      *error = win32Text(GetLastError());
      return false;
    }
    data += written;
    size -= written;
  }
  return true;
}

void closeLogFile(LogFileHandle file) { CloseHandle(handleOf(file)); }

RenameResult renameLogFile(const std::filesystem::path& from, const std::filesystem::path& to,
                           std::string* error) {
  if (MoveFileExW(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
    return RenameResult::Ok;
  }
  const DWORD code = GetLastError();
  if (code == ERROR_FILE_NOT_FOUND) return RenameResult::SourceMissing;
  *error = win32Text(code);
  return RenameResult::Failed;
}

}  // namespace pkgxfer::log_internal
