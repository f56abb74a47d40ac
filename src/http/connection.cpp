#include "connection.h"

#include <boost/asio/post.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <sstream>
#include <stop_token>

#include "text.h"

namespace pkgxfer::http::detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kFirstReadBytes = 16 * 1024;
// How long a closing connection keeps reading (and discarding) what the client still sends, so
// that closing with unread bytes does not reset the connection before the client read our
// response.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::size_t kLogTargetBytes = 256;

bool isHttpParseError(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

long long millisSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT", independent of the locale (and of
// gmtime_r, which Windows does not have).
std::string httpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  namespace chr = std::chrono;
  const auto now = chr::floor<chr::seconds>(chr::system_clock::now());
  const auto day = chr::floor<chr::days>(now);
  const chr::year_month_day ymd{day};
  const unsigned weekday = chr::weekday{day}.c_encoding();  // 0 = Sunday
  const long long secs = (now - day).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02lld:%02lld:%02lld GMT", kDays[weekday % 7],
                static_cast<unsigned>(ymd.day()),
                kMonths[(static_cast<unsigned>(ymd.month()) + 11) % 12],
                static_cast<int>(ymd.year()), secs / 3600, secs / 60 % 60, secs % 60);
  return buf;
}

bool isServerOwnedHeader(std::string_view name) {
  for (std::string_view owned :
       {"content-length", "transfer-encoding", "connection", "date", "server", "keep-alive"}) {
    if (iequals(name, owned)) return true;
  }
  return false;
}

Status statusFromWrite(std::string_view what, const error_code& ec) {
  return Status::Unavailable(std::string(what) + ": " + errorText(ec));
}

// The client closed its connection in the middle of a message (Beast reports that as an HTTP
// error, but nothing was malformed: the peer is gone).
bool isCutMessage(const error_code& ec) {
  return ec == http::error::partial_message || ec == http::error::end_of_stream;
}

}  // namespace

std::size_t readBufferLimit(const ServerOptions& options) {
  return options.max_header_bytes + kFirstReadBytes;
}

// --- Waiter / Completion -------------------------------------------------------------------------

void Waiter::reset() {
  std::lock_guard<std::mutex> lock(mu_);
  done_ = false;
  ec_ = {};
  n_ = 0;
}

void Waiter::complete(const error_code& ec, std::size_t n) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    ec_ = ec;
    n_ = n;
  }
  cv_.notify_one();
}

std::pair<error_code, std::size_t> Waiter::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  return {ec_, n_};
}

Completion& Completion::operator=(Completion&& other) noexcept {
  if (this != &other) {
    if (waiter_) waiter_->complete(boost::asio::error::operation_aborted, 0);
    waiter_ = std::move(other.waiter_);
  }
  return *this;
}

Completion::~Completion() {
  if (waiter_) waiter_->complete(boost::asio::error::operation_aborted, 0);
}

void Completion::operator()(const error_code& ec, std::size_t n) {
  if (auto waiter = std::move(waiter_)) waiter->complete(ec, n);
}

// --- Exchange ------------------------------------------------------------------------------------

// The Request and Response of one request, used by the handler's thread. Its state is the
// handler's; the connection's state is reached only by posting to the strand (call()).
class Exchange final : public Request, public Response {
 public:
  Exchange(std::shared_ptr<Connection> connection, const Route& route, std::string method,
           bool head, Params params, Params query, http::fields fields,
           std::optional<std::uint64_t> length, std::uint64_t body_limit, std::string peer)
      : connection_(std::move(connection)),
        strand_(connection_->strand()),
        route_(route),
        method_(std::move(method)),
        head_(head),
        params_(std::move(params)),
        query_(std::move(query)),
        fields_(std::move(fields)),
        length_(length),
        body_limit_(body_limit),
        peer_(std::move(peer)),
        waiter_(std::make_shared<Waiter>()) {}

  void requestStop() { stop_.request_stop(); }

  // Called on the strand when the request waited handler_queue_timeout: true if the handler had
  // not started, which it then never does; false if it won the race and runs.
  bool abandon() {
    int expected = kQueued;
    return state_.compare_exchange_strong(expected, kAbandoned, std::memory_order_acq_rel);
  }

  // Runs the handler on the handler executor's thread, then reports to the strand.
  void run() {
    HandlerOutcome outcome;
    int expected = kQueued;
    if (!state_.compare_exchange_strong(expected, kStarted, std::memory_order_acq_rel)) {
      outcome.skipped = true;  // abandoned: its 503 was sent
      outcome.status = Status::Cancelled("no handler thread within handler_queue_timeout");
    } else {
      // Before any operation the handler posts: the strand runs them in this order.
      boost::asio::post(strand_, [connection = connection_] { connection->handlerStarted(); });
      outcome = runHandler();
    }
    outcome.reject_status = reject_status_;
    connection_->core().releaseHandler();
    // The last reference to this Exchange may be the one the strand drops.
    boost::asio::post(strand_, [connection = connection_, outcome = std::move(outcome)]() mutable {
      connection->handlerDone(std::move(outcome));
    });
  }

