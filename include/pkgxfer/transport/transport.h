#pragma once

// Transport: "a DP's content library over there" (SPEC §3), as the site server's distribution and
// transfer managers see it. One interface for every way of reaching a standard DP — a file system
// path, SMB, HTTP — so the checks and the jobs do not care how the bytes travel, and a remote DP
// pays one round trip where a local one pays one system call.
//
// Every call blocks (file, SMB or network I/O): run them on the blocking pool, never on a strand.
// Every call takes a CallContext: a stop requested on its token (the service stops, the job is
// cancelled, the DP's schedule window closed) ends the call with Cancelled — at once if it waits on
// the network — and its deadline bounds it (Unavailable, "timed out"); a transport also bounds each
// network operation with timeouts of its own. A local file system call cannot be interrupted: the
// file transport checks the context before each call. A caller that must still finish a short
// step after a stop (a job keeping what it sent: a checkpoint, installing what it verified) passes
// a context without the stop token and with a short deadline for that step.
//
// Errors carry the real cause with the DP's path or URL, e.g.
//   "create /srv/dp01/FileLib/3a4f/.3a4f...partial: No space left on device (ENOSPC)".
// Unavailable means "try again later" (DP unreachable, share not mounted, library root missing).
//
// Sending a content version (ContentSend): its bodies are pinned on the DP, so a concurrent
// removal of other content that shares them does not delete them, until the manifest is committed
// or the send is abandoned. Each body is uploaded to a temporary name on the DP (resumable: the
// caller keeps the name and the offset of what is durable there, in the site database), checked
// against its SHA-256 by the DP from what the DP stored, and put in place with others in one
// install() call. The manifest is committed only after every body it names is present, so a
// content version is present on the DP exactly when its DataLib manifest exists.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/call_context.h"
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

// What the caller of a preliminary check knows about the DP.
struct ProbeOptions {
  // The site's database says the DP holds content (a pair installed, or being sent, validated or
  // removed). A library root without the identity file the site wrote when it initialised the
  // library (content::kIdentityFileName) is then not that library — an unmounted share's mount
  // point, a folder that vanished and came back empty — and probe() fails with Unavailable
  // "library at <root> is not the one this site initialised (share not mounted?)" without writing
  // anything there. (A root that holds a DataLib folder but no identity file is a library made
  // before identity files: it is adopted and given one.) False: a root without one is a new
  // library, initialised by the probe.
  bool expect_initialised = false;
};

// One body to upload.
struct BodySpec {
  std::string sha256;      // 64 lower-case hex digits
  std::uint64_t size = 0;  // bytes of the whole body
  // To resume: the temporary name an earlier upload reported (BodyUpload::tempName()) and the
  // offset known to be durable there. Empty name = start a new upload.
  std::string resume_temp_name;
  std::uint64_t resume_offset = 0;
  // The DP checks the body's SHA-256 from what it stored: a file DP reads it back, an HTTP DP
  // hashes what it wrote while receiving. False lets a transport that would pay for it (a file
  // DP) check the bytes as they were sent instead.
  bool verify = true;
  // Before starting, delete the temporary files the send's owner left for this body in earlier
  // uploads (e.g. the process died before their resume point was recorded), keeping
  // resume_temp_name: BodyUpload::leftoversDiscarded() says how many. The caller makes sure no
  // other upload of that owner for this body is in progress.
  bool discard_leftovers = false;
};

// An upload of one body to a temporary name on the DP. Not thread-safe: one thread at a time.
// Destroying an upload that was neither installed nor aborted keeps its temporary file (so the
// upload can be resumed later); call abort() to discard it.
class BodyUpload {
 public:
  virtual ~BodyUpload() = default;

