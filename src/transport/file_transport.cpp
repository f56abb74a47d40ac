#include "file_transport.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <system_error>
#include <vector>

#include "pkgxfer/common/aligned_buffer.h"
#include "pkgxfer/common/os_error.h"
#include "pkgxfer/content/sha256.h"

namespace pkgxfer::transport {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPartialSuffix = ".partial";

// "<op> <path>: <strerror> (<ENAME>)", as every module reports OS errors.
Status errnoStatus(std::string_view op, const fs::path& path, int err) {
  return pkgxfer::errnoStatus(op, path.string(), err);
}

bool isValidOwner(std::string_view owner) {
  if (owner.size() > 64) return false;
  for (char c : owner) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

std::string randomToken() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t v = rng();
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHex[v & 0xF];
    v >>= 4;
  }
  return out;
}

Status fsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errnoStatus("open folder", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return errnoStatus("fsync folder", dir, err);
  return Status::Ok();
}

// Adds [from, to) of an open file to `hasher`, reading it back through a page-aligned buffer of at
// most `buffer_size` bytes (one per thread, reused: small bodies come by the thousand).
Status readBackInto(content::Sha256& hasher, int fd, std::uint64_t from, std::uint64_t to,
                    std::size_t buffer_size, const fs::path& path) {
  thread_local AlignedBuffer buffer;
  thread_local std::size_t capacity = 0;
  if (capacity < buffer_size) {
    buffer = makeAlignedBuffer(buffer_size);
    capacity = buffer_size;
  }
  std::uint64_t offset = from;
  while (offset < to) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer_size, to - offset));
    ssize_t n = ::pread(fd, buffer.get(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("read back", path, errno);
    }
    if (n == 0) {
      return Status::Corruption("read back " + path.string() + ": ends at " +
                                std::to_string(offset) + " of " + std::to_string(to) + " bytes");
    }
    hasher.update(buffer.get(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return Status::Ok();
}

// Deletes the temporary files `owner` left for body `sha256` in its folder `dir`, except the one
// named `keep`; how many. A missing folder holds none.
Result<std::size_t> sweepTemps(const fs::path& dir, std::string_view sha256, std::string_view owner,
                               std::string_view keep) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return std::size_t{0};
    return errnoStatus("open folder", dir, ec.value());
  }
  std::size_t removed = 0;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name == keep || !FileTransport::isTempNameFor(sha256, name, &owner)) continue;
    if (::unlink(entry.path().c_str()) == 0) {
      ++removed;
    } else if (errno != ENOENT) {
      return errnoStatus("delete", entry.path(), errno);
    }
  }
  return removed;
}

class FileUpload final : public BodyUpload {
 public:
  FileUpload(const BodySpec& spec, fs::path dir, std::string temp_name, int fd,
             std::uint64_t offset, const TransportOptions& options, std::size_t leftovers)
      : sha256_(spec.sha256),
        size_(spec.size),
        dir_(std::move(dir)),
        temp_name_(std::move(temp_name)),
        fd_(fd),
        offset_(offset),
        // A resumed upload never saw its first bytes: it reads back whatever `verify` says.
        read_back_(spec.verify || offset > 0),
        options_(options),
        leftovers_(leftovers) {}

  ~FileUpload() override {
    if (fd_ >= 0) ::close(fd_);
  }

  const std::string& tempName() const override { return temp_name_; }
  std::uint64_t offset() const override { return offset_; }

  Status write(const void* data, std::size_t size) override {
    if (fd_ < 0 || sealed_) return Status::Internal("upload of " + sha256_ + " is closed");
    if (offset_ + size > size_) {
      return Status::InvalidArgument("writing " + std::to_string(size) + " bytes at offset " +
                                     std::to_string(offset_) + " passes the size of body " +
                                     sha256_ + " (" + std::to_string(size_) + " bytes)");
    }
    PKGXFER_RETURN_IF_ERROR(writeAll(static_cast<const char*>(data), size));
    // Start writing the bytes out now, without waiting: the disk works while the next block is
    // read, so a checkpoint's or a batch's flush finds little left to do (a streaming writer's
    // throughput instead of a write-then-flush stall). Advisory: errors surface at the flush.
    if (options_.sync && size > 0) {
      ::sync_file_range(fd_, static_cast<off_t>(offset_ - size), static_cast<off_t>(size),
                        SYNC_FILE_RANGE_WRITE);
    }
    return Status::Ok();
  }

