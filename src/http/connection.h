#pragma once

// Private to the http module: one accepted connection of a Server, and the bridge that lets a
// handler on the blocking executor read the request body and write the response with blocking
// calls.
//
// Threads. Everything of a Connection runs on its strand (the socket's executor). A request's
// handler runs on ServerOptions::handler_executor and talks to the connection only through its
// Exchange: each blocking call posts one operation to the strand and waits on a condition
// variable until the operation completes (one post and one wake-up per call, so 1 MiB chunks cost
// a few microseconds of bridging). At most one such operation is pending at a time, since one
// thread runs the handler. A Completion that is destroyed without having run (the io_context shut
// down) still wakes its waiter, with operation_aborted, so a handler can never wait forever on an
// operation that will not run.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "router.h"
#include "server_core.h"
#include "stream.h"

namespace pkgxfer::http::detail {

namespace http = beast::http;

// Where a blocked handler thread waits for its operation on the strand.
class Waiter {
 public:
  void reset();
  void complete(const error_code& ec, std::size_t n);
  std::pair<error_code, std::size_t> wait();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  error_code ec_;
  std::size_t n_ = 0;
};

// Completes a Waiter exactly once: when called, or when destroyed uncalled (operation_aborted).
class Completion {
 public:
  explicit Completion(std::shared_ptr<Waiter> waiter) : waiter_(std::move(waiter)) {}
  Completion(Completion&& other) noexcept : waiter_(std::move(other.waiter_)) {}
  Completion& operator=(Completion&& other) noexcept;
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  ~Completion();

  void operator()(const error_code& ec, std::size_t n = 0);

