#include "pkgxfer/content/content_library.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "pkgxfer/common/aligned_buffer.h"
#include "pkgxfer/common/crash_point.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/content/file_hasher.h"
#include "temp_names.h"

namespace pkgxfer::content {

using fs::Path;

namespace {

// Manifests and PkgLib entries larger than this are refused as damaged (a 100,000-file manifest is
// ~16 MB): a huge file planted where a manifest should be must not exhaust memory.
constexpr std::uint64_t kMaxManifestBytes = 256ull << 20;

// A library's own files are read as regular files only, never through a symbolic link (a link
// planted in a DP's library must not make us serve or trust a file from elsewhere), and a FIFO
// or socket planted there must neither block us nor pass for a file. The file system refuses
// such a file with InvalidArgument naming it; in a library that is damage: Corruption (retried,
// shown to the administrator with the path).
Status asDamage(Status s) {
  if (s.code() != Status::Code::InvalidArgument) return s;
  return Status::Corruption(s.message() + " (where the content library expects one; remove it)");
}

Result<std::string> readLibraryFile(fs::FileSystem& fs, const Path& path) {
  Result<std::string> text = fs::readWholeFile(fs, path, kMaxManifestBytes, /*follow_links=*/false);
  if (!text.ok()) return asDamage(text.error());
  return text;
}

// A folder of the library layout (FileLib, DataLib, PkgLib, a FileLib prefix) must be a folder
// itself, not a link to one elsewhere: what is written into it would land there.
Status checkLibraryFolder(fs::FileSystem& fs, const Path& dir) {
  PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo info, fs.stat(dir, /*follow_links=*/false));
  if (info.isDirectory()) return Status::Ok();
  return Status::Corruption(fs.display(dir) + ": " + std::string(fs::describe(info.type)) +
                            ", not a folder (where the content library expects one; remove it)");
}

// Parsed manifests, shared by every library in the process: distmgr's check and pkgxfermgr's job
// read the same site manifest, and each job of a fan-out reads it again (~50 ms for 10,000
// files). An entry serves only while the file is the same one (file identity, size, mtime, seen
// before and after the read): manifests are replaced by rename, and a file rewritten in place
// changes its mtime.
class ManifestCache {
 public:
  struct Identity {
    std::uint64_t volume = 0;
    std::uint64_t id = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const Identity&) const = default;
  };

  static std::optional<Identity> identify(fs::FileSystem& fs, const Path& path) {
    auto info = fs.stat(path, /*follow_links=*/false);
    if (!info.ok()) return std::nullopt;
    return Identity{info->volume, info->id, info->size, info->mtime_ns};
  }

  // The key of a manifest: its path on that file system (two file systems may use one path).
  static std::string key(const fs::FileSystem& fs, const Path& path) {
    return std::to_string(reinterpret_cast<std::uintptr_t>(&fs)) + ":" + pathToUtf8(path);
  }

  std::shared_ptr<const Manifest> find(const std::string& key, const Identity& id) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->key != key) continue;
      if (!(it->id == id)) return nullptr;
      entries_.splice(entries_.begin(), entries_, it);  // most recently used first
      return it->manifest;
    }
    return nullptr;
  }

  void put(const std::string& key, const Identity& id, std::shared_ptr<const Manifest> m) {
    if (m->files.size() > kMaxFiles) return;
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(entries_, [&](const Entry& e) { return e.key == key; });
    entries_.push_front({key, id, std::move(m)});
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
    std::string key;
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

bool isValidOwner(std::string_view owner) { return internal::isValidOwner(owner); }

std::optional<UploadName> parseUploadName(std::string_view temp_name) {
  if (!internal::isOwnedBodyTempName(temp_name)) return std::nullopt;
  const std::string_view sha = temp_name.substr(1, 64);
  auto owner = internal::parseBodyTempName(temp_name, sha);
  return UploadName{std::string(sha), std::string(*owner)};
}

// ---- locks and pins ----------------------------------------------------------------------------

// Serializes metadata changes: the mutex within the process, the file system's folder lock on
// the root across processes (a CLI and the service may share a library).
class ContentLibrary::MetaLock {
 public:
  explicit MetaLock(ContentLibrary& lib) : lock_(lib.meta_mu_) {
    auto held = lib.fs_.lockDirectory(lib.root_);
    if (held.ok()) {
      held_ = std::move(*held);
    } else {
      status_ = held.status();
    }
  }
  // Not OK if the folder lock could not be taken (e.g. the root is gone): the change must not go
  // ahead without it.
  const Status& status() const { return status_; }

 private:
  std::lock_guard<std::mutex> lock_;
  std::unique_ptr<fs::DirectoryLock> held_;
  Status status_;
};

void ContentLibrary::pinOne(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(pin_mu_);
  ++pins_[sha256];
}

void ContentLibrary::unpinOne(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(pin_mu_);
  auto it = pins_.find(sha256);
  if (it != pins_.end() && --it->second == 0) pins_.erase(it);
}

bool ContentLibrary::pinned(const std::string& sha256) const {
  std::lock_guard<std::mutex> lock(pin_mu_);
  return pins_.count(sha256) != 0;
}

BodyPins ContentLibrary::pin(std::vector<std::string> sha256s) {
  BodyPins pins;
  pins.library_ = this;
  {
    std::lock_guard<std::mutex> lock(pin_mu_);
    for (const std::string& s : sha256s) ++pins_[s];
  }
  pins.shas_ = std::move(sha256s);
  return pins;
}

BodyPins::BodyPins(BodyPins&& other) noexcept
    : library_(std::exchange(other.library_, nullptr)), shas_(std::move(other.shas_)) {}

BodyPins& BodyPins::operator=(BodyPins&& other) noexcept {
  if (this != &other) {
    BodyPins old(std::move(*this));
    library_ = std::exchange(other.library_, nullptr);
    shas_ = std::move(other.shas_);
  }
  return *this;
}

BodyPins::~BodyPins() {
  if (library_ == nullptr) return;
  for (const std::string& s : shas_) library_->unpinOne(s);
}

// ---- Upload ------------------------------------------------------------------------------------

Upload::Upload(ContentLibrary& library, const UploadSpec& spec, Path dir, std::string temp_name,
               std::unique_ptr<fs::File> file, std::uint64_t offset, std::size_t leftovers,
               bool created_dir)
    : library_(library),
      sha256_(spec.sha256),
      size_(spec.size),
      resumable_(spec.resumable),
      read_back_(spec.read_back || offset > 0),
      dir_(std::move(dir)),
      temp_name_(std::move(temp_name)),
      file_(std::move(file)),
      offset_(offset),
      leftovers_(leftovers),
      created_dir_(created_dir) {
  library_.pinOne(sha256_);
}

Upload::~Upload() {
  // Resumable and not finished: the temporary file stays for a resume (closing it is all).
  if (!resumable_ || state_ == State::Aborted || state_ == State::Installed) {
    abort();
  } else {
    file_.reset();
  }
  library_.unpinOne(sha256_);
}

void Upload::abort() {
  // Deleted while still open (and locked), so no sweep races us.
  if (state_ != State::Installed && state_ != State::Aborted) {
    (void)library_.fs_.remove(tempPath());
  }
  file_.reset();
  if (state_ == State::Open || state_ == State::Sealed) state_ = State::Aborted;
}

Status Upload::fail(Status status) {
  failure_ = status;
  if (!resumable_) abort();  // a resumable upload keeps its file: resume cuts it back
  state_ = State::Failed;
  return status;
}

Status Upload::write(std::uint64_t at, const void* data, std::size_t size) {
  if (state_ == State::Failed) return failure_;
  if (state_ != State::Open) {
    return Status::Internal("upload of " + sha256_ + ": write after seal or abort");
  }
  if (at != offset_) {
    return Status::InvalidArgument("body " + sha256_ + ": bytes at offset " + std::to_string(at) +
                                   " but " + std::to_string(offset_) +
                                   " bytes were written; bytes must arrive in order");
  }
  if (size_ && size > *size_ - offset_) {
    return Status::InvalidArgument("body " + sha256_ + ": more than the expected " +
                                   std::to_string(*size_) + " bytes");
  }
  if (Status s = file_->writeAt(offset_, data, size); !s.ok()) return fail(s);
  if (!read_back_) hasher_.update(data, size);
  offset_ += size;
  // Start writing the bytes back now, so the flush that makes them durable later finds them on
  // their way (a streaming writer's throughput instead of a write-then-flush stall).
  if (library_.options_.sync && library_.options_.early_writeback && size > 0) {
    file_->startWriteback(offset_ - size, size);
  }
  return Status::Ok();
}

Status Upload::readBack(std::uint64_t to) {
  const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(
      library_.options_.copy_buffer_size, std::max<std::uint64_t>(size_.value_or(to), 1)));
  const ScratchBuffer scratch(chunk);
  char* const buffer = scratch.get();
  while (hashed_ < to) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, to - hashed_));
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n, file_->readAt(hashed_, buffer, want));
    if (n == 0) {
      return Status::Corruption("read back " + library_.fs_.display(tempPath()) + ": ends at " +
                                std::to_string(hashed_) + " of " + std::to_string(to) + " bytes");
    }
    hasher_.update(buffer, n);
    hashed_ += n;
  }
  return Status::Ok();
}

