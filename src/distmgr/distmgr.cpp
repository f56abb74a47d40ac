#include "pkgxfer/distmgr/distmgr.h"

#include <boost/asio/post.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>

#include "pkgxfer/common/crash_point.h"
#include "pkgxfer/common/units.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/distribution/pair_states.h"
#include "pkgxfer/host/poll_timer.h"
#include "pkgxfer/platform/file_watch.h"
#include "pkgxfer/store/change_watch.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/package_repository.h"
#include "pkgxfer/store/request_repository.h"
#include "pkgxfer/store/status_message_repository.h"
#include "pkgxfer/store/transfer_job_repository.h"

namespace pkgxfer::distmgr {
namespace {

namespace asio = boost::asio;
using store::DistributionState;
using store::JobAction;
using store::JobState;
using store::RequestKind;

// What a preliminary check of one DP found (computed on the blocking pool).
struct CheckResult {
  Status status;  // not OK: the check failed (the cause)
  transport::ProbeResult probe;
  bool has_content = false;  // the DP already holds this exact content version
  // has_content, found by the fast path: the DP's manifest is byte-identical to the site's, so
  // neither was parsed and the DP's FileLib was not listed (the counts below are zero).
  bool identical_manifest = false;
  std::size_t missing_files = 0;
  std::uint64_t missing_bytes = 0;  // what the job will send
  std::size_t present_files = 0;
  std::uint64_t present_bytes = 0;
  store::Progress full;  // the content's totals
};

// One distribution being checked: the pair and what to do once the check passes.
struct Pending {
  std::string package_id;
  std::string dp;
  int version = 0;
  JobAction action = JobAction::Add;
  store::Priority priority = store::Priority::Medium;
  std::int64_t resume_from_job = 0;  // a failed job whose partial bodies the new job takes over
  std::uint64_t generation = 0;
  // The version's file count and bytes from the site database, for the no-op fast path (which
  // parses no manifest); unset if they could not be read, and the full check runs.
  std::optional<store::Progress> totals = std::nullopt;
  // The site records content on the DP: its library root must be the one the site initialised
  // (transport::ProbeOptions::expect_initialised). Set when the check starts.
  bool dp_holds_content = false;
};

class DistributionManager final : public host::Component {
 public:
  DistributionManager(host::ComponentContext ctx, Options options)
      : ctx_(std::move(ctx)),
        options_(std::move(options)),
        timer_(
            ctx_.strand, options_.wake_interval, [this] { return watch_->due(); },
            [this] { poll(); }) {}

  std::string_view name() const override { return "distmgr"; }

  Status start() override {
    PKGXFER_ASSIGN_OR_RETURN(db_, store::Database::open(options_.database, ctx_.clock));
    watch_ = std::make_unique<store::ChangeWatch>(*db_, options_.poll_interval);
    requests_ = std::make_unique<store::RequestRepository>(*db_);
    states_ = std::make_unique<distribution::PairStates>(*db_, ctx_.config.distribution, ctx_.clock,
                                                         ctx_.logger);
    jobs_ = std::make_unique<store::TransferJobRepository>(*db_);
    packages_ = std::make_unique<store::PackageRepository>(*db_);
    status_messages_ = std::make_unique<store::StatusMessageRepository>(*db_);
    // The status receiver (or pkgxfermgr, for what a check on a pull DP found) recorded status
    // messages: applied at once. What was recorded while we were down is applied at the first poll.
    status_subscription_ =
        ctx_.signals.subscribe(host::Signals::Topic::StatusMessages, [this] { timer_.wakeNow(); });
    PKGXFER_ASSIGN_OR_RETURN(site_, content::ContentLibrary::open(options_.site_library));
    PKGXFER_ASSIGN_OR_RETURN(int released, requests_->releaseTaken());
    const auto& d = ctx_.config.distribution;
    PX_LOG_INFO(ctx_.logger,
                "Distribution Manager starting: {} DP(s) configured, retries {} every {}; {} "
                "request(s) left taken by a previous run queued again",
                ctx_.config.distribution_points.size(), d.retry_count,
                formatDuration(d.retry_delay), released);
    // Every writer of the site database appends to its write-ahead log: a change there (the CLI
    // queued a request) wakes the poll at once, and the timer need not wake to look.
    const std::filesystem::path wal = options_.database.string() + "-wal";
    auto file_watch = platform::watchFile(ctx_.strand, wal, [this] {
      if (!stopping_) timer_.nudge();
    });
    if (file_watch.ok()) {
      file_watch_ = std::move(*file_watch);
    } else {
      PX_LOG_INFO(ctx_.logger, "{}; checking the site database for requests every {}",
                  file_watch.status().message(), formatDuration(options_.wake_interval));
    }
    asio::post(ctx_.strand, [this] {
      auto moved = reconcile();
      if (!moved.ok()) {
        PX_LOG_ERROR(ctx_.logger, "Cannot reconcile the distributions left by the previous run: {}",
                     moved.status().toString());
      } else if (*moved > 0) {
        PX_LOG_INFO(ctx_.logger, "{} distribution(s) left unfinished by the previous run moved on",
                    *moved);
      }
      poll();
    });
    return Status::Ok();
  }

