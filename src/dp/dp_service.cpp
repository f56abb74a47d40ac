#include "pkgxfer/dp/dp_service.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "pkgxfer/common/aligned_buffer.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/common/units.h"
#include "pkgxfer/content/manifest.h"
#include "pkgxfer/content/sha256.h"
#include "pkgxfer/http/range.h"
#include "upload_registry.h"

namespace pkgxfer::dp {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

// Limits of the JSON requests: an inventory of 100,000 hashes is ~7 MB; a manifest is capped like
// the library's own (256 MiB).
constexpr std::size_t kMaxHashesPerRequest = 100000;
constexpr std::uint64_t kMaxJsonBytes = 16ull << 20;
// A send names every distinct body of a content version at once (its pins).
constexpr std::size_t kMaxBodiesPerSend = 1000000;
constexpr std::uint64_t kMaxSendJsonBytes = 80ull << 20;
constexpr std::uint64_t kMaxManifestBytes = 256ull << 20;
constexpr std::size_t kBlockBytes = 1 << 20;

// An error answer with a machine-readable reason the site acts on (docs/http-api.md):
// {"error": "...", "status": N, "reason": "..."} plus any extra fields.
Status sendReason(Response& res, int status, std::string_view reason, std::string_view message,
                  json extra = json::object()) {
  json body = json::parse(http::errorBody(status, message), nullptr, false);
  if (!body.is_object()) body = json::object();
  body["reason"] = reason;
  for (auto& [key, value] : extra.items()) body[key] = value;
  return res.sendJson(status, body);
}

// The answer to a library error: 404 NotFound, 400 InvalidArgument, 409 AlreadyExists, 422
// Corruption, 507 a full volume, 503 Unavailable (a library whose root went away), 500 otherwise.
Status sendStatus(Response& res, const Status& s) {
  switch (s.code()) {
    case Status::Code::NotFound:
      return sendReason(res, 404, "not_found", s.message());
    case Status::Code::InvalidArgument:
      return sendReason(res, 400, "invalid", s.message());
    case Status::Code::AlreadyExists:
      return sendReason(res, 409, "exists", s.message());
    case Status::Code::Corruption:
      return sendReason(res, 422, "corrupt", s.message());
    case Status::Code::Unavailable:
    case Status::Code::Cancelled:
      return sendReason(res, 503, "unavailable", s.message());
    case Status::Code::PermissionDenied:
      return sendReason(res, 500, "permission_denied", s.message());
    case Status::Code::IoError:
      if (s.message().find("(ENOSPC)") != std::string::npos ||
          s.message().find("(EDQUOT)") != std::string::npos) {
        return sendReason(res, 507, "no_space", s.message());
      }
      return sendReason(res, 500, "io_error", s.message());
    default:
      return sendReason(res, 500, "internal", s.message());
  }
}

// A list of hashes from a JSON field, each checked: InvalidArgument naming the bad one.
Result<std::vector<std::string>> hashList(const json& body, const char* field,
                                          std::size_t max = kMaxHashesPerRequest) {
  if (!body.is_object() || !body.contains(field) || !body[field].is_array()) {
    return Status::InvalidArgument(std::string("expected {\"") + field +
                                   "\": [64-hex SHA-256, ...]}");
  }
  const json& list = body[field];
  if (list.size() > max) {
    return Status::InvalidArgument(std::to_string(list.size()) +
                                   " hashes in one request; at most " + std::to_string(max));
  }
  std::vector<std::string> out;
  out.reserve(list.size());
  for (const json& item : list) {
    if (!item.is_string() || !content::isSha256Hex(item.get_ref<const std::string&>())) {
      return Status::InvalidArgument("\"" + displayBytes(item.dump()) +
                                     "\" is not a SHA-256 (64 lower-case hex digits)");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::string> stringField(const json& body, const char* field, bool required = true) {
  if (!body.is_object() || !body.contains(field)) {
    if (!required) return std::string();
    return Status::InvalidArgument(std::string("missing \"") + field + "\"");
  }
  if (!body[field].is_string()) {
    return Status::InvalidArgument(std::string("\"") + field + "\" must be a string");
  }
  return body[field].get<std::string>();
}

Result<std::uint64_t> numberField(const json& body, const char* field) {
  if (!body.is_object() || !body.contains(field)) {
    return Status::InvalidArgument(std::string("missing \"") + field + "\"");
  }
  if (!body[field].is_number_unsigned()) {
    return Status::InvalidArgument(std::string("\"") + field + "\" must be a whole number >= 0");
  }
  return body[field].get<std::uint64_t>();
}

Result<bool> boolField(const json& body, const char* field) {
  if (!body.is_object() || !body.contains(field)) return false;
  if (!body[field].is_boolean()) {
    return Status::InvalidArgument(std::string("\"") + field + "\" must be true or false");
  }
  return body[field].get<bool>();
}

json problemsJson(const std::vector<content::ValidationProblem>& problems) {
  json out = json::array();
  for (const auto& p : problems) {
    out.push_back({{"path", p.path}, {"sha256", p.sha256}, {"reason", p.reason}});
  }
  return out;
}

}  // namespace

class DpService::Impl : public std::enable_shared_from_this<DpService::Impl> {
 public:
  Impl(boost::asio::io_context& io, content::ContentLibrary& library, Clock& clock,
       DpServiceOptions options, Logger log)
      : library_(library),
        options_(std::move(options)),
        log_(std::move(log)),
        registry_(library, clock,
                  UploadRegistry::Options{options_.upload_idle_timeout, options_.send_lease,
                                          options_.max_open_uploads, 1024}),
        server_(io, serverOptions(options_, log_)) {}

  Status start();
  Status addRoute(std::string_view method, std::string_view pattern, http::RouteOptions options,
                  http::Handler handler) {
    return server_.addRoute(method, pattern, std::move(options), std::move(handler));
  }
  void stop(std::function<void()> done) { server_.stop(std::move(done)); }
  std::uint16_t port() const { return server_.port(); }
  http::ServerStats stats() const { return server_.stats(); }

 private:
  static http::ServerOptions serverOptions(const DpServiceOptions& o, const Logger& log) {
    http::ServerOptions s = o.server;
    if (!s.logger) s.logger = log;
    return s;
  }

  // Registers `handler` (a member function) on `method` `pattern`.
  using Member = Status (Impl::*)(Request&, Response&);
  Status route(std::string_view method, std::string_view pattern, http::RouteOptions options,
               Member member) {
    Impl* self = this;
    return server_.addRoute(method, pattern, options, [self, member](Request& req, Response& res) {
      return (self->*member)(req, res);
    });
  }

  // The {pkg}/{ver} of a content route, checked: InvalidArgument (400) otherwise.
  static Result<content::ContentRef> contentRef(const Request& req) {
    const std::string& pkg = req.param("pkg");
    if (!content::isValidPackageId(pkg)) {
      return Status::InvalidArgument("\"" + displayBytes(pkg) +
                                     "\" is not a package ID (<site code><5 hex digits>)");
    }
    const std::string& ver = req.param("ver");
    std::uint64_t version = 0;
    const bool digits =
        !ver.empty() && ver.size() <= 19 &&
        std::all_of(ver.begin(), ver.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) version = std::stoull(ver);
    if (!digits || version == 0 || (ver.size() > 1 && ver[0] == '0')) {
      return Status::InvalidArgument("\"" + displayBytes(ver) + "\" is not a content version");
    }
    return content::ContentRef{pkg, version};
  }
  static Result<std::string> shaParam(const Request& req) {
    const std::string& sha = req.param("sha256");
    if (!content::isSha256Hex(sha)) {
      return Status::InvalidArgument("\"" + displayBytes(sha) +
                                     "\" is not a SHA-256 (64 lower-case hex digits)");
    }
    return sha;
  }

  // GET /v1/library
  Status getLibrary(Request&, Response& res) {
    const content::LibraryIdentity id = library_.identity();
    json body = {{"name", options_.name},
                 {"site_code", id.site_code},
                 {"library_id", id.library_id},
                 {"uploads_open", registry_.uploads()}};
    Status identity = library_.checkIdentity();
    Status writable = identity.ok() ? library_.checkWritable() : identity;
    body["writable"] = writable.ok();
    if (!writable.ok()) body["writable_error"] = writable.toString();
    auto free = library_.freeSpace();
    body["free_bytes"] = free.ok() ? *free : 0;
    if (!free.ok()) body["free_bytes_error"] = free.status().toString();
    return res.sendJson(200, body);
  }

  // POST /v1/library {"site_code": "PS1"} (auth)
  Status adoptLibrary(Request& req, Response& res) {
    PKGXFER_ASSIGN_OR_RETURN(json body, req.readJson(kMaxJsonBytes));
    auto site = stringField(body, "site_code");
    if (!site.ok()) return sendStatus(res, site.status());
    const bool code_ok = site->size() == 3 && std::all_of(site->begin(), site->end(), [](char c) {
                           return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                         });
    if (!code_ok) {
      return sendStatus(res, Status::InvalidArgument("\"" + displayBytes(*site) +
                                                     "\" is not a site code (3 of A-Z, 0-9)"));
    }
    Status s = library_.adoptSite(*site);
    if (!s.ok()) {
      PX_LOG_WARN(log_, "Refused to record site {} for the library at {}: {}", *site,
                  library_.describe(), s.toString());
      return sendStatus(res, s);
    }
    PX_LOG_INFO(log_, "The library at {} belongs to site {}", library_.describe(), *site);
    return res.sendJson(200,
                        {{"site_code", *site}, {"library_id", library_.identity().library_id}});
  }

  // POST /v1/inventory {"sha256": [...]}
  Status inventory(Request& req, Response& res) {
    PKGXFER_ASSIGN_OR_RETURN(json body, req.readJson(kMaxJsonBytes));
    auto shas = hashList(body, "sha256");
    if (!shas.ok()) return sendStatus(res, shas.status());
    auto present = library_.inventory(*shas);
    if (!present.ok()) return sendStatus(res, present.status());
    json list = json::array();
    for (const std::string& sha : *shas) {
      if (present->contains(sha)) list.push_back(sha);
    }
    return res.sendJson(200, {{"present", std::move(list)}});
  }

  // GET/HEAD /v1/files/{sha256}
  Status getFile(Request& req, Response& res) {
    auto sha = shaParam(req);
    if (!sha.ok()) return sendStatus(res, sha.status());
    auto body = library_.openBody(*sha);
    if (!body.ok()) return sendStatus(res, body.status());
    http::ServeSizedOptions serve;
    serve.etag = "\"" + *sha + "\"";
    const content::BodyReader& reader = *body;
    return http::serveSized(
        req, res, reader.size(),
        [&reader](std::uint64_t offset, char* buf, std::size_t size) {
          return reader.readAt(offset, buf, size);
        },
        serve);
  }

  // Streams the request body into `upload` from its offset. The caller checked the length.
  Status receive(Request& req, content::Upload& upload, std::uint64_t length) {
    if (length > 2 * kBlockBytes) return receivePipelined(req, upload, length);
    const ScratchBuffer scratch(kBlockBytes);
    char* buf = scratch.get();
    std::uint64_t left = length;
    while (left > 0) {
      PKGXFER_ASSIGN_OR_RETURN(std::size_t n, readBlock(req, buf, left));
      PKGXFER_RETURN_IF_ERROR(upload.append(buf, n));
      left -= n;
    }
    return Status::Ok();
  }

  // The next block of a body of which `left` bytes are still to come; Unavailable if it ended.
  static Result<std::size_t> readBlock(Request& req, char* buf, std::uint64_t left) {
    PKGXFER_ASSIGN_OR_RETURN(
        std::size_t n,
        req.read(buf, static_cast<std::size_t>(std::min<std::uint64_t>(left, kBlockBytes))));
    if (n == 0) {
      return Status::Unavailable("the body of " + std::string(req.method()) + " " +
                                 std::string(req.route()) + " from " + req.peer() + " ended " +
                                 std::to_string(left) + " bytes early");
    }
    return n;
  }

  // A large body in two stages: this thread takes block N+1 off the socket while a thread of its
  // own writes and hashes block N into the upload (the only thread that touches it meanwhile).
  // Serially the two added up; the writer is the slower stage. Bounded: one writer per request in
  // a handler, so at most max_concurrent_handlers of them.
  static Status receivePipelined(Request& req, content::Upload& upload, std::uint64_t length) {
    constexpr int kBuffers = 3;
    struct Block {
      std::unique_ptr<char[]> data{new char[kBlockBytes]};
      std::size_t size = 0;
    };
    std::array<Block, kBuffers> blocks;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Block*> filled;  // guarded by mu
    std::vector<Block*> empty;  // guarded by mu
    for (Block& b : blocks) empty.push_back(&b);
    bool reading_done = false;  // guarded by mu
    Status written;             // the writer's failure; guarded by mu
    std::thread writer([&] {
      for (;;) {
        Block* b = nullptr;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return !filled.empty() || reading_done; });
          if (filled.empty()) return;
          b = filled.front();
          filled.pop_front();
        }
        Status s;
        try {
          s = upload.append(b->data.get(), b->size);
        } catch (const std::exception& e) {  // a thread's top-level catch: nothing may escape
          s = Status::Internal(std::string("writing an upload: ") + e.what());
        }
        std::lock_guard lock(mu);
        empty.push_back(b);
        if (!s.ok()) {
          written = std::move(s);
          filled.clear();
          cv.notify_all();
          return;
        }
        cv.notify_all();
      }
    });
    Status read_status;
    std::uint64_t left = length;
    while (left > 0) {
      Block* b = nullptr;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !empty.empty() || !written.ok(); });
        if (!written.ok()) break;
        b = empty.back();
        empty.pop_back();
      }
      auto n = readBlock(req, b->data.get(), left);
      if (!n.ok()) {
        read_status = n.status();
        break;
      }
      b->size = *n;
      left -= *n;
      std::lock_guard lock(mu);
      filled.push_back(b);
      cv.notify_all();
    }
    {
      std::lock_guard lock(mu);
      reading_done = true;
      cv.notify_all();
    }
    writer.join();
    if (!written.ok()) return written;
    return read_status;
  }

  // The declared length of an upload's body: 411 without one (the route refuses chunked bodies).
  static std::uint64_t declaredLength(const Request& req) {
    return req.contentLength().value_or(0);
  }

  // PUT /v1/files/{sha256}[?stage=1&owner=O] (auth): the whole body in one request.
  Status putFile(Request& req, Response& res) {
    auto sha = shaParam(req);
    if (!sha.ok()) return sendStatus(res, sha.status());
    const std::uint64_t length = declaredLength(req);
    const bool stage = req.query("stage").has_value();
    std::string owner = req.query("owner").value_or("");
    if (!content::isValidOwner(owner)) {
      return sendStatus(res,
                        Status::InvalidArgument("\"" + displayBytes(owner) +
                                                "\" is not an owner ([A-Za-z0-9_-], up to 64)"));
    }
    if (stage && owner.empty()) {
      return sendStatus(res, Status::InvalidArgument("a staged upload needs ?owner="));
    }
    content::UploadSpec spec;
    spec.sha256 = *sha;
    spec.size = length;
    spec.owner = owner;
    // A staged body waits for its install under its owner's name, holding no file descriptor;
    // one the DP loses (a restart) is its owner's leftover, which the site discards.
    spec.resumable = stage;
    spec.discard_leftovers = stage && req.query("discard_leftovers").has_value();
    if (stage) {
      registry_.sweep(/*force=*/false);
      if (spec.discard_leftovers) registry_.closeOwned(owner, {*sha});
      renewSend(req.query("send"));
    }
    auto opened = library_.openUpload(spec);
    if (!opened.ok()) return sendStatus(res, opened.status());
    std::unique_ptr<content::Upload> upload = std::move(*opened);
    Status received = receive(req, *upload, length);
    if (!received.ok()) {
      upload->abort();
      PX_LOG_WARN(log_, "Upload of {} from {} not completed: {}", *sha, req.peer(),
                  received.toString());
      return received.code() == Status::Code::IoError ? sendStatus(res, received) : received;
    }
    Status sealed = stage ? upload->seal() : upload->commit();
    if (!sealed.ok()) {
      upload->abort();
      PX_LOG_WARN(log_, "Rejected the upload of {} ({} bytes) from {}: {}", *sha, length,
                  req.peer(), sealed.toString());
      return sendStatus(res, sealed);
    }
    if (!stage) {
      PX_LOG_INFO(log_, "Received {} ({}) from {}", *sha, formatBytes(length), req.peer());
      return res.sendJson(201, {{"sha256", *sha}, {"size", length}});
    }
    const std::size_t leftovers = upload->leftoversDiscarded();
    auto id = registry_.add(std::move(upload), length, owner);
    if (!id.ok()) return sendStatus(res, id.status());
    PX_LOG_DEBUG(log_, "Staged {} ({}) from {} as {}", *sha, formatBytes(length), req.peer(), *id);
    return res.sendJson(200, {{"upload", *id},
                              {"offset", length},
                              {"sealed", true},
                              {"leftovers_discarded", leftovers}});
  }

  // POST /v1/uploads {"sha256", "size", "owner", ["resume", "offset"], ["discard_leftovers"]}
  // (auth): opens a resumable upload, or resumes one at the site's durable offset.
  Status openUpload(Request& req, Response& res) {
    registry_.sweep(/*force=*/false);
    PKGXFER_ASSIGN_OR_RETURN(json body, req.readJson(kMaxJsonBytes));
    content::UploadSpec spec;
    spec.resumable = true;
    auto sha = stringField(body, "sha256");
    if (!sha.ok()) return sendStatus(res, sha.status());
    if (!content::isSha256Hex(*sha)) {
      return sendStatus(res, Status::InvalidArgument("\"" + displayBytes(*sha) +
                                                     "\" is not a SHA-256 (64 lower-case hex)"));
    }
    auto size = numberField(body, "size");
    if (!size.ok()) return sendStatus(res, size.status());
    if (*size > options_.max_body_bytes) {
      return sendReason(res, 413, "too_large",
                        "a body of " + std::to_string(*size) +
                            " bytes is over this DP's limit of " +
                            std::to_string(options_.max_body_bytes));
    }
    auto owner = stringField(body, "owner");
    if (!owner.ok()) return sendStatus(res, owner.status());
    if (owner->empty() || !content::isValidOwner(*owner)) {
      return sendStatus(res,
                        Status::InvalidArgument("\"" + displayBytes(*owner) +
                                                "\" is not an owner ([A-Za-z0-9_-], 1 to 64)"));
    }
    auto resume = stringField(body, "resume", /*required=*/false);
    if (!resume.ok()) return sendStatus(res, resume.status());
    if (!resume->empty()) {
      auto name = content::parseUploadName(*resume);
      if (!name || name->sha256 != *sha || name->owner != *owner) {
        return sendStatus(
            res, Status::InvalidArgument("\"" + displayBytes(*resume) + "\" is not an upload of " +
                                         *sha + " by " + *owner));
      }
      auto offset = numberField(body, "offset");
      if (!offset.ok()) return sendStatus(res, offset.status());
      // A request of the interrupted upload may still hold it (the site's side went away).
      registry_.close(*resume);
      spec.resume_name = *resume;
      spec.resume_offset = *offset;
    }
    spec.sha256 = *sha;
    spec.size = *size;
    spec.owner = *owner;
    auto discard = boolField(body, "discard_leftovers");
    if (!discard.ok()) return sendStatus(res, discard.status());
    spec.discard_leftovers = *discard;
    if (body.contains("send") && body["send"].is_string()) {
      renewSend(body["send"].get<std::string>());
    }
    if (spec.discard_leftovers) registry_.closeOwned(*owner, {*sha});
    auto opened = library_.openUpload(spec);
    if (!opened.ok()) return sendStatus(res, opened.status());
    std::unique_ptr<content::Upload> upload = std::move(*opened);
    const std::uint64_t offset = upload->offset();
    const std::size_t leftovers = upload->leftoversDiscarded();
    if (!spec.resume_name.empty()) {
      if (upload->tempName() == spec.resume_name) {
        PX_LOG_INFO(log_, "Resuming the upload of {} ({}) by {} from {} at offset {}", *sha,
                    formatBytes(*size), *owner, req.peer(), offset);
      } else {
        PX_LOG_WARN(log_,
                    "The upload of {} by {} cannot resume at offset {} ({} is gone or shorter): "
                    "starting over",
                    *sha, *owner, spec.resume_offset, spec.resume_name);
      }
    } else {
      PX_LOG_DEBUG(log_, "Upload of {} ({}) by {} from {} opened", *sha, formatBytes(*size), *owner,
                   req.peer());
    }
    auto id = registry_.add(std::move(upload), *size, *owner);
    if (!id.ok()) return sendStatus(res, id.status());
    return res.sendJson(200,
                        {{"upload", *id}, {"offset", offset}, {"leftovers_discarded", leftovers}});
  }

  // A request of a send (an upload, a staged body, an install) keeps its pins alive.
  void renewSend(const std::optional<std::string>& send) {
    if (send && !send->empty()) (void)registry_.renewSend(*send);
  }

  // Answers an upload's failure; drops the upload when the library failed it for good.
  Status uploadFailed(Response& res, UploadRegistry::Held& held, const Status& s,
                      std::string_view what, const Request& req) {
    if (s.code() == Status::Code::Corruption) {
      PX_LOG_WARN(log_, "Rejected the upload of {} from {}: {}", held.upload().sha256(), req.peer(),
                  s.toString());
    } else {
      PX_LOG_WARN(log_, "{} of the upload of {} from {} failed: {}", what, held.upload().sha256(),
                  req.peer(), s.toString());
    }
    held.upload().abort();
    held.release();
    return sendStatus(res, s);
  }

  // PUT /v1/uploads/{id}[?checkpoint=1] (auth), Content-Range: bytes a-b/T: the next bytes.
  Status putUpload(Request& req, Response& res) {
    const std::string& id = req.param("id");
    auto held = registry_.take(id);
    if (!held.ok()) return sendReason(res, 404, "unknown_upload", held.status().message());
    content::Upload& upload = held->upload();
    const std::uint64_t length = declaredLength(req);
    auto range = http::parseContentRange(req.header("Content-Range"));
    if (!range.ok() || !range->satisfied || range->complete_length != held->size() ||
        range->range.length() != length) {
      return sendReason(res, 400, "bad_range",
                        "Content-Range \"" + displayBytes(req.header("Content-Range")) +
                            "\" is not \"bytes a-b/" + std::to_string(held->size()) +
                            "\" for the " + std::to_string(length) + " bytes sent");
    }
    if (range->range.first != upload.offset()) {
      return sendReason(res, 409, "offset_mismatch",
                        "the DP holds " + std::to_string(upload.offset()) +
                            " bytes of this upload; the bytes sent start at " +
                            std::to_string(range->range.first),
                        {{"offset", upload.offset()}});
    }
    Status received = receive(req, upload, length);
    if (!received.ok()) {
      // The site gone mid-block: keep the upload; it resumes from a checkpoint. A local failure
      // (disk full) failed the upload for good.
      if (received.code() == Status::Code::Unavailable) return received;
      return uploadFailed(res, *held, received, "Writing", req);
    }
    json answer = {{"offset", upload.offset()}, {"sealed", false}};
    if (req.query("checkpoint")) {
      Status s = upload.checkpoint();
      if (!s.ok()) return uploadFailed(res, *held, s, "A checkpoint", req);
      answer["durable_offset"] = upload.offset();
    }
    if (upload.offset() == held->size()) {
      Status s = upload.seal();
      if (!s.ok()) return uploadFailed(res, *held, s, "The seal", req);
      answer["sealed"] = true;
      PX_LOG_DEBUG(log_, "Upload {} complete and its SHA-256 matches", id);
    }
    return res.sendJson(200, answer);
  }

  // POST /v1/uploads/{id}/checkpoint (auth)
  Status checkpointUpload(Request& req, Response& res) {
    auto held = registry_.take(req.param("id"));
    if (!held.ok()) return sendReason(res, 404, "unknown_upload", held.status().message());
    // A sealed upload is whole and checked; its install makes it durable.
    if (held->upload().sealed()) return res.sendJson(200, {{"durable_offset", held->size()}});
    Status s = held->upload().checkpoint();
    if (!s.ok()) return uploadFailed(res, *held, s, "A checkpoint", req);
    return res.sendJson(200, {{"durable_offset", held->upload().offset()}});
  }

  // POST /v1/uploads/{id}/seal (auth)
  Status sealUpload(Request& req, Response& res) {
    auto held = registry_.take(req.param("id"));
    if (!held.ok()) return sendReason(res, 404, "unknown_upload", held.status().message());
    if (held->upload().offset() != held->size()) {
      return sendReason(res, 409, "incomplete",
                        "the DP holds " + std::to_string(held->upload().offset()) + " of " +
                            std::to_string(held->size()) + " bytes of this upload",
                        {{"offset", held->upload().offset()}});
    }
    Status s = held->upload().seal();
    if (!s.ok()) return uploadFailed(res, *held, s, "The seal", req);
    return res.sendJson(200, {{"sealed", true}});
  }

  // DELETE /v1/uploads/{id} (auth): discards the upload and its temporary file, open or not.
  Status deleteUpload(Request& req, Response& res) {
    const std::string& id = req.param("id");
    auto name = content::parseUploadName(id);
    if (!name) {
      return sendStatus(
          res, Status::InvalidArgument("\"" + displayBytes(id) + "\" is not an upload's name"));
    }
    registry_.close(id);
    Status s = library_.discardUpload(name->sha256, id);
    if (!s.ok()) return sendStatus(res, s);
    PX_LOG_DEBUG(log_, "Upload {} discarded by {}", id, req.peer());
    return res.send(204, "");
  }

  // POST /v1/install {"uploads": [id...]} (auth): puts sealed uploads in place, in one batch.
  Status install(Request& req, Response& res) {
    PKGXFER_ASSIGN_OR_RETURN(json body, req.readJson(kMaxJsonBytes));
    if (!body.is_object() || !body.contains("uploads") || !body["uploads"].is_array() ||
        body["uploads"].size() > kMaxHashesPerRequest) {
      return sendStatus(res, Status::InvalidArgument("expected {\"uploads\": [upload id, ...]}"));
    }
    if (body.contains("send") && body["send"].is_string()) {
      renewSend(body["send"].get<std::string>());
    }
    std::vector<std::string> ids;
    for (const json& id : body["uploads"]) {
      if (!id.is_string())
        return sendStatus(res, Status::InvalidArgument("an upload id is a string"));
      ids.push_back(id.get<std::string>());
    }
    // In one order, so two installs sharing uploads never wait for each other crosswise.
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<UploadRegistry::Held> held;
    held.reserve(ids.size());
    std::vector<content::Upload*> uploads;
    for (const std::string& id : ids) {
      auto h = registry_.take(id);
      if (!h.ok()) return sendReason(res, 404, "unknown_upload", h.status().message());
      if (!h->upload().sealed()) {
        return sendReason(res, 409, "not_sealed", "upload " + id + " is not complete and checked");
      }
      uploads.push_back(&h->upload());
      held.push_back(std::move(*h));
    }
    Status s = library_.install(uploads);
    if (!s.ok()) {
      PX_LOG_WARN(log_, "Installing {} bodies from {} failed: {}", uploads.size(), req.peer(),
                  s.toString());
      return sendStatus(res, s);
    }
    for (auto& h : held) h.release();
    const std::size_t installed = uploads.size();
    uploads.clear();
    held.clear();  // out of the registry (and its limit) before the site hears they are installed
    PX_LOG_INFO(log_, "Installed {} bodies from {}", installed, req.peer());
    return res.sendJson(200, {{"installed", installed}});
  }

  // POST /v1/sends {"owner", "package_id", "version", "sha256": [...]} (auth)
  Status beginSend(Request& req, Response& res) {
    registry_.sweep();
    PKGXFER_ASSIGN_OR_RETURN(json body, req.readJson(kMaxSendJsonBytes));
    auto owner = stringField(body, "owner");
    if (!owner.ok()) return sendStatus(res, owner.status());
    auto shas = hashList(body, "sha256", kMaxBodiesPerSend);
    if (!shas.ok()) return sendStatus(res, shas.status());
    auto package = stringField(body, "package_id", /*required=*/false);
    if (!package.ok()) return sendStatus(res, package.status());
    Result<std::uint64_t> version = std::uint64_t{0};
    if (body.contains("version")) version = numberField(body, "version");
    if (!version.ok()) return sendStatus(res, version.status());
    const std::string what = *package + " v" + std::to_string(*version);
    const std::size_t count = shas->size();
    auto id = registry_.beginSend(std::move(*shas));
    if (!id.ok()) return sendStatus(res, id.status());
    PX_LOG_INFO(log_, "Receiving {} ({} bodies) for {} from {}", displayBytes(what), count,
                displayBytes(*owner), req.peer());
    return res.sendJson(
        200,
        {{"send", *id}, {"lease_ms", static_cast<std::int64_t>(registry_.sendLease().count())}});
  }

  // POST /v1/sends/{id}/renew (auth)
  Status renewSend(Request& req, Response& res) {
    Status s = registry_.renewSend(req.param("id"));
    if (!s.ok()) return sendReason(res, 404, "unknown_send", s.message());
    return res.sendJson(200,
                        {{"lease_ms", static_cast<std::int64_t>(registry_.sendLease().count())}});
  }

  // DELETE /v1/sends/{id} (auth)
  Status endSend(Request& req, Response& res) {
    registry_.endSend(req.param("id"));
    return res.send(204, "");
  }

  // PUT /v1/content/{pkg}/{ver}[?send=id] (auth): commits a manifest.
  Status putContent(Request& req, Response& res) {
    auto ref = contentRef(req);
    if (!ref.ok()) return sendStatus(res, ref.status());
    PKGXFER_ASSIGN_OR_RETURN(std::string text, req.readBody(kMaxManifestBytes));
    auto manifest = content::parseManifest(text);
    if (!manifest.ok()) return sendStatus(res, manifest.status().withContext("the manifest sent"));
    if (manifest->package_id != ref->package_id || manifest->version != ref->version) {
      return sendStatus(res, Status::InvalidArgument(
                                 "the manifest sent is " +
                                 content::contentId(manifest->package_id, manifest->version) +
                                 ", not " + content::contentId(ref->package_id, ref->version)));
    }
    const std::string id = content::contentId(ref->package_id, ref->version);
    auto present = library_.inventory(content::uniqueBodies(*manifest));
    if (!present.ok()) return sendStatus(res, present.status());
    json missing = json::array();
    for (const std::string& sha : content::uniqueBodies(*manifest)) {
      if (!present->contains(sha)) missing.push_back(sha);
    }
    if (!missing.empty()) {
      PX_LOG_WARN(log_, "Refused the manifest of {} from {}: {} bodies missing", id, req.peer(),
                  missing.size());
      return sendReason(res, 409, "missing_bodies",
                        "the manifest of " + id + " names " + std::to_string(missing.size()) +
                            " bodies this DP does not hold",
                        {{"missing", std::move(missing)}});
    }
    Status s = library_.commitManifest(*manifest);
    if (s.code() == Status::Code::NotFound) {  // a removal took a body meanwhile
      return sendReason(res, 409, "missing_bodies", s.message(), {{"missing", json::array()}});
    }
    if (s.code() == Status::Code::AlreadyExists) {
      return sendReason(res, 409, "manifest_exists", s.message());
    }
    if (!s.ok()) return sendStatus(res, s);
    if (auto send = req.query("send")) registry_.endSend(*send);
    PX_LOG_INFO(log_, "Content {} is installed ({} files, {})", id, manifest->files.size(),
                formatBytes(manifest->total_bytes));
    return res.sendJson(200, {{"package_id", ref->package_id}, {"version", ref->version}});
  }

  // GET /v1/content/{pkg}/{ver}: the manifest as stored.
  Status getContent(Request& req, Response& res) {
    auto ref = contentRef(req);
    if (!ref.ok()) return sendStatus(res, ref.status());
    auto text = library_.readManifestJson(ref->package_id, ref->version);
    if (!text.ok()) return sendStatus(res, text.status());
    return res.send(200, std::move(*text), "application/json");
  }

  // GET /v1/content/{pkg}: the versions present.
  Status getVersions(Request& req, Response& res) {
    const std::string& pkg = req.param("pkg");
    if (!content::isValidPackageId(pkg)) {
      return sendStatus(
          res, Status::InvalidArgument("\"" + displayBytes(pkg) + "\" is not a package ID"));
    }
    auto versions = library_.listVersions(pkg);
    if (!versions.ok()) return sendStatus(res, versions.status());
    return res.sendJson(200, {{"package_id", pkg}, {"versions", *versions}});
  }

  // DELETE /v1/content/{pkg}/{ver} (auth)
  Status deleteContent(Request& req, Response& res) {
    registry_.sweep();  // pins of sends whose lease ran out must not keep bodies
    auto ref = contentRef(req);
    if (!ref.ok()) return sendStatus(res, ref.status());
    const std::string id = content::contentId(ref->package_id, ref->version);
    Status s = library_.removeContent(ref->package_id, ref->version);
    if (!s.ok()) {
      if (s.code() != Status::Code::NotFound) {
        PX_LOG_WARN(log_, "Removing {} failed: {}", id, s.toString());
      }
      return sendStatus(res, s);
    }
    PX_LOG_INFO(log_, "Content {} removed at the request of {}", id, req.peer());
    return res.send(204, "");
  }

  // POST /v1/validate/{pkg}/{ver} (auth): re-hashes the content's bodies.
  Status validate(Request& req, Response& res) {
    auto ref = contentRef(req);
    if (!ref.ok()) return sendStatus(res, ref.status());
    const std::string id = content::contentId(ref->package_id, ref->version);
    auto report = library_.validate(ref->package_id, ref->version);
    if (!report.ok()) return sendStatus(res, report.status());
    if (report->ok()) {
      PX_LOG_INFO(log_, "Validated {}: {} bodies, {}, all match", id, report->bodies_checked,
                  formatBytes(report->bytes_checked));
    } else {
      PX_LOG_WARN(log_, "Validation of {} failed: {}", id, report->describe());
    }
    return res.sendJson(200, {{"ok", report->ok()},
                              {"bodies_checked", report->bodies_checked},
                              {"bytes_checked", report->bytes_checked},
                              {"missing", problemsJson(report->missing)},
                              {"mismatched", problemsJson(report->mismatched)}});
  }

  // POST /v1/leftovers/discard {"owner", "sha256": [...]} (auth)
  Status discardLeftovers(Request& req, Response& res) {
    PKGXFER_ASSIGN_OR_RETURN(json body, req.readJson(kMaxJsonBytes));
    auto owner = stringField(body, "owner");
    if (!owner.ok()) return sendStatus(res, owner.status());
    if (owner->empty() || !content::isValidOwner(*owner)) {
      return sendStatus(
          res, Status::InvalidArgument("\"" + displayBytes(*owner) + "\" is not an owner"));
    }
    auto shas = hashList(body, "sha256");
    if (!shas.ok()) return sendStatus(res, shas.status());
    registry_.closeOwned(*owner, *shas);
    auto n = library_.discardUploads(*shas, *owner);
    if (!n.ok()) return sendStatus(res, n.status());
    if (*n > 0) PX_LOG_INFO(log_, "Discarded {} temporary file(s) of {}", *n, *owner);
    return res.sendJson(200, {{"discarded", *n}});
  }

  // POST /v1/bodies/remove {"sha256": [...]} (auth): those no manifest references.
  Status removeBodies(Request& req, Response& res) {
    registry_.sweep();
    PKGXFER_ASSIGN_OR_RETURN(json body, req.readJson(kMaxJsonBytes));
    auto shas = hashList(body, "sha256");
    if (!shas.ok()) return sendStatus(res, shas.status());
    auto n = library_.removeBodies(*shas);
    if (!n.ok()) return sendStatus(res, n.status());
    if (*n > 0) PX_LOG_INFO(log_, "Removed {} unreferenced bodies", *n);
    return res.sendJson(200, {{"removed", *n}});
  }

  content::ContentLibrary& library_;
  const DpServiceOptions options_;
  const Logger log_;
  UploadRegistry registry_;
  http::Server server_;
};

