#include "pkgxfer/pkgxfermgr/job_runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "pkgxfer/common/aligned_buffer.h"
#include "pkgxfer/common/crash_point.h"
#include "pkgxfer/common/units.h"

namespace pkgxfer::pkgxfermgr {
namespace {

using store::JobAction;

std::string rate(std::uint64_t bytes, std::chrono::steady_clock::duration elapsed) {
  double secs = std::chrono::duration<double>(elapsed).count();
  if (secs <= 0.0) secs = 1e-3;
  return formatBytes(static_cast<std::uint64_t>(static_cast<double>(bytes) / secs)) + "/s";
}

Status cancelled(const CancelFlag& cancel) {
  return Status::Cancelled(cancel.load() == CancelMode::Stop
                               ? "the service is stopping"
                               : "the job was superseded or cancelled");
}

// Per body: how many files of the manifest use it and their bytes (a body listed twice counts
// twice in the totals, as total_bytes does).
struct BodyUse {
  std::uint64_t size = 0;
  std::uint64_t files = 0;
  std::string first_path;
};

// A body sent and verified, waiting to be installed with others (Sender::installStaged()).
struct Staged {
  std::unique_ptr<transport::BodyUpload> upload;
  std::string sha256;
  std::uint64_t files = 0;  // manifest files using the body
  std::uint64_t size = 0;
  bool checkpointed = false;  // its resume point is in the database
};

// One stream of bodies to the DP: its buffer (JobSpec::block_size bytes: one read of the site
// library, one write to the DP) and the bodies it sent that wait to be installed.
struct Stream {
  AlignedBuffer buffer;
  std::vector<Staged> staged;
  std::uint64_t staged_bytes = 0;
  Clock::SteadyTime staged_since{};
  Status status;  // why the stream stopped early, if it failed
};

// How long a step the job finishes after a stop or a pause may take (windDown()): well inside the
// service's 25-second stop grace.
constexpr std::chrono::seconds kWindDown{10};

// A batch of staged bodies is installed at this many bodies or bytes, or after
// JobSpec::checkpoint_interval, whichever comes first.
constexpr std::size_t kBatchBodies = 128;
constexpr std::uint64_t kBatchBytes = 256ull << 20;

class Sender {
 public:
  Sender(const JobSpec& spec, transport::Transport& dp, content::ContentLibrary& site,
         JobEvents& events, const CancelFlag& cancel, Clock& clock, const Logger& log)
      : spec_(spec),
        job_(spec.job),
        dp_(dp),
        site_(site),
        events_(events),
        cancel_(cancel),
        clock_(clock),
        log_(log),
        tag_(jobTag(spec.job)),
        priority_(toTransportPriority(spec.job.priority)),
        ctx_{cancel.token()} {}

  Result<JobOutcome> run() {
    switch (job_.action) {
      case JobAction::Add:
      case JobAction::Redistribute:
        return send();
      case JobAction::Validate:
        return validate();
      case JobAction::Remove:
        return remove();
    }
    return Status::Internal("unknown job action");
  }

 private:
  // A stop or a cancel (not a pause: windowClosed() handles that).
  bool stopping() const {
    const CancelMode c = cancel_.load();
    return c == CancelMode::Stop || c == CancelMode::Discard;
  }

  // Whether the DP's schedule is closed to this package now (or the manager said so: Pause); if
  // so, remembers when it opens. Called by every stream.
  bool windowClosed() {
    const bool told = cancel_.load() == CancelMode::Pause;
    if (spec_.schedule == nullptr && !told) return false;
    const auto now = clock_.systemNow();
    if (!told && spec_.schedule->allows(priority_, now)) return false;
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = true;
    next_opening_ = spec_.schedule ? spec_.schedule->nextOpening(priority_, now) : std::nullopt;
    return true;
  }
  bool paused() {
    std::lock_guard<std::mutex> lock(mu_);
    return paused_;
  }

  JobOutcome pausedOutcome() const {
    JobOutcome out;
    out.kind = JobOutcome::Kind::Paused;
    out.progress = progress_;
    out.bytes_sent = bytes_sent_;
    out.next_opening = next_opening_;
    return out;
  }

