#include "pull_job.h"

#include <set>
#include <utility>
#include <vector>

#include "pkgxfer/common/units.h"
#include "pkgxfer/http/range.h"

namespace pkgxfer::pulldp {
namespace {

using Steady = Clock::SteadyTime;

struct Body {
  std::string sha256;
  std::uint64_t size = 0;
  std::string path;  // the first file of the manifest with this body, for the log
};

// What one source did with one body.
struct Attempt {
  Status status;
  bool local = false;  // the library failed (disk), not the source: no other source helps
};

class JobRun {
 public:
  JobRun(content::ContentLibrary& library, ClientCache& sources, const JobSetup& setup,
         const JobEvents& events, const JobOptions& options, Clock& clock, const Logger& log,
         const CallContext& ctx)
      : library_(library),
        sources_(sources),
        setup_(setup),
        n_(setup.notification),
        events_(events),
        options_(options),
        clock_(clock),
        log_(log),
        ctx_(ctx),
        owner_(uploadOwner(setup.job_id)),
        label_("job " + std::to_string(setup.job_id) + ", " + n_.manifest.package_id + " v" +
               std::to_string(n_.manifest.version)) {}

  Status run() {
    // The distinct bodies, in manifest order.
    std::vector<Body> bodies;
    std::set<std::string> seen;
    for (const auto& f : n_.manifest.files) {
      if (seen.insert(f.sha256).second) bodies.push_back({f.sha256, f.size, f.path});
    }
    std::vector<std::string> shas;
    for (const Body& b : bodies) shas.push_back(b.sha256);
    // Kept from removal until the manifest names them.
    content::BodyPins pins = library_.pin(shas);

    std::vector<Body> todo;
    std::uint64_t present_bytes = 0;
    std::size_t present = 0;
    if (n_.redistribute) {
      todo = bodies;
    } else {
      auto inventory = library_.inventory(shas);
      if (!inventory.ok()) return inventory.status().withContext("inventory of the library");
      for (const Body& b : bodies) {
        if (inventory->count(b.sha256)) {
          ++present;
          present_bytes += b.size;
        } else {
          todo.push_back(b);
        }
      }
    }
    for (const Body& b : todo) progress_.bytes_total += b.size;
    progress_.files_total = todo.size();
    PX_LOG_INFO(log_,
                "{} files ({}) to download, {} already present ({}){}; {} distinct of {} files; "
                "{}",
                todo.size(), formatBytes(progress_.bytes_total), present,
                formatBytes(present_bytes),
                n_.redistribute ? " (redistribute: every body is downloaded again)" : "",
                bodies.size(), n_.manifest.files.size(), label_);
    // Bytes already durable from an earlier attempt count as done.
    for (const Body& b : todo) {
      auto it = setup_.resume.find(b.sha256);
      if (it != setup_.resume.end()) progress_.bytes_done += std::min(it->second.offset, b.size);
    }
    postProgress(true);

    std::vector<std::unique_ptr<content::Upload>> batch;
    std::uint64_t batch_bytes = 0;
    for (const Body& body : todo) {
      Result<std::unique_ptr<content::Upload>> sealed = fetch(body);
      if (!sealed.ok()) {
        Status kept = installBatch(batch, batch_bytes);  // keep what was verified
        if (!kept.ok()) PX_LOG_WARN(log_, "{}; {}", kept.toString(), label_);
        return sealed.status();
      }
      batch_bytes += body.size;
      batch.push_back(std::move(*sealed));
      if (batch.size() >= options_.batch_bodies || batch_bytes >= options_.batch_bytes) {
        PKGXFER_RETURN_IF_ERROR(installBatch(batch, batch_bytes));
      }
    }
    PKGXFER_RETURN_IF_ERROR(installBatch(batch, batch_bytes));

    Status committed = library_.commitManifest(n_.manifest);
    if (!committed.ok()) return committed.withContext("commit the manifest");
    PX_LOG_INFO(log_, "Committed the manifest of {} v{}: the content is present; {}",
                n_.manifest.package_id, n_.manifest.version, label_);
    // Temporary files this job's owner left for bodies that came another way (another job
    // installed them meanwhile); nothing else writes under this owner.
    auto discarded = library_.discardUploads(shas, owner_);
    if (discarded.ok() && *discarded > 0) {
      PX_LOG_INFO(log_, "Deleted {} unfinished download(s) no longer needed; {}", *discarded,
                  label_);
    }
    postProgress(true);
    return Status::Ok();
  }

