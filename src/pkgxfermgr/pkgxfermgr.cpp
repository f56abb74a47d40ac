#include "pkgxfer/pkgxfermgr/pkgxfermgr.h"

#include <boost/asio/post.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <map>
#include <set>

#include "pkgxfer/common/crash_point.h"
#include "pkgxfer/common/units.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/distribution/pair_states.h"
#include "pkgxfer/host/blocking_pool.h"
#include "pkgxfer/host/poll_timer.h"
#include "pkgxfer/pkgxfermgr/job_runner.h"
#include "pkgxfer/pkgxfermgr/job_selection.h"
#include "pkgxfer/store/change_watch.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/transfer_job_repository.h"
#include "pkgxfer/transport/rate_limiter.h"
#include "pkgxfer/transport/schedule.h"
#include "pkgxfer/transport/time_zone.h"

namespace pkgxfer::pkgxfermgr {
namespace {

namespace asio = boost::asio;
using store::JobAction;
using store::JobState;

class PackageTransferManager;

// Forwards a job's events to the manager's strand, in order.
class StrandEvents final : public JobEvents {
 public:
  StrandEvents(PackageTransferManager& mgr, std::int64_t job_id) : mgr_(mgr), job_id_(job_id) {}
  void progress(const store::Progress& progress) override;
  void partialSaved(const store::PartialBody& body) override;
  void partialForgotten(const std::string& sha256) override;
  void verifying() override;

 private:
  PackageTransferManager& mgr_;
  std::int64_t job_id_;
};

struct DpPolicy {
  std::unique_ptr<transport::ScheduleEvaluator> schedule;  // null = always open
  std::unique_ptr<transport::RateLimiter> limiter;         // null = unlimited
};

class PackageTransferManager final : public host::Component {
 public:
  PackageTransferManager(host::ComponentContext ctx, Options options)
      : ctx_(std::move(ctx)),
        options_(std::move(options)),
        timer_(
            ctx_.strand, options_.wake_interval, [this] { return watch_->due(); },
            [this] { poll(); }) {}

  std::string_view name() const override { return "pkgxfermgr"; }

  Status start() override {
    PKGXFER_ASSIGN_OR_RETURN(db_, store::Database::open(options_.database, ctx_.clock));
    watch_ = std::make_unique<store::ChangeWatch>(*db_, options_.poll_interval);
    jobs_ = std::make_unique<store::TransferJobRepository>(*db_);
    states_ = std::make_unique<distribution::PairStates>(*db_, ctx_.config.distribution, ctx_.clock,
                                                         ctx_.logger);
    // A job's first stream runs on its blocking-pool thread, the others here (JobSpec::streams).
    streams_ = std::make_unique<host::BlockingPool>("the transfer streams of pkgxfermgr",
                                                    options_.stream_threads, ctx_.logger);
    content::ContentLibrary::Options lib_options;
    PKGXFER_ASSIGN_OR_RETURN(site_,
                             content::ContentLibrary::open(options_.site_library, lib_options));
    PKGXFER_RETURN_IF_ERROR(buildDpPolicies());
    PKGXFER_ASSIGN_OR_RETURN(int requeued, jobs_->requeueInterrupted());
    const auto& d = ctx_.config.distribution;
    PX_LOG_INFO(ctx_.logger,
                "Package Transfer Manager starting: up to {} package(s) at once, {} DP(s) per "
                "package, {} stream(s) per job on {} shared thread(s), verify {}; site library "
                "{}; {} interrupted job(s) queued again to resume",
                d.max_concurrent_packages, d.max_threads_per_package, options_.streams_per_job,
                streams_->threads(), d.verify ? "on" : "off", options_.site_library.string(),
                requeued);
    // distmgr says when it created, superseded or cancelled jobs: they are read at once.
    subscription_ =
        ctx_.signals.subscribe(host::Signals::Topic::TransferJobs, [this] { timer_.wakeNow(); });
    asio::post(ctx_.strand, [this] { poll(); });
    return Status::Ok();
  }