Status Upload::checkpoint() {
  if (state_ == State::Failed) return failure_;
  if (state_ != State::Open) return Status::Internal("upload of " + sha256_ + " is not open");
  const auto& options = library_.options_;
  if (options.sync) {
    if (Status s = file_->sync(); !s.ok()) return fail(s);
  }
  // What is durable now is read back into the hash (seal() reads back only the rest), then its
  // pages are dropped (they are clean): a stream holds at most a checkpoint of a large body in
  // the page cache, and its next writes reuse those pages.
  if (read_back_ && offset_ > hashed_) {
    if (Status s = readBack(offset_); !s.ok()) return fail(s);
  }
  if (options.sync && options.drop_from_cache) file_->dropCache(0, offset_);
  return Status::Ok();
}

Status Upload::seal() {
  if (state_ == State::Sealed) return Status::Ok();
  if (state_ == State::Failed) return failure_;
  if (state_ != State::Open) {
    return Status::Internal("upload of " + sha256_ + ": seal after install or abort");
  }
  auto discard = [this](Status s) {
    abort();
    failure_ = s;
    state_ = State::Failed;
    return s;
  };
  if (size_ && offset_ != *size_) {
    return discard(Status::Corruption("body " + sha256_ + ": " + std::to_string(offset_) +
                                      " bytes written, " + std::to_string(*size_) +
                                      " expected; discarded"));
  }
  if (read_back_) {
    Status read = readBack(offset_);
    if (read.code() == Status::Code::Corruption) return discard(read);  // shorter than written
    if (!read.ok()) return fail(read);
  }
  Result<std::string> actual = hasher_.finishHex();
  if (!actual.ok()) return fail(actual.status());
  if (*actual != sha256_) {
    return discard(Status::Corruption("body " + sha256_ + ": the " + std::to_string(offset_) +
                                      " bytes written hash to " + *actual +
                                      (read_back_ ? " (read back)" : "") + "; discarded"));
  }
  // A sealed resumable body waits in a batch: it must not hold a descriptor (a batch of small
  // files would run into the process's limit). A locked one keeps its file, and so its lock.
  if (resumable_) {
    Status closed = file_->close();
    file_.reset();
    if (!closed.ok()) return fail(closed);
  }
  state_ = State::Sealed;
  return Status::Ok();
}

Status Upload::commit() {
  PKGXFER_RETURN_IF_ERROR(seal());
  Upload* one = this;
  return library_.install(std::span<Upload* const>(&one, 1));
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

ContentLibrary::ContentLibrary(fs::FileSystem& fs, Path root, Options options)
    : fs_(fs), root_(std::move(root)), options_(std::move(options)) {}

ContentLibrary::~ContentLibrary() = default;

Result<std::unique_ptr<ContentLibrary>> ContentLibrary::open(fs::FileSystem& fs, const Path& root,
                                                             Options options) {
  std::error_code ec;
  const Path abs = root.is_absolute() ? root : std::filesystem::absolute(root, ec);
  if (ec) return Status::IoError("resolve " + displayPath(root) + ": " + ec.message());
  if (options.create_root) {
    PKGXFER_RETURN_IF_ERROR(fs::makeDirectories(fs, abs).withContext("create content library"));
  }
  PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo info, fs.stat(abs));
  if (!info.isDirectory()) {
    return Status::InvalidArgument("content library " + fs.display(abs) + " is not a folder");
  }
  for (const char* sub : {"FileLib", "DataLib", "PkgLib"}) {
    PKGXFER_ASSIGN_OR_RETURN(bool made, fs.makeDirectory(abs / sub));
    if (!made) PKGXFER_RETURN_IF_ERROR(checkLibraryFolder(fs, abs / sub));
  }
  std::unique_ptr<ContentLibrary> lib(new ContentLibrary(fs, abs, std::move(options)));
  PKGXFER_RETURN_IF_ERROR(lib->initialiseIdentity());
  if (lib->options_.sweep_on_open) {
    PKGXFER_RETURN_IF_ERROR(
        lib->cleanTemporaryFiles(lib->options_.sweep_file_lib_on_open).status());
  }
  {
    MetaLock lock(*lib);
    PKGXFER_RETURN_IF_ERROR(lock.status());
    PKGXFER_RETURN_IF_ERROR(lib->repairPkgLibUnlocked());
  }
  return lib;
}

