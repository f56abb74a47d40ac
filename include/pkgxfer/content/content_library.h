#pragma once

// ContentLibrary: the single-instance store on the site server and on every DP (SPEC §3), and the
// only code that writes one: the site's, a file or SMB DP's reached through a transport, an HTTP
// DP's own, a pull DP's. It runs over the file-system seam (fs::FileSystem), so the same class
// serves the local disk, a share and, in tests, a file system that fails on purpose.
//
//   <root>/FileLib/<first 4 hex digits>/<sha256>   each distinct file body, stored once
//   <root>/DataLib/<PackageID>.<version>.json      the manifest of a content version
//   <root>/PkgLib/<PackageID>.json                 {"package_id": ..., "versions": [1, 3]}
//
// Invariants, kept across crashes:
// - A body appears under its final name only complete and with a matching SHA-256. It is written
//   to a temporary name in its own folder (an Upload), checked, made durable, renamed into place,
//   and the rename made durable: alone (fsync of the body and of its folder) or in a batch
//   (install(): one volume flush before the renames and one after).
// - A content version is present iff its DataLib manifest exists; the manifest is written
//   (temporary file, fsync, rename, folder fsync) only after every body it names is in FileLib.
//   PkgLib is derived from DataLib and repaired on open().
// - Removal deletes the manifest first, then the bodies no other manifest references and nobody
//   has pinned.
//
// Temporary files. Every file is first written under ".<final name>[.<owner>].<16 hex>.partial"
// in the folder of its final name. Two kinds:
// - A resumable upload (a transfer to a DP) has an owner (e.g. a package ID) in its name and keeps
//   its temporary file when it is interrupted: its writer records the name and a durable offset
//   and resumes there later. Only its owner deletes it (discardUploads(), discardUpload()); no
//   sweep ever does.
// - Everything else (imports, manifests, PkgLib entries) has no owner and holds a lock on its
//   temporary file for its whole life; open() and cleanTemporaryFiles() delete every such file no
//   live writer holds, so leftovers of a crashed process go away without disturbing another
//   process writing to the same library. Names ending in ".tmp" (left by earlier versions) are
//   swept the same way.
//
// Pins. A body an upload is writing, or that a caller pinned (pin(): a job sending a content
// version pins all its bodies until its manifest is committed), is never deleted by a concurrent
// removal through the same ContentLibrary object (pins live in the object: everything that may
// remove content from a library and everything that writes it go through one object per library
// in a process, e.g. the transfer manager's transport of a DP).

#include <compare>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "pkgxfer/common/status.h"
#include "pkgxfer/content/manifest.h"
#include "pkgxfer/content/sha256.h"
#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::content {

// The identity file at the root of every library pkgxfer initialises:
//   {"site_code": "PS1", "library_id": "<32 hex>"}
// It tells the library from an empty folder in its place: an unmounted share shows its mount
// point, a disk that came back empty shows a bare folder, and neither must silently receive
// content the site believes is already there.
inline constexpr std::string_view kIdentityFileName = "pkgxfer-library.json";

struct LibraryIdentity {
  std::string site_code;   // the site that initialised the library; empty if it was not told
  std::string library_id;  // 32 random lower-case hex digits, made when it was initialised
  bool operator==(const LibraryIdentity&) const = default;
};

// One content version: package and version.
struct ContentRef {
  std::string package_id;
  std::uint64_t version = 0;
  auto operator<=>(const ContentRef&) const = default;
};

// Who writes a body: [A-Za-z0-9_-]{0,64} (the transfer manager uses the package ID).
bool isValidOwner(std::string_view owner);

// The body a resumable upload's temporary name (Upload::tempName() of an upload with an owner)
// belongs to, and its owner; nullopt for any other name. What a DP serving its library over HTTP
// uses to find an upload from the name its client kept.
struct UploadName {
  std::string sha256;
  std::string owner;
};
std::optional<UploadName> parseUploadName(std::string_view temp_name);

