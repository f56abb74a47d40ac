#pragma once

// Transport: "a DP's content library over there" (SPEC §3), as the site server's transfer manager
// sees it. One interface for every way of reaching a standard DP — a file system path today, SMB
// and HTTP later — so the distribution manager's checks and the transfer manager's jobs do not
// care how the bytes travel.
//
// Every call blocks (file, SMB or network I/O): run them on the blocking pool, never on a strand.
// Errors carry the real cause with the DP's path or URL, e.g.
//   "open /srv/dp01/FileLib/3a4f/.3a4f...partial: No space left on device (ENOSPC)".
// Unavailable means "try again later" (DP unreachable, share not mounted, library root missing).
//
// A body is uploaded to a temporary name in its final folder (resumable: the name and the offset
// of what is durable there are kept by the caller, in the site database) and renamed into place
// only after its SHA-256 matched. A manifest is committed only after every body it names is
// present, so a content version is present on the DP exactly when its DataLib manifest exists.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/content/manifest.h"

namespace pkgxfer::transport {

// What a preliminary check of a DP found.
struct ProbeResult {
  std::string location;          // where the library is, for the log ("/srv/dp01", a URL, ...)
  std::uint64_t free_bytes = 0;  // free space available to us on the DP's library volume
};

// One body to upload.
struct BodySpec {
  std::string sha256;      // 64 lower-case hex digits
  std::uint64_t size = 0;  // bytes of the whole body
  // Who uploads it, [A-Za-z0-9_-]{0,64} (the transfer manager uses the package ID): part of the
  // temporary name, so discardTemps() can sweep one owner's leftovers without touching another
  // upload of the same body.
  std::string owner;
  // To resume: the temporary name an earlier upload reported (BodyUpload::tempName()) and the
  // offset known to be durable there. Empty name = start a new upload.
  std::string resume_temp_name;
  std::uint64_t resume_offset = 0;
  // How seal()/finish() check the SHA-256: by reading the body back from the DP (true), or from
  // the bytes as they were written (false; an upload then hashes while it writes, which a
  // read-back would make wasted work).
  bool verify = true;
  // Before starting, delete the temporary files `owner` left for this body in earlier uploads
  // (e.g. the process died before their resume point was recorded), keeping resume_temp_name:
  // BodyUpload::leftoversDiscarded() says how many. The caller makes sure no other upload of that
  // owner for this body is in progress.
  bool discard_leftovers = false;
};

// An upload of one body to a temporary name on the DP. Not thread-safe: one thread at a time.
// Destroying an upload that was neither finished nor aborted keeps its temporary file (so the
// upload can be resumed later); call abort() to discard it.
class BodyUpload {
 public:
  virtual ~BodyUpload() = default;

  // The temporary name on the DP (opaque to the caller; pass it back in BodySpec to resume).
  virtual const std::string& tempName() const = 0;
  // Bytes of the body already in the temporary file: where the next write() goes. On a resume,
  // the durable offset that was asked for (or 0 if the temporary file was gone).
  virtual std::uint64_t offset() const = 0;
  // Appends `size` bytes at offset(). InvalidArgument past the body's size; IoError/Unavailable
  // with the OS cause (e.g. disk full) otherwise.
  virtual Status write(const void* data, std::size_t size) = 0;
  // Makes every byte written so far durable on the DP (fsync). After it returns OK, offset() may
  // be recorded as a resume point. A file DP that verifies also reads those bytes back into the
  // body's hash then, and drops them from the page cache: seal() reads back only the rest.
  virtual Status flush() = 0;
  // Checks the body (size, then SHA-256: read back from the DP when BodySpec::verify, else the
  // hash of the bytes as they were written; a resumed upload always reads back). Corruption on a
  // mismatch (the temporary file is deleted); IoError/Unavailable otherwise. The body stays under
  // its temporary name and need not be durable yet: install() puts it in place.
  virtual Status seal() = 0;
  // After seal(): renames the body into place. `durable`: make the body durable first and the
  // rename durable after (an fsync each). Not durable: the caller brackets a batch of installs
  // with Transport::sync() — one before (the bodies' bytes) and one after (the renames) — which
  // keeps the same crash guarantee (no partial body under a final name) for one flush per batch.
  virtual Status install(bool durable) = 0;
  // seal() then install(true): one body, on its own.
  virtual Status finish() {
    PKGXFER_RETURN_IF_ERROR(seal());
    return install(true);
  }
  // Deletes the temporary file. Idempotent; best effort.
  virtual void abort() = 0;
  // How many leftover temporary files opening this upload deleted (BodySpec::discard_leftovers).
  virtual std::size_t leftoversDiscarded() const { return 0; }
};

// A DP's content library. Thread-safe: calls may come from several pool threads at once (several
// jobs to the same DP), each upload used by one thread.
class Transport {
 public:
  virtual ~Transport() = default;

