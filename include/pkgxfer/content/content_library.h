#pragma once

// ContentLibrary: the single-instance store on the site server and on every DP (SPEC §3).
//
//   <root>/FileLib/<first 4 hex digits>/<sha256>   each distinct file body, stored once
//   <root>/DataLib/<PackageID>.<version>.json      the manifest of a content version
//   <root>/PkgLib/<PackageID>.json                 {"package_id": ..., "versions": [1, 3]}
//
// Invariants, kept across crashes:
// - A body appears under its final name only complete and with a matching SHA-256: it is written
//   to `.<sha256>.<random>.tmp` in the same folder while being hashed, checked, made durable
//   (fsync; or one syncfs() per batch of bodies in addContentFromSource), renamed into place, and
//   the rename made durable (folder fsync; or one syncfs() before the manifest).
// - A content version is present iff its DataLib manifest exists; the manifest is written (temp,
//   fsync, rename, folder fsync) only after every body it names is in FileLib. PkgLib is derived
//   from DataLib and repaired on open().
// - Removal deletes the manifest first, then the bodies no other manifest references.
// - A temporary file is locked (flock) by its writer for its whole life. open() and
//   cleanTemporaryFiles() delete every temporary file that no live writer holds, so leftovers of a
//   crashed process go away without disturbing another process writing to the same library.

#include <sys/types.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "pkgxfer/common/status.h"
#include "pkgxfer/content/manifest.h"
#include "pkgxfer/content/sha256.h"

namespace pkgxfer::content {

// One content version: package and version.
struct ContentRef {
  std::string package_id;
  std::uint64_t version = 0;
  auto operator<=>(const ContentRef&) const = default;
};

// Read access to one stored body. Movable; closes its file on destruction. Thread-safe for
// concurrent readAt() calls (pread).
class BodyReader {
 public:
  BodyReader(BodyReader&& other) noexcept;
  BodyReader& operator=(BodyReader&& other) noexcept;
  BodyReader(const BodyReader&) = delete;
  BodyReader& operator=(const BodyReader&) = delete;
  ~BodyReader();

  std::uint64_t size() const { return size_; }
  // The open descriptor (for sendfile); owned by this object.
  int fd() const { return fd_; }
  // Reads up to `size` bytes at `offset`; returns fewer only at the end of the body (0 at or past
  // the end). IoError on a read failure.
  Result<std::size_t> readAt(std::uint64_t offset, void* buffer, std::size_t size) const;

 private:
  friend class ContentLibrary;
  BodyReader(int fd, std::uint64_t size, std::filesystem::path path)
      : fd_(fd), size_(size), path_(std::move(path)) {}

  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::filesystem::path path_;
};

class ContentLibrary;

// Writes one body into a library: chunks in order, then commit() checks the SHA-256 (and size)
// and moves the body into place, or discards it. Created by ContentLibrary::createBodyWriter().
// Not thread-safe (one thread at a time); must not outlive its library. Destroying a writer that
// was not committed discards its temporary file.
class BodyWriter {
 public:
  ~BodyWriter();
  BodyWriter(const BodyWriter&) = delete;
  BodyWriter& operator=(const BodyWriter&) = delete;

  const std::string& sha256() const { return sha256_; }
  std::uint64_t bytesWritten() const { return written_; }

  // Appends `size` bytes that belong at `offset` of the body. `offset` must equal bytesWritten()
  // (chunks arrive in order; a sender resuming after an error restarts at bytesWritten()).
  // InvalidArgument for a wrong offset or more bytes than the expected size; IoError (e.g. disk
  // full) leaves the writer failed: later calls return the same error and commit() fails.
  Status write(std::uint64_t offset, const void* data, std::size_t size);
  Status write(std::uint64_t offset, std::string_view data) {
    return write(offset, data.data(), data.size());
  }