  void stop(std::function<void()> done) override {
    stopping_ = true;
    ctx_.signals.unsubscribe(status_subscription_);
    if (file_watch_) file_watch_->cancel();
    timer_.cancel();
    stop_.request_stop();  // checks waiting on a DP end now
    PX_LOG_INFO(ctx_.logger, "Distribution Manager stopping ({} check(s) in progress)", in_flight_);
    if (in_flight_ == 0) {
      done();
    } else {
      stop_done_ = std::move(done);
    }
  }

 private:
  static std::string pairKey(std::string_view pkg, std::string_view dp) {
    return std::string(pkg) + "\n" + std::string(dp);
  }

  void logIfError(const Status& s, std::string_view what) {
    if (!s.ok()) PX_LOG_ERROR(ctx_.logger, "Cannot {}: {}", what, s.toString());
  }

  // The next wake-up; poll() runs then if another connection committed since the last poll or
  // the watch's period passed (watch_). With the file watch, changes wake the poll themselves, so
  // the timer only wakes for the time-based work (retries) or, idle, as a safety net; without it,
  // every wake_interval.
  void arm() {
    if (stopping_) return;
    const auto due_by_time = retrying_ ? options_.poll_interval : kIdlePeriod;
    timer_.arm(file_watch_ ? due_by_time : std::min(options_.wake_interval, due_by_time));
  }

  void poll() {
    if (stopping_) return;
    watch_->reading();
    constexpr int kBatch = 64;
    auto requests = requests_->claimPending(kBatch);
    bool more = false;  // a full batch: more requests may wait
    if (!requests.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot read the request queue: {}", requests.status().toString());
    } else {
      for (const auto& r : *requests) handleRequest(r);
      more = requests->size() == static_cast<std::size_t>(kBatch);
    }
    more = applyStatusMessages() || more;
    auto due = states_->repository().listDueRetries(ctx_.clock.systemNow());
    if (!due.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot read the retries: {}", due.status().toString());
    } else {
      for (const auto& row : *due) handleRetry(row);
    }
    // Retries are due by time, so poll every poll_interval while any is pending; otherwise only
    // what other connections write (the CLI's requests, pkgxfermgr's results) wakes the poll,
    // and an idle site costs one cheap PRAGMA per wake.
    auto retrying = states_->repository().anyRetrying();
    retrying_ = !retrying.ok() || *retrying;
    watch_->setPeriod(retrying_ ? options_.poll_interval : kIdlePeriod);
    signalJobs();
    if (more) {
      // The rest of the queue now (our own claims do not move data_version).
      asio::post(ctx_.strand, [this] { poll(); });
      return;
    }
    arm();
  }

  // Tells pkgxfermgr (in this process) that jobs changed, once they are committed.
  void signalJobs() {
    if (!jobs_changed_) return;
    jobs_changed_ = false;
    ctx_.signals.notify(host::Signals::Topic::TransferJobs);
  }

  void reject(const store::RequestRow& r, const std::string& why) {
    PX_LOG_ERROR(ctx_.logger, "Request {} ({} {} to {}) rejected: {}", r.id,
                 store::toString(r.kind), r.package_id, r.dp, why);
    logIfError(requests_->reject(r.id, why), "reject a request");
  }

  // Unfinished jobs of the pair (queued, running, paused).
  std::vector<store::TransferJob> unfinishedJobs(std::string_view pkg, std::string_view dp) {
    store::TransferJobFilter f;
    f.package_id = std::string(pkg);
    f.dp = std::string(dp);
    f.states = {JobState::Queued, JobState::Running, JobState::Paused};
    auto jobs = jobs_->list(f);
    return jobs.ok() ? *jobs : std::vector<store::TransferJob>{};
  }

  std::optional<store::TransferJob> lastJob(std::string_view pkg, std::string_view dp) {
    store::TransferJobFilter f;
    f.package_id = std::string(pkg);
    f.dp = std::string(dp);
    auto jobs = jobs_->list(f);
    if (!jobs.ok() || jobs->empty()) return std::nullopt;
    return jobs->back();
  }

