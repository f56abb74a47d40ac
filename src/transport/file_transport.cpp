#include "pkgxfer/transport/file_transport.h"

#include <utility>
#include <vector>

#include "pkgxfer/common/text.h"
#include "pkgxfer/content/sha256.h"

namespace pkgxfer::transport {
namespace {

// A body on its way into the DP's library: a resumable content::Upload. Local calls cannot be
// interrupted: the context is checked before each.
class FileBodyUpload final : public BodyUpload {
 public:
  FileBodyUpload(std::unique_ptr<content::Upload> upload, const FileTransport& transport)
      : upload_(std::move(upload)), transport_(transport) {}

  const std::string& tempName() const override { return upload_->tempName(); }
  std::uint64_t offset() const override { return upload_->offset(); }
  Status write(const void* data, std::size_t size, const CallContext& ctx) override {
    if (!ctx.live()) return ctx.check("write to " + transport_.describe());
    return upload_->append(data, size);
  }
  Status checkpoint(const CallContext& ctx) override {
    if (!ctx.live()) return ctx.check("checkpoint on " + transport_.describe());
    return upload_->checkpoint();
  }
  Status seal(const CallContext& ctx) override {
    if (!ctx.live()) return ctx.check("seal on " + transport_.describe());
    return upload_->seal();
  }
  void abort() override { upload_->abort(); }
  std::size_t leftoversDiscarded() const override { return upload_->leftoversDiscarded(); }

  content::Upload& upload() { return *upload_; }

 private:
  std::unique_ptr<content::Upload> upload_;
  const FileTransport& transport_;
};

}  // namespace

// One content version on its way to the DP: its bodies pinned in the library until the send ends.
class FileTransport::Send final : public ContentSend {
 public:
  Send(FileTransport& transport, content::ContentLibrary& library,
       std::shared_ptr<const content::Manifest> manifest, std::string owner)
      : transport_(transport),
        library_(library),
        manifest_(std::move(manifest)),
        owner_(std::move(owner)),
        pins_(library.pin(content::uniqueBodies(*manifest_))) {}

  Result<std::unique_ptr<BodyUpload>> openBody(const BodySpec& spec,
                                               const CallContext& ctx) override {
    if (!ctx.live()) return ctx.check("upload to " + transport_.describe());
    content::UploadSpec upload;
    upload.sha256 = spec.sha256;
    upload.size = spec.size;
    upload.owner = owner_;
    upload.resumable = true;
    upload.resume_name = spec.resume_temp_name;
    upload.resume_offset = spec.resume_offset;
    upload.read_back = spec.verify;
    upload.discard_leftovers = spec.discard_leftovers;
    auto opened = library_.openUpload(upload);
    if (!opened.ok()) return transport_.rootOr(opened.status());
    return std::unique_ptr<BodyUpload>(
        std::make_unique<FileBodyUpload>(std::move(*opened), transport_));
  }

  Status install(std::span<BodyUpload* const> sealed, const CallContext& ctx) override {
    if (!ctx.live()) return ctx.check("install on " + transport_.describe());
    std::vector<content::Upload*> uploads;
    uploads.reserve(sealed.size());
    for (BodyUpload* b : sealed) {
      auto* mine = dynamic_cast<FileBodyUpload*>(b);
      if (mine == nullptr) return Status::Internal("install: an upload of another transport");
      uploads.push_back(&mine->upload());
    }
    Status s = library_.install(uploads);
    return s.ok() ? s : transport_.rootOr(s);
  }

  Status commit(const CallContext& ctx) override {
    if (!ctx.live()) return ctx.check("commit on " + transport_.describe());
    Status s = library_.commitManifest(*manifest_);
    return s.ok() ? s : transport_.rootOr(s);
  }

  Result<std::size_t> discardLeftovers(const std::vector<std::string>& sha256s,
                                       const CallContext& ctx) override {
    if (!ctx.live()) return ctx.check("clean up on " + transport_.describe());
    return library_.discardUploads(sha256s, owner_);
  }

