#include "pkgxfer/common/os_error.h"

#include <cerrno>
#include <cstring>

namespace pkgxfer {

std::string errnoText(int err) {
  std::string text = std::strerror(err);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = ::strerrorname_np(err)) {
    text += " (";
    text += name;
    text += ')';
  }
#endif
  return text;
}

Status errnoStatus(std::string_view op, std::string_view what, int err) {
  std::string msg(op);
  msg += ' ';
  msg += what;
  msg += ": ";
  msg += errnoText(err);
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
      return Status::PermissionDenied(std::move(msg));
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(std::move(msg));
    case EEXIST:
      return Status::AlreadyExists(std::move(msg));
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
#ifdef EHOSTDOWN  // not in Windows' C runtime
    case EHOSTDOWN:
#endif
    case ENETUNREACH:
    case ENETDOWN:
    case EPIPE:
      return Status::Unavailable(std::move(msg));
    default:
      return Status::IoError(std::move(msg));
  }
}

}  // namespace pkgxfer
