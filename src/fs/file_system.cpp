#include "pkgxfer/fs/file_system.h"

#include <string>
#include <vector>

namespace pkgxfer::fs {

std::string_view describe(FileType type) {
  switch (type) {
    case FileType::Regular:
      return "a regular file";
    case FileType::Directory:
      return "a folder";
    case FileType::Symlink:
      return "a symbolic link";
    case FileType::Fifo:
      return "a FIFO";
    case FileType::Socket:
      return "a socket";
    case FileType::CharacterDevice:
      return "a character device";
    case FileType::BlockDevice:
      return "a block device";
    case FileType::Unknown:
      break;
  }
  return "not a regular file";
}

Status makeDirectories(FileSystem& fs, const Path& dir) {
  std::vector<Path> missing;
  for (Path p = dir; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (fs.stat(p).ok()) break;
    missing.push_back(p);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    PKGXFER_RETURN_IF_ERROR(fs.makeDirectory(*it).status());
  }
  return Status::Ok();
}

Result<LockFileAttempt> tryLockFile(FileSystem& fs, const Path& path, std::string_view holder) {
  // Open the existing file, or create it; another process may create it between the two.
  std::unique_ptr<File> file;
  for (int attempt = 0; !file; ++attempt) {
    auto opened = fs.open(path, OpenMode::ReadWrite);
    if (!opened.ok() && opened.status().code() == Status::Code::NotFound) {
      opened = fs.open(path, OpenMode::CreateNew);
      if (!opened.ok() && opened.status().code() == Status::Code::AlreadyExists && attempt < 8) {
        continue;
      }
    }
    if (!opened.ok()) return opened.status();
    file = std::move(*opened);
  }
  PKGXFER_ASSIGN_OR_RETURN(bool locked, file->tryLock());
  LockFileAttempt out;
  if (!locked) {
    char text[256];
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n, file->readAt(0, text, sizeof text));
    out.holder.assign(text, n);
    while (!out.holder.empty() && (out.holder.back() == '\n' || out.holder.back() == '\r')) {
      out.holder.pop_back();
    }
    return out;
  }
  PKGXFER_RETURN_IF_ERROR(file->truncate(0));
  PKGXFER_RETURN_IF_ERROR(file->writeAt(0, holder.data(), holder.size()));
  out.file = std::move(file);
  return out;
}

Result<std::string> readWholeFile(FileSystem& fs, const Path& path, std::uint64_t max_size,
                                  bool follow_links) {
  PKGXFER_ASSIGN_OR_RETURN(std::unique_ptr<File> file,
                           fs.open(path, follow_links ? OpenMode::Read : OpenMode::ReadRegular));
  PKGXFER_ASSIGN_OR_RETURN(FileInfo info, file->info());
  if (!info.isRegular()) {
    return Status::InvalidArgument(fs.display(path) + ": " + std::string(describe(info.type)) +
                                   ", not a regular file");
  }
  if (info.size > max_size) {
    return Status::InvalidArgument(fs.display(path) + ": " + std::to_string(info.size) +
                                   " bytes, more than the " + std::to_string(max_size) +
                                   " this file may have");
  }
  std::string out;
  // One byte more than the size, so that reading the whole file ends on EOF instead of growing
  // the buffer: growing copies it, ~10 ms for a 16 MB manifest (100k files), twice per no-op check.
  out.resize(static_cast<std::size_t>(info.size) + 1);
  std::size_t done = 0;
  while (true) {
    if (done == out.size()) {
      if (done > max_size) {
        return Status::InvalidArgument(fs.display(path) + ": grew past the " +
                                       std::to_string(max_size) + " bytes this file may have");
      }
      out.resize(out.size() + 65536);  // the file grew: keep reading
    }
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n,
                             file->readAt(done, out.data() + done, out.size() - done));
    done += n;
    if (n == 0 || done < out.size()) break;
  }
  out.resize(done);
  return out;
}

Result<std::string> readTokenFile(FileSystem& fs, const Path& path) {
  PKGXFER_ASSIGN_OR_RETURN(std::string token, readWholeFile(fs, path, 64 << 10));
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!token.empty() && space(token.back())) token.pop_back();
  std::size_t first = 0;
  while (first < token.size() && space(token[first])) ++first;
  token.erase(0, first);
  if (token.empty()) return Status::InvalidArgument("token file " + fs.display(path) + " is empty");
  return token;
}

}  // namespace pkgxfer::fs