 private:
  std::shared_ptr<Waiter> waiter_;
};

// A whole response or the head of a streamed one, as a handler (or the server) gives it.
struct ResponseParts {
  int status = 200;
  std::string content_type;
  Headers headers;
  std::string body;  // whole responses only
};

// How a handler ended, posted back to the connection's strand.
struct HandlerOutcome {
  Status status;
  bool threw = false;     // status then says what was thrown
  int reject_status = 0;  // 413/400 recorded by a failed body read, answered if nothing was sent
  bool skipped = false;   // never ran: it waited past handler_queue_timeout (answered 503)
};

// The connection's read buffer holds at most this much: a request head (max_header_bytes) and the
// first read after it, or a chunk header or trailer of a chunked body, which Beast 1.74 buffers
// whole without a limit of its own. Beyond it a read fails with http::error::buffer_overflow.
std::size_t readBufferLimit(const ServerOptions& options);

class Exchange;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ServerCore> core, boost::asio::ip::tcp::socket socket, bool refused);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Thread-safe: each posts to the strand.
  void start();
  // The server stops: close if idle, else close after the current response.
  void onServerStop();
  // The stop deadline passed: close now, under a running handler if need be.
  void forceClose();

  // For the Exchange; each runs on the strand and completes `done` once.
  void bodyRead(char* buf, std::size_t size, Completion done);
  void writeWhole(ResponseParts parts, Completion done);
  void writeHead(ResponseParts parts, std::uint64_t length, Completion done);
  void writeBody(const char* data, std::size_t size, Completion done);
  // The handler got its thread: the body's deadline starts now (request_timeout).
  void handlerStarted();
  void handlerDone(HandlerOutcome outcome);

  boost::asio::any_io_executor strand() { return stream_.get_executor(); }
  ServerCore& core() { return *core_; }

 private:
  enum class Phase { Handshake, Idle, Head, Handler, Closing, Closed };
  enum class BodyKind { None, Length, Chunked };

  void onHandshake(const error_code& ec);
  void readNext();
  void readHead();
  void readHeadPart();
  void onHeadPart(const error_code& ec, std::size_t received);
  void onHead(const error_code& ec);
  // After a bad_version: true if the request line asks for a well-formed but other version
  // ("HTTP/2.0"), which gets 505 rather than 400.
  bool asksForAnotherVersion() const;
  void dispatch();
  void startHandler(const Route& route, Params params, Params query, std::uint64_t body_limit);
  void onQueueTimeout(const error_code& ec, const std::shared_ptr<Exchange>& exchange);
  // While a handler runs with the whole body read, a read on the socket notices a client that
  // goes away (EOF, reset) and closes the connection, which requests the handler's stop. Bytes it
  // gets instead (a pipelined request) stay in buffer_ for the next request. While it is in
  // flight nothing else may read: a connection that wants to read (the next request, the linger)
  // leaves what to do in after_watch_, which the read's completion runs.
  void watchPeer();
  void onWatchRead(const error_code& ec, std::size_t n);

  // A response the server makes itself (errors, 503); `close` forces Connection: close.
  void respondError(int status, std::string message, Headers headers = {}, bool close = false);
  void writeMessage(ResponseParts parts);
  void writeMessageSome();
  void onMessageWritten(const error_code& ec);
  void writeRaw(const char* data, std::size_t size, std::function<void(const error_code&)> next);
  void writeRawSome();
  void readBodySome();
  void onBodyError(const error_code& ec);
  void armBodyTimer();
  // Decides Connection: keep-alive/close for the response about to be written.
  bool keepAliveForResponse() const;
  void maybeFinishRequest();
  void logRequest() const;
  void closeAfterResponse();
  void lingerSome(std::chrono::steady_clock::time_point until);
  void closeSocket();
  void completePending(const error_code& ec, std::size_t n);

  // Timeouts. Every socket operation starts after armDeadline(its expiry) and its completion
  // passes through settle(), which ends the deadline and reports a cancellation by the deadline as
  // beast::error::timeout. One timer per connection, re-armed lazily (see armDeadline).
  void armDeadline(std::chrono::steady_clock::time_point expiry);
  void onDeadline(const error_code& ec, unsigned generation);
  error_code settle(const error_code& ec);

  std::shared_ptr<ServerCore> core_;
  ServerStream stream_;
  const bool refused_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer queue_timer_;  // handler_queue_timeout of the request posted
  const std::chrono::steady_clock::time_point accepted_at_;
  // The expiry of the operation in progress; max() when none is.
  std::chrono::steady_clock::time_point expiry_ = std::chrono::steady_clock::time_point::max();
  bool timer_armed_ = false;
  unsigned timer_generation_ = 0;
  bool timed_out_ = false;  // a deadline cancelled the socket: the connection is done
  std::string peer_;
  beast::flat_buffer buffer_;
  std::size_t head_bytes_ = 0;  // of the request head, taken by the parser so far
  std::optional<http::request_parser<http::buffer_body>> parser_;
  Phase phase_ = Phase::Handshake;
  bool stop_requested_ = false;  // the server stops: no further request on this connection
  bool closed_ = false;
  std::size_t requests_ = 0;
  bool watching_ = false;  // watchPeer()'s read is in flight
  std::function<void(const error_code&)> after_watch_;

  // The current request.
  std::shared_ptr<Exchange> exchange_;
  std::optional<Completion> pending_;  // the Exchange's operation in progress
  std::chrono::steady_clock::time_point started_at_;
  std::chrono::steady_clock::time_point deadline_;  // request_timeout from the first byte
  std::chrono::milliseconds body_idle_timeout_{0};
  std::string method_;  // for the log
  std::string target_;  // for the log, clipped
  unsigned version_ = 11;
  bool head_ = false;
  bool request_keep_alive_ = true;
  BodyKind body_kind_ = BodyKind::None;
  std::uint64_t remaining_ = 0;  // BodyKind::Length: bytes not yet read
  bool body_done_ = true;
  bool body_failed_ = false;
  bool expect_continue_ = false;
  bool continue_sent_ = false;
  char* rbuf_ = nullptr;  // the handler's buffer being filled
  std::size_t rsize_ = 0;
  std::size_t rfilled_ = 0;
  std::uint64_t bytes_in_ = 0;   // body bytes read
  std::uint64_t bytes_out_ = 0;  // response bytes written, head included
  bool handler_done_ = true;
  bool abandoned_ = false;  // no handler thread within handler_queue_timeout: answered 503
  bool response_started_ = false;
  bool response_done_ = false;
  bool keep_alive_ = false;  // decided when the response's head is written
  int status_ = 0;
  std::uint64_t stream_left_ = 0;  // streamed body bytes still to come

  // Writing.
  std::optional<http::response<http::string_body>> message_;
  std::optional<http::response_serializer<http::string_body>> serializer_;
  std::string head_text_;
  const char* wdata_ = nullptr;
  std::size_t wleft_ = 0;
  std::function<void(const error_code&)> wnext_;
};

}  // namespace pkgxfer::http::detail
