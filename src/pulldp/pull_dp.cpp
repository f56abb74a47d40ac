// The pulldp component: notifications in, jobs queued in its own database, run on its own job
// pool, statuses out to the site (see pull_dp.h).

#include "pkgxfer/pulldp/pull_dp.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <future>
#include <map>
#include <set>
#include <stop_token>
#include <vector>

#include "pkgxfer/common/log.h"
#include "pkgxfer/common/units.h"
#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/host/blocking_pool.h"
#include "pkgxfer/host/poll_timer.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/pull_job_repository.h"
#include "pkgxfer/transport/pull_protocol.h"
#include "pull_job.h"

namespace pkgxfer::pulldp {
namespace {

using transport::pull::JobStatus;
using transport::pull::Notification;
using transport::pull::PullState;
using Steady = Clock::SteadyTime;
using std::chrono::milliseconds;

constexpr std::uint64_t kMaxNotificationBytes = 256ull << 20;  // a manifest's own cap
constexpr auto kHandlerWait = std::chrono::seconds(10);
constexpr std::size_t kMaxStatusBatch = 64;

std::string str(PullState s) { return std::string(transport::pull::toString(s)); }

PullState parseState(const std::string& s) {
  if (s == "downloading") return PullState::Downloading;
  if (s == "installed") return PullState::Installed;
  if (s == "failed") return PullState::Failed;
  return PullState::Queued;
}

bool retried(const Status& s) {
  switch (s.code()) {
    case Status::Code::InvalidArgument:
    case Status::Code::AlreadyExists:
    case Status::Code::Internal:
      return false;
    default:
      return true;
  }
}

std::string seconds(milliseconds d) { return formatDuration(d); }

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(host::ComponentContext ctx, std::shared_ptr<dp::DpHost> host, Options options,
       std::string token)
      : ctx_(std::move(ctx)),
        host_(std::move(host)),
        options_(std::move(options)),
        pull_(*ctx_.config.pulldp),
        dp_name_(ctx_.config.dp->name),
        jobs_pool_("pull jobs", pull_.max_concurrent_jobs, ctx_.logger),
        status_pool_("pull status", 1, ctx_.logger),
        sources_(sourceOptions()),
        site_(siteOptions(std::move(token))),
        timer_(
            ctx_.strand, options_.poll_interval, [] { return true; }, [this] { poll(); }) {}

  Status addRoutes() {
    std::weak_ptr<Core> weak = weak_from_this();
    http::RouteOptions post;
    post.requires_auth = true;
    post.max_body_bytes = kMaxNotificationBytes;
    PKGXFER_RETURN_IF_ERROR(host_->service().addRoute(
        "POST", "/v1/pull-jobs", post, [weak](http::Request& req, http::Response& res) {
          auto self = weak.lock();
          if (!self) return res.sendError(503, "the pull DP is not running");
          return self->handleNotification(req, res);
        }));
    http::RouteOptions get;
    get.requires_auth = true;
    return host_->service().addRoute("GET", "/v1/pull-jobs/{id}", get,
                                     [weak](http::Request& req, http::Response& res) {
                                       auto self = weak.lock();
                                       if (!self)
                                         return res.sendError(503, "the pull DP is not running");
                                       return self->handleGet(req, res);
                                     });
  }

  // On the strand.
  Status start() {
    const std::filesystem::path file =
        options_.database.empty() ? store::pullDpDatabasePath(ctx_.config.dp->content_library)
                                  : options_.database;
    store::DatabaseOptions db_options;
    db_options.schema = store::Schema::PullDp;
    auto db = store::Database::open(file, ctx_.clock, db_options);
    if (!db.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot open the pull DP's database: {}", db.status().toString());
      return db.status().withContext("pulldp: the database");
    }
    db_ = std::move(*db);
    repo_.emplace(*db_);
    auto runnable = repo_->listRunnable(1000000);
    auto unreported = repo_->listUnreported();
    if (!runnable.ok() || !unreported.ok()) {
      Status s = runnable.ok() ? unreported.status() : runnable.status();
      PX_LOG_ERROR(ctx_.logger, "Cannot read the pull DP's jobs: {}", s.toString());
      return s;
    }
    std::size_t downloading = 0;
    for (const auto& row : *runnable) downloading += row.progress.state == "downloading";
    for (const auto& row : *unreported) unreported_.insert({row.id, row.job_id});
    Status s = host_->start();
    if (!s.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Pull DP {} cannot serve its routes: {}", dp_name_, s.toString());
      return s;
    }
    accepting_ = true;
    PX_LOG_INFO(ctx_.logger,
                "Pull DP {} started: {} job(s) to run ({} queued, {} to resume), {} status "
                "message(s) to send; at most {} jobs at once; database {}; default status URL {}",
                dp_name_, runnable->size(), runnable->size() - downloading, downloading,
                unreported_.size(), pull_.max_concurrent_jobs, file.string(),
                pull_.site_status_url.empty() ? "(none)" : pull_.site_status_url);
    timer_.arm(milliseconds(0));
    return Status::Ok();
  }

