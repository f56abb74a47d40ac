#include "pkgxfer/transport/http_transport.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "pkgxfer/common/units.h"
#include "pkgxfer/content/manifest.h"

namespace pkgxfer::transport {
namespace {

using nlohmann::json;

// Requests a DP answers at once are held to the client's io_timeout; these work first.
constexpr std::chrono::seconds kAbortTimeout{10};
// The most hashes one inventory or leftover request carries (the DP's limit).
constexpr std::size_t kMaxHashesPerRequest = 100000;

// The JSON body of an answer; InvalidArgument naming the request if it is not JSON.
Result<json> bodyJson(const http::ClientResponse& r) {
  json parsed = json::parse(r.body, nullptr, false);
  if (parsed.is_discarded()) {
    return Status::Unavailable(r.request + ": the DP's answer is not JSON");
  }
  return parsed;
}

// The "reason" field of an error answer, if any.
std::string reasonOf(const http::ClientResponse& r) {
  json parsed = json::parse(r.body, nullptr, false);
  if (parsed.is_object() && parsed.contains("reason") && parsed["reason"].is_string()) {
    return parsed["reason"].get<std::string>();
  }
  return {};
}

// OK for a 2xx; otherwise the DP's error, with the kinds the jobs act on: 401 is a token the DP
// does not take, 422 a body the DP found corrupt (sent again by a retry), 507 a full DP volume.
Status answerStatus(const http::ClientResponse& r) {
  if (r.ok()) return Status::Ok();
  Status s = http::responseStatus(r);
  switch (r.status) {
    case 401:
      return Status::PermissionDenied(s.message() +
                                      " (the DP does not accept the site's token: is its "
                                      "dp.token_file the site's site.token_file?)");
    case 422:
      return Status::Corruption(s.message());
    case 507:
      return Status::IoError(s.message());
    default:
      return s;
  }
}

// A field of an answer, checked: Unavailable naming the request if it is missing or of the wrong
// type (a DP of another version, a proxy's page).
template <typename T>
Result<T> field(const json& body, const char* name, const http::ClientResponse& r) {
  if (!body.is_object() || !body.contains(name)) {
    return Status::Unavailable(r.request + ": the DP's answer has no \"" + name + "\"");
  }
  try {
    return body[name].get<T>();
  } catch (const json::exception&) {
    return Status::Unavailable(r.request + ": the DP's answer has a malformed \"" + name + "\"");
  }
}

std::string contentPath(std::string_view package_id, std::uint64_t version) {
  return "/v1/content/" + std::string(package_id) + "/" + std::to_string(version);
}

}  // namespace

class HttpContentSend;

// One body on its way to the DP. A small body is held in memory and sent whole when sealed (PUT
// /v1/files/{sha}?stage=1: one request); a large or resumed one is a resumable upload on the DP
// (POST /v1/uploads) whose bytes go up in PUTs at the DP's offset, each carrying several write()s
// (HttpTransportOptions::coalesce_bytes, or what came within coalesce_time): a request per
// megabyte made the site wait for the DP's answer far more often than it sent. A checkpoint is
// the PUT of what is pending with ?checkpoint=1, one request.
class HttpBodyUpload final : public BodyUpload {
 public:
  HttpBodyUpload(HttpTransport& transport, HttpContentSend* send, std::string owner, BodySpec spec)
      : transport_(transport), send_(send), owner_(std::move(owner)), spec_(std::move(spec)) {}

  Status open(const CallContext& ctx);

  const std::string& tempName() const override { return id_; }
  std::uint64_t offset() const override { return offset_; }
  std::size_t leftoversDiscarded() const override { return leftovers_; }

  Status write(const void* data, std::size_t size, const CallContext& ctx) override {
    if (sealed_) return Status::InvalidArgument("write to a sealed upload of " + spec_.sha256);
    if (size > spec_.size - offset_) {
      return Status::InvalidArgument("upload of " + spec_.sha256 + ": " +
                                     std::to_string(offset_ + size) +
                                     " bytes written, the body has " + std::to_string(spec_.size));
    }
    if (size == 0) return Status::Ok();
    const auto now = std::chrono::steady_clock::now();
    if (buffer_.empty()) pending_since_ = now;
    buffer_.append(static_cast<const char*>(data), size);
    offset_ += size;
    if (small_) return Status::Ok();
    const auto& o = transport_.options();
    if (buffer_.size() >= o.coalesce_bytes || now - pending_since_ >= o.coalesce_time) {
      return flush(false, ctx);
    }
    return Status::Ok();
  }