  // Request.
  std::string_view method() const override { return method_; }
  bool isHead() const override { return head_; }
  std::string_view route() const override { return route_.pattern; }
  const std::string& param(std::string_view name) const override {
    static const std::string kEmpty;
    for (const auto& [k, v] : params_) {
      if (k == name) return v;
    }
    return kEmpty;
  }
  std::optional<std::string> query(std::string_view name) const override {
    for (const auto& [k, v] : query_) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
  std::string_view header(std::string_view name) const override {
    auto it = fields_.find(beast::string_view(name.data(), name.size()));
    if (it == fields_.end()) return {};
    return std::string_view(it->value().data(), it->value().size());
  }
  std::optional<std::uint64_t> contentLength() const override { return length_; }
  const std::string& peer() const override { return peer_; }
  std::stop_token stopToken() const override { return stop_.get_token(); }

  Result<std::size_t> read(char* buf, std::size_t size) override {
    if (!read_error_.ok()) return read_error_;
    if (size == 0) return std::size_t{0};
    auto [ec, n] = call(
        [buf, size](Connection& c, Completion done) { c.bodyRead(buf, size, std::move(done)); });
    if (!ec) return n;
    if (isCutMessage(ec)) {
      read_error_ = Status::Unavailable("read request body from " + peer_ +
                                        ": the client closed the connection mid-body");
    } else if (ec == http::error::body_limit) {
      rejectBody(413);
      read_error_ = Status::InvalidArgument("request body over the limit of " +
                                            std::to_string(body_limit_) + " bytes");
    } else if (ec == http::error::buffer_overflow) {
      rejectBody(400);
      read_error_ = Status::InvalidArgument(
          "malformed request body: a chunk header or trailer that does not end within " +
          std::to_string(readBufferLimit(connection_->core().options())) + " bytes");
    } else if (isHttpParseError(ec)) {
      rejectBody(400);
      read_error_ = Status::InvalidArgument("malformed request body: " + ec.message());
    } else if (ec == beast::error::timeout) {
      read_error_ = Status::Unavailable("read request body from " + peer_ + ": timed out");
    } else {
      read_error_ = Status::Unavailable("read request body from " + peer_ + ": " + errorText(ec));
    }
    return read_error_;
  }

  // Response.
  Status addHeader(std::string_view name, std::string_view value) override {
    if (started_) return Status::InvalidArgument("addHeader: the response has begun");
    if (!isValidHeaderName(name) || !isValidHeaderValue(value)) {
      return Status::InvalidArgument("addHeader: bad header '" + clip(name, 64) + "'");
    }
    if (isServerOwnedHeader(name)) {
      return Status::InvalidArgument("addHeader: " + std::string(name) + " is set by the server");
    }
    if (iequals(name, "content-type")) {
      return Status::InvalidArgument(
          "addHeader: Content-Type is given to send() or beginStream(), not added");
    }
    headers_.push_back({std::string(name), std::string(value)});
    return Status::Ok();
  }

  Status send(int status, std::string body, std::string_view content_type) override {
    PKGXFER_RETURN_IF_ERROR(checkStart(status));
    PKGXFER_RETURN_IF_ERROR(checkContentType(content_type));
    if ((status == 204 || status == 304) && !body.empty()) {
      return Status::InvalidArgument("send: a " + std::to_string(status) + " has no body");
    }
    started_ = true;
    ResponseParts parts{status, std::string(content_type), std::move(headers_), std::move(body)};
    auto [ec, n] = call([parts = std::move(parts)](Connection& c, Completion done) mutable {
      c.writeWhole(std::move(parts), std::move(done));
    });
    (void)n;
    if (ec) return statusFromWrite("send response to " + peer_, ec);
    return Status::Ok();
  }

  Status beginStream(int status, std::uint64_t content_length,
                     std::string_view content_type) override {
    PKGXFER_RETURN_IF_ERROR(checkStart(status));
    PKGXFER_RETURN_IF_ERROR(checkContentType(content_type));
    if (status == 204 || status == 304) {
      return Status::InvalidArgument("beginStream: a " + std::to_string(status) +
                                     " has no body; use send()");
    }
    started_ = true;
    streaming_ = true;
    stream_left_ = content_length;
    ResponseParts parts{status, std::string(content_type), std::move(headers_), {}};
    auto [ec, n] =
        call([parts = std::move(parts), content_length](Connection& c, Completion done) mutable {
          c.writeHead(std::move(parts), content_length, std::move(done));
        });
    (void)n;
    if (ec) return statusFromWrite("send response head to " + peer_, ec);
    return Status::Ok();
  }

  Status write(const char* data, std::size_t size) override {
    if (!streaming_) return Status::InvalidArgument("write: beginStream() was not called");
    if (size > stream_left_) {
      return Status::InvalidArgument("write: " + std::to_string(size) +
                                     " bytes past the declared length (" +
                                     std::to_string(stream_left_) + " left)");
    }
    stream_left_ -= size;
    if (head_ || size == 0) return Status::Ok();
    auto [ec, n] = call(
        [data, size](Connection& c, Completion done) { c.writeBody(data, size, std::move(done)); });
    (void)n;
    if (ec) return statusFromWrite("send response body to " + peer_, ec);
    return Status::Ok();
  }

  bool started() const override { return started_; }

 protected:
  void rejectBody(int status) override {
    if (reject_status_ == 0) reject_status_ = status;
  }

 private:
  // Posts `op` to the strand and waits for it to complete.
  template <typename Op>
  std::pair<error_code, std::size_t> call(Op&& op) {
    waiter_->reset();
    boost::asio::post(strand_,
                      [connection = connection_, done = Completion(waiter_),
                       op = std::forward<Op>(op)]() mutable { op(*connection, std::move(done)); });
    return waiter_->wait();
  }

  Status checkStart(int status) const {
    if (started_) return Status::InvalidArgument("the response was already sent or begun");
    if (status < 200 || status > 599) {
      return Status::InvalidArgument("bad response status " + std::to_string(status));
    }
    return Status::Ok();
  }

  HandlerOutcome runHandler() {
    HandlerOutcome outcome;
    if (stop_.stop_requested()) {
      outcome.status = Status::Cancelled("the connection closed before the handler started");
      return outcome;
    }
    try {
      outcome.status = route_.handler(*this, *this);
    } catch (const std::exception& e) {
      outcome.threw = true;
      outcome.status = Status::Internal(std::string("handler threw: ") + e.what());
    } catch (...) {
      outcome.threw = true;
      outcome.status = Status::Internal("handler threw a non-standard exception");
    }
    return outcome;
  }

  // The content type becomes a header: the same syntax rule as addHeader's (no CR/LF: no
  // response splitting).
  static Status checkContentType(std::string_view content_type) {
    if (!isValidHeaderValue(content_type)) {
      return Status::InvalidArgument("bad content type '" + clip(content_type, 64) +
                                     "': a control character");
    }
    return Status::Ok();
  }

  static constexpr int kQueued = 0;
  static constexpr int kStarted = 1;
  static constexpr int kAbandoned = 2;

  std::shared_ptr<Connection> connection_;
  boost::asio::any_io_executor strand_;
  const Route& route_;
  const std::string method_;
  const bool head_;
  const Params params_;
  const Params query_;
  const http::fields fields_;
  const std::optional<std::uint64_t> length_;
  const std::uint64_t body_limit_;
  const std::string peer_;
  std::stop_source stop_;
  std::shared_ptr<Waiter> waiter_;
  std::atomic<int> state_{kQueued};  // kQueued until run() or abandon() decides

  Status read_error_;
  int reject_status_ = 0;
  Headers headers_;
  bool started_ = false;
  bool streaming_ = false;
  std::uint64_t stream_left_ = 0;
};

// --- Connection ----------------------------------------------------------------------------------

namespace {

ServerStream makeStream(ServerCore& core, tcp::socket socket) {
#if PKGXFER_WITH_TLS
  if (auto* tls = core.tls()) return ServerStream(std::move(socket), *tls);
#endif
  (void)core;
  return ServerStream(std::move(socket));
}

}  // namespace

Connection::Connection(std::shared_ptr<ServerCore> core, tcp::socket socket, bool refused)
    : core_(std::move(core)),
      stream_(makeStream(*core_, std::move(socket))),
      refused_(refused),
      timer_(stream_.get_executor()),
      queue_timer_(stream_.get_executor()),
      accepted_at_(Clock::now()) {
  buffer_.max_size(readBufferLimit(core_->options()));
  error_code ec;
  auto remote = stream_.socket().remote_endpoint(ec);
  peer_ = ec ? std::string("?") : hostPort(remote.address().to_string(), remote.port());
  stream_.socket().set_option(tcp::no_delay(true), ec);
}

Connection::~Connection() { core_->onConnectionGone(this, refused_); }

void Connection::start() {
  boost::asio::post(strand(), [self = shared_from_this()] {
    if (self->stop_requested_) return self->closeSocket();
#if PKGXFER_WITH_TLS
    if (self->stream_.isTls()) {
      self->phase_ = Phase::Handshake;
      // The first request's deadline (readHead) covers the handshake too.
      self->armDeadline(self->accepted_at_ + self->core_->options().request_timeout);
      self->stream_.tls().async_handshake(
          boost::asio::ssl::stream_base::server,
          [self](error_code ec) { self->onHandshake(self->settle(ec)); });
      return;
    }
#endif
    self->onHandshake({});
  });
}

void Connection::onServerStop() {
  boost::asio::post(strand(), [self = shared_from_this()] {
    self->stop_requested_ = true;
    if (self->phase_ == Phase::Idle || self->phase_ == Phase::Handshake) self->closeSocket();
  });
}

void Connection::forceClose() {
  boost::asio::post(strand(), [self = shared_from_this()] {
    if (self->exchange_) self->exchange_->requestStop();
    self->closeSocket();
  });
}

void Connection::onHandshake(const error_code& ec) {
  if (ec) {
#if PKGXFER_WITH_TLS
    if (!closed_) {
      PX_LOG_INFO(core_->log(), "TLS handshake with {} failed: {}", peer_,
                  tlsErrorText(ec, stream_.tls().native_handle()));
    }
#endif
    return closeSocket();
  }
  if (refused_) {
    respondError(
        503,
        "server busy: " + std::to_string(core_->options().max_connections) + " connections open",
        {{"Retry-After", "1"}}, /*close=*/true);
    return;
  }
  readNext();
}

void Connection::readNext() {
  parser_.reset();
  if (closed_) return;
  if (stop_requested_) return closeSocket();
  if (buffer_.size() > 0) return readHead();  // a pipelined request is already here
  phase_ = Phase::Idle;
  // A new connection gets request_timeout from its accept to its first complete head; a kept-alive
  // one idle_timeout for the first byte of its next request.
  const ServerOptions& options = core_->options();
  armDeadline(requests_ == 0 ? accepted_at_ + options.request_timeout
                             : Clock::now() + options.idle_timeout);
  auto next = [self = shared_from_this()](error_code ec) {
    ec = self->settle(ec);
    if (ec) {
      if (ec == beast::error::timeout) {
        PX_LOG_DEBUG(self->core_->log(), "closing idle connection from {}", self->peer_);
      }
      return self->closeSocket();
    }
    self->readHead();
  };
  if (watching_) {
    after_watch_ = std::move(next);  // the watch's read is this read
    return;
  }
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          [self = shared_from_this(), next](error_code ec, std::size_t n) {
                            self->buffer_.commit(n);
                            next(ec);
                          });
}