  Result<JobOutcome> send() {
    // The manager starts a job only in an open window, but the window may have closed since.
    if (windowClosed()) return pausedOutcome();
    PKGXFER_ASSIGN_OR_RETURN(content::Manifest read,
                             site_.readManifest(job_.package_id, job_.version));
    const auto shared = std::make_shared<const content::Manifest>(std::move(read));
    const content::Manifest& manifest = *shared;
    std::vector<std::string> bodies = content::uniqueBodies(manifest);
    std::unordered_map<std::string, BodyUse> uses;
    for (const auto& f : manifest.files) {
      BodyUse& u = uses[f.sha256];
      if (u.files == 0) u.first_path = f.path;
      u.size = f.size;
      ++u.files;
    }
    // The send pins the content's bodies on the DP from before the inventory until the commit: a
    // removal of other content that shares one cannot delete it in between.
    PKGXFER_ASSIGN_OR_RETURN(send_, dp_.beginSend(shared, job_.package_id, ctx_));
    PKGXFER_ASSIGN_OR_RETURN(content::ShaSet present, dp_.inventory(bodies, ctx_));
    const bool all = job_.action == JobAction::Redistribute;

    progress_.files_total = manifest.files.size();
    progress_.bytes_total = manifest.total_bytes;
    std::vector<std::string> to_send;
    std::vector<std::string> kept;  // already on the DP: not sent, so not swept when opened
    std::uint64_t send_bytes = 0;
    std::uint64_t present_files = 0;
    std::uint64_t present_bytes = 0;
    for (const std::string& sha : bodies) {
      const BodyUse& u = uses[sha];
      if (!all && present.count(sha)) {
        kept.push_back(sha);
        ++present_files;
        present_bytes += u.size;
        progress_.files_done += u.files;
        progress_.bytes_done += u.size * u.files;
      } else {
        to_send.push_back(sha);
        send_bytes += u.size;
      }
    }
    PX_LOG_INFO(log_,
                "Sending thread starting for {}: {} file(s), {} in the content; {} file(s) ({}) to "
                "send, {} already present on the DP ({}){}",
                tag_, manifest.files.size(), formatBytes(manifest.total_bytes), to_send.size(),
                formatBytes(send_bytes), present_files, formatBytes(present_bytes),
                all ? " (redistribute: every file is sent)" : "");
    std::map<std::string, store::PartialBody> partials;
    for (const auto& p : spec_.partials) partials[p.sha256] = p;
    // A resumed job shows the bytes its resume points keep from its first report: an administrator
    // reading bytes_done 0 after a restart would take it for a transfer that started over. Each
    // stream corrects the count by what the DP really holds when it opens the body (addBytes in
    // sendBody).
    std::uint64_t resumed_bytes = 0;
    for (const std::string& sha : to_send) {
      auto it = partials.find(sha);
      if (it != partials.end()) resumed_bytes += std::min(it->second.offset, uses[sha].size);
    }
    progress_.bytes_done += resumed_bytes;
    events_.progress(progress_);
    last_report_ = clock_.steadyNow();

    const auto started = clock_.steadyNow();
    // Bodies go out on up to spec_.streams streams at once (this thread and helpers from the
    // stream pool), each taking the next body of the list: per-file latency (create, rename, a
    // round trip) overlaps, and hashing the read-back of one body overlaps the copy of another.
    const std::size_t nstreams =
        spec_.stream_pool == nullptr
            ? 1
            : std::clamp<std::size_t>(to_send.size(), 1, std::max<std::size_t>(spec_.streams, 1));
    std::vector<Stream> streams(nstreams);
    // A stream reads at most a block at once, and no more than the largest body: a package of
    // small files does not hold a full block per stream.
    std::uint64_t largest = 0;
    for (const std::string& sha : to_send) largest = std::max(largest, uses[sha].size);
    const std::size_t buffer_size = static_cast<std::size_t>(
        std::min<std::uint64_t>(spec_.block_size, std::max<std::uint64_t>(largest, 1)));
    std::atomic<std::size_t> next{0};
    // Each stream catches what escapes it: an exception fails the job with its message (and stops
    // the other streams) instead of ending the process.
    auto work = [&](std::size_t i) {
      Stream& stream = streams[i];
      try {
        stream.buffer = makeAlignedBuffer(buffer_size);
        runStream(stream, to_send, uses, partials, next);
      } catch (...) {
        stream.status =
            Status::Internal("uncaught exception on sending stream " + std::to_string(i + 1) +
                             " of " + tag_ + ": " + exceptionText(std::current_exception()));
        halt_.store(true);
      }
    };
    if (spec_.stream_pool != nullptr) {
      host::runOnHelpers(*spec_.stream_pool, nstreams, work);
    } else {
      work(0);
    }
    // What the streams staged last is installed in one call (on a file DP: one pair of flushes,
    // not one per stream).
    if (stopping()) {
      // Stop: keep what was sent and verified (install it); superseded: discard it.
      if (cancel_.load() != CancelMode::Stop || !installStaged(streams, windDown()).ok()) {
        for (Stream& stream : streams) abortStaged(stream);
      }
      return cancelled(cancel_);
    }
    for (Stream& stream : streams) {
      if (stream.status.ok()) continue;
      // The bodies verified before the failure are good: keep them (installStaged() discards
      // them if the DP fails that too, and the retry sends them again).
      if (Status kept = installStaged(streams, windDown()); !kept.ok()) {
        PX_LOG_WARN(log_, "Cannot keep the files sent before the failure: {}; {}", kept.toString(),
                    tag_);
      }
      return stream.status;
    }
    PKGXFER_RETURN_IF_ERROR(installStaged(streams, windDown()));
    if (cancel_.load() == CancelMode::Pause) windowClosed();  // a call it reached may have ended
    if (paused()) return pausedOutcome();
    maybeReport(true);
    const auto elapsed = clock_.steadyNow() - started;
    const std::string_view how = dp_.verification(spec_.verify);
    PX_LOG_INFO(log_, "Sent {} file(s), {} in {:.3f} s ({}); every hash verified{}{}; {}",
                to_send.size(), formatBytes(bytes_sent_),
                std::chrono::duration<double>(elapsed).count(), rate(bytes_sent_, elapsed),
                how.empty() ? "" : " ", how, tag_);

    if (stopping()) return cancelled(cancel_);
    events_.verifying();
    PKGXFER_RETURN_IF_ERROR(send_->commit(ctx_).withContext("commit manifest"));
    crashPoint("job.committed");
    PX_LOG_INFO(log_, "Content {} committed on the DP (DataLib manifest and PkgLib entry); {}",
                content::contentId(job_.package_id, job_.version), tag_);
    // Uploads of this package whose resume point never reached the database (the process died
    // before the first checkpoint) left temporary files nobody will resume: none may remain.
    // Opening a body deleted those of the bodies sent; the rest are the bodies kept.
    auto swept = send_->discardLeftovers(kept, ctx_);
    if (!swept.ok()) {
      PX_LOG_WARN(log_, "Cannot delete leftover temporary files: {}; {}", swept.status().toString(),
                  tag_);
    } else if (std::size_t n = *swept + leftovers_.load(); n > 0) {
      PX_LOG_INFO(log_, "Deleted {} leftover temporary file(s) of earlier attempts; {}", n, tag_);
    }
    progress_.files_done = progress_.files_total;
    progress_.bytes_done = progress_.bytes_total;
    events_.progress(progress_);
    JobOutcome out;
    out.kind = JobOutcome::Kind::Installed;
    out.progress = progress_;
    out.bytes_sent = bytes_sent_;
    return out;
  }

