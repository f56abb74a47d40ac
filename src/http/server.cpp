#include "pkgxfer/http/server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <utility>

#include "connection.h"
#include "pkgxfer/content/sha256.h"
#include "server_core.h"
#include "stream.h"
#include "text.h"
#include "tls.h"

namespace pkgxfer::http {

// --- Request / Response helpers ------------------------------------------------------------------

Result<std::string> Request::readBody(std::size_t limit) {
  std::string body;
  if (auto length = contentLength()) {
    if (*length > limit) {
      rejectBody(413);
      return Status::InvalidArgument("request body of " + std::to_string(*length) +
                                     " bytes over the limit of " + std::to_string(limit) +
                                     " bytes");
    }
    // One read fills the whole body: a single round trip to the connection's strand.
    body.resize(static_cast<std::size_t>(*length));
    std::size_t got = 0;
    while (got < body.size()) {
      PKGXFER_ASSIGN_OR_RETURN(std::size_t n, read(body.data() + got, body.size() - got));
      if (n == 0) break;
      got += n;
    }
    body.resize(got);
    return body;
  }
  // Chunked: grow as it comes, up to the limit (and one byte more, to tell "over" from "at").
  constexpr std::size_t kStep = 64 * 1024;
  while (true) {
    const std::size_t old_size = body.size();
    // Up to kStep, or what is left of the limit and one byte more (without the "+ 1" wrapping to
    // 0 for limit = SIZE_MAX).
    const std::size_t left = limit - std::min(limit, old_size);
    const std::size_t room = left >= kStep ? kStep : left + 1;
    body.resize(old_size + room);
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n, read(body.data() + old_size, room));
    body.resize(old_size + n);
    if (n == 0) break;
    if (body.size() > limit) {
      rejectBody(413);
      return Status::InvalidArgument("request body over the limit of " + std::to_string(limit) +
                                     " bytes");
    }
  }
  return body;
}

Result<nlohmann::json> Request::readJson(std::size_t limit) {
  PKGXFER_ASSIGN_OR_RETURN(std::string body, readBody(limit));
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    rejectBody(400);
    return Status::InvalidArgument(std::string("request body is not JSON: ") + e.what());
  }
}

Status Response::sendJson(int status, const nlohmann::json& body) {
  return send(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
              "application/json");
}

Status Response::sendError(int status, std::string_view message) {
  return send(status, errorBody(status, message), "application/json");
}

// --- ServerCore ----------------------------------------------------------------------------------

namespace detail {
namespace {

// The token's SHA-256 in hex; empty in the (out of memory) case where hashing fails, which then
// matches nothing (tokenMatches() requires equal lengths).
std::string tokenDigest(std::string_view token) {
  auto hex = content::sha256Hex(token);
  return hex.ok() ? *hex : std::string();
}

// Compares every byte whatever the first difference: the time says nothing about where it is.
bool constantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

// True if `ex` runs its work on `io`'s own threads (its executor or a strand of it).
bool runsOnIoThreads(const boost::asio::any_io_executor& ex, boost::asio::io_context& io) {
  using IoExecutor = boost::asio::io_context::executor_type;
  if (const auto* e = ex.target<IoExecutor>()) return &e->context() == &io;
  if (const auto* s = ex.target<boost::asio::strand<IoExecutor>>()) {
    return &s->get_inner_executor().context() == &io;
  }
  return false;
}

Status checkOptions(const ServerOptions& o, boost::asio::io_context& io) {
  if (!o.handler_executor) {
    return Status::InvalidArgument(
        "http server: no handler executor (ServerOptions::handler_executor)");
  }
  if (runsOnIoThreads(o.handler_executor, io)) {
    // Handlers block until the connection's strand, on these very threads, did their I/O.
    return Status::InvalidArgument(
        "http server: the handler executor is the io_context's own (handlers would block its "
        "threads and deadlock); give it a separate pool");
  }
  if (o.max_header_bytes < 1024 || o.max_header_bytes > (1u << 20)) {
    return Status::InvalidArgument("http server: max_header_bytes must be 1 KiB..1 MiB");
  }
  if (o.request_timeout.count() <= 0 || o.idle_timeout.count() <= 0 ||
      o.write_timeout.count() <= 0 || o.stop_timeout.count() < 0) {
    return Status::InvalidArgument("http server: timeouts must be positive");
  }
  if (o.max_connections < 1) {
    return Status::InvalidArgument("http server: max_connections must be at least 1");
  }
  if (o.max_concurrent_handlers < 1) {
    return Status::InvalidArgument("http server: max_concurrent_handlers must be at least 1");
  }
  if (o.handler_queue_timeout.count() <= 0) {
    return Status::InvalidArgument("http server: handler_queue_timeout must be positive");
  }
  return Status::Ok();
}

}  // namespace

ServerCore::ServerCore(boost::asio::io_context& io, ServerOptions options)
    : io_(io),
      options_(std::move(options)),
      accept_strand_(boost::asio::make_strand(io)),
      acceptor_(accept_strand_),
      retry_timer_(accept_strand_),
      stop_timer_(accept_strand_) {
  if (!options_.logger) {
    // No sinks: every call is a cheap level check.
    options_.logger = std::make_shared<spdlog::logger>("http");
    options_.logger->set_level(spdlog::level::off);
  }
  token_digest_ = tokenDigest(options_.bearer_token);
}

ServerCore::~ServerCore() = default;

Status ServerCore::addRoute(std::string_view method, std::string_view pattern, RouteOptions options,
                            Handler handler) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_ || stopping_) {
      return Status::InvalidArgument("route " + std::string(method) + " " + std::string(pattern) +
                                     ": routes are added before the server starts");
    }
  }
  return router_.add(method, pattern, std::move(options), std::move(handler));
}