  Status checkpoint(const CallContext& ctx) override;

  Status seal(const CallContext& ctx) override {
    if (sealed_) return Status::Ok();
    if (offset_ != spec_.size) {
      return Status::InvalidArgument("seal upload of " + spec_.sha256 + ": " +
                                     std::to_string(offset_) + " of " + std::to_string(spec_.size) +
                                     " bytes written");
    }
    if (small_) return putWhole(ctx);
    PKGXFER_RETURN_IF_ERROR(flush(false, ctx));  // the last bytes seal it on the DP
    if (sealed_) return Status::Ok();
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/v1/uploads/" + id_ + "/seal";
    req.response_timeout = transport_.options().slow_response_timeout;
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, transport_.api().request(ctx, req));
    if (!r.ok()) {
      if (r.status == 422) id_.clear();  // the DP discarded it
      return answerStatus(r);
    }
    sealed_ = true;
    return Status::Ok();
  }

  void abort() override {
    buffer_.clear();
    if (id_.empty()) return;
    const std::string id = std::exchange(id_, std::string());
    http::ClientRequest req;
    req.method = "DELETE";
    req.target = "/v1/uploads/" + id;
    // Best effort, and after a stop too: the temporary file is nobody's.
    (void)transport_.api().request(CallContext::finishing(kAbortTimeout), req);
  }

 private:
  // POST /v1/uploads: a new resumable upload, or the resume of spec_.resume_temp_name.
  Status create(bool resume, const CallContext& ctx);
  // PUT /v1/uploads/{id}: `size` bytes at sent_ (the last ones seal it on the DP).
  Status putBytes(const char* data, std::size_t size, bool checkpoint, const CallContext& ctx);
  // Sends what buffer_ holds (a large body's pending bytes), if anything, or with `checkpoint`
  // makes the DP's bytes durable; then sent_ == offset_.
  Status flush(bool checkpoint, const CallContext& ctx);
  // PUT /v1/files/{sha}?stage=1: the whole small body, checked and staged by the DP.
  Status putWhole(const CallContext& ctx);

  HttpTransport& transport_;
  HttpContentSend* send_;  // null outside a send
  const std::string owner_;
  const BodySpec spec_;
  bool small_ = false;
  std::string buffer_;        // a small body's bytes until it is sealed; a large one's not yet sent
  std::string id_;            // the DP's upload id (= its temporary file's name); empty while small
  std::uint64_t offset_ = 0;  // bytes written, buffer_'s included
  std::uint64_t sent_ = 0;    // bytes the DP holds
  std::chrono::steady_clock::time_point pending_since_{};  // buffer_'s first byte
  bool sealed_ = false;
  std::size_t leftovers_ = 0;
};

// A content version being sent: its bodies pinned on the DP by a send with a lease, which every
// checkpoint renews when it is a third of the way to expiring.
class HttpContentSend final : public ContentSend {
 public:
  HttpContentSend(HttpTransport& transport, std::shared_ptr<const content::Manifest> manifest,
                  std::string owner)
      : transport_(transport), manifest_(std::move(manifest)), owner_(std::move(owner)) {}

  ~HttpContentSend() override {
    if (id_.empty() || committed_) return;
    http::ClientRequest req;
    req.method = "DELETE";
    req.target = "/v1/sends/" + id_;
    (void)transport_.api().request(CallContext::finishing(kAbortTimeout), req);
  }