  // One stream: takes the next body to send until none is left, the job is cancelled, the window
  // closes or a stream failed (its status).
  void runStream(Stream& stream, const std::vector<std::string>& to_send,
                 const std::unordered_map<std::string, BodyUse>& uses,
                 const std::map<std::string, store::PartialBody>& partials,
                 std::atomic<std::size_t>& next) {
    auto fail = [&](Status s) {
      stream.status = std::move(s);
      halt_.store(true);
    };
    while (!halt_.load()) {
      if (stopping()) return;
      if (windowClosed()) {
        halt_.store(true);
        return;
      }
      const std::size_t i = next.fetch_add(1);
      if (i >= to_send.size()) return;
      const std::string& sha = to_send[i];
      auto it = partials.find(sha);
      Status sent =
          sendBody(stream, sha, uses.at(sha), it == partials.end() ? nullptr : &it->second);
      if (!sent.ok()) {
        if (sent.code() != Status::Code::Cancelled) fail(std::move(sent));
        return;
      }
      if (paused()) {
        halt_.store(true);
        return;
      }
      if (stream.staged.size() >= kBatchBodies || stream.staged_bytes >= kBatchBytes ||
          clock_.steadyNow() - stream.staged_since >= spec_.checkpoint_interval) {
        if (Status s = installStaged(std::span<Stream>(&stream, 1), ctx_); !s.ok()) {
          return fail(std::move(s));
        }
      }
      maybeReport(false);
    }
  }