bool ServerCore::tryAcquireHandler() {
  std::size_t n = handlers_.load(std::memory_order_relaxed);
  do {
    if (n >= options_.max_concurrent_handlers) return false;
  } while (!handlers_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel));
  return true;
}

bool ServerCore::tokenMatches(std::string_view token) const {
  if (options_.bearer_token.empty()) return false;
  // Digests of equal length: the comparison takes the same time whatever the token's length and
  // content, and the server's token is never compared byte by byte.
  return constantTimeEqual(tokenDigest(token), token_digest_);
}

Status ServerCore::start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_ || stopping_) return Status::InvalidArgument("http server: start() called twice");
  }
  PKGXFER_RETURN_IF_ERROR(checkOptions(options_, io_));
  for (const Route& r : router_.routes()) {
    if (r.options.requires_auth && options_.bearer_token.empty()) {
      return Status::InvalidArgument("http server: route " + r.method + " " + r.pattern +
                                     " requires auth but no bearer token is configured");
    }
  }
  if (options_.tls) {
    PKGXFER_ASSIGN_OR_RETURN(
        tls_, makeServerTlsContext(options_.tls->cert_chain_file, options_.tls->private_key_file));
  }

  const std::string where = hostPort(options_.host, options_.port);
  boost::system::error_code ec;
  boost::asio::ip::tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(
      options_.host, std::to_string(options_.port),
      boost::asio::ip::tcp::resolver::passive | boost::asio::ip::tcp::resolver::numeric_service,
      ec);
  if (ec || endpoints.empty()) {
    return Status::InvalidArgument("listen on " + where + ": cannot resolve " + options_.host +
                                   (ec ? ": " + errorText(ec) : std::string()));
  }
  const auto endpoint = endpoints.begin()->endpoint();
  auto fail = [&](std::string_view step) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return Status::IoError("listen on " + where + ": " + std::string(step) + ": " + errorText(ec));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  acceptor_.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  acceptor_.bind(endpoint, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return Status::IoError("listen on " + where + ": " + errorText(ec));
  }
  acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  const auto bound = acceptor_.local_endpoint(ec);
  if (ec) return fail("local address");
  if (start_hook_for_test_) start_hook_for_test_(bound.port());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      // stop() came while this start() ran: it saw a server not started and has (or will have)
      // called its callbacks. Starting now would leave a server accepting after its `done`.
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      return Status::Cancelled("listen on " + where + ": the server was stopped while starting");
    }
    port_.store(bound.port(), std::memory_order_relaxed);
    started_ = true;
    accepting_ = true;
  }
  PX_LOG_INFO(options_.logger, "listening on {} ({})", hostPort(options_.host, bound.port()),
              tls_ ? "https" : "http");
  boost::asio::post(accept_strand_, [self = shared_from_this()] { self->doAccept(); });
  return Status::Ok();
}

void ServerCore::doAccept() {
  acceptor_.async_accept(boost::asio::make_strand(io_),
                         [self = shared_from_this()](const boost::system::error_code& ec,
                                                     boost::asio::ip::tcp::socket socket) {
                           self->onAccept(ec, std::move(socket));
                         });
}