Status DpService::Impl::start() {
  if (options_.server.bearer_token.empty()) {
    return Status::InvalidArgument("the DP needs the site's token (dp.token_file)");
  }
  http::RouteOptions read;
  http::RouteOptions json_read;
  json_read.max_body_bytes = kMaxJsonBytes;
  http::RouteOptions change;
  change.requires_auth = true;
  http::RouteOptions json_change = change;
  json_change.max_body_bytes = kMaxJsonBytes;
  http::RouteOptions send_change = change;
  send_change.max_body_bytes = kMaxSendJsonBytes;
  http::RouteOptions manifest_change = change;
  manifest_change.max_body_bytes = kMaxManifestBytes;
  http::RouteOptions body_upload = change;
  body_upload.max_body_bytes = options_.max_body_bytes;
  body_upload.requires_content_length = true;
  body_upload.body_idle_timeout = options_.body_idle_timeout;

  struct Route {
    const char* method;
    const char* pattern;
    const http::RouteOptions& options;
    Member member;
  };
  const Route routes[] = {
      {"GET", "/v1/library", read, &Impl::getLibrary},
      {"POST", "/v1/library", json_change, &Impl::adoptLibrary},
      {"POST", "/v1/inventory", json_read, &Impl::inventory},
      {"GET", "/v1/files/{sha256}", read, &Impl::getFile},
      {"PUT", "/v1/files/{sha256}", body_upload, &Impl::putFile},
      {"POST", "/v1/uploads", json_change, &Impl::openUpload},
      {"PUT", "/v1/uploads/{id}", body_upload, &Impl::putUpload},
      {"DELETE", "/v1/uploads/{id}", change, &Impl::deleteUpload},
      {"POST", "/v1/uploads/{id}/checkpoint", change, &Impl::checkpointUpload},
      {"POST", "/v1/uploads/{id}/seal", change, &Impl::sealUpload},
      {"POST", "/v1/install", json_change, &Impl::install},
      {"POST", "/v1/sends", send_change, &Impl::beginSend},
      {"POST", "/v1/sends/{id}/renew", change, &Impl::renewSend},
      {"DELETE", "/v1/sends/{id}", change, &Impl::endSend},
      {"GET", "/v1/content/{pkg}", read, &Impl::getVersions},
      {"GET", "/v1/content/{pkg}/{ver}", read, &Impl::getContent},
      {"PUT", "/v1/content/{pkg}/{ver}", manifest_change, &Impl::putContent},
      {"DELETE", "/v1/content/{pkg}/{ver}", change, &Impl::deleteContent},
      {"POST", "/v1/validate/{pkg}/{ver}", change, &Impl::validate},
      {"POST", "/v1/leftovers/discard", json_change, &Impl::discardLeftovers},
      {"POST", "/v1/bodies/remove", json_change, &Impl::removeBodies},
  };
  for (const Route& r : routes) {
    PKGXFER_RETURN_IF_ERROR(route(r.method, r.pattern, r.options, r.member));
  }
  return server_.start();
}

DpService::DpService(boost::asio::io_context& io, content::ContentLibrary& library, Clock& clock,
                     DpServiceOptions options, Logger log)
    : impl_(std::make_shared<Impl>(io, library, clock, std::move(options), std::move(log))) {}

DpService::~DpService() = default;
Status DpService::start() { return impl_->start(); }
Status DpService::addRoute(std::string_view method, std::string_view pattern,
                           http::RouteOptions options, http::Handler handler) {
  return impl_->addRoute(method, pattern, std::move(options), std::move(handler));
}
void DpService::stop(std::function<void()> done) { impl_->stop(std::move(done)); }
std::uint16_t DpService::port() const { return impl_->port(); }
http::ServerStats DpService::stats() const { return impl_->stats(); }

}  // namespace pkgxfer::dp