  Status flush() override {
    if (fd_ < 0) return Status::Internal("upload of " + sha256_ + " is closed");
    if (::fdatasync(fd_) != 0) return errnoStatus("fdatasync", tempPath(), errno);
    // A large body is checked as it goes: what is durable now is read back into the hash (seal()
    // reads back only the rest), then its pages are dropped (they are clean). So a stream holds
    // at most a checkpoint's worth of the body in the page cache, not all of it until the
    // install, and its next writes reuse those pages.
    if (read_back_ && offset_ > hashed_) {
      PKGXFER_RETURN_IF_ERROR(
          readBackInto(hasher_, fd_, hashed_, offset_, readBackChunk(), tempPath()));
      hashed_ = offset_;
    }
    if (options_.sync && options_.drop_from_cache) {
      ::posix_fadvise(fd_, 0, static_cast<off_t>(offset_), POSIX_FADV_DONTNEED);
    }
    return Status::Ok();
  }

  Status seal() override {
    if (sealed_) return Status::Ok();
    if (fd_ < 0) return Status::Internal("upload of " + sha256_ + " is closed");
    if (offset_ != size_) {
      abort();
      return Status::Corruption("body " + sha256_ + ": " + std::to_string(offset_) +
                                " bytes written, expected " + std::to_string(size_));
    }
    if (read_back_) {
      Status read = readBackInto(hasher_, fd_, hashed_, size_, readBackChunk(), tempPath());
      if (!read.ok()) {
        if (read.code() == Status::Code::Corruption) abort();  // shorter than written: resend
        return read;
      }
      hashed_ = size_;
    }
    PKGXFER_ASSIGN_OR_RETURN(std::string actual, hasher_.finishHex());
    if (actual != sha256_) {
      abort();
      return Status::Corruption("body " + sha256_ + " hashes to " + actual + " on the DP" +
                                (read_back_ ? " (read back)" : ""));
    }
    // A sealed body waits in a batch: it must not hold a descriptor (a batch of small files
    // would run into the process's limit). install(true) reopens it to fsync.
    ::close(fd_);
    fd_ = -1;
    sealed_ = true;
    return Status::Ok();
  }

  Status install(bool durable) override {
    if (!sealed_ || installed_) {
      return Status::Internal("upload of " + sha256_ + " is not sealed or already installed");
    }
    durable = durable && options_.sync;
    if (durable || (options_.sync && options_.drop_from_cache)) {
      int fd = ::open(tempPath().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return errnoStatus("open", tempPath(), errno);
      if (durable && ::fsync(fd) != 0) {
        int err = errno;
        ::close(fd);
        return errnoStatus("fsync", tempPath(), err);
      }
      // Its bytes are on the disk now (this fsync, or the caller's sync before a batch), so its
      // pages are clean: drop them. Advisory; a page still under writeback simply stays.
      if (options_.drop_from_cache) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
    const fs::path final_path = dir_ / sha256_;
    if (::rename(tempPath().c_str(), final_path.c_str()) != 0) {
      return errnoStatus("rename into place", final_path, errno);
    }
    installed_ = true;
    if (durable) PKGXFER_RETURN_IF_ERROR(fsyncDir(dir_));
    return Status::Ok();
  }

  std::size_t leftoversDiscarded() const override { return leftovers_; }

  void abort() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!installed_) ::unlink(tempPath().c_str());
  }

 private:
  fs::path tempPath() const { return dir_ / temp_name_; }
  std::size_t readBackChunk() const {
    return static_cast<std::size_t>(
        std::min<std::uint64_t>(options_.buffer_size, std::max<std::uint64_t>(size_, 1)));
  }

  Status writeAll(const char* p, std::size_t left) {
    while (left > 0) {
      ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoStatus("write", tempPath(), errno);
      }
      if (!read_back_) hasher_.update(p, static_cast<std::size_t>(n));
      p += n;
      left -= static_cast<std::size_t>(n);
      offset_ += static_cast<std::uint64_t>(n);
    }
    return Status::Ok();
  }

  const std::string sha256_;
  const std::uint64_t size_;
  const fs::path dir_;
  const std::string temp_name_;
  int fd_;
  std::uint64_t offset_;
  const bool read_back_;
  std::uint64_t hashed_ = 0;  // with read_back_: [0, hashed_) is read back into hasher_
  bool sealed_ = false;
  bool installed_ = false;
  const TransportOptions options_;
  const std::size_t leftovers_;
  content::Sha256 hasher_;
};

}  // namespace