  Status begin(const CallContext& ctx) {
    json body = {{"owner", owner_},
                 {"package_id", manifest_->package_id},
                 {"version", manifest_->version},
                 {"sha256", content::uniqueBodies(*manifest_)}};
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r,
                             transport_.api().sendJson(ctx, "POST", "/v1/sends", body));
    PKGXFER_RETURN_IF_ERROR(answerStatus(r));
    PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
    PKGXFER_ASSIGN_OR_RETURN(id_, field<std::string>(answer, "send", r));
    auto lease = field<std::int64_t>(answer, "lease_ms", r);
    lease_ = std::chrono::milliseconds(lease.ok() ? std::max<std::int64_t>(*lease, 1000) : 600000);
    renewed_ = std::chrono::steady_clock::now();
    return Status::Ok();
  }

  const std::string& id() const { return id_; }

  // Renews the lease if a third of it has passed since the last use. Best effort: a send whose
  // lease ran out only loses its pins (the commit then names any body a removal took).
  void keepAlive(const CallContext& ctx) {
    {
      std::lock_guard lock(mu_);
      const auto now = std::chrono::steady_clock::now();
      if (now - renewed_ < lease_ / 3) return;
      renewed_ = now;
    }
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/v1/sends/" + id_ + "/renew";
    (void)transport_.api().request(ctx, req);
  }
  void used() {
    std::lock_guard lock(mu_);
    renewed_ = std::chrono::steady_clock::now();
  }

  Result<std::unique_ptr<BodyUpload>> openBody(const BodySpec& spec,
                                               const CallContext& ctx) override {
    auto upload = std::make_unique<HttpBodyUpload>(transport_, this, owner_, spec);
    PKGXFER_RETURN_IF_ERROR(upload->open(ctx));
    return std::unique_ptr<BodyUpload>(std::move(upload));
  }

  Status install(std::span<BodyUpload* const> sealed, const CallContext& ctx) override {
    if (sealed.empty()) return Status::Ok();
    json ids = json::array();
    for (BodyUpload* up : sealed) ids.push_back(up->tempName());
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/v1/install";
    req.content_type = "application/json";
    req.body = json{{"uploads", ids}, {"send", id_}}.dump();
    req.response_timeout = transport_.options().slow_response_timeout;
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, transport_.api().request(ctx, req));
    used();
    return answerStatus(r);
  }

  Status commit(const CallContext& ctx) override {
    http::ClientRequest req;
    req.method = "PUT";
    req.target = contentPath(manifest_->package_id, manifest_->version) + "?send=" + id_;
    req.content_type = "application/json";
    req.body = content::toJson(*manifest_);
    req.response_timeout = transport_.options().slow_response_timeout;
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, transport_.api().request(ctx, req));
    if (r.ok()) {
      committed_ = true;
      return Status::Ok();
    }
    if (r.status == 409) {
      const std::string reason = reasonOf(r);
      if (reason == "missing_bodies") {
        return Status::NotFound(http::responseStatus(r).message());
      }
      if (reason == "manifest_exists") {
        return Status::AlreadyExists(http::responseStatus(r).message());
      }
    }
    return answerStatus(r);
  }

  Result<std::size_t> discardLeftovers(const std::vector<std::string>& sha256s,
                                       const CallContext& ctx) override {
    return transport_.discardLeftovers(owner_, sha256s, ctx);
  }

 private:
  HttpTransport& transport_;
  const std::shared_ptr<const content::Manifest> manifest_;
  const std::string owner_;
  std::string id_;
  bool committed_ = false;
  std::mutex mu_;
  std::chrono::milliseconds lease_{600000};
  std::chrono::steady_clock::time_point renewed_{};  // guarded by mu_
};

Status HttpBodyUpload::open(const CallContext& ctx) {
  const bool resume = !spec_.resume_temp_name.empty();
  if (!resume && spec_.size <= transport_.options().small_body_bytes) {
    // Nothing to ask the DP yet: the body goes in one request when sealed, which also discards
    // the owner's leftovers of it (discard_leftovers).
    small_ = true;
    return Status::Ok();
  }
  return create(resume, ctx);
}

Status HttpBodyUpload::create(bool resume, const CallContext& ctx) {
  json body = {{"sha256", spec_.sha256}, {"size", spec_.size}, {"owner", owner_}};
  if (resume) {
    body["resume"] = spec_.resume_temp_name;
    body["offset"] = spec_.resume_offset;
  }
  if (spec_.discard_leftovers) body["discard_leftovers"] = true;
  if (send_ != nullptr) body["send"] = send_->id();
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r,
                           transport_.api().sendJson(ctx, "POST", "/v1/uploads", body));
  PKGXFER_RETURN_IF_ERROR(answerStatus(r));
  PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
  PKGXFER_ASSIGN_OR_RETURN(id_, field<std::string>(answer, "upload", r));
  PKGXFER_ASSIGN_OR_RETURN(offset_, field<std::uint64_t>(answer, "offset", r));
  sent_ = offset_;
  auto discarded = field<std::uint64_t>(answer, "leftovers_discarded", r);
  if (discarded.ok()) leftovers_ += static_cast<std::size_t>(*discarded);
  if (offset_ > spec_.size) {
    return Status::Unavailable(r.request + ": the DP reports offset " + std::to_string(offset_) +
                               " of a body of " + std::to_string(spec_.size) + " bytes");
  }
  if (send_ != nullptr) send_->used();
  return Status::Ok();
}

