#pragma once

// The process as the OS shows it: its arguments and its executable. One implementation per OS,
// chosen by file (process_posix.cpp, process_windows.cpp).

#include <filesystem>
#include <string>
#include <vector>

#include "pkgxfer/common/status.h"

namespace pkgxfer::platform {

// The program's arguments as UTF-8, argv[0] first. POSIX: argv as it is. Windows: decoded from the
// UTF-16 command line (GetCommandLineW), since argv there is in the ANSI code page and loses every
// character outside it.
std::vector<std::string> utf8Arguments(int argc, char** argv);

// The running executable's absolute path (/proc/self/exe; GetModuleFileNameW).
Result<std::filesystem::path> currentExecutable();

// Runs `main_fn` with utf8Arguments() as a C-style argc/argv (for CLI11) and returns its code.
int runWithUtf8Arguments(int argc, char** argv, int (*main_fn)(int, char**));

}  // namespace pkgxfer::platform