// Whether `dir` takes new files: creates and deletes a small probe file (".pkgxfer-probe.<hex>")
// there. The file system's error, naming the probe file, if it cannot.
Status checkFolderWritable(fs::FileSystem& fs, const fs::Path& dir);

// Read access to one stored body. Movable. Thread-safe for concurrent readAt() calls.
class BodyReader {
 public:
  std::uint64_t size() const { return size_; }
  // Reads up to `size` bytes at `offset`; returns fewer only at the end of the body (0 at or past
  // the end). IoError on a read failure.
  Result<std::size_t> readAt(std::uint64_t offset, void* buffer, std::size_t size) const {
    return file_->readAt(offset, buffer, size);
  }

 private:
  friend class ContentLibrary;
  BodyReader(std::unique_ptr<fs::File> file, std::uint64_t size)
      : file_(std::move(file)), size_(size) {}

  std::unique_ptr<fs::File> file_;
  std::uint64_t size_ = 0;
};

// What to upload (ContentLibrary::openUpload()).
struct UploadSpec {
  std::string sha256;                 // 64 lower-case hex digits: the body's name
  std::optional<std::uint64_t> size;  // bytes of the whole body, enforced when known
  std::string owner;                  // isValidOwner(); part of the temporary name
  // Resumable: destroying the Upload without abort() keeps the temporary file for a resume
  // (see the header comment). Not resumable: it is deleted, and locked while it lives.
  bool resumable = false;
  // To resume: a tempName() an earlier upload of this body reported, and the offset known to be
  // durable there. A name that is not one of this body's temporary names, or a file that is gone
  // or shorter than the offset, starts a new upload (offset() tells).
  std::string resume_name;
  std::uint64_t resume_offset = 0;
  // seal() checks the hash of what the library holds, read back (checkpoint by checkpoint for a
  // large body), rather than of the bytes as they were written. A resumed upload always reads
  // back: it never saw its first bytes.
  bool read_back = false;
  // Delete the temporary files `owner` left for this body in earlier uploads (e.g. the process
  // died before their resume point was recorded), except resume_name; leftoversDiscarded() says
  // how many. The caller makes sure no other upload of that owner for this body is in progress.
  bool discard_leftovers = false;
};

class ContentLibrary;

// One body being written into a library: bytes in order (at offset()), optional checkpoints,
// seal() (size and hash checked), then ContentLibrary::install() — or commit() for a body on its
// own. Not thread-safe (one thread at a time); must not outlive its library. Failures leave the
// upload failed (later calls return the same error) and delete a non-resumable upload's file.
class Upload {
 public:
  ~Upload();
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;

  const std::string& sha256() const { return sha256_; }
  // The temporary file's name in the body's folder: a resumable upload's writer keeps it.
  const std::string& tempName() const { return temp_name_; }
  // Bytes in the temporary file: where the next write goes. On a resume, the durable offset that
  // was asked for (or 0 if the upload started over).
  std::uint64_t offset() const { return offset_; }
  std::size_t leftoversDiscarded() const { return leftovers_; }
  bool sealed() const { return state_ == State::Sealed; }

  // Writes `size` bytes that belong at `at` of the body. InvalidArgument unless at == offset()
  // (bytes arrive in order) or past the body's size; IoError (e.g. disk full) with the cause.
  Status write(std::uint64_t at, const void* data, std::size_t size);
  Status write(std::uint64_t at, std::string_view data) {
    return write(at, data.data(), data.size());
  }
  Status append(const void* data, std::size_t size) { return write(offset_, data, size); }
  // Makes every byte written so far durable (fdatasync); afterwards offset() may be recorded as a
  // resume point. With read-back, also hashes the newly durable bytes from the file and drops
  // their pages from the page cache, so a large body never sits in memory whole.
  Status checkpoint();
  // Checks the size, then the SHA-256. Corruption (the temporary file is deleted) on a mismatch.
  // The body stays under its temporary name, not yet durable: install() puts it in place.
  Status seal();
  // seal() and install() of this body alone.
  Status commit();
  // Deletes the temporary file (unless installed). Idempotent.
  void abort();

