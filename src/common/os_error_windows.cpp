// systemErrorText() on Windows: FormatMessageW's text for a Win32 or Winsock code, in UTF-8
// (os_error.h).

#include <windows.h>

#include "pkgxfer/common/os_error.h"

namespace pkgxfer {
namespace {

// The symbolic name of the Win32 errors a program meets (file systems, shares, sockets), for an
// administrator to search for.
const char* win32ErrorName(DWORD err) {
  switch (err) {
#define PKGXFER_WIN32_ERROR(name) \
  case name:                      \
    return #name;
    PKGXFER_WIN32_ERROR(ERROR_FILE_NOT_FOUND)
    PKGXFER_WIN32_ERROR(ERROR_PATH_NOT_FOUND)
    PKGXFER_WIN32_ERROR(ERROR_ACCESS_DENIED)
    PKGXFER_WIN32_ERROR(ERROR_INVALID_HANDLE)
    PKGXFER_WIN32_ERROR(ERROR_NOT_ENOUGH_MEMORY)
    PKGXFER_WIN32_ERROR(ERROR_INVALID_DRIVE)
    PKGXFER_WIN32_ERROR(ERROR_WRITE_PROTECT)
    PKGXFER_WIN32_ERROR(ERROR_NOT_READY)
    PKGXFER_WIN32_ERROR(ERROR_CRC)
    PKGXFER_WIN32_ERROR(ERROR_WRITE_FAULT)
    PKGXFER_WIN32_ERROR(ERROR_READ_FAULT)
    PKGXFER_WIN32_ERROR(ERROR_SHARING_VIOLATION)
    PKGXFER_WIN32_ERROR(ERROR_LOCK_VIOLATION)
    PKGXFER_WIN32_ERROR(ERROR_HANDLE_DISK_FULL)
    PKGXFER_WIN32_ERROR(ERROR_NOT_SUPPORTED)
    PKGXFER_WIN32_ERROR(ERROR_REM_NOT_LIST)
    PKGXFER_WIN32_ERROR(ERROR_BAD_NETPATH)
    PKGXFER_WIN32_ERROR(ERROR_NETWORK_BUSY)
    PKGXFER_WIN32_ERROR(ERROR_DEV_NOT_EXIST)
    PKGXFER_WIN32_ERROR(ERROR_UNEXP_NET_ERR)
    PKGXFER_WIN32_ERROR(ERROR_NETNAME_DELETED)
    PKGXFER_WIN32_ERROR(ERROR_NETWORK_ACCESS_DENIED)
    PKGXFER_WIN32_ERROR(ERROR_BAD_NET_NAME)
    PKGXFER_WIN32_ERROR(ERROR_FILE_EXISTS)
    PKGXFER_WIN32_ERROR(ERROR_INVALID_PARAMETER)
    PKGXFER_WIN32_ERROR(ERROR_DISK_FULL)
    PKGXFER_WIN32_ERROR(ERROR_SEM_TIMEOUT)
    PKGXFER_WIN32_ERROR(ERROR_INVALID_NAME)
    PKGXFER_WIN32_ERROR(ERROR_DIR_NOT_EMPTY)
    PKGXFER_WIN32_ERROR(ERROR_BAD_PATHNAME)
    PKGXFER_WIN32_ERROR(ERROR_ALREADY_EXISTS)
    PKGXFER_WIN32_ERROR(ERROR_FILENAME_EXCED_RANGE)
    PKGXFER_WIN32_ERROR(ERROR_DIRECTORY)
    PKGXFER_WIN32_ERROR(ERROR_DELETE_PENDING)
    PKGXFER_WIN32_ERROR(ERROR_CANT_ACCESS_FILE)
    PKGXFER_WIN32_ERROR(ERROR_CANT_RESOLVE_FILENAME)
    PKGXFER_WIN32_ERROR(ERROR_NOT_A_REPARSE_POINT)
    PKGXFER_WIN32_ERROR(ERROR_PRIVILEGE_NOT_HELD)
    PKGXFER_WIN32_ERROR(ERROR_CONNECTION_REFUSED)
    PKGXFER_WIN32_ERROR(ERROR_CONNECTION_ABORTED)
    PKGXFER_WIN32_ERROR(ERROR_NETWORK_UNREACHABLE)
    PKGXFER_WIN32_ERROR(ERROR_HOST_UNREACHABLE)
    PKGXFER_WIN32_ERROR(ERROR_NOT_CONNECTED)
    PKGXFER_WIN32_ERROR(ERROR_IO_DEVICE)
#undef PKGXFER_WIN32_ERROR
    default:
      return nullptr;
  }
}

}  // namespace

std::string systemErrorText(int code) {
  wchar_t* buffer = nullptr;
  const DWORD n = FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, static_cast<DWORD>(code), 0, reinterpret_cast<LPWSTR>(&buffer), 0, nullptr);
  std::string text;
  if (n > 0) {
    const int len =
        WideCharToMultiByte(CP_UTF8, 0, buffer, static_cast<int>(n), nullptr, 0, nullptr, nullptr);
    text.resize(static_cast<std::size_t>(len));
    WideCharToMultiByte(CP_UTF8, 0, buffer, static_cast<int>(n), text.data(), len, nullptr,
                        nullptr);
  }
  if (buffer != nullptr) LocalFree(buffer);
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == '.' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.empty()) text = "Windows error";
  // The name (or the number) to search for: "... (ERROR_DISK_FULL)".
  if (const char* name = win32ErrorName(static_cast<DWORD>(code))) return text + " (" + name + ")";
  return text + " (error " + std::to_string(code) + ")";
}

}  // namespace pkgxfer