  void stop(std::function<void()> done) override {
    stopping_ = true;
    ctx_.signals.unsubscribe(subscription_);
    timer_.cancel();
    for (auto& [id, r] : running_) r.cancel->store(CancelMode::Stop);
    PX_LOG_INFO(ctx_.logger,
                "Package Transfer Manager stopping; {} running job(s) keep what they "
                "sent and resume at the next start",
                running_.size());
    stop_done_ = std::move(done);
    finishStopIfIdle(false);
  }

  // ---- called on the strand by StrandEvents ----

  void onProgress(std::int64_t id, const store::Progress& p) {
    auto it = running_.find(id);
    if (it == running_.end() || !stillRunning(id)) return;
    logIfError(jobs_->setProgress(id, p), id, "save progress");
    const auto& job = it->second.job;
    if (job.action == JobAction::Add || job.action == JobAction::Redistribute) {
      logIfError(states_->progress(job.package_id, job.dp, p), id, "save progress");
    }
  }
  void onPartialSaved(const store::PartialBody& body) {
    Status s = jobs_->savePartial(body);
    logIfError(s, body.job_id, "save resume point");
    auto it = running_.find(body.job_id);
    if (s.ok() && it != running_.end()) {
      PX_LOG_DEBUG(ctx_.logger,
                   "Resume point saved: {} of {} bytes of body {} are durable on the "
                   "DP; {}",
                   body.offset, body.size, body.sha256, jobTag(it->second.job));
      crashPoint("pkgxfermgr.resume-point-saved");
    }
  }
  void onVerifying(std::int64_t id) {
    auto it = running_.find(id);
    if (it == running_.end() || !stillRunning(id)) return;
    const auto& job = it->second.job;
    logIfError(states_->committing(job.package_id, job.dp), id, "record the state");
  }
  void onPartialForgotten(std::int64_t id, const std::string& sha) {
    logIfError(jobs_->deletePartial(id, sha), id, "forget resume point");
  }

  asio::any_io_executor strand() { return ctx_.strand; }

 private:
  struct Running {
    store::TransferJob job;
    std::shared_ptr<CancelFlag> cancel;
    std::shared_ptr<transport::Transport> transport;
    std::unique_ptr<StrandEvents> events;
    JobSpec spec;
  };

  void logIfError(const Status& s, std::int64_t id, std::string_view what) {
    if (!s.ok()) PX_LOG_ERROR(ctx_.logger, "Job {}: cannot {}: {}", id, what, s.toString());
  }

  // Runnable jobs read from the database at once (poll() pages through all of them).
  static constexpr int kRunnablePage = 500;

  bool stillRunning(std::int64_t id) {
    auto job = jobs_->get(id);
    return job.ok() && job->state == JobState::Running;
  }

  // The next wake-up; poll() runs then if another connection committed since the last poll or
  // poll_interval passed (watch_).
  // While jobs run or wait (for a window, for a slot), every poll_interval: a window that opens or
  // closes changes nothing in the database. Idle, only every wake_interval: distmgr's signal
  // wakes it for new work, so an idle site costs one cheap poll a second.
  void arm() {
    if (stopping_) return;
    const bool busy = !running_.empty() || has_runnable_;
    timer_.arm(busy ? std::min(options_.poll_interval, options_.wake_interval)
                    : options_.wake_interval);
  }

