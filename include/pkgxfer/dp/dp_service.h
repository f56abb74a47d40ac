#pragma once

// The `dp` component (SPEC §1, §7): a DP's content library served over HTTP(S), as
// docs/http-api.md describes every endpoint. Reads (a manifest, a body with Range, the inventory,
// the library's identity and free space) are anonymous, as clients download content
// anonymously; everything that changes the library needs the site's bearer token. The library is
// a content::ContentLibrary like every other, so an HTTP DP has the same layout, temporary names,
// crash ordering, validation and removal as a file DP: the handlers only translate requests.
//
// Uploads from the site (transport/http_transport.h) are resumable: the DP names each upload by
// its temporary file's name and reports the offset it holds; the site records that name and the
// durable offset of each checkpoint, and after either side restarts it resumes from there.
// A body is hashed while it is received and renamed into place only when its SHA-256 matched.
//
// Threads: the server's sockets are on the io threads; handlers run on the blocking pool
// (ServerOptions::handler_executor) and block on the disk. DpService is thread-safe.

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/host/component.h"
#include "pkgxfer/http/server.h"

namespace pkgxfer::dp {

// Requests the dp component handles at once (http::ServerOptions::max_concurrent_handlers); more
// are answered 503 with Retry-After. pkgxferd adds this many threads to its blocking pool for
// them, so the DP's clients never take the threads of the other components of the process.
inline constexpr std::size_t kMaxConcurrentRequests = 16;

struct DpServiceOptions {
  // The DP's name (config dp.name), reported by GET /v1/library and in the log.
  std::string name;
  // Listen address, TLS, limits and timeouts, and where handlers run (handler_executor,
  // required). Its bearer_token is the site's token (dp.token_file): required.
  http::ServerOptions server;
  // The largest body a PUT may upload (its declared length). Default 1 TiB.
  std::uint64_t max_body_bytes = 1ull << 40;
  // A request body may pause this long between two blocks (a rate-limited site sends slowly)
  // before the DP cuts the connection. Default 60 s.
  std::chrono::milliseconds body_idle_timeout{std::chrono::seconds(60)};
  // An open upload no request touched for this long is closed, its temporary file kept for a
  // resume. Default 10 min.
  std::chrono::milliseconds upload_idle_timeout{std::chrono::minutes(10)};
  // How long a send's pins hold without a renewal. Default 10 min.
  std::chrono::milliseconds send_lease{std::chrono::minutes(10)};
  // Uploads the DP holds between requests: those being received (each holds a file descriptor
  // while a request writes it) and those staged for an install (none). Default 16,384: 8 streams
  // x 128 staged bodies for every job to this DP, and more.
  std::size_t max_open_uploads = 16384;
};

class DpService {
 public:
  // `library`, `clock` and `io` must outlive the service.
  DpService(boost::asio::io_context& io, content::ContentLibrary& library, Clock& clock,
            DpServiceOptions options, Logger log);
  ~DpService();
  DpService(const DpService&) = delete;
  DpService& operator=(const DpService&) = delete;

  // Adds a route of another DP-side component (pulldp's /v1/pull-jobs) to the same server, with
  // the same token; before start() only. http::Server::addRoute's errors.
  Status addRoute(std::string_view method, std::string_view pattern, http::RouteOptions options,
                  http::Handler handler);
  // Adds the library's routes and starts listening. InvalidArgument without a token or handler
  // executor; http::Server::start()'s errors (an address in use, a TLS file that cannot be read).
  Status start();
  // Graceful stop (http::Server::stop): `done` once every handler returned.
  void stop(std::function<void()> done);
  // The bound port (0 before start()).
  std::uint16_t port() const;
  http::ServerStats stats() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

// What the DP-side components of one process share: the DP's content library (one object, so
// the pins of a pull and the removals of the site's requests see each other) and the DpService
// serving it on dp.listen (HTTPS with dp.tls), with the token from dp.token_file. The composition
// root opens it once, with the dp component's context (so the server logs to dp.log), and hands
// it to dp and pulldp; the server starts with the first of them to start and stops with the last.
// Thread-safe.
class DpHost {
 public:
  // Opens the library at dp.content_library (creating it) and reads the token. Errors name the
  // folder or the token file.
  static Result<std::shared_ptr<DpHost>> open(const host::ComponentContext& ctx);

  content::ContentLibrary& library() { return *library_; }
  DpService& service() { return *service_; }
  const config::DpConfig& config() const { return config_; }

  // Starts the server on the first call; later calls only count.
  Status start();
  // Stops the server when the last starter stops; `done` once that is over (at once otherwise).
  void stop(std::function<void()> done);

  DpHost(std::unique_ptr<content::ContentLibrary> library, std::unique_ptr<DpService> service,
         config::DpConfig config)
      : library_(std::move(library)), service_(std::move(service)), config_(std::move(config)) {}

 private:
  std::unique_ptr<content::ContentLibrary> library_;
  std::unique_ptr<DpService> service_;
  const config::DpConfig config_;
  std::mutex mu_;
  int started_ = 0;  // guarded by mu_
};

// The dp component: serves the library of `host` (logs to dp.log).
Result<host::ComponentPtr> makeDistributionPoint(host::ComponentContext ctx,
                                                 std::shared_ptr<DpHost> host);

}  // namespace pkgxfer::dp
