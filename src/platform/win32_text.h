#pragma once

// Private to platform/ on Windows: UTF-8 inside, UTF-16 at every Win32 call.

#include <string>
#include <string_view>

namespace pkgxfer::platform {

std::wstring toUtf16(std::string_view utf8);
std::string toUtf8(std::wstring_view utf16);

}  // namespace pkgxfer::platform