void Connection::readHead() {
  phase_ = Phase::Head;
  started_at_ = Clock::now();
  deadline_ = (requests_ == 0 ? accepted_at_ : started_at_) + core_->options().request_timeout;
  // Reset the per-request state.
  method_.clear();
  target_.clear();
  version_ = 11;
  head_ = false;
  request_keep_alive_ = true;
  body_kind_ = BodyKind::None;
  remaining_ = 0;
  body_done_ = true;
  body_failed_ = false;
  expect_continue_ = false;
  continue_sent_ = false;
  bytes_in_ = 0;
  bytes_out_ = 0;
  handler_done_ = true;
  abandoned_ = false;
  response_started_ = false;
  response_done_ = false;
  keep_alive_ = false;
  status_ = 0;
  stream_left_ = 0;
  body_idle_timeout_ = std::chrono::milliseconds(0);

  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(core_->options().max_header_bytes));
  // No limit yet: each route's own is applied once the route is known. (Not boost::none: Beast
  // 1.74 compares the length against the optional and takes "none" for "exceeded".)
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  armDeadline(deadline_);
  head_bytes_ = 0;
  readHeadPart();
}

// Beast 1.74 checks header_limit against what one parse call is given, not against the whole
// head, and its parser takes complete fields as they arrive: a head of many small fields coming in
// small reads would pass at any size. So the head is read here, part by part, and what the parser
// took so far plus what waits in the buffer is held to max_header_bytes.
void Connection::readHeadPart() {
  // The request's deadline (armDeadline) covers every read of the head: settle() ends it, so it
  // is called only once the head is complete or has failed.
  const std::size_t limit = core_->options().max_header_bytes;
  if (buffer_.size() > 0) {
    error_code ec;
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    head_bytes_ += used;
    if (ec != http::error::need_more) return onHead(settle(ec));  // complete, or bad
  }
  if (head_bytes_ + buffer_.size() >= limit) return onHead(settle(http::error::header_limit));
  parser_->header_limit(static_cast<std::uint32_t>(limit - head_bytes_));
  stream_.async_read_some(
      buffer_.prepare(kFirstReadBytes),
      [self = shared_from_this()](error_code ec, std::size_t n) { self->onHeadPart(ec, n); });
}