void ServerCore::onAccept(const boost::system::error_code& ec,
                          boost::asio::ip::tcp::socket socket) {
  std::shared_ptr<Connection> connection;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || !acceptor_.is_open()) {
      accepting_ = false;
      maybeFinishStopLocked();
      return;  // `socket`, if any, closes here
    }
    if (!ec && open_ >= options_.max_connections &&
        (tls_ || refusing_ >= options_.max_refusals_in_flight)) {
      // No 503: over TLS it would take a full handshake, and past max_refusals_in_flight the
      // answers themselves would hold sockets without bound. Closing costs nothing.
      dropped_.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.close(ignored);
    } else if (!ec) {
      const bool refuse = open_ >= options_.max_connections;
      connection = std::make_shared<Connection>(shared_from_this(), std::move(socket), refuse);
      connections_.emplace(connection.get(), connection);
      if (refuse) {
        ++refusing_;
        refused_.fetch_add(1, std::memory_order_relaxed);
      } else {
        ++open_;
        accepted_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  if (ec) {
    // E.g. EMFILE: the pending connection stays in the backlog; try again shortly rather than
    // spinning on the same error.
    PX_LOG_WARN(options_.logger, "accept on port {}: {}", port(), errorText(ec));
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait(
        [self = shared_from_this()](const boost::system::error_code&) { self->doAccept(); });
    return;
  }
  if (connection) connection->start();
  doAccept();
}

void ServerCore::onConnectionGone(Connection* connection, bool refused) {
  std::lock_guard<std::mutex> lock(mu_);
  connections_.erase(connection);
  if (refused) {
    --refusing_;
  } else {
    --open_;
  }
  maybeFinishStopLocked();
}

void ServerCore::stop(std::function<void()> done) {
  std::vector<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done) stop_callbacks_.push_back(std::move(done));
    if (stopping_) {
      maybeFinishStopLocked();  // already stopped: call the new callback
      return;
    }
    stopping_ = true;
    for (auto& [ptr, weak] : connections_) {
      if (auto c = weak.lock()) connections.push_back(std::move(c));
    }
    if (!started_) {
      maybeFinishStopLocked();
      return;
    }
  }
  PX_LOG_INFO(options_.logger, "stopping the server on port {}: {} connection(s) open", port(),
              connections.size());
  boost::asio::post(accept_strand_, [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);  // the pending accept completes with operation_aborted
    self->retry_timer_.cancel();
    {
      // Everything may have ended already (then the timer's cancel was posted before this).
      std::lock_guard<std::mutex> lock(self->mu_);
      if (self->stopped_) return;
    }
    self->stop_timer_.expires_after(self->options_.stop_timeout);
    self->stop_timer_.async_wait(
        [self](const boost::system::error_code& ec) { self->onStopTimer(ec); });
  });
  for (auto& c : connections) c->onServerStop();
}

void ServerCore::onStopTimer(const boost::system::error_code& ec) {
  if (ec) return;  // cancelled: everything ended in time
  std::vector<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    for (auto& [ptr, weak] : connections_) {
      if (auto c = weak.lock()) connections.push_back(std::move(c));
    }
  }
  if (!connections.empty()) {
    PX_LOG_WARN(options_.logger,
                "server on port {}: {} connection(s) still busy after {} ms; closing them", port(),
                connections.size(), options_.stop_timeout.count());
  }
  for (auto& c : connections) c->forceClose();
}

void ServerCore::maybeFinishStopLocked() {
  if (!stopping_ || accepting_ || !connections_.empty()) return;
  if (!stopped_) {
    stopped_ = true;
    boost::asio::post(accept_strand_, [self = shared_from_this()] { self->stop_timer_.cancel(); });
    if (started_) PX_LOG_INFO(options_.logger, "server on port {} stopped", port());
  }
  for (auto& cb : stop_callbacks_) boost::asio::post(io_, std::move(cb));
  stop_callbacks_.clear();
}

ServerStats ServerCore::stats() const {
  ServerStats s;
  s.accepted = accepted_.load(std::memory_order_relaxed);
  s.refused = refused_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.requests = requests_.load(std::memory_order_relaxed);
  s.busy = busy_.load(std::memory_order_relaxed);
  s.handlers = handlers_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  s.open_connections = open_;
  s.refusals_in_flight = refusing_;
  return s;
}

}  // namespace detail

// --- Server --------------------------------------------------------------------------------------

Server::Server(boost::asio::io_context& io, ServerOptions options)
    : core_(std::make_shared<detail::ServerCore>(io, std::move(options))) {}

Server::~Server() { core_->stop(nullptr); }

Status Server::addRoute(std::string_view method, std::string_view pattern, RouteOptions options,
                        Handler handler) {
  return core_->addRoute(method, pattern, std::move(options), std::move(handler));
}

Status Server::start() { return core_->start(); }
std::uint16_t Server::port() const { return core_->port(); }
void Server::stop(std::function<void()> done) { core_->stop(std::move(done)); }
ServerStats Server::stats() const { return core_->stats(); }

}  // namespace pkgxfer::http
