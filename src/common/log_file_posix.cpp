// log_file.h on POSIX: open(2) with O_APPEND, write(2), rename(2).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "log_file.h"
#include "pkgxfer/common/os_error.h"

namespace pkgxfer::log_internal {

LogFileHandle openLogFile(const std::filesystem::path& path, std::string* error) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) *error = errnoText(errno);
  return fd < 0 ? kNoLogFile : LogFileHandle{fd};
}

std::uint64_t logFileSize(LogFileHandle file) {
  struct stat st {};
  return ::fstat(static_cast<int>(file), &st) == 0 && st.st_size > 0
             ? static_cast<std::uint64_t>(st.st_size)
             : 0;
}

bool appendLogFile(LogFileHandle file, const char* data, std::size_t size, std::string* error) {
  while (size > 0) {
    const ssize_t n = ::write(static_cast<int>(file), data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = errnoText(errno);
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void closeLogFile(LogFileHandle file) { ::close(static_cast<int>(file)); }

RenameResult renameLogFile(const std::filesystem::path& from, const std::filesystem::path& to,
                           std::string* error) {
  if (::rename(from.c_str(), to.c_str()) == 0) return RenameResult::Ok;
  if (errno == ENOENT) return RenameResult::SourceMissing;
  *error = errnoText(errno);
  return RenameResult::Failed;
}

}  // namespace pkgxfer::log_internal
