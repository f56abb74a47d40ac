#include "package_commands.h"

#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include "pkgxfer/common/text.h"
#include "pkgxfer/common/units.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/content/manifest.h"
#include "pkgxfer/content/sha256.h"
#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/store/package_repository.h"

namespace pkgxfer::cli {
namespace fs = std::filesystem;
namespace {

// Hashing runs on every core: reading a source is the slow part of add and update.
unsigned hashThreads() { return std::max(2u, std::thread::hardware_concurrency()); }

Result<std::unique_ptr<content::ContentLibrary>> openSiteLibrary(const CliContext& ctx) {
  content::ContentLibrary::Options options;
  options.sweep_on_open = false;  // pkgxferd sweeps at start; the CLI must stay quick
  options.site_code = ctx.config().site->code;
  return content::ContentLibrary::open(ctx.config().site->data_dir / "ContentLib", options);
}

// Held while one pkgxfer process adds or updates a package: two at once would each build a
// manifest, and the one whose database write lost would take the winner's content back out of
// the library. One lock file per package (<data_dir>/locks/<ID>.lock, holding the pid), so adds
// of different packages still run at once. Returns the lock, or fails at once if another process
// holds it.
Result<std::unique_ptr<pkgxfer::fs::File>> lockPackage(const CliContext& ctx, const std::string& id,
                                                       std::string_view command) {
  pkgxfer::fs::FileSystem& local = pkgxfer::fs::FileSystem::local();
  const fs::path dir = ctx.config().site->data_dir / "locks";
  PKGXFER_RETURN_IF_ERROR(pkgxfer::fs::makeDirectories(local, dir));
  const std::string holder =
      "pid " + std::to_string(static_cast<long>(::getpid())) + ", package " + std::string(command);
  PKGXFER_ASSIGN_OR_RETURN(pkgxfer::fs::LockFileAttempt lock,
                           pkgxfer::fs::tryLockFile(local, dir / (id + ".lock"), holder));
  if (!lock.file) {
    return Status::Unavailable("package " + id + " is being added or updated by another pkgxfer (" +
                               (lock.holder.empty() ? std::string("pid unknown") : lock.holder) +
                               "); nothing was changed, run the command again once it has ended");
  }
  return std::move(lock.file);
}

// Makes room for `manifest` in the library: a content version of this package that the database
// does not know (an add or update killed between the library commit and the database write) is
// an orphan. The same content is kept (committing it again is a no-op); different content is
// removed, so the new manifest can take its place. Precondition: the package's lock is held.
Status replaceOrphan(content::ContentLibrary& library, const content::Manifest& manifest) {
  if (!library.hasContent(manifest.package_id, manifest.version)) return Status::Ok();
  auto stored = library.readManifest(manifest.package_id, manifest.version);
  if (stored.ok() && *stored == manifest) return Status::Ok();
  std::fprintf(stderr,
               "pkgxfer: replacing version %llu of %s in the content library: an earlier add or "
               "update stored it but did not record it\n",
               static_cast<unsigned long long>(manifest.version), manifest.package_id.c_str());
  Status removed = library.removeContent(manifest.package_id, manifest.version);
  if (!removed.ok() && removed.code() != Status::Code::NotFound) {
    return removed.withContext("remove the unrecorded version " + std::to_string(manifest.version) +
                               " of " + manifest.package_id);
  }
  return Status::Ok();
}

// True if `inner` is `outer` or below it (both canonical).
bool isWithin(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

// The source must be a readable folder that neither holds nor sits in the site's data folder
// (packaging the content library into itself would grow without end).
Result<fs::path> checkSource(const CliContext& ctx, const std::string& source) {
  std::error_code ec;
  fs::path path = fs::absolute(pathFromUtf8(source), ec).lexically_normal();
  if (ec) return Status::IoError("source " + source + ": " + ec.message());
  if (!fs::exists(path, ec))
    return Status::NotFound("source folder " + pathToUtf8(path) + " does not exist");
  if (!fs::is_directory(path, ec)) {
    return Status::NotFound("source " + pathToUtf8(path) + " is not a folder");
  }
  fs::path canonical_source = fs::canonical(path, ec);
  if (ec) return Status::IoError("source " + pathToUtf8(path) + ": " + ec.message());
  fs::path data_dir = fs::weakly_canonical(ctx.config().site->data_dir, ec);
  if (!ec && isWithin(canonical_source, data_dir)) {
    return Status::InvalidArgument("source " + pathToUtf8(path) +
                                   " is inside the site data folder " + pathToUtf8(data_dir));
  }
  if (!ec && isWithin(data_dir, canonical_source)) {
    return Status::InvalidArgument("source " + pathToUtf8(path) +
                                   " contains the site data folder " + pathToUtf8(data_dir));
  }
  return path;
}

store::PackageContent toStore(const content::Manifest& manifest, std::string manifest_sha256) {
  store::PackageContent out;
  out.manifest_sha256 = std::move(manifest_sha256);
  out.dirs = manifest.dirs;
  out.files.reserve(manifest.files.size());
  for (const auto& f : manifest.files) {
    store::PackageFile file;
    file.path = f.path;
    file.size = f.size;
    file.sha256 = f.sha256;
    file.mtime = store::Timestamp(
        std::chrono::duration_cast<store::Timestamp::duration>(std::chrono::nanoseconds(f.mtime)));
    file.attributes = f.attributes;
    out.files.push_back(std::move(file));
  }
  return out;
}

std::string seconds(std::chrono::steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", std::chrono::duration<double>(d).count());
  return buf;
}

// Builds the manifest of `source`, stores its bodies and manifest in the site library, and
// returns the manifest's own SHA-256 (recorded in the database).
Result<std::string> storeContent(content::ContentLibrary& library,
                                 const content::Manifest& manifest, const fs::path& source,
                                 content::AddResult* added) {
  PKGXFER_RETURN_IF_ERROR(replaceOrphan(library, manifest));
  PKGXFER_ASSIGN_OR_RETURN(*added, library.addContentFromSource(manifest, source));
  return content::sha256Hex(content::toJson(manifest));
}

}  // namespace

Result<std::string> normalizePackageId(const CliContext& ctx, std::string id) {
  std::transform(id.begin(), id.end(), id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!content::isValidPackageId(id)) {
    return Status::InvalidArgument("'" + id +
                                   "' is not a package ID (<site code><5 hex digits>, e.g. " +
                                   ctx.config().site->code + "00001)");
  }
  if (id.compare(0, 3, ctx.config().site->code) != 0) {
    return Status::InvalidArgument("package " + id + " does not belong to site " +
                                   ctx.config().site->code + " (IDs start with the site code)");
  }
  return id;
}

int runPackageAdd(CliContext& ctx, const PackageAddOptions& options) {
  auto id = normalizePackageId(ctx, options.id);
  if (!id.ok()) return fail(kExitUsage, id.error().message());
  auto priority = store::parsePriority(options.priority);
  if (!priority.ok()) return fail(kExitUsage, "--priority must be high, medium or low");
  if (options.name.empty()) return fail(kExitUsage, "--name must not be empty");
  auto source = checkSource(ctx, options.source);
  if (!source.ok()) return fail(kExitFailed, source.error().message());

  auto db = ctx.database();
  if (!db.ok()) return fail(kExitFailed, db.error().message());
  store::PackageRepository packages(**db);
  auto lock = lockPackage(ctx, *id, "add");
  if (!lock.ok()) return fail(kExitFailed, lock.error().message());
  if (packages.get(*id).ok()) return fail(kExitFailed, "package " + *id + " already exists");

  auto begin = std::chrono::steady_clock::now();
  boost::asio::thread_pool pool(hashThreads());
  content::BuildStats stats;
  auto manifest = content::buildManifest(*source, nullptr, pool, &stats);
  if (!manifest.ok()) return fail(kExitFailed, manifest.error().message());
  manifest->package_id = *id;
  manifest->version = 1;
  manifest->name = options.name;

  auto library = openSiteLibrary(ctx);
  if (!library.ok()) return fail(kExitFailed, library.error().message());
  content::AddResult added;
  auto manifest_sha = storeContent(**library, *manifest, *source, &added);
  if (!manifest_sha.ok()) return fail(kExitFailed, manifest_sha.error().message());

  store::NewPackage row{*id, options.name, source->string(), *priority};
  Status recorded = packages.add(row, toStore(*manifest, *manifest_sha));
  if (!recorded.ok()) {
    // Not registered, so not present: take the content back out of the library (ours alone: the
    // package's lock is held).
    Status removed = (*library)->removeContent(*id, 1);
    if (!removed.ok()) {
      std::fprintf(stderr, "pkgxfer: warning: %s; the next add replaces it\n",
                   removed.toString().c_str());
    }
    return fail(kExitFailed, recorded.message());
  }
  std::printf(
      "Package %s (%s) added: version 1, %zu files, %zu folders, %s (%s copied into the "
      "content library) in %s\n",
      id->c_str(), options.name.c_str(), manifest->files.size(), manifest->dirs.size(),
      formatBytes(manifest->total_bytes).c_str(), formatBytes(added.bytes_copied).c_str(),
      seconds(std::chrono::steady_clock::now() - begin).c_str());
  return kExitOk;
}

int runPackageUpdate(CliContext& ctx, const std::string& raw_id) {
  auto id = normalizePackageId(ctx, raw_id);
  if (!id.ok()) return fail(kExitUsage, id.error().message());
  auto package = ctx.findPackage(*id);
  if (!package.ok()) return fail(kExitFailed, package.error().message());
  auto lock = lockPackage(ctx, *id, "update");
  if (!lock.ok()) return fail(kExitFailed, lock.error().message());
  package = ctx.findPackage(*id);  // as it is now that no other add or update runs
  if (!package.ok()) return fail(kExitFailed, package.error().message());
  store::PackageRepository packages(**ctx.database());
  auto source = checkSource(ctx, package->source_path);
  if (!source.ok()) return fail(kExitFailed, source.error().message());
  auto begin = std::chrono::steady_clock::now();
  auto library = openSiteLibrary(ctx);
  if (!library.ok()) return fail(kExitFailed, library.error().message());

  // The previous manifest's hashes are reused for files whose size and mtime did not change.
  auto previous = (*library)->readManifest(*id, package->current_version);
  if (!previous.ok()) {
    std::fprintf(stderr, "pkgxfer: warning: %s; hashing every file\n",
                 previous.error().toString().c_str());
  }
  boost::asio::thread_pool pool(hashThreads());
  content::BuildStats stats;
  auto manifest =
      content::buildManifest(*source, previous.ok() ? &*previous : nullptr, pool, &stats);
  if (!manifest.ok()) return fail(kExitFailed, manifest.error().message());
  if (previous.ok() && content::sameContent(*manifest, *previous)) {
    std::printf("Package %s is unchanged: still version %d (%zu files, %zu hashed) in %s\n",
                id->c_str(), package->current_version, stats.files, stats.files_hashed,
                seconds(std::chrono::steady_clock::now() - begin).c_str());
    return kExitOk;
  }
  const int version = package->current_version + 1;
  manifest->package_id = *id;
  manifest->version = static_cast<std::uint64_t>(version);
  manifest->name = package->name;
  content::AddResult added;
  auto manifest_sha = storeContent(**library, *manifest, *source, &added);
  if (!manifest_sha.ok()) return fail(kExitFailed, manifest_sha.error().message());
  auto recorded = packages.addVersion(*id, toStore(*manifest, *manifest_sha));
  if (!recorded.ok() || *recorded != version) {
    Status removed = (*library)->removeContent(*id, manifest->version);
    if (!removed.ok()) {
      std::fprintf(stderr, "pkgxfer: warning: %s; the next update replaces it\n",
                   removed.toString().c_str());
    }
    return fail(kExitFailed,
                recorded.ok() ? "package " + *id + " was updated concurrently; run the update again"
                              : recorded.error().message());
  }
  std::printf(
      "Package %s updated: version %d, %zu files (%zu hashed, %zu unchanged), %s (%s new "
      "in the content library) in %s\n",
      id->c_str(), version, stats.files, stats.files_hashed, stats.files_reused,
      formatBytes(manifest->total_bytes).c_str(), formatBytes(added.bytes_copied).c_str(),
      seconds(std::chrono::steady_clock::now() - begin).c_str());
  return kExitOk;
}

int runPackageList(CliContext& ctx) {
  auto db = ctx.database();
  if (!db.ok()) return fail(kExitFailed, db.error().message());
  store::PackageRepository packages(**db);
  auto rows = packages.list();
  if (!rows.ok()) return fail(kExitFailed, rows.error().toString());
  if (rows->empty()) {
    std::printf("No packages.\n");
    return kExitOk;
  }
  std::printf("%-10s %-8s %7s %8s %10s  %s\n", "PACKAGE", "PRIORITY", "VERSION", "FILES", "SIZE",
              "NAME");
  for (const auto& row : *rows) {
    auto version = packages.getVersion(row.package_id, row.current_version);
    std::uint64_t files = version.ok() ? version->file_count : 0;
    std::uint64_t bytes = version.ok() ? version->total_bytes : 0;
    std::printf("%-10s %-8s %7d %8llu %10s  %s\n", row.package_id.c_str(),
                std::string(store::toString(row.priority)).c_str(), row.current_version,
                static_cast<unsigned long long>(files), formatBytes(bytes).c_str(),
                row.name.c_str());
  }
  return kExitOk;
}

int runPackageShow(CliContext& ctx, const std::string& raw_id) {
  auto id = normalizePackageId(ctx, raw_id);
  if (!id.ok()) return fail(kExitUsage, id.error().message());
  auto package = ctx.findPackage(*id);
  if (!package.ok()) return fail(kExitFailed, package.error().message());
  store::PackageRepository packages(**ctx.database());
  std::printf(
      "Package:  %s\nName:     %s\nPriority: %s\nSource:   %s\nVersion:  %d\nCreated:  %s\n",
      package->package_id.c_str(), package->name.c_str(),
      std::string(store::toString(package->priority)).c_str(), package->source_path.c_str(),
      package->current_version, store::formatTimestamp(package->created_at).c_str());
  auto versions = packages.listVersions(*id);
  if (!versions.ok()) return fail(kExitFailed, versions.error().toString());
  std::printf("\n%7s %8s %12s  %-24s  %s\n", "VERSION", "FILES", "SIZE", "CREATED",
              "MANIFEST SHA-256");
  for (const auto& v : *versions) {
    std::printf("%7d %8llu %12s  %-24s  %s\n", v.version,
                static_cast<unsigned long long>(v.file_count), formatBytes(v.total_bytes).c_str(),
                store::formatTimestamp(v.created_at).c_str(), v.manifest_sha256.c_str());
  }
  return kExitOk;
}

}  // namespace pkgxfer::cli
