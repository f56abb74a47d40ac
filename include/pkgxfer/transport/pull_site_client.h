#pragma once

// PullSiteClient: the site's side of the pull DP protocol (pull_protocol.h) over HTTP, for the
// transfer manager's pull cycle: whether a source DP holds a content version (GET
// <content_url>/v1/content/{pkg}/{ver}), the notification (POST <pull DP>/v1/pull-jobs) and the
// check on a job (GET <pull DP>/v1/pull-jobs/{id}). Requests carry the site's bearer token; an
// https DP's certificate is verified against its ca_file.
//
// Thread-safe: the calls block (they run on the blocking pool) and share one pooled http::Client
// per base URL. Every call is bounded by its CallContext and the client's timeouts.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "pkgxfer/common/call_context.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/transport/pull_protocol.h"

namespace pkgxfer::http {
class Client;
}

namespace pkgxfer::transport {

class PullSiteClient {
 public:
  // `bearer_token`: the site's token (site.token_file's contents). Connect and per-read/write
  // timeouts of every request.
  PullSiteClient(std::string bearer_token, std::chrono::milliseconds connect_timeout,
                 std::chrono::milliseconds io_timeout);
  ~PullSiteClient();
  // Reads the token from `token_file` (NotFound/PermissionDenied/IoError/InvalidArgument).
  static Result<std::unique_ptr<PullSiteClient>> open(
      const std::filesystem::path& token_file,
      std::chrono::milliseconds connect_timeout = std::chrono::seconds(10),
      std::chrono::milliseconds io_timeout = std::chrono::seconds(30));

  // Whether `source` (its content_url) holds the content: true on 200, false on 404; a Status
  // naming the request and its cause otherwise (unreachable, 5xx, a DP with no content_url).
  Result<bool> sourceHas(const config::DistributionPointConfig& source, std::string_view package_id,
                         std::uint64_t version, const CallContext& ctx);
  // Sends `notification` to the pull DP's address. OK on a 2xx answer; otherwise the cause.
  Status notify(const config::DistributionPointConfig& pull_dp,
                const pull::Notification& notification, const CallContext& ctx);
  // The pull DP's own account of job `job_id`; nullopt when it answers 404 (it does not know the
  // job: notify it again). A Status when it cannot be asked or answers something else.
  Result<std::optional<pull::JobStatus>> jobStatus(const config::DistributionPointConfig& pull_dp,
                                                   std::int64_t job_id, const CallContext& ctx);

 private:
  Result<http::Client*> clientFor(const std::string& base_url, const std::filesystem::path& ca);

  const std::string token_;
  const std::chrono::milliseconds connect_timeout_;
  const std::chrono::milliseconds io_timeout_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<http::Client>> clients_;  // by base URL; guarded by mu_
};

}  // namespace pkgxfer::transport
