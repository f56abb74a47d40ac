#include "pkgxfer/statusreceiver/statusreceiver.h"

#include <fmt/format.h>

#include <memory>
#include <mutex>

#include "pkgxfer/common/units.h"
#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/http/server.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/status_message_repository.h"
#include "pkgxfer/store/transfer_job_repository.h"
#include "pkgxfer/transport/pull_protocol.h"

namespace pkgxfer::statusreceiver {
namespace {

namespace pull = transport::pull;

// A status message is a small JSON object; anything larger is not one.
constexpr std::size_t kMaxMessageBytes = 64 * 1024;

std::string jsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

store::DistributionState stateOf(pull::PullState state) {
  switch (state) {
    case pull::PullState::Queued:
      return store::DistributionState::Notified;
    case pull::PullState::Downloading:
      return store::DistributionState::Pulling;
    case pull::PullState::Installed:
      return store::DistributionState::Installed;
    case pull::PullState::Failed:
      break;
  }
  return store::DistributionState::Failed;
}

class StatusReceiver final : public host::Component {
 public:
  StatusReceiver(host::ComponentContext ctx, Options options)
      : ctx_(std::move(ctx)), options_(std::move(options)) {}

  std::string_view name() const override { return "statusreceiver"; }

  Status start() override {
    const config::SiteConfig& site = *ctx_.config.site;
    PKGXFER_ASSIGN_OR_RETURN(db_, store::Database::open(options_.database, ctx_.clock));
    auto token = fs::readTokenFile(fs::FileSystem::local(), site.token_file);
    if (!token.ok()) return token.status().withContext("the site's token (site.token_file)");
    auto listen = config::parseHostPort(site.listen);
    if (!listen.ok()) return listen.status().withContext("site.listen");
    http::ServerOptions server;
    server.host = listen->host;
    server.port = listen->port;
    server.bearer_token = std::move(*token);
    server.handler_executor = ctx_.blocking.get_executor();
    server.max_concurrent_handlers = options_.max_concurrent_handlers;
    server_ = std::make_unique<http::Server>(ctx_.io, std::move(server));
    http::RouteOptions route;
    route.requires_auth = true;
    route.max_body_bytes = kMaxMessageBytes;
    PKGXFER_RETURN_IF_ERROR(server_->addRoute(
        "POST", "/v1/status", route, [this](http::Request& request, http::Response& response) {
          return handleStatus(request, response);
        }));
    Status s = server_->start();
    if (!s.ok()) {
      PX_LOG_ERROR(ctx_.logger, "Status receiver cannot listen on {}: {}", site.listen,
                   s.toString());
      return s;
    }
    PX_LOG_INFO(ctx_.logger, "Status receiver listening on http://{}:{} for pull DP status",
                listen->host, server_->port());
    return Status::Ok();
  }

  void stop(std::function<void()> done) override {
    PX_LOG_INFO(ctx_.logger, "Status receiver stopping");
    if (!server_) return done();
    server_->stop(std::move(done));
  }

 private:
  Status handleStatus(http::Request& request, http::Response& response) {
    auto body = request.readBody(kMaxMessageBytes);
    if (!body.ok()) return body.status();
    auto status = pull::parseJobStatus(*body);
    if (!status.ok()) {
      PX_LOG_WARN(ctx_.logger, "Refused a status message from {}: {}", request.peer(),
                  status.status().message());
      return response.sendError(400, status.status().message());
    }
    const pull::JobStatus& s = *status;
    std::string refusal;
    int code = 200;
    store::RecordedMessage recorded;
    {
      std::lock_guard lock(db_mu_);
      auto job = store::TransferJobRepository(*db_).get(s.job_id);
      if (!job.ok()) {
        code = job.status().code() == Status::Code::NotFound ? 404 : 500;
        refusal = job.status().message();
      } else if (job->dp != s.dp) {
        code = 404;
        refusal = fmt::format("transfer job {} is not DP {}'s", s.job_id, s.dp);
      } else if (job->package_id != s.package_id ||
                 static_cast<std::uint64_t>(job->version) != s.version) {
        code = 400;
        refusal = fmt::format("transfer job {} is for {} v{}, not {} v{}", s.job_id,
                              job->package_id, job->version, s.package_id, s.version);
      } else {
        store::StatusMessage m;
        m.dp = s.dp;
        m.package_id = s.package_id;
        m.version = job->version;
        m.job_id = s.job_id;
        m.state = stateOf(s.state);
        m.progress = {s.bytes_total, s.bytes_done, s.files_total, s.files_done};
        m.message = s.error.empty() ? s.source : s.error;
        m.sequence = s.sequence;
        auto result = store::StatusMessageRepository(*db_).record(m);
        if (!result.ok()) {
          code = result.status().code() == Status::Code::NotFound ? 404 : 500;
          refusal = result.status().toString();
        } else {
          recorded = *result;
        }
      }
    }
    const std::string what =
        fmt::format("job {}, {} v{}, {}, sequence {}, {} of {} file(s), {} of {}{}", s.job_id,
                    s.package_id, s.version, pull::toString(s.state), s.sequence, s.files_done,
                    s.files_total, formatBytes(s.bytes_done), formatBytes(s.bytes_total),
                    s.error.empty() ? std::string() : ", error: " + s.error);
    if (code != 200) {
      if (code == 500) {
        PX_LOG_ERROR(ctx_.logger, "Cannot record the status message from pull DP {} ({}): {}; {}",
                     s.dp, request.peer(), refusal, what);
      } else {
        PX_LOG_WARN(ctx_.logger, "Refused the status message from pull DP {} ({}): {}; {}", s.dp,
                    request.peer(), refusal, what);
      }
      return response.sendError(code, refusal);
    }
    if (recorded.duplicate) {
      PX_LOG_INFO(ctx_.logger, "Status message from pull DP {} already recorded (message {}); {}",
                  s.dp, recorded.id, what);
    } else {
      PX_LOG_INFO(ctx_.logger, "Status message {} received from pull DP {} ({}): {}", recorded.id,
                  s.dp, request.peer(), what);
      ctx_.signals.notify(host::Signals::Topic::StatusMessages);
    }
    return response.send(200, fmt::format(R"({{"id":{},"duplicate":{},"dp":{}}})", recorded.id,
                                          recorded.duplicate ? "true" : "false", jsonString(s.dp)));
  }

  host::ComponentContext ctx_;
  Options options_;
  std::mutex db_mu_;
  std::unique_ptr<store::Database> db_;  // guarded by db_mu_
  std::unique_ptr<http::Server> server_;
};

}  // namespace

Result<host::ComponentPtr> makeStatusReceiver(host::ComponentContext ctx, Options options) {
  if (!ctx.config.site) {
    return Status::InvalidArgument("statusreceiver needs the site block of the configuration");
  }
  if (options.database.empty()) {
    options.database = store::siteDatabasePath(ctx.config.site->data_dir);
  }
  return host::ComponentPtr(std::make_unique<StatusReceiver>(std::move(ctx), std::move(options)));
}

}  // namespace pkgxfer::statusreceiver