  void poll() {
    if (stopping_) return;
    watch_->reading();
    discardAbandonedPartials();
    // Jobs the distribution manager superseded or cancelled while they ran, and jobs whose DP's
    // schedule window closed (the job sees that at its next block; this reaches a call that
    // hangs meanwhile).
    for (auto& [id, r] : running_) {
      // A job being paused may still be superseded: then what it sent is no longer wanted.
      const CancelMode mode = r.cancel->load();
      if (mode != CancelMode::None && mode != CancelMode::Pause) continue;
      auto job = jobs_->get(id);
      if (job.ok() && store::isTerminal(job->state)) {
        PX_LOG_INFO(ctx_.logger, "Job {} was {} by the Distribution Manager; stopping it; {}", id,
                    store::toString(job->state), jobTag(r.job));
        r.cancel->store(CancelMode::Discard);
      } else if (mode == CancelMode::None && windowClosedFor(r.job)) {
        PX_LOG_INFO(ctx_.logger,
                    "The schedule window of DP {} closed while job {} was sending; pausing it; {}",
                    r.job.dp, id, jobTag(r.job));
        r.cancel->store(CancelMode::Pause);
      }
    }
    // Every runnable job, page by page in start order, until every slot is taken: a package
    // queued behind thousands of jobs of another (or behind jobs whose DPs' windows are closed)
    // is still seen.
    std::vector<RunningJob> running;
    for (const auto& [id, r] : running_) running.push_back({id, r.job.package_id, r.job.dp});
    const auto& d = ctx_.config.distribution;
    JobSelector selector(running, {d.max_concurrent_packages, d.max_threads_per_package});
    std::vector<store::TransferJob> to_start;
    std::set<std::int64_t> seen;
    bool whole = true;  // every runnable job was looked at
    std::int64_t after = 0;
    while (whole) {
      auto page = jobs_->listRunnable(kRunnablePage, after);
      if (!page.ok()) {
        PX_LOG_ERROR(ctx_.logger, "Cannot read the transfer jobs: {}", page.status().toString());
        arm();
        return;
      }
      for (const store::TransferJob& job : *page) {
        if (selector.full()) {
          whole = false;
          break;
        }
        seen.insert(job.id);
        // Jobs whose DP's schedule is closed to them now stay queued (or paused) without taking
        // a slot; the next poll after the window opens starts them.
        if (mustWait(job)) continue;
        // Its pair's temporary files are being deleted (discardPartials()): next poll.
        if (cleaning_.contains({job.package_id, job.dp})) continue;
        if (selector.offer(job)) to_start.push_back(job);
      }
      if (page->size() < static_cast<std::size_t>(kRunnablePage)) break;
      after = page->back().id;
    }
    // Forget the announcements of jobs no longer runnable (superseded or cancelled while they
    // waited for their window). Only when the list was read whole: a job not read still waits.
    if (whole && !announced_.empty()) {
      std::erase_if(announced_, [&](const auto& entry) { return !seen.contains(entry.first); });
    }
    has_runnable_ = !seen.empty();
    if (!to_start.empty()) {
      PX_LOG_DEBUG(ctx_.logger, "{}{} runnable job(s) read, {} running; starting {}",
                   whole ? "" : "at least ", seen.size(), running_.size(), to_start.size());
    }
    for (const store::TransferJob& job : to_start) startJob(job);
    arm();
  }

  // One schedule and one rate limit per standard DP, shared by every job to it (both are
  // thread-safe): the limit holds for the DP as a whole, however many jobs send to it. A DP that is
  // always open and unlimited gets neither. Pull DPs ignore both (the config loader warns).
  Status buildDpPolicies() {
    const std::string zone_name = ctx_.config.site ? ctx_.config.site->timezone : std::string();
    std::optional<transport::TimeZone> zone;
    for (const auto& dp : ctx_.config.distribution_points) {
      if (dp.type != config::DpType::Standard) continue;
      const bool scheduled = !dp.schedule.alwaysOpen();
      const bool limited = dp.rate_limit.mode != config::RateLimitMode::Unlimited;
      if (!scheduled && !limited) continue;
      if (!zone) {
        auto loaded = transport::TimeZone::load(zone_name);
        if (!loaded.ok()) return loaded.status().withContext("site.timezone");
        zone = *loaded;
      }
      DpPolicy& policy = policies_[dp.name];
      if (scheduled)
        policy.schedule = std::make_unique<transport::ScheduleEvaluator>(dp.schedule, *zone);
      if (limited) {
        policy.limiter = std::make_unique<transport::RateLimiter>(dp.rate_limit, *zone, ctx_.clock);
      }
      PX_LOG_INFO(ctx_.logger, "DP {}: {}, rate limit {} (time zone {})", dp.name,
                  scheduled ? "sending schedule in effect" : "always open",
                  config::toString(dp.rate_limit.mode), zoneLabel(*zone));
    }
    return Status::Ok();
  }

  static std::string zoneLabel(const transport::TimeZone& zone) {
    return zone.name().empty() ? std::string("the machine's") : zone.name();
  }

  const DpPolicy* policyFor(const std::string& dp) const {
    auto it = policies_.find(dp);
    return it == policies_.end() ? nullptr : &it->second;
  }