Status HttpBodyUpload::putBytes(const char* data, std::size_t size, bool checkpoint,
                                const CallContext& ctx) {
  http::ClientRequest req;
  req.method = "PUT";
  req.target = "/v1/uploads/" + id_ + (checkpoint ? "?checkpoint=1" : "");
  req.headers.push_back({"Content-Range", "bytes " + std::to_string(sent_) + "-" +
                                              std::to_string(sent_ + size - 1) + "/" +
                                              std::to_string(spec_.size)});
  req.content_type = "application/octet-stream";
  // The last bytes seal the upload: the DP checks the whole body's hash first (reading a
  // resumed body's first part back).
  if (sent_ + size == spec_.size) req.response_timeout = transport_.options().slow_response_timeout;
  std::size_t taken = 0;
  auto source = [&](char* buf, std::size_t want) -> Result<std::size_t> {
    const std::size_t n = std::min(want, size - taken);
    std::memcpy(buf, data + taken, n);
    taken += n;
    return n;
  };
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, transport_.api().upload(ctx, req, size, source));
  if (!r.ok()) {
    if (r.status == 409 && reasonOf(r) == "offset_mismatch") {
      return Status::IoError(http::responseStatus(r).message() + " (the site was at offset " +
                             std::to_string(sent_) + ")");
    }
    if (r.status == 422) id_.clear();  // the DP discarded the upload
    return answerStatus(r);
  }
  PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
  PKGXFER_ASSIGN_OR_RETURN(std::uint64_t now_at, field<std::uint64_t>(answer, "offset", r));
  if (now_at != sent_ + size) {
    return Status::Unavailable(r.request + ": the DP reports offset " + std::to_string(now_at) +
                               " after " + std::to_string(sent_ + size) + " bytes were sent");
  }
  sent_ = now_at;
  if (checkpoint) {
    auto durable = field<std::uint64_t>(answer, "durable_offset", r);
    if (!durable.ok() || *durable != sent_) {
      return Status::Unavailable(r.request + ": the DP did not make the " + std::to_string(sent_) +
                                 " bytes sent durable");
    }
  }
  auto sealed = field<bool>(answer, "sealed", r);
  sealed_ = sealed.ok() && *sealed;
  return Status::Ok();
}

Status HttpBodyUpload::flush(bool checkpoint, const CallContext& ctx) {
  if (buffer_.empty()) return Status::Ok();
  Status s = putBytes(buffer_.data(), buffer_.size(), checkpoint, ctx);
  // Sent or not, these bytes are no longer the upload's to resend: a failure fails the body, and
  // a retry resumes from the last checkpoint.
  buffer_.clear();
  return s;
}

Status HttpBodyUpload::putWhole(const CallContext& ctx) {
  http::ClientRequest req;
  req.method = "PUT";
  req.target = "/v1/files/" + spec_.sha256 + "?stage=1&owner=" + owner_;
  if (send_ != nullptr) req.target += "&send=" + send_->id();
  if (spec_.discard_leftovers) req.target += "&discard_leftovers=1";
  req.content_type = "application/octet-stream";
  req.body = std::move(buffer_);
  buffer_.clear();
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, transport_.api().request(ctx, req));
  PKGXFER_RETURN_IF_ERROR(answerStatus(r));
  PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
  PKGXFER_ASSIGN_OR_RETURN(id_, field<std::string>(answer, "upload", r));
  auto discarded = field<std::uint64_t>(answer, "leftovers_discarded", r);
  if (discarded.ok()) leftovers_ += static_cast<std::size_t>(*discarded);
  if (send_ != nullptr) send_->used();
  small_ = false;
  sealed_ = true;
  return Status::Ok();
}