Status ContentLibrary::notInitialised(const fs::FileSystem& fs, const Path& root) {
  return Status::Unavailable("library at " + fs.display(root) +
                             " is not the one this site initialised (share not mounted?)");
}

Result<LibraryIdentity> ContentLibrary::readIdentity(fs::FileSystem& fs, const Path& root) {
  const Path path = root / std::string(kIdentityFileName);
  PKGXFER_ASSIGN_OR_RETURN(std::string text, fs::readWholeFile(fs, path, 64 << 10));
  LibraryIdentity identity;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    identity.site_code = j.value("site_code", std::string());
    identity.library_id = j.at("library_id").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(fs.display(path) + ": not a library identity: " + e.what());
  }
  if (identity.library_id.empty()) {
    return Status::Corruption(fs.display(path) + ": not a library identity: empty library_id");
  }
  return identity;
}

Status ContentLibrary::initialiseIdentity() {
  MetaLock lock(*this);
  PKGXFER_RETURN_IF_ERROR(lock.status());
  Result<LibraryIdentity> found = readIdentity(fs_, root_);
  if (found.ok()) {
    std::lock_guard guard(identity_mu_);
    identity_ = std::move(*found);
    return Status::Ok();
  }
  if (found.error().code() != Status::Code::NotFound) return found.error();
  LibraryIdentity made{options_.site_code, randomToken() + randomToken()};
  PKGXFER_RETURN_IF_ERROR(writeIdentity(made));
  std::lock_guard guard(identity_mu_);
  identity_ = std::move(made);
  return Status::Ok();
}

Status ContentLibrary::writeIdentity(const LibraryIdentity& identity) {
  nlohmann::ordered_json j;
  j["site_code"] = identity.site_code;
  j["library_id"] = identity.library_id;
  return writeFileAtomically(root_ / std::string(kIdentityFileName), j.dump());
}

LibraryIdentity ContentLibrary::identity() const {
  std::lock_guard guard(identity_mu_);
  return identity_;
}

Status ContentLibrary::adoptSite(std::string_view site_code) {
  MetaLock lock(*this);
  PKGXFER_RETURN_IF_ERROR(lock.status());
  PKGXFER_RETURN_IF_ERROR(checkIdentity());
  LibraryIdentity current = identity();
  if (current.site_code == site_code) return Status::Ok();
  if (!current.site_code.empty()) {
    return Status::AlreadyExists("library at " + describe() + " belongs to site " +
                                 current.site_code + ", not to site " + std::string(site_code));
  }
  current.site_code = std::string(site_code);
  PKGXFER_RETURN_IF_ERROR(writeIdentity(current));
  std::lock_guard guard(identity_mu_);
  identity_ = std::move(current);
  return Status::Ok();
}

Status checkFolderWritable(fs::FileSystem& fs, const fs::Path& dir) {
  const Path probe = dir / (".pkgxfer-probe." + randomToken());
  auto file = fs.open(probe, fs::OpenMode::CreateNew);
  if (!file.ok()) return file.status().withContext("probe file");
  Status written = (*file)->writeAt(0, "probe\n", 6);
  if (written.ok()) written = (*file)->close();
  (void)fs.remove(probe);
  if (!written.ok()) return written.withContext("probe file");
  return Status::Ok();
}

Status ContentLibrary::checkWritable() const { return checkFolderWritable(fs_, root_); }

Status ContentLibrary::checkIdentity() const {
  Result<LibraryIdentity> found = readIdentity(fs_, root_);
  if (found.ok()) {
    return *found == identity() ? Status::Ok() : notInitialised(fs_, root_);
  }
  if (found.error().code() == Status::Code::NotFound) return notInitialised(fs_, root_);
  return found.error();
}

Status ContentLibrary::remakeFolder(const Path& dir) {
  PKGXFER_RETURN_IF_ERROR(checkIdentity());
  PKGXFER_RETURN_IF_ERROR(fs_.makeDirectory(dir).status());
  if (options_.sync) PKGXFER_RETURN_IF_ERROR(fs_.syncDirectory(root_));
  return Status::Ok();
}

Result<std::unique_ptr<ContentLibrary>> ContentLibrary::open(const Path& root, Options options) {
  return open(fs::FileSystem::local(), root, std::move(options));
}

Result<std::unique_ptr<ContentLibrary>> ContentLibrary::open(const Path& root) {
  return open(fs::FileSystem::local(), root, Options{});
}

Path ContentLibrary::bodyPath(std::string_view sha256) const {
  return fileLib() / std::string(sha256.substr(0, 4)) / std::string(sha256);
}

Path ContentLibrary::manifestPath(std::string_view package_id, std::uint64_t version) const {
  return dataLib() / (contentId(package_id, version) + ".json");
}

// ---- bodies ------------------------------------------------------------------------------------

bool ContentLibrary::hasBody(std::string_view sha256) const {
  if (!isSha256Hex(sha256)) return false;
  auto info = fs_.stat(bodyPath(sha256), /*follow_links=*/false);
  return info.ok() && info->isRegular();
}