  void cancelJob(const store::TransferJob& job, std::string_view why) {
    jobs_changed_ = true;
    logIfError(jobs_->setState(job.id, JobState::Cancelled, why), "cancel a job");
    PX_LOG_INFO(ctx_.logger, "Cancelled transfer job {} ({} v{} to {}): {}", job.id, job.package_id,
                job.version, job.dp, why);
  }

  void handleRequest(const store::RequestRow& r) {
    PX_LOG_INFO(ctx_.logger, "Found request {}: {} package {} to DP {}", r.id,
                store::toString(r.kind), r.package_id, r.dp);
    crashPoint("distmgr.request-taken");
    const config::DistributionPointConfig* dp = ctx_.config.findDp(r.dp);
    if (dp == nullptr) return reject(r, "DP " + r.dp + " is not in the configuration");
    auto package = packages_->get(r.package_id);
    if (!package.ok()) return reject(r, package.status().message());
    if (package->current_version < 1) {
      return reject(r, "package " + r.package_id + " has no content");
    }
    const int latest = package->current_version;

    switch (r.kind) {
      case RequestKind::Distribute:
      case RequestKind::Redistribute: {
        const bool redistribute = r.kind == RequestKind::Redistribute;
        for (const auto& job : unfinishedJobs(r.package_id, r.dp)) {
          if (job.version < latest) continue;  // superseded below
          if (!redistribute && job.version == latest && job.action != JobAction::Remove &&
              job.action != JobAction::Validate) {
            PX_LOG_INFO(ctx_.logger,
                        "Package {} v{} is already being distributed to {} (job {}); request {} "
                        "needs nothing more",
                        r.package_id, latest, r.dp, job.id, r.id);
            logIfError(requests_->complete(r.id), "complete a request");
            return;
          }
          cancelJob(job, "replaced by request " + std::to_string(r.id));
        }
        auto superseded = jobs_->supersedeOlder(r.package_id, r.dp, latest);
        if (superseded.ok() && !superseded->empty()) jobs_changed_ = true;
        if (superseded.ok()) {
          for (std::int64_t id : *superseded) {
            PX_LOG_INFO(ctx_.logger,
                        "Transfer job {} for an older version of {} to {} is superseded by "
                        "version {}",
                        id, r.package_id, r.dp, latest);
          }
        }
        const JobAction action = redistribute ? JobAction::Redistribute : JobAction::Add;
        {
          // The pair in checking and the request done together. A crash before the check's
          // verdict leaves the pair checking with no check running: start() runs it again.
          auto tx = beginTransaction();
          if (auto s = states_->request(r.package_id, r.dp, action, latest); !s.ok()) {
            if (tx) tx->rollback();
            return reject(r, s.status().message());
          }
          logIfError(requests_->complete(r.id), "complete a request");
          commit(tx);
        }
        Pending p{r.package_id,
                  r.dp,
                  latest,
                  action,
                  package->priority,
                  0,
                  ++generation_[pairKey(r.package_id, r.dp)]};
        if (dp->type == config::DpType::Pull) return startPull(p);
        runChecks(std::move(p), *dp);
        return;
      }
      case RequestKind::Validate: {
        auto tx = beginTransaction();
        auto version = states_->request(r.package_id, r.dp, JobAction::Validate, latest);
        if (!version.ok()) {
          if (tx) tx->rollback();
          return reject(r, version.status().message());
        }
        ++generation_[pairKey(r.package_id, r.dp)];
        createJob({r.package_id, r.dp, *version, JobAction::Validate, package->priority, 0, 0});
        logIfError(requests_->complete(r.id), "complete a request");
        commit(tx);
        crashPoint("distmgr.job-created");
        return;
      }
      case RequestKind::Remove: {
        for (const auto& job : unfinishedJobs(r.package_id, r.dp)) {
          cancelJob(job, "the package is being removed from the DP (request " +
                             std::to_string(r.id) + ")");
        }
        auto tx = beginTransaction();
        auto version = states_->request(r.package_id, r.dp, JobAction::Remove, latest);
        if (!version.ok()) {
          if (tx) tx->rollback();
          return reject(r, version.status().message());
        }
        ++generation_[pairKey(r.package_id, r.dp)];
        createJob({r.package_id, r.dp, *version, JobAction::Remove, package->priority, 0, 0});
        logIfError(requests_->complete(r.id), "complete a request");
        commit(tx);
        crashPoint("distmgr.job-created");
        return;
      }
    }
  }

