#include "pkgxfer/content/manifest.h"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "pkgxfer/common/text.h"
#include "pkgxfer/content/sha256.h"
#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::content {

using Path = std::filesystem::path;

// ---- identity and path rules -------------------------------------------------------------------

std::string contentId(std::string_view package_id, std::uint64_t version) {
  std::string out(package_id);
  out += '.';
  out += std::to_string(version);
  return out;
}

bool isValidPackageId(std::string_view id) {
  if (id.size() != 8) return false;
  for (std::size_t i = 0; i < 3; ++i) {
    char c = id[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  for (std::size_t i = 3; i < 8; ++i) {
    char c = id[i];
    if (!((c >= 'A' && c <= 'F') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

namespace {

bool isWindowsDeviceName(std::string_view segment) {
  // The base name (before the first dot, trailing spaces ignored) is what Windows matches.
  std::string_view base = segment.substr(0, segment.find('.'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  std::string upper;
  for (char c : base) upper += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  if (upper == "CON" || upper == "PRN" || upper == "AUX" || upper == "NUL") return true;
  if (upper.size() == 4 && (upper.starts_with("COM") || upper.starts_with("LPT")) &&
      upper[3] >= '1' && upper[3] <= '9') {
    return true;
  }
  return false;
}

// Empty when the segment is fine, else the rule it breaks.
std::string segmentProblem(std::string_view segment) {
  if (segment.empty()) return "empty segment";
  if (segment == "." || segment == "..") return "'.' or '..' segment";
  for (std::size_t i = 0; i < segment.size();) {
    unsigned char c = static_cast<unsigned char>(segment[i]);
    std::size_t len = utf8SequenceLength(segment, i);
    if (len == 0) return "not valid UTF-8";
    if (c < 0x20 || c == 0x7F) return "control character";
    switch (c) {
      case '\\':
        return "backslash";
      case ':':
      case '*':
      case '?':
      case '"':
      case '<':
      case '>':
      case '|':
        return std::string("character '") + static_cast<char>(c) +
               "' that Windows file names cannot hold";
      default:
        break;
    }
    i += len;
  }
  if (segment.back() == '.' || segment.back() == ' ') {
    return "a name ending in '.' or ' ' (Windows strips it)";
  }
  if (isWindowsDeviceName(segment)) return "a Windows device name (CON, NUL, COM1, ...)";
  return {};
}

Status badPath(std::string_view path, std::string_view problem) {
  return Status::InvalidArgument("path \"" + displayBytes(path) + "\": " + std::string(problem));
}

}  // namespace

Status validateRelativePath(std::string_view path) {
  if (path.empty()) return badPath(path, "empty path");
  if (path.front() == '/') return badPath(path, "absolute path (leading '/')");
  if (path.size() >= 2 && path[1] == ':' &&
      ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z'))) {
    return badPath(path, "drive prefix");
  }
  std::size_t start = 0;
  while (true) {
    std::size_t slash = path.find('/', start);
    std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (std::string problem = segmentProblem(segment); !problem.empty()) {
      return badPath(path, problem);
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

// ---- validation and canonical form -------------------------------------------------------------

namespace {

Status corrupt(std::string_view what) { return Status::Corruption(std::string(what)); }

std::string_view parentOf(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

}  // namespace

Status validateManifest(const Manifest& m) {
  const std::string id = "manifest " + displayBytes(contentId(m.package_id, m.version));
  if (!isValidPackageId(m.package_id)) {
    return corrupt(id + ": package_id \"" + displayBytes(m.package_id) +
                   "\" is not <site code><5 hex digits> (e.g. PS100001)");
  }
  if (m.version < 1) return corrupt(id + ": version must be >= 1");
  for (std::size_t i = 0; i < m.name.size();) {
    std::size_t len = utf8SequenceLength(m.name, i);
    if (len == 0) return corrupt(id + ": name \"" + displayBytes(m.name) + "\" is not valid UTF-8");
    i += len;
  }

  for (std::size_t i = 0; i < m.dirs.size(); ++i) {
    if (Status s = validateRelativePath(m.dirs[i]); !s.ok()) {
      return corrupt(id + ": dirs[" + std::to_string(i) + "]: " + s.message());
    }
    if (i > 0 && !(m.dirs[i - 1] < m.dirs[i])) {
      return corrupt(id + ": dirs " +
                     (m.dirs[i - 1] == m.dirs[i] ? "has a duplicate \"" : "not sorted at \"") +
                     displayBytes(m.dirs[i]) + "\"");
    }
  }
  auto hasDir = [&](std::string_view dir) {
    return std::binary_search(m.dirs.begin(), m.dirs.end(), dir,
                              [](std::string_view a, std::string_view b) { return a < b; });
  };
  for (const std::string& dir : m.dirs) {
    std::string_view parent = parentOf(dir);
    if (!parent.empty() && !hasDir(parent)) {
      return corrupt(id + ": folder \"" + displayBytes(parent) + "\" of \"" + displayBytes(dir) +
                     "\" is not listed in dirs");
    }
  }

  std::uint64_t total = 0;
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    const ManifestFile& f = m.files[i];
    const std::string where = id + ": files[" + std::to_string(i) + "]";
    if (Status s = validateRelativePath(f.path); !s.ok())
      return corrupt(where + ": " + s.message());
    if (i > 0 && !(m.files[i - 1].path < f.path)) {
      return corrupt(where + ": " +
                     (m.files[i - 1].path == f.path ? "duplicate path \"" : "not sorted at \"") +
                     displayBytes(f.path) + "\"");
    }
    if (!isSha256Hex(f.sha256)) {
      return corrupt(where + " \"" + displayBytes(f.path) + "\": sha256 \"" +
                     displayBytes(f.sha256) + "\" is not 64 lower-case hex digits");
    }
    if (hasDir(f.path)) {
      return corrupt(where + ": \"" + displayBytes(f.path) + "\" is both a file and a folder");
    }
    std::string_view parent = parentOf(f.path);
    if (!parent.empty() && !hasDir(parent)) {
      return corrupt(where + ": folder \"" + displayBytes(parent) + "\" of \"" +
                     displayBytes(f.path) + "\" is not listed in dirs");
    }
    if (f.size > std::numeric_limits<std::uint64_t>::max() - total) {
      return corrupt(id + ": total size overflows 64 bits");
    }
    total += f.size;
  }
  if (total != m.total_bytes) {
    return corrupt(id + ": total_bytes is " + std::to_string(m.total_bytes) +
                   " but the files' sizes add up to " + std::to_string(total));
  }
  return Status::Ok();
}

void canonicalizeManifest(Manifest& m) {
  std::sort(m.files.begin(), m.files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.path < b.path; });
  for (const ManifestFile& f : m.files) {
    for (std::string_view p = parentOf(f.path); !p.empty(); p = parentOf(p)) {
      m.dirs.emplace_back(p);
    }
  }
  std::vector<std::string> extra;
  for (const std::string& d : m.dirs) {
    for (std::string_view p = parentOf(d); !p.empty(); p = parentOf(p)) extra.emplace_back(p);
  }
  m.dirs.insert(m.dirs.end(), extra.begin(), extra.end());
  std::sort(m.dirs.begin(), m.dirs.end());
  m.dirs.erase(std::unique(m.dirs.begin(), m.dirs.end()), m.dirs.end());
  m.total_bytes = 0;
  for (const ManifestFile& f : m.files) m.total_bytes += f.size;
}

bool sameContent(const Manifest& a, const Manifest& b) {
  return a.files == b.files && a.dirs == b.dirs;
}

// ---- JSON --------------------------------------------------------------------------------------

std::string toJson(const Manifest& m) {
  using nlohmann::ordered_json;
  ordered_json files = ordered_json::array();
  for (const ManifestFile& f : m.files) {
    ordered_json jf;
    jf["path"] = f.path;
    jf["size"] = f.size;
    jf["sha256"] = f.sha256;
    jf["mtime"] = f.mtime;
    jf["attributes"] = f.attributes;
    files.push_back(std::move(jf));
  }
  ordered_json j;
  j["package_id"] = m.package_id;
  j["version"] = m.version;
  j["name"] = m.name;
  j["files"] = std::move(files);
  j["dirs"] = m.dirs;
  j["total_bytes"] = m.total_bytes;
  // `replace` never throws; validated manifests hold only valid UTF-8 anyway.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

using nlohmann::json;

Status missingOrWrong(std::string_view where, std::string_view key, std::string_view expected) {
  return corrupt("manifest: " + std::string(where) + "\"" + std::string(key) + "\" must be " +
                 std::string(expected));
}

// Helpers that read one member of `obj` with a type check; `where` prefixes messages.
Status getString(const json& obj, const char* key, std::string_view where, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return missingOrWrong(where, key, "a string");
  out = it->get<std::string>();
  return Status::Ok();
}

Status getUnsigned(const json& obj, const char* key, std::string_view where, std::uint64_t max,
                   std::uint64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > max) {
    // nlohmann stores non-negative integers as unsigned; negatives and fractions land here.
    return missingOrWrong(where, key, "a non-negative integer up to " + std::to_string(max));
  }
  out = it->get<std::uint64_t>();
  return Status::Ok();
}

Status getSigned(const json& obj, const char* key, std::string_view where, std::int64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) {
    return missingOrWrong(where, key, "an integer (nanoseconds since 1970)");
  }
  if (it->is_number_unsigned() &&
      it->get<std::uint64_t>() >
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return missingOrWrong(where, key, "an integer that fits in 64 bits");
  }
  out = it->get<std::int64_t>();
  return Status::Ok();
}

}  // namespace

Result<Manifest> parseManifest(std::string_view text) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return corrupt(std::string("manifest is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return corrupt("manifest: the top level must be an object");

  Manifest m;
  constexpr auto kU64 = std::numeric_limits<std::uint64_t>::max();
  PKGXFER_RETURN_IF_ERROR(getString(j, "package_id", "", m.package_id));
  PKGXFER_RETURN_IF_ERROR(getUnsigned(j, "version", "", kU64, m.version));
  PKGXFER_RETURN_IF_ERROR(getString(j, "name", "", m.name));
  PKGXFER_RETURN_IF_ERROR(getUnsigned(j, "total_bytes", "", kU64, m.total_bytes));

  auto files = j.find("files");
  if (files == j.end() || !files->is_array()) return missingOrWrong("", "files", "an array");
  m.files.reserve(files->size());
  for (std::size_t i = 0; i < files->size(); ++i) {
    const json& jf = (*files)[i];
    const std::string where = "files[" + std::to_string(i) + "].";
    if (!jf.is_object())
      return corrupt("manifest: files[" + std::to_string(i) + "] must be an object");
    ManifestFile f;
    std::uint64_t attributes = 0;
    PKGXFER_RETURN_IF_ERROR(getString(jf, "path", where, f.path));
    PKGXFER_RETURN_IF_ERROR(getUnsigned(jf, "size", where, kU64, f.size));
    PKGXFER_RETURN_IF_ERROR(getString(jf, "sha256", where, f.sha256));
    PKGXFER_RETURN_IF_ERROR(getSigned(jf, "mtime", where, f.mtime));
    PKGXFER_RETURN_IF_ERROR(getUnsigned(jf, "attributes", where,
                                        std::numeric_limits<std::uint32_t>::max(), attributes));
    f.attributes = static_cast<std::uint32_t>(attributes);
    m.files.push_back(std::move(f));
  }

  auto dirs = j.find("dirs");
  if (dirs == j.end() || !dirs->is_array()) return missingOrWrong("", "dirs", "an array");
  m.dirs.reserve(dirs->size());
  for (std::size_t i = 0; i < dirs->size(); ++i) {
    if (!(*dirs)[i].is_string()) {
      return corrupt("manifest: dirs[" + std::to_string(i) + "] must be a string");
    }
    m.dirs.push_back((*dirs)[i].get<std::string>());
  }

  PKGXFER_RETURN_IF_ERROR(validateManifest(m));
  return m;
}

// ---- building from a source folder -------------------------------------------------------------

namespace {

struct FoundFile {
  std::string rel;
  fs::FileInfo info;
};

struct PathError {
  std::string rel;
  Status status;
};

std::string specialTypeName(fs::FileType type) {
  switch (type) {
    case fs::FileType::Fifo:
    case fs::FileType::Socket:
    case fs::FileType::CharacterDevice:
    case fs::FileType::BlockDevice:
      return std::string(fs::describe(type));
    default:
      return "an unsupported file type";
  }
}

// The separator canonical paths use: '/' on POSIX, '\\' on Windows.
constexpr char kSeparator = static_cast<char>(std::filesystem::path::preferred_separator);

// Walks `root` (canonical) and collects folders, files and per-path errors.
class SourceWalker {
 public:
  SourceWalker(fs::FileSystem& fs, Path root)
      : fs_(fs), root_(std::move(root)), root_str_(pathToUtf8(root_)) {}

  void run() {
    std::vector<std::string> pending{""};
    while (!pending.empty()) {
      std::string rel = std::move(pending.back());
      pending.pop_back();
      walkDir(rel, pending);
    }
  }

  std::vector<std::string> dirs;
  std::vector<FoundFile> files;
  std::vector<PathError> errors;

 private:
  // `rel` is UTF-8 ("bin/setup.exe"); on Windows the path holds it as UTF-16.
  Path full(const std::string& rel) const {
    return rel.empty() ? root_ : root_ / pathFromUtf8(rel);
  }

  void fail(const std::string& rel, Status status) { errors.push_back({rel, std::move(status)}); }

  void walkDir(const std::string& rel, std::vector<std::string>& pending) {
    std::vector<std::string> names;
    Status listed =
        fs_.list(full(rel), [&](std::string_view name, fs::FileType) { names.emplace_back(name); });
    if (!listed.ok()) fail(rel, listed);
    for (const std::string& name : names) {
      std::string child = rel.empty() ? name : rel + "/" + name;
      if (Status s = validateRelativePath(child); !s.ok()) {
        fail(child, Status::InvalidArgument(fs_.display(full(child)) +
                                            ": this name cannot be in a package: " + s.message()));
        continue;
      }
      auto info = fs_.stat(full(child), /*follow_links=*/false);
      if (!info.ok()) {
        fail(child, info.status());
        continue;
      }
      switch (info->type) {
        case fs::FileType::Directory:
          dirs.push_back(child);
          pending.push_back(std::move(child));
          break;
        case fs::FileType::Regular:
          files.push_back({std::move(child), *info});
          break;
        case fs::FileType::Symlink:
          followLink(child);
          break;
        default:
          fail(child, Status::InvalidArgument(fs_.display(full(child)) + ": " +
                                              specialTypeName(info->type) +
                                              "; a package source holds only files and folders"));
      }
    }
  }

  void followLink(const std::string& rel) {
    const Path link = full(rel);
    auto resolved = fs_.canonical(link);
    if (!resolved.ok()) {
      if (resolved.status().code() == Status::Code::NotFound) {
        return fail(rel, Status::NotFound(fs_.display(link) + ": broken symbolic link"));
      }
      return fail(rel, resolved.status().withContext("symbolic link"));
    }
    const Path& target = *resolved;
    const std::string t = pathToUtf8(target);
    if (t == root_str_) {
      return fail(rel,
                  Status::InvalidArgument(fs_.display(link) +
                                          ": symbolic link to the source folder itself; "
                                          "links to folders are not followed (they can loop)"));
    }
    const bool inside = t.size() > root_str_.size() &&
                        t.compare(0, root_str_.size(), root_str_) == 0 &&
                        (root_str_.back() == kSeparator || t[root_str_.size()] == kSeparator);
    if (!inside) {
      return fail(rel,
                  Status::InvalidArgument(fs_.display(link) + ": symbolic link to " +
                                          fs_.display(target) + ", outside the source folder"));
    }
    auto info = fs_.stat(target);
    if (!info.ok()) return fail(rel, info.status());
    if (info->isDirectory()) {
      return fail(rel,
                  Status::InvalidArgument(fs_.display(link) + ": symbolic link to the folder " +
                                          fs_.display(target) +
                                          "; links to folders are not followed (they can loop)"));
    }
    if (!info->isRegular()) {
      return fail(rel, Status::InvalidArgument(fs_.display(link) + ": symbolic link to " +
                                               specialTypeName(info->type)));
    }
    files.push_back({rel, *info});
  }

  fs::FileSystem& fs_;
  Path root_;
  std::string root_str_;
};

Status firstError(std::vector<PathError>& errors) {
  std::sort(errors.begin(), errors.end(),
            [](const PathError& a, const PathError& b) { return a.rel < b.rel; });
  Status first = errors.front().status;
  if (errors.size() == 1) return first;
  return Status(first.code(), first.message() + " (and " + std::to_string(errors.size() - 1) +
                                  " more problems in the source)");
}

}  // namespace

Result<Manifest> buildManifest(const Path& source, const Manifest* previous,
                               boost::asio::thread_pool& pool, BuildStats* stats,
                               const HashOptions& hash_options) {
  fs::FileSystem& fs = fs::FileSystem::local();
  auto canonical = fs.canonical(source);
  if (!canonical.ok()) return canonical.status().withContext("open source folder");
  const Path root = *canonical;
  PKGXFER_ASSIGN_OR_RETURN(fs::FileInfo root_info, fs.stat(root));
  if (!root_info.isDirectory()) {
    return Status::InvalidArgument(fs.display(source) + ": the package source is not a folder");
  }

  SourceWalker walker(fs, root);
  walker.run();
  if (!walker.errors.empty()) return firstError(walker.errors);

  Manifest m;
  m.dirs = std::move(walker.dirs);
  std::sort(m.dirs.begin(), m.dirs.end());
  std::vector<FoundFile>& found = walker.files;
  std::sort(found.begin(), found.end(),
            [](const FoundFile& a, const FoundFile& b) { return a.rel < b.rel; });

  std::unordered_map<std::string_view, const ManifestFile*> before;
  if (previous != nullptr) {
    before.reserve(previous->files.size());
    for (const ManifestFile& f : previous->files) before.emplace(f.path, &f);
  }

  BuildStats local;
  m.files.resize(found.size());
  std::vector<std::size_t> to_hash;
  std::vector<Path> hash_paths;
  for (std::size_t i = 0; i < found.size(); ++i) {
    const FoundFile& f = found[i];
    ManifestFile& out = m.files[i];
    out.path = f.rel;
    out.size = f.info.size;
    out.mtime = f.info.mtime_ns;
    out.attributes = f.info.mode;
    auto it = before.find(out.path);
    if (it != before.end() && it->second->size == out.size && it->second->mtime == out.mtime &&
        isSha256Hex(it->second->sha256)) {
      out.sha256 = it->second->sha256;
      ++local.files_reused;
    } else {
      to_hash.push_back(i);
      hash_paths.push_back(root / pathFromUtf8(f.rel));
    }
  }

  std::vector<Result<HashedFile>> hashed = hashFiles(fs, hash_paths, pool, hash_options);
  std::vector<PathError> errors;
  for (std::size_t k = 0; k < to_hash.size(); ++k) {
    ManifestFile& out = m.files[to_hash[k]];
    if (!hashed[k].ok()) {
      errors.push_back({out.path, hashed[k].error()});
      continue;
    }
    // The metadata the hash was computed under wins over the walk's (the file may have changed
    // in between); the pair stays consistent.
    out.sha256 = std::move(hashed[k]->sha256);
    out.size = hashed[k]->size;
    out.mtime = hashed[k]->mtime_ns;
    out.attributes = hashed[k]->mode;
    ++local.files_hashed;
    local.bytes_hashed += out.size;
  }
  if (!errors.empty()) return firstError(errors);

  for (const ManifestFile& f : m.files) m.total_bytes += f.size;
  local.files = m.files.size();
  if (stats != nullptr) *stats = local;
  return m;
}

// ---- diff --------------------------------------------------------------------------------------

ContentDiff diffContent(const Manifest& manifest, const ShaSet& present) {
  ContentDiff diff;
  std::unordered_set<std::string_view> seen;
  seen.reserve(manifest.files.size());
  for (const ManifestFile& f : manifest.files) {
    if (!seen.insert(f.sha256).second) continue;
    if (present.count(f.sha256) != 0) {
      ++diff.present_bodies;
      diff.present_bytes += f.size;
    } else {
      diff.missing.push_back(f);
      diff.missing_bytes += f.size;
    }
  }
  return diff;
}

std::vector<std::string> uniqueBodies(const Manifest& manifest) {
  std::vector<std::string> out;
  std::unordered_set<std::string_view> seen;
  seen.reserve(manifest.files.size());
  for (const ManifestFile& f : manifest.files) {
    if (seen.insert(f.sha256).second) out.push_back(f.sha256);
  }
  return out;
}

}  // namespace pkgxfer::content