void Connection::onHeadPart(const error_code& ec, std::size_t received) {
  buffer_.commit(received);
  if (timed_out_) return onHead(settle(ec));
  if (ec == boost::asio::error::eof) {
    return onHead(
        settle(parser_->got_some() ? http::error::partial_message : http::error::end_of_stream));
  }
  if (ec) return onHead(settle(ec));
  readHeadPart();
}

void Connection::onHead(const error_code& ec) {
  if (ec) {
    if (closed_ || ec == boost::asio::error::operation_aborted) return closeSocket();
    if (ec == beast::error::timeout) {
      PX_LOG_INFO(core_->log(),
                  "closing connection from {}: request head not complete within {} ms", peer_,
                  core_->options().request_timeout.count());
      return closeSocket();
    }
    if (ec == http::error::header_limit) {
      PX_LOG_INFO(core_->log(), "request head from {} over {} bytes: 431", peer_,
                  core_->options().max_header_bytes);
      return respondError(
          431, "request head over " + std::to_string(core_->options().max_header_bytes) + " bytes",
          {}, /*close=*/true);
    }
    if (ec == http::error::bad_version && asksForAnotherVersion()) {
      return respondError(505, "HTTP version not supported", {}, /*close=*/true);
    }
    if (isHttpParseError(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      PX_LOG_INFO(core_->log(), "malformed request from {}: {}", peer_, ec.message());
      return respondError(400, "malformed request: " + ec.message(), {}, /*close=*/true);
    }
    if (!isDisconnect(ec) && ec != http::error::partial_message) {
      PX_LOG_INFO(core_->log(), "reading a request from {}: {}", peer_, errorText(ec));
    }
    return closeSocket();
  }
  dispatch();
}

bool Connection::asksForAnotherVersion() const {
  // The unparsed request line is still in the buffer: "... HTTP/<digit>.<digit>\r\n".
  const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  const std::string_view line = data.substr(0, data.find("\r\n"));
  if (line.size() < 9) return false;
  const std::string_view v = line.substr(line.size() - 9);
  return v.substr(0, 6) == " HTTP/" && v[6] >= '0' && v[6] <= '9' && v[7] == '.' && v[8] >= '0' &&
         v[8] <= '9';
}

void Connection::dispatch() {
  core_->countRequest();
  ++requests_;
  const ServerOptions& options = core_->options();
  auto& req = parser_->get();
  method_ = std::string(req.method_string());
  target_ = clip(std::string_view(req.target().data(), req.target().size()), kLogTargetBytes);
  version_ = req.version();
  head_ = req.method() == http::verb::head;
  request_keep_alive_ = req.keep_alive();
  if (parser_->chunked()) {
    body_kind_ = BodyKind::Chunked;
    body_done_ = false;
  } else if (auto length = parser_->content_length(); length && *length > 0) {
    body_kind_ = BodyKind::Length;
    remaining_ = *length;
    body_done_ = false;
  }
  if (version_ != 10 && version_ != 11) {
    return respondError(505, "HTTP version not supported", {}, /*close=*/true);
  }
  expect_continue_ = version_ == 11 && !body_done_ &&
                     iequals(trimOws(std::string_view(req[http::field::expect].data(),
                                                      req[http::field::expect].size())),
                             "100-continue");
  if (version_ == 11 && req.find(http::field::host) == req.end()) {
    return respondError(400, "an HTTP/1.1 request needs a Host header", {}, /*close=*/true);
  }
  if (auto te = req.find(http::field::transfer_encoding); te != req.end()) {
    // Beast takes "gzip" alone for "no body" and "gzip, chunked" for chunked: neither may reach a
    // handler that would misread the body (request smuggling).
    if (!iequals(trimOws(std::string_view(te->value().data(), te->value().size())), "chunked")) {
      return respondError(400, "unsupported Transfer-Encoding", {}, /*close=*/true);
    }
  }

  const std::string_view target(req.target().data(), req.target().size());
  RouteMatch match = core_->router().match(method_, target);
  switch (match.kind) {
    case RouteMatch::Kind::BadPath:
      PX_LOG_INFO(core_->log(), "rejected {} {} from {}: {}", method_, target_, peer_, match.error);
      return respondError(400, "bad path: " + match.error);
    case RouteMatch::Kind::NotFound:
      return respondError(404, "no such resource");
    case RouteMatch::Kind::MethodNotAllowed:
      return respondError(405, "method " + clip(method_, 32) + " not allowed here",
                          {{"Allow", match.allow}});
    case RouteMatch::Kind::Found:
      break;
  }
  const Route& route = *match.route;

  if (route.options.requires_auth) {
    auto it = req.find(http::field::authorization);
    std::string_view value;
    if (it != req.end()) value = std::string_view(it->value().data(), it->value().size());
    value = trimOws(value);
    const bool has_scheme = value.size() > 7 && iequals(value.substr(0, 6), "Bearer") &&
                            (value[6] == ' ' || value[6] == '\t');
    if (!has_scheme) {
      PX_LOG_INFO(core_->log(), "refused {} {} from {}: no bearer token", method_, target_, peer_);
      return respondError(401, "this request needs a bearer token",
                          {{"WWW-Authenticate", "Bearer realm=\"pkgxfer\""}});
    }
    if (!core_->tokenMatches(trimOws(value.substr(7)))) {
      PX_LOG_INFO(core_->log(), "refused {} {} from {}: wrong bearer token", method_, target_,
                  peer_);
      return respondError(
          401, "wrong bearer token",
          {{"WWW-Authenticate", "Bearer realm=\"pkgxfer\", error=\"invalid_token\""}});
    }
  }

  const std::uint64_t limit = route.options.max_body_bytes.value_or(options.max_body_bytes);
  if (body_kind_ == BodyKind::Length && remaining_ > limit) {
    PX_LOG_INFO(core_->log(), "refused {} {} from {}: body of {} bytes over the limit of {}",
                method_, target_, peer_, remaining_, limit);
    return respondError(413, "request body of " + std::to_string(remaining_) +
                                 " bytes over the limit of " + std::to_string(limit) + " bytes");
  }
  if (body_kind_ == BodyKind::Chunked) {
    if (route.options.requires_content_length) {
      return respondError(411, "this request needs a Content-Length");
    }
    parser_->body_limit(limit);
  }
  body_idle_timeout_ = route.options.body_idle_timeout;
  if (!core_->tryAcquireHandler()) {
    core_->countBusy();
    PX_LOG_INFO(core_->log(), "refused {} {} from {}: {} handlers busy: 503", method_, target_,
                peer_, options.max_concurrent_handlers);
    return respondError(
        503,
        "server busy: " + std::to_string(options.max_concurrent_handlers) + " requests in progress",
        {{"Retry-After", "1"}});
  }
  startHandler(route, std::move(match.params), std::move(match.query), limit);
}

void Connection::startHandler(const Route& route, Params params, Params query,
                              std::uint64_t body_limit) {
  std::optional<std::uint64_t> length;  // nullopt: chunked
  if (body_kind_ == BodyKind::Length) {
    length = remaining_;
  } else if (body_kind_ == BodyKind::None) {
    length = 0;
  }
  // A HEAD served by a GET route keeps its method: the handler tells them apart by isHead().
  exchange_ = std::make_shared<Exchange>(shared_from_this(), route, method_, head_,
                                         std::move(params), std::move(query), parser_->get().base(),
                                         length, body_limit, peer_);
  phase_ = Phase::Handler;
  handler_done_ = false;
  // The wait for a thread has its own bound: request_timeout starts when the handler does.
  queue_timer_.expires_after(core_->options().handler_queue_timeout);
  queue_timer_.async_wait([self = shared_from_this(), exchange = exchange_](const error_code& ec) {
    self->onQueueTimeout(ec, exchange);
  });
  boost::asio::post(core_->options().handler_executor, [exchange = exchange_] { exchange->run(); });
  watchPeer();
}

void Connection::handlerStarted() {
  queue_timer_.cancel();
  if (closed_) return;
  deadline_ = Clock::now() + core_->options().request_timeout;
}

void Connection::onQueueTimeout(const error_code& ec, const std::shared_ptr<Exchange>& exchange) {
  if (ec || closed_ || exchange != exchange_ || !exchange->abandon()) return;
  abandoned_ = true;
  core_->countBusy();
  const auto waited = core_->options().handler_queue_timeout.count();
  PX_LOG_INFO(core_->log(), "{} {} from {}: no handler thread within {} ms: 503", method_, target_,
              peer_, waited);
  respondError(503, "server busy: no handler thread free within " + std::to_string(waited) + " ms",
               {{"Retry-After", "1"}}, /*close=*/true);
}

void Connection::watchPeer() {
  if (closed_ || watching_ || handler_done_ || !exchange_ || phase_ != Phase::Handler ||
      !body_done_ || body_failed_ || buffer_.size() > 0) {
    return;
  }
  watching_ = true;
  // No deadline of its own: it lasts as long as the handler. A deadline of another operation
  // cancels it too (the connection then closes anyway).
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          [self = shared_from_this()](const error_code& ec, std::size_t n) {
                            self->onWatchRead(ec, n);
                          });
}