Status HttpBodyUpload::checkpoint(const CallContext& ctx) {
  if (sealed_) return Status::Ok();
  if (small_) {
    // A small body becomes resumable only when asked to keep what was sent (a stop, a window
    // closing mid-body): a resumable upload on the DP, its bytes written and made durable.
    std::string held = std::move(buffer_);
    buffer_.clear();
    small_ = false;
    PKGXFER_RETURN_IF_ERROR(create(false, ctx));
    if (!held.empty()) {
      PKGXFER_RETURN_IF_ERROR(putBytes(held.data(), held.size(), true, ctx));
      offset_ = sent_;
    }
  } else if (!buffer_.empty()) {
    PKGXFER_RETURN_IF_ERROR(flush(true, ctx));
  } else {
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/v1/uploads/" + id_ + "/checkpoint";
    req.response_timeout = transport_.options().slow_response_timeout;
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, transport_.api().request(ctx, req));
    PKGXFER_RETURN_IF_ERROR(answerStatus(r));
    PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
    PKGXFER_ASSIGN_OR_RETURN(std::uint64_t durable,
                             field<std::uint64_t>(answer, "durable_offset", r));
    if (durable != offset_) {
      return Status::Unavailable(r.request + ": the DP made " + std::to_string(durable) +
                                 " bytes durable of the " + std::to_string(offset_) + " sent");
    }
  }
  if (send_ != nullptr) send_->keepAlive(ctx);
  return Status::Ok();
}

// ---- HttpTransport ----------------------------------------------------------------------------

Result<std::unique_ptr<HttpTransport>> HttpTransport::create(HttpTransportOptions options) {
  // "scheme://authority[/path]": the client takes the origin, the API sits under the path.
  std::string origin = options.base_url;
  std::string path;
  const std::size_t scheme = origin.find("://");
  const std::size_t slash =
      scheme == std::string::npos ? std::string::npos : origin.find('/', scheme + 3);
  if (slash != std::string::npos) {
    path = origin.substr(slash);
    origin.resize(slash);
    while (!path.empty() && path.back() == '/') path.pop_back();
    for (char c : path) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7F || c == '?' || c == '#') {
        return Status::InvalidArgument("DP URL '" + options.base_url +
                                       "': its path may not hold '?', '#', spaces or control "
                                       "characters");
      }
    }
  }
  http::ClientOptions client;
  client.base_url = origin;
  client.ca_file = options.ca_file;
  client.bearer_token = options.bearer_token;
  client.connect_timeout = options.connect_timeout;
  client.io_timeout = options.io_timeout;
  client.max_idle_connections = 16;  // the streams of several jobs to this DP
  // A manifest may be as large as the library allows (256 MiB), and so may a validation report.
  client.max_buffered_body_bytes = (256ull << 20) + (1ull << 20);
  PKGXFER_ASSIGN_OR_RETURN(auto made, http::Client::create(std::move(client)));
  return std::unique_ptr<HttpTransport>(
      new HttpTransport(std::move(options), std::move(made), std::move(path)));
}

HttpTransport::HttpTransport(HttpTransportOptions options, std::unique_ptr<http::Client> client,
                             std::string path)
    : options_(std::move(options)), client_(std::move(client)), api_(*client_, std::move(path)) {}

std::string HttpTransport::describe() const { return options_.base_url; }

