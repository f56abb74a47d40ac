#include "pkgxfer/content/content_library.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "pkgxfer/content/file_hasher.h"
#include "posix_io.h"

namespace pkgxfer::content {

namespace fs = std::filesystem;
using internal::displayBytes;
using internal::displayPath;
using internal::errnoStatus;
using internal::UniqueFd;

namespace {

constexpr std::string_view kTempSuffix = ".tmp";

// Parsed manifests, shared by every library in the process: distmgr's check and pkgxfermgr's job
// read the same site manifest, and each job of a fan-out reads it again (~50 ms for 10,000
// files). An entry serves only while the file is the same one (device, inode, size, mtime, seen
// before and after the read): manifests are replaced by rename, and a file rewritten in place
// changes its mtime.
class ManifestCache {
 public:
  struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const Identity&) const = default;
  };

  static std::optional<Identity> identify(const fs::path& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return Identity{st.st_dev, st.st_ino, st.st_size,
                    std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
  }

  std::shared_ptr<const Manifest> find(const std::string& path, const Identity& id) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->path != path) continue;
      if (!(it->id == id)) return nullptr;
      entries_.splice(entries_.begin(), entries_, it);  // most recently used first
      return it->manifest;
    }
    return nullptr;
  }

  void put(const std::string& path, const Identity& id, std::shared_ptr<const Manifest> m) {
    if (m->files.size() > kMaxFiles) return;
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(entries_, [&](const Entry& e) { return e.path == path; });
    entries_.push_front({path, id, std::move(m)});
    std::size_t files = 0;
    auto keep = entries_.begin();
    for (std::size_t n = 0; keep != entries_.end() && n < kMaxEntries; ++keep, ++n) {
      if (files + keep->manifest->files.size() > kMaxFiles) break;
      files += keep->manifest->files.size();
    }
    entries_.erase(keep, entries_.end());  // the least recently used beyond either bound
  }

 private:
  // At most this many manifests and file entries in all (~200 bytes each in memory).
  static constexpr std::size_t kMaxEntries = 16;
  static constexpr std::size_t kMaxFiles = 250'000;
  struct Entry {
    std::string path;
    Identity id;
    std::shared_ptr<const Manifest> manifest;
  };
  std::mutex mu_;
  std::list<Entry> entries_;  // most recently used first
};

ManifestCache& manifestCache() {
  static ManifestCache cache;
  return cache;
}

bool isTempName(std::string_view name) {
  return name.size() > 1 + kTempSuffix.size() && name.front() == '.' && name.ends_with(kTempSuffix);
}

Status checkSha(std::string_view sha256) {
  if (isSha256Hex(sha256)) return Status::Ok();
  return Status::InvalidArgument("\"" + displayBytes(sha256) +
                                 "\" is not a SHA-256 (64 lower-case hex digits)");
}

Status checkPackageId(std::string_view package_id) {
  if (isValidPackageId(package_id)) return Status::Ok();
  return Status::InvalidArgument("\"" + displayBytes(package_id) +
                                 "\" is not a package ID (<site code><5 hex digits>)");
}

// "<PackageID>.<version>.json" -> ContentRef; false for any other name (temp files included).
bool parseDataLibName(std::string_view name, ContentRef& out) {
  constexpr std::string_view kExt = ".json";
  if (!name.ends_with(kExt)) return false;
  name.remove_suffix(kExt.size());
  std::size_t dot = name.find('.');
  if (dot == std::string_view::npos) return false;
  std::string_view id = name.substr(0, dot);
  std::string_view ver = name.substr(dot + 1);
  if (!isValidPackageId(id) || ver.empty() || ver.front() == '0') return false;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(ver.data(), ver.data() + ver.size(), v);
  if (ec != std::errc() || end != ver.data() + ver.size()) return false;
  out.package_id = std::string(id);
  out.version = v;
  return true;
}

// A temporary file ".<base>.<random>.tmp" in `dir`, created exclusively and flock'd for its whole
// life so that cleanup never deletes it while its writer lives.
struct TempFile {
  UniqueFd fd;
  fs::path path;
};

Result<TempFile> createTemp(const fs::path& dir, std::string_view base) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    fs::path path =
        dir / ("." + std::string(base) + "." + internal::randomToken() + std::string(kTempSuffix));
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) {
      if (errno == EEXIST) continue;
      return errnoStatus("create", path, errno);
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
    // A cleanup may have deleted the name between our open() and flock(): make sure the name
    // still refers to our file, or start over.
    struct stat mine, named;
    if (::fstat(fd.get(), &mine) != 0) return errnoStatus("stat", path, errno);
    if (::lstat(path.c_str(), &named) != 0 || named.st_ino != mine.st_ino ||
        named.st_dev != mine.st_dev) {
      continue;
    }
    return TempFile{std::move(fd), std::move(path)};
  }
  return Status::IoError("cannot create a temporary file in " + displayPath(dir));
}