  // Checks size and SHA-256, fsyncs, renames the body into FileLib and fsyncs the folder.
  // Corruption if the bytes do not hash to sha256() or their count differs from the expected
  // size: the temporary file is deleted and nothing becomes visible. IoError on a file system
  // failure, or whatever a fault hook returned. Renaming over an existing body with the same
  // name is fine (same content).
  Status commit();

  // Deletes the temporary file; later calls fail. Idempotent.
  void abort();

 private:
  friend class ContentLibrary;
  // Open -> (verify) Verified -> (publish) Committed; any failure -> Failed.
  enum class State { Open, Verified, Committed, Aborted, Failed };
  BodyWriter(ContentLibrary& library, std::string sha256, std::optional<std::uint64_t> expected,
             std::filesystem::path temp, int fd);
  void discard();

  ContentLibrary& library_;
  std::string sha256_;
  std::optional<std::uint64_t> expected_size_;
  std::filesystem::path temp_path_;
  int fd_ = -1;
  Sha256 hasher_;
  std::uint64_t written_ = 0;
  State state_ = State::Open;
  Status failure_;
  bool created_dir_ = false;  // this writer created FileLib/<prefix>
};

// What addContentFromSource() did.
struct AddResult {
  std::size_t bodies_copied = 0;  // distinct bodies copied in
  std::uint64_t bytes_copied = 0;
  std::size_t bodies_present = 0;  // distinct bodies already in FileLib (shared with other content)
  std::uint64_t bytes_present = 0;
};

// One file that failed validation.
struct ValidationProblem {
  std::string path;    // the file's path in the manifest
  std::string sha256;  // the body it should have
  std::string reason;  // e.g. "missing", "content hashes to 3f2a...", "size 10, expected 12"
};

struct ValidationReport {
  std::vector<ValidationProblem> missing;     // body absent from FileLib; sorted by path
  std::vector<ValidationProblem> mismatched;  // body present but wrong (or unreadable); sorted
  std::size_t bodies_checked = 0;
  std::uint64_t bytes_checked = 0;

  bool ok() const { return missing.empty() && mismatched.empty(); }
  // One line for a status record or a log: "2 missing, 1 mismatched: a/b.exe (missing), ..."
  // listing at most `max_items` files.
  std::string describe(std::size_t max_items = 10) const;
};

// A content library rooted at a folder. Thread-safe: every method may be called from any thread.
// Bodies are written concurrently without a lock (each writer has its own temporary file; the
// same body written twice at once is fine). Metadata changes (commitManifest, removeContent,
// removeUnreferencedBodies, cleanTemporaryFiles) are serialized by a mutex and, across
// processes, by flock() on the root folder. Bodies being written or imported by this object are
// pinned and never deleted by a concurrent removal. Not covered: a body uploaded by a
// BodyWriter and not yet named by a committed manifest may be deleted by a concurrent
// removeContent() of content that also named it, or by removeUnreferencedBodies(); the commit
// then fails with NotFound and the sender retries.
class ContentLibrary {
 public:
  // Test-only failure injection. Each hook may return a non-OK Status to make the operation fail
  // at that point (or may crash the process, to simulate a power cut).
  struct FaultHooks {
    // After a body was written, its hash checked and its data made durable, just before the
    // rename into place.
    std::function<Status(std::string_view sha256, const std::filesystem::path& temp)>
        before_body_rename;
    // After every body of a manifest is present, just before the manifest is written.
    std::function<Status(const Manifest& manifest)> before_manifest_write;
  };