  // On the strand.
  void stop(std::function<void()> done) {
    PX_LOG_INFO(ctx_.logger, "Pull DP {} stopping: {} job(s) running keep their resume points",
                dp_name_, running_.size());
    accepting_ = false;
    stopping_ = true;
    stop_done_ = std::move(done);
    for (auto& [id, job] : running_) job->stop.request_stop();
    status_stop_.request_stop();
    maybeFinishStop();
  }

  PullDpStats stats() const {
    PullDpStats s;
    s.polls = polls_.load();
    s.jobs_running = jobs_running_.load();
    s.max_jobs_running = max_jobs_running_.load();
    s.status_sent = status_sent_.load();
    s.status_failed = status_failed_.load();
    return s;
  }

 private:
  struct RunningJob {
    std::stop_source stop;
    std::vector<std::string> shas;
  };
  struct Link {  // one status URL's state
    int failures = 0;
    Steady next_attempt{};
  };
  struct Report {
    std::string url;
    JobStatus status;
  };
  struct Delivery {
    std::vector<std::pair<std::int64_t, std::uint64_t>> acked;  // job, sequence
    std::vector<std::pair<Report, Status>> failed;              // one per URL at most
    std::vector<std::pair<Report, Status>> refused;             // the site refused that message
    Steady done_at{};  // when the last POST ended: backoffs count from here
  };

  // The site answered, and refused this message for good (400 malformed or not its job's
  // package, 404 a job it does not know, 409): sending it again cannot help, and other jobs'
  // statuses to the same site must not wait behind it. A refused token (401/403), a busy or
  // failing site (408, 429, 5xx) or no answer concern every message: the URL backs off.
  static bool refusedForGood(const Status& s) {
    return s.code() == Status::Code::NotFound || s.code() == Status::Code::InvalidArgument ||
           s.code() == Status::Code::AlreadyExists;
  }

  http::ClientOptions sourceOptions() const {
    http::ClientOptions o;
    o.base_url = "http://unused";  // each client gets its origin
    o.connect_timeout = options_.connect_timeout;
    o.io_timeout = options_.io_timeout;
    return o;
  }
  http::ClientOptions siteOptions(std::string token) const {
    http::ClientOptions o;
    o.base_url = "http://unused";
    o.bearer_token = std::move(token);
    o.connect_timeout = std::min(options_.status_timeout, milliseconds(10000));
    o.io_timeout = options_.status_timeout;
    o.max_idle_connections = 2;
    return o;
  }

  // Runs `fn` on the strand and waits for its result (a handler thread of the DP server).
  template <typename T>
  Result<T> onStrand(std::function<Result<T>()> fn) {
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    boost::asio::post(ctx_.strand, [self = shared_from_this(), promise, fn = std::move(fn)] {
      promise->set_value(fn());
    });
    if (future.wait_for(kHandlerWait) != std::future_status::ready) {
      return Status::Unavailable("the pull DP is busy");
    }
    return future.get();
  }