  Status sendBody(Stream& stream, const std::string& sha, const BodyUse& use,
                  const store::PartialBody* partial) {
    PKGXFER_ASSIGN_OR_RETURN(content::BodyReader reader, site_.openBody(sha));
    if (reader.size() != use.size) {
      return Status::Corruption(
          fmt::format("body {} of {} in the site library has {} bytes, the "
                      "manifest says {}",
                      sha, use.first_path, reader.size(), use.size));
    }
    transport::BodySpec body{sha, use.size, "", 0, spec_.verify};
    if (partial != nullptr) {
      body.resume_temp_name = partial->temp_name;
      body.resume_offset = partial->offset;
    }
    // No other upload of this body by this package is running: one stream per body, and the
    // manager runs one job per package and DP at a time (selectJobsToStart's busy pairs).
    body.discard_leftovers = true;
    PKGXFER_ASSIGN_OR_RETURN(std::unique_ptr<transport::BodyUpload> up,
                             send_->openBody(body, ctx_));
    // A transport may discard them only when it first talks to the DP about the body (an HTTP
    // DP's small body, at its seal): counted again after the seal.
    const std::size_t leftovers_at_open = up->leftoversDiscarded();
    leftovers_ += leftovers_at_open;
    std::uint64_t offset = up->offset();
    if (offset > 0) {
      PX_LOG_INFO(log_, "Resuming file {} ({}) at offset {} of {}: {} already on the DP; {}",
                  use.first_path, sha, offset, use.size, formatBytes(offset), tag_);
    } else {
      PX_LOG_DEBUG(log_, "Sending file {} ({}, {}); {}", use.first_path, sha, formatBytes(use.size),
                   tag_);
    }
    // The first report counted the resume point's offset; the DP's durable offset may differ.
    const std::uint64_t assumed = partial != nullptr ? std::min(partial->offset, use.size) : 0;
    if (offset >= assumed) {
      addBytes(offset - assumed, 0);
    } else {
      subtractBytes(assumed - offset);
    }
    char* const buffer = stream.buffer.get();
    bool checkpointed = partial != nullptr;  // a resume point of this body is in the database
    // Leaving early (an error, a stop, a closing window) keeps the temporary file only if a resume
    // point names it; otherwise nobody would ever resume or delete it.
    struct DiscardUnlessResumable {
      std::unique_ptr<transport::BodyUpload>& up;
      const bool& checkpointed;
      ~DiscardUnlessResumable() {
        if (up && !checkpointed) up->abort();
      }
    } guard{up, checkpointed};
    std::uint64_t since_checkpoint = 0;
    auto checkpoint_at = clock_.steadyNow() + spec_.checkpoint_interval;
    // A checkpoint at a stop or a pause still runs (windDown()): it is what keeps the bytes sent.
    auto checkpoint = [&]() -> Status {
      PKGXFER_RETURN_IF_ERROR(up->checkpoint(windDown()));
      store::PartialBody p;
      p.job_id = job_.id;
      p.sha256 = sha;
      p.size = use.size;
      p.offset = up->offset();
      p.temp_name = up->tempName();
      {
        std::lock_guard<std::mutex> lock(mu_);
        events_.partialSaved(p);
      }
      checkpointed = true;
      since_checkpoint = 0;
      checkpoint_at = clock_.steadyNow() + spec_.checkpoint_interval;
      return Status::Ok();
    };
    while (offset < use.size) {
      if (stopping()) {
        if (cancel_.load() == CancelMode::Stop) {
          // A failed checkpoint keeps an earlier one: the guard deletes the file only if no resume
          // point names it.
          (void)checkpoint();
        } else {
          up->abort();
          if (checkpointed) forget(sha);
        }
        return cancelled(cancel_);
      }
      if (windowClosed()) {
        // As a graceful stop: what was sent stays on the DP and the job resumes from it.
        PKGXFER_RETURN_IF_ERROR(checkpoint());
        return Status::Ok();
      }
      std::uint64_t block = std::min<std::uint64_t>(spec_.block_size, use.size - offset);
      if (spec_.limiter != nullptr) {
        block = std::max<std::uint64_t>(1, spec_.limiter->blockSize(block));
        const auto wait = spec_.limiter->acquire(block);
        if (wait.count() > 0) {
          // The wait ends early on a stop or cancel: the grant goes back and the loop's top
          // handles the stop. The window may also have closed while waiting.
          if (cancel_.waitFor(wait) != CancelMode::None) {
            spec_.limiter->refund(block);
            continue;
          }
          if (windowClosed()) {
            spec_.limiter->refund(block);
            PKGXFER_RETURN_IF_ERROR(checkpoint());
            return Status::Ok();
          }
        }
      }
      const auto want = static_cast<std::size_t>(block);
      auto read = reader.readAt(offset, buffer, want);
      if (spec_.limiter != nullptr && (!read.ok() || *read < want)) {
        spec_.limiter->refund(want - (read.ok() ? *read : 0));
      }
      if (!read.ok()) return read.status();
      const std::size_t n = *read;
      if (n == 0) {
        return Status::Corruption(fmt::format("body {} in the site library ended at {} of {} bytes",
                                              sha, offset, use.size));
      }
      PKGXFER_RETURN_IF_ERROR(up->write(buffer, n, ctx_));
      offset += n;
      since_checkpoint += n;
      addBytes(n, n);
      if (offset < use.size) {
        if (since_checkpoint >= spec_.checkpoint_bytes || clock_.steadyNow() >= checkpoint_at) {
          PKGXFER_RETURN_IF_ERROR(checkpoint());
          maybeReport(true);
        } else {
          maybeReport(false);
        }
      }
    }
    Status sealed = up->seal(ctx_);
    leftovers_ += up->leftoversDiscarded() - leftovers_at_open;
    if (!sealed.ok()) {
      if (sealed.code() == Status::Code::Corruption && checkpointed) forget(sha);
      return sealed.withContext("file " + use.first_path);
    }
    crashPoint("job.sealed");
    const std::string_view how = dp_.verification(spec_.verify);
    PX_LOG_DEBUG(log_, "Sent file {} ({}); hash verified{}{}; {}", use.first_path,
                 formatBytes(use.size), how.empty() ? "" : " ", how, tag_);
    if (stream.staged.empty()) stream.staged_since = clock_.steadyNow();
    stream.staged_bytes += use.size;
    stream.staged.push_back({std::move(up), sha, use.files, use.size, checkpointed});
    return Status::Ok();
  }