  // "opens 2026-11-25 22:00 (Europe/Berlin)" or why it never opens.
  std::string openingText(const transport::ScheduleEvaluator& schedule,
                          const std::optional<Clock::SystemTime>& at,
                          store::Priority priority) const {
    if (!at) {
      return fmt::format("it never opens: every hour of the week is closed to priority {}",
                         store::toString(priority));
    }
    const transport::LocalTime t = schedule.zone().localTime(*at);
    return fmt::format("opens {:04}-{:02}-{:02} {:02}:{:02} ({} time)", t.year, t.month, t.day,
                       t.hour, t.minute, zoneLabel(schedule.zone()));
  }

  // Whether the schedule of `job`'s DP keeps it from sending now (only adds and redistributes obey
  // schedules).
  bool windowClosedFor(const store::TransferJob& job) const {
    if (job.action != JobAction::Add && job.action != JobAction::Redistribute) return false;
    const DpPolicy* policy = policyFor(job.dp);
    return policy != nullptr && policy->schedule &&
           !policy->schedule->allows(toTransportPriority(job.priority), ctx_.clock.systemNow());
  }

  // Whether `job` must wait for its DP's schedule window now. The first time it is found waiting
  // for a given opening, records why on the distribution (state waiting) and logs it.
  bool mustWait(const store::TransferJob& job) {
    if (job.action != JobAction::Add && job.action != JobAction::Redistribute) return false;
    const DpPolicy* policy = policyFor(job.dp);
    if (policy == nullptr || !policy->schedule) return false;
    const auto now = ctx_.clock.systemNow();
    const transport::Priority priority = toTransportPriority(job.priority);
    if (policy->schedule->allows(priority, now)) {
      announced_.erase(job.id);
      return false;
    }
    announceWaiting(job, *policy->schedule, policy->schedule->nextOpening(priority, now), "");
    return true;
  }

  void announceWaiting(const store::TransferJob& job, const transport::ScheduleEvaluator& schedule,
                       const std::optional<Clock::SystemTime>& opening, std::string_view kept) {
    const auto key = opening ? opening->time_since_epoch().count() : -1;
    auto [it, inserted] = announced_.emplace(job.id, key);
    if (!inserted && it->second == key) return;
    it->second = key;
    const std::string message = fmt::format("waiting for the schedule window of {}; {}", job.dp,
                                            openingText(schedule, opening, job.priority));
    logIfError(states_->waitingForWindow(job.package_id, job.dp, message), job.id,
               "record the state");
    PX_LOG_INFO(ctx_.logger, "The schedule of DP {} does not allow priority {} now: {}{}; {}",
                job.dp, store::toString(job.priority), message, kept, jobTag(job));
  }

  Result<std::shared_ptr<transport::Transport>> transportFor(
      const config::DistributionPointConfig& dp) {
    auto it = transports_.find(dp.name);
    if (it != transports_.end()) return it->second;
    PKGXFER_ASSIGN_OR_RETURN(auto t, options_.transport_factory(dp));
    transports_[dp.name] = t;
    return t;
  }