  static Status sendStatus(http::Response& res, const Result<JobStatus>& status, int ok_code) {
    if (status.ok()) return res.send(ok_code, transport::pull::toJson(*status));
    const Status& s = status.status();
    switch (s.code()) {
      case Status::Code::NotFound:
        return res.sendError(404, s.message());
      case Status::Code::InvalidArgument:
        return res.sendError(400, s.message());
      case Status::Code::AlreadyExists:
        return res.sendError(409, s.message());
      case Status::Code::Unavailable:
      case Status::Code::Cancelled:
        (void)res.addHeader("Retry-After", "1");
        return res.sendError(503, s.message());
      default:
        return res.sendError(500, s.message());
    }
  }

  Status handleNotification(http::Request& req, http::Response& res) {
    auto body = req.readBody(kMaxNotificationBytes);
    if (!body.ok()) return body.status();
    auto notification = transport::pull::parseNotification(*body);
    if (!notification.ok()) {
      PX_LOG_WARN(ctx_.logger, "Refused a notification from {}: {}", req.peer(),
                  notification.status().message());
      return res.sendError(400, notification.status().message());
    }
    for (const auto& source : notification->sources) {
      if (auto url = splitUrl(source); !url.ok()) {
        return res.sendError(400, "notification: sources: " + url.status().message());
      }
    }
    if (!notification->status_url.empty()) {
      if (auto url = splitUrl(notification->status_url); !url.ok()) {
        return res.sendError(400, "notification: status_url: " + url.status().message());
      }
    }
    auto shared = std::make_shared<Notification>(std::move(*notification));
    auto text = std::make_shared<std::string>(std::move(*body));
    auto status = onStrand<JobStatus>(
        [this, shared, text, peer = req.peer()] { return accept(*shared, *text, peer); });
    return sendStatus(res, status, 202);
  }

