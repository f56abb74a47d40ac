#pragma once

// Client: the synchronous HTTP/1.1 client (Boost.Beast) of one server, for the blocking pool's
// threads: the site's HTTP transport to a DP, the pull DP's downloads from its sources and its
// status messages to the management point.
//
// Every call blocks its thread and takes a CallContext: its deadline bounds the whole call
// (connect, TLS handshake, request, response); a stop request on its token aborts the call at once
// (the socket is closed), whatever it waits for. Each read and write must also make progress
// within ClientOptions::io_timeout, so a peer that stops answering is cut even without a deadline;
// the wait for the response's head may be given a longer bound of its own
// (ClientRequest::response_timeout), for a server that works long before it answers.
//
// Outcomes. A call returns a ClientResponse for any HTTP response, 4xx and 5xx included (the
// caller decides; responseStatus() turns an error response into a Status with the server's JSON
// "error" text). It returns a Status when no response was had:
//   Cancelled    the context's stop token was requested ("...: stopped");
//   Unavailable  connect refused/reset/unreachable or DNS failure (with the OS text, e.g.
//                "connect to 127.0.0.1:8531: Connection refused (ECONNREFUSED)"), a TLS handshake
//                that failed ("TLS handshake with dp03:8531: certificate verify failed (certificate
//                has expired)"), the connection dropped, a malformed response, or a timeout
//                ("... timed out");
//   InvalidArgument  a bad request (target, header), a source that delivered too few bytes, or a
//                response body over the buffered limit;
//   Unavailable  also: no file descriptor or memory for a new connection (EMFILE: "open a
//                connection: Too many open files (EMFILE)"), more than 8 informational (1xx)
//                responses, a chunk header or trailer longer than max_response_header_bytes
//                + 16 KiB;
//   or whatever a BodySource or DownloadSink returned. Nothing is thrown: an exception from below
//   (or from a source or sink) becomes Unavailable or Internal.
// Every message starts with "<METHOD> <base URL><target>: ".
//
// Connections are pooled and reused (keep-alive) across calls and threads. A connection goes back
// to the pool only after a response was read completely and the server did not ask to close it; a
// call that fails or stops mid-way drops its connection. A request that fails on a reused
// connection before any byte of a response arrived (the server had closed it while idle) is sent
// once more on a new connection if its method is idempotent (GET, HEAD, PUT, DELETE) and no byte
// of a streamed body had been taken from its source.
//
// File descriptors. Each connection, in use or pooled, has its own io_context (so that the calling
// thread can run it alone, and concurrent calls never run each other's handlers): 4 descriptors
// per connection (socket, epoll, eventfd, timerfd), e.g. 4 * (max_idle_connections + the calls in
// progress) per Client. Sharing one io_context among a Client's connections would save 3 per
// connection but needs a thread of its own or careful handing over between calling threads; the
// components bound their concurrency (3x5 transfers), which keeps this well under the usual limit.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pkgxfer/common/call_context.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/http/message.h"

namespace pkgxfer::http {

struct ClientOptions {
  // "http://host:port" or "https://host:port" (port defaults to 80/443; an IPv6 host in
  // brackets); a trailing "/" is allowed, any other path is not. Required.
  std::string base_url;
  // https: the CA certificates (PEM) the server's certificate must chain to; its name (or IP) must
  // match the URL's host. Empty: the system's default CA store. Default empty.
  std::filesystem::path ca_file;
  // Sent as "Authorization: Bearer <token>" with every request when non-empty. Never logged.
  std::string bearer_token;
  // TCP connect and TLS handshake, each. Default 10 s.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // Each read or write must make progress within this time. Default 30 s.
  std::chrono::milliseconds io_timeout{std::chrono::seconds(30)};
  // Idle connections kept for reuse; more are closed when returned. Default 8.
  std::size_t max_idle_connections = 8;
  // An idle connection older than this is closed instead of reused (keep it below the server's
  // idle timeout: ours is 60 s, nginx's 75 s). Every call sweeps the pool of such connections and
  // of those the server closed. Default 15 s; >= 0.
  std::chrono::milliseconds max_idle_time{std::chrono::seconds(15)};
  // Block size of streamed uploads (what a BodySource is asked for at most) and downloads.
  // Default 1 MiB; 1 B..64 MiB.
  std::size_t block_bytes = 1024 * 1024;
  // Largest response head accepted; also bounds a chunk header or trailer (plus 16 KiB). Default
  // 64 KiB; 1 KiB..16 MiB.
  std::size_t max_response_header_bytes = 64 * 1024;
  // Largest response body a buffered call (request, get, sendJson, and the response to an upload)
  // accepts; a longer one fails the call with InvalidArgument. Default 16 MiB.
  std::uint64_t max_buffered_body_bytes = 16 * 1024 * 1024;
  // A streamed upload of at least this many bytes first sends "Expect: 100-continue" and waits for
  // the server's go-ahead, so a refusal (401, 413) costs no body. 0 = never. Default 1 MiB.
  std::uint64_t expect_continue_min_bytes = 1024 * 1024;
  // How long to wait for "100 Continue" before sending the body anyway (RFC 9110 §10.1.1).
  // Default 1 s.
  std::chrono::milliseconds expect_continue_timeout{std::chrono::seconds(1)};
};

// A request. `target` is the path (with any query) relative to the base URL, starting with '/';
// the caller percent-encodes it.
struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";
  Headers headers;   // extra headers; Host, Content-Length, Authorization and Connection are set
  std::string body;  // a buffered body (request(); upload() takes its body from the source)
  std::string content_type;  // Content-Type of the body, if any
  // How long to wait for the response's head once the request (and its body) was sent, for a
  // server that works before it answers (a DP that hashes and fsyncs a 1 GiB upload first). The
  // call's deadline still applies. 0 = ClientOptions::io_timeout. Default 0.
  std::chrono::milliseconds response_timeout{0};
};