Result<BodyReader> ContentLibrary::openBody(std::string_view sha256) const {
  PKGXFER_RETURN_IF_ERROR(checkSha(sha256));
  auto file = fs_.open(bodyPath(sha256), fs::OpenMode::ReadRegular);
  if (!file.ok()) return asDamage(file.status());
  PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo info, (*file)->info());
  return BodyReader(std::move(*file), info.size);
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
    Status s = listDir(fileLib(), [&](std::string_view name, fs::FileType) {
      if (isPrefixName(name)) prefixes->emplace(name);
    });
    if (!s.ok()) {
      if (s.code() == Status::Code::NotFound) return present;
      return s;
    }
  }
  for (const auto& entry : wanted) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
    const std::string_view prefix = entry.first;
    const ShaSet& shas = entry.second;
    if (prefixes && !prefixes->contains(prefix)) continue;
    // A folder holding few of the bodies asked for: a stat each is fewer system calls than a
    // listing (open, read, read, close). A first distribution of 10,000 bodies spreads them
    // over ~9,300 folders.
    if (shas.size() <= 2) {
      for (const std::string& sha : shas) {
        auto info = fs_.stat(bodyPath(sha), /*follow_links=*/false);
        if (info.ok()) {
          PKGXFER_RETURN_IF_ERROR(checkBodyType(sha, info->type));
          present.insert(sha);
        } else if (info.status().code() != Status::Code::NotFound) {
          return info.status();
        }
      }
      continue;
    }
    const Path dir = fileLib() / std::string(prefix);
    Status hostile;
    Status s = listDir(dir, [&](std::string_view name, fs::FileType type) {
      auto it = shas.find(std::string(name));
      if (it == shas.end() || !hostile.ok()) return;
      if (type == fs::FileType::Unknown) {  // the listing does not say: ask
        auto info = fs_.stat(dir / *it, /*follow_links=*/false);
        if (!info.ok()) return;  // gone since the listing
        type = info->type;
      }
      hostile = checkBodyType(*it, type);
      if (hostile.ok()) present.insert(*it);
    });
    PKGXFER_RETURN_IF_ERROR(hostile);
    if (!s.ok() && s.code() != Status::Code::NotFound) return s;
  }
  return present;
}

Status ContentLibrary::checkBodyType(const std::string& sha256, fs::FileType type) const {
  if (type == fs::FileType::Regular) return Status::Ok();
  // A link, FIFO, socket, device or folder under a body's name is not the body. Reading it could
  // block (a FIFO), serve a file from outside the library (a link) or fail later with a cause
  // nobody can place; replacing it would delete what someone else put there. Say what and where.
  return Status::Corruption(fs_.display(bodyPath(sha256)) + ": " + std::string(fs::describe(type)) +
                            " where the body should be (not a regular file; remove it)");
}

// ---- writing bodies ----------------------------------------------------------------------------

Result<bool> ContentLibrary::makePrefixFolder(const Path& dir) {
  // One mkdir: most bodies of a first distribution need their prefix folder made, the others find
  // it. FileLib itself missing (deleted behind our back) is made again, under a root that is still
  // this library (the root itself is never made here).
  auto made = fs_.makeDirectory(dir);
  if (!made.ok() && made.status().code() == Status::Code::NotFound) {
    PKGXFER_RETURN_IF_ERROR(remakeFolder(fileLib()));
    made = fs_.makeDirectory(dir);
  }
  // A name that was there already must be a folder, not a link to one elsewhere (or a FIFO): the
  // body's bytes would be written through it.
  if (made.ok() && !*made) PKGXFER_RETURN_IF_ERROR(checkLibraryFolder(fs_, dir));
  return made;
}

Result<ContentLibrary::TempFile> ContentLibrary::createTemp(const Path& dir,
                                                            std::string_view final_name,
                                                            std::string_view owner, bool lock) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string name = internal::makeTempName(final_name, owner, randomToken());
    const Path path = dir / pathFromUtf8(name);
    auto file = fs_.open(path, fs::OpenMode::CreateNew);
    if (!file.ok()) {
      if (file.status().code() == Status::Code::AlreadyExists) continue;
      return file.status();
    }
    if (lock) {
      PKGXFER_ASSIGN_OR_RETURN(bool locked, (*file)->tryLock());
      if (!locked) continue;
      // A sweep may have deleted the name between our create and our lock: make sure the name
      // still refers to our file, or start over.
      PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo mine, (*file)->info());
      auto named = fs_.stat(path, /*follow_links=*/false);
      if (!named.ok() || !named->sameFile(mine)) continue;
    }
    return TempFile{std::move(*file), std::move(name)};
  }
  return Status::IoError("cannot create a temporary file in " + fs_.display(dir));
}

Result<std::size_t> ContentLibrary::sweepUploads(const Path& dir, std::string_view sha256,
                                                 std::string_view owner, std::string_view keep) {
  if (owner.empty()) {
    return Status::InvalidArgument(
        "discarding uploads needs their owner (an empty one names none)");
  }
  std::vector<std::string> names;
  Status listed = listDir(dir, [&](std::string_view name, fs::FileType) {
    if (name == keep) return;
    auto temp = internal::parseBodyTempName(name, sha256);
    if (temp && *temp == owner) names.emplace_back(name);
  });
  if (!listed.ok()) {
    if (listed.code() == Status::Code::NotFound) return std::size_t{0};
    return listed;
  }
  std::size_t removed = 0;
  for (const std::string& name : names) {
    Status s = fs_.remove(dir / pathFromUtf8(name));
    if (s.ok()) {
      ++removed;
    } else if (s.code() != Status::Code::NotFound) {
      return s;
    }
  }
  return removed;
}

Result<std::unique_ptr<Upload>> ContentLibrary::openUpload(const UploadSpec& spec) {
  PKGXFER_RETURN_IF_ERROR(checkSha(spec.sha256));
  if (!isValidOwner(spec.owner) || (spec.resumable && spec.owner.empty())) {
    return Status::InvalidArgument("\"" + displayBytes(spec.owner) +
                                   "\" is not an upload owner ([A-Za-z0-9_-], 1 to 64; a " +
                                   "resumable upload needs one)");
  }
  const std::string_view owner = spec.resumable ? std::string_view(spec.owner) : "";
  const Path dir = bodyPath(spec.sha256).parent_path();
  PKGXFER_ASSIGN_OR_RETURN(bool created, makePrefixFolder(dir));
  // A folder made just now holds no leftovers: most bodies of a first distribution skip the
  // listing.
  std::size_t leftovers = 0;
  if (spec.discard_leftovers && !created && !owner.empty()) {
    PKGXFER_ASSIGN_OR_RETURN(leftovers, sweepUploads(dir, spec.sha256, owner, spec.resume_name));
  }

  if (spec.resumable && !spec.resume_name.empty() &&
      internal::parseBodyTempName(spec.resume_name, spec.sha256) == owner) {
    const Path path = dir / spec.resume_name;
    auto file = fs_.open(path, fs::OpenMode::ReadWrite);
    if (file.ok()) {
      PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo info, (*file)->info());
      // Bytes past the durable offset may be torn: cut them. A file shorter than the recorded
      // offset (the library lost data) starts over.
      std::uint64_t offset = spec.resume_offset;
      if (info.size < offset || (spec.size && offset > *spec.size)) offset = 0;
      PKGXFER_RETURN_IF_ERROR((*file)->truncate(offset));
      return std::unique_ptr<Upload>(new Upload(*this, spec, dir, spec.resume_name,
                                                std::move(*file), offset, leftovers, created));
    }
    if (file.status().code() == Status::Code::InvalidArgument) {
      // Not a file we wrote (a link, a FIFO planted at our temporary name): nothing to resume and
      // nothing to write through. The name is ours: delete what is there (a link itself, not its
      // target) and start over under a new name.
      (void)fs_.remove(path);
    } else if (file.status().code() != Status::Code::NotFound) {
      return file.status();
    }
  }
  PKGXFER_ASSIGN_OR_RETURN(TempFile temp,
                           createTemp(dir, spec.sha256, owner, /*lock=*/!spec.resumable));
  return std::unique_ptr<Upload>(new Upload(*this, spec, dir, std::move(temp.name),
                                            std::move(temp.file), 0, leftovers, created));
}