  void handleRetry(const store::DistributionRow& row) {
    if (checking_.count(pairKey(row.package_id, row.dp))) return;
    PX_LOG_INFO(ctx_.logger, "Retrying {} of package {} v{} to {} (attempt {} failed: {})",
                store::toString(row.action), row.package_id, row.version, row.dp, row.attempts,
                row.last_error);
    restart(row);
  }

  // A pair a previous run left in a state that only a live check or job explains (checking,
  // waiting, transferring, verifying, removing) moves on: a job that finished has its result
  // recorded, anything else starts again where it stood (its resume points kept). Without this
  // a kill -9 during a preliminary check, or between a job's end and its pair's update, would
  // leave the pair in that state forever. Runs at start(), before the first poll: no check of
  // this run is in flight yet. Returns how many pairs moved on.
  Result<int> reconcile() {
    store::TransferJobFilter unfinished;
    unfinished.states = {JobState::Queued, JobState::Running, JobState::Paused};
    PKGXFER_ASSIGN_OR_RETURN(auto live_jobs, jobs_->list(unfinished));
    std::set<std::string> live;
    for (const auto& job : live_jobs) live.insert(pairKey(job.package_id, job.dp));
    PKGXFER_ASSIGN_OR_RETURN(auto rows, states_->repository().list());
    int moved = 0;
    for (const auto& row : rows) {
      if (!distribution::needsLiveWork(row.state)) continue;
      if (live.contains(pairKey(row.package_id, row.dp))) continue;
      ++moved;
      auto last = lastJob(row.package_id, row.dp);
      const bool done = last && last->state == JobState::Done && last->version == row.version &&
                        last->action == row.action;
      if (done) {
        const bool removed = row.action == JobAction::Remove;
        PX_LOG_INFO(ctx_.logger,
                    "Transfer job {} ({} package {} v{} to {}) finished, but the service stopped "
                    "before its result was recorded; the distribution is {}",
                    last->id, store::toString(row.action), row.package_id, row.version, row.dp,
                    removed ? "removed" : "installed");
        logIfError(removed ? states_->removed(row.package_id, row.dp)
                           : states_->installed(row.package_id, row.dp),
                   "record the state");
        continue;
      }
      PX_LOG_INFO(ctx_.logger,
                  "{} of package {} v{} to {} was left {} by the previous run with nothing "
                  "working on it; starting it again",
                  store::toString(row.action), row.package_id, row.version, row.dp,
                  store::toString(row.state));
      restart(row);
    }
    return moved;
  }

  // Runs the pair's distribution (row.action of row.version) again: a new check, or for a
  // validate or a remove a new job. A failed job of that version hands its resume points over.
  void restart(const store::DistributionRow& row) {
    const std::string key = pairKey(row.package_id, row.dp);
    const config::DistributionPointConfig* dp = ctx_.config.findDp(row.dp);
    auto last = lastJob(row.package_id, row.dp);
    // The pair's own record of what was asked: when a preliminary check failed, no job exists
    // that could say it was a redistribute.
    const JobAction action = row.action;
    auto package = packages_->get(row.package_id);
    store::Priority priority = package.ok() ? package->priority : store::Priority::Medium;
    if (dp == nullptr) {
      logIfError(states_->failed(row.package_id, row.dp,
                                 "DP " + row.dp + " is no longer in the configuration"),
                 "record the state");
      return;
    }
    Pending p{row.package_id,    row.dp,
              row.version,       action,
              priority,          last && last->version == row.version ? last->id : 0,
              ++generation_[key]};
    if (action == JobAction::Validate || action == JobAction::Remove) {
      createJob(p);
      crashPoint("distmgr.job-created");
      return;
    }
    if (dp->type == config::DpType::Pull) return startPull(p);
    logIfError(states_->checking(row.package_id, row.dp), "record the state");
    runChecks(std::move(p), *dp);
  }

  // Queues the preliminary checks of `p` (Options::max_concurrent_checks run at once, see
  // startChecks()); the verdict comes back to the strand (onChecked()).
  void runChecks(Pending p, const config::DistributionPointConfig& dp) {
    checking_.insert(pairKey(p.package_id, p.dp));
    check_queue_.emplace(CheckOrder{p.priority, ++check_seq_}, QueuedCheck{std::move(p), &dp});
    startChecks();
  }

  // Starts queued checks while fewer than max_concurrent_checks run.
  void startChecks() {
    while (!stopping_ && in_flight_ < options_.max_concurrent_checks && !check_queue_.empty()) {
      auto node = check_queue_.extract(check_queue_.begin());
      Pending& p = node.mapped().pending;
      // A newer request for the pair replaced this one while it waited: its own check is queued.
      if (generation_[pairKey(p.package_id, p.dp)] != p.generation) continue;
      startCheck(std::move(p), *node.mapped().dp);
    }
  }

