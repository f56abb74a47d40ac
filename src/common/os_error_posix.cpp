// systemErrorText() on POSIX, where the OS's codes are errno values (os_error.h).

#include "pkgxfer/common/os_error.h"

namespace pkgxfer {

std::string systemErrorText(int code) { return errnoText(code); }

}  // namespace pkgxfer