  const JobProgress& progress() const { return progress_; }

 private:
  Status installBatch(std::vector<std::unique_ptr<content::Upload>>& batch,
                      std::uint64_t& batch_bytes) {
    if (batch.empty()) return Status::Ok();
    std::vector<content::Upload*> uploads;
    for (auto& u : batch) uploads.push_back(u.get());
    Status s = library_.install(uploads);
    if (!s.ok()) return s.withContext("install " + std::to_string(batch.size()) + " bodies");
    PX_LOG_DEBUG(log_, "Installed {} bodies ({}) in the library; {}", batch.size(),
                 formatBytes(batch_bytes), label_);
    for (auto& u : batch) {
      if (events_.partial_gone) events_.partial_gone(u->sha256());
    }
    progress_.files_done += batch.size();
    batch.clear();
    batch_bytes = 0;
    postProgress(true);
    return Status::Ok();
  }

  void postProgress(bool force) {
    const Steady now = clock_.steadyNow();
    if (!force && last_progress_ && now - *last_progress_ < options_.progress_interval) return;
    last_progress_ = now;
    if (events_.progress) events_.progress(progress_);
  }

  Result<std::unique_ptr<content::Upload>> open(const Body& body, bool resume) {
    content::UploadSpec spec;
    spec.sha256 = body.sha256;
    spec.size = body.size;
    spec.owner = owner_;
    spec.resumable = true;
    auto it = setup_.resume.find(body.sha256);
    if (resume && it != setup_.resume.end()) {
      spec.resume_name = it->second.temp_name;
      spec.resume_offset = it->second.offset;
    }
    // Only this job writes under its owner: what it left before a crash (before the first resume
    // point was recorded) goes, except the file it resumes.
    spec.discard_leftovers = resume;
    auto upload = library_.openUpload(spec);
    if (!upload.ok()) return upload.status().withContext("open a download of " + body.sha256);
    if (!spec.resume_name.empty()) {
      if ((*upload)->offset() > 0) {
        PX_LOG_INFO(log_, "Resuming {} ({}) at offset {} of {} (resume point {}); {}", body.sha256,
                    body.path, (*upload)->offset(), body.size, spec.resume_name, label_);
      } else {
        PX_LOG_WARN(log_,
                    "The resume point of {} ({}) at offset {} is gone ({}); starting over at 0; {}",
                    body.sha256, body.path, spec.resume_offset, spec.resume_name, label_);
      }
    }
    return upload;
  }