struct ClientResponse {
  int status = 0;
  Headers headers;
  // The body, for buffered calls and uploads. For download(): empty after a 2xx (the body went
  // to the sink); the first 64 KiB of the body of any other status.
  std::string body;
  // "GET http://dp01:8531/v1/files/…": the request this answers, for error messages.
  std::string request;

  bool ok() const { return status >= 200 && status < 300; }
  // The first value of header `name` (case-insensitive); empty if absent.
  std::string_view header(std::string_view name) const;
};

// Supplies a streamed upload's body: fills up to `size` bytes of `buf` and returns how many (> 0).
// Called until the declared length is reached, from the calling thread; between two calls the
// caller may wait (rate limiting): nothing times out while the source runs, but the call's
// deadline still applies, checked when the source returns. The source gets no stop token: one
// that waits (a rate limiter, a slow share) captures the call's CallContext itself and returns
// its check() when stopped, or the call learns of the stop only after the wait. Keep each wait
// below the server's body idle timeout (RouteOptions::body_idle_timeout on ours). An error ends
// the call with that Status.
using BodySource = std::function<Result<std::size_t>(char* buf, std::size_t size)>;

// Receives a download. on_head (optional) sees the response's status and headers before any body
// byte; on_data gets the body of a 2xx response in order, in chunks of up to block_bytes. A
// non-2xx response's body goes to ClientResponse::body instead (its first 64 KiB). An error from
// either ends the call with that Status (the connection is dropped).
struct DownloadSink {
  std::function<Status(const ClientResponse& head)> on_head;
  std::function<Status(const char* data, std::size_t size)> on_data;
};

// Counters, e.g. to check connection reuse. Relaxed: values may lag a little.
struct ClientStats {
  std::uint64_t connections_opened = 0;  // TCP (and TLS) connections established
  std::uint64_t requests = 0;            // requests sent (a retry counts again)
  std::uint64_t reused = 0;              // requests sent on a pooled connection
  std::uint64_t idle = 0;                // connections in the pool now
};

namespace detail {
class ClientImpl;
}  // namespace detail

// Thread-safe: any number of threads may call at once; each call takes a pooled connection or
// makes one (there is no cap on connections in use: callers bound their own concurrency).
class Client {
 public:
  // Errors: InvalidArgument for a bad base_url or option, or a CA file that holds no valid PEM
  // certificate; NotFound/PermissionDenied/IoError for a CA file that cannot be read.
  static Result<std::unique_ptr<Client>> create(ClientOptions options);
  // Closes the pooled connections. No call may be in progress.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request` (with its buffered body) and reads the whole response into memory (at most
  // max_buffered_body_bytes). For small JSON exchanges.
  Result<ClientResponse> request(const CallContext& ctx, const ClientRequest& request);
  // GET `target` with optional extra headers (e.g. {{"Range", rangeFrom(n)}}), buffered.
  Result<ClientResponse> get(const CallContext& ctx, std::string target, Headers headers = {});
  // `method` `target` with `body` as application/json, buffered.
  Result<ClientResponse> sendJson(const CallContext& ctx, std::string method, std::string target,
                                  const nlohmann::json& body);
  // Sends `head` with a body of exactly `length` bytes pulled from `source` block by block (at
  // most block_bytes at a time), then reads the (buffered) response. head.body must be empty. If
  // the server answers before the body is complete (e.g. 413), that response is returned.
  Result<ClientResponse> upload(const CallContext& ctx, const ClientRequest& head,
                                std::uint64_t length, const BodySource& source);
  // Sends `request` and streams a 2xx response's body into `sink` (see DownloadSink).
  Result<ClientResponse> download(const CallContext& ctx, const ClientRequest& request,
                                  const DownloadSink& sink);

  const std::string& baseUrl() const;
  ClientStats stats() const;

 private:
  explicit Client(std::unique_ptr<detail::ClientImpl> impl);
  std::unique_ptr<detail::ClientImpl> impl_;
};

// OK for a 2xx response; otherwise a Status carrying the server's error text (the JSON body's
// "error", else the start of the body): "<request>: HTTP 404 Not Found: no such body". Kinds:
// 400/405/411/413/414/415/416/422/431 and other 4xx InvalidArgument, 401/403 PermissionDenied,
// 404/410 NotFound, 409 AlreadyExists, 408/429 and 5xx Unavailable (a server's failure may pass;
// 501/505 are InvalidArgument), 1xx/3xx InvalidArgument (redirects are not followed).
Status responseStatus(const ClientResponse& response);

}  // namespace pkgxfer::http