FileTransport::FileTransport(fs::path root, TransportOptions options)
    : root_(std::move(root)), options_(options) {}

std::string FileTransport::describe() const { return "file://" + root_.string(); }

bool FileTransport::isTempNameFor(std::string_view sha256, std::string_view name,
                                  const std::string_view* owner) {
  // "." + sha + "." + owner + "." + 16 hex + ".partial"
  if (name.size() < 1 + sha256.size() + 1 + 1 + 16 + kPartialSuffix.size()) return false;
  if (name.front() != '.' || name.substr(1, sha256.size()) != sha256) return false;
  if (name[1 + sha256.size()] != '.' || !name.ends_with(kPartialSuffix)) return false;
  std::string_view middle = name.substr(2 + sha256.size());
  middle.remove_suffix(kPartialSuffix.size());  // "<owner>.<16 hex>"
  if (middle.size() < 17 || middle[middle.size() - 17] != '.') return false;
  for (char c : middle.substr(middle.size() - 16)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  std::string_view who = middle.substr(0, middle.size() - 17);
  if (!isValidOwner(who)) return false;
  return owner == nullptr || who == *owner;
}

Status FileTransport::checkRoot() const {
  struct stat st;
  if (::stat(root_.c_str(), &st) != 0) {
    Status s = errnoStatus("DP library root", root_, errno);
    // A missing root or an unreachable mount is a DP that is not there right now: retry later.
    if (s.code() == Status::Code::NotFound || errno == EIO || errno == ENODEV ||
        errno == EHOSTDOWN || errno == ETIMEDOUT) {
      return Status::Unavailable(s.message());
    }
    return s;
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::Unavailable("DP library root " + root_.string() + " is not a folder");
  }
  return Status::Ok();
}

Result<content::ContentLibrary*> FileTransport::library() {
  PKGXFER_RETURN_IF_ERROR(checkRoot());
  std::lock_guard<std::mutex> lock(mu_);
  if (!library_) {
    content::ContentLibrary::Options options;
    options.sync = options_.sync;
    options.clean_file_lib_on_open = false;  // bodies come as uploads: see discardTemps()
    PKGXFER_ASSIGN_OR_RETURN(library_, content::ContentLibrary::open(root_, options));
  }
  return library_.get();
}

Result<content::ContentLibrary*> FileTransport::openedLibrary() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (library_) return library_.get();
  }
  return library();
}

Status FileTransport::rootOr(Status failure) const {
  if (Status root = checkRoot(); !root.ok()) return root;
  return failure;
}

Result<ProbeResult> FileTransport::probe() {
  PKGXFER_RETURN_IF_ERROR(checkRoot());
  const fs::path probe = root_ / (".pkgxfer-probe." + randomToken());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errnoStatus("create probe file", probe, errno);
  ssize_t n = ::write(fd, "probe\n", 6);
  int err = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (n != 6) return errnoStatus("write probe file", probe, n < 0 ? err : ENOSPC);
  // Opening the library creates FileLib/DataLib/PkgLib if they are missing, so a root that is
  // writable but fresh passes the check.
  PKGXFER_RETURN_IF_ERROR(library().status());
  struct statvfs vfs;
  if (::statvfs(root_.c_str(), &vfs) != 0) return errnoStatus("statvfs", root_, errno);
  ProbeResult result;
  result.location = root_.string();
  result.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  return result;
}

Result<content::ShaSet> FileTransport::inventory(const std::vector<std::string>& sha256s) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  return lib->inventory(sha256s);
}