Status ContentLibrary::rename(Upload& u) {
  PKGXFER_RETURN_IF_ERROR(fs_.rename(u.tempPath(), u.dir_ / u.sha256_));
  u.state_ = Upload::State::Installed;
  // Closes (and unlocks) the file still open (a locked upload's): the name is gone already. A
  // network file system may report a lost write only here, so the close is checked.
  std::unique_ptr<fs::File> file = std::move(u.file_);
  if (file) {
    PKGXFER_RETURN_IF_ERROR(file->close());
  }
  return Status::Ok();
}

void ContentLibrary::dropPages(Upload& u) {
  // Its bytes are on the disk now, so its pages are clean: drop them. Advisory (a page still under
  // writeback simply stays), so a body that cannot be opened for it is installed anyway.
  fs::File* file = u.file_.get();
  std::unique_ptr<fs::File> reopened;
  if (file == nullptr) {
    auto opened = fs_.open(u.tempPath(), fs::OpenMode::ReadRegular);
    if (opened.ok()) reopened = std::move(*opened);
    file = reopened.get();
  }
  if (file != nullptr) file->dropCache(0, 0);
}

Status ContentLibrary::installOne(Upload& u) {
  if (options_.sync) {
    std::unique_ptr<fs::File> reopened;
    fs::File* file = u.file_.get();
    if (file == nullptr) {
      PKGXFER_ASSIGN_OR_RETURN(reopened, fs_.open(u.tempPath(), fs::OpenMode::ReadRegular));
      file = reopened.get();
    }
    PKGXFER_RETURN_IF_ERROR(file->sync());
    if (options_.drop_from_cache) file->dropCache(0, 0);
  }
  PKGXFER_RETURN_IF_ERROR(rename(u));
  if (options_.sync) {
    PKGXFER_RETURN_IF_ERROR(fs_.syncDirectory(u.dir_));
    if (u.created_dir_) PKGXFER_RETURN_IF_ERROR(fs_.syncDirectory(fileLib()));
  }
  return Status::Ok();
}

Status ContentLibrary::installBatch(std::span<Upload* const> uploads, bool sync_renames) {
  if (options_.sync) PKGXFER_RETURN_IF_ERROR(fs_.syncVolume(root_));
  for (Upload* u : uploads) {
    if (options_.sync && options_.drop_from_cache) dropPages(*u);
    PKGXFER_RETURN_IF_ERROR(rename(*u));
  }
  if (options_.sync && sync_renames) PKGXFER_RETURN_IF_ERROR(fs_.syncVolume(root_));
  return Status::Ok();
}

Status ContentLibrary::install(std::span<Upload* const> uploads) {
  for (Upload* u : uploads) {
    if (!u->sealed()) {
      return Status::Internal("upload of " + u->sha256() + " is not sealed or already installed");
    }
    if (&u->library_ != this) {
      return Status::Internal("upload of " + u->sha256() + " belongs to another library");
    }
  }
  if (uploads.empty()) return Status::Ok();
  if (uploads.size() == 1) return installOne(*uploads[0]);
  return installBatch(uploads, /*sync_renames=*/true);
}

Status ContentLibrary::discardUpload(std::string_view sha256, std::string_view temp_name) {
  auto owner = isSha256Hex(sha256) ? internal::parseBodyTempName(temp_name, sha256) : std::nullopt;
  if (!owner || owner->empty()) {
    return Status::InvalidArgument("\"" + displayBytes(temp_name) +
                                   "\" is not a temporary name of body " + displayBytes(sha256));
  }
  Status s = fs_.remove(bodyPath(sha256).parent_path() / std::string(temp_name));
  if (s.code() == Status::Code::NotFound) return Status::Ok();
  return s;
}

Result<std::size_t> ContentLibrary::discardUploads(const std::vector<std::string>& sha256s,
                                                   std::string_view owner) {
  std::size_t removed = 0;
  for (const std::string& sha : sha256s) {
    PKGXFER_RETURN_IF_ERROR(checkSha(sha));
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n,
                             sweepUploads(bodyPath(sha).parent_path(), sha, owner, {}));
    removed += n;
  }
  return removed;
}

Status ContentLibrary::copyInto(Upload& upload, const Reader& read) {
  const std::size_t cap = std::max<std::size_t>(options_.copy_buffer_size, 4096);
  const ScratchBuffer scratch(cap);
  char* const data = scratch.get();
  while (true) {
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n, read(data, cap));
    if (n == 0) return Status::Ok();
    PKGXFER_RETURN_IF_ERROR(upload.append(data, n));
  }
}

Status ContentLibrary::writeBody(std::string_view sha256,
                                 std::optional<std::uint64_t> expected_size, const Reader& read) {
  UploadSpec spec;
  spec.sha256 = std::string(sha256);
  spec.size = expected_size;
  PKGXFER_ASSIGN_OR_RETURN(auto upload, openUpload(spec));
  PKGXFER_RETURN_IF_ERROR(copyInto(*upload, read));
  return upload->commit();
}

