// process.h on Windows: the UTF-16 command line and module name, as UTF-8.

#include <windows.h>
// After windows.h, which it needs.
#include <shellapi.h>

#include "pkgxfer/common/os_error.h"
#include "pkgxfer/platform/process.h"
#include "win32_text.h"

namespace pkgxfer::platform {

std::vector<std::string> utf8Arguments(int argc, char** argv) {
  int n = 0;
  LPWSTR* wide = CommandLineToArgvW(GetCommandLineW(), &n);
  if (wide == nullptr) return std::vector<std::string>(argv, argv + argc);
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(toUtf8(wide[i]));
  LocalFree(wide);
  return out;
}

Result<std::filesystem::path> currentExecutable() {
  std::wstring buffer(MAX_PATH, L'\0');
  while (true) {
    const DWORD n = GetModuleFileNameW(nullptr, buffer.data(), static_cast<DWORD>(buffer.size()));
    if (n == 0) {
      return Status::IoError("GetModuleFileNameW: " +
                             systemErrorText(static_cast<int>(GetLastError())));
    }
    if (n < buffer.size()) {
      buffer.resize(n);
      return std::filesystem::path(buffer);
    }
    buffer.resize(buffer.size() * 2);  // truncated: a longer path
  }
}

int runWithUtf8Arguments(int argc, char** argv, int (*main_fn)(int, char**)) {
  std::vector<std::string> args = utf8Arguments(argc, argv);
  std::vector<char*> pointers;
  pointers.reserve(args.size() + 1);
  for (auto& a : args) pointers.push_back(a.data());
  pointers.push_back(nullptr);
  return main_fn(static_cast<int>(args.size()), pointers.data());
}

}  // namespace pkgxfer::platform
