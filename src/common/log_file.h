#pragma once

// Private to common/: the few file calls a log sink makes, one implementation per OS chosen by
// file in CMake (log_file_posix.cpp, log_file_windows.cpp). The log cannot use the fs module's
// seam: fs is built on common, and the log must work before anything else exists.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace pkgxfer::log_internal {

// An open log file, -1 when closed. Every write appends, also when another process appends too.
using LogFileHandle = std::intptr_t;
inline constexpr LogFileHandle kNoLogFile = -1;

// Opens (creating it if missing) `path` for appending. kNoLogFile with `*error` set on failure
// ("Permission denied (EACCES)").
LogFileHandle openLogFile(const std::filesystem::path& path, std::string* error);
// The file's current size; 0 if it cannot be read.
std::uint64_t logFileSize(LogFileHandle file);
// Appends all `size` bytes. False with `*error` set on failure.
bool appendLogFile(LogFileHandle file, const char* data, std::size_t size, std::string* error);
void closeLogFile(LogFileHandle file);

enum class RenameResult { Ok, SourceMissing, Failed };
// Renames `from` to `to`, replacing `to` if it exists. With Failed, `*error` says why.
RenameResult renameLogFile(const std::filesystem::path& from, const std::filesystem::path& to,
                           std::string* error);

}  // namespace pkgxfer::log_internal