Result<std::unique_ptr<BodyUpload>> FileTransport::openBody(const BodySpec& spec) {
  if (!content::isSha256Hex(spec.sha256)) {
    return Status::InvalidArgument("\"" + spec.sha256 + "\" is not a SHA-256");
  }
  if (!isValidOwner(spec.owner)) {
    return Status::InvalidArgument("\"" + spec.owner + "\" is not an upload owner");
  }
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, openedLibrary());
  const fs::path dir = lib->bodyPath(spec.sha256).parent_path();
  // One mkdir: most bodies of a first distribution need their prefix folder made, the others find
  // it (EEXIST). FileLib itself missing (ENOENT) is remade only under a root that still exists.
  bool created = ::mkdir(dir.c_str(), 0777) == 0;
  if (!created && errno != EEXIST) {
    const int err = errno;
    if (err != ENOENT) return rootOr(errnoStatus("create folder", dir, err));
    PKGXFER_RETURN_IF_ERROR(checkRoot());
    std::error_code ec;
    created = fs::create_directories(dir, ec);
    if (ec) return rootOr(errnoStatus("create folder", dir, ec.value()));
  }
  // A folder made just now holds no leftovers: most bodies of a first distribution skip the
  // listing.
  std::size_t leftovers = 0;
  if (spec.discard_leftovers && !created) {
    PKGXFER_ASSIGN_OR_RETURN(leftovers,
                             sweepTemps(dir, spec.sha256, spec.owner, spec.resume_temp_name));
  }

  if (!spec.resume_temp_name.empty() && isTempNameFor(spec.sha256, spec.resume_temp_name)) {
    const fs::path path = dir / spec.resume_temp_name;
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      struct stat st;
      if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        return errnoStatus("stat", path, err);
      }
      // Bytes past the durable offset may be torn: cut them. A file shorter than the recorded
      // offset (the DP lost data) starts over.
      std::uint64_t offset = spec.resume_offset;
      if (static_cast<std::uint64_t>(st.st_size) < offset || offset > spec.size) offset = 0;
      if (::ftruncate(fd, static_cast<off_t>(offset)) != 0) {
        int err = errno;
        ::close(fd);
        return errnoStatus("truncate", path, err);
      }
      return std::unique_ptr<BodyUpload>(std::make_unique<FileUpload>(
          spec, dir, spec.resume_temp_name, fd, offset, options_, leftovers));
    }
    if (errno != ENOENT) return errnoStatus("open", path, errno);
  }
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name =
        "." + spec.sha256 + "." + spec.owner + "." + randomToken() + std::string(kPartialSuffix);
    const fs::path path = dir / name;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return rootOr(errnoStatus("create", path, errno));
    }
    return std::unique_ptr<BodyUpload>(
        std::make_unique<FileUpload>(spec, dir, std::move(name), fd, 0, options_, leftovers));
  }
  return Status::IoError("cannot create a temporary file in " + dir.string());
}

Status FileTransport::sync() {
  if (!options_.sync) return Status::Ok();
  PKGXFER_RETURN_IF_ERROR(checkRoot());
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errnoStatus("open folder", root_, errno);
  int rc = ::syncfs(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return errnoStatus("syncfs", root_, err);
  return Status::Ok();
}

Status FileTransport::discardTemp(std::string_view sha256, std::string_view temp_name) {
  if (!content::isSha256Hex(sha256) || !isTempNameFor(sha256, temp_name)) {
    return Status::InvalidArgument("\"" + std::string(temp_name) +
                                   "\" is not a temporary body name");
  }
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  const fs::path path = lib->bodyPath(sha256).parent_path() / std::string(temp_name);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errnoStatus("delete", path, errno);
  return Status::Ok();
}

Result<std::size_t> FileTransport::discardTemps(const std::vector<std::string>& sha256s,
                                                std::string_view owner) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  std::size_t removed = 0;
  for (const std::string& sha : sha256s) {
    if (!content::isSha256Hex(sha)) {
      return Status::InvalidArgument("\"" + sha + "\" is not a SHA-256");
    }
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n,
                             sweepTemps(lib->bodyPath(sha).parent_path(), sha, owner, {}));
    removed += n;
  }
  return removed;
}

Status FileTransport::commitManifest(const content::Manifest& manifest) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  return lib->commitManifest(manifest);
}

Result<content::Manifest> FileTransport::readManifest(std::string_view package_id,
                                                      std::uint64_t version) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  return lib->readManifest(package_id, version);
}

Result<std::string> FileTransport::readManifestJson(std::string_view package_id,
                                                    std::uint64_t version) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  return lib->readManifestJson(package_id, version);
}

Result<std::vector<std::uint64_t>> FileTransport::listVersions(std::string_view package_id) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  // DataLib is the truth (PkgLib is derived from it).
  PKGXFER_ASSIGN_OR_RETURN(auto contents, lib->listContents());
  std::vector<std::uint64_t> versions;
  for (const auto& ref : contents) {
    if (ref.package_id == package_id) versions.push_back(ref.version);
  }
  return versions;
}

Result<content::ValidationReport> FileTransport::validate(std::string_view package_id,
                                                          std::uint64_t version) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  return lib->validate(package_id, version);
}

Status FileTransport::removeContent(std::string_view package_id, std::uint64_t version) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library());
  return lib->removeContent(package_id, version);
}

}  // namespace pkgxfer::transport