  // The temporary name on the DP (opaque to the caller; pass it back in BodySpec to resume).
  virtual const std::string& tempName() const = 0;
  // Bytes of the body the DP holds: where the next write() goes. On a resume, the durable offset
  // the DP reports (or 0 if its temporary file was gone).
  virtual std::uint64_t offset() const = 0;
  // Appends `size` bytes at offset(). InvalidArgument past the body's size; IoError/Unavailable
  // with the cause (e.g. disk full, connection reset) otherwise.
  virtual Status write(const void* data, std::size_t size, const CallContext& ctx) = 0;
  // Makes every byte written so far durable on the DP. After it returns OK, offset() may be
  // recorded as a resume point.
  virtual Status checkpoint(const CallContext& ctx) = 0;
  // Every byte is written: the DP checks size and SHA-256. Corruption on a mismatch (the DP
  // discards the temporary file); IoError/Unavailable otherwise. The body is not in place yet:
  // ContentSend::install() puts it there.
  virtual Status seal(const CallContext& ctx) = 0;
  // Deletes the temporary file. Idempotent; best effort.
  virtual void abort() = 0;
  // How many leftover temporary files opening this upload deleted (BodySpec::discard_leftovers).
  virtual std::size_t leftoversDiscarded() const { return 0; }
};

// One content version being sent to the DP (Transport::beginSend()). Its bodies stay pinned on
// the DP for its life. Thread-safe: several streams open uploads and install batches at once.
class ContentSend {
 public:
  virtual ~ContentSend() = default;

  // Starts (or resumes, see BodySpec) an upload of one of the content's bodies.
  virtual Result<std::unique_ptr<BodyUpload>> openBody(const BodySpec& spec,
                                                       const CallContext& ctx) = 0;
  // Puts sealed uploads in place, durably, in one call (a file DP: one volume flush before the
  // renames and one after, or for a single body an fsync of it and of its folder). On failure,
  // the uploads not installed keep their temporary files: abort them or install them again.
  virtual Status install(std::span<BodyUpload* const> sealed, const CallContext& ctx) = 0;
  // Commits the manifest (DataLib and PkgLib). NotFound listing missing bodies; AlreadyExists if
  // a different manifest is stored under that package and version.
  virtual Status commit(const CallContext& ctx) = 0;
  // Deletes the temporary files this send's owner left for these bodies (uploads whose resume
  // point was never recorded because the process died first); how many. The caller makes sure no
  // upload of the owner is in progress.
  virtual Result<std::size_t> discardLeftovers(const std::vector<std::string>& sha256s,
                                               const CallContext& ctx) = 0;
};

// A DP's content library. Thread-safe: calls may come from several pool threads at once (several
// jobs to the same DP).
class Transport {
 public:
  virtual ~Transport() = default;

  // "file:///srv/dp01" etc., for the log.
  virtual std::string describe() const = 0;
  // How the DP checks a body's SHA-256 (BodySpec::verify), for the log: "by reading the body
  // back from the DP" (a file DP), "by the DP as it received the body" (an HTTP DP, whatever
  // `verify` says). Empty when the bytes are only hashed as they were sent.
  virtual std::string_view verification(bool verify) const {
    return verify ? "by reading the body back from the DP" : "";
  }

