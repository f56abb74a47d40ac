#pragma once

// Server: the HTTP/1.1 server (Boost.Beast) that the DP, the management point's status receiver
// and the pull DP add their endpoints to (SPEC §7). One class for all of them, so limits, timeouts,
// bearer auth, TLS and error bodies are the same everywhere.
//
// Threads. The server's sockets live on an io_context the caller runs (pkgxferd runs one with two
// threads); every connection has its own strand, so the server is correct with any number of io
// threads. Handlers never run on the io threads: each request's handler is posted to the blocking
// executor given in ServerOptions (the host's blocking pool), where it may block on files, disks
// and hashing. The handler reads the request body and writes the response through blocking calls
// (Request::read, Response::write, ...) that hand the socket work to the connection's strand and
// wait for it, so a 1 GiB upload or download streams through in chunks and never sits in memory.
//
// Before a handler runs, the server has already answered, with a JSON error body
// ({"error": "...", "status": N}, see errorBody()):
//   400 a request it cannot parse (bad method, garbage, bad version); a path with an empty, "."
//       or ".." segment, a bad percent-encoding, or a segment holding '/', '\', ':' or a control
//       character (NUL...), raw or percent-encoded; a Transfer-Encoding other than chunked; an
//       HTTP/1.1 request without Host;
//   404 no route has that path; 405 (+ Allow) a route has the path but not the method;
//   401 (+ WWW-Authenticate: Bearer) the route requires the bearer token and it is missing or
//       wrong; 411 a chunked body on a route that requires Content-Length; 413 a Content-Length
//       over the route's limit (the body is not read); 431 a request head over max_header_bytes;
//   503 (+ Retry-After) a connection beyond max_connections; 505 an HTTP version other than 1.x.
// A request the server could not parse (400, 431, 505), a refused connection (503), and any
// response given while part of the request body is still unread close the connection after the
// response (so an unread body is never taken for the next request); a 404 to a GET keeps it.
// A request that does not arrive in time (request_timeout) gets no response: its connection is
// closed, and so is one that stays idle past idle_timeout or stops reading for write_timeout.
//
// Keep-alive: HTTP/1.1 connections persist unless the request says "Connection: close" (or it is
// HTTP/1.0 without keep-alive). Pipelined requests are answered one at a time, in order: the next
// request is not read before the previous handler has returned and its response was sent.
// HEAD: a GET route answers HEAD too, unless HEAD has a route of its own; its handler sees
// Request::isHead() and the server sends the headers (with the Content-Length of the would-be
// body) but no body.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/http/message.h"

namespace pkgxfer::http {

// TLS for a server: PEM files read at Server::start(). TLS 1.2 and later only.
struct ServerTlsOptions {
  std::filesystem::path cert_chain_file;   // the server certificate, then intermediates
  std::filesystem::path private_key_file;  // the certificate's key, unencrypted
};

// Limits and timeouts of one server. Defaults suit a DP serving a LAN; every field says its own.
struct ServerOptions {
  // Address to listen on: an IP literal ("127.0.0.1", "::") or a host name resolved at start (the
  // first address is used). Default "127.0.0.1".
  std::string host = "127.0.0.1";
  // Port; 0 lets the OS pick one (Server::port() tells which). Default 0.
  std::uint16_t port = 0;
  // Serve HTTPS when set. Default: plain HTTP.
  std::optional<ServerTlsOptions> tls;

  // Where handlers run (e.g. the host's blocking pool: pool.get_executor()). Required; it must
  // keep running handlers until stop()'s `done` was called.
  boost::asio::any_io_executor handler_executor;
  // The server's log (requests at debug; refused connections and timeouts at info; handler
  // failures at error). Tokens are never logged. Default: none (logging off).
  Logger logger;

  // The bearer token routes with RouteOptions::requires_auth check (compared in constant time).
  // Empty: no route may require auth (start() fails if one does). Default empty.
  std::string bearer_token;

