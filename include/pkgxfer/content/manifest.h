#pragma once

// Manifests (SPEC §3): the description of one content version of a package. A manifest lists
// every file (relative path, size, SHA-256, mtime, attributes) and every folder, and is stored as
// DataLib/<PackageID>.<version>.json in a content library. This header also holds the rules for
// paths and package IDs, and the diff of a manifest against a library's inventory.

#include <compare>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "pkgxfer/common/status.h"
#include "pkgxfer/content/file_hasher.h"

namespace pkgxfer::content {

struct ManifestFile {
  // Relative, '/'-separated; see validateRelativePath().
  std::string path;
  std::uint64_t size = 0;  // bytes
  std::string sha256;      // 64 lower-case hex digits
  // Modification time in integer nanoseconds since the Unix epoch (UTC), exactly as the source
  // file system reported it (st_mtim). Integers keep the JSON stable across runs and platforms;
  // Windows' FILETIME (100 ns ticks since 1601) converts to it without loss.
  std::int64_t mtime = 0;
  // POSIX permission bits (st_mode & 07777), e.g. 0644 = 420. A Windows source will later record
  // FILE_ATTRIBUTE_* bits here instead (read-only, hidden, system, archive); the field is opaque
  // data for the DP and does not affect the body.
  std::uint32_t attributes = 0;

  bool operator==(const ManifestFile&) const = default;
};

struct Manifest {
  std::string package_id;     // <site code><5 hex digits>, e.g. PS100001; see isValidPackageId()
  std::uint64_t version = 0;  // >= 1
  std::string name;           // the package's display name (any UTF-8)
  std::vector<ManifestFile> files;  // sorted by path (byte order), paths unique
  std::vector<std::string> dirs;    // every folder, empty ones included; sorted, unique
  std::uint64_t total_bytes = 0;    // sum of files[].size (a body listed twice counts twice)

  bool operator==(const Manifest&) const = default;
};

// "<package_id>.<version>", the content ID used in file names and logs (e.g. "PS100001.3").
std::string contentId(std::string_view package_id, std::uint64_t version);

// A package ID is a 3-character site code of upper-case letters and digits followed by 5
// upper-case hex digits: "PS100001", "ABC0001F". Upper case only, so that IDs used as file names
// cannot collide on case-insensitive (Windows) file systems.
bool isValidPackageId(std::string_view id);

// Checks a manifest path: relative, '/'-separated, no empty, "." or ".." segment, no leading '/'
// or drive prefix, valid UTF-8, no control characters, none of \ : * ? " < > | (which Windows
// DPs cannot store), no segment ending in '.' or ' ', and no Windows device name (CON, NUL,
// COM1, ...) as a segment's base name. InvalidArgument naming the path and the rule otherwise.
Status validateRelativePath(std::string_view path);

// Checks everything a stored or received manifest must satisfy: package ID, version >= 1, name
// valid UTF-8, every path valid, files and dirs sorted (byte order) and unique, no path both a file
// and a folder, every file's parent folders listed in dirs, sha256 64 lower-case hex, total_bytes
// equal to the sum of sizes. Corruption naming the first problem otherwise.
Status validateManifest(const Manifest& manifest);

// Puts a hand-made manifest in canonical form: sorts files and dirs, adds missing parent folders
// of files to dirs, removes duplicate dirs and recomputes total_bytes. Does not validate.
void canonicalizeManifest(Manifest& manifest);

// The JSON text of a manifest, deterministic: fixed key order (package_id, version, name, files,
// dirs, total_bytes; in each file path, size, sha256, mtime, attributes), compact, no trailing
// newline. Precondition: strings are valid UTF-8 (validateManifest() checks paths).
std::string toJson(const Manifest& manifest);

// Parses and validates (validateManifest) a manifest. Unknown keys are ignored, so that an older
// pkgxfer accepts a newer site server's manifests. Corruption naming the problem (JSON syntax
// error, missing key, wrong type, negative or fractional size, bad hash, bad path, duplicate).
Result<Manifest> parseManifest(std::string_view json);

// True when two manifests describe the same content (files with all their fields, and dirs),
// whatever their package ID, version and name: "has the source changed?".
bool sameContent(const Manifest& a, const Manifest& b);

// Counters from one buildManifest() call, for the log.
struct BuildStats {
  std::size_t files = 0;         // files in the manifest
  std::size_t files_hashed = 0;  // read and hashed
  std::size_t files_reused = 0;  // hash taken from the previous manifest (same size and mtime)
  std::uint64_t bytes_hashed = 0;
};

// Reads a package source folder into a manifest with empty package_id/name and version 0 (the
// caller sets them). Every regular file is listed with its SHA-256; files are hashed in parallel
// on `pool` (see hashFiles()). If `previous` is given, a file whose path, size and mtime equal an
// entry of `previous` keeps that entry's hash without being read (as ConfigMgr reuses its stored
// hash), so re-reading an unchanged source costs one directory walk.
//
// Source rules: every folder is listed in dirs, empty ones included. A symbolic link to a regular
// file inside the source is followed and recorded as a file with the target's content, size and
// mtime. A symbolic link to a folder is rejected (it could loop or duplicate a subtree), as is
// one that points outside the source or nowhere. FIFOs, sockets and devices are rejected. Names
// must pass validateRelativePath() (UTF-8, no backslash or control characters, Windows-safe).
//
// Errors, each naming the offending path: NotFound (source missing, broken link), InvalidArgument
// (source not a folder, special file, link outside or to a folder, bad name), PermissionDenied
// (unreadable file or folder), Unavailable (a file kept changing while hashed), IoError. When
// several files fail, the first in path order is reported, with the count of the others.
Result<Manifest> buildManifest(const std::filesystem::path& source, const Manifest* previous,
                               boost::asio::thread_pool& pool, BuildStats* stats = nullptr,
                               const HashOptions& hash_options = {});

// The set of body hashes present in a library (see ContentLibrary::inventory()).
using ShaSet = std::unordered_set<std::string>;

// What a library lacks to hold a manifest's content.
struct ContentDiff {
  // One entry per missing body (unique by sha256), the first file in path order that has it.
  std::vector<ManifestFile> missing;
  std::uint64_t missing_bytes = 0;  // sum of the sizes of `missing`: bytes to transfer
  std::size_t present_bodies = 0;   // distinct bodies already there
  std::uint64_t present_bytes = 0;  // their sizes, counted once each
};

// Compares a manifest with the bodies present in a library. Pure.
ContentDiff diffContent(const Manifest& manifest, const ShaSet& present);

// Every distinct sha256 of a manifest, in first-appearance (path) order.
std::vector<std::string> uniqueBodies(const Manifest& manifest);

}  // namespace pkgxfer::content