 private:
  friend class ContentLibrary;
  enum class State { Open, Sealed, Installed, Failed, Aborted };
  Upload(ContentLibrary& library, const UploadSpec& spec, fs::Path dir, std::string temp_name,
         std::unique_ptr<fs::File> file, std::uint64_t offset, std::size_t leftovers,
         bool created_dir);
  fs::Path tempPath() const { return dir_ / temp_name_; }
  Status fail(Status status);
  Status readBack(std::uint64_t to);

  ContentLibrary& library_;
  const std::string sha256_;
  const std::optional<std::uint64_t> size_;
  const bool resumable_;
  const bool read_back_;
  const fs::Path dir_;
  const std::string temp_name_;
  std::unique_ptr<fs::File> file_;  // open until sealed (resumable) or installed
  std::uint64_t offset_;
  std::uint64_t hashed_ = 0;  // with read_back_: [0, hashed_) is read back into hasher_
  Sha256 hasher_;
  State state_ = State::Open;
  Status failure_;
  const std::size_t leftovers_;
  const bool created_dir_;  // this upload made FileLib/<prefix>
};

// Bodies kept safe from removal (ContentLibrary::pin()) until destroyed. Movable; must not
// outlive its library.
class BodyPins {
 public:
  BodyPins() = default;
  BodyPins(BodyPins&& other) noexcept;
  BodyPins& operator=(BodyPins&& other) noexcept;
  ~BodyPins();

 private:
  friend class ContentLibrary;
  ContentLibrary* library_ = nullptr;
  std::vector<std::string> shas_;
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

// A content library rooted at a folder of a file system. Thread-safe: every method may be called
// from any thread. Bodies are written concurrently without a lock (each upload has its own
// temporary file; the same body written twice at once is fine). Metadata changes
// (commitManifest, removeContent, removeUnreferencedBodies, cleanTemporaryFiles) are serialized
// by a mutex and, across processes, by the file system's folder lock on the root.
class ContentLibrary {
 public:
  struct Options {
    // Make bodies, manifests and renames durable before the next step depends on them. Turn off
    // only in tests and benchmarks that measure nothing about durability.
    bool sync = true;
    // Bytes per read/write when copying a body in from a file, and per read of a read-back.
    // Default 1 MiB.
    std::size_t copy_buffer_size = 1 << 20;
    // With `sync`: drop an upload's pages from the page cache once they are durable (at each
    // checkpoint and at install). Sending a package to a DP then holds no more memory than its
    // batches in flight, does not push the files the DP serves out of its cache, and the next
    // batch reuses the pages this one freed (docs/performance.md). Off by default: the site's
    // library keeps what it imported cached for the distributions that read it next.
    bool drop_from_cache = false;
    // With `sync`: start writing an upload's bytes back as they arrive (File::startWriteback), so
    // the flush that makes them durable finds them on their way: a streaming writer's throughput
    // instead of a write-then-flush stall. Off by default (the site's imports); a DP's library
    // reached through a transport turns it on.
    bool early_writeback = false;
    // Create the root (and its parents) if missing. Off for a DP's library reached through a
    // transport: a missing root is an offline DP (an unmounted share), never something to make.
    // NotFound then.
    bool create_root = true;
    // Delete stale temporary files when opening: those of DataLib and PkgLib, and with
    // sweep_file_lib_on_open those of FileLib too, which lists every prefix folder (up to 65,536:
    // ~0.5 s on a large library). The service sweeps the site library when it starts; short-lived
    // tools such as the CLI skip it (a stale file costs only disk space until then); a DP's
    // library, whose bodies come as resumable uploads the sweep would not touch, skips FileLib.
    bool sweep_on_open = true;
    bool sweep_file_lib_on_open = true;
    // Recorded in the identity file open() writes into a library that has none.
    std::string site_code;
  };