  struct Options {
    // Make bodies, manifests and renames durable (fsync/syncfs) before the next step depends on
    // them. Turn off only in tests and benchmarks that measure nothing about durability.
    bool sync = true;
    // Bytes per read/write when copying a body from a file. Default 1 MiB.
    std::size_t copy_buffer_size = 1 << 20;
    // Delete stale temporary files (left by a crash) when opening. It lists every FileLib prefix
    // folder (up to 65,536: ~0.5 s on a large library), so the service does it when it starts and
    // short-lived tools such as the CLI skip it; a stale file costs only disk space until then.
    bool clean_on_open = true;
    // With clean_on_open: sweep the FileLib prefix folders too (not only DataLib and PkgLib). A
    // DP's library reached through a file transport turns it off: its bodies arrive as transport
    // uploads, never as this library's temporary files, so the listing would find nothing, and it
    // cost the first check after a start ~0.8 s on a DP of 100,000 bodies.
    bool clean_file_lib_on_open = true;
    FaultHooks hooks;
  };

  // Opens (creating if needed) the library at `root`: makes FileLib, DataLib and PkgLib, deletes
  // stale temporary files and rewrites PkgLib entries that disagree with DataLib. IoError /
  // PermissionDenied naming the path on failure.
  static Result<std::unique_ptr<ContentLibrary>> open(const std::filesystem::path& root,
                                                      Options options);
  static Result<std::unique_ptr<ContentLibrary>> open(const std::filesystem::path& root);
  ~ContentLibrary();
  ContentLibrary(const ContentLibrary&) = delete;
  ContentLibrary& operator=(const ContentLibrary&) = delete;

  const std::filesystem::path& root() const { return root_; }
  // Where a body lives (whether or not it is present). Precondition: isSha256Hex(sha256).
  std::filesystem::path bodyPath(std::string_view sha256) const;
  std::filesystem::path manifestPath(std::string_view package_id, std::uint64_t version) const;

  // ---- bodies ----

  bool hasBody(std::string_view sha256) const;
  // NotFound if absent; InvalidArgument for a malformed hash.
  Result<BodyReader> openBody(std::string_view sha256) const;
  // Starts writing a body (an upload). `expected_size`, if known, is enforced. InvalidArgument
  // for a malformed hash; IoError if the temporary file cannot be created.
  Result<std::unique_ptr<BodyWriter>> createBodyWriter(
      std::string_view sha256, std::optional<std::uint64_t> expected_size = std::nullopt);
  // Pulls bytes from `read` (which fills up to `capacity` bytes of `buffer` and returns how many,
  // 0 at the end) into a new body; same checks as BodyWriter::commit(). An error from `read` is
  // returned as is.
  using Reader = std::function<Result<std::size_t>(char* buffer, std::size_t capacity)>;
  Status writeBody(std::string_view sha256, std::optional<std::uint64_t> expected_size,
                   const Reader& read);
  // Copies `file` in as body `sha256`, hashing while copying (one pass). Corruption if the file
  // does not match (e.g. it changed since its manifest was made); NotFound/PermissionDenied
  // naming the file.
  Status importBody(const std::filesystem::path& file, std::string_view sha256,
                    std::optional<std::uint64_t> expected_size = std::nullopt);
  // Which of `sha256s` are present, reading each FileLib/<prefix> folder once (one listing per
  // distinct prefix, no stat per body). InvalidArgument for a malformed hash.
  Result<ShaSet> inventory(const std::vector<std::string>& sha256s) const;

  // ---- content versions ----