Result<ProbeResult> HttpTransport::probe(const CallContext& ctx, const ProbeOptions& options) {
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, api_.get(ctx, "/v1/library"));
  PKGXFER_RETURN_IF_ERROR(answerStatus(r));
  PKGXFER_ASSIGN_OR_RETURN(json library, bodyJson(r));
  PKGXFER_ASSIGN_OR_RETURN(std::string site_code, field<std::string>(library, "site_code", r));
  PKGXFER_ASSIGN_OR_RETURN(std::string library_id, field<std::string>(library, "library_id", r));
  const std::string not_ours =
      "library at " + describe() + " is not the one this site initialised (share not mounted?)";
  {
    std::lock_guard lock(mu_);
    if (!library_id_.empty() && library_id != library_id_) {
      return Status::Unavailable(not_ours + ": its library id changed from " + library_id_ +
                                 " to " + library_id);
    }
  }
  if (!options_.site_code.empty() && site_code != options_.site_code) {
    if (!site_code.empty()) {
      return Status::Unavailable("library at " + describe() + " belongs to site " + site_code +
                                 ", not to site " + options_.site_code);
    }
    if (options.expect_initialised) return Status::Unavailable(not_ours);
    // A library no site adopted yet: the first distribution to this DP adopts it.
    PKGXFER_ASSIGN_OR_RETURN(
        http::ClientResponse adopted,
        api_.sendJson(ctx, "POST", "/v1/library", json{{"site_code", options_.site_code}}));
    PKGXFER_RETURN_IF_ERROR(answerStatus(adopted));
  }
  PKGXFER_ASSIGN_OR_RETURN(bool writable, field<bool>(library, "writable", r));
  if (!writable) {
    auto why = field<std::string>(library, "writable_error", r);
    return Status::PermissionDenied("library at " + describe() + " cannot be written: " +
                                    (why.ok() ? *why : std::string("no reason given")));
  }
  ProbeResult out;
  out.location = describe();
  PKGXFER_ASSIGN_OR_RETURN(out.free_bytes, field<std::uint64_t>(library, "free_bytes", r));
  std::lock_guard lock(mu_);
  library_id_ = library_id;
  return out;
}

Result<content::ShaSet> HttpTransport::inventory(const std::vector<std::string>& sha256s,
                                                 const CallContext& ctx) {
  content::ShaSet present;
  for (std::size_t at = 0; at < sha256s.size(); at += kMaxHashesPerRequest) {
    const auto end = std::min(sha256s.size(), at + kMaxHashesPerRequest);
    json body = {{"sha256", std::vector<std::string>(sha256s.begin() + static_cast<long>(at),
                                                     sha256s.begin() + static_cast<long>(end))}};
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r,
                             api_.sendJson(ctx, "POST", "/v1/inventory", body));
    PKGXFER_RETURN_IF_ERROR(answerStatus(r));
    PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
    PKGXFER_ASSIGN_OR_RETURN(auto list, field<std::vector<std::string>>(answer, "present", r));
    for (auto& sha : list) present.insert(std::move(sha));
  }
  return present;
}

Result<std::unique_ptr<ContentSend>> HttpTransport::beginSend(
    std::shared_ptr<const content::Manifest> manifest, std::string owner, const CallContext& ctx) {
  if (!content::isValidOwner(owner) || owner.empty()) {
    return Status::InvalidArgument("invalid owner '" + owner + "'");
  }
  auto send = std::make_unique<HttpContentSend>(*this, std::move(manifest), std::move(owner));
  PKGXFER_RETURN_IF_ERROR(send->begin(ctx));
  return std::unique_ptr<ContentSend>(std::move(send));
}

Status HttpTransport::discardTemp(std::string_view, std::string_view temp_name,
                                  const CallContext& ctx) {
  if (temp_name.empty()) return Status::Ok();
  http::ClientRequest req;
  req.method = "DELETE";
  req.target = "/v1/uploads/" + std::string(temp_name);
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, api_.request(ctx, req));
  if (r.status == 404) return Status::Ok();
  return answerStatus(r);
}

Result<std::size_t> HttpTransport::discardLeftovers(std::string_view owner,
                                                    const std::vector<std::string>& sha256s,
                                                    const CallContext& ctx) {
  std::size_t discarded = 0;
  for (std::size_t at = 0; at < sha256s.size(); at += kMaxHashesPerRequest) {
    const auto end = std::min(sha256s.size(), at + kMaxHashesPerRequest);
    json body = {{"owner", owner},
                 {"sha256", std::vector<std::string>(sha256s.begin() + static_cast<long>(at),
                                                     sha256s.begin() + static_cast<long>(end))}};
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r,
                             api_.sendJson(ctx, "POST", "/v1/leftovers/discard", body));
    PKGXFER_RETURN_IF_ERROR(answerStatus(r));
    PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
    PKGXFER_ASSIGN_OR_RETURN(std::uint64_t n, field<std::uint64_t>(answer, "discarded", r));
    discarded += static_cast<std::size_t>(n);
  }
  return discarded;
}