  // Opens the library at `root` of `fs`: makes FileLib, DataLib and PkgLib (and the root, with
  // create_root), writes the identity file if there is none (kIdentityFileName, atomically),
  // deletes stale temporary files and rewrites PkgLib entries that disagree with DataLib. Errors
  // name the path and the cause. `fs` must outlive the library.
  //
  // Later, a FileLib, DataLib or PkgLib deleted behind the library's back is made again when it
  // is next written to, but only while the root still holds the identity file open() found
  // (checkIdentity()): otherwise the write fails with that Unavailable and nothing is made.
  static Result<std::unique_ptr<ContentLibrary>> open(fs::FileSystem& fs, const fs::Path& root,
                                                      Options options);
  // On the local file system.
  static Result<std::unique_ptr<ContentLibrary>> open(const fs::Path& root, Options options);
  static Result<std::unique_ptr<ContentLibrary>> open(const fs::Path& root);
  ~ContentLibrary();
  ContentLibrary(const ContentLibrary&) = delete;
  ContentLibrary& operator=(const ContentLibrary&) = delete;

  const fs::Path& root() const { return root_; }
  // The identity open() found or wrote (or adoptSite() changed).
  LibraryIdentity identity() const;
  // Records `site_code` in the identity file of a library no site has adopted yet (its site code
  // is empty: a DP's own library, initialised by the DP before any site reached it). OK if it
  // already names that site; AlreadyExists naming the other site if it names another one.
  Status adoptSite(std::string_view site_code);
  // Whether the library's root takes new files: creates and deletes a small probe file there.
  // The file system's error, naming the probe file, if it cannot.
  Status checkWritable() const;
  // Free bytes on the library's volume available to us.
  Result<std::uint64_t> freeSpace() const { return fs_.freeSpace(root_); }
  // OK while the root still holds the identity file open() found. Unavailable
  // "library at <root> is not the one this site initialised (share not mounted?)" if it is gone
  // or names another library (the root was replaced, e.g. an unmounted share's mount point);
  // the file system's error if it cannot be read.
  Status checkIdentity() const;
  // The identity file at `root`: NotFound if there is none, Corruption if it is damaged.
  static Result<LibraryIdentity> readIdentity(fs::FileSystem& fs, const fs::Path& root);
  // The Unavailable status of a root that is not the library the site initialised.
  static Status notInitialised(const fs::FileSystem& fs, const fs::Path& root);
  fs::FileSystem& fileSystem() const { return fs_; }
  // The root as the file system shows it ("/srv/dp01", "smb://fs02/ContentLib").
  std::string describe() const { return fs_.display(root_); }
  // Where a body lives (whether or not it is present). Precondition: isSha256Hex(sha256).
  fs::Path bodyPath(std::string_view sha256) const;
  fs::Path manifestPath(std::string_view package_id, std::uint64_t version) const;

  // ---- bodies ----

  // A regular file under the body's name (a symbolic link there is not the body).
  bool hasBody(std::string_view sha256) const;
  // NotFound if absent; InvalidArgument for a malformed hash; Corruption naming the path if it is
  // not a regular file (never followed through a link, never blocking on a FIFO).
  Result<BodyReader> openBody(std::string_view sha256) const;
  // Which of `sha256s` are present, reading each FileLib/<prefix> folder once (one listing per
  // distinct prefix, or a stat per body in folders holding few of them). InvalidArgument for a
  // malformed hash; Corruption naming the path if something other than a regular file (a link,
  // FIFO, socket, device or folder) is under one of those bodies' names.
  Result<ShaSet> inventory(const std::vector<std::string>& sha256s) const;