  // Copies every body of `manifest` that is not present from `source` (the package source
  // folder the manifest was built from), hashing while copying, then commits the manifest.
  // Bodies are staged in batches (128 bodies or 256 MiB) made durable with one syncfs() each,
  // which on small files is several times faster than an fsync per body (docs/performance.md);
  // syncfs() flushes the whole file system holding the library. Idempotent: content already
  // present returns OK with nothing copied. Errors: Corruption (a source file no longer matches
  // the manifest: rebuild it), NotFound/PermissionDenied (source file), AlreadyExists (a
  // different manifest is stored under the same package and version), IoError.
  Result<AddResult> addContentFromSource(const Manifest& manifest,
                                         const std::filesystem::path& source);
  // Writes `manifest` into DataLib (and updates PkgLib) once every body it names is present.
  // NotFound listing missing bodies; AlreadyExists if a different manifest is stored under that
  // package and version (the same one again is OK); Corruption if it is invalid.
  Status commitManifest(const Manifest& manifest);
  bool hasContent(std::string_view package_id, std::uint64_t version) const;
  // NotFound if absent; Corruption if the stored manifest is damaged.
  Result<Manifest> readManifest(std::string_view package_id, std::uint64_t version) const;
  // The raw stored JSON (to serve it byte for byte). NotFound if absent.
  Result<std::string> readManifestJson(std::string_view package_id, std::uint64_t version) const;
  // Every content version present (DataLib), sorted.
  Result<std::vector<ContentRef>> listContents() const;
  // The versions PkgLib lists for a package, ascending; empty if none.
  Result<std::vector<std::uint64_t>> listVersions(std::string_view package_id) const;
  // Re-hashes every body of a content version (on `pool` if given) and reports missing and
  // mismatched files. NotFound if the content is not present; Corruption if its manifest is
  // damaged. A failed check is a report, not an error.
  Result<ValidationReport> validate(std::string_view package_id, std::uint64_t version,
                                    boost::asio::thread_pool* pool = nullptr) const;
  // Deletes the manifest (and updates PkgLib), then the bodies no other manifest references.
  // NotFound if the content is not present. If another manifest cannot be read, the content is
  // still removed but its bodies are kept, and Corruption names that manifest.
  Status removeContent(std::string_view package_id, std::uint64_t version);
  // Deletes every body no manifest references (e.g. left by a crash during a removal), except
  // pinned ones. Returns how many were deleted. Careful: a body uploaded for a manifest not yet
  // committed is unreferenced too.
  Result<std::size_t> removeUnreferencedBodies();
  // Deletes temporary files no live writer holds; returns how many. open() calls it.
  // `file_lib` false: only DataLib and PkgLib (see Options::clean_file_lib_on_open).
  Result<std::size_t> cleanTemporaryFiles(bool file_lib = true);

 private:
  friend class BodyWriter;
  class MetaLock;
  class PinGuard;

  ContentLibrary(std::filesystem::path root, Options options, int root_fd);

  std::filesystem::path fileLib() const { return root_ / "FileLib"; }
  std::filesystem::path dataLib() const { return root_ / "DataLib"; }
  std::filesystem::path pkgLib() const { return root_ / "PkgLib"; }

  void pin(const std::string& sha256);
  void unpin(const std::string& sha256);
  // Checks size and hash (Open -> Verified); Corruption discards the body.
  Status verifyBody(BodyWriter& writer);
  // Renames a verified body into place (Verified -> Committed), calling the fault hook first.
  // Durability of the data and of the rename is the caller's business.
  Status publishBody(BodyWriter& writer);
  // verify + fsync + publish + fsync of the folder: the single-body path of BodyWriter::commit().
  Status commitBody(BodyWriter& writer);
  // Copies `file` into a new writer and verifies it, without publishing.
  Result<std::unique_ptr<BodyWriter>> stageFromFile(const std::filesystem::path& file,
                                                    std::string_view sha256,
                                                    std::optional<std::uint64_t> expected_size);
  Status copyInto(BodyWriter& writer, const Reader& read);
  // syncfs() on the library's file system (one journal commit for a batch of bodies).
  Status syncFileSystem();
  Result<std::vector<ContentRef>> listContentsUnlocked() const;
  Status writePkgLibUnlocked(const std::string& package_id);
  Status repairPkgLibUnlocked();
  Result<ShaSet> referencedBodiesUnlocked() const;
  Status writeFileAtomically(const std::filesystem::path& path, std::string_view content);

  const std::filesystem::path root_;
  const Options options_;
  const int root_fd_;  // held for flock(); closed in the destructor

  std::mutex meta_mu_;  // serializes metadata changes within the process

  std::mutex pin_mu_;
  std::unordered_map<std::string, int> pins_;  // guarded by pin_mu_
};

}  // namespace pkgxfer::content