  // Runs one check on the blocking pool.
  void startCheck(Pending p, const config::DistributionPointConfig& dp) {
    auto holds = states_->repository().dpHoldsContent(p.dp);
    // Unknown: expect the site's library, so a database hiccup never lets content go to a root
    // that may be the wrong disk (the check then fails, and is retried).
    p.dp_holds_content = !holds.ok() || *holds;
    if (!holds.ok()) logIfError(holds.status(), "read what the DP holds");
    if (p.action == JobAction::Add) {
      if (auto v = packages_->getVersion(p.package_id, p.version); v.ok()) {
        store::Progress t;
        t.files_total = t.files_done = v->file_count;
        t.bytes_total = t.bytes_done = v->total_bytes;
        p.totals = t;
      }
    }
    ++in_flight_;
    PX_LOG_INFO(ctx_.logger, "Checking DP {} ({}) for package {} v{}", dp.name, dp.address,
                p.package_id, p.version);
    asio::post(ctx_.blocking.get_executor(), [this, p = std::move(p), dp = &dp]() mutable {
      CheckResult result = check(p, *dp);
      asio::post(ctx_.strand,
                 [this, p = std::move(p), result = std::move(result)] { onChecked(p, result); });
    });
  }

  // One transport per DP for the life of the component: opening a DP's library sweeps its
  // temporary files (a listing of every FileLib prefix folder), which must not be paid per check.
  // Called from pool threads; transports are thread-safe.
  Result<std::shared_ptr<transport::Transport>> transportFor(
      const config::DistributionPointConfig& dp) {
    std::lock_guard lock(transports_mutex_);
    auto it = transports_.find(dp.name);
    if (it != transports_.end()) return it->second;
    PKGXFER_ASSIGN_OR_RETURN(auto t, options_.transport_factory(dp));
    transports_.emplace(dp.name, t);
    return t;
  }

  // The no-op fast path of a distribute: the DP holds this content version and its DataLib manifest
  // is byte-identical to the site's. Manifests are canonical JSON (content::toJson: sorted files
  // and folders, fixed key order), and the transport commits a manifest only once every body it
  // names is present, so identical bytes mean the DP holds exactly this content; re-reading its
  // FileLib (the inventory of every body) and parsing both manifests would only confirm that.
  // A body deleted on the DP behind our back is what validate finds and redistribute repairs,
  // as in ConfigMgr, where a plain distribute does not re-send to a DP that has the package.
  // False (and the full check runs) on any difference or error, including NotFound.
  bool manifestIdentical(const Pending& p, transport::Transport& transport,
                         const CallContext& call) {
    const auto version = static_cast<std::uint64_t>(p.version);
    auto on_dp = transport.readManifestJson(p.package_id, version, call);
    if (!on_dp.ok()) return false;
    auto on_site = site_->readManifestJson(p.package_id, version);
    return on_site.ok() && *on_site == *on_dp;
  }

  CheckResult check(const Pending& p, const config::DistributionPointConfig& dp) {
    CheckResult r;
    const CallContext call{stop_.get_token()};
    auto transport = transportFor(dp);
    if (!transport.ok()) {
      r.status = transport.status();
      return r;
    }
    auto probe = (*transport)->probe(call, transport::ProbeOptions{p.dp_holds_content});
    if (!probe.ok()) {
      r.status = probe.status();
      return r;
    }
    r.probe = *probe;
    crashPoint("distmgr.checking");
    if (p.action == JobAction::Add && p.totals && manifestIdentical(p, **transport, call)) {
      r.has_content = r.identical_manifest = true;
      r.full = *p.totals;
      return r;
    }
    auto manifest = site_->readManifest(p.package_id, static_cast<std::uint64_t>(p.version));
    if (!manifest.ok()) {
      r.status = manifest.status().withContext("site content library");
      return r;
    }
    r.full.files_total = r.full.files_done = manifest->files.size();
    r.full.bytes_total = r.full.bytes_done = manifest->total_bytes;
    auto present = (*transport)->inventory(content::uniqueBodies(*manifest), call);
    if (!present.ok()) {
      r.status = present.status();
      return r;
    }
    content::ContentDiff diff = content::diffContent(
        *manifest, p.action == JobAction::Redistribute ? content::ShaSet{} : *present);
    r.missing_files = diff.missing.size();
    r.missing_bytes = diff.missing_bytes;
    r.present_files = diff.present_bodies;
    r.present_bytes = diff.present_bytes;
    auto on_dp =
        (*transport)->readManifest(p.package_id, static_cast<std::uint64_t>(p.version), call);
    r.has_content = on_dp.ok() && content::sameContent(*on_dp, *manifest) &&
                    present->size() == content::uniqueBodies(*manifest).size();
    if (r.probe.free_bytes < r.missing_bytes && !(r.has_content && p.action == JobAction::Add)) {
      r.status = Status::Unavailable("not enough free space on DP " + dp.name + " (" +
                                     r.probe.location + "): " + formatBytes(r.probe.free_bytes) +
                                     " free, " + formatBytes(r.missing_bytes) + " to send");
    }
    return r;
  }

