#pragma once

// What a hostile or careless user can leave in a DP's content library where a manifest, a body or
// a temporary file should be: a FIFO, a bound unix socket, a symbolic link (to a file outside), a
// huge sparse file. Each plant* call replaces whatever is at `path` and fails the test if the OS
// refuses.

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace pkgxfer::testing {

enum class Hostile { Fifo, Socket, Symlink, Sparse };

// The kind's name, for test names and traces.
inline const char* toString(Hostile kind) {
  constexpr const char* kNames[] = {"FIFO", "socket", "symlink", "sparse"};
  return kNames[static_cast<int>(kind)];
}

// The words the file system seam uses for what is there (fs::describe), or for a file too big.
inline const char* describedAs(Hostile kind) {
  constexpr const char* kWords[] = {"a FIFO", "a socket", "a symbolic link", "more than the"};
  return kWords[static_cast<int>(kind)];
}

// 1 TiB: no manifest or body of a test is anywhere near it, and it costs no disk (sparse).
inline constexpr std::uint64_t kHugeSparseSize = std::uint64_t{1} << 40;

inline void clearName(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::filesystem::create_directories(path.parent_path(), ec);
}

inline void plantFifo(const std::filesystem::path& path) {
  clearName(path);
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0) << path;
}

// A unix socket bound at `path`; closed again at once (the socket file stays, and opening it fails
// with ENXIO as opening a live one does). A path longer than a socket address holds (a body's, in
// a temporary folder) is bound by its name from inside its folder.
inline void plantSocket(const std::filesystem::path& path) {
  clearName(path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const bool relative = path.native().size() >= sizeof(addr.sun_path);
  const std::string name = relative ? path.filename().native() : path.native();
  ASSERT_LT(name.size(), sizeof(addr.sun_path)) << "name too long for a socket: " << path;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", name.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  const int cwd = relative ? ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (relative) {
    ASSERT_EQ(::chdir(path.parent_path().c_str()), 0) << path;
  }
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (relative) {
    ASSERT_EQ(::fchdir(cwd), 0);
    ::close(cwd);
  }
  ::close(fd);
  ASSERT_EQ(rc, 0) << path;
}

inline void plantSymlink(const std::filesystem::path& path, const std::filesystem::path& target) {
  clearName(path);
  std::filesystem::create_symlink(target, path);
}

// A regular file of `size` bytes that holds no data (ftruncate).
inline void plantSparse(const std::filesystem::path& path, std::uint64_t size = kHugeSparseSize) {
  clearName(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  const int rc = ::ftruncate(fd, static_cast<off_t>(size));
  ::close(fd);
  ASSERT_EQ(rc, 0) << "ftruncate " << path << " to " << size;
}

// Plants `kind` at `path`; a symlink points to `outside` (which the caller made).
inline void plant(Hostile kind, const std::filesystem::path& path,
                  const std::filesystem::path& outside) {
  switch (kind) {
    case Hostile::Fifo:
      plantFifo(path);
      break;
    case Hostile::Socket:
      plantSocket(path);
      break;
    case Hostile::Symlink:
      plantSymlink(path, outside);
      break;
    case Hostile::Sparse:
      plantSparse(path);
      break;
  }
}

}  // namespace pkgxfer::testing