  // "file:///srv/dp01" etc., for the log.
  virtual std::string describe() const = 0;

  // Preliminary check: the DP is reachable, its library root exists and is writable (a probe file
  // is created and deleted), and how much space is free. Unavailable if the root is missing or
  // unreachable; PermissionDenied if it cannot be written.
  virtual Result<ProbeResult> probe() = 0;
  // Which of `sha256s` are present in the DP's FileLib.
  virtual Result<content::ShaSet> inventory(const std::vector<std::string>& sha256s) = 0;

  // Starts (or resumes, see BodySpec) an upload.
  virtual Result<std::unique_ptr<BodyUpload>> openBody(const BodySpec& spec) = 0;
  // Makes everything written to the DP's library so far durable: the bytes of sealed bodies and
  // the renames of installed ones (a file DP: one syncfs() of its volume).
  virtual Status sync() = 0;
  // Deletes a temporary file left by an upload (e.g. of a job that was superseded). OK if absent.
  virtual Status discardTemp(std::string_view sha256, std::string_view temp_name) = 0;
  // Deletes every temporary file `owner` left for these bodies (e.g. of an upload whose resume
  // point was never recorded because the process died first), returning how many. The caller
  // makes sure no upload of that owner is in progress.
  virtual Result<std::size_t> discardTemps(const std::vector<std::string>& sha256s,
                                           std::string_view owner) = 0;

  // Writes the DataLib manifest and the PkgLib entry. NotFound listing missing bodies;
  // AlreadyExists if a different manifest is stored under that package and version.
  virtual Status commitManifest(const content::Manifest& manifest) = 0;
  // NotFound if that content version is not present on the DP.
  virtual Result<content::Manifest> readManifest(std::string_view package_id,
                                                 std::uint64_t version) = 0;
  // The DataLib manifest exactly as stored (JSON bytes, unparsed): a caller that only compares it
  // with the site's skips parsing. NotFound if that content version is not present on the DP.
  virtual Result<std::string> readManifestJson(std::string_view package_id,
                                               std::uint64_t version) = 0;
  // The versions of a package present on the DP, ascending.
  virtual Result<std::vector<std::uint64_t>> listVersions(std::string_view package_id) = 0;
  // Re-hashes every body of the content on the DP. NotFound if the content is not present; a
  // failed check is a report, not an error.
  virtual Result<content::ValidationReport> validate(std::string_view package_id,
                                                     std::uint64_t version) = 0;
  // Deletes the manifest, then the bodies no other manifest references. NotFound if absent.
  virtual Status removeContent(std::string_view package_id, std::uint64_t version) = 0;
};

struct TransportOptions {
  // fsync bodies, manifests and renames. Off only in tests that measure nothing about durability.
  bool sync = true;
  // Bytes per read when reading a body back to verify it.
  std::size_t buffer_size = 1 << 20;
  // File DPs: once a body is durable on the DP (with `sync`), drop its pages from the DP's page
  // cache. Sending a package then holds no more memory than the batches in flight: it does not
  // push the files the DP serves out of its cache, and the next batch reuses the pages this one
  // freed, which is cheaper than taking new ones (see docs/performance.md). The read-back of
  // `verify` happens before, from the cache, through the file system as any reader of the DP would.
  bool drop_from_cache = true;
};

// The transport for a standard DP's address. Today: file:// (FileTransport). Unavailable for
// schemes this build cannot reach yet (smb, http, https), naming the scheme.
Result<std::unique_ptr<Transport>> makeTransport(const config::DistributionPointConfig& dp,
                                                 const TransportOptions& options = {});

// Makes the transport of a DP: makeTransport in the service, a fake in tests. Shared, as a
// transport is used by several jobs (threads) at once.
using TransportFactory =
    std::function<Result<std::shared_ptr<Transport>>(const config::DistributionPointConfig& dp)>;
TransportFactory defaultTransportFactory(const TransportOptions& options = {});

}  // namespace pkgxfer::transport
