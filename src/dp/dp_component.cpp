// The `dp` component and the DpHost it shares with pulldp: a DP's content library, opened where
// dp.content_library says, served by a DpService on dp.listen.

#include <memory>

#include "pkgxfer/common/log.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/dp/dp_service.h"
#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::dp {
namespace {

class DistributionPoint final : public host::Component {
 public:
  DistributionPoint(host::ComponentContext ctx, std::shared_ptr<DpHost> host)
      : ctx_(std::move(ctx)), host_(std::move(host)) {}

  std::string_view name() const override { return "dp"; }

  Status start() override {
    const config::DpConfig& dp = host_->config();
    Status s = host_->start();
    if (!s.ok()) {
      PX_LOG_ERROR(ctx_.logger, "DP {} cannot serve its library: {}", dp.name, s.toString());
      return s;
    }
    const auto identity = host_->library().identity();
    PX_LOG_INFO(
        ctx_.logger, "DP {} serving the content library at {} on {}://{}:{} (library {}{})",
        dp.name, host_->library().describe(), dp.tls ? "https" : "http",
        config::parseHostPort(dp.listen)->host, host_->service().port(), identity.library_id,
        identity.site_code.empty() ? std::string(", no site yet") : ", site " + identity.site_code);
    return Status::Ok();
  }

  void stop(std::function<void()> done) override {
    PX_LOG_INFO(ctx_.logger, "DP {} stopping", host_->config().name);
    host_->stop(std::move(done));
  }

 private:
  host::ComponentContext ctx_;
  std::shared_ptr<DpHost> host_;
};

}  // namespace

Result<std::shared_ptr<DpHost>> DpHost::open(const host::ComponentContext& ctx) {
  if (!ctx.config.dp) return Status::InvalidArgument("dp: the config has no \"dp\" block");
  const config::DpConfig& dp = *ctx.config.dp;

  content::ContentLibrary::Options lib;
  lib.early_writeback = true;  // uploads stream to disk, their flush finds them written
  lib.drop_from_cache = true;  // a received body does not push served files out of the cache
  // FileLib's resumable uploads are never swept; a whole-body PUT a crash interrupted is.
  lib.sweep_file_lib_on_open = true;
  auto library = content::ContentLibrary::open(dp.content_library, lib);
  if (!library.ok()) return library.status().withContext("dp: the content library");

  auto token = fs::readTokenFile(fs::FileSystem::local(), dp.token_file);
  if (!token.ok()) return token.status().withContext("dp: the site's token (dp.token_file)");
  auto listen = config::parseHostPort(dp.listen);
  if (!listen.ok()) return listen.status().withContext("dp.listen");

  DpServiceOptions options;
  options.name = dp.name;
  options.server.host = listen->host;
  options.server.port = listen->port;
  if (dp.tls) options.server.tls = http::ServerTlsOptions{dp.tls->cert_file, dp.tls->key_file};
  options.server.bearer_token = std::move(*token);
  options.server.handler_executor = ctx.blocking.get_executor();
  // pkgxferd's blocking pool has this many threads for the DP (daemon.cpp).
  options.server.max_concurrent_handlers = kMaxConcurrentRequests;
  auto service =
      std::make_unique<DpService>(ctx.io, **library, ctx.clock, std::move(options), ctx.logger);
  return std::make_shared<DpHost>(std::move(*library), std::move(service), dp);
}

Status DpHost::start() {
  std::lock_guard lock(mu_);
  if (started_ > 0) {
    ++started_;
    return Status::Ok();
  }
  PKGXFER_RETURN_IF_ERROR(service_->start());
  started_ = 1;
  return Status::Ok();
}

void DpHost::stop(std::function<void()> done) {
  {
    std::lock_guard lock(mu_);
    if (started_ > 1) {
      --started_;
      if (done) done();
      return;
    }
    started_ = 0;
  }
  service_->stop(std::move(done));
}

Result<host::ComponentPtr> makeDistributionPoint(host::ComponentContext ctx,
                                                 std::shared_ptr<DpHost> host) {
  return host::ComponentPtr(std::make_unique<DistributionPoint>(std::move(ctx), std::move(host)));
}

}  // namespace pkgxfer::dp
