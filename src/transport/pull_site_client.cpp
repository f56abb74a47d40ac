#include "pkgxfer/transport/pull_site_client.h"

#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/http/client.h"

namespace pkgxfer::transport {

PullSiteClient::PullSiteClient(std::string bearer_token, std::chrono::milliseconds connect_timeout,
                               std::chrono::milliseconds io_timeout)
    : token_(std::move(bearer_token)), connect_timeout_(connect_timeout), io_timeout_(io_timeout) {}

PullSiteClient::~PullSiteClient() = default;

Result<std::unique_ptr<PullSiteClient>> PullSiteClient::open(
    const std::filesystem::path& token_file, std::chrono::milliseconds connect_timeout,
    std::chrono::milliseconds io_timeout) {
  auto token = fs::readTokenFile(fs::FileSystem::local(), token_file);
  if (!token.ok()) return token.status().withContext("the site's token (site.token_file)");
  return std::make_unique<PullSiteClient>(std::move(*token), connect_timeout, io_timeout);
}

Result<http::Client*> PullSiteClient::clientFor(const std::string& base_url,
                                                const std::filesystem::path& ca) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(base_url);
  if (it != clients_.end()) return it->second.get();
  http::ClientOptions options;
  options.base_url = base_url;
  options.ca_file = ca;
  options.bearer_token = token_;
  options.connect_timeout = connect_timeout_;
  options.io_timeout = io_timeout_;
  options.max_idle_connections = 2;
  PKGXFER_ASSIGN_OR_RETURN(std::unique_ptr<http::Client> client,
                           http::Client::create(std::move(options)));
  http::Client* raw = client.get();
  clients_.emplace(base_url, std::move(client));
  return raw;
}

Result<bool> PullSiteClient::sourceHas(const config::DistributionPointConfig& source,
                                       std::string_view package_id, std::uint64_t version,
                                       const CallContext& ctx) {
  if (source.content_url.empty()) {
    return Status::InvalidArgument("DP " + source.name + " has no HTTP content URL");
  }
  PKGXFER_ASSIGN_OR_RETURN(http::Client * client, clientFor(source.content_url, source.ca_file));
  PKGXFER_ASSIGN_OR_RETURN(
      http::ClientResponse response,
      client->get(ctx, "/v1/content/" + std::string(package_id) + "/" + std::to_string(version)));
  if (response.status == 404) return false;
  PKGXFER_RETURN_IF_ERROR(http::responseStatus(response));
  return true;
}

Status PullSiteClient::notify(const config::DistributionPointConfig& pull_dp,
                              const pull::Notification& notification, const CallContext& ctx) {
  const config::HttpAddress* address = pull_dp.http();
  if (address == nullptr) {
    return Status::InvalidArgument("pull DP " + pull_dp.name + " has no http(s) address");
  }
  PKGXFER_ASSIGN_OR_RETURN(http::Client * client, clientFor(address->url(), pull_dp.ca_file));
  http::ClientRequest request;
  request.method = "POST";
  request.target = "/v1/pull-jobs";
  request.body = pull::toJson(notification);
  request.content_type = "application/json";
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse response, client->request(ctx, request));
  return http::responseStatus(response);
}

Result<std::optional<pull::JobStatus>> PullSiteClient::jobStatus(
    const config::DistributionPointConfig& pull_dp, std::int64_t job_id, const CallContext& ctx) {
  const config::HttpAddress* address = pull_dp.http();
  if (address == nullptr) {
    return Status::InvalidArgument("pull DP " + pull_dp.name + " has no http(s) address");
  }
  PKGXFER_ASSIGN_OR_RETURN(http::Client * client, clientFor(address->url(), pull_dp.ca_file));
  PKGXFER_ASSIGN_OR_RETURN(http::ClientResponse response,
                           client->get(ctx, "/v1/pull-jobs/" + std::to_string(job_id)));
  if (response.status == 404) return std::optional<pull::JobStatus>();
  PKGXFER_RETURN_IF_ERROR(http::responseStatus(response));
  auto status = pull::parseJobStatus(response.body);
  if (!status.ok()) {
    return status.status().withContext(response.request);
  }
  return std::optional<pull::JobStatus>(std::move(*status));
}

}  // namespace pkgxfer::transport
