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

}  // namespace pkgxfer