  // Largest request head (request line and headers) accepted; more gets 431. Default 16 KiB;
  // 1 KiB..1 MiB.
  std::size_t max_header_bytes = 16 * 1024;
  // Default body limit of a route (RouteOptions::max_body_bytes overrides it). Default 1 MiB.
  std::uint64_t max_body_bytes = 1024 * 1024;
  // A request must arrive within this time from its first byte: its head, then its body (unless
  // the route sets RouteOptions::body_idle_timeout), time spent by the handler between its reads
  // included. Past it the connection is closed. Also bounds a TLS handshake. Default 30 s.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  // How long a connection may wait for the first byte of its next request (or of its first one)
  // before it is closed. Default 60 s.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Each write of the response must make progress within this time (a client that stops reading
  // is cut); a slow but steady reader is never cut. Default 30 s.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  // Connections open at once. One more is accepted, answered 503 (Retry-After: 1, JSON body) and
  // closed, without reading its request; it does not count. Default 256; >= 1.
  std::size_t max_connections = 256;
  // Requests served on one connection before it is closed (the last response says
  // "Connection: close"). 0 = no limit. Default 0.
  std::size_t max_requests_per_connection = 0;
  // Graceful stop: how long requests in flight may take to finish before their connections are
  // closed under them. Default 10 s.
  std::chrono::milliseconds stop_timeout{std::chrono::seconds(10)};
};

// Per-route options.
struct RouteOptions {
  // The request must carry "Authorization: Bearer <ServerOptions::bearer_token>"; otherwise 401
  // and the handler does not run. Default false (SPEC §7: reads are anonymous).
  bool requires_auth = false;
  // Largest request body; a larger Content-Length gets 413 before any of it is read, and a chunked
  // body that grows past it fails Request::read (413 if nothing was answered yet). Default:
  // ServerOptions::max_body_bytes.
  std::optional<std::uint64_t> max_body_bytes;
  // A chunked request body (no Content-Length) gets 411. Default false.
  bool requires_content_length = false;
  // When > 0, the body no longer has to arrive within ServerOptions::request_timeout: instead each
  // Request::read() must receive a byte within this time. For large uploads that may be rate
  // limited (a 1 GiB PUT); only the head is then held to request_timeout. Default 0 (off).
  std::chrono::milliseconds body_idle_timeout{0};
};

// The request as a handler sees it. Not thread-safe: used by the one thread running the handler,
// and only until the handler returns.
class Request {
 public:
  virtual ~Request() = default;

  // The method as sent ("GET", "PUT", ...); "HEAD" for a HEAD served by a GET route.
  virtual std::string_view method() const = 0;
  // True for a HEAD request: the response's body is not sent (its length is).
  virtual bool isHead() const = 0;
  // The route's pattern, e.g. "/v1/files/{sha256}" (for logs; the raw path is never exposed).
  virtual std::string_view route() const = 0;
  // The percent-decoded value of the named segment `{name}` of the route's pattern; empty if the
  // pattern has no such segment. Never empty, ".", ".." and never holds '/', '\\', ':' or a
  // control character (such paths were answered 400).
  virtual const std::string& param(std::string_view name) const = 0;
  // The first value of header `name` (case-insensitive); empty if absent.
  virtual std::string_view header(std::string_view name) const = 0;
  // The declared Content-Length; nullopt for a chunked body. 0 when there is no body.
  virtual std::optional<std::uint64_t> contentLength() const = 0;
  // "127.0.0.1:50312": who sent the request (for logs).
  virtual const std::string& peer() const = 0;
  // Requested when the server stops and its stop_timeout has passed, or when the connection was
  // closed under the handler: a long handler should check it and return.
  virtual std::stop_token stopToken() const = 0;

  // Reads the next bytes of the body into `buf`, filling it unless the body ends first; 0 once the
  // body is complete. Blocks until the bytes arrived (the socket read runs on the connection's
  // strand). The first read of a request sent with "Expect: 100-continue" sends
  // "100 Continue". Errors: Unavailable (the client went away, or the request timed out: the
  // connection is then closed), InvalidArgument (a chunked body past the route's limit, or a
  // malformed chunk: the server answers 413/400 if the handler returns that error unanswered).
  virtual Result<std::size_t> read(char* buf, std::size_t size) = 0;

  // Reads the whole body into a string, for small requests. A body over `limit` bytes fails with
  // InvalidArgument before it is read (413 when the handler returns that error unanswered).
  Result<std::string> readBody(std::size_t limit);
  // readBody(limit), parsed as JSON. Malformed JSON is InvalidArgument (400 when returned
  // unanswered), with the parser's message.
  Result<nlohmann::json> readJson(std::size_t limit);

 protected:
  // Records the status the server should answer if the handler returns the next error unanswered
  // (413, 400): used by the read helpers.
  virtual void rejectBody(int status) = 0;
};

// How a handler answers. Either send() (a whole response) or beginStream() then write() calls
// that add up to the declared length. Not thread-safe: used by the handler's own thread.
class Response {
 public:
  virtual ~Response() = default;