  // Takes `body` from the first source that has it; the upload comes back sealed.
  Result<std::unique_ptr<content::Upload>> fetch(const Body& body) {
    PKGXFER_ASSIGN_OR_RETURN(std::unique_ptr<content::Upload> upload, open(body, true));
    const std::uint64_t resumed = upload->offset();
    // The bytes this body had counted as done (its resume point), corrected to what the library
    // actually holds.
    auto it = setup_.resume.find(body.sha256);
    const std::uint64_t counted =
        it == setup_.resume.end() ? 0 : std::min(it->second.offset, body.size);
    progress_.bytes_done = progress_.bytes_done - counted + resumed;

    std::string failures;
    bool any_unreachable = false;
    bool any_corrupt = false;
    std::string why;  // why the previous source was left
    for (std::size_t i = 0; i < n_.sources.size(); ++i) {
      PKGXFER_RETURN_IF_ERROR(ctx_.check("download of " + body.sha256));
      const std::string& source = n_.sources[i];
      progress_.source = source;
      if (i == 0) {
        why = "the first source";
      }
      PX_LOG_INFO(log_, "Downloading {} ({}, {}) from {} ({} of {} sources: {}){}; {}", body.sha256,
                  body.path, formatBytes(body.size), source, i + 1, n_.sources.size(), why,
                  upload->offset() > 0 ? ", from offset " + std::to_string(upload->offset())
                                       : std::string(),
                  label_);
      const std::uint64_t before = upload->offset();
      Attempt attempt = download(source, body, *upload);
      if (attempt.status.ok()) {
        Status sealed = upload->seal();
        if (sealed.ok()) {
          PX_LOG_INFO(log_, "Hash of {} ({}) verified: {} from {} ({} of them now); {}",
                      body.sha256, body.path, formatBytes(body.size), source,
                      formatBytes(body.size - before), label_);
          return upload;
        }
        if (sealed.code() != Status::Code::Corruption) return sealed.withContext(body.sha256);
        any_corrupt = true;
        PX_LOG_WARN(log_,
                    "Body {} ({}) from {} does not match its hash, discarded: {}; trying the next "
                    "source; {}",
                    body.sha256, body.path, source, sealed.message(), label_);
        if (events_.partial_gone) events_.partial_gone(body.sha256);
        progress_.bytes_done -= std::min(progress_.bytes_done, upload->offset());
        failures += (failures.empty() ? "" : "; ") + source + ": body does not match its hash";
        why = "the previous source sent a corrupt body";
        upload.reset();
        PKGXFER_ASSIGN_OR_RETURN(upload, open(body, false));
        continue;
      }
      if (attempt.local || attempt.status.code() == Status::Code::Cancelled) {
        (void)checkpoint(body, *upload, /*quiet=*/true);  // keep what arrived, if the disk lets us
        return attempt.status;
      }
      // The source failed: keep what it sent, durable, for the next one to continue from.
      Status kept = checkpoint(body, *upload, false);
      if (!kept.ok()) return kept;
      if (attempt.status.code() == Status::Code::NotFound) {
        PX_LOG_INFO(log_, "Source {} does not have {} ({}): {}; {}", source, body.sha256, body.path,
                    attempt.status.message(), label_);
        why = "the previous source does not have it";
      } else {
        any_unreachable = true;
        PX_LOG_WARN(log_, "Source {} failed for {} ({}) at offset {}: {}; {}", source, body.sha256,
                    body.path, upload->offset(), attempt.status.toString(), label_);
        why = "the previous source failed at offset " + std::to_string(upload->offset());
      }
      failures += (failures.empty() ? "" : "; ") + attempt.status.message();
    }
    std::string message =
        "no source could supply " + body.sha256 + " (" + body.path + "): " + failures;
    if (any_unreachable) return Status::Unavailable(std::move(message));
    if (any_corrupt) return Status::Corruption(std::move(message));
    return Status::NotFound(std::move(message));
  }

  // Makes the bytes written durable and reports the resume point.
  Status checkpoint(const Body& body, content::Upload& upload, bool quiet) {
    if (upload.offset() == 0 || upload.offset() == checkpointed_) return Status::Ok();
    Status s = upload.checkpoint();
    if (!s.ok()) {
      if (!quiet) return s.withContext("checkpoint of " + body.sha256);
      return s;
    }
    checkpointed_ = upload.offset();
    if (events_.partial) events_.partial({body.sha256, upload.tempName(), upload.offset()});
    PX_LOG_DEBUG(log_, "Resume point of {}: {} at offset {}; {}", body.sha256, upload.tempName(),
                 upload.offset(), label_);
    postProgress(true);  // what GET /v1/pull-jobs/{id} answers follows the durable bytes
    return Status::Ok();
  }