void Connection::onWatchRead(const error_code& ec, std::size_t n) {
  watching_ = false;
  buffer_.commit(n);
  if (after_watch_) {
    // The request ended while the read was in flight: it was the connection's next read.
    auto next = std::move(after_watch_);
    after_watch_ = nullptr;
    return next(ec);
  }
  if (closed_) return;
  if (ec) {
    PX_LOG_DEBUG(core_->log(), "{} {} from {}: the client went away while its handler ran ({})",
                 method_, target_, peer_, errorText(ec));
    return closeSocket();  // and requests the handler's stop
  }
  // Bytes of a pipelined request (or a TLS record): kept for the next request. The client is still
  // there; it is not watched further (reading on would buffer without bound).
}

void Connection::bodyRead(char* buf, std::size_t size, Completion done) {
  pending_.emplace(std::move(done));
  if (closed_) return completePending(boost::asio::error::operation_aborted, 0);
  if (body_failed_) return completePending(boost::asio::error::connection_aborted, 0);
  if (body_done_) return completePending({}, 0);
  rbuf_ = buf;
  rsize_ = body_kind_ == BodyKind::Length
               ? static_cast<std::size_t>(std::min<std::uint64_t>(size, remaining_))
               : size;
  rfilled_ = 0;
  if (expect_continue_ && !continue_sent_ && !response_started_) {
    continue_sent_ = true;
    writeRaw(k100Continue.data(), k100Continue.size(),
             [self = shared_from_this()](const error_code& ec) {
               if (ec) return self->onBodyError(ec);
               self->readBodySome();
             });
    return;
  }
  readBodySome();
}