  void addBytes(std::uint64_t done, std::uint64_t sent) {
    std::lock_guard<std::mutex> lock(mu_);
    progress_.bytes_done += done;
    bytes_sent_ += sent;
  }
  void subtractBytes(std::uint64_t done) {
    std::lock_guard<std::mutex> lock(mu_);
    progress_.bytes_done -= std::min(done, progress_.bytes_done);
  }
  void forget(const std::string& sha) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.partialForgotten(sha);
  }

  // Puts the staged (sealed) bodies of `streams` in place with one call to the DP (a file DP: one
  // flush of its volume for their bytes, the renames, one flush for the renames). Counts their
  // files as done. On failure, discards them all (the retry sends them again).
  Status installStaged(std::span<Stream> streams, const CallContext& ctx) {
    std::vector<transport::BodyUpload*> batch;
    for (Stream& stream : streams) {
      for (Staged& b : stream.staged) batch.push_back(b.upload.get());
    }
    if (batch.empty()) return Status::Ok();
    Status s = send_->install(batch, ctx).withContext("install the sent files on the DP");
    if (!s.ok()) {
      for (Stream& stream : streams) abortStaged(stream);
      return s;
    }
    crashPoint("job.installed");
    std::lock_guard<std::mutex> lock(mu_);
    for (Stream& stream : streams) {
      for (Staged& b : stream.staged) {
        b.upload.reset();
        if (b.checkpointed) events_.partialForgotten(b.sha256);
        progress_.files_done += b.files;
        // The bytes were counted as sent; count the duplicates of this body too.
        progress_.bytes_done += b.size * (b.files - 1);
      }
      stream.staged.clear();
      stream.staged_bytes = 0;
    }
    return Status::Ok();
  }