// Deletes `path` if it is a temporary file no live writer holds. Returns true if deleted.
bool removeIfStale(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW));
  if (!fd.valid()) return false;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return false;  // its writer is alive
  struct stat mine, named;
  if (::fstat(fd.get(), &mine) != 0 || ::lstat(path.c_str(), &named) != 0) return false;
  if (mine.st_ino != named.st_ino || mine.st_dev != named.st_dev) return false;
  return ::unlink(path.c_str()) == 0;
}

// Calls `fn(name, d_type)` for each entry of `dir` except "." and "..". NotFound if `dir` is
// missing.
template <typename Fn>
Status listDir(const fs::path& dir, Fn&& fn) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errnoStatus("open folder", dir, errno);
  Status status;
  while (true) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0) status = errnoStatus("read folder", dir, errno);
      break;
    }
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    fn(name, e->d_type);
  }
  ::closedir(d);
  return status;
}

bool isPrefixName(std::string_view name) {
  if (name.size() != 4) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string pkgLibJson(const std::string& package_id, const std::vector<std::uint64_t>& versions) {
  nlohmann::ordered_json j;
  j["package_id"] = package_id;
  j["versions"] = versions;
  return j.dump();
}

}  // namespace

// ---- locks -------------------------------------------------------------------------------------

// Serializes metadata changes: the mutex within the process, flock() on the root folder across
// processes (a CLI and the service may share a library).
class ContentLibrary::MetaLock {
 public:
  explicit MetaLock(ContentLibrary& lib) : lock_(lib.meta_mu_), fd_(lib.root_fd_) {
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~MetaLock() { ::flock(fd_, LOCK_UN); }
  MetaLock(const MetaLock&) = delete;
  MetaLock& operator=(const MetaLock&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  int fd_;
};

// Pins bodies for its lifetime so that a concurrent removal does not delete them.
class ContentLibrary::PinGuard {
 public:
  PinGuard(ContentLibrary& lib, std::vector<std::string> shas) : lib_(lib), shas_(std::move(shas)) {
    for (const auto& s : shas_) lib_.pin(s);
  }
  ~PinGuard() {
    for (const auto& s : shas_) lib_.unpin(s);
  }
  PinGuard(const PinGuard&) = delete;
  PinGuard& operator=(const PinGuard&) = delete;

 private:
  ContentLibrary& lib_;
  std::vector<std::string> shas_;
};

void ContentLibrary::pin(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(pin_mu_);
  ++pins_[sha256];
}

void ContentLibrary::unpin(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(pin_mu_);
  auto it = pins_.find(sha256);
  if (it != pins_.end() && --it->second == 0) pins_.erase(it);
}

// ---- BodyReader --------------------------------------------------------------------------------

BodyReader::BodyReader(BodyReader&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_), path_(std::move(other.path_)) {}

BodyReader& BodyReader::operator=(BodyReader&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    path_ = std::move(other.path_);
  }
  return *this;
}

BodyReader::~BodyReader() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::size_t> BodyReader::readAt(std::uint64_t offset, void* buffer, std::size_t size) const {
  char* p = static_cast<char*>(buffer);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("read", path_, errno);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

// ---- BodyWriter --------------------------------------------------------------------------------

BodyWriter::BodyWriter(ContentLibrary& library, std::string sha256,
                       std::optional<std::uint64_t> expected, fs::path temp, int fd)
    : library_(library),
      sha256_(std::move(sha256)),
      expected_size_(expected),
      temp_path_(std::move(temp)),
      fd_(fd) {}

BodyWriter::~BodyWriter() {
  discard();
  library_.unpin(sha256_);
}

void BodyWriter::discard() {
  if (fd_ >= 0) {
    // Unlink while we still hold the lock, so no cleanup races us.
    if (state_ != State::Committed) ::unlink(temp_path_.c_str());
    ::close(fd_);
    fd_ = -1;
  }
}

void BodyWriter::abort() {
  discard();
  if (state_ == State::Open || state_ == State::Verified) state_ = State::Aborted;
}

Status BodyWriter::write(std::uint64_t offset, const void* data, std::size_t size) {
  if (state_ == State::Failed) return failure_;
  if (state_ != State::Open) {
    return Status::Internal("body " + sha256_ + ": write after commit or abort");
  }
  if (offset != written_) {
    return Status::InvalidArgument("body " + sha256_ + ": chunk at offset " +
                                   std::to_string(offset) + " but " + std::to_string(written_) +
                                   " bytes were written; chunks must arrive in order");
  }
  if (expected_size_ && size > *expected_size_ - written_) {
    return Status::InvalidArgument("body " + sha256_ + ": more than the expected " +
                                   std::to_string(*expected_size_) + " bytes");
  }
  if (Status s = internal::writeAll(fd_, data, size, temp_path_); !s.ok()) {
    failure_ = s;
    state_ = State::Failed;
    discard();
    return s;
  }
  hasher_.update(data, size);
  written_ += size;
  return Status::Ok();
}

Status BodyWriter::commit() { return library_.commitBody(*this); }

Status ContentLibrary::verifyBody(BodyWriter& w) {
  using State = BodyWriter::State;
  if (w.state_ == State::Failed) return w.failure_;
  if (w.state_ == State::Verified) return Status::Ok();
  if (w.state_ != State::Open) {
    return Status::Internal("body " + w.sha256_ + ": commit after commit or abort");
  }
  auto fail = [&w](Status s) {
    w.failure_ = s;
    w.state_ = State::Failed;
    w.discard();
    return s;
  };
  if (w.expected_size_ && w.written_ != *w.expected_size_) {
    return fail(Status::Corruption("body " + w.sha256_ + ": " + std::to_string(w.written_) +
                                   " bytes received, " + std::to_string(*w.expected_size_) +
                                   " expected; discarded"));
  }
  Result<std::string> actual = w.hasher_.finishHex();
  if (!actual.ok()) return fail(actual.error());
  if (*actual != w.sha256_) {
    return fail(Status::Corruption("body " + w.sha256_ + ": the " + std::to_string(w.written_) +
                                   " bytes received hash to " + *actual + "; discarded"));
  }
  w.state_ = State::Verified;
  return Status::Ok();
}

Status ContentLibrary::publishBody(BodyWriter& w) {
  using State = BodyWriter::State;
  if (w.state_ != State::Verified) return Status::Internal("body " + w.sha256_ + ": not verified");
  auto fail = [&w](Status s) {
    w.failure_ = s;
    w.state_ = State::Failed;
    w.discard();
    return s;
  };
  if (options_.hooks.before_body_rename) {
    if (Status s = options_.hooks.before_body_rename(w.sha256_, w.temp_path_); !s.ok()) {
      return fail(s);
    }
  }
  const fs::path final_path = bodyPath(w.sha256_);
  if (::rename(w.temp_path_.c_str(), final_path.c_str()) != 0) {
    return fail(errnoStatus("rename into place", final_path, errno));
  }
  w.state_ = State::Committed;
  w.discard();  // closes (and unlocks) without deleting: the name is gone already
  return Status::Ok();
}

Status ContentLibrary::commitBody(BodyWriter& w) {
  PKGXFER_RETURN_IF_ERROR(verifyBody(w));
  if (options_.sync && ::fsync(w.fd_) != 0) {
    Status s = errnoStatus("fsync", w.temp_path_, errno);
    w.failure_ = s;
    w.state_ = BodyWriter::State::Failed;
    w.discard();
    return s;
  }
  const fs::path dir = bodyPath(w.sha256_).parent_path();
  const bool created_dir = w.created_dir_;
  PKGXFER_RETURN_IF_ERROR(publishBody(w));
  if (options_.sync) {
    PKGXFER_RETURN_IF_ERROR(internal::fsyncDir(dir));
    if (created_dir) PKGXFER_RETURN_IF_ERROR(internal::fsyncDir(fileLib()));
  }
  return Status::Ok();
}

Status ContentLibrary::syncFileSystem() {
  if (::syncfs(root_fd_) != 0) return errnoStatus("syncfs", root_, errno);
  return Status::Ok();
}

// ---- ValidationReport --------------------------------------------------------------------------

std::string ValidationReport::describe(std::size_t max_items) const {
  if (ok()) return "all " + std::to_string(bodies_checked) + " bodies present and matching";
  std::string out = std::to_string(missing.size()) + " missing, " +
                    std::to_string(mismatched.size()) + " mismatched:";
  std::size_t shown = 0;
  for (const auto* list : {&missing, &mismatched}) {
    for (const ValidationProblem& p : *list) {
      if (shown == max_items) break;
      out += shown == 0 ? " " : ", ";
      out += p.path + " (" + p.reason + ")";
      ++shown;
    }
  }
  std::size_t total = missing.size() + mismatched.size();
  if (total > shown) out += ", and " + std::to_string(total - shown) + " more";
  return out;
}

// ---- ContentLibrary: open and paths ------------------------------------------------------------

ContentLibrary::ContentLibrary(fs::path root, Options options, int root_fd)
    : root_(std::move(root)), options_(std::move(options)), root_fd_(root_fd) {}

ContentLibrary::~ContentLibrary() { ::close(root_fd_); }

Result<std::unique_ptr<ContentLibrary>> ContentLibrary::open(const fs::path& root,
                                                             Options options) {
  std::error_code ec;
  fs::path abs = fs::absolute(root, ec);
  if (ec) return errnoStatus("resolve", root, ec.value());
  fs::create_directories(abs, ec);
  if (ec) return errnoStatus("create content library", abs, ec.value());
  for (const char* sub : {"FileLib", "DataLib", "PkgLib"}) {
    fs::create_directory(abs / sub, ec);
    if (ec) return errnoStatus("create", abs / sub, ec.value());
  }
  int fd = ::open(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errnoStatus("open content library", abs, errno);
  std::unique_ptr<ContentLibrary> lib(new ContentLibrary(abs, std::move(options), fd));
  if (lib->options_.clean_on_open) {
    PKGXFER_RETURN_IF_ERROR(
        lib->cleanTemporaryFiles(lib->options_.clean_file_lib_on_open).status());
  }
  {
    MetaLock lock(*lib);
    PKGXFER_RETURN_IF_ERROR(lib->repairPkgLibUnlocked());
  }
  return lib;
}

Result<std::unique_ptr<ContentLibrary>> ContentLibrary::open(const fs::path& root) {
  return open(root, Options{});
}

fs::path ContentLibrary::bodyPath(std::string_view sha256) const {
  return fileLib() / std::string(sha256.substr(0, 4)) / std::string(sha256);
}

fs::path ContentLibrary::manifestPath(std::string_view package_id, std::uint64_t version) const {
  return dataLib() / (contentId(package_id, version) + ".json");
}

// ---- bodies ------------------------------------------------------------------------------------

bool ContentLibrary::hasBody(std::string_view sha256) const {
  if (!isSha256Hex(sha256)) return false;
  struct stat st;
  return ::stat(bodyPath(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<BodyReader> ContentLibrary::openBody(std::string_view sha256) const {
  PKGXFER_RETURN_IF_ERROR(checkSha(sha256));
  fs::path path = bodyPath(sha256);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errnoStatus("open body", path, errno);
  BodyReader reader(fd, 0, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) return errnoStatus("stat", path, errno);
  reader.size_ = static_cast<std::uint64_t>(st.st_size);
  return reader;
}

Result<std::unique_ptr<BodyWriter>> ContentLibrary::createBodyWriter(
    std::string_view sha256, std::optional<std::uint64_t> expected_size) {
  PKGXFER_RETURN_IF_ERROR(checkSha(sha256));
  const fs::path prefix_dir = fileLib() / std::string(sha256.substr(0, 4));
  bool created_dir = false;
  if (::mkdir(prefix_dir.c_str(), 0755) == 0) {
    created_dir = true;  // made durable at commit (or by the batch's syncfs)
  } else if (errno != EEXIST) {
    return errnoStatus("create", prefix_dir, errno);
  }
  PKGXFER_ASSIGN_OR_RETURN(TempFile temp, createTemp(prefix_dir, sha256));
  std::string sha(sha256);
  pin(sha);  // released by ~BodyWriter
  std::unique_ptr<BodyWriter> writer(new BodyWriter(*this, std::move(sha), expected_size,
                                                    std::move(temp.path), temp.fd.release()));
  writer->created_dir_ = created_dir;
  return writer;
}

Status ContentLibrary::copyInto(BodyWriter& writer, const Reader& read) {
  // One aligned buffer per thread, reused: importing 100k small files allocates nothing.
  thread_local internal::AlignedBuffer buffer;
  thread_local std::size_t buffer_size = 0;
  const std::size_t cap = std::max<std::size_t>(options_.copy_buffer_size, 4096);
  if (buffer_size < cap) {
    buffer = internal::makeAlignedBuffer(cap);
    buffer_size = cap;
  }
  char* const data = buffer.get();
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n, read(data, cap));
    if (n == 0) return Status::Ok();
    PKGXFER_RETURN_IF_ERROR(writer.write(writer.bytesWritten(), data, n));
  }
}

Status ContentLibrary::writeBody(std::string_view sha256,
                                 std::optional<std::uint64_t> expected_size, const Reader& read) {
  PKGXFER_ASSIGN_OR_RETURN(auto writer, createBodyWriter(sha256, expected_size));
  PKGXFER_RETURN_IF_ERROR(copyInto(*writer, read));
  return writer->commit();
}

Result<std::unique_ptr<BodyWriter>> ContentLibrary::stageFromFile(
    const fs::path& file, std::string_view sha256, std::optional<std::uint64_t> expected_size) {
  PKGXFER_RETURN_IF_ERROR(checkSha(sha256));
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return errnoStatus("open", file, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return errnoStatus("stat", file, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(displayPath(file) + ": not a file");
  if (expected_size && static_cast<std::uint64_t>(st.st_size) != *expected_size) {
    return Status::Corruption(displayPath(file) + ": size " + std::to_string(st.st_size) +
                              ", expected " + std::to_string(*expected_size) +
                              " (the file changed since its manifest was made)");
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  PKGXFER_ASSIGN_OR_RETURN(auto writer, createBodyWriter(sha256, expected_size));
  Status s = copyInto(*writer, [&](char* buffer, std::size_t cap) {
    return internal::readUpTo(fd.get(), buffer, cap, file);
  });
  if (s.ok()) s = verifyBody(*writer);
  // InvalidArgument here can only be the writer refusing bytes past the expected size: the file
  // grew while it was copied.
  if (s.code() == Status::Code::Corruption || s.code() == Status::Code::InvalidArgument) {
    return Status::Corruption(displayPath(file) + ": does not match the manifest (" + s.message() +
                              "); the file changed since its manifest was made");
  }
  if (!s.ok()) return s;
  return writer;
}

Status ContentLibrary::importBody(const fs::path& file, std::string_view sha256,
                                  std::optional<std::uint64_t> expected_size) {
  PKGXFER_ASSIGN_OR_RETURN(auto writer, stageFromFile(file, sha256, expected_size));
  return writer->commit();
}

Result<ShaSet> ContentLibrary::inventory(const std::vector<std::string>& sha256s) const {
  std::map<std::string_view, ShaSet> wanted;  // prefix -> requested hashes
  for (const std::string& sha : sha256s) {
    PKGXFER_RETURN_IF_ERROR(checkSha(sha));
    wanted[std::string_view(sha).substr(0, 4)].insert(sha);
  }
  ShaSet present;
  // Asked for many bodies, first learn which prefix folders exist (one listing of FileLib, at
  // most 65,536 names): those that do not hold none of them, which is most of them on a DP that
  // is new or small.
  std::optional<std::set<std::string, std::less<>>> prefixes;
  if (wanted.size() > 64) {
    prefixes.emplace();
    Status s = listDir(fileLib(), [&](std::string_view name, unsigned char) {
      if (isPrefixName(name)) prefixes->emplace(name);
    });
    if (!s.ok()) {
      if (s.code() == Status::Code::NotFound) return present;
      return s;
    }
  }
  for (const auto& [prefix, shas] : wanted) {
    if (prefixes && !prefixes->contains(prefix)) continue;
    // A folder holding few of the bodies asked for: a stat each is fewer system calls than a
    // listing (open, read, read, close). A first distribution of 10,000 bodies spreads them
    // over ~9,300 folders.
    if (shas.size() <= 2) {
      for (const std::string& sha : shas) {
        const fs::path path = bodyPath(sha);
        struct stat st;
        if (::stat(path.c_str(), &st) == 0) {
          if (S_ISREG(st.st_mode)) present.insert(sha);
        } else if (errno != ENOENT && errno != ENOTDIR) {
          return errnoStatus("stat", path, errno);
        }
      }
      continue;
    }
    const fs::path dir = fileLib() / std::string(prefix);
    Status s = listDir(dir, [&](std::string_view name, unsigned char type) {
      if (type != DT_REG && type != DT_UNKNOWN) return;
      auto it = shas.find(std::string(name));
      if (it != shas.end()) present.insert(*it);
    });
    if (!s.ok() && s.code() != Status::Code::NotFound) return s;
  }
  return present;
}

// ---- content versions --------------------------------------------------------------------------

Result<AddResult> ContentLibrary::addContentFromSource(const Manifest& manifest,
                                                       const fs::path& source) {
  PKGXFER_RETURN_IF_ERROR(validateManifest(manifest));
  const std::string id = contentId(manifest.package_id, manifest.version);
  std::vector<std::string> bodies = uniqueBodies(manifest);
  PinGuard pins(*this, bodies);
  PKGXFER_ASSIGN_OR_RETURN(ShaSet present, inventory(bodies));

  // Bodies are staged (copied, hashed, verified) in batches; each batch costs one syncfs() for
  // the data before its renames, and one more syncfs() covers every rename before the manifest.
  // An fsync per body and per folder (BodyWriter::commit) runs at about 230 bodies/s on the
  // project VM; batches keep the same crash guarantees at the speed of the copy.
  constexpr std::size_t kBatchBodies = 128;  // also bounds the open file descriptors
  constexpr std::uint64_t kBatchBytes = 256ull << 20;
  std::vector<std::unique_ptr<BodyWriter>> staged;
  std::uint64_t staged_bytes = 0;
  bool published = false;
  auto flush = [&]() -> Status {
    if (staged.empty()) return Status::Ok();
    if (options_.sync) PKGXFER_RETURN_IF_ERROR(syncFileSystem());
    for (auto& w : staged) PKGXFER_RETURN_IF_ERROR(publishBody(*w).withContext("add " + id));
    staged.clear();
    staged_bytes = 0;
    published = true;
    return Status::Ok();
  };

  AddResult result;
  std::unordered_set<std::string_view> done;
  for (const ManifestFile& f : manifest.files) {
    if (!done.insert(f.sha256).second) continue;
    if (present.count(f.sha256) != 0) {
      ++result.bodies_present;
      result.bytes_present += f.size;
      continue;
    }
    auto writer = stageFromFile(source / f.path, f.sha256, f.size);
    if (!writer.ok()) return writer.error().withContext("add " + id);
    staged.push_back(std::move(*writer));
    staged_bytes += f.size;
    ++result.bodies_copied;
    result.bytes_copied += f.size;
    if (staged.size() >= kBatchBodies || staged_bytes >= kBatchBytes) {
      PKGXFER_RETURN_IF_ERROR(flush());
    }
  }
  PKGXFER_RETURN_IF_ERROR(flush());
  if (options_.sync && published) PKGXFER_RETURN_IF_ERROR(syncFileSystem());
  PKGXFER_RETURN_IF_ERROR(commitManifest(manifest));
  return result;
}

Status ContentLibrary::commitManifest(const Manifest& manifest) {
  PKGXFER_RETURN_IF_ERROR(validateManifest(manifest));
  const std::string id = contentId(manifest.package_id, manifest.version);
  MetaLock lock(*this);

  std::vector<std::string> bodies = uniqueBodies(manifest);
  PKGXFER_ASSIGN_OR_RETURN(ShaSet present, inventory(bodies));
  if (present.size() != bodies.size()) {
    std::size_t missing = bodies.size() - present.size();
    const ManifestFile* first = nullptr;
    for (const ManifestFile& f : manifest.files) {
      if (present.count(f.sha256) == 0) {
        first = &f;
        break;
      }
    }
    return Status::NotFound("cannot commit " + id + ": " + std::to_string(missing) + " of " +
                            std::to_string(bodies.size()) + " bodies are missing from FileLib, " +
                            "first " + first->sha256 + " (" + displayBytes(first->path) + ")");
  }

  const fs::path path = manifestPath(manifest.package_id, manifest.version);
  Result<std::string> existing = internal::readWholeFile(path);
  if (existing.ok()) {
    Result<Manifest> stored = parseManifest(*existing);
    if (stored.ok()) {
      if (*stored != manifest) {
        return Status::AlreadyExists(id + ": a different manifest is already stored under " +
                                     displayPath(path));
      }
      return writePkgLibUnlocked(manifest.package_id);  // already there; make PkgLib agree
    }
    // A damaged manifest under this name: replace it with the good one.
  } else if (existing.error().code() != Status::Code::NotFound) {
    return existing.error();
  }

  if (options_.hooks.before_manifest_write) {
    PKGXFER_RETURN_IF_ERROR(options_.hooks.before_manifest_write(manifest));
  }
  PKGXFER_RETURN_IF_ERROR(writeFileAtomically(path, toJson(manifest)));
  return writePkgLibUnlocked(manifest.package_id);
}

bool ContentLibrary::hasContent(std::string_view package_id, std::uint64_t version) const {
  if (!isValidPackageId(package_id)) return false;
  struct stat st;
  return ::stat(manifestPath(package_id, version).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> ContentLibrary::readManifestJson(std::string_view package_id,
                                                     std::uint64_t version) const {
  PKGXFER_RETURN_IF_ERROR(checkPackageId(package_id));
  return internal::readWholeFile(manifestPath(package_id, version));
}

Result<Manifest> ContentLibrary::readManifest(std::string_view package_id,
                                              std::uint64_t version) const {
  PKGXFER_RETURN_IF_ERROR(checkPackageId(package_id));
  const fs::path path = manifestPath(package_id, version);
  const std::optional<ManifestCache::Identity> before = ManifestCache::identify(path);
  if (before) {
    if (auto hit = manifestCache().find(path.string(), *before)) return Manifest(*hit);
  }
  PKGXFER_ASSIGN_OR_RETURN(std::string text, readManifestJson(package_id, version));
  Result<Manifest> m = parseManifest(text);
  if (!m.ok()) return m.error().withContext(displayPath(path));
  if (m->package_id != package_id || m->version != version) {
    return Status::Corruption(displayPath(path) + ": holds " +
                              contentId(m->package_id, m->version));
  }
  if (before && ManifestCache::identify(path) == before) {
    manifestCache().put(path.string(), *before, std::make_shared<const Manifest>(*m));
  }
  return m;
}

Result<std::vector<ContentRef>> ContentLibrary::listContentsUnlocked() const {
  std::vector<ContentRef> out;
  PKGXFER_RETURN_IF_ERROR(listDir(dataLib(), [&](std::string_view name, unsigned char) {
    ContentRef ref;
    if (parseDataLibName(name, ref)) out.push_back(std::move(ref));
  }));
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<ContentRef>> ContentLibrary::listContents() const {
  return listContentsUnlocked();
}

Result<std::vector<std::uint64_t>> ContentLibrary::listVersions(std::string_view package_id) const {
  PKGXFER_RETURN_IF_ERROR(checkPackageId(package_id));
  const fs::path path = pkgLib() / (std::string(package_id) + ".json");
  Result<std::string> text = internal::readWholeFile(path);
  if (!text.ok()) {
    if (text.error().code() == Status::Code::NotFound) return std::vector<std::uint64_t>{};
    return text.error();
  }
  std::vector<std::uint64_t> versions;
  try {
    nlohmann::json j = nlohmann::json::parse(*text);
    for (const auto& v : j.at("versions")) versions.push_back(v.get<std::uint64_t>());
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(displayPath(path) + ": " + e.what());
  }
  return versions;
}

Result<ValidationReport> ContentLibrary::validate(std::string_view package_id,
                                                  std::uint64_t version,
                                                  boost::asio::thread_pool* pool) const {
  PKGXFER_ASSIGN_OR_RETURN(Manifest m, readManifest(package_id, version));
  std::vector<std::string> bodies = uniqueBodies(m);
  std::unordered_map<std::string_view, std::uint64_t> expected_size;
  for (const ManifestFile& f : m.files) expected_size.emplace(f.sha256, f.size);

  std::vector<fs::path> paths;
  paths.reserve(bodies.size());
  for (const std::string& sha : bodies) paths.push_back(bodyPath(sha));
  std::vector<Result<HashedFile>> hashed;
  if (pool != nullptr) {
    hashed = hashFiles(paths, *pool);
  } else {
    for (const fs::path& p : paths) hashed.push_back(hashFile(p));
  }

  ValidationReport report;
  // sha -> (missing?, reason) for the bodies that failed.
  std::unordered_map<std::string_view, std::pair<bool, std::string>> bad;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const std::string& sha = bodies[i];
    const std::uint64_t want = expected_size[sha];
    if (!hashed[i].ok()) {
      if (hashed[i].error().code() == Status::Code::NotFound) {
        bad.emplace(sha, std::make_pair(true, std::string("missing")));
      } else {
        bad.emplace(sha, std::make_pair(false, hashed[i].error().toString()));
      }
      continue;
    }
    ++report.bodies_checked;
    report.bytes_checked += hashed[i]->size;
    if (hashed[i]->sha256 != sha) {
      bad.emplace(sha, std::make_pair(false, "content hashes to " + hashed[i]->sha256));
    } else if (hashed[i]->size != want) {
      bad.emplace(sha, std::make_pair(false, "size " + std::to_string(hashed[i]->size) +
                                                 ", expected " + std::to_string(want)));
    }
  }
  for (const ManifestFile& f : m.files) {
    auto it = bad.find(f.sha256);
    if (it == bad.end()) continue;
    (it->second.first ? report.missing : report.mismatched)
        .push_back({f.path, f.sha256, it->second.second});
  }
  return report;
}

Status ContentLibrary::removeContent(std::string_view package_id, std::uint64_t version) {
  PKGXFER_RETURN_IF_ERROR(checkPackageId(package_id));
  const std::string id = contentId(package_id, version);
  MetaLock lock(*this);
  const fs::path path = manifestPath(package_id, version);
  PKGXFER_ASSIGN_OR_RETURN(std::string text, internal::readWholeFile(path));
  Result<Manifest> removed = parseManifest(text);

  // The manifest goes first: from here on the content is not present, whatever happens next.
  if (::unlink(path.c_str()) != 0) return errnoStatus("delete", path, errno);
  if (options_.sync) PKGXFER_RETURN_IF_ERROR(internal::fsyncDir(dataLib()));
  PKGXFER_RETURN_IF_ERROR(writePkgLibUnlocked(std::string(package_id)));

  Result<ShaSet> referenced = referencedBodiesUnlocked();
  if (!referenced.ok()) {
    return Status::Corruption("removed " + id +
                              " but kept its bodies: " + referenced.error().message());
  }
  std::vector<std::string> candidates;
  if (removed.ok()) {
    candidates = uniqueBodies(*removed);
  } else {
    // We cannot tell which bodies it named: consider every body.
    Status s = listDir(fileLib(), [&](std::string_view prefix, unsigned char) {
      if (!isPrefixName(prefix)) return;
      (void)listDir(fileLib() / std::string(prefix), [&](std::string_view name, unsigned char) {
        if (isSha256Hex(name)) candidates.emplace_back(name);
      });
    });
    PKGXFER_RETURN_IF_ERROR(s);
  }
  Status first_error;
  for (const std::string& sha : candidates) {
    if (referenced->count(sha) != 0) continue;
    std::lock_guard<std::mutex> pin_lock(pin_mu_);
    if (pins_.count(sha) != 0) continue;
    const fs::path body = bodyPath(sha);
    if (::unlink(body.c_str()) != 0 && errno != ENOENT && first_error.ok()) {
      first_error = errnoStatus("delete", body, errno);
    }
  }
  return first_error;
}

Result<ShaSet> ContentLibrary::referencedBodiesUnlocked() const {
  PKGXFER_ASSIGN_OR_RETURN(std::vector<ContentRef> contents, listContentsUnlocked());
  ShaSet referenced;
  for (const ContentRef& ref : contents) {
    Result<Manifest> m = readManifest(ref.package_id, ref.version);
    if (!m.ok()) {
      return Status::Corruption("cannot read the manifest of " +
                                contentId(ref.package_id, ref.version) + ": " +
                                m.error().message());
    }
    for (ManifestFile& f : m->files) referenced.insert(std::move(f.sha256));
  }
  return referenced;
}

Result<std::size_t> ContentLibrary::removeUnreferencedBodies() {
  MetaLock lock(*this);
  PKGXFER_ASSIGN_OR_RETURN(ShaSet referenced, referencedBodiesUnlocked());
  std::size_t removed = 0;
  Status first_error;
  Status s = listDir(fileLib(), [&](std::string_view prefix, unsigned char) {
    if (!isPrefixName(prefix)) return;
    const fs::path dir = fileLib() / std::string(prefix);
    std::vector<std::string> names;
    (void)listDir(dir, [&](std::string_view name, unsigned char) {
      if (isSha256Hex(name) && referenced.count(std::string(name)) == 0) names.emplace_back(name);
    });
    for (const std::string& sha : names) {
      std::lock_guard<std::mutex> pin_lock(pin_mu_);
      if (pins_.count(sha) != 0) continue;
      if (::unlink((dir / sha).c_str()) == 0) {
        ++removed;
      } else if (errno != ENOENT && first_error.ok()) {
        first_error = errnoStatus("delete", dir / sha, errno);
      }
    }
  });
  PKGXFER_RETURN_IF_ERROR(s);
  PKGXFER_RETURN_IF_ERROR(first_error);
  return removed;
}

Result<std::size_t> ContentLibrary::cleanTemporaryFiles(bool file_lib) {
  MetaLock lock(*this);
  std::size_t removed = 0;
  auto sweep = [&](const fs::path& dir) {
    std::vector<std::string> temps;
    Status s = listDir(dir, [&](std::string_view name, unsigned char) {
      if (isTempName(name)) temps.emplace_back(name);
    });
    for (const std::string& name : temps) {
      if (removeIfStale(dir / name)) ++removed;
    }
    return s;
  };
  if (file_lib) {
    std::vector<std::string> prefixes;
    PKGXFER_RETURN_IF_ERROR(listDir(fileLib(), [&](std::string_view name, unsigned char) {
      if (isPrefixName(name)) prefixes.emplace_back(name);
    }));
    for (const std::string& p : prefixes) PKGXFER_RETURN_IF_ERROR(sweep(fileLib() / p));
    PKGXFER_RETURN_IF_ERROR(sweep(fileLib()));
  }
  PKGXFER_RETURN_IF_ERROR(sweep(dataLib()));
  PKGXFER_RETURN_IF_ERROR(sweep(pkgLib()));
  return removed;
}

// ---- metadata files ----------------------------------------------------------------------------

Status ContentLibrary::writeFileAtomically(const fs::path& path, std::string_view content) {
  const fs::path dir = path.parent_path();
  PKGXFER_ASSIGN_OR_RETURN(TempFile temp, createTemp(dir, path.filename().native()));
  auto fail = [&](Status s) {
    ::unlink(temp.path.c_str());
    return s;
  };
  if (Status s = internal::writeAll(temp.fd.get(), content.data(), content.size(), temp.path);
      !s.ok()) {
    return fail(s);
  }
  if (options_.sync && ::fsync(temp.fd.get()) != 0) {
    return fail(errnoStatus("fsync", temp.path, errno));
  }
  if (::rename(temp.path.c_str(), path.c_str()) != 0) {
    return fail(errnoStatus("rename into place", path, errno));
  }
  temp.fd.reset();
  if (options_.sync) PKGXFER_RETURN_IF_ERROR(internal::fsyncDir(dir));
  return Status::Ok();
}

Status ContentLibrary::writePkgLibUnlocked(const std::string& package_id) {
  PKGXFER_ASSIGN_OR_RETURN(std::vector<ContentRef> contents, listContentsUnlocked());
  std::vector<std::uint64_t> versions;
  for (const ContentRef& ref : contents) {
    if (ref.package_id == package_id) versions.push_back(ref.version);
  }
  const fs::path path = pkgLib() / (package_id + ".json");
  if (versions.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errnoStatus("delete", path, errno);
    return Status::Ok();
  }
  const std::string text = pkgLibJson(package_id, versions);
  Result<std::string> existing = internal::readWholeFile(path);
  if (existing.ok() && *existing == text) return Status::Ok();
  return writeFileAtomically(path, text);
}

Status ContentLibrary::repairPkgLibUnlocked() {
  PKGXFER_ASSIGN_OR_RETURN(std::vector<ContentRef> contents, listContentsUnlocked());
  std::set<std::string> packages;
  for (const ContentRef& ref : contents) packages.insert(ref.package_id);
  PKGXFER_RETURN_IF_ERROR(listDir(pkgLib(), [&](std::string_view name, unsigned char) {
    if (name.ends_with(".json") && isValidPackageId(name.substr(0, name.size() - 5))) {
      packages.emplace(name.substr(0, name.size() - 5));
    }
  }));
  for (const std::string& id : packages) PKGXFER_RETURN_IF_ERROR(writePkgLibUnlocked(id));
  return Status::Ok();
}

}  // namespace pkgxfer::content
