# The dependencies of the Windows build (scripts/build-windows.sh), under the same target names
# the Linux build gets from find_package, so no module's CMakeLists knows which build it is in:
#   - header-only libraries (Boost.Asio/Beast, nlohmann/json, CLI11, spdlog, fmt) from Debian's
#     headers, through PKGXFER_WINDOWS_DEPS/include, which holds only them (never /usr/include,
#     whose glibc headers would shadow mingw's);
#   - SQLite compiled in from the amalgamation the script made from Debian's sqlite3 source
#     package (PKGXFER_WINDOWS_DEPS/sqlite: sqlite3.c, sqlite3.h, VERSION);
#   - SHA-256 from Windows CNG (bcrypt), in src/content; no OpenSSL, so no TLS (PKGXFER_WITH_TLS
#     is off and config refuses https:// and `tls` blocks);
#   - SMB DPs through their UNC path and the Win32 file system (src/transport).
if(NOT PKGXFER_WINDOWS_DEPS OR NOT EXISTS "${PKGXFER_WINDOWS_DEPS}/include/boost")
  message(FATAL_ERROR "The Windows build needs -DPKGXFER_WINDOWS_DEPS=<folder>, which "
                      "scripts/build-windows.sh prepares (include/ and sqlite/)")
endif()
set(deps_include "${PKGXFER_WINDOWS_DEPS}/include")

add_library(Boost::headers INTERFACE IMPORTED)
# Windows 10 API level; Asio's sockets need Winsock.
target_compile_definitions(Boost::headers INTERFACE _WIN32_WINNT=0x0A00 WINVER=0x0A00
                           WIN32_LEAN_AND_MEAN NOMINMAX)
target_include_directories(Boost::headers SYSTEM INTERFACE "${deps_include}")
target_link_libraries(Boost::headers INTERFACE ws2_32 mswsock)

add_library(fmt::fmt INTERFACE IMPORTED)
target_compile_definitions(fmt::fmt INTERFACE FMT_HEADER_ONLY)
target_include_directories(fmt::fmt SYSTEM INTERFACE "${deps_include}")

add_library(spdlog::spdlog INTERFACE IMPORTED)
target_include_directories(spdlog::spdlog SYSTEM INTERFACE "${deps_include}")
target_link_libraries(spdlog::spdlog INTERFACE fmt::fmt)

add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
target_include_directories(nlohmann_json::nlohmann_json SYSTEM INTERFACE "${deps_include}")

add_library(CLI11::CLI11 INTERFACE IMPORTED)
target_include_directories(CLI11::CLI11 SYSTEM INTERFACE "${deps_include}")

enable_language(C)  # sqlite3.c
set(sqlite_dir "${PKGXFER_WINDOWS_DEPS}/sqlite")
file(READ "${sqlite_dir}/VERSION" sqlite_version)
string(STRIP "${sqlite_version}" sqlite_version)
message(STATUS "pkgxfer: SQLite compiled in from ${sqlite_dir}: ${sqlite_version}")
add_library(pkgxfer_sqlite3 STATIC "${sqlite_dir}/sqlite3.c")
target_include_directories(pkgxfer_sqlite3 SYSTEM PUBLIC "${sqlite_dir}")
# Serialized threading, as Debian's libsqlite3 (the store opens connections with NOMUTEX and keeps
# each on one strand); no extension loading, which pkgxfer never does.
target_compile_definitions(pkgxfer_sqlite3 PRIVATE SQLITE_THREADSAFE=1 SQLITE_OMIT_LOAD_EXTENSION)
target_compile_options(pkgxfer_sqlite3 PRIVATE -w)
add_library(SQLite::SQLite3 ALIAS pkgxfer_sqlite3)

# Googletest from Debian's sources (/usr/src/googletest), for tests/windows.
if(PKGXFER_BUILD_TESTS)
  set(gtest_src /usr/src/googletest/googletest)
  add_library(pkgxfer_win_gtest STATIC ${gtest_src}/src/gtest-all.cc ${gtest_src}/src/gtest_main.cc)
  target_include_directories(pkgxfer_win_gtest SYSTEM PUBLIC ${gtest_src}/include
                             PRIVATE ${gtest_src})
  target_compile_features(pkgxfer_win_gtest PUBLIC cxx_std_20)
  add_library(GTest::gtest ALIAS pkgxfer_win_gtest)
endif()