  // The context of a step the job still finishes once it was told to stop or pause (a checkpoint,
  // installing what it verified): the job's own while nothing was asked, else one that cannot be
  // stopped and ends in kWindDown.
  CallContext windDown() const {
    return cancel_.load() == CancelMode::None ? ctx_ : CallContext::finishing(kWindDown);
  }

  // Deletes the temporary files of a stream's staged bodies not installed yet.
  void abortStaged(Stream& stream) {
    for (Staged& b : stream.staged) {
      if (!b.upload) continue;
      b.upload->abort();
      if (b.checkpointed) forget(b.sha256);
    }
    stream.staged.clear();
    stream.staged_bytes = 0;
  }

  void maybeReport(bool force) {
    auto now = clock_.steadyNow();
    std::lock_guard<std::mutex> lock(mu_);
    if (force || now - last_report_ >= std::chrono::milliseconds(250)) {
      events_.progress(progress_);
      last_report_ = now;
    }
  }

  Result<JobOutcome> validate() {
    auto report = dp_.validate(job_.package_id, job_.version, ctx_);
    crashPoint("job.validated");
    JobOutcome out;
    if (!report.ok()) {
      if (report.status().code() != Status::Code::NotFound) return report.status();
      out.kind = JobOutcome::Kind::ValidationFailed;
      out.detail = fmt::format("content {} is not present on the DP",
                               content::contentId(job_.package_id, job_.version));
      PX_LOG_ERROR(log_, "Validation failed: {}; {}", out.detail, tag_);
      return out;
    }
    out.progress.files_total = out.progress.files_done = report->bodies_checked;
    out.progress.bytes_total = out.progress.bytes_done = report->bytes_checked;
    if (report->ok()) {
      out.kind = JobOutcome::Kind::Installed;
      PX_LOG_INFO(log_, "Validation succeeded: {} bodies, {} re-hashed on the DP, all match; {}",
                  report->bodies_checked, formatBytes(report->bytes_checked), tag_);
    } else {
      out.kind = JobOutcome::Kind::ValidationFailed;
      out.detail = report->describe(20);
      for (const auto& p : report->missing) {
        PX_LOG_ERROR(log_, "Validation: file {} ({}) is missing on the DP; {}", p.path, p.sha256,
                     tag_);
      }
      for (const auto& p : report->mismatched) {
        PX_LOG_ERROR(log_, "Validation: file {} ({}) does not match on the DP: {}; {}", p.path,
                     p.sha256, p.reason, tag_);
      }
      PX_LOG_ERROR(log_, "Validation failed: {}; {}", out.detail, tag_);
    }
    return out;
  }

