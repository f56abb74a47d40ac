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
//       character (NUL...), raw or percent-encoded; a query with a bad percent-encoding or a
//       control character; a Transfer-Encoding other than chunked; an HTTP/1.1 request without
//       Host;
//   404 no route has that path; 405 (+ Allow) a route has the path but not the method;
//   401 (+ WWW-Authenticate: Bearer) the route requires the bearer token and it is missing or
//       wrong; 411 a chunked body on a route that requires Content-Length; 413 a Content-Length
//       over the route's limit (the body is not read); 431 a request head over max_header_bytes;
//   503 (+ Retry-After: 1) a connection beyond max_connections (plain HTTP only, and only up to
//       max_refusals_in_flight at once: the others are closed unanswered), or a request beyond
//       max_concurrent_handlers; 505 an HTTP version other than 1.x.
// A request that waited handler_queue_timeout for a thread of the handler executor is answered
// 503 (+ Retry-After: 1) instead of running its handler. A chunked body whose chunk header or
// trailer does not end within max_header_bytes fails Request::read (400 when unanswered).
// A request the server could not parse (400, 431, 505), a refused connection (503), a request
// that waited too long for a handler thread (503), and any response given while part of the
// request body is still unread close the connection after the response (so an unread body is
// never taken for the next request); a 404 to a GET keeps it.
// A request that does not arrive in time (request_timeout) gets no response: its connection is
// closed, and so is one that stays idle past idle_timeout or stops reading for write_timeout.
//
// Slow clients. Every socket wait has a timeout, but write_timeout and body_idle_timeout count
// from the last progress: a client that reads (or sends) one byte per timeout keeps its request,
// and so its handler thread, for as long as it likes. What protects the handler executor (the
// host's blocking pool, shared with the components) is max_concurrent_handlers: slow clients can
// hold at most that many of its threads, and further requests get 503 at once. There is no
// minimum transfer rate: pull DPs behind rate-limited WAN links legitimately read slowly, and a
// rate floor that suits them would not stop a patient attacker anyway; the cap does.
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
  // keep running handlers until stop()'s `done` was called. Not the io_context's own executor nor
  // a strand of it (start() refuses them): handlers block, waiting for the io threads.
  boost::asio::any_io_executor handler_executor;
  // The server's log (requests at debug; refused connections, busy answers and timeouts at
  // info; handler failures at error). Tokens are never logged. Default: none (logging off).
  Logger logger;

  // The bearer token routes with RouteOptions::requires_auth check (compared in constant time).
  // Empty: no route may require auth (start() fails if one does). Default empty.
  std::string bearer_token;

  // Largest request head (request line and headers) accepted; more gets 431. Default 16 KiB;
  // 1 KiB..1 MiB.
  std::size_t max_header_bytes = 16 * 1024;
  // Default body limit of a route (RouteOptions::max_body_bytes overrides it). Default 1 MiB.
  std::uint64_t max_body_bytes = 1024 * 1024;
  // A request's head must arrive within this time from its first byte (for the first request of
  // a connection: from the accept, TLS handshake and the wait for the first byte included), and
  // its body within this time from the start of its handler (unless the route sets
  // RouteOptions::body_idle_timeout), time spent by the handler between its reads included; the
  // wait for a handler thread does not count (handler_queue_timeout bounds it). Past it the
  // connection is closed. Default 30 s.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  // How long a kept-alive connection may wait for the first byte of its next request before it
  // is closed. (A new connection's first request is held to request_timeout instead, so a
  // connection that never sends anything costs at most that.) Default 60 s.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  // Each write of the response must make progress within this time (a client that stops reading
  // is cut). Per progress: a slow but steady reader is never cut, however slow (see "Slow
  // clients" above: max_concurrent_handlers is the protection). Default 30 s.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  // Connections open at once. Beyond it, a plain HTTP connection is answered 503 (Retry-After: 1,
  // JSON body) and closed, without reading its request; it does not count. An HTTPS connection
  // beyond it is closed at once, without a handshake: a 503 would need the full handshake, which
  // is the very cost the cap exists to avoid (the client sees the connection closed, which it
  // retries like a 503). Default 256; >= 1.
  std::size_t max_connections = 256;
  // Refused connections (the 503s above) being answered at once; each holds a socket for up to
  // write_timeout plus a 2 s linger. Beyond it, a connection over max_connections is closed at
  // once without an answer, so a flood of connections costs a bounded number of file
  // descriptors. Default 16; 0 = close every refused connection at once.
  std::size_t max_refusals_in_flight = 16;
  // Handlers running or waiting for a thread of handler_executor, over all connections. A request
  // beyond it is answered 503 (Retry-After: 1) without posting a handler; slow clients can thus
  // hold at most this many threads of the (shared) handler executor. Keep it below that
  // executor's thread count when other components share it. Default 16; >= 1.
  std::size_t max_concurrent_handlers = 16;
  // How long a request may wait for a thread of handler_executor once it was posted there (the
  // pool busy with other work). Past it the request is answered 503 (Retry-After: 1) and its
  // connection closed; its handler, when the pool gets to it, does not run. Default 10 s; > 0.
  std::chrono::milliseconds handler_queue_timeout{std::chrono::seconds(10)};
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
  // limited (a 1 GiB PUT); only the head is then held to request_timeout. The rule for clients
  // of such a route: the longest pause between two blocks of the body (a rate limiter's wait, a
  // BodySource reading a slow disk or share) must stay below body_idle_timeout, with margin for
  // the network; a client that pauses longer is cut. Default 0 (off).
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
  // The percent-decoded value of the first query parameter `name` ("?name=value&..."; names are
  // decoded too and compared exactly); "" for "?name" or "?name="; nullopt if absent. '+' stays
  // '+' (RFC 3986: not form encoding). The router's path rules are unchanged (the query plays no
  // part in matching); a query with a bad percent-encoding or a control character, raw or
  // encoded, was answered 400. Unlike path segments, a value may hold '/', '\\' and ':' (a URL, a
  // path): never use it as a file name unchecked.
  virtual std::optional<std::string> query(std::string_view name) const = 0;
  // The first value of header `name` (case-insensitive); empty if absent.
  virtual std::string_view header(std::string_view name) const = 0;
  // The declared Content-Length; nullopt for a chunked body. 0 when there is no body.
  virtual std::optional<std::uint64_t> contentLength() const = 0;
  // "127.0.0.1:50312": who sent the request (for logs).
  virtual const std::string& peer() const = 0;
  // Requested when the server stops and its stop_timeout has passed, or when the connection is
  // closed under the handler: by a timeout, a failed write, or the client going away. The client
  // is noticed going away while the handler is not reading the request body (it has all of it):
  // a reset, or an EOF, i.e. the client closed or half-closed its side; a client that half-closes
  // after its request is taken for gone, as Go's and nginx's servers do. A long handler should
  // check it and return.
  virtual std::stop_token stopToken() const = 0;

  // Reads the next bytes of the body into `buf`, filling it unless the body ends first; 0 once the
  // body is complete. Blocks until the bytes arrived (the socket read runs on the connection's
  // strand). The first read of a request sent with "Expect: 100-continue" sends
  // "100 Continue". Errors: Unavailable (the client went away, mid chunked body too, or the
  // request timed out: the connection is then closed), InvalidArgument (a chunked body past the
  // route's limit, a malformed chunk, or a chunk header or trailer longer than max_header_bytes:
  // the server answers 413/400 if the handler returns that error unanswered).
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
  // the server owns (Content-Length, Transfer-Encoding, Connection, Date, Server), for
  // Content-Type (send() and beginStream() take it, so a response never has two), or once the
  // response has begun.
  virtual Status addHeader(std::string_view name, std::string_view value) = 0;
  // Sends a whole response and blocks until it is written. `status` is 200..599; 204 and 304 take
  // no body. Errors: InvalidArgument (bad status, a content type that is not a valid header value,
  // already answered), Unavailable (the client went away or stopped reading for write_timeout).
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
  std::uint64_t dropped = 0;   // connections over max_connections closed at once, unanswered
  std::uint64_t requests = 0;  // requests whose head was read
  std::uint64_t busy = 0;      // requests answered 503: max_concurrent_handlers, queue timeout
  std::uint64_t open_connections = 0;
  std::uint64_t refusals_in_flight = 0;  // refused connections still being answered
  std::uint64_t handlers = 0;            // handlers running or waiting for a thread now
};

namespace detail {
class ServerCore;
struct ServerTestAccess;
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
  // (options, e.g. no handler executor or the io_context's own executor as one, which would
  // deadlock; a route requires auth without a token; a TLS file that is not a valid PEM
  // certificate chain or an unencrypted PEM key, naming the file), NotFound/PermissionDenied/
  // IoError for a TLS file that cannot be read, IoError when the address cannot be bound
  // ("listen on 127.0.0.1:8531: Address already in use (EADDRINUSE)"), Cancelled when stop() was
  // called before start() finished (the server then never accepts). Once only.
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
  friend struct detail::ServerTestAccess;
  std::shared_ptr<detail::ServerCore> core_;
};

}  // namespace pkgxfer::http
