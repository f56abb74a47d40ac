// process.h on POSIX.

#include <system_error>

#include "pkgxfer/common/os_error.h"
#include "pkgxfer/platform/process.h"

namespace pkgxfer::platform {

std::vector<std::string> utf8Arguments(int argc, char** argv) {
  return std::vector<std::string>(argv, argv + argc);
}

Result<std::filesystem::path> currentExecutable() {
  std::error_code ec;
  auto exe = std::filesystem::canonical("/proc/self/exe", ec);
  if (ec) return errnoStatus("resolve", "/proc/self/exe", ec.value());
  return exe;
}

int runWithUtf8Arguments(int argc, char** argv, int (*main_fn)(int, char**)) {
  return main_fn(argc, argv);
}

}  // namespace pkgxfer::platform