  // Preliminary check: the DP is reachable, its library exists, is the one the site initialised
  // (see ProbeOptions) and is writable, and how much space is free. Unavailable if the library is
  // missing, unreachable or not the site's; PermissionDenied if it cannot be written. Once a
  // transport has opened the library, a probe also fails if its identity file is gone or changed,
  // whatever `options` says.
  virtual Result<ProbeResult> probe(const CallContext& ctx, const ProbeOptions& options = {}) = 0;
  // Which of `sha256s` are present in the DP's FileLib.
  virtual Result<content::ShaSet> inventory(const std::vector<std::string>& sha256s,
                                            const CallContext& ctx) = 0;
  // Starts sending `manifest` (its bodies are pinned until the send ends). `owner`
  // ([A-Za-z0-9_-]{1,64}; the transfer manager uses the package ID) names its temporary files, so
  // leftovers of one owner are swept without touching another's uploads of the same body.
  virtual Result<std::unique_ptr<ContentSend>> beginSend(
      std::shared_ptr<const content::Manifest> manifest, std::string owner,
      const CallContext& ctx) = 0;
  // Deletes a temporary file left by an upload (e.g. of a job that was superseded). OK if absent.
  virtual Status discardTemp(std::string_view sha256, std::string_view temp_name,
                             const CallContext& ctx) = 0;
  // Deletes every temporary file `owner` left for these bodies, outside any send: what a remove,
  // or a distribution that failed for good, leaves of uploads whose resume point was never
  // recorded (the process died first). How many. The caller makes sure no upload of the owner for
  // these bodies is in progress.
  virtual Result<std::size_t> discardLeftovers(std::string_view owner,
                                               const std::vector<std::string>& sha256s,
                                               const CallContext& ctx) = 0;

  // NotFound if that content version is not present on the DP.
  virtual Result<content::Manifest> readManifest(std::string_view package_id, std::uint64_t version,
                                                 const CallContext& ctx) = 0;
  // The DataLib manifest exactly as stored (JSON bytes, unparsed): a caller that only compares it
  // with the site's skips parsing. NotFound if that content version is not present on the DP.
  virtual Result<std::string> readManifestJson(std::string_view package_id, std::uint64_t version,
                                               const CallContext& ctx) = 0;
  // The versions of a package present on the DP, ascending.
  virtual Result<std::vector<std::uint64_t>> listVersions(std::string_view package_id,
                                                          const CallContext& ctx) = 0;
  // Re-hashes every body of the content on the DP. NotFound if the content is not present; a
  // failed check is a report, not an error.
  virtual Result<content::ValidationReport> validate(std::string_view package_id,
                                                     std::uint64_t version,
                                                     const CallContext& ctx) = 0;
  // Deletes those of `sha256s` no manifest on the DP references and no send pins: the bodies a
  // removal left when it was interrupted between the manifest and the bodies. How many.
  virtual Result<std::size_t> removeBodies(const std::vector<std::string>& sha256s,
                                           const CallContext& ctx) = 0;
  // Deletes the manifest, then the bodies no other manifest references. NotFound if absent.
  virtual Status removeContent(std::string_view package_id, std::uint64_t version,
                               const CallContext& ctx) = 0;
};

// What every transport honours.
struct TransportOptions {
  // Make bodies, manifests and renames durable on the DP. Off only in tests that measure nothing
  // about durability.
  bool sync = true;
  // The site code recorded in the identity file of a library the transport initialises (empty:
  // none recorded).
  std::string site_code;
  // The site's bearer token for HTTP DPs: the file it is read from (site.token_file) when an
  // http(s) DP's transport is made. Empty: none (an HTTP DP then refuses every change).
  std::filesystem::path token_file;
};

// What the site's components use: the site's code and token file.
TransportOptions siteTransportOptions(const config::SiteConfig& site);

// The transport for a standard DP's address: file:// (FileTransport), http(s):// (HttpTransport;
// NotFound/PermissionDenied/IoError/InvalidArgument when the token file cannot be read), smb://
// (FileTransport over the share: libsmbclient, or the UNC path on Windows; InvalidArgument when
// the password's environment variable is not set, or when this build has no SMB support).
Result<std::unique_ptr<Transport>> makeTransport(const config::DistributionPointConfig& dp,
                                                 const TransportOptions& options = {});

// Makes the transport of a DP: makeTransport in the service, a wrapper in tests. Shared, as a
// transport is used by several jobs (threads) at once.
using TransportFactory =
    std::function<Result<std::shared_ptr<Transport>>(const config::DistributionPointConfig& dp)>;
TransportFactory defaultTransportFactory(const TransportOptions& options = {});

}  // namespace pkgxfer::transport