  Status handleGet(http::Request& req, http::Response& res) {
    const std::string& id = req.param("id");
    std::int64_t job_id = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), job_id);
    if (ec != std::errc() || end != id.data() + id.size() || job_id <= 0) {
      return res.sendError(400, "a pull job id is a whole number >= 1, got \"" + id + "\"");
    }
    auto status = onStrand<JobStatus>([this, job_id]() -> Result<JobStatus> {
      if (!repo_) return Status::Unavailable("the pull DP is not running");
      PKGXFER_ASSIGN_OR_RETURN(store::PullJobRow row, repo_->find(job_id));
      return toStatus(row);
    });
    return sendStatus(res, status, 200);
  }

  JobStatus toStatus(const store::PullJobRow& row) const {
    JobStatus s;
    s.job_id = row.job_id;
    s.dp = row.dp;
    s.package_id = row.package_id;
    s.version = row.version;
    s.state = parseState(row.progress.state);
    s.sequence = row.sequence;
    s.bytes_total = row.progress.bytes_total;
    s.bytes_done = row.progress.bytes_done;
    s.files_total = row.progress.files_total;
    s.files_done = row.progress.files_done;
    s.error = row.progress.error;
    s.source = row.progress.source;
    return s;
  }

  // On the strand: records a notification (idempotent by job id).
  Result<JobStatus> accept(const Notification& n, const std::string& text,
                           const std::string& peer) {
    if (!accepting_ || !repo_) return Status::Unavailable("the pull DP is not running");
    store::NewPullJob job{n.job_id,           n.dp,           n.manifest.package_id,
                          n.manifest.version, n.redistribute, text};
    PKGXFER_ASSIGN_OR_RETURN(bool inserted, repo_->insert(job));
    PKGXFER_ASSIGN_OR_RETURN(store::PullJobRow row, repo_->find(n.job_id));
    if (!inserted) {
      if (row.package_id != n.manifest.package_id || row.version != n.manifest.version) {
        return Status::AlreadyExists("pull job " + std::to_string(n.job_id) + " is " +
                                     row.package_id + " v" + std::to_string(row.version) +
                                     ", not " + n.manifest.package_id + " v" +
                                     std::to_string(n.manifest.version));
      }
      PX_LOG_INFO(ctx_.logger,
                  "Notification of job {} ({} v{}) received again from {}: the job is {}", n.job_id,
                  n.manifest.package_id, n.manifest.version, peer, row.progress.state);
      return toStatus(row);
    }
    std::string sources;
    for (const auto& s : n.sources) sources += (sources.empty() ? "" : ", ") + s;
    PX_LOG_INFO(ctx_.logger,
                "Notification received from {}: job {}, {} v{} ({} files, {}){}, for DP {}; "
                "sources in order: {}; status to {}",
                peer, n.job_id, n.manifest.package_id, n.manifest.version, n.manifest.files.size(),
                formatBytes(n.manifest.total_bytes), n.redistribute ? ", redistribute" : "", n.dp,
                sources, statusUrlOf(n));
    if (!n.dp.empty() && n.dp != dp_name_) {
      PX_LOG_WARN(ctx_.logger, "Job {} names DP {}, but this DP is {} (dp.name)", n.job_id, n.dp,
                  dp_name_);
    }
    unreported_.insert({row.id, row.job_id});
    maybe_runnable_ = true;
    timer_.wakeNow();
    return toStatus(row);
  }

  std::string statusUrlOf(const Notification& n) const {
    return n.status_url.empty() ? pull_.site_status_url : n.status_url;
  }

  // ---- the poll: start jobs, send statuses ----

  void poll() {
    ++polls_;
    if (!stopping_) {
      startJobs();
      sendStatuses();
      prune();
    }
    timer_.arm();
  }

  // Forgets jobs that ended long ago and whose outcome the site has (at start, then hourly).
  void prune() {
    const Steady now = ctx_.clock.steadyNow();
    if (last_prune_ && now - *last_prune_ < std::chrono::hours(1)) return;
    last_prune_ = now;
    auto pruned = repo_->pruneFinished(ctx_.clock.systemNow() - options_.keep_finished_jobs);
    if (!pruned.ok()) {
      PX_LOG_WARN(ctx_.logger, "Cannot delete old jobs: {}", pruned.status().toString());
    } else if (*pruned > 0) {
      PX_LOG_INFO(ctx_.logger, "Deleted {} job(s) that ended more than {} ago", *pruned,
                  formatDuration(options_.keep_finished_jobs));
    }
  }

  void startJobs() {
    const auto max = static_cast<std::size_t>(pull_.max_concurrent_jobs);
    if (running_.size() >= max || !maybe_runnable_) return;
    const Steady now = ctx_.clock.steadyNow();
    bool waiting = false;  // a job waits for its retry time: look again later
    std::int64_t after = 0;
    while (running_.size() < max) {
      auto rows = repo_->listRunnable(256, after);
      if (!rows.ok()) {
        PX_LOG_ERROR(ctx_.logger, "Cannot read the queued jobs: {}", rows.status().toString());
        return;
      }
      if (rows->empty()) break;
      for (auto& row : *rows) {
        after = row.id;
        if (running_.size() >= max) break;
        if (running_.count(row.job_id)) continue;
        auto wait = not_before_.find(row.job_id);
        if (wait != not_before_.end()) {
          if (wait->second > now) {
            waiting = true;
            continue;
          }
          not_before_.erase(wait);
        }
        startJob(row);
      }
    }
    // Nothing left to start until a job ends, a notification arrives or a retry comes due.
    maybe_runnable_ = waiting || running_.size() >= max;
  }

  void startJob(store::PullJobRow row) {
    auto notification = transport::pull::parseNotification(row.notification);
    if (!notification.ok()) {
      finish(row.job_id,
             Status::Internal("stored notification: " + notification.status().message()), {}, 0);
      return;
    }
    auto attempts = repo_->addAttempt(row.job_id);
    auto partials = repo_->partials(row.job_id);
    if (!attempts.ok() || !partials.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot start job {}: {}", row.job_id,
                   (attempts.ok() ? partials.status() : attempts.status()).toString());
      return;
    }
    auto setup = std::make_shared<JobSetup>();
    setup->job_id = row.job_id;
    setup->notification = std::move(*notification);
    for (auto& p : *partials) setup->resume[p.sha256] = p;
    const bool resumed = row.progress.state == "downloading";
    PX_LOG_INFO(
        ctx_.logger, "{} job {}: {} v{} (attempt {} of {}{})", resumed ? "Resuming" : "Starting",
        row.job_id, row.package_id, row.version, *attempts, options_.max_attempts,
        partials->empty() ? "" : ", " + std::to_string(partials->size()) + " resume point(s)");
    if (!resumed) {
      row.progress.state = str(PullState::Downloading);
      setProgress(row.job_id, row.progress, true);
    }
    auto job = std::make_shared<RunningJob>();
    for (const auto& f : setup->notification.manifest.files) job->shas.push_back(f.sha256);
    running_[row.job_id] = job;
    jobs_running_ = running_.size();
    max_jobs_running_ = std::max<std::uint64_t>(max_jobs_running_.load(), running_.size());
    const int attempt = *attempts;

    boost::asio::post(jobs_pool_.get_executor(), [self = shared_from_this(), setup, job, attempt] {
      self->runJob(setup, job, attempt);
    });
  }

  // On a job thread.
  void runJob(std::shared_ptr<JobSetup> setup, std::shared_ptr<RunningJob> job, int attempt) {
    auto self = shared_from_this();
    const std::int64_t id = setup->job_id;
    JobEvents events;
    events.progress = [self, id](const JobProgress& p) {
      boost::asio::post(self->ctx_.strand, [self, id, p] { self->onProgress(id, p); });
    };
    events.partial = [self, id](const store::PullPartial& p) {
      boost::asio::post(self->ctx_.strand, [self, id, p] {
        if (self->repo_) (void)self->repo_->savePartial(id, p);
      });
    };
    events.partial_gone = [self, id](const std::string& sha) {
      boost::asio::post(self->ctx_.strand, [self, id, sha] {
        if (self->repo_) (void)self->repo_->forgetPartial(id, sha);
      });
    };
    JobOptions options;
    options.checkpoint_bytes = options_.checkpoint_bytes;
    options.checkpoint_interval = options_.checkpoint_interval;
    CallContext ctx;
    ctx.stop = job->stop.get_token();
    Status result;
    const Steady started = ctx_.clock.steadyNow();
    try {
      result = runPullJob(host_->library(), sources_, *setup, events, options, ctx_.clock,
                          ctx_.logger, ctx);
    } catch (...) {
      result = Status::Internal("uncaught exception in pull job " + std::to_string(id) + ": " +
                                exceptionText(std::current_exception()));
    }
    const auto took = std::chrono::duration_cast<milliseconds>(ctx_.clock.steadyNow() - started);
    boost::asio::post(ctx_.strand, [self, id, result, attempt, took] {
      self->finish(id, result, {}, attempt, took);
    });
  }

  void onProgress(std::int64_t id, const JobProgress& p) {
    if (!repo_ || !running_.count(id)) return;
    auto row = repo_->find(id);
    if (!row.ok()) return;
    store::PullJobProgress progress = row->progress;
    progress.bytes_total = p.bytes_total;
    progress.bytes_done = p.bytes_done;
    progress.files_total = p.files_total;
    progress.files_done = p.files_done;
    progress.source = p.source;
    // Reported at most every progress_interval; always recorded (GET answers it).
    const Steady now = ctx_.clock.steadyNow();
    auto last = last_report_.find(id);
    const bool report =
        last == last_report_.end() || now - last->second >= options_.progress_interval;
    setProgress(id, progress, report);
  }

  void setProgress(std::int64_t id, const store::PullJobProgress& progress, bool report) {
    auto sequence = repo_->update(id, progress, report);
    if (!sequence.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot record the state of job {}: {}", id,
                   sequence.status().toString());
      return;
    }
    if (report) {
      last_report_[id] = ctx_.clock.steadyNow();
      auto row = repo_->find(id);
      if (row.ok()) unreported_.insert({row->id, id});
    }
  }

  // On the strand: a job attempt ended.
  void finish(std::int64_t id, const Status& result, const JobProgress&, int attempt,
              milliseconds took = milliseconds(0)) {
    auto it = running_.find(id);
    std::vector<std::string> shas;
    if (it != running_.end()) {
      shas = std::move(it->second->shas);
      running_.erase(it);
    }
    jobs_running_ = running_.size();
    maybe_runnable_ = true;
    auto row = repo_ ? repo_->find(id) : Result<store::PullJobRow>(Status::Unavailable("closed"));
    if (!row.ok()) {
      maybeFinishStop();
      return;
    }
    store::PullJobProgress progress = row->progress;
    const std::string label =
        "job " + std::to_string(id) + ", " + row->package_id + " v" + std::to_string(row->version);
    if (result.ok()) {
      progress.state = str(PullState::Installed);
      progress.error.clear();
      progress.bytes_done = progress.bytes_total;
      progress.files_done = progress.files_total;
      setProgress(id, progress, true);
      (void)repo_->forgetPartials(id);
      last_report_.erase(id);
      const double secs = std::max(0.001, took.count() / 1000.0);
      PX_LOG_INFO(ctx_.logger,
                  "Job {} done: {} v{} installed ({} files, {} downloaded in {:.1f} s); {}", id,
                  row->package_id, row->version, progress.files_total,
                  formatBytes(progress.bytes_total), secs, label);
    } else if (result.code() == Status::Code::Cancelled && stopping_) {
      PX_LOG_INFO(ctx_.logger, "Job {} interrupted by the stop; it resumes at the next start; {}",
                  id, label);
    } else if (retried(result) && attempt < options_.max_attempts) {
      const milliseconds delay =
          backoffDelay(attempt, options_.job_retry_initial, options_.job_retry_max);
      not_before_[id] = ctx_.clock.steadyNow() + delay;
      progress.error = result.toString();
      setProgress(id, progress, true);
      PX_LOG_WARN(ctx_.logger,
                  "Job {} attempt {} of {} failed: {}; next attempt in {} (resume points kept); {}",
                  id, attempt, options_.max_attempts, result.toString(), seconds(delay), label);
    } else {
      progress.state = str(PullState::Failed);
      progress.error = result.toString();
      setProgress(id, progress, true);
      (void)repo_->forgetPartials(id);
      last_report_.erase(id);
      PX_LOG_ERROR(ctx_.logger, "Job {} failed after {} attempt(s): {}; {}", id, attempt,
                   result.toString(), label);
      // Its unfinished downloads will never be resumed.
      if (!shas.empty() && !stopping_) {
        boost::asio::post(jobs_pool_.get_executor(), [self = shared_from_this(), shas, id] {
          auto n = self->host_->library().discardUploads(shas, uploadOwner(id));
          if (!n.ok()) {
            PX_LOG_WARN(self->ctx_.logger, "Cannot delete the unfinished downloads of job {}: {}",
                        id, n.status().toString());
          }
        });
      }
    }
    maybeFinishStop();
  }

  // ---- status messages ----

  void sendStatuses() {
    if (reporting_ || unreported_.empty()) return;
    const Steady now = ctx_.clock.steadyNow();
    std::vector<Report> batch;
    std::set<std::string> skipped;  // URLs waiting for their backoff
    for (auto it = unreported_.begin();
         it != unreported_.end() && batch.size() < kMaxStatusBatch;) {
      // A job whose URL waits for its backoff costs no read (a site down for hours while
      // thousands of statuses wait).
      auto known = status_urls_.find(it->second);
      if (known != status_urls_.end()) {
        if (skipped.count(known->second)) {
          ++it;
          continue;
        }
        const Link& link = links_[known->second];
        if (link.failures > 0 && link.next_attempt > now) {
          skipped.insert(known->second);
          ++it;
          continue;
        }
      }
      auto row = repo_->find(it->second);
      if (!row.ok() || row->sequence <= row->acked_sequence) {
        it = unreported_.erase(it);
        continue;
      }
      ++it;
      std::string url = statusUrlOf(*row);
      if (skipped.count(url)) continue;
      Link& link = links_[url];
      if (link.failures > 0 && link.next_attempt > now) {
        skipped.insert(url);
        continue;
      }
      batch.push_back({std::move(url), toStatus(*row)});
    }
    if (batch.empty()) return;
    reporting_ = true;
    boost::asio::post(
        status_pool_.get_executor(), [self = shared_from_this(), batch = std::move(batch)] {
          Delivery d = self->deliver(batch);
          boost::asio::post(self->ctx_.strand, [self, d = std::move(d)] { self->onDelivered(d); });
        });
  }

  std::string statusUrlOf(const store::PullJobRow& row) {
    auto it = status_urls_.find(row.job_id);
    if (it != status_urls_.end()) return it->second;
    auto n = transport::pull::parseNotification(row.notification);
    std::string url = n.ok() ? statusUrlOf(*n) : pull_.site_status_url;
    status_urls_[row.job_id] = url;
    return url;
  }

  // On the status thread: POSTs each report; after a failure, nothing more to that URL.
  Delivery deliver(const std::vector<Report>& batch) {
    Delivery d;
    std::set<std::string> down;
    for (const Report& r : batch) {
      if (down.count(r.url)) continue;
      Status s = post(r);
      if (s.ok()) {
        d.acked.push_back({r.status.job_id, r.status.sequence});  // counted by onDelivered()
      } else {
        if (s.code() == Status::Code::Cancelled) break;
        if (refusedForGood(s)) {
          d.refused.push_back({r, s});
          continue;
        }
        down.insert(r.url);
        d.failed.push_back({r, s});
      }
    }
    d.done_at = ctx_.clock.steadyNow();
    return d;
  }

  Status post(const Report& r) {
    if (r.url.empty()) {
      return Status::InvalidArgument(
          "no status URL: the notification has none and pulldp.site_status_url is not set");
    }
    PKGXFER_ASSIGN_OR_RETURN(SplitUrl url, splitUrl(r.url));
    PKGXFER_ASSIGN_OR_RETURN(http::Client * client, site_.get(url.origin));
    CallContext ctx;
    ctx.stop = status_stop_.get_token();
    http::ClientRequest request;
    request.method = "POST";
    request.target = url.path + "/v1/status";
    request.content_type = "application/json";
    request.body = transport::pull::toJson(r.status);
    PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse response,
                             client->request(ctx.within(options_.status_timeout), request));
    return http::responseStatus(response);
  }

  void onDelivered(const Delivery& d) {
    reporting_ = false;
    if (repo_) {
      for (const auto& [job, sequence] : d.acked) {
        (void)repo_->acknowledge(job, sequence);
        auto row = repo_->find(job);
        if (!row.ok()) continue;
        const std::string url = statusUrlOf(*row);
        Link& link = links_[url];
        if (link.failures > 0) {
          PX_LOG_INFO(ctx_.logger,
                      "The site's status URL {} takes status messages again after {} "
                      "failed attempt(s)",
                      url, link.failures);
          link.failures = 0;
        }
        PX_LOG_INFO(ctx_.logger,
                    "Status sent to {}: job {}, {} v{} {}, sequence {}, {}/{} files, {}/{}{}", url,
                    job, row->package_id, row->version, row->progress.state, sequence,
                    row->progress.files_done, row->progress.files_total,
                    formatBytes(row->progress.bytes_done), formatBytes(row->progress.bytes_total),
                    row->progress.error.empty() ? "" : ", error: " + row->progress.error);
        if (row->sequence <= sequence) unreported_.erase({row->id, job});
      }
    }
    // Counted once handled and logged: whoever reads the stats then finds the log lines too.
    status_sent_ += d.acked.size();
    for (const auto& [report, status] : d.refused) {
      if (!repo_) break;
      (void)repo_->acknowledge(report.status.job_id, report.status.sequence);
      auto row = repo_->find(report.status.job_id);
      if (row.ok() && row->sequence <= report.status.sequence) {
        unreported_.erase({row->id, report.status.job_id});
      }
      PX_LOG_ERROR(ctx_.logger,
                   "The site at {} refused the status of job {} ({}, sequence {}): {}; it is not "
                   "sent again (a later status of the job is)",
                   report.url, report.status.job_id, str(report.status.state),
                   report.status.sequence, status.toString());
    }
    for (const auto& [report, status] : d.failed) {
      Link& link = links_[report.url];
      ++link.failures;
      const milliseconds delay =
          backoffDelay(link.failures, options_.status_retry_initial, options_.status_retry_max);
      link.next_attempt = d.done_at + delay;
      // One line per attempt: the backoff bounds how many.
      PX_LOG_WARN(ctx_.logger,
                  "Cannot send the status of job {} ({}, sequence {}) to {} (attempt "
                  "{}): {}; next attempt in {}",
                  report.status.job_id, str(report.status.state), report.status.sequence,
                  report.url, link.failures, status.toString(), seconds(delay));
    }
    // Counted once handled and logged (as status_sent_ above).
    status_failed_ += d.failed.size() + d.refused.size();
    maybeFinishStop();
  }

  // ---- stop ----

  void maybeFinishStop() {
    if (!stopping_ || !stop_done_ || !running_.empty() || reporting_) return;
    timer_.cancel();
    auto done = std::move(stop_done_);
    stop_done_ = nullptr;
    // The pools are idle: their threads end at once.
    jobs_pool_.stop();
    status_pool_.stop();
    repo_.reset();
    db_.reset();
    PX_LOG_INFO(ctx_.logger, "Pull DP {} stopped", dp_name_);
    host_->stop(std::move(done));
  }

  host::ComponentContext ctx_;
  std::shared_ptr<dp::DpHost> host_;
  const Options options_;
  const config::PullDpConfig pull_;
  const std::string dp_name_;
  host::BlockingPool jobs_pool_;
  host::BlockingPool status_pool_;
  ClientCache sources_;
  ClientCache site_;
  std::stop_source status_stop_;

  // On the strand.
  host::PollTimer timer_;
  std::unique_ptr<store::Database> db_;
  std::optional<store::PullJobRepository> repo_;
  bool accepting_ = false;
  bool stopping_ = false;
  std::function<void()> stop_done_;
  bool maybe_runnable_ = true;
  std::map<std::int64_t, std::shared_ptr<RunningJob>> running_;
  std::map<std::int64_t, Steady> not_before_;                   // a failed attempt's retry time
  std::map<std::int64_t, Steady> last_report_;                  // progress throttle
  std::set<std::pair<std::int64_t, std::int64_t>> unreported_;  // (arrival, job id)
  std::map<std::int64_t, std::string> status_urls_;
  std::map<std::string, Link> links_;
  bool reporting_ = false;
  std::optional<Steady> last_prune_;

  std::atomic<std::uint64_t> polls_{0};
  std::atomic<std::uint64_t> jobs_running_{0};
  std::atomic<std::uint64_t> max_jobs_running_{0};
  std::atomic<std::uint64_t> status_sent_{0};
  std::atomic<std::uint64_t> status_failed_{0};
};