void Connection::armBodyTimer() {
  armDeadline(body_idle_timeout_.count() > 0 ? Clock::now() + body_idle_timeout_ : deadline_);
}

void Connection::readBodySome() {
  if (body_kind_ == BodyKind::Length) {
    // Bytes that came with the head (or a pipelined burst) first, then straight from the socket
    // into the handler's buffer: no copy through the parser for the common case.
    if (buffer_.size() > 0 && rfilled_ < rsize_) {
      const std::size_t k = std::min(buffer_.size(), rsize_ - rfilled_);
      std::memcpy(rbuf_ + rfilled_, buffer_.data().data(), k);
      buffer_.consume(k);
      rfilled_ += k;
      remaining_ -= k;
      bytes_in_ += k;
    }
    if (remaining_ == 0) body_done_ = true;
    if (rfilled_ == rsize_) return completePending({}, rfilled_);
    armBodyTimer();
    stream_.async_read_some(boost::asio::buffer(rbuf_ + rfilled_, rsize_ - rfilled_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              ec = self->settle(ec);
                              self->rfilled_ += n;
                              self->remaining_ -= n;
                              self->bytes_in_ += n;
                              if (self->remaining_ == 0) self->body_done_ = true;
                              if (ec && !(self->body_done_ && self->rfilled_ == self->rsize_)) {
                                return self->onBodyError(ec);
                              }
                              self->readBodySome();
                            });
    return;
  }
  // Chunked: the parser decodes into the handler's buffer.
  auto& body = parser_->get().body();
  body.data = rbuf_ + rfilled_;
  body.size = rsize_ - rfilled_;
  body.more = true;
  armBodyTimer();
  http::async_read_some(stream_, buffer_, *parser_,
                        [self = shared_from_this()](error_code ec, std::size_t) {
                          ec = self->settle(ec);
                          auto& b = self->parser_->get().body();
                          const std::size_t got = (self->rsize_ - self->rfilled_) - b.size;
                          self->rfilled_ += got;
                          self->bytes_in_ += got;
                          if (ec == http::error::need_buffer) ec = {};
                          if (ec) return self->onBodyError(ec);
                          if (self->parser_->is_done()) {
                            self->body_done_ = true;
                            return self->completePending({}, self->rfilled_);
                          }
                          if (self->rfilled_ == self->rsize_) {
                            return self->completePending({}, self->rfilled_);
                          }
                          self->readBodySome();
                        });
}

void Connection::onBodyError(const error_code& ec) {
  body_failed_ = true;
  if (ec == beast::error::timeout) {
    PX_LOG_INFO(core_->log(), "closing connection from {}: body of {} {} not received in time",
                peer_, method_, target_);
    closeSocket();
  } else if (isCutMessage(ec)) {
    PX_LOG_DEBUG(core_->log(), "{} closed the connection in the body of {} {}", peer_, method_,
                 target_);
    closeSocket();
  } else if (ec == http::error::body_limit || isHttpParseError(ec)) {
    // Answerable: the handler (or handlerDone) sends 413/400, then the connection closes.
  } else {
    if (!isDisconnect(ec)) {
      PX_LOG_INFO(core_->log(), "reading the body of {} {} from {}: {}", method_, target_, peer_,
                  errorText(ec));
    }
    closeSocket();
  }
  completePending(ec, 0);
}

bool Connection::keepAliveForResponse() const {
  const std::size_t cap = core_->options().max_requests_per_connection;
  return request_keep_alive_ && !stop_requested_ && body_done_ && !body_failed_ &&
         !(cap > 0 && requests_ >= cap);
}