Result<std::size_t> HttpTransport::removeBodies(const std::vector<std::string>& sha256s,
                                                const CallContext& ctx) {
  std::size_t removed = 0;
  for (std::size_t at = 0; at < sha256s.size(); at += kMaxHashesPerRequest) {
    const auto end = std::min(sha256s.size(), at + kMaxHashesPerRequest);
    json body = {{"sha256", std::vector<std::string>(sha256s.begin() + static_cast<long>(at),
                                                     sha256s.begin() + static_cast<long>(end))}};
    http::ClientRequest req;
    req.method = "POST";
    req.target = "/v1/bodies/remove";
    req.content_type = "application/json";
    req.body = body.dump();
    req.response_timeout = options_.slow_response_timeout;
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, api_.request(ctx, req));
    PKGXFER_RETURN_IF_ERROR(answerStatus(r));
    PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
    PKGXFER_ASSIGN_OR_RETURN(std::uint64_t n, field<std::uint64_t>(answer, "removed", r));
    removed += static_cast<std::size_t>(n);
  }
  return removed;
}

Result<std::string> HttpTransport::readManifestJson(std::string_view package_id,
                                                    std::uint64_t version, const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, api_.get(ctx, contentPath(package_id, version)));
  PKGXFER_RETURN_IF_ERROR(answerStatus(r));
  return std::move(r.body);
}

Result<content::Manifest> HttpTransport::readManifest(std::string_view package_id,
                                                      std::uint64_t version,
                                                      const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(std::string text, readManifestJson(package_id, version, ctx));
  auto parsed = content::parseManifest(text);
  if (!parsed.ok()) {
    return parsed.status().withContext("manifest " + content::contentId(package_id, version) +
                                       " on " + describe());
  }
  return parsed;
}

Result<std::vector<std::uint64_t>> HttpTransport::listVersions(std::string_view package_id,
                                                               const CallContext& ctx) {
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r,
                           api_.get(ctx, "/v1/content/" + std::string(package_id)));
  PKGXFER_RETURN_IF_ERROR(answerStatus(r));
  PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
  PKGXFER_ASSIGN_OR_RETURN(auto versions, field<std::vector<std::uint64_t>>(answer, "versions", r));
  std::sort(versions.begin(), versions.end());
  return versions;
}

Result<content::ValidationReport> HttpTransport::validate(std::string_view package_id,
                                                          std::uint64_t version,
                                                          const CallContext& ctx) {
  http::ClientRequest req;
  req.method = "POST";
  req.target = "/v1/validate/" + std::string(package_id) + "/" + std::to_string(version);
  req.response_timeout = options_.slow_response_timeout;
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, api_.request(ctx, req));
  PKGXFER_RETURN_IF_ERROR(answerStatus(r));
  PKGXFER_ASSIGN_OR_RETURN(json answer, bodyJson(r));
  content::ValidationReport report;
  PKGXFER_ASSIGN_OR_RETURN(report.bodies_checked, field<std::size_t>(answer, "bodies_checked", r));
  PKGXFER_ASSIGN_OR_RETURN(report.bytes_checked, field<std::uint64_t>(answer, "bytes_checked", r));
  auto problems = [&](const char* name, std::vector<content::ValidationProblem>* out) -> Status {
    PKGXFER_ASSIGN_OR_RETURN(json list, field<json>(answer, name, r));
    if (!list.is_array()) return Status::Unavailable(r.request + ": \"" + name + "\" is no list");
    for (const json& p : list) {
      content::ValidationProblem problem;
      PKGXFER_ASSIGN_OR_RETURN(problem.path, field<std::string>(p, "path", r));
      PKGXFER_ASSIGN_OR_RETURN(problem.sha256, field<std::string>(p, "sha256", r));
      PKGXFER_ASSIGN_OR_RETURN(problem.reason, field<std::string>(p, "reason", r));
      out->push_back(std::move(problem));
    }
    return Status::Ok();
  };
  PKGXFER_RETURN_IF_ERROR(problems("missing", &report.missing));
  PKGXFER_RETURN_IF_ERROR(problems("mismatched", &report.mismatched));
  return report;
}

Status HttpTransport::removeContent(std::string_view package_id, std::uint64_t version,
                                    const CallContext& ctx) {
  http::ClientRequest req;
  req.method = "DELETE";
  req.target = contentPath(package_id, version);
  req.response_timeout = options_.slow_response_timeout;
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse r, api_.request(ctx, req));
  return answerStatus(r);
}

}  // namespace pkgxfer::transport