 private:
  FileTransport& transport_;
  content::ContentLibrary& library_;
  const std::shared_ptr<const content::Manifest> manifest_;
  const std::string owner_;
  content::BodyPins pins_;
};

FileTransport::FileTransport(fs::FileSystem& fs, std::filesystem::path root,
                             FileTransportOptions options)
    : fs_(fs), root_(std::move(root)), options_(options) {}

FileTransport::FileTransport(std::unique_ptr<fs::FileSystem> fs, std::filesystem::path root,
                             FileTransportOptions options)
    : owned_fs_(std::move(fs)), fs_(*owned_fs_), root_(std::move(root)), options_(options) {}

std::string FileTransport::describe() const {
  if (!options_.description.empty()) return options_.description;
  return "file://" + fs_.display(root_);
}

Status FileTransport::checkRoot() const {
  auto info = fs_.stat(root_);
  if (!info.ok()) {
    const Status& s = info.status();
    // A missing root or an unreachable mount is a DP that is not there right now: retry later.
    if ((s.code() == Status::Code::NotFound && options_.missing_root_is_offline) ||
        s.code() == Status::Code::IoError || s.code() == Status::Code::Unavailable) {
      return Status::Unavailable("DP library root: " + s.message());
    }
    return s.withContext("DP library root");
  }
  if (!info->isDirectory()) {
    return Status::Unavailable("DP library root " + fs_.display(root_) + " is not a folder");
  }
  return Status::Ok();
}

Status FileTransport::rootOr(Status failure) const {
  if (Status root = checkRoot(); !root.ok()) return root;
  return failure;
}

content::ContentLibrary* FileTransport::openedLibrary() {
  std::lock_guard<std::mutex> lock(mu_);
  return library_.get();
}

Status FileTransport::checkIdentity(bool expect_initialised) {
  if (content::ContentLibrary* lib = openedLibrary()) return lib->checkIdentity();
  if (!expect_initialised) return Status::Ok();
  auto identity = content::ContentLibrary::readIdentity(fs_, root_);
  if (identity.ok()) return Status::Ok();
  if (identity.error().code() != Status::Code::NotFound) return rootOr(identity.error());
  // A library from before identity files holds DataLib: it is this library; open() adopts it.
  auto data_lib = fs_.stat(root_ / "DataLib");
  if (data_lib.ok() && data_lib->isDirectory()) return Status::Ok();
  return content::ContentLibrary::notInitialised(fs_, root_);
}

Result<content::ContentLibrary*> FileTransport::library(const CallContext& ctx,
                                                        std::string_view what) {
  if (!ctx.live()) return ctx.check(std::string(what) + " " + describe());
  PKGXFER_RETURN_IF_ERROR(checkRoot());
  std::lock_guard<std::mutex> lock(mu_);
  if (!library_) {
    content::ContentLibrary::Options options;
    options.sync = options_.sync;
    options.drop_from_cache = options_.drop_from_cache;
    options.copy_buffer_size = options_.read_back_buffer;
    options.early_writeback = true;  // uploads stream in: their flush finds the bytes on their way
    options.create_root = false;
    // Bodies come as resumable uploads, which only their owner discards: FileLib is not swept.
    options.sweep_file_lib_on_open = false;
    options.site_code = options_.site_code;
    auto opened = content::ContentLibrary::open(fs_, root_, options);
    if (!opened.ok()) return rootOr(opened.status());
    library_ = std::move(*opened);
  }
  return library_.get();
}

Result<ProbeResult> FileTransport::probe(const CallContext& ctx, const ProbeOptions& options) {
  if (!ctx.live()) return ctx.check("probe " + describe());
  PKGXFER_RETURN_IF_ERROR(checkRoot());
  PKGXFER_RETURN_IF_ERROR(checkIdentity(options.expect_initialised));
  PKGXFER_RETURN_IF_ERROR(content::checkFolderWritable(fs_, root_));
  // Opening the library creates FileLib/DataLib/PkgLib if they are missing, so a root that is
  // writable but fresh passes the check.
  PKGXFER_RETURN_IF_ERROR(library(ctx, "probe").status());
  PKGXFER_ASSIGN_OR_RETURN(std::uint64_t free_bytes, fs_.freeSpace(root_));
  ProbeResult result;
  result.location = fs_.display(root_);
  result.free_bytes = free_bytes;
  return result;
}

Result<content::ShaSet> FileTransport::inventory(const std::vector<std::string>& sha256s,
                                                 const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "inventory"));
  return lib->inventory(sha256s);
}

Result<std::unique_ptr<ContentSend>> FileTransport::beginSend(
    std::shared_ptr<const content::Manifest> manifest, std::string owner, const CallContext& ctx) {
  if (owner.empty() || !content::isValidOwner(owner)) {
    return Status::InvalidArgument("\"" + displayBytes(owner) +
                                   "\" is not an upload owner ([A-Za-z0-9_-], 1 to 64)");
  }
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "send to"));
  return std::unique_ptr<ContentSend>(
      std::make_unique<Send>(*this, *lib, std::move(manifest), std::move(owner)));
}

Status FileTransport::discardTemp(std::string_view sha256, std::string_view temp_name,
                                  const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "clean up on"));
  return lib->discardUpload(sha256, temp_name);
}

Result<std::size_t> FileTransport::discardLeftovers(std::string_view owner,
                                                    const std::vector<std::string>& sha256s,
                                                    const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "clean up on"));
  return lib->discardUploads(sha256s, owner);
}

Result<std::size_t> FileTransport::removeBodies(const std::vector<std::string>& sha256s,
                                                const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "remove bodies on"));
  return lib->removeBodies(sha256s);
}

Result<content::Manifest> FileTransport::readManifest(std::string_view package_id,
                                                      std::uint64_t version,
                                                      const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "read the manifest on"));
  return lib->readManifest(package_id, version);
}

Result<std::string> FileTransport::readManifestJson(std::string_view package_id,
                                                    std::uint64_t version, const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "read the manifest on"));
  return lib->readManifestJson(package_id, version);
}

Result<std::vector<std::uint64_t>> FileTransport::listVersions(std::string_view package_id,
                                                               const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "list the content on"));
  // DataLib is the truth (PkgLib is derived from it).
  PKGXFER_ASSIGN_OR_RETURN(auto contents, lib->listContents());
  std::vector<std::uint64_t> versions;
  for (const auto& ref : contents) {
    if (ref.package_id == package_id) versions.push_back(ref.version);
  }
  return versions;
}

Result<content::ValidationReport> FileTransport::validate(std::string_view package_id,
                                                          std::uint64_t version,
                                                          const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "validate on"));
  return lib->validate(package_id, version);
}

Status FileTransport::removeContent(std::string_view package_id, std::uint64_t version,
                                    const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(content::ContentLibrary * lib, library(ctx, "remove from"));
  Status s = lib->removeContent(package_id, version);
  return s.ok() || s.code() == Status::Code::NotFound ? s : rootOr(s);
}

}  // namespace pkgxfer::transport