  // Adds a header to the response to come. InvalidArgument for a bad name or value, for headers
  // the server owns (Content-Length, Transfer-Encoding, Connection, Date, Server), or once the
  // response has begun.
  virtual Status addHeader(std::string_view name, std::string_view value) = 0;
  // Sends a whole response and blocks until it is written. `status` is 200..599; 204 and 304 take
  // no body. Errors: InvalidArgument (bad status, already answered), Unavailable (the client went
  // away or stopped reading for write_timeout).
  virtual Status send(int status, std::string body,
                      std::string_view content_type = "application/json") = 0;
  // Sends the status and headers of a response whose body of exactly `content_length` bytes
  // follows in write() calls. Blocks until the head is written. Errors as send().
  virtual Status beginStream(int status, std::uint64_t content_length,
                             std::string_view content_type = "application/octet-stream") = 0;
  // Sends the next `size` bytes of a streamed body and blocks until the socket took them (the
  // caller may reuse `data` at once). For HEAD, counts the bytes and sends nothing.
  // InvalidArgument past the declared length or before beginStream(); Unavailable as send().
  // A handler that returns before writing all it declared gets its connection closed.
  virtual Status write(const char* data, std::size_t size) = 0;
  // True once send() or beginStream() was called.
  virtual bool started() const = 0;

  // send(status, json.dump()) as application/json.
  Status sendJson(int status, const nlohmann::json& body);
  // send(status, errorBody(status, message)) as application/json: the server's own error shape.
  Status sendError(int status, std::string_view message);
};

// A route's handler. Runs on ServerOptions::handler_executor and may block; it runs for several
// requests at once on different threads, so what it shares must be thread-safe. Returning a non-OK
// Status
// without having answered makes the server answer 500 with the Status' message (logged at error),
// or 413/400 after a request body error (see Request::read); returning an error after answering
// only logs it. A thrown exception is caught and answered 500 ("internal error"), logged.
using Handler = std::function<Status(Request& request, Response& response)>;

// Counters for tests and monitoring. Read with relaxed loads: values may lag a little.
struct ServerStats {
  std::uint64_t accepted = 0;  // connections accepted and served
  std::uint64_t refused = 0;   // connections answered 503 (max_connections)
  std::uint64_t requests = 0;  // requests whose head was read
  std::uint64_t open_connections = 0;
};

namespace detail {
class ServerCore;
}  // namespace detail

// One listening socket and its routes. addRoute() is called before start() by the components
// that own the endpoints; start(), stop(), port() and stats() are thread-safe. The io_context
// must outlive the server and keep running until stop()'s `done` has been called.
class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options);
  // Stops the server (without waiting) if it still runs. Connections still open finish on their
  // own, holding what they need; handlers must not outlive what they capture, so owners call
  // stop() and wait for `done` first.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers `handler` for `method` (an upper-case token: "GET", "PUT", ...) and `pattern`: a
  // path of '/'-separated segments, each a literal ("v1", "files") or a named segment
  // ("{sha256}", name [A-Za-z0-9_]+) that matches any one non-empty segment, e.g.
  // "/v1/content/{pkg}/{ver}". Where patterns overlap, a literal segment wins over a named one
  // (compared left to right). Before start() only. Errors: InvalidArgument (bad method or
  // pattern, after start()), AlreadyExists (same method and pattern twice).
  Status addRoute(std::string_view method, std::string_view pattern, RouteOptions options,
                  Handler handler);

  // Checks the options, loads TLS files, binds and starts accepting. Errors: InvalidArgument
  // (options, e.g. no handler executor, or a route requires auth without a token; a TLS file that
  // is not a valid PEM certificate chain or key, naming the file), NotFound/PermissionDenied/
  // IoError for a TLS file that cannot be read, IoError when the address cannot be bound
  // ("listen on 127.0.0.1:8531: Address already in use (EADDRINUSE)"). Once only.
  Status start();
  // The bound port (the OS's pick for port 0); 0 before start().
  std::uint16_t port() const;

  // Graceful stop: stops accepting, closes idle connections, lets requests in flight finish and
  // closes their connections after their response; after stop_timeout closes the rest under their
  // handlers (which see Request::stopToken()). Calls `done` (may be empty) once every connection
  // is gone and every handler has returned, posted to the io_context. Calling it again starts
  // nothing new; its `done` too is called when the stop completes. Safe before start().
  void stop(std::function<void()> done);

  ServerStats stats() const;

 private:
  std::shared_ptr<detail::ServerCore> core_;
};

}  // namespace pkgxfer::http
