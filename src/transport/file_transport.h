#pragma once

// FileTransport: a standard DP whose content library is a folder this machine can open (a local
// disk, or a share mounted by the OS): the `file://` address of SPEC §4. Bodies, manifests,
// validation and removal go through content::ContentLibrary on that folder; uploads are resumable
// temporary files ".<sha256>.<owner>.<token>.partial" next to their final name in
// FileLib/<prefix>/.

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "pkgxfer/content/content_library.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::transport {

// Thread-safe (see Transport). The library root itself is never created: a missing root is how a
// DP that is offline (an unmounted share, a disk not there) looks, and is Unavailable.
class FileTransport final : public Transport {
 public:
  FileTransport(std::filesystem::path root, TransportOptions options);

  std::string describe() const override;
  Result<ProbeResult> probe() override;
  Result<content::ShaSet> inventory(const std::vector<std::string>& sha256s) override;
  Result<std::unique_ptr<BodyUpload>> openBody(const BodySpec& spec) override;
  Status sync() override;
  Status discardTemp(std::string_view sha256, std::string_view temp_name) override;
  Result<std::size_t> discardTemps(const std::vector<std::string>& sha256s,
                                   std::string_view owner) override;
  Status commitManifest(const content::Manifest& manifest) override;
  Result<content::Manifest> readManifest(std::string_view package_id,
                                         std::uint64_t version) override;
  Result<std::string> readManifestJson(std::string_view package_id, std::uint64_t version) override;
  Result<std::vector<std::uint64_t>> listVersions(std::string_view package_id) override;
  Result<content::ValidationReport> validate(std::string_view package_id,
                                             std::uint64_t version) override;
  Status removeContent(std::string_view package_id, std::uint64_t version) override;

  // True for a name openBody() may have made for `sha256` (".<sha256>.<owner>.<16 hex>.partial").
  // If `owner` is given, only that owner's names.
  static bool isTempNameFor(std::string_view sha256, std::string_view name,
                            const std::string_view* owner = nullptr);

 private:
  // The library, opened on first use once the root exists. Unavailable if the root is missing.
  Result<content::ContentLibrary*> library();
  // The library without checking the root again once it is open: for the per-body calls, whose
  // failures go through rootOr().
  Result<content::ContentLibrary*> openedLibrary();
  Status checkRoot() const;
  // `failure` of an operation inside the library, or Unavailable if the reason is that the root
  // is gone (an unmounted share fails the first create under it).
  Status rootOr(Status failure) const;

  const std::filesystem::path root_;
  const TransportOptions options_;
  std::mutex mu_;
  std::unique_ptr<content::ContentLibrary> library_;  // guarded by mu_ until set
};

}  // namespace pkgxfer::transport