void Connection::writeWhole(ResponseParts parts, Completion done) {
  pending_.emplace(std::move(done));
  if (closed_) return completePending(boost::asio::error::operation_aborted, 0);
  writeMessage(std::move(parts));
}

void Connection::respondError(int status, std::string message, Headers headers, bool close) {
  if (close) request_keep_alive_ = false;
  ResponseParts parts{status, "application/json", std::move(headers), errorBody(status, message)};
  writeMessage(std::move(parts));
}

void Connection::writeMessage(ResponseParts parts) {
  response_started_ = true;
  keep_alive_ = keepAliveForResponse();
  status_ = parts.status;
  message_.emplace();
  auto& res = *message_;
  res.version(version_ == 10 ? 10 : 11);
  res.result(static_cast<unsigned>(parts.status));
  res.reason(
      beast::string_view(reasonPhrase(parts.status).data(), reasonPhrase(parts.status).size()));
  res.set(http::field::date, httpDate());
  res.set(http::field::server, "pkgxfer");
  if (!parts.content_type.empty() && !(parts.body.empty() && parts.status == 204)) {
    res.set(http::field::content_type, parts.content_type);
  }
  for (const Header& h : parts.headers) {
    res.insert(beast::string_view(h.name.data(), h.name.size()),
               beast::string_view(h.value.data(), h.value.size()));
  }
  res.keep_alive(keep_alive_);
  if (parts.status == 204 || parts.status == 304) {
    // No body and no Content-Length.
  } else if (head_) {
    res.content_length(parts.body.size());  // HEAD: the length of what GET would send
  } else {
    res.content_length(parts.body.size());
    res.body() = std::move(parts.body);
  }
  serializer_.emplace(res);
  writeMessageSome();
}

void Connection::writeMessageSome() {
  armDeadline(Clock::now() + core_->options().write_timeout);
  http::async_write_some(stream_, *serializer_,
                         [self = shared_from_this()](error_code ec, std::size_t n) {
                           ec = self->settle(ec);
                           self->bytes_out_ += n;
                           if (ec) return self->onMessageWritten(ec);
                           if (self->serializer_->is_done()) return self->onMessageWritten({});
                           self->writeMessageSome();
                         });
}

void Connection::onMessageWritten(const error_code& ec) {
  serializer_.reset();
  message_.reset();
  if (ec) {
    if (!isDisconnect(ec)) {
      PX_LOG_INFO(core_->log(), "writing the response to {} {} to {}: {}", method_, target_, peer_,
                  errorText(ec));
    }
    closeSocket();
  } else {
    response_done_ = true;
  }
  if (pending_) {
    completePending(ec, 0);
  } else {
    maybeFinishRequest();  // the server's own response: no handler is waiting
  }
}

void Connection::writeHead(ResponseParts parts, std::uint64_t length, Completion done) {
  pending_.emplace(std::move(done));
  if (closed_) return completePending(boost::asio::error::operation_aborted, 0);
  response_started_ = true;
  keep_alive_ = keepAliveForResponse();
  status_ = parts.status;
  stream_left_ = head_ ? 0 : length;
  http::response<http::empty_body> res;
  res.version(version_ == 10 ? 10 : 11);
  res.result(static_cast<unsigned>(parts.status));
  res.reason(
      beast::string_view(reasonPhrase(parts.status).data(), reasonPhrase(parts.status).size()));
  res.set(http::field::date, httpDate());
  res.set(http::field::server, "pkgxfer");
  if (!parts.content_type.empty()) res.set(http::field::content_type, parts.content_type);
  for (const Header& h : parts.headers) {
    res.insert(beast::string_view(h.name.data(), h.name.size()),
               beast::string_view(h.value.data(), h.value.size()));
  }
  res.content_length(length);
  res.keep_alive(keep_alive_);
  std::ostringstream os;
  os << res.base();
  head_text_ = os.str();
  writeRaw(head_text_.data(), head_text_.size(), [self = shared_from_this()](const error_code& ec) {
    if (ec) {
      self->closeSocket();
    } else if (self->stream_left_ == 0) {
      self->response_done_ = true;
    }
    self->completePending(ec, 0);
  });
}

void Connection::writeBody(const char* data, std::size_t size, Completion done) {
  pending_.emplace(std::move(done));
  if (closed_) return completePending(boost::asio::error::operation_aborted, 0);
  stream_left_ -= std::min<std::uint64_t>(size, stream_left_);
  writeRaw(data, size, [self = shared_from_this()](const error_code& ec) {
    if (ec) {
      if (!isDisconnect(ec) && ec != beast::error::timeout) {
        PX_LOG_INFO(self->core_->log(), "writing the response to {} {} to {}: {}", self->method_,
                    self->target_, self->peer_, errorText(ec));
      } else if (ec == beast::error::timeout) {
        PX_LOG_INFO(self->core_->log(),
                    "closing connection to {}: it stopped reading the response to {} {}",
                    self->peer_, self->method_, self->target_);
      }
      self->closeSocket();
    } else if (self->stream_left_ == 0) {
      self->response_done_ = true;
    }
    self->completePending(ec, 0);
  });
}

void Connection::writeRaw(const char* data, std::size_t size,
                          std::function<void(const error_code&)> next) {
  wdata_ = data;
  wleft_ = size;
  wnext_ = std::move(next);
  writeRawSome();
}

void Connection::writeRawSome() {
  if (wleft_ == 0) {
    auto next = std::move(wnext_);
    return next({});
  }
  armDeadline(Clock::now() + core_->options().write_timeout);
  stream_.async_write_some(boost::asio::buffer(wdata_, wleft_),
                           [self = shared_from_this()](error_code ec, std::size_t n) {
                             ec = self->settle(ec);
                             self->wdata_ += n;
                             self->wleft_ -= n;
                             self->bytes_out_ += n;
                             if (ec) {
                               auto next = std::move(self->wnext_);
                               return next(ec);
                             }
                             self->writeRawSome();
                           });
}