  void onChecked(const Pending& p, const CheckResult& r) {
    const std::string key = pairKey(p.package_id, p.dp);
    checking_.erase(key);
    --in_flight_;
    startChecks();
    if (stopping_) {
      if (in_flight_ == 0 && stop_done_) {
        auto done = std::move(stop_done_);
        stop_done_ = nullptr;
        done();
      }
      return;
    }
    // A newer request for the pair replaced this one while it was checked.
    if (generation_[key] != p.generation) return;
    auto row = states_->repository().get(p.package_id, p.dp);
    if (!row.ok() || row->state != DistributionState::Checking || row->version != p.version) {
      return;
    }
    const std::string what = "Distribution of package " + p.package_id + " v" +
                             std::to_string(p.version) + " to " + p.dp;
    if (!r.status.ok()) {
      PX_LOG_WARN(ctx_.logger, "Preliminary check of DP {} failed: {}", p.dp, r.status.toString());
      auto d = states_->attemptFailed(p.package_id, p.dp, r.status, what);
      if (!d.ok()) logIfError(d.status(), "record a failure");
      if (d.ok() && d->retry) {
        // Due by time: poll for it (our own write does not wake the file watch's poll).
        retrying_ = true;
        watch_->setPeriod(options_.poll_interval);
        arm();
      }
      return;
    }
    if (r.identical_manifest) {
      PX_LOG_INFO(ctx_.logger,
                  "Preliminary check of DP {} passed: library {} writable, {} free; its manifest "
                  "of package {} v{} is identical to the site's ({} file(s), {})",
                  p.dp, r.probe.location, formatBytes(r.probe.free_bytes), p.package_id, p.version,
                  r.full.files_total, formatBytes(r.full.bytes_total));
    } else {
      PX_LOG_INFO(ctx_.logger,
                  "Preliminary check of DP {} passed: library {} writable, {} free; {} file(s) "
                  "({}) to send, {} already present ({})",
                  p.dp, r.probe.location, formatBytes(r.probe.free_bytes), r.missing_files,
                  formatBytes(r.missing_bytes), r.present_files, formatBytes(r.present_bytes));
    }
    if (p.action == JobAction::Add && r.has_content) {
      // The log line first: whoever sees the pair installed (a test, an administrator tailing the
      // log) finds the reason already written.
      if (r.identical_manifest) {
        PX_LOG_INFO(ctx_.logger,
                    "DP {} already holds package {} v{}; nothing to send; installed (its manifest "
                    "is identical to the site's, so its files were not listed; run validate to "
                    "re-hash them)",
                    p.dp, p.package_id, p.version);
      } else {
        PX_LOG_INFO(ctx_.logger, "DP {} already holds package {} v{}; nothing to send; installed",
                    p.dp, p.package_id, p.version);
      }
      auto tx = beginTransaction();
      logIfError(states_->progress(p.package_id, p.dp, r.full), "save progress");
      logIfError(states_->installed(p.package_id, p.dp), "record the state");
      commit(tx);
      return;
    }
    createJob(p);
    crashPoint("distmgr.job-created");
    signalJobs();
  }

  // A distribution to a pull DP: no preliminary check (as in ConfigMgr, the pull DP manages its own
  // transfer); the job is created at once and the transfer manager's pull cycle takes it.
  void startPull(const Pending& p) {
    PX_LOG_INFO(ctx_.logger,
                "Package Server {} is a PullDP; no preliminary check; creating its transfer job "
                "for package {} v{}",
                p.dp, p.package_id, p.version);
    createJob(p);
    crashPoint("distmgr.job-created");
    signalJobs();
  }