  Result<JobOutcome> remove() {
    PKGXFER_ASSIGN_OR_RETURN(std::vector<std::uint64_t> versions,
                             dp_.listVersions(job_.package_id, ctx_));
    if (versions.empty()) {
      PX_LOG_INFO(log_, "Package {} has no content on the DP; nothing to remove; {}",
                  job_.package_id, tag_);
    }
    for (std::uint64_t v : versions) {
      Status s = dp_.removeContent(job_.package_id, v, ctx_);
      if (!s.ok() && s.code() != Status::Code::NotFound) return s;
      PX_LOG_INFO(log_,
                  "Removed content {} from the DP (manifest first, then the bodies no other "
                  "content uses); {}",
                  content::contentId(job_.package_id, v), tag_);
    }
    crashPoint("job.removed");
    // Every body of every version of the package the site holds (empty if the site's library
    // cannot be read: the sweeps are then left to the next send).
    auto site_versions = site_.listVersions(job_.package_id);
    const std::set<std::string> all =
        site_versions.ok() ? siteBodies(*site_versions) : std::set<std::string>{};
    // A removal interrupted (the service killed) between a manifest and its bodies left bodies no
    // manifest references, of a version the run after the restart no longer finds: those of the
    // versions not removed just now (whose bodies removeContent handled) go too.
    const std::set<std::string> handled = siteBodies(versions);
    std::vector<std::string> others;
    std::set_difference(all.begin(), all.end(), handled.begin(), handled.end(),
                        std::back_inserter(others));
    if (!others.empty()) {
      auto removed = dp_.removeBodies(others, ctx_);
      if (!removed.ok()) return removed.status().withContext("remove the package's bodies");
      if (*removed > 0) {
        PX_LOG_INFO(log_,
                    "Deleted {} body(ies) of the package that no content on the DP uses any "
                    "more (left by an interrupted removal); {}",
                    *removed, tag_);
      }
    }
    if (const std::vector<std::string> bodies(all.begin(), all.end()); !bodies.empty()) {
      // Uploads of the package that never finished (a body half-sent when the service was
      // killed, whose job the remove then cancelled) leave temporary files no job will resume:
      // none may remain (SPEC §3). This job holds the pair, so no upload of the package to the
      // DP runs.
      auto swept = dp_.discardLeftovers(job_.package_id, bodies, ctx_);
      if (!swept.ok()) return swept.status().withContext("delete leftover temporary files");
      if (*swept > 0) {
        PX_LOG_INFO(log_, "Deleted {} leftover temporary file(s) of unfinished uploads; {}", *swept,
                    tag_);
      }
    }
    JobOutcome out;
    out.kind = JobOutcome::Kind::Removed;
    return out;
  }

  // The bodies of these versions of the package, from the site's manifests (a version the site
  // no longer holds adds none).
  std::set<std::string> siteBodies(const std::vector<std::uint64_t>& versions) const {
    std::set<std::string> all;
    for (std::uint64_t v : versions) {
      auto manifest = site_.readManifest(job_.package_id, v);
      if (!manifest.ok()) continue;
      for (auto& sha : content::uniqueBodies(*manifest)) all.insert(std::move(sha));
    }
    return all;
  }

  const JobSpec& spec_;
  const store::TransferJob& job_;
  transport::Transport& dp_;
  content::ContentLibrary& site_;
  JobEvents& events_;
  const CancelFlag& cancel_;
  Clock& clock_;
  const Logger& log_;
  const std::string tag_;
  const transport::Priority priority_;
  const CallContext ctx_;  // every transport call of the job: a stop or a cancel reaches it
  std::unique_ptr<transport::ContentSend> send_;  // add, redistribute: the content on its way
  bool paused_ = false;
  std::optional<Clock::SystemTime> next_opening_;
  store::Progress progress_;
  std::uint64_t bytes_sent_ = 0;
  std::atomic<std::size_t> leftovers_{0};  // temporary files of earlier attempts deleted
  Clock::SteadyTime last_report_{};
  std::mutex mu_;  // guards progress_, bytes_sent_, paused_, next_opening_ and events_ calls
  std::atomic<bool> halt_{false};  // a stream failed or the window closed: every stream stops
};

}  // namespace

std::string jobTag(const store::TransferJob& job) {
  return fmt::format("job {}, {} v{}, priority {}, DP {}", job.id, job.package_id, job.version,
                     store::toString(job.priority), job.dp);
}

transport::Priority toTransportPriority(store::Priority priority) {
  switch (priority) {
    case store::Priority::High:
      return transport::Priority::High;
    case store::Priority::Medium:
      return transport::Priority::Medium;
    case store::Priority::Low:
      return transport::Priority::Low;
  }
  return transport::Priority::Low;
}

Result<JobOutcome> runJob(const JobSpec& spec, transport::Transport& dp,
                          content::ContentLibrary& site, JobEvents& events,
                          const CancelFlag& cancel, Clock& clock, const Logger& log) {
  try {
    Sender sender(spec, dp, site, events, cancel, clock, log);
    return sender.run();
  } catch (...) {
    return Status::Internal("uncaught exception in " + jobTag(spec.job) + ": " +
                            exceptionText(std::current_exception()));
  }
}

}  // namespace pkgxfer::pkgxfermgr