  // Starts (or resumes, see UploadSpec) writing a body. InvalidArgument for a malformed hash or
  // owner; the file system's error (naming the path) if the temporary file cannot be made.
  Result<std::unique_ptr<Upload>> openUpload(const UploadSpec& spec);
  // Puts sealed uploads in place: a batch with one volume flush for their bytes before the
  // renames and one for the renames after (one upload: an fsync of the body and of its folder
  // instead). An upload not renamed because of a failure stays sealed (abort() it, or retry).
  // Internal if an upload is not sealed.
  Status install(std::span<Upload* const> uploads);
  // Deletes a resumable upload's temporary file by name (e.g. of a job that was superseded). OK if
  // absent; InvalidArgument if `temp_name` is not a resumable upload's temporary name of that
  // body.
  Status discardUpload(std::string_view sha256, std::string_view temp_name);
  // Deletes every temporary file `owner` (not empty) left for these bodies; returns how many. The
  // caller makes sure no upload of that owner is in progress.
  Result<std::size_t> discardUploads(const std::vector<std::string>& sha256s,
                                     std::string_view owner);
  // Keeps these bodies from being deleted by a removal in this process until the pins are
  // destroyed: a job pins the bodies of the content it sends until its manifest is committed.
  BodyPins pin(std::vector<std::string> sha256s);

  // Pulls bytes from `read` (which fills up to `capacity` bytes of `buffer` and returns how many,
  // 0 at the end) into a new body and commits it; same checks as Upload::seal(). An error from
  // `read` is returned as is.
  using Reader = std::function<Result<std::size_t>(char* buffer, std::size_t capacity)>;
  Status writeBody(std::string_view sha256, std::optional<std::uint64_t> expected_size,
                   const Reader& read);
  // Copies `file` (on this library's file system) in as body `sha256`, hashing while copying (one
  // pass). Corruption if the file does not match (e.g. it changed since its manifest was made);
  // NotFound/PermissionDenied naming the file.
  Status importBody(const fs::Path& file, std::string_view sha256,
                    std::optional<std::uint64_t> expected_size = std::nullopt);

  // ---- content versions ----

  // Copies every body of `manifest` that is not present from `source` (the package source
  // folder the manifest was built from), hashing while copying, then commits the manifest.
  // Bodies are installed in batches (128 bodies or 256 MiB), which on small files is several
  // times faster than an fsync per body (docs/performance.md). Idempotent: content already
  // present returns OK with nothing copied. Errors: Corruption (a source file no longer matches
  // the manifest: rebuild it), NotFound/PermissionDenied (source file), AlreadyExists (a
  // different manifest is stored under the same package and version), IoError.
  Result<AddResult> addContentFromSource(const Manifest& manifest, const fs::Path& source);
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
  // Deletes the manifest (and updates PkgLib), then the bodies no other manifest references and
  // nobody pinned. NotFound if the content is not present. If another manifest cannot be read,
  // the content is still removed but its bodies are kept, and Corruption names that manifest.
  Status removeContent(std::string_view package_id, std::uint64_t version);
  // Deletes every body no manifest references (e.g. left by a crash during a removal), except
  // pinned ones. Returns how many were deleted. Careful: a body uploaded for a manifest not yet
  // committed is unreferenced too unless pinned.
  Result<std::size_t> removeUnreferencedBodies();
  // The same for the named bodies only (no listing of FileLib): deletes those of `sha256s` no
  // manifest references and nobody pinned, e.g. a package's bodies a removal interrupted by a
  // crash left behind. Returns how many were deleted; InvalidArgument for a malformed hash.
  Result<std::size_t> removeBodies(const std::vector<std::string>& sha256s);
  // Deletes the temporary files no live writer holds, except resumable uploads (see the header
  // comment); returns how many. `file_lib` false: only those of DataLib and PkgLib, which spares
  // the listing of every FileLib prefix folder.
  Result<std::size_t> cleanTemporaryFiles(bool file_lib = true);

 private:
  friend class Upload;
  friend class BodyPins;
  class MetaLock;