  void startJob(const store::TransferJob& job) {
    const std::string tag = jobTag(job);
    PX_LOG_INFO(ctx_.logger,
                "Found send request with ID: {}, Package: {}, Version: {}, Priority: {}, "
                "Destination: {}, Action: {}",
                job.id, job.package_id, job.version, store::toString(job.priority), job.dp,
                store::toString(job.action));
    const config::DistributionPointConfig* dp = ctx_.config.findDp(job.dp);
    Result<std::shared_ptr<transport::Transport>> transport =
        dp == nullptr ? Result<std::shared_ptr<transport::Transport>>(Status::InvalidArgument(
                            "DP " + job.dp + " is not in the configuration"))
                      : transportFor(*dp);
    if (Status s = jobs_->setState(job.id, JobState::Running); !s.ok()) {
      logIfError(s, job.id, "mark running");
      return;
    }
    if (!transport.ok()) {
      failJob(job, transport.status(), nullptr);
      return;
    }
    auto partials = jobs_->listPartials(job.id);
    if (!partials.ok()) {
      // Without its resume points the job would send every body again from the start and leave
      // its temporary files behind: it waits for the next poll instead.
      PX_LOG_ERROR(ctx_.logger, "Cannot read the resume points of {}: {}; it stays queued", tag,
                   partials.status().toString());
      logIfError(jobs_->setState(job.id, JobState::Queued), job.id, "queue again");
      return;
    }
    logIfError(states_->running(job.package_id, job.dp, job.action), job.id, "record the state");

    Running r;
    r.job = job;
    r.cancel = std::make_shared<CancelFlag>();
    r.transport = *transport;
    r.events = std::make_unique<StrandEvents>(*this, job.id);
    r.spec.job = job;
    r.spec.partials = *partials;
    r.spec.verify = ctx_.config.distribution.verify;
    r.spec.checkpoint_bytes = options_.checkpoint_bytes;
    r.spec.checkpoint_interval = options_.checkpoint_interval;
    r.spec.streams = options_.streams_per_job;
    r.spec.stream_pool = streams_.get();
    if (const DpPolicy* policy = policyFor(job.dp)) {
      r.spec.schedule = policy->schedule.get();
      r.spec.limiter = policy->limiter.get();
    }
    announced_.erase(job.id);
    auto [it, inserted] = running_.emplace(job.id, std::move(r));
    Running& run = it->second;
    PX_LOG_DEBUG(ctx_.logger, "Sending thread created for {} ({} running)", tag, running_.size());
    asio::post(ctx_.blocking.get_executor(), [this, &run, id = job.id] {
      Result<JobOutcome> result = runJob(run.spec, *run.transport, *site_, *run.events, *run.cancel,
                                         ctx_.clock, ctx_.logger);
      asio::post(ctx_.strand, [this, id, result = std::move(result)] { onJobDone(id, result); });
    });
  }

  // Forgets the resume points of a job that will not resume (superseded, cancelled, failed for
  // good) and deletes, on the pool, their temporary files on the DP and any other its package
  // left there for the job's bodies (uploads whose resume point was never recorded: the process
  // died first). Until that is done the pair is `cleaning_`: no job of it starts, so the sweep
  // never meets an upload of the same owner in progress.
  void discardPartials(const store::TransferJob& job,
                       const std::shared_ptr<transport::Transport>& transport) {
    auto partials = jobs_->listPartials(job.id);
    if (!partials.ok()) {
      // Kept: whoever reads them later (a retry, the sweep of abandoned resume points, the
      // leftover sweep of the next send) deletes the files they name.
      PX_LOG_ERROR(ctx_.logger,
                   "Cannot read the resume points of {} to delete their temporary files: {}",
                   jobTag(job), partials.status().toString());
      return;
    }
    logIfError(jobs_->clearPartials(job.id), job.id, "forget resume points");
    std::vector<std::string> bodies;
    if (job.action == JobAction::Add || job.action == JobAction::Redistribute) {
      auto manifest = site_->readManifest(job.package_id, static_cast<std::uint64_t>(job.version));
      if (manifest.ok()) bodies = content::uniqueBodies(*manifest);
    }
    if (partials->empty() && bodies.empty()) return;
    const auto pair = std::make_pair(job.package_id, job.dp);
    cleaning_.insert(pair);
    asio::post(ctx_.blocking.get_executor(), [this, transport, pair, partials = *partials,
                                              bodies = std::move(bodies), tag = jobTag(job)] {
      const Logger& log = ctx_.logger;
      for (const auto& p : partials) {
        Status s = transport->discardTemp(p.sha256, p.temp_name, CallContext{});
        if (!s.ok()) {
          PX_LOG_WARN(log, "Cannot delete the temporary file of body {}: {}; {}", p.sha256,
                      s.toString(), tag);
        }
      }
      if (!bodies.empty()) {
        auto swept = transport->discardLeftovers(pair.first, bodies, CallContext{});
        if (!swept.ok()) {
          PX_LOG_WARN(log, "Cannot delete the leftover temporary files of {}: {}; {}", pair.first,
                      swept.status().toString(), tag);
        } else if (*swept > 0) {
          PX_LOG_INFO(log, "Deleted {} leftover temporary file(s) of uploads nobody resumes; {}",
                      *swept, tag);
        }
      }
      asio::post(ctx_.strand, [this, pair] {
        cleaning_.erase(pair);
        if (stopping_) {
          finishStopIfIdle();
        } else {
          poll();
        }
      });
    });
  }