Result<std::unique_ptr<Upload>> ContentLibrary::stageFromFile(
    const Path& file, std::string_view sha256, std::optional<std::uint64_t> expected_size) {
  PKGXFER_RETURN_IF_ERROR(checkSha(sha256));
  PKGXFER_ASSIGN_OR_RETURN(std::unique_ptr<fs::File> source, fs_.open(file, fs::OpenMode::Read));
  PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo info, source->info());
  if (!info.isRegular()) {
    return Status::InvalidArgument(fs_.display(file) + ": " + std::string(fs::describe(info.type)) +
                                   ", not a file");
  }
  if (expected_size && info.size != *expected_size) {
    return Status::Corruption(fs_.display(file) + ": size " + std::to_string(info.size) +
                              ", expected " + std::to_string(*expected_size) +
                              " (the file changed since its manifest was made)");
  }
  source->adviseSequential();
  UploadSpec spec;
  spec.sha256 = std::string(sha256);
  spec.size = expected_size;
  PKGXFER_ASSIGN_OR_RETURN(auto upload, openUpload(spec));
  std::uint64_t at = 0;
  Status s = copyInto(*upload, [&](char* buffer, std::size_t cap) -> Result<std::size_t> {
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n, source->readAt(at, buffer, cap));
    at += n;
    return n;
  });
  if (s.ok()) s = upload->seal();
  // InvalidArgument here can only be the upload refusing bytes past the expected size: the file
  // grew while it was copied.
  if (s.code() == Status::Code::Corruption || s.code() == Status::Code::InvalidArgument) {
    return Status::Corruption(fs_.display(file) + ": does not match the manifest (" + s.message() +
                              "); the file changed since its manifest was made");
  }
  if (!s.ok()) return s;
  return upload;
}

Status ContentLibrary::importBody(const Path& file, std::string_view sha256,
                                  std::optional<std::uint64_t> expected_size) {
  PKGXFER_ASSIGN_OR_RETURN(auto upload, stageFromFile(file, sha256, expected_size));
  Upload* one = upload.get();
  return install(std::span<Upload* const>(&one, 1));
}

// ---- content versions --------------------------------------------------------------------------

Result<AddResult> ContentLibrary::addContentFromSource(const Manifest& manifest,
                                                       const Path& source) {
  PKGXFER_RETURN_IF_ERROR(validateManifest(manifest));
  const std::string id = contentId(manifest.package_id, manifest.version);
  std::vector<std::string> bodies = uniqueBodies(manifest);
  BodyPins pins = pin(bodies);
  PKGXFER_ASSIGN_OR_RETURN(ShaSet present, inventory(bodies));

  // Bodies are staged (copied, hashed, verified) in batches; each batch costs one volume flush
  // for the data before its renames, and one more flush covers every rename before the manifest.
  // An fsync per body and per folder runs at about 230 bodies/s on the project VM; batches keep
  // the same crash guarantees at the speed of the copy.
  constexpr std::size_t kBatchBodies = 128;  // also bounds the open files (each holds its lock)
  constexpr std::uint64_t kBatchBytes = 256ull << 20;
  std::vector<std::unique_ptr<Upload>> staged;
  std::uint64_t staged_bytes = 0;
  bool installed = false;
  auto flush = [&]() -> Status {
    if (staged.empty()) return Status::Ok();
    std::vector<Upload*> batch;
    for (auto& u : staged) batch.push_back(u.get());
    PKGXFER_RETURN_IF_ERROR(installBatch(batch, /*sync_renames=*/false).withContext("add " + id));
    staged.clear();
    staged_bytes = 0;
    installed = true;
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
    auto upload = stageFromFile(source / pathFromUtf8(f.path), f.sha256, f.size);
    if (!upload.ok()) return upload.error().withContext("add " + id);
    staged.push_back(std::move(*upload));
    staged_bytes += f.size;
    ++result.bodies_copied;
    result.bytes_copied += f.size;
    if (staged.size() >= kBatchBodies || staged_bytes >= kBatchBytes) {
      PKGXFER_RETURN_IF_ERROR(flush());
    }
  }
  PKGXFER_RETURN_IF_ERROR(flush());
  if (options_.sync && installed) PKGXFER_RETURN_IF_ERROR(fs_.syncVolume(root_));
  PKGXFER_RETURN_IF_ERROR(commitManifest(manifest));
  return result;
}

Status ContentLibrary::commitManifest(const Manifest& manifest) {
  PKGXFER_RETURN_IF_ERROR(validateManifest(manifest));
  const std::string id = contentId(manifest.package_id, manifest.version);
  MetaLock lock(*this);
  PKGXFER_RETURN_IF_ERROR(lock.status());

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

  // The bodies are there; make sure their renames are durable too before a manifest names them
  // (one of them may have been installed by an attempt whose flush of the renames failed, or by a
  // job still between its renames and its flush). One flush of the volume, not one per body.
  if (options_.sync) PKGXFER_RETURN_IF_ERROR(fs_.syncVolume(root_));

  const Path path = manifestPath(manifest.package_id, manifest.version);
  Result<std::string> existing = readLibraryFile(fs_, path);
  if (existing.ok()) {
    Result<Manifest> stored = parseManifest(*existing);
    if (stored.ok()) {
      if (*stored != manifest) {
        return Status::AlreadyExists(id + ": a different manifest is already stored under " +
                                     fs_.display(path));
      }
      return writePkgLibUnlocked(manifest.package_id);  // already there; make PkgLib agree
    }
    // A damaged manifest under this name: replace it with the good one.
  } else if (existing.error().code() != Status::Code::NotFound) {
    return existing.error();
  }

  Status written = writeFileAtomically(path, toJson(manifest));
  if (written.ok()) written = writePkgLibUnlocked(manifest.package_id);
  if (!written.ok()) {
    // All or nothing: a commit that failed after the manifest took its name (its folder could not
    // be flushed, PkgLib could not be written) takes it back, so the content is not present and a
    // retry commits it again, instead of a manifest nobody knows is durable and a PkgLib that
    // does not list it. Best effort: if the disk refuses this too, open() repairs PkgLib.
    if (fs_.stat(path, /*follow_links=*/false).ok() && fs_.remove(path).ok()) {
      if (options_.sync) (void)fs_.syncDirectory(dataLib());
      (void)writePkgLibUnlocked(manifest.package_id);
    }
    return written;
  }
  return Status::Ok();
}

bool ContentLibrary::hasContent(std::string_view package_id, std::uint64_t version) const {
  if (!isValidPackageId(package_id)) return false;
  auto info = fs_.stat(manifestPath(package_id, version), /*follow_links=*/false);
  return info.ok() && info->isRegular();
}

Result<std::string> ContentLibrary::readManifestJson(std::string_view package_id,
                                                     std::uint64_t version) const {
  PKGXFER_RETURN_IF_ERROR(checkPackageId(package_id));
  return readLibraryFile(fs_, manifestPath(package_id, version));
}

