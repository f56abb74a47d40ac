#pragma once

// FileTransport: a standard DP whose content library is a folder this machine can open through a
// file system (a local disk or a share mounted by the OS: the `file://` address of SPEC §4; SMB
// reuses it over libsmbclient's file system). A thin adapter: everything it does to the DP is a
// content::ContentLibrary call on that folder — the library owns the layout, the temporary names,
// the crash ordering and the pins — and this class adds what makes it a transport: the root is
// never created (a missing root is an offline DP, Unavailable), a probe that the root is the
// library the site initialised and is writable and how much space is free, writes only under a
// root that still holds the identity file the library was opened with, and the CallContext checked
// before each call (a local call cannot be interrupted once it runs: see transport.h).

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "pkgxfer/content/content_library.h"
#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::transport {

struct FileTransportOptions {
  // Make bodies, manifests and renames durable (TransportOptions::sync).
  bool sync = true;
  // The DP library's page-cache policy (content::ContentLibrary::Options::drop_from_cache): once a
  // body sent to the DP is durable, drop its pages, so sending a package does not push the files
  // the DP serves out of its cache. The read-back that checks a body happens before, from the
  // cache, through the file system as any reader of the DP would.
  bool drop_from_cache = true;
  // Bytes per read when reading a body back to check it.
  std::size_t read_back_buffer = 1 << 20;
  // Recorded in the identity file of a library this transport initialises.
  std::string site_code;
  // What describe() says; empty: "file://<root>". An SMB DP: its smb:// address.
  std::string description;
  // A root that does not exist is an offline DP (Unavailable: a share not mounted). False where
  // the file system itself says the root is missing (an SMB server answering that the share or
  // path does not exist): NotFound then, still retried.
  bool missing_root_is_offline = true;
};

// Thread-safe (see Transport).
class FileTransport final : public Transport {
 public:
  // `fs` must outlive the transport.
  FileTransport(fs::FileSystem& fs, std::filesystem::path root, FileTransportOptions options);
  // A transport that owns its file system (an SMB share's).
  FileTransport(std::unique_ptr<fs::FileSystem> fs, std::filesystem::path root,
                FileTransportOptions options);

  std::string describe() const override;
  Result<ProbeResult> probe(const CallContext& ctx, const ProbeOptions& options = {}) override;
  Result<content::ShaSet> inventory(const std::vector<std::string>& sha256s,
                                    const CallContext& ctx) override;
  Result<std::unique_ptr<ContentSend>> beginSend(std::shared_ptr<const content::Manifest> manifest,
                                                 std::string owner,
                                                 const CallContext& ctx) override;
  Status discardTemp(std::string_view sha256, std::string_view temp_name,
                     const CallContext& ctx) override;
  Result<std::size_t> discardLeftovers(std::string_view owner,
                                       const std::vector<std::string>& sha256s,
                                       const CallContext& ctx) override;
  Result<std::size_t> removeBodies(const std::vector<std::string>& sha256s,
                                   const CallContext& ctx) override;
  Result<content::Manifest> readManifest(std::string_view package_id, std::uint64_t version,
                                         const CallContext& ctx) override;
  Result<std::string> readManifestJson(std::string_view package_id, std::uint64_t version,
                                       const CallContext& ctx) override;
  Result<std::vector<std::uint64_t>> listVersions(std::string_view package_id,
                                                  const CallContext& ctx) override;
  Result<content::ValidationReport> validate(std::string_view package_id, std::uint64_t version,
                                             const CallContext& ctx) override;
  Status removeContent(std::string_view package_id, std::uint64_t version,
                       const CallContext& ctx) override;

  // `failure` of an operation inside the library, or Unavailable if the reason is that the root
  // is gone (an unmounted share fails the first create under it). For the send's own calls.
  Status rootOr(Status failure) const;

 private:
  class Send;

  // The library, opened on first use once the root exists, after checking `ctx` and the root.
  Result<content::ContentLibrary*> library(const CallContext& ctx, std::string_view what);
  Status checkRoot() const;
  // Before anything is written to the root: the library opened earlier is still there (its
  // identity file unchanged), or, not opened yet and `expect_initialised`, the root holds an
  // identity file (or a DataLib folder: a library from before identity files).
  Status checkIdentity(bool expect_initialised);
  // The library if it is open, else null.
  content::ContentLibrary* openedLibrary();

  const std::unique_ptr<fs::FileSystem> owned_fs_;  // null when the file system is the caller's
  fs::FileSystem& fs_;
  const std::filesystem::path root_;
  const FileTransportOptions options_;
  std::mutex mu_;
  std::unique_ptr<content::ContentLibrary> library_;  // guarded by mu_ until set
};

}  // namespace pkgxfer::transport