void Connection::handlerDone(HandlerOutcome outcome) {
  handler_done_ = true;
  if (outcome.skipped) return;  // onQueueTimeout answered, and finished the request
  const Status& st = outcome.status;
  if (closed_) {
    if (!st.ok() && st.code() != Status::Code::Cancelled && !body_failed_) {
      PX_LOG_WARN(core_->log(), "{} {} from {}: {}", method_, target_, peer_, st.toString());
    }
    return maybeFinishRequest();
  }
  if (!response_started_) {
    if (outcome.reject_status != 0 && !st.ok()) {
      return respondError(outcome.reject_status, st.message());
    }
    if (outcome.threw) {
      PX_LOG_ERROR(core_->log(), "{} {} from {}: {}", method_, target_, peer_, st.message());
      return respondError(500, "internal error");
    }
    if (!st.ok()) {
      PX_LOG_ERROR(core_->log(), "{} {} from {}: {}", method_, target_, peer_, st.toString());
      return respondError(500, st.message());
    }
    PX_LOG_ERROR(core_->log(), "{} {} from {}: the handler returned without a response", method_,
                 target_, peer_);
    return respondError(500, "the handler sent no response");
  }
  if (!response_done_) {
    PX_LOG_WARN(core_->log(),
                "{} {} from {}: the handler returned {} bytes short of its response ({}); "
                "closing the connection",
                method_, target_, peer_, stream_left_, st.toString());
    closeSocket();
  } else if (!st.ok()) {
    PX_LOG_ERROR(core_->log(), "{} {} from {}: after its response: {}", method_, target_, peer_,
                 st.toString());
  }
  maybeFinishRequest();
}

void Connection::maybeFinishRequest() {
  // The handler may still read or write; an abandoned one never will.
  if (!handler_done_ && !abandoned_) return;
  if (!response_done_ && !closed_) return;
  logRequest();
  exchange_.reset();
  if (closed_) return;
  if (!keep_alive_) return closeAfterResponse();
  readNext();
}

void Connection::logRequest() const {
  if (status_ == 0) return;
  PX_LOG_DEBUG(core_->log(), "{} {} {} -> {}{} ({} B in, {} B out, {} ms)", peer_, method_, target_,
               status_, response_done_ ? "" : " (cut)", bytes_in_, bytes_out_,
               millisSince(started_at_));
}

void Connection::closeAfterResponse() {
  // Half-close, then read what the client still sends until it closes too (or kLingerTime): a
  // close with unread bytes would reset the connection, and the client could lose our response.
  phase_ = Phase::Closing;
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return closeSocket();
  lingerSome(Clock::now() + kLingerTime);
}

void Connection::lingerSome(Clock::time_point until) {
  armDeadline(until);
  auto next = [self = shared_from_this(), until](error_code ec) {
    ec = self->settle(ec);
    if (ec) return self->closeSocket();
    self->lingerSome(until);
  };
  if (watching_) {
    after_watch_ = std::move(next);  // the watch's read is this read
    return;
  }
  buffer_.consume(buffer_.size());  // what the client still sends is dropped
  stream_.socket().async_read_some(
      buffer_.prepare(kFirstReadBytes),
      [next = std::move(next)](error_code ec, std::size_t) { next(ec); });
}

void Connection::closeSocket() {
  if (closed_) return;
  closed_ = true;
  phase_ = Phase::Closed;
  // A handler still running learns it through its stop token (Request::stopToken()).
  if (exchange_ && !handler_done_) exchange_->requestStop();
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
  timer_.cancel();  // releases the reference the pending wait holds
  queue_timer_.cancel();
}

void Connection::armDeadline(Clock::time_point expiry) {
  expiry_ = expiry;
  // Lazy: a wait that ends no later than `expiry` stays, and when it fires it waits again for what
  // is left. So most operations cost no timer call at all (beast::tcp_stream arms and cancels a
  // timer per operation, and each cancel is one more handler and often one more thread wake-up).
  if (timer_armed_ && timer_.expiry() <= expiry) return;
  timer_armed_ = true;
  const unsigned generation = ++timer_generation_;
  timer_.expires_at(expiry);
  timer_.async_wait([self = shared_from_this(), generation](const error_code& ec) {
    self->onDeadline(ec, generation);
  });
}

void Connection::onDeadline(const error_code& ec, unsigned generation) {
  if (generation != timer_generation_) return;  // replaced by an earlier deadline
  timer_armed_ = false;
  if (ec || closed_ || expiry_ == Clock::time_point::max()) return;  // nothing is waiting
  if (Clock::now() < expiry_) return armDeadline(expiry_);
  // The operation in progress took too long: cancel it. It completes with operation_aborted,
  // which settle() reports as a timeout; the connection then closes.
  timed_out_ = true;
  error_code ignored;
  stream_.socket().cancel(ignored);
}

error_code Connection::settle(const error_code& ec) {
  expiry_ = Clock::time_point::max();
  if (timed_out_) return beast::error::timeout;
  return ec;
}

void Connection::completePending(const error_code& ec, std::size_t n) {
  if (!pending_) return;
  Completion done = std::move(*pending_);
  pending_.reset();
  done(ec, n);
  watchPeer();  // the body may just have been read completely
}

}  // namespace pkgxfer::http::detail