  // Applies the status messages recorded since the last poll, oldest first, each once: to the
  // pair of its job, while that job still runs and owns the pair and the message is newer than
  // the last one applied for the job (duplicates and late arrivals are ignored). Returns whether
  // a full batch was read (more may wait).
  bool applyStatusMessages() {
    constexpr int kBatch = 256;
    auto messages = status_messages_->listUnprocessed(kBatch);
    if (!messages.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot read the status messages: {}",
                   messages.status().toString());
      return false;
    }
    for (const store::StatusMessage& m : *messages) applyStatusMessage(m);
    return messages->size() == static_cast<std::size_t>(kBatch);
  }

  void applyStatusMessage(const store::StatusMessage& m) {
    auto tx = beginTransaction();
    const std::string from = fmt::format(
        "status {} from pull DP {} for package {} v{}{}{}", store::toString(m.state), m.dp,
        m.package_id, m.version, m.job_id ? fmt::format(" (job {}", *m.job_id) : std::string(),
        m.job_id ? fmt::format(", sequence {})", m.sequence.value_or(0)) : std::string());
    std::string ignored;
    std::optional<store::TransferJob> job;
    if (!m.job_id) {
      ignored = "it names no transfer job";
    } else if (auto got = jobs_->get(*m.job_id); !got.ok()) {
      ignored = got.status().message();
    } else {
      job = *got;
      auto last = status_messages_->lastProcessedSequence(job->id);
      auto owned = states_->ownedBy(*job);
      if (store::isTerminal(job->state)) {
        ignored = "the job is already " + std::string(store::toString(job->state));
      } else if (!last.ok()) {
        ignored = last.status().toString();
      } else if (m.sequence && *m.sequence <= *last) {
        ignored = fmt::format("a status with sequence {} was already applied", *last);
      } else if (!owned.ok() || !*owned) {
        ignored = "a later request owns the distribution";
      }
    }
    if (!ignored.empty()) {
      PX_LOG_INFO(ctx_.logger, "Ignored {}: {}", from, ignored);
      logIfError(status_messages_->markProcessed(m.id), "mark a status message processed");
      commit(tx);
      return;
    }
    const std::string detail = m.message.empty() ? std::string() : ": " + m.message;
    switch (m.state) {
      case DistributionState::Installed:
        // The log line before the state, as for a standard DP.
        PX_LOG_INFO(ctx_.logger,
                    "Received {}{}; package {} v{} is installed on pull DP {} ({} file(s), {})",
                    from, detail, m.package_id, m.version, m.dp, m.progress.files_total,
                    formatBytes(m.progress.bytes_total));
        logIfError(jobs_->setProgress(job->id, m.progress), "save progress");
        logIfError(jobs_->setState(job->id, JobState::Done), "record the job's result");
        logIfError(states_->progress(m.package_id, m.dp, m.progress), "save progress");
        logIfError(states_->installed(m.package_id, m.dp), "record the state");
        jobs_changed_ = true;
        break;
      case DistributionState::Failed: {
        PX_LOG_WARN(ctx_.logger, "Received {}{}", from, detail);
        const Status error = Status::Unavailable(
            "pull DP " + m.dp + " reports: " + (m.message.empty() ? "failed" : m.message));
        logIfError(jobs_->setState(job->id, JobState::Failed, error.toString()),
                   "record the job's result");
        auto d = states_->attemptFailed(
            m.package_id, m.dp, error,
            "Pull of package " + m.package_id + " v" + std::to_string(m.version) + " by " + m.dp);
        if (!d.ok()) logIfError(d.status(), "record a failure");
        if (d.ok() && d->retry) {
          retrying_ = true;
          watch_->setPeriod(options_.poll_interval);
        }
        jobs_changed_ = true;
        break;
      }
      case DistributionState::Pulling:
        PX_LOG_INFO(ctx_.logger, "Received {}: {} of {} file(s), {} of {}{}", from,
                    m.progress.files_done, m.progress.files_total,
                    formatBytes(m.progress.bytes_done), formatBytes(m.progress.bytes_total),
                    m.message.empty() ? std::string() : " from " + m.message);
        logIfError(jobs_->setProgress(job->id, m.progress), "save progress");
        logIfError(states_->pulling(m.package_id, m.dp, m.progress), "record the state");
        break;
      default:  // queued on the pull DP (notified): nothing changes
        PX_LOG_INFO(ctx_.logger, "Received {}{}", from, detail);
        break;
    }
    logIfError(status_messages_->markProcessed(m.id), "mark a status message processed");
    commit(tx);
  }