  // Jobs that ended for good while they were not running here (cancelled by a remove or
  // superseded while queued, e.g. after a crash) may still hold resume points: their temporary
  // files on the DP are nobody's, so they go (SPEC §3: none remains once the service is at rest).
  void discardAbandonedPartials() {
    constexpr int kBatch = 16;
    auto jobs = jobs_->listAbandonedPartials(kBatch);
    if (!jobs.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot read the abandoned resume points: {}",
                   jobs.status().toString());
      return;
    }
    for (const store::TransferJob& job : *jobs) {
      if (running_.contains(job.id) || cleaning_.contains({job.package_id, job.dp})) continue;
      const config::DistributionPointConfig* dp = ctx_.config.findDp(job.dp);
      if (dp == nullptr) {
        // The DP left the configuration: nothing can reach its files any more.
        logIfError(jobs_->clearPartials(job.id), job.id, "forget resume points");
        continue;
      }
      auto transport = transportFor(*dp);
      if (!transport.ok()) {
        logIfError(transport.status(), job.id, "reach the DP to delete temporary files");
        logIfError(jobs_->clearPartials(job.id), job.id, "forget resume points");
        continue;
      }
      PX_LOG_INFO(ctx_.logger,
                  "Job {} ended ({}) with resume points it will never use; deleting their "
                  "temporary files on {}; {}",
                  job.id, store::toString(job.state), job.dp, jobTag(job));
      discardPartials(job, *transport);
    }
  }

  // Begins the transaction that records a job's result: the job's state and its pair's are
  // written together, or not at all (a crash between them would leave the job done and its pair
  // transferring). Without one (the database busy past its timeout), the writes still happen one
  // by one.
  std::optional<store::Transaction> beginResult(std::int64_t id) {
    auto tx = store::Transaction::begin(*db_);
    if (!tx.ok()) {
      logIfError(tx.status(), id, "begin recording the result");
      return std::nullopt;
    }
    return std::move(*tx);
  }
  void commitResult(std::optional<store::Transaction>& tx, std::int64_t id) {
    if (tx) logIfError(tx->commit(), id, "record the result");
  }

  // Moves a job that ran to `state` (its final one, or queued/paused to resume). False if it is
  // no longer running (the Distribution Manager superseded or cancelled it as it ended): its
  // result is then nobody's. (A database error is logged and also gives false.)
  bool finishJob(const store::TransferJob& job, JobState state, std::string_view error = {}) {
    if (Status s = jobs_->setState(job.id, state, error); !s.ok()) {
      if (s.code() == Status::Code::InvalidArgument) {
        PX_LOG_INFO(ctx_.logger, "Job ended after it was superseded or cancelled ({}); {}",
                    s.message(), jobTag(job));
      } else {
        logIfError(s, job.id, "record the result");
      }
      return false;
    }
    return true;
  }

  // Whether the job's result may be written to its pair (PairStates::ownedBy); logs why not.
  bool ownsPair(const store::TransferJob& job) {
    auto owned = states_->ownedBy(job);
    if (!owned.ok()) {
      logIfError(owned.status(), job.id, "read the distribution");
      return false;
    }
    if (!*owned) {
      PX_LOG_INFO(ctx_.logger,
                  "A later request owns the distribution of package {} to {}; its state is left "
                  "as that request set it; {}",
                  job.package_id, job.dp, jobTag(job));
    }
    return *owned;
  }

  // `transport` (null if there is none): where the job's temporary files are, deleted when the
  // pair fails for good (a retry takes them over instead, see distmgr).
  void failJob(const store::TransferJob& job, const Status& error,
               const std::shared_ptr<transport::Transport>& transport) {
    // One transaction: nobody (status, a test) sees the pair failed for good while its resume
    // points are still recorded, and a crash cannot leave the job failed with its pair running.
    auto tx = beginResult(job.id);
    if (!finishJob(job, JobState::Failed, error.toString())) {
      commitResult(tx, job.id);
      if (transport) discardPartials(job, transport);
      return;
    }
    if (!ownsPair(job)) {
      // Nobody retries this job: a later request owns the pair.
      commitResult(tx, job.id);
      if (transport) discardPartials(job, transport);
      return;
    }
    auto d = states_->attemptFailed(job.package_id, job.dp, error, "Sending " + jobTag(job));
    if (!d.ok()) {
      logIfError(d.status(), job.id, "record the failure");
    } else if (!d->retry && transport) {
      discardPartials(job, transport);
    }
    commitResult(tx, job.id);
  }