  Attempt download(const std::string& source, const Body& body, content::Upload& upload) {
    auto url = splitUrl(source);
    if (!url.ok()) return {url.status()};
    auto client = sources_.get(url->origin);
    if (!client.ok()) return {client.status()};
    checkpointed_ = upload.offset();
    const std::uint64_t start = upload.offset();
    if (start == body.size) return {Status::Ok()};  // complete already: only the seal is left

    http::ClientRequest request;
    request.method = "GET";
    request.target = url->path + "/v1/files/" + body.sha256;
    if (start > 0) request.headers.push_back({"Range", http::rangeFrom(start)});
    std::uint64_t skip = 0;
    bool local = false;
    Steady last_checkpoint = clock_.steadyNow();
    http::DownloadSink sink;
    sink.on_head = [&](const http::ClientResponse& head) -> Status {
      if (head.status == 200) {
        skip = start;  // the source ignored the Range: drop what we hold already
      } else if (head.status == 206) {
        auto range = http::parseContentRange(head.header("Content-Range"));
        if (!range.ok() || !range->satisfied || range->range.first != start) {
          return Status::Unavailable(head.request + ": answered a range that does not start at " +
                                     std::to_string(start));
        }
        if (range->complete_length && *range->complete_length != body.size) {
          return Status::Corruption(head.request + ": the body has " +
                                    std::to_string(*range->complete_length) + " bytes, expected " +
                                    std::to_string(body.size));
        }
      }
      return Status::Ok();
    };
    sink.on_data = [&](const char* data, std::size_t size) -> Status {
      if (skip > 0) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(skip, size));
        skip -= n;
        data += n;
        size -= n;
        if (size == 0) return Status::Ok();
      }
      if (upload.offset() + size > body.size) {
        return Status::Corruption(source + " sent more than the " + std::to_string(body.size) +
                                  " bytes of " + body.sha256);
      }
      Status w = upload.append(data, size);
      if (!w.ok()) {
        local = true;
        return w;
      }
      progress_.bytes_done += size;
      const Steady now = clock_.steadyNow();
      if (upload.offset() - checkpointed_ >= options_.checkpoint_bytes ||
          now - last_checkpoint >= options_.checkpoint_interval) {
        last_checkpoint = now;
        Status c = checkpoint(body, upload, false);
        if (!c.ok()) {
          local = true;
          return c;
        }
      }
      postProgress(false);
      return Status::Ok();
    };
    auto response = (*client)->download(ctx_, request, sink);
    if (!response.ok()) return {response.status(), local};
    if (response->status == 404) {
      return {Status::NotFound(response->request + ": HTTP 404 (the source does not have it)")};
    }
    if (!response->ok()) return {http::responseStatus(*response)};
    if (upload.offset() != body.size) {
      return {Status::Unavailable(response->request + ": the body ended at " +
                                  std::to_string(upload.offset()) + " of " +
                                  std::to_string(body.size) + " bytes")};
    }
    return {Status::Ok()};
  }

  content::ContentLibrary& library_;
  ClientCache& sources_;
  const JobSetup& setup_;
  const transport::pull::Notification& n_;
  const JobEvents& events_;
  const JobOptions& options_;
  Clock& clock_;
  const Logger& log_;
  const CallContext& ctx_;
  const std::string owner_;
  const std::string label_;
  JobProgress progress_;
  std::optional<Steady> last_progress_;
  std::uint64_t checkpointed_ = 0;  // the offset of the body's last checkpoint
};

}  // namespace

Result<SplitUrl> splitUrl(std::string_view url) {
  std::string s(url);
  if (s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("\"" + s + "\" is not an http:// or https:// URL");
  }
  const std::size_t scheme = s.find("://");
  const std::size_t slash = s.find('/', scheme + 3);
  SplitUrl out;
  if (slash == std::string::npos) {
    out.origin = s;
  } else {
    out.origin = s.substr(0, slash);
    out.path = s.substr(slash);
  }
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  if (out.path.find_first_of("?# ") != std::string::npos) {
    return Status::InvalidArgument("\"" + s + "\": a base URL cannot hold '?', '#' or a space");
  }
  return out;
}

Result<http::Client*> ClientCache::get(const std::string& origin) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(origin);
  if (it != clients_.end()) return it->second.get();
  http::ClientOptions options = options_;
  options.base_url = origin;
  PKGXFER_ASSIGN_OR_RETURN(std::unique_ptr<http::Client> client, http::Client::create(options));
  http::Client* raw = client.get();
  clients_.emplace(origin, std::move(client));
  return raw;
}

std::string uploadOwner(std::int64_t job_id) { return "pulljob" + std::to_string(job_id); }

Status runPullJob(content::ContentLibrary& library, ClientCache& sources, const JobSetup& setup,
                  const JobEvents& events, const JobOptions& options, Clock& clock,
                  const Logger& log, const CallContext& ctx) {
  JobRun run(library, sources, setup, events, options, clock, log, ctx);
  return run.run();
}

}  // namespace pkgxfer::pulldp
