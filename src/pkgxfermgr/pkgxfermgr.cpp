#include "pkgxfer/pkgxfermgr/pkgxfermgr.h"

#include <boost/asio/post.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <ctime>
#include <map>
#include <set>
#include <stop_token>

#include "pkgxfer/common/crash_point.h"
#include "pkgxfer/common/units.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/distribution/pair_states.h"
#include "pkgxfer/distribution/retry_policy.h"
#include "pkgxfer/host/blocking_pool.h"
#include "pkgxfer/host/poll_timer.h"
#include "pkgxfer/pkgxfermgr/job_runner.h"
#include "pkgxfer/pkgxfermgr/job_selection.h"
#include "pkgxfer/pkgxfermgr/pull_policy.h"
#include "pkgxfer/store/change_watch.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/pull_transfer_repository.h"
#include "pkgxfer/store/status_message_repository.h"
#include "pkgxfer/store/transfer_job_repository.h"
#include "pkgxfer/transport/pull_protocol.h"
#include "pkgxfer/transport/pull_site_client.h"
#include "pkgxfer/transport/rate_limiter.h"
#include "pkgxfer/transport/schedule.h"
#include "pkgxfer/transport/time_zone.h"

namespace pkgxfer::pkgxfermgr {
namespace {

namespace asio = boost::asio;
using store::JobAction;
using store::JobState;
using store::PullPhase;
namespace pull = transport::pull;

class PackageTransferManager;

// Local time as ConfigMgr logs a restart time: "11/25/2026 16:49:25".
std::string localTime(Clock::SystemTime t) { return distribution::restartTimeText(t); }

// What one step of a pull job's cycle found (computed on the blocking pool).
struct PullStepResult {
  PullPhase phase = PullPhase::SourceCheck;
  int source = -1;     // SourceCheck: the index of the first source holding the content
  std::string detail;  // SourceCheck: what each source answered
  Status status;       // Notify, StatusWait: the call's failure
  std::optional<pull::JobStatus> job_status;  // StatusWait: the pull DP's answer (nullopt: 404)
};

// The status message a pull DP's answer to a check stands for (as if it had posted it).
store::StatusMessage statusMessageFrom(const pull::JobStatus& s, const store::TransferJob& job) {
  store::StatusMessage m;
  m.dp = job.dp;
  m.package_id = job.package_id;
  m.version = job.version;
  m.job_id = job.id;
  switch (s.state) {
    case pull::PullState::Queued:
      m.state = store::DistributionState::Notified;
      break;
    case pull::PullState::Downloading:
      m.state = store::DistributionState::Pulling;
      break;
    case pull::PullState::Installed:
      m.state = store::DistributionState::Installed;
      break;
    case pull::PullState::Failed:
      m.state = store::DistributionState::Failed;
      break;
  }
  m.progress = {s.bytes_total, s.bytes_done, s.files_total, s.files_done};
  m.message = s.error.empty() ? s.source : s.error;
  m.sequence = s.sequence;
  return m;
}

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
            ctx_.strand, options_.wake_interval, [this] { return watch_->due() || pullDue(); },
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
    pull_cycles_ = std::make_unique<store::PullTransferRepository>(*db_);
    status_messages_ = std::make_unique<store::StatusMessageRepository>(*db_);
    const auto& dps = ctx_.config.distribution_points;
    if (std::any_of(dps.begin(), dps.end(),
                    [](const auto& dp) { return dp.type == config::DpType::Pull; })) {
      PKGXFER_ASSIGN_OR_RETURN(pull_client_,
                               transport::PullSiteClient::open(ctx_.config.site->token_file));
    }
    // Running pull jobs are queued again too: their cycles resume from pull_transfers.
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
    pull_stop_.request_stop();  // pull DP calls in flight end now; their cycles are in the database
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
    auto interval =
        busy ? std::min(options_.poll_interval, options_.wake_interval) : options_.wake_interval;
    // The next step of a pull cycle due sooner: wake for it (pullDue() then says so).
    if (auto next = nextPullDue()) {
      const auto wait =
          std::chrono::ceil<std::chrono::milliseconds>(*next - ctx_.clock.systemNow());
      interval = std::clamp(wait, std::chrono::milliseconds(1), interval);
    }
    timer_.arm(interval);
  }