  // Records what a job that ended on its own did. Each case writes the job and its pair in one
  // transaction, and the pair only if the job still owns it.
  void recordOutcome(const store::TransferJob& job, const JobOutcome& out,
                     const std::shared_ptr<transport::Transport>& transport) {
    const std::int64_t id = job.id;
    const std::string tag = jobTag(job);
    auto tx = beginResult(id);
    switch (out.kind) {
      case JobOutcome::Kind::Installed: {
        logIfError(jobs_->setProgress(id, out.progress), id, "save progress");
        logIfError(jobs_->clearPartials(id), id, "forget resume points");
        if (!finishJob(job, JobState::Done)) break;
        const bool owned = ownsPair(job);
        if (owned && job.action != JobAction::Validate) {
          logIfError(states_->progress(job.package_id, job.dp, out.progress), id, "save progress");
        }
        // The log line before the state: whoever sees the pair installed finds it written.
        PX_LOG_INFO(ctx_.logger,
                    "Finished: content {} is installed on {} ({} file(s), {}; {} sent by this "
                    "run); {}",
                    content::contentId(job.package_id, job.version), job.dp,
                    out.progress.files_total, formatBytes(out.progress.bytes_total),
                    formatBytes(out.bytes_sent), tag);
        if (owned) logIfError(states_->installed(job.package_id, job.dp), id, "record the state");
        break;
      }
      case JobOutcome::Kind::Removed: {
        if (!finishJob(job, JobState::Done)) break;
        PX_LOG_INFO(ctx_.logger, "Finished: package {} removed from {}; {}", job.package_id, job.dp,
                    tag);
        if (ownsPair(job)) {
          logIfError(states_->removed(job.package_id, job.dp), id, "record the state");
        }
        break;
      }
      case JobOutcome::Kind::Paused: {
        // Runnable again once the window opens: poll() keeps it waiting until then.
        if (!finishJob(job, JobState::Paused)) {
          commitResult(tx, id);
          discardPartials(job, transport);
          return;
        }
        logIfError(jobs_->setProgress(id, out.progress), id, "save progress");
        if (!ownsPair(job)) break;
        logIfError(states_->progress(job.package_id, job.dp, out.progress), id, "save progress");
        commitResult(tx, id);
        const DpPolicy* policy = policyFor(job.dp);
        if (policy != nullptr && policy->schedule) {
          announced_.erase(id);
          announceWaiting(
              job, *policy->schedule, out.next_opening,
              fmt::format(" (sending paused at a block boundary; {} of {} on the "
                          "DP are kept and sending resumes from there; {} sent by "
                          "this run)",
                          formatBytes(out.progress.bytes_done),
                          formatBytes(out.progress.bytes_total), formatBytes(out.bytes_sent)));
        }
        return;
      }
      case JobOutcome::Kind::ValidationFailed:
        if (!finishJob(job, JobState::Failed, out.detail)) break;
        if (ownsPair(job)) {
          logIfError(states_->validationFailed(job.package_id, job.dp, out.detail), id,
                     "record the state");
        }
        break;
    }
    commitResult(tx, id);
    crashPoint("pkgxfermgr.result-recorded");
  }

  void onJobDone(std::int64_t id, const Result<JobOutcome>& result) {
    auto it = running_.find(id);
    if (it == running_.end()) return;
    const store::TransferJob job = it->second.job;
    const CancelMode cancel = it->second.cancel->load();
    const std::shared_ptr<transport::Transport> transport = it->second.transport;
    running_.erase(it);
    const std::string tag = jobTag(job);

    if (!result.ok() && result.status().code() == Status::Code::Cancelled) {
      if ((cancel == CancelMode::Stop || cancel == CancelMode::Pause) &&
          finishJob(job, JobState::Queued)) {
        // What was sent is kept; a closed window keeps it waiting (the poll's filter) until
        // it opens.
        PX_LOG_INFO(ctx_.logger, "Sending paused ({}); it resumes {}; {}",
                    cancel == CancelMode::Stop ? "service stopping" : "the window closed",
                    cancel == CancelMode::Stop ? "at the next start" : "when the window opens",
                    tag);
      } else {
        discardPartials(job, transport);
        PX_LOG_INFO(ctx_.logger, "Sending stopped: {}; {}", result.status().message(), tag);
      }
    } else if (!result.ok()) {
      failJob(job, result.status(), transport);
    } else {
      recordOutcome(job, *result, transport);
    }
    if (stopping_) {
      finishStopIfIdle();
      return;
    }
    poll();  // a slot is free
  }

