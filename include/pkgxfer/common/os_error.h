#pragma once

// OS errors (errno) as text and as Status: the one place an errno becomes words, so every module
// reports "open /x: Permission denied (EACCES)" the same way. Thread-safe.

#include <string>
#include <string_view>

#include "pkgxfer/common/status.h"

namespace pkgxfer {

// "Permission denied (EACCES)": the text an administrator reads plus the name to search for.
std::string errnoText(int err);

// "<op> <what>: <errnoText>" with the kind chosen from errno: EACCES/EPERM/EROFS →
// PermissionDenied, ENOENT/ENOTDIR → NotFound, EEXIST → AlreadyExists, a peer that cannot be
// reached or went away (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ...) → Unavailable,
// everything else IoError. `what` is usually a path,
// already made printable by the caller.
Status errnoStatus(std::string_view op, std::string_view what, int err);

// The OS's own error codes as words: errno values on POSIX (errnoText), Win32 and Winsock codes
// (GetLastError, WSAGetLastError; what Asio's system_category holds there) on Windows:
// "No connection could be made because the target machine actively refused it (error 10061)".
// One implementation per OS, chosen by file (os_error_posix.cpp, os_error_windows.cpp).
std::string systemErrorText(int code);

}  // namespace pkgxfer