  ContentLibrary(fs::FileSystem& fs, fs::Path root, Options options);

  fs::Path fileLib() const { return root_ / "FileLib"; }
  fs::Path dataLib() const { return root_ / "DataLib"; }
  fs::Path pkgLib() const { return root_ / "PkgLib"; }

  void pinOne(const std::string& sha256);
  void unpinOne(const std::string& sha256);
  bool pinned(const std::string& sha256) const;
  // OK for a regular file; Corruption naming the body's path and what is there otherwise.
  Status checkBodyType(const std::string& sha256, fs::FileType type) const;
  // Makes FileLib/<prefix> (and FileLib itself if it went missing): true if made now. Corruption
  // if the name holds something other than a folder (a link to one included).
  Result<bool> makePrefixFolder(const fs::Path& dir);
  // Makes FileLib, DataLib or PkgLib again after it was deleted behind our back, if the root is
  // still this library (checkIdentity()).
  Status remakeFolder(const fs::Path& dir);
  // Writes `identity` to the identity file, atomically.
  Status writeIdentity(const LibraryIdentity& identity);
  // Writes the identity file if the root has none (under the metadata lock); sets identity_.
  Status initialiseIdentity();
  // A new temporary file for `final_name` in `dir`, locked with `lock` (or failing).
  struct TempFile {
    std::unique_ptr<fs::File> file;
    std::string name;
  };
  Result<TempFile> createTemp(const fs::Path& dir, std::string_view final_name,
                              std::string_view owner, bool lock);
  // Deletes the temporary files of body `sha256` by `owner` in `dir`, except `keep`.
  Result<std::size_t> sweepUploads(const fs::Path& dir, std::string_view sha256,
                                   std::string_view owner, std::string_view keep);
  // Deletes `path` if it is a temporary file no live writer holds. True if deleted; false if
  // it is held or went away meanwhile; the error of a call that failed (e.g. the lock).
  Result<bool> removeIfStale(const fs::Path& path);
  Status installOne(Upload& upload);
  // Drops a durable upload's pages from the page cache (drop_from_cache); advisory.
  void dropPages(Upload& upload);
  // install()'s batch; the flush of the renames is left to the caller when `sync_renames` is off
  // (addContentFromSource flushes the renames of all its batches at once, before the manifest).
  Status installBatch(std::span<Upload* const> uploads, bool sync_renames);
  // Moves a sealed upload's file to its final name.
  Status rename(Upload& upload);
  // Copies `file` into a new upload and seals it, without installing.
  Result<std::unique_ptr<Upload>> stageFromFile(const fs::Path& file, std::string_view sha256,
                                                std::optional<std::uint64_t> expected_size);
  Status copyInto(Upload& upload, const Reader& read);
  Status listDir(const fs::Path& dir, const fs::FileSystem::ListFn& fn) const {
    return fs_.list(dir, fn);
  }
  Result<std::vector<ContentRef>> listContentsUnlocked() const;
  Status writePkgLibUnlocked(const std::string& package_id);
  Status repairPkgLibUnlocked();
  Result<ShaSet> referencedBodiesUnlocked() const;
  // Deletes those of `sha256s` not in `referenced` and not pinned; under the metadata lock.
  Result<std::size_t> removeBodiesUnlocked(const std::vector<std::string>& sha256s,
                                           const ShaSet& referenced);
  Status writeFileAtomically(const fs::Path& path, std::string_view content);

  fs::FileSystem& fs_;
  const fs::Path root_;
  const Options options_;
  mutable std::mutex identity_mu_;
  LibraryIdentity identity_;  // set by open(), changed only by adoptSite(); guarded by identity_mu_

  std::mutex meta_mu_;  // serializes metadata changes within the process

  mutable std::mutex pin_mu_;
  std::unordered_map<std::string, int> pins_;  // guarded by pin_mu_
};

}  // namespace pkgxfer::content