class PullDp final : public PullDistributionPoint {
 public:
  explicit PullDp(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~PullDp() override = default;
  std::string_view name() const override { return "pulldp"; }
  Status start() override { return core_->start(); }
  void stop(std::function<void()> done) override { core_->stop(std::move(done)); }
  PullDpStats stats() const override { return core_->stats(); }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

milliseconds backoffDelay(int failures, milliseconds initial, milliseconds max) {
  if (failures < 1) failures = 1;
  milliseconds d = initial;
  for (int i = 1; i < failures && d < max; ++i) d *= 2;
  return std::min(d, max);
}

Result<std::unique_ptr<PullDistributionPoint>> openPullDistributionPoint(
    host::ComponentContext ctx, std::shared_ptr<dp::DpHost> host, Options options) {
  if (!ctx.config.dp) return Status::InvalidArgument("pulldp: the config has no \"dp\" block");
  if (!ctx.config.pulldp) {
    return Status::InvalidArgument("pulldp: the config has no \"pulldp\" block");
  }
  auto token = fs::readTokenFile(fs::FileSystem::local(), ctx.config.dp->token_file);
  if (!token.ok()) return token.status().withContext("pulldp: the site's token (dp.token_file)");
  if (options.max_attempts < 1) options.max_attempts = 1;
  auto core = std::make_shared<Core>(std::move(ctx), std::move(host), std::move(options),
                                     std::move(*token));
  PKGXFER_RETURN_IF_ERROR(core->addRoutes().withContext("pulldp: routes"));
  return std::unique_ptr<PullDistributionPoint>(std::make_unique<PullDp>(std::move(core)));
}

Result<host::ComponentPtr> makePullDistributionPoint(host::ComponentContext ctx,
                                                     std::shared_ptr<dp::DpHost> host,
                                                     Options options) {
  PKGXFER_ASSIGN_OR_RETURN(
      std::unique_ptr<PullDistributionPoint> c,
      openPullDistributionPoint(std::move(ctx), std::move(host), std::move(options)));
  return host::ComponentPtr(std::move(c));
}

}  // namespace pkgxfer::pulldp
