#pragma once

// HttpTransport: a standard DP with an http(s) address, reached through the DP's HTTP API
// (docs/http-api.md, served by the `dp` component). The same Transport as a file DP's, so the
// checks and the jobs do not care: a probe is GET /v1/library, an inventory POST /v1/inventory,
// a send POST /v1/sends (the DP pins the content's bodies under a lease), bodies go up as
// resumable uploads whose durable offset the DP reports (a half-sent body resumes from it after
// either side restarts) or, when small, in one PUT each, staged and installed in batches, and the
// manifest is committed with PUT /v1/content/{pkg}/{ver}.
//
// The DP checks each body's SHA-256 from what it wrote (BodySpec::verify changes nothing: there is
// no read-back over the network). Connections are kept alive and reused across bodies and calls
// (http::Client). Every call is bounded by its CallContext and by the client's timeouts; a stop
// reaches a call waiting on the network at once.
//
// Errors carry the request and the cause, e.g.
//   "POST http://dp03:8531/v1/inventory: connect to 127.0.0.1:8531: Connection refused
//   (ECONNREFUSED)"; a DP that answers 401 is PermissionDenied ("wrong token?"), a body the DP
// found corrupt is Corruption.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "pkgxfer/http/client.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::transport {

struct HttpTransportOptions {
  // The DP's base URL (config::HttpAddress::url()), with an optional path the API sits under
  // (a DP behind a reverse proxy: "https://proxy/dp03"): every request goes to <path>/v1/...
  std::string base_url;
  // https: the CA certificates the DP's certificate must chain to (the DP's `ca_file`); empty:
  // the system's CA store.
  std::filesystem::path ca_file;
  // The site's bearer token (the contents of site.token_file). Required for anything but reads.
  std::string bearer_token;
  // Recorded in the identity of a library the site adopts (POST /v1/library) and expected in one
  // the site knows holds its content.
  std::string site_code;
  // Bodies up to this size go in one request each (PUT /v1/files/{sha}?stage=1), held in memory
  // until sealed; larger ones, and every resumed one, are resumable uploads. Default 1 MiB.
  std::uint64_t small_body_bytes = 1 << 20;
  // A large body's bytes go up in PUTs of up to this many bytes (several write()s each), or of
  // what was written within coalesce_time (a rate-limited job writes slowly: its bytes still
  // leave within that time). Memory: up to this much per stream sending a large body. Default
  // 8 MiB, 100 ms.
  std::size_t coalesce_bytes = 8 << 20;
  std::chrono::milliseconds coalesce_time{100};
  // How long the DP may take to answer a request that works before it answers: a validation that
  // re-hashes a package, an install that flushes a volume, a seal that reads a resumed body back.
  // Default 1 h.
  std::chrono::milliseconds slow_response_timeout{std::chrono::hours(1)};
  // Connect (and TLS handshake) and per-read/write progress timeouts of the client.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds io_timeout{std::chrono::seconds(30)};
};

// Thread-safe (see Transport).
class HttpTransport final : public Transport {
 public:
  // InvalidArgument for a bad URL or option, NotFound/IoError for a CA file that cannot be read.
  static Result<std::unique_ptr<HttpTransport>> create(HttpTransportOptions options);

  std::string describe() const override;
  std::string_view verification(bool) const override { return "by the DP as it received the body"; }
  Result<ProbeResult> probe(const CallContext& ctx, const ProbeOptions& options = {}) override;
  Result<content::ShaSet> inventory(const std::vector<std::string>& sha256s,
                                    const CallContext& ctx) override;
  Result<std::unique_ptr<ContentSend>> beginSend(std::shared_ptr<const content::Manifest> manifest,
                                                 std::string owner,
                                                 const CallContext& ctx) override;
  Status discardTemp(std::string_view sha256, std::string_view temp_name,
                     const CallContext& ctx) override;
  Result<std::size_t> discardLeftovers(std::string_view owner,
                                       const std::vector<std::string>& sha256s,
                                       const CallContext& ctx) override;
  Result<std::size_t> removeBodies(const std::vector<std::string>& sha256s,
                                   const CallContext& ctx) override;
  Result<content::Manifest> readManifest(std::string_view package_id, std::uint64_t version,
                                         const CallContext& ctx) override;
  Result<std::string> readManifestJson(std::string_view package_id, std::uint64_t version,
                                       const CallContext& ctx) override;
  Result<std::vector<std::uint64_t>> listVersions(std::string_view package_id,
                                                  const CallContext& ctx) override;
  Result<content::ValidationReport> validate(std::string_view package_id, std::uint64_t version,
                                             const CallContext& ctx) override;
  Status removeContent(std::string_view package_id, std::uint64_t version,
                       const CallContext& ctx) override;

  // For tests: the client's counters (connection reuse).
  http::ClientStats clientStats() const { return client_->stats(); }

  // Internal: what the send and upload classes use. The DP's API: the client's calls with the
  // base URL's path put before each target.
  class Api {
   public:
    Api(http::Client& client, std::string path) : client_(client), path_(std::move(path)) {}
    Result<http::ClientResponse> request(const CallContext& ctx, http::ClientRequest req) const {
      req.target = path_ + req.target;
      return client_.request(ctx, req);
    }
    Result<http::ClientResponse> get(const CallContext& ctx, const std::string& target) const {
      return client_.get(ctx, path_ + target);
    }
    Result<http::ClientResponse> sendJson(const CallContext& ctx, std::string method,
                                          const std::string& target,
                                          const nlohmann::json& body) const {
      return client_.sendJson(ctx, std::move(method), path_ + target, body);
    }
    Result<http::ClientResponse> upload(const CallContext& ctx, http::ClientRequest head,
                                        std::uint64_t length,
                                        const http::BodySource& source) const {
      head.target = path_ + head.target;
      return client_.upload(ctx, head, length, source);
    }

   private:
    http::Client& client_;
    const std::string path_;
  };
  const Api& api() const { return api_; }
  const HttpTransportOptions& options() const { return options_; }

 private:
  HttpTransport(HttpTransportOptions options, std::unique_ptr<http::Client> client,
                std::string path);

  HttpTransportOptions options_;
  std::unique_ptr<http::Client> client_;
  Api api_;
  std::mutex mu_;
  std::string library_id_;  // the library the first successful probe found; guarded by mu_
};

}  // namespace pkgxfer::transport