Result<Manifest> ContentLibrary::readManifest(std::string_view package_id,
                                              std::uint64_t version) const {
  PKGXFER_RETURN_IF_ERROR(checkPackageId(package_id));
  const Path path = manifestPath(package_id, version);
  const std::string key = ManifestCache::key(fs_, path);
  const std::optional<ManifestCache::Identity> before = ManifestCache::identify(fs_, path);
  if (before) {
    if (auto hit = manifestCache().find(key, *before)) return Manifest(*hit);
  }
  PKGXFER_ASSIGN_OR_RETURN(std::string text, readManifestJson(package_id, version));
  Result<Manifest> m = parseManifest(text);
  if (!m.ok()) return m.error().withContext(fs_.display(path));
  if (m->package_id != package_id || m->version != version) {
    return Status::Corruption(fs_.display(path) + ": holds " +
                              contentId(m->package_id, m->version));
  }
  if (before && ManifestCache::identify(fs_, path) == before) {
    manifestCache().put(key, *before, std::make_shared<const Manifest>(*m));
  }
  return m;
}

Result<std::vector<ContentRef>> ContentLibrary::listContentsUnlocked() const {
  std::vector<ContentRef> out;
  Status listed = listDir(dataLib(), [&](std::string_view name, fs::FileType) {
    ContentRef ref;
    if (parseDataLibName(name, ref)) out.push_back(std::move(ref));
  });
  // DataLib deleted behind our back: no content is present (the next commit makes it again).
  if (!listed.ok() && listed.code() != Status::Code::NotFound) return listed;
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<ContentRef>> ContentLibrary::listContents() const {
  return listContentsUnlocked();
}

Result<std::vector<std::uint64_t>> ContentLibrary::listVersions(std::string_view package_id) const {
  PKGXFER_RETURN_IF_ERROR(checkPackageId(package_id));
  const Path path = pkgLib() / (std::string(package_id) + ".json");
  Result<std::string> text = readLibraryFile(fs_, path);
  if (!text.ok()) {
    if (text.error().code() == Status::Code::NotFound) return std::vector<std::uint64_t>{};
    return text.error();
  }
  std::vector<std::uint64_t> versions;
  try {
    nlohmann::json j = nlohmann::json::parse(*text);
    for (const auto& v : j.at("versions")) versions.push_back(v.get<std::uint64_t>());
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(fs_.display(path) + ": " + e.what());
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

  std::vector<Path> paths;
  paths.reserve(bodies.size());
  for (const std::string& sha : bodies) paths.push_back(bodyPath(sha));
  // A body is read only if it is a regular file (not through a link, never a FIFO) no larger
  // than the largest one the manifest names: a 1 TB sparse file planted under a body's name is
  // reported at once instead of keeping the check (and a stop) waiting for hours.
  HashOptions options;
  options.follow_links = false;
  options.max_size = 0;
  for (const ManifestFile& f : m.files) options.max_size = std::max(options.max_size, f.size);
  std::vector<Result<HashedFile>> hashed;
  if (pool != nullptr) {
    hashed = hashFiles(fs_, paths, *pool, options);
  } else {
    for (const Path& p : paths) hashed.push_back(hashFile(fs_, p, options));
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
  PKGXFER_RETURN_IF_ERROR(lock.status());
  const Path path = manifestPath(package_id, version);
  PKGXFER_ASSIGN_OR_RETURN(std::string text, readLibraryFile(fs_, path));
  Result<Manifest> removed = parseManifest(text);

  // The manifest goes first: from here on the content is not present, whatever happens next.
  PKGXFER_RETURN_IF_ERROR(fs_.remove(path));
  if (options_.sync) PKGXFER_RETURN_IF_ERROR(fs_.syncDirectory(dataLib()));
  PKGXFER_RETURN_IF_ERROR(writePkgLibUnlocked(std::string(package_id)));
  crashPoint("content.manifest-removed");

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
    std::vector<std::string> prefixes;
    PKGXFER_RETURN_IF_ERROR(listDir(fileLib(), [&](std::string_view prefix, fs::FileType) {
      if (isPrefixName(prefix)) prefixes.emplace_back(prefix);
    }));
    for (const std::string& prefix : prefixes) {
      Status s = listDir(fileLib() / prefix, [&](std::string_view name, fs::FileType) {
        if (isSha256Hex(name)) candidates.emplace_back(name);
      });
      if (!s.ok() && s.code() != Status::Code::NotFound) return s.withContext("remove " + id);
    }
  }
  return removeBodiesUnlocked(candidates, *referenced).status();
}

Result<std::size_t> ContentLibrary::removeBodiesUnlocked(const std::vector<std::string>& sha256s,
                                                         const ShaSet& referenced) {
  std::size_t removed = 0;
  Status first_error;
  for (const std::string& sha : sha256s) {
    if (referenced.count(sha) != 0) continue;
    // Under the pin lock, so a body pinned from now on is not deleted by this pass.
    std::lock_guard<std::mutex> pin_lock(pin_mu_);
    if (pins_.count(sha) != 0) continue;
    Status s = fs_.remove(bodyPath(sha));
    if (s.ok()) {
      ++removed;
    } else if (s.code() != Status::Code::NotFound && first_error.ok()) {
      first_error = s;
    }
  }
  if (!first_error.ok()) return first_error;
  return removed;
}

Result<std::size_t> ContentLibrary::removeBodies(const std::vector<std::string>& sha256s) {
  for (const std::string& sha : sha256s) PKGXFER_RETURN_IF_ERROR(checkSha(sha));
  MetaLock lock(*this);
  PKGXFER_RETURN_IF_ERROR(lock.status());
  PKGXFER_ASSIGN_OR_RETURN(ShaSet referenced, referencedBodiesUnlocked());
  return removeBodiesUnlocked(sha256s, referenced);
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
  PKGXFER_RETURN_IF_ERROR(lock.status());
  PKGXFER_ASSIGN_OR_RETURN(ShaSet referenced, referencedBodiesUnlocked());
  std::vector<std::string> prefixes;
  PKGXFER_RETURN_IF_ERROR(listDir(fileLib(), [&](std::string_view prefix, fs::FileType) {
    if (isPrefixName(prefix)) prefixes.emplace_back(prefix);
  }));
  std::size_t removed = 0;
  Status first_error;
  for (const std::string& prefix : prefixes) {
    const Path dir = fileLib() / prefix;
    std::vector<std::string> names;
    Status listed = listDir(dir, [&](std::string_view name, fs::FileType) {
      if (isSha256Hex(name) && referenced.count(std::string(name)) == 0) names.emplace_back(name);
    });
    if (!listed.ok() && listed.code() != Status::Code::NotFound && first_error.ok()) {
      first_error = listed;
    }
    for (const std::string& sha : names) {
      std::lock_guard<std::mutex> pin_lock(pin_mu_);
      if (pins_.count(sha) != 0) continue;
      Status s = fs_.remove(dir / sha);
      if (s.ok()) {
        ++removed;
      } else if (s.code() != Status::Code::NotFound && first_error.ok()) {
        first_error = s;
      }
    }
  }
  PKGXFER_RETURN_IF_ERROR(first_error);
  return removed;
}

Result<bool> ContentLibrary::removeIfStale(const Path& path) {
  // A name gone meanwhile (its writer renamed or deleted it) is not an error: nothing to do.
  auto gone = [](const Status& s) { return s.code() == Status::Code::NotFound; };
  auto removed = [&]() -> Result<bool> {
    Status s = fs_.remove(path);
    if (s.ok()) return true;
    if (gone(s)) return false;
    return s;
  };
  auto named = fs_.stat(path, /*follow_links=*/false);
  if (!named.ok()) {
    if (gone(named.status())) return false;
    return named.status();
  }
  if (!named->isRegular()) {
    // Not a file any writer of ours made (a link, a FIFO planted at a temporary name): it goes.
    if (named->type == fs::FileType::Directory) return false;
    return removed();
  }
  auto file = fs_.open(path, fs::OpenMode::ReadRegular);  // not a link swapped in since
  if (!file.ok()) {
    if (gone(file.status())) return false;
    // Replaced by something not regular since the stat: the next sweep looks again.
    if (file.status().code() == Status::Code::InvalidArgument) return false;
    return file.status();
  }
  PKGXFER_ASSIGN_OR_RETURN(bool locked, (*file)->tryLock());
  if (!locked) return false;  // its writer is alive
  PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo mine, (*file)->info());
  if (!mine.sameFile(*named)) return false;  // replaced since we looked
  return removed();                          // deleted while we hold the lock
}

Result<std::size_t> ContentLibrary::cleanTemporaryFiles(bool file_lib) {
  MetaLock lock(*this);
  PKGXFER_RETURN_IF_ERROR(lock.status());
  std::size_t removed = 0;
  // A file that cannot be checked or deleted does not stop the sweep: the first such error is
  // reported once every other file was tried.
  Status first_error;
  auto sweep = [&](const Path& dir) -> Status {
    std::vector<std::string> temps;
    Status s = listDir(dir, [&](std::string_view name, fs::FileType) {
      // A resumable upload is its owner's to resume or discard, alive or not.
      if (internal::isTempName(name) && !internal::isOwnedBodyTempName(name)) {
        temps.emplace_back(name);
      }
    });
    for (const std::string& name : temps) {
      Result<bool> stale = removeIfStale(dir / pathFromUtf8(name));
      if (!stale.ok()) {
        if (first_error.ok()) {
          first_error = stale.status().withContext("delete stale temporary file");
        }
      } else if (*stale) {
        ++removed;
      }
    }
    // A library folder deleted behind our back holds nothing to sweep.
    return s.code() == Status::Code::NotFound ? Status::Ok() : s;
  };
  if (file_lib) {
    std::vector<std::string> prefixes;
    PKGXFER_RETURN_IF_ERROR(listDir(fileLib(), [&](std::string_view name, fs::FileType) {
      if (isPrefixName(name)) prefixes.emplace_back(name);
    }));
    for (const std::string& p : prefixes) PKGXFER_RETURN_IF_ERROR(sweep(fileLib() / p));
    PKGXFER_RETURN_IF_ERROR(sweep(fileLib()));
  }
  PKGXFER_RETURN_IF_ERROR(sweep(dataLib()));
  PKGXFER_RETURN_IF_ERROR(sweep(pkgLib()));
  PKGXFER_RETURN_IF_ERROR(sweep(root_));  // the identity file's
  PKGXFER_RETURN_IF_ERROR(first_error);
  return removed;
}

// ---- metadata files ----------------------------------------------------------------------------

Status ContentLibrary::writeFileAtomically(const Path& path, std::string_view content) {
  const Path dir = path.parent_path();
  const std::string name = pathToUtf8(path.filename());
  Result<TempFile> created = createTemp(dir, name, "", /*lock=*/true);
  if (!created.ok() && created.status().code() == Status::Code::NotFound &&
      (dir == dataLib() || dir == pkgLib())) {
    PKGXFER_RETURN_IF_ERROR(remakeFolder(dir));  // deleted behind our back
    created = createTemp(dir, name, "", /*lock=*/true);
  }
  PKGXFER_RETURN_IF_ERROR(created.status());
  TempFile temp = std::move(*created);
  const Path temp_path = dir / temp.name;
  auto fail = [&](Status s) {
    (void)fs_.remove(temp_path);  // still locked: no sweep races us
    return s;
  };
  if (Status s = temp.file->writeAt(0, content.data(), content.size()); !s.ok()) return fail(s);
  if (options_.sync) {
    if (Status s = temp.file->sync(); !s.ok()) return fail(s);
  }
  if (Status s = fs_.rename(temp_path, path); !s.ok()) return fail(s);
  if (Status s = temp.file->close(); !s.ok()) return s;
  if (options_.sync) PKGXFER_RETURN_IF_ERROR(fs_.syncDirectory(dir));
  return Status::Ok();
}

Status ContentLibrary::writePkgLibUnlocked(const std::string& package_id) {
  PKGXFER_ASSIGN_OR_RETURN(std::vector<ContentRef> contents, listContentsUnlocked());
  std::vector<std::uint64_t> versions;
  for (const ContentRef& ref : contents) {
    if (ref.package_id == package_id) versions.push_back(ref.version);
  }
  const Path path = pkgLib() / (package_id + ".json");
  if (versions.empty()) {
    Status s = fs_.remove(path);
    if (!s.ok() && s.code() != Status::Code::NotFound) return s;
    return Status::Ok();
  }
  const std::string text = pkgLibJson(package_id, versions);
  Result<std::string> existing = readLibraryFile(fs_, path);
  if (existing.ok() && *existing == text) return Status::Ok();
  return writeFileAtomically(path, text);
}

Status ContentLibrary::repairPkgLibUnlocked() {
  PKGXFER_ASSIGN_OR_RETURN(std::vector<ContentRef> contents, listContentsUnlocked());
  std::set<std::string> packages;
  for (const ContentRef& ref : contents) packages.insert(ref.package_id);
  PKGXFER_RETURN_IF_ERROR(listDir(pkgLib(), [&](std::string_view name, fs::FileType) {
    if (name.ends_with(".json") && isValidPackageId(name.substr(0, name.size() - 5))) {
      packages.emplace(name.substr(0, name.size() - 5));
    }
  }));
  for (const std::string& id : packages) PKGXFER_RETURN_IF_ERROR(writePkgLibUnlocked(id));
  return Status::Ok();
}

}  // namespace pkgxfer::content