  // Once stopping, calls stop()'s `done` when no job runs and no clean-up is in flight (both use
  // the component from the pool).
  void finishStopIfIdle(bool waited = true) {
    if (!stop_done_ || !running_.empty() || !cleaning_.empty()) return;
    if (waited) PX_LOG_INFO(ctx_.logger, "Package Transfer Manager stopped");
    auto done = std::move(stop_done_);
    stop_done_ = nullptr;
    done();
  }

  // poll() re-arms the timer; cancel the pending wait first so there is one wait at a time.
  host::ComponentContext ctx_;
  Options options_;
  host::PollTimer timer_;
  std::uint64_t subscription_ = 0;  // to host::Signals::Topic::TransferJobs
  bool has_runnable_ = false;       // the last poll found runnable jobs (started or not)
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::ChangeWatch> watch_;  // when poll() should read the queue again
  std::unique_ptr<store::TransferJobRepository> jobs_;
  std::unique_ptr<distribution::PairStates> states_;
  std::unique_ptr<content::ContentLibrary> site_;
  std::map<std::string, std::shared_ptr<transport::Transport>> transports_;
  std::map<std::int64_t, Running> running_;
  // By DP name; built at start, read-only afterwards (jobs on the pool use them).
  std::map<std::string, DpPolicy> policies_;
  // Jobs waiting for a window, with the opening (system ticks, -1 = never) already announced.
  std::map<std::int64_t, std::int64_t> announced_;
  // (package, DP) pairs whose temporary files are being deleted on the pool (discardPartials()).
  std::set<std::pair<std::string, std::string>> cleaning_;
  bool stopping_ = false;
  std::function<void()> stop_done_;
  // Last, so it is joined first when the component goes, before anything its threads may use.
  std::unique_ptr<host::BlockingPool> streams_;
};

void StrandEvents::progress(const store::Progress& progress) {
  asio::post(mgr_.strand(), [m = &mgr_, id = job_id_, progress] { m->onProgress(id, progress); });
}
void StrandEvents::partialSaved(const store::PartialBody& body) {
  asio::post(mgr_.strand(), [m = &mgr_, body] { m->onPartialSaved(body); });
}
void StrandEvents::verifying() {
  asio::post(mgr_.strand(), [m = &mgr_, id = job_id_] { m->onVerifying(id); });
}
void StrandEvents::partialForgotten(const std::string& sha256) {
  asio::post(mgr_.strand(),
             [m = &mgr_, id = job_id_, sha256] { m->onPartialForgotten(id, sha256); });
}

}  // namespace

Result<host::ComponentPtr> makePackageTransferManager(host::ComponentContext ctx, Options options) {
  if (!ctx.config.site) {
    return Status::InvalidArgument("pkgxfermgr needs the site block of the configuration");
  }
  if (options.database.empty())
    options.database = store::siteDatabasePath(ctx.config.site->data_dir);
  if (options.site_library.empty()) options.site_library = ctx.config.site->data_dir / "ContentLib";
  if (!options.transport_factory) {
    transport::TransportOptions t = transport::siteTransportOptions(*ctx.config.site);
    t.sync = options.sync;
    options.transport_factory = transport::defaultTransportFactory(t);
  }
  if (options.poll_interval.count() <= 0 || options.wake_interval.count() <= 0) {
    return Status::InvalidArgument("pkgxfermgr: poll_interval and wake_interval must be > 0");
  }
  return host::ComponentPtr(
      std::make_unique<PackageTransferManager>(std::move(ctx), std::move(options)));
}

}  // namespace pkgxfer::pkgxfermgr