  void poll() {
    if (stopping_) return;
    watch_->reading();
    discardAbandonedPartials();
    adoptPullJobs();
    runDuePulls();
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
        // Distributions to pull DPs take no slot of the pool: adoptPullJobs() took them.
        if (isPullTransfer(job)) continue;
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

  // ---- Pull DPs (docs/architecture.md "Pull distribution points") ----
  //
  // A distribution to a pull DP takes no slot of the pool and sends nothing: its job runs a cycle
  // of short HTTP calls on the blocking pool (at most kMaxPullCalls at once), each step's outcome
  // and the next one's due time written to pull_transfers, so a restart resumes every cycle where
  // it stood. The job ends when the distribution manager applies the pull DP's final status (or
  // here, when a limit is reached).

  static constexpr int kMaxPullCalls = 8;

  struct PullRun {
    store::TransferJob job;
    store::PullTransfer cycle;
    bool in_flight = false;
  };

  bool isPullTransfer(const store::TransferJob& job) const {
    if (job.action != JobAction::Add && job.action != JobAction::Redistribute) return false;
    const config::DistributionPointConfig* dp = ctx_.config.findDp(job.dp);
    return dp != nullptr && dp->type == config::DpType::Pull;
  }

  std::optional<Clock::SystemTime> nextPullDue() const {
    std::optional<Clock::SystemTime> next;
    for (const auto& [id, run] : pulls_) {
      if (run.in_flight) continue;
      if (!next || run.cycle.next_at < *next) next = run.cycle.next_at;
    }
    return next;
  }

  bool pullDue() const {
    auto next = nextPullDue();
    return next && *next <= ctx_.clock.systemNow() && pull_in_flight_ < kMaxPullCalls;
  }

  static std::string pullTag(const store::TransferJob& job) {
    return fmt::format("job {}, {} v{}, pull DP {}", job.id, job.package_id, job.version, job.dp);
  }

  // Takes the queued distributions to pull DPs into the pull cycle: the job is running from now
  // until its pull DP reports the result, its cycle resumed from pull_transfers or begun.
  void adoptPullJobs() {
    if (stopping_) return;
    auto queued = pull_cycles_->listQueued();
    if (!queued.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Cannot read the pull DP jobs: {}", queued.status().toString());
      return;
    }
    for (const store::TransferJob& job : *queued) {
      if (pulls_.contains(job.id)) continue;
      const config::DistributionPointConfig* dp = ctx_.config.findDp(job.dp);
      if (dp == nullptr || pull_client_ == nullptr) {
        failPull(job, "DP " + job.dp + " is not a pull DP in the configuration");
        continue;
      }
      auto cycle = pull_cycles_->get(job.id);
      if (!cycle.ok()) {
        logIfError(cycle.status(), job.id, "read the pull cycle");
        continue;
      }
      const bool resumed = cycle->has_value();
      store::PullTransfer c;
      if (resumed) {
        c = **cycle;
      } else {
        c.job_id = job.id;
        c.phase = PullPhase::SourceCheck;
        c.next_at = ctx_.clock.systemNow();
      }
      {
        auto tx = beginResult(job.id);
        if (Status s = jobs_->setState(job.id, JobState::Running); !s.ok()) {
          logIfError(s, job.id, "mark running");
          continue;
        }
        logIfError(pull_cycles_->save(c), job.id, "save the pull cycle");
        commitResult(tx, job.id);
      }
      std::string sources;
      for (const auto& name : dp->sources) sources += (sources.empty() ? "" : ", ") + name;
      if (resumed) {
        PX_LOG_INFO(ctx_.logger,
                    "Resuming the pull of a previous run: phase {}, next step at {} ({} source "
                    "check(s) without a source, {} failed notification(s), {} status check(s)); {}",
                    store::toString(c.phase), localTime(c.next_at), c.source_checks,
                    c.notify_failures, c.status_checks, pullTag(job));
      } else {
        PX_LOG_INFO(ctx_.logger,
                    "Found pull request with ID: {}, Package: {}, Version: {}, Priority: {}, "
                    "Destination: {} (pull DP, sources {}), Action: {}",
                    job.id, job.package_id, job.version, store::toString(job.priority), job.dp,
                    sources, store::toString(job.action));
      }
      PullRun run;
      run.job = job;
      run.job.state = JobState::Running;
      run.cycle = c;
      pulls_.emplace(job.id, std::move(run));
    }
  }

  // Starts the steps that are due, up to kMaxPullCalls at once.
  void runDuePulls() {
    if (stopping_) return;
    const auto now = ctx_.clock.systemNow();
    std::vector<std::int64_t> due;
    for (const auto& [id, run] : pulls_) {
      if (!run.in_flight && run.cycle.next_at <= now) due.push_back(id);
    }
    for (std::int64_t id : due) {
      if (pull_in_flight_ >= kMaxPullCalls) break;
      startPullStep(id);
    }
  }

  // Whether the job still runs here; forgets it otherwise (the distribution manager applied its
  // result, or a new request superseded or cancelled it).
  bool pullStillRunning(std::int64_t id) {
    auto job = jobs_->get(id);
    if (job.ok() && job->state == JobState::Running) return true;
    if (job.ok()) {
      PX_LOG_DEBUG(ctx_.logger, "Pull job {} is {}; its cycle ends", id,
                   store::toString(job->state));
    }
    pulls_.erase(id);
    return false;
  }

  void startPullStep(std::int64_t id) {
    if (!pullStillRunning(id)) return;
    PullRun& run = pulls_.at(id);
    const store::TransferJob job = run.job;
    const config::DistributionPointConfig* dp = ctx_.config.findDp(job.dp);
    if (dp == nullptr) {
      failPull(job, "DP " + job.dp + " is no longer in the configuration");
      return;
    }
    const auto& cfg = ctx_.config.distribution;
    if (run.cycle.phase == PullPhase::StatusWait) {
      // A status that arrived since the wait began resets it: the check is due a timeout after it.
      auto last = status_messages_->lastReceivedAt(id);
      if (last.ok() && *last && run.cycle.waiting_since && **last > *run.cycle.waiting_since) {
        run.cycle.waiting_since = **last;
        run.cycle.status_checks = 0;
        run.cycle.next_at = statusDue(**last, std::nullopt, cfg);
        logIfError(pull_cycles_->save(run.cycle), id, "save the pull cycle");
        PX_LOG_DEBUG(ctx_.logger, "Status received at {}; next check on the pull DP at {}; {}",
                     localTime(**last), localTime(run.cycle.next_at), pullTag(job));
        return;
      }
      PX_LOG_INFO(ctx_.logger,
                  "No status from pull DP {} since {} ({}); asking it how job {} stands "
                  "(check {} of {}); {}",
                  job.dp,
                  run.cycle.waiting_since ? localTime(*run.cycle.waiting_since) : std::string("?"),
                  formatDuration(cfg.pull_status_timeout), id, run.cycle.status_checks + 1,
                  cfg.pull_status_check_count, pullTag(job));
    }
    std::vector<const config::DistributionPointConfig*> sources;
    for (const auto& name : dp->sources) {
      if (const auto* s = ctx_.config.findDp(name)) sources.push_back(s);
    }
    run.in_flight = true;
    ++pull_in_flight_;
    const PullPhase phase = run.cycle.phase;
    std::string status_url;
    if (auto listen = config::parseHostPort(ctx_.config.site->listen);
        listen.ok() && listen->host != "0.0.0.0" && listen->host != "::") {
      const bool v6 = listen->host.find(':') != std::string::npos;
      status_url =
          fmt::format("http://{}{}{}:{}", v6 ? "[" : "", listen->host, v6 ? "]" : "", listen->port);
    }
    asio::post(ctx_.blocking.get_executor(), [this, job, dp, sources, phase, status_url] {
      PullStepResult r = runPullStep(job, *dp, sources, phase, status_url);
      asio::post(ctx_.strand, [this, id = job.id, r = std::move(r)] { onPullStepDone(id, r); });
    });
  }

  // One step's HTTP calls, on the blocking pool.
  PullStepResult runPullStep(const store::TransferJob& job,
                             const config::DistributionPointConfig& dp,
                             const std::vector<const config::DistributionPointConfig*>& sources,
                             PullPhase phase, const std::string& status_url) {
    PullStepResult r;
    r.phase = phase;
    const CallContext call = CallContext{pull_stop_.get_token()}.within(std::chrono::seconds(60));
    const auto version = static_cast<std::uint64_t>(job.version);
    switch (phase) {
      case PullPhase::SourceCheck:
        for (std::size_t i = 0; i < sources.size(); ++i) {
          auto has = pull_client_->sourceHas(*sources[i], job.package_id, version, call);
          r.detail += fmt::format(
              "{}{}: {}", r.detail.empty() ? "" : "; ", sources[i]->name,
              !has.ok() ? has.status().toString() : (*has ? "has it" : "not there (404)"));
          if (has.ok() && *has) {
            r.source = static_cast<int>(i);
            break;
          }
        }
        break;
      case PullPhase::Notify: {
        auto manifest = site_->readManifest(job.package_id, version);
        if (!manifest.ok()) {
          r.status = manifest.status().withContext("site content library");
          break;
        }
        pull::Notification n;
        n.job_id = job.id;
        n.dp = job.dp;
        n.redistribute = job.action == JobAction::Redistribute;
        n.manifest = std::move(*manifest);
        for (const auto* s : sources) {
          if (!s->content_url.empty()) n.sources.push_back(s->content_url);
        }
        n.status_url = status_url;
        r.status = pull_client_->notify(dp, n, call);
        break;
      }
      case PullPhase::StatusWait: {
        auto answer = pull_client_->jobStatus(dp, job.id, call);
        if (!answer.ok()) {
          r.status = answer.status();
        } else {
          r.job_status = std::move(*answer);
        }
        break;
      }
    }
    return r;
  }

  void onPullStepDone(std::int64_t id, const PullStepResult& r) {
    --pull_in_flight_;
    auto it = pulls_.find(id);
    if (it != pulls_.end()) it->second.in_flight = false;
    if (stopping_) {
      finishStopIfIdle();
      return;
    }
    if (it == pulls_.end() || !pullStillRunning(id)) return poll();
    PullRun& run = it->second;
    const store::TransferJob job = run.job;
    store::PullTransfer& c = run.cycle;
    const auto& cfg = ctx_.config.distribution;
    const auto now = ctx_.clock.systemNow();
    const std::string tag = pullTag(job);
    switch (r.phase) {
      case PullPhase::SourceCheck: {
        if (r.source >= 0) {
          PX_LOG_INFO(ctx_.logger, "A source has content {} ({}); notifying the pull DP; {}",
                      content::contentId(job.package_id, static_cast<std::uint64_t>(job.version)),
                      r.detail, tag);
          c.phase = PullPhase::Notify;
          c.notify_failures = 0;
          c.next_at = now;
          logIfError(pull_cycles_->save(c), id, "save the pull cycle");
          break;
        }
        ++c.source_checks;
        const NextStep next = afterSourceMiss(c.source_checks, now, cfg);
        if (next.give_up) {
          failPull(job,
                   fmt::format(
                       "no source DP had content {} after {} check(s), {} apart ({})",
                       content::contentId(job.package_id, static_cast<std::uint64_t>(job.version)),
                       c.source_checks, formatDuration(cfg.pull_source_recheck), r.detail));
          return poll();
        }
        c.next_at = next.at;
        const std::string why =
            fmt::format("no source has the content yet; next check at {} ({} of {} re-checks)",
                        localTime(next.at), c.source_checks, cfg.pull_source_recheck_count);
        PX_LOG_INFO(ctx_.logger, "No source has content {} yet ({}); next check at {} ({}/{}); {}",
                    content::contentId(job.package_id, static_cast<std::uint64_t>(job.version)),
                    r.detail, localTime(next.at), c.source_checks, cfg.pull_source_recheck_count,
                    tag);
        auto tx = beginResult(id);
        logIfError(pull_cycles_->save(c), id, "save the pull cycle");
        if (ownsPair(job)) {
          logIfError(states_->waitingSource(job.package_id, job.dp, why), id, "record the state");
        }
        commitResult(tx, id);
        break;
      }
      case PullPhase::Notify: {
        if (r.status.ok()) {
          c.phase = PullPhase::StatusWait;
          c.waiting_since = now;
          c.status_checks = 0;
          c.next_at = statusDue(now, std::nullopt, cfg);
          PX_LOG_INFO(ctx_.logger,
                      "PullDP notification sent to {}; waiting for its status (checking on it at "
                      "{} if none arrives); {}",
                      job.dp, localTime(c.next_at), tag);
          auto tx = beginResult(id);
          logIfError(pull_cycles_->save(c), id, "save the pull cycle");
          if (ownsPair(job)) {
            logIfError(states_->notified(job.package_id, job.dp), id, "record the state");
          }
          commitResult(tx, id);
          break;
        }
        ++c.notify_failures;
        const NextStep next = afterNotifyFailure(c.notify_failures, now, cfg);
        if (next.give_up) {
          PX_LOG_ERROR(ctx_.logger, "PullDP notification failed: {}. Failure count = {}/{}; {}",
                       r.status.toString(), c.notify_failures, kNotifyAttempts, tag);
          failPullAttempt(job, r.status);
          return poll();
        }
        c.next_at = next.at;
        PX_LOG_WARN(ctx_.logger,
                    "PullDP notification failed: {}. Failure count = {}/{}, Restart time = {}; {}",
                    r.status.toString(), c.notify_failures, kNotifyAttempts, localTime(next.at),
                    tag);
        logIfError(pull_cycles_->save(c), id, "save the pull cycle");
        break;
      }
      case PullPhase::StatusWait: {
        if (r.status.ok() && !r.job_status) {
          PX_LOG_WARN(ctx_.logger,
                      "Pull DP {} does not know job {} (404: it lost the notification); notifying "
                      "it again; {}",
                      job.dp, id, tag);
          c.phase = PullPhase::Notify;
          c.notify_failures = 0;
          c.next_at = now;
          logIfError(pull_cycles_->save(c), id, "save the pull cycle");
          break;
        }
        if (r.status.ok() && (r.job_status->state == pull::PullState::Installed ||
                              r.job_status->state == pull::PullState::Failed)) {
          const pull::JobStatus& js = *r.job_status;
          PX_LOG_INFO(ctx_.logger,
                      "Pull DP {} reports job {} {}{}; taken as its status (sequence {}); {}",
                      job.dp, id, pull::toString(js.state),
                      js.error.empty() ? std::string() : ": " + js.error, js.sequence, tag);
          auto tx = beginResult(id);
          auto recorded = status_messages_->record(statusMessageFrom(js, job));
          if (!recorded.ok()) logIfError(recorded.status(), id, "record the status");
          c.waiting_since = now;
          c.next_at = statusDue(now, std::nullopt, cfg);
          logIfError(pull_cycles_->save(c), id, "save the pull cycle");
          commitResult(tx, id);
          ctx_.signals.notify(host::Signals::Topic::StatusMessages);
          break;
        }
        ++c.status_checks;
        const NextStep next = afterStatusCheck(c.status_checks, now, cfg);
        const std::string found =
            !r.status.ok()
                ? "it cannot be reached: " + r.status.toString()
                : fmt::format("it reports {} ({} of {} bytes{})",
                              pull::toString(r.job_status->state), r.job_status->bytes_done,
                              r.job_status->bytes_total,
                              r.job_status->source.empty() ? "" : ", from " + r.job_status->source);
        if (next.give_up) {
          failPull(job, fmt::format("no status from pull DP {} after {} check(s), {} apart; at "
                                    "the last one {}",
                                    job.dp, c.status_checks,
                                    formatDuration(cfg.pull_status_timeout), found));
          return poll();
        }
        c.waiting_since = now;
        c.next_at = next.at;
        PX_LOG_INFO(ctx_.logger, "Status timeout of job {}: {}; next check at {} ({}/{}); {}", id,
                    found, localTime(next.at), c.status_checks, cfg.pull_status_check_count, tag);
        logIfError(pull_cycles_->save(c), id, "save the pull cycle");
        break;
      }
    }
    poll();
  }

  // A pull job fails for good (a cycle's limit, the DP gone): the job failed, its pair failed.
  void failPull(const store::TransferJob& job, const std::string& why) {
    PX_LOG_ERROR(ctx_.logger, "Pull failed: {}; {}", why, pullTag(job));
    pulls_.erase(job.id);
    auto tx = beginResult(job.id);
    if (finishJob(job, JobState::Failed, why) && ownsPair(job)) {
      logIfError(states_->failed(job.package_id, job.dp, why), job.id, "record the state");
    }
    commitResult(tx, job.id);
  }

  // A failed attempt of a pull job (notifications exhausted): the retry policy decides, and a
  // retry is a new job distmgr creates.
  void failPullAttempt(const store::TransferJob& job, const Status& error) {
    pulls_.erase(job.id);
    auto tx = beginResult(job.id);
    if (finishJob(job, JobState::Failed, error.toString()) && ownsPair(job)) {
      auto d = states_->attemptFailed(job.package_id, job.dp, error, "Pull of " + pullTag(job));
      if (!d.ok()) logIfError(d.status(), job.id, "record the failure");
    }
    commitResult(tx, job.id);
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
    if (!stop_done_ || !running_.empty() || !cleaning_.empty() || pull_in_flight_ > 0) return;
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
  // Pull DPs: the jobs in their cycle, by id; the calls in flight; the client of their protocol
  // (null when no pull DP is configured); the stop of their calls.
  std::unique_ptr<store::PullTransferRepository> pull_cycles_;
  std::unique_ptr<store::StatusMessageRepository> status_messages_;
  std::unique_ptr<transport::PullSiteClient> pull_client_;
  std::map<std::int64_t, PullRun> pulls_;
  int pull_in_flight_ = 0;
  std::stop_source pull_stop_;
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