  // Begins a write transaction for changes that belong together; nullopt (logged) when the
  // database stayed busy: the writes then still happen one by one.
  std::optional<store::Transaction> beginTransaction() {
    auto tx = store::Transaction::begin(*db_);
    if (!tx.ok()) {
      logIfError(tx.status(), "begin a transaction");
      return std::nullopt;
    }
    return std::move(*tx);
  }
  void commit(std::optional<store::Transaction>& tx) {
    if (tx) logIfError(tx->commit(), "commit a transaction");
  }

  void createJob(const Pending& p) {
    // The pair's state and its job in one transaction: a crash between them would leave the pair
    // waiting for a job that does not exist. The state first: once the job exists pkgxfermgr may
    // record on the pair why it waits (a closed schedule window), which a later write here would
    // wipe.
    auto tx = beginTransaction();
    logIfError(states_->queued(p.package_id, p.dp, p.action), "record the state");
    // A retry takes over the failed job's resume points in the same transaction.
    auto id =
        jobs_->create({p.package_id, p.version, p.dp, p.action, p.priority, p.resume_from_job});
    if (!id.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot create the transfer job for package {} v{} to {}: {}",
                   p.package_id, p.version, p.dp, id.status().toString());
      logIfError(states_->failed(p.package_id, p.dp, id.status().toString()), "record the state");
      commit(tx);
      return;
    }
    commit(tx);
    jobs_changed_ = true;
    PX_LOG_INFO(ctx_.logger,
                "Created transfer job {} ({} package {} v{} to {}, priority {}); state {}", *id,
                store::toString(p.action), p.package_id, p.version, p.dp,
                store::toString(p.priority), store::toString(distribution::queuedState(p.action)));
  }

  host::ComponentContext ctx_;
  Options options_;
  host::PollTimer timer_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::ChangeWatch> watch_;  // when poll() should read the queue again
  std::unique_ptr<store::RequestRepository> requests_;
  std::unique_ptr<distribution::PairStates> states_;
  std::unique_ptr<store::TransferJobRepository> jobs_;
  std::unique_ptr<store::PackageRepository> packages_;
  std::unique_ptr<store::StatusMessageRepository> status_messages_;
  std::uint64_t status_subscription_ = 0;  // to host::Signals::Topic::StatusMessages
  std::unique_ptr<content::ContentLibrary> site_;
  std::mutex transports_mutex_;
  std::map<std::string, std::shared_ptr<transport::Transport>> transports_;
  // Checks waiting for a slot: high priority first, then in the order they were asked for.
  struct CheckOrder {
    store::Priority priority;
    std::uint64_t seq;
    bool operator<(const CheckOrder& o) const {
      return priority != o.priority ? priority < o.priority : seq < o.seq;
    }
  };
  struct QueuedCheck {
    Pending pending;
    const config::DistributionPointConfig* dp;
  };
  std::map<CheckOrder, QueuedCheck> check_queue_;
  std::uint64_t check_seq_ = 0;
  bool jobs_changed_ = false;  // jobs created or ended since the last signalJobs()
  bool retrying_ = true;       // some pair is retrying (the last poll's anyRetrying())
  std::unique_ptr<platform::FileWatch> file_watch_;  // on the database's WAL; null: unavailable
  // How often an idle distribution manager reads its queue with no change seen (a safety net:
  // changes wake it).
  static constexpr std::chrono::milliseconds kIdlePeriod{60000};
  std::set<std::string> checking_;                   // pairs with a check queued or in flight
  std::map<std::string, std::uint64_t> generation_;  // per pair, bumped by each new request
  int in_flight_ = 0;
  bool stopping_ = false;
  std::stop_source stop_;  // its token is in every check's CallContext
  std::function<void()> stop_done_;
};

}  // namespace

Result<host::ComponentPtr> makeDistributionManager(host::ComponentContext ctx, Options options) {
  if (!ctx.config.site) {
    return Status::InvalidArgument("distmgr needs the site block of the configuration");
  }
  if (options.database.empty())
    options.database = store::siteDatabasePath(ctx.config.site->data_dir);
  if (options.site_library.empty()) options.site_library = ctx.config.site->data_dir / "ContentLib";
  if (!options.transport_factory) {
    options.transport_factory =
        transport::defaultTransportFactory(transport::siteTransportOptions(*ctx.config.site));
  }
  if (options.poll_interval.count() <= 0 || options.wake_interval.count() <= 0) {
    return Status::InvalidArgument("distmgr: poll_interval and wake_interval must be > 0");
  }
  if (options.max_concurrent_checks < 1) {
    return Status::InvalidArgument("distmgr: max_concurrent_checks must be >= 1");
  }
  return host::ComponentPtr(
      std::make_unique<DistributionManager>(std::move(ctx), std::move(options)));
}

}  // namespace pkgxfer::distmgr
