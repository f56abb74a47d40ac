#include "pkgxfer/http/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <stop_token>
#include <system_error>
#include <thread>
#include <utility>

#include "pkgxfer/common/os_error.h"
#include "resolver.h"
#include "stream.h"
#include "text.h"
#include "tls.h"

namespace pkgxfer::http {
namespace detail {
namespace {

namespace http = beast::http;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
constexpr std::size_t kMaxMessageTarget = 200;
// What the read buffer holds beyond max_response_header_bytes: the first read past a head, or a
// chunk header or trailer (which Beast 1.74 buffers whole, without a limit of its own).
constexpr std::size_t kReadSlackBytes = 16 * 1024;
// Informational (1xx) responses a call reads before its final response; more is a server that
// would keep the call busy forever.
constexpr int kMaxInformational = 8;
// ClientOptions ranges (client.h).
constexpr std::size_t kMaxBlockBytes = 64u << 20;
constexpr std::size_t kMinResponseHeaderBytes = 1024;
constexpr std::size_t kMaxResponseHeaderBytes = 16u << 20;

struct BaseUrl {
  bool tls = false;
  std::string host;  // without brackets
  std::uint16_t port = 0;
  std::string host_header;  // "host:port" (brackets for IPv6; port omitted when default)
  std::string text;         // "http://host:port", for messages
};

Result<BaseUrl> parseBaseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("http client: bad base URL '" + clip(url, 200) +
                                   "': " + std::string(why));
  };
  BaseUrl out;
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    out.tls = true;
    rest = url.substr(8);
  } else {
    return bad("it must start with http:// or https://");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return bad("only http(s)://host[:port] is allowed");
  }
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after ']'");
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (host.empty()) return bad("no host");
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return bad("control character or space in the host");
  }
  out.host = std::string(host);
  out.port = out.tls ? 443 : 80;
  if (!port.empty()) {
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) return bad("bad port");
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return bad("bad port");
    out.port = static_cast<std::uint16_t>(value);
  }
  const bool default_port = out.port == (out.tls ? 443 : 80);
  const bool v6 = out.host.find(':') != std::string::npos;
  out.host_header = v6 ? "[" + out.host + "]" : out.host;
  if (!default_port) out.host_header += ":" + std::to_string(out.port);
  out.text = std::string(out.tls ? "https://" : "http://") + hostPort(out.host, out.port);
  return out;
}

bool isIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

bool methodSendsLength(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

bool isClientOwnedHeader(std::string_view name) {
  for (std::string_view owned : {"host", "content-length", "transfer-encoding", "connection",
                                 "expect", "keep-alive", "te", "upgrade"}) {
    if (iequals(name, owned)) return true;
  }
  return false;
}

}  // namespace

// One pooled connection: its own io_context, run by the calling thread while a call uses it, so
// the synchronous API needs no thread of its own and a connection is only ever touched by the one
// thread that holds it. (The price: four file descriptors per connection, see client.h.)
struct ClientConnection {
  // Throws what Asio and OpenSSL throw: boost::system::system_error (EMFILE...), std::bad_alloc.
  ClientConnection(TlsContext* tls, std::size_t buffer_limit)
      : ioc(1), stream(makeStream(ioc, tls)) {
    buffer.max_size(buffer_limit);
  }

  static ClientStream makeStream(net::io_context& ioc, TlsContext* tls) {
#if PKGXFER_WITH_TLS
    if (tls) return ClientStream(ioc.get_executor(), *tls);
#endif
    (void)tls;
    return ClientStream(ioc.get_executor());
  }

  net::io_context ioc;
  ClientStream stream;
  beast::flat_buffer buffer;
  std::vector<char> block;  // reused body buffer
  Clock::time_point idle_since;
  // Closes the socket: pending operations complete with an error.
  void abort() {
    error_code ec;
    stream.lowest().socket().close(ec);
  }
};

class ClientImpl {
 public:
  ClientImpl(ClientOptions options, BaseUrl url, std::unique_ptr<TlsContext> tls)
      : options_(std::move(options)), url_(std::move(url)), tls_(std::move(tls)) {}

  const ClientOptions& options() const { return options_; }
  const BaseUrl& url() const { return url_; }
  TlsContext* tls() { return tls_.get(); }

  // A pooled connection still usable, or null. Closes every pooled connection found unusable.
  std::unique_ptr<ClientConnection> takeIdle();
  // Pools `c` (and closes the pooled connections found unusable meanwhile).
  void giveBack(std::unique_ptr<ClientConnection> c);
  std::size_t idleCount();

  std::atomic<std::uint64_t> opened{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> reused{0};

 private:
  bool alive(ClientConnection& c) const;
  // REQUIRES: mu_ held. Moves every pooled connection that is no longer usable (aged past
  // max_idle_time, closed or reset by the server, holding unasked-for bytes) into `stale`.
  void sweepLocked(std::vector<std::unique_ptr<ClientConnection>>* stale);

  const ClientOptions options_;
  const BaseUrl url_;
  std::unique_ptr<TlsContext> tls_;
  std::mutex mu_;
  std::vector<std::unique_ptr<ClientConnection>> idle_;  // guarded by mu_; most recent last
};

bool ClientImpl::alive(ClientConnection& c) const {
  if (c.buffer.size() > 0) return false;  // bytes nobody asked for
  if (Clock::now() - c.idle_since > options_.max_idle_time) return false;
  // A peek that would block means nothing arrived: no FIN, no reset, no stray bytes.
  auto& socket = c.stream.lowest().socket();
  error_code ec;
  socket.non_blocking(true, ec);
  if (ec) return false;
  char byte;
  socket.receive(net::buffer(&byte, 1), tcp::socket::message_peek, ec);
  error_code ignored;
  socket.non_blocking(false, ignored);
  return ec == net::error::would_block || ec == net::error::try_again;
}

void ClientImpl::sweepLocked(std::vector<std::unique_ptr<ClientConnection>>* stale) {
  // All of them, not only the most recent: a connection taken from the back leaves older ones
  // behind, which would otherwise keep their sockets until the pool overflowed.
  auto keep = idle_.begin();
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    if (alive(**it)) {
      if (keep != it) *keep = std::move(*it);
      ++keep;
    } else {
      stale->push_back(std::move(*it));
    }
  }
  idle_.erase(keep, idle_.end());
}

std::unique_ptr<ClientConnection> ClientImpl::takeIdle() {
  std::vector<std::unique_ptr<ClientConnection>> stale;  // closed outside the lock
  std::unique_ptr<ClientConnection> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sweepLocked(&stale);
    if (!idle_.empty()) {
      found = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  return found;
}

void ClientImpl::giveBack(std::unique_ptr<ClientConnection> c) {
  if (options_.max_idle_connections == 0) return;  // no pool: `c` closes here
  c->idle_since = Clock::now();
  std::vector<std::unique_ptr<ClientConnection>> stale;  // closed outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  sweepLocked(&stale);
  if (idle_.size() >= options_.max_idle_connections) {
    // Too many idle: drop the oldest (closed when `stale` goes).
    stale.push_back(std::move(idle_.front()));
    idle_.erase(idle_.begin());
  }
  idle_.push_back(std::move(c));
}

std::size_t ClientImpl::idleCount() {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_.size();
}

namespace {

// Where the body of a response goes.
using ChunkSink = std::function<Status(const char* data, std::size_t size)>;

// One attempt of one call, on one connection.
class Call {
 public:
  Call(ClientImpl& client, const CallContext& ctx, const ClientRequest& req)
      : client_(client),
        options_(client.options()),
        ctx_(ctx),
        req_(req),
        what_(req.method + " " + client.url().text + clip(req.target, kMaxMessageTarget)) {}

  ~Call() {
    stop_callback_.reset();  // after this, no stop request can touch the connection
    if (conn_ && reusable_ && !cancelled_.load()) {
      client_.giveBack(std::move(conn_));
    }
  }

  // Whether a failure of this attempt may be retried on a new connection (see client.h).
  bool retryable() const { return retryable_; }

  // Buffered request and response (request(), get(), sendJson()).
  Result<ClientResponse> runBuffered() {
    PKGXFER_RETURN_IF_ERROR(begin());
    std::string head = requestHead(req_.body.size(), /*expect=*/false);
    head += req_.body;  // one write for small requests
    if (auto ec = writeAll(head.data(), head.size())) return fail("send request", ec, true);
    return readResponse(nullptr);
  }

  // Streamed upload.
  Result<ClientResponse> runUpload(std::uint64_t length, const BodySource& source) {
    if (!req_.body.empty()) {
      return Status::InvalidArgument(what_ + ": upload() takes its body from the source");
    }
    PKGXFER_RETURN_IF_ERROR(begin());
    const bool expect =
        options_.expect_continue_min_bytes > 0 && length >= options_.expect_continue_min_bytes;
    std::string head = requestHead(length, expect);
    if (auto ec = writeAll(head.data(), head.size())) return fail("send request", ec, true);
    if (expect) {
      PKGXFER_ASSIGN_OR_RETURN(bool go_on, awaitContinue());
      if (!go_on) return finishEarly();  // a final response instead of 100 Continue
    }
    std::vector<char>& block = blockBuffer(static_cast<std::size_t>(
        std::min<std::uint64_t>(options_.block_bytes, std::max<std::uint64_t>(length, 1))));
    std::uint64_t sent = 0;
    while (sent < length) {
      PKGXFER_RETURN_IF_ERROR(checkContext());
      const auto want =
          static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), length - sent));
      source_called_ = true;
      Result<std::size_t> got = source(block.data(), want);
      if (!got.ok()) return got.status();
      if (*got == 0 || *got > want) {
        return Status::InvalidArgument(what_ + ": the body source gave " + std::to_string(*got) +
                                       " bytes when asked for up to " + std::to_string(want) +
                                       ", at " + std::to_string(sent) + " of " +
                                       std::to_string(length));
      }
      PKGXFER_RETURN_IF_ERROR(checkContext());
      if (auto ec = writeAll(block.data(), *got)) {
        // The server may have answered and closed (e.g. 413): its response is worth more than
        // the write error.
        if (!cancelled_ && isDisconnect(ec)) {
          auto early = finishEarly();
          if (early.ok()) return early;
        }
        return fail("send request body", ec, false);
      }
      sent += *got;
    }
    return readResponse(nullptr);
  }

  // Streamed download.
  Result<ClientResponse> runDownload(const DownloadSink& sink) {
    PKGXFER_RETURN_IF_ERROR(begin());
    std::string head = requestHead(req_.body.size(), /*expect=*/false);
    head += req_.body;
    if (auto ec = writeAll(head.data(), head.size())) return fail("send request", ec, true);
    return readResponse(&sink);
  }

 private:
  // Checks the request, takes or makes a connection, arms the stop callback.
  Status begin() {
    PKGXFER_RETURN_IF_ERROR(checkRequest());
    PKGXFER_RETURN_IF_ERROR(checkContext());
    conn_ = client_.takeIdle();
    reused_ = conn_ != nullptr;
    if (!conn_) PKGXFER_RETURN_IF_ERROR(newConnection());
    stop_callback_.emplace(ctx_.stop, [this] {
      cancelled_.store(true);
      // Runs on the stopping thread: hand the close to the thread running the io_context.
      ClientConnection* c = conn_.get();
      net::post(c->ioc, [c] { c->abort(); });
    });
    if (cancelled_) return Status::Cancelled(what_ + ": stopped");
    client_.requests.fetch_add(1, std::memory_order_relaxed);
    if (reused_) {
      client_.reused.fetch_add(1, std::memory_order_relaxed);
      return Status::Ok();
    }
    return connect();
  }

  // Makes conn_. Its io_context (epoll, eventfd, timerfd) and TLS stream are made by throwing
  // constructors; EMFILE there is a call that cannot get a connection now, like a refused one.
  Status newConnection() {
    const std::size_t limit = options_.max_response_header_bytes + kReadSlackBytes;
    try {
      conn_ = std::make_unique<ClientConnection>(client_.tls(), limit);
      return Status::Ok();
    } catch (const boost::system::system_error& e) {
      return Status::Unavailable(what_ + ": open a connection: " + errorText(e.code()));
    } catch (const std::system_error& e) {
      const auto& category = e.code().category();
      const std::string text = category == std::generic_category() ? errnoText(e.code().value())
                               : category == std::system_category()
                                   ? systemErrorText(e.code().value())
                                   : std::string(e.what());
      return Status::Unavailable(what_ + ": open a connection: " + text);
    } catch (const std::exception& e) {
      return Status::Unavailable(what_ + ": open a connection: " + e.what());
    }
  }

  Status checkRequest() const {
    const std::string& t = req_.target;
    if (t.empty() || t.front() != '/') {
      return Status::InvalidArgument(what_ + ": the target must start with '/'");
    }
    for (char c : t) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7F) {
        return Status::InvalidArgument(what_ + ": control character or space in the target");
      }
    }
    if (!isValidHeaderName(req_.method)) {
      return Status::InvalidArgument(what_ + ": bad method");
    }
    for (const Header& h : req_.headers) {
      if (!isValidHeaderName(h.name) || !isValidHeaderValue(h.value)) {
        return Status::InvalidArgument(what_ + ": bad header '" + clip(h.name, 64) + "'");
      }
      if (isClientOwnedHeader(h.name) ||
          (iequals(h.name, "authorization") && !options_.bearer_token.empty())) {
        return Status::InvalidArgument(what_ + ": header " + h.name + " is set by the client");
      }
    }
    if (!isValidHeaderValue(req_.content_type)) {
      return Status::InvalidArgument(what_ + ": bad content type");
    }
    return Status::Ok();
  }

  Status checkContext() const {
    if (cancelled_ || ctx_.stopRequested()) return Status::Cancelled(what_ + ": stopped");
    if (ctx_.expired()) return Status::Unavailable(what_ + ": timed out (the call's deadline)");
    return Status::Ok();
  }

  // Sets the socket's expiry for the next operation: `timeout`, or what is left of the call's
  // deadline if that comes first.
  void expire(std::chrono::milliseconds timeout) {
    timeout_ = timeout;
    const auto left = ctx_.remaining();
    if (left < timeout) {
      deadline_bound_ = true;
      conn_->stream.lowest().expires_after(left);
    } else {
      deadline_bound_ = false;
      conn_->stream.lowest().expires_after(timeout);
    }
  }

  // Runs the connection's io_context until the operation started by `initiate` completes.
  template <typename Initiate>
  std::pair<error_code, std::size_t> runOp(Initiate&& initiate) {
    bool done = false;
    error_code result;
    std::size_t bytes = 0;
    initiate([&](const error_code& ec, std::size_t n) {
      result = ec;
      bytes = n;
      done = true;
    });
    net::io_context& ioc = conn_->ioc;
    ioc.restart();
    while (!done) {
      if (ioc.run_one() == 0) {
        result = net::error::operation_aborted;  // nothing left to run: cannot complete
        break;
      }
    }
    if (cancelled_ && !result) {
      // The stop arrived as the operation completed: still stopped.
      result = net::error::operation_aborted;
    }
    return {result, bytes};
  }

  // The server's addresses. An IP literal needs no lookup; a name is looked up on the module's
  // lookup threads (resolver.h), waited for until this call's deadline, connect_timeout or a stop
  // request.
  Result<std::vector<tcp::endpoint>> resolve() {
    const BaseUrl& url = client_.url();
    error_code ec;
    const auto address = net::ip::make_address(url.host, ec);
    if (!ec) return std::vector<tcp::endpoint>{tcp::endpoint(address, url.port)};
    const auto left = ctx_.remaining();
    const auto until =
        Clock::now() +
        (left < options_.connect_timeout ? left : Clock::duration(options_.connect_timeout));
    auto endpoints = Resolver::instance().start(url.host, url.port)->wait(until, ctx_.stop);
    if (!endpoints.ok()) return endpoints.status().withContext(what_);
    return endpoints;
  }

  Status connect() {
    const BaseUrl& url = client_.url();
    const std::string where = hostPort(url.host, url.port);
    PKGXFER_ASSIGN_OR_RETURN(std::vector<tcp::endpoint> endpoints, resolve());
    PKGXFER_RETURN_IF_ERROR(checkContext());
    expire(options_.connect_timeout);
    auto [ec, n] = runOp([&](auto handler) {
      conn_->stream.lowest().async_connect(
          endpoints, [handler = std::move(handler)](const error_code& e, const tcp::endpoint&) {
            handler(e, 0);
          });
    });
    (void)n;
    if (ec) return fail("connect to " + where, ec, false).status();
    error_code ignored;
    conn_->stream.lowest().socket().set_option(tcp::no_delay(true), ignored);
#if PKGXFER_WITH_TLS
    if (conn_->stream.isTls()) {
      SSL* ssl = conn_->stream.tls().native_handle();
      PKGXFER_RETURN_IF_ERROR(prepareClientTls(ssl, url.host));
      expire(options_.connect_timeout);
      auto [hec, hn] = runOp([&](auto handler) {
        conn_->stream.tls().async_handshake(
            net::ssl::stream_base::client,
            [handler = std::move(handler)](const error_code& e) { handler(e, 0); });
      });
      (void)hn;
      if (hec) {
        if (cancelled_) return Status::Cancelled(what_ + ": stopped");
        if (hec == beast::error::timeout) {
          return Status::Unavailable(what_ + ": TLS handshake with " + where + ": timed out");
        }
        return Status::Unavailable(what_ + ": TLS handshake with " + where + ": " +
                                   tlsErrorText(hec, ssl));
      }
    }
#endif
    client_.opened.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  std::string requestHead(std::uint64_t length, bool expect) const {
    std::string h;
    h.reserve(256);
    h += req_.method;
    h += ' ';
    h += req_.target;
    h += " HTTP/1.1\r\nHost: ";
    h += client_.url().host_header;
    h += "\r\nUser-Agent: pkgxfer/" PKGXFER_VERSION "\r\n";
    if (!options_.bearer_token.empty()) {
      h += "Authorization: Bearer ";
      h += options_.bearer_token;
      h += "\r\n";
    }
    if (!req_.content_type.empty()) {
      h += "Content-Type: ";
      h += req_.content_type;
      h += "\r\n";
    }
    if (length > 0 || methodSendsLength(req_.method)) {
      h += "Content-Length: ";
      h += std::to_string(length);
      h += "\r\n";
    }
    if (expect) h += "Expect: 100-continue\r\n";
    for (const Header& x : req_.headers) {
      h += x.name;
      h += ": ";
      h += x.value;
      h += "\r\n";
    }
    h += "\r\n";
    return h;
  }

  std::vector<char>& blockBuffer(std::size_t size) {
    if (conn_->block.size() < size) conn_->block.resize(size);
    return conn_->block;
  }

  error_code writeAll(const char* data, std::size_t size) {
    while (size > 0) {
      if (cancelled_) return net::error::operation_aborted;
      if (ctx_.remaining() <= Clock::duration::zero()) {
        deadline_bound_ = true;
        return beast::error::timeout;
      }
      expire(options_.io_timeout);
      auto [ec, n] = runOp([&](auto handler) {
        conn_->stream.async_write_some(net::buffer(data, size), std::move(handler));
      });
      data += n;
      size -= n;
      if (ec) return ec;
    }
    return {};
  }

  // Reads one response head (skipping 1xx other than an awaited 100) into parser_.
  Status readHead(bool want_continue, bool* got_continue) {
    for (int informational = 0;; ++informational) {
      if (informational > kMaxInformational) {
        return Status::Unavailable(what_ + ": more than " + std::to_string(kMaxInformational) +
                                   " informational (1xx) responses");
      }
      parser_.emplace();
      parser_->header_limit(static_cast<std::uint32_t>(options_.max_response_header_bytes));
      // The caller's limits apply as the body is read. (Not boost::none: Beast 1.74 takes it for
      // "exceeded".)
      parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (req_.method == "HEAD") parser_->skip(true);
      PKGXFER_RETURN_IF_ERROR(checkContext());
      // A server may take long before it answers (an fsync of 1 GiB): the request says how long.
      expire(req_.response_timeout.count() > 0 ? req_.response_timeout : options_.io_timeout);
      auto [ec, n] = runOp([&](auto handler) {
        http::async_read_header(conn_->stream, conn_->buffer, *parser_, std::move(handler));
      });
      if (n > 0 || parser_->got_some()) got_response_bytes_ = true;
      if (ec) {
        if (!got_response_bytes_ && reused_ && !source_called_ && isDisconnect(ec) && !cancelled_ &&
            isIdempotent(req_.method)) {
          retryable_ = true;
        }
        return fail("read response", ec, false).status();
      }
      const unsigned status = parser_->get().result_int();
      if (status / 100 == 1 && status != 101) {
        if (status == 100 && want_continue) {
          *got_continue = true;
          return Status::Ok();
        }
        continue;  // informational: the real response follows
      }
      if (status == 101) {
        return Status::Unavailable(what_ + ": the server switched protocols (101)");
      }
      return Status::Ok();
    }
  }

  // Waits up to expect_continue_timeout for the server to say something after a request head
  // with "Expect: 100-continue". Returns true to send the body (100 Continue, or silence), false
  // if a final response came (in parser_).
  Result<bool> awaitContinue() {
    PKGXFER_RETURN_IF_ERROR(checkContext());
    net::steady_timer timer(conn_->ioc);
    const auto left = ctx_.remaining();
    timer.expires_after(left < options_.expect_continue_timeout ? left
                                                                : options_.expect_continue_timeout);
    bool readable = false;
    int outstanding = 2;
    auto& socket = conn_->stream.lowest().socket();
    socket.async_wait(tcp::socket::wait_read, [&](const error_code& ec) {
      readable = !ec;
      timer.cancel();
      --outstanding;
    });
    timer.async_wait([&](const error_code& ec) {
      if (!ec) socket.cancel();
      --outstanding;
    });
    net::io_context& ioc = conn_->ioc;
    ioc.restart();
    while (outstanding > 0 && ioc.run_one() > 0) {
    }
    PKGXFER_RETURN_IF_ERROR(checkContext());
    if (!readable) return true;  // silence: send the body anyway (RFC 9110 §10.1.1)
    bool got_continue = false;
    PKGXFER_RETURN_IF_ERROR(readHead(/*want_continue=*/true, &got_continue));
    return got_continue;
  }

  // The server answered before the body was complete: read that response; the connection is not
  // reused (its request was cut short).
  Result<ClientResponse> finishEarly() {
    // A head already read may be the "100 Continue" that let the body go: the final response is
    // the next one.
    if (!parser_ || !parser_->is_header_done() || parser_->get().result_int() / 100 == 1) {
      bool ignored = false;
      PKGXFER_RETURN_IF_ERROR(readHead(false, &ignored));
    }
    auto r = readBodyAfterHead(nullptr);
    reusable_ = false;
    return r;
  }

  Result<ClientResponse> readResponse(const DownloadSink* sink) {
    bool ignored = false;
    PKGXFER_RETURN_IF_ERROR(readHead(false, &ignored));
    return readBodyAfterHead(sink);
  }

  ClientResponse headOf() const {
    ClientResponse r;
    const auto& msg = parser_->get();
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) {
      r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    }
    r.request = what_;
    return r;
  }

  Result<ClientResponse> readBodyAfterHead(const DownloadSink* sink) {
    ClientResponse response = headOf();
    if (sink != nullptr && response.ok()) {
      if (sink->on_head) PKGXFER_RETURN_IF_ERROR(sink->on_head(response));
      PKGXFER_RETURN_IF_ERROR(readBody(sink->on_data, kNoLimit));
    } else if (sink != nullptr) {
      // An error response to a streamed call: its start is what the caller needs (the JSON error);
      // more is not read, and the connection is then dropped.
      PKGXFER_RETURN_IF_ERROR(readBody(appendTo(response.body), kMaxErrorBodyBytes));
    } else {
      const std::uint64_t limit = options_.max_buffered_body_bytes;
      if (auto length = parser_->content_length(); length && *length > limit) {
        return Status::InvalidArgument(what_ + ": response body of " + std::to_string(*length) +
                                       " bytes over the limit of " + std::to_string(limit));
      }
      PKGXFER_RETURN_IF_ERROR(readBody(appendTo(response.body), limit));
      if (truncated_) {
        return Status::InvalidArgument(what_ + ": response body over the limit of " +
                                       std::to_string(limit) + " bytes");
      }
    }
    reusable_ =
        !truncated_ && reusable_body_ && parser_->get().keep_alive() && conn_->buffer.size() == 0;
    return response;
  }

  static ChunkSink appendTo(std::string& out) {
    return [&out](const char* data, std::size_t size) {
      out.append(data, size);
      return Status::Ok();
    };
  }

  static constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

  // Streams the body of the response whose head is in parser_ into `sink`, at most `max` bytes of
  // it: a longer body sets truncated_ and is not read further.
  Status readBody(const ChunkSink& sink, std::uint64_t max) {
    if (parser_->is_done()) return Status::Ok();  // no body (HEAD, 204, 304, length 0)
    // No larger than the body, when its length is known: a pooled connection keeps its buffer, and
    // a site holding a connection to each of thousands of pull DPs must not keep a full block per
    // connection for answers of a few hundred bytes (issue 15's scale run: 1 MiB each).
    const boost::optional<std::uint64_t> declared = parser_->content_length();
    std::vector<char>& block =
        blockBuffer(declared ? static_cast<std::size_t>(std::min<std::uint64_t>(
                                   options_.block_bytes, std::max<std::uint64_t>(*declared, 1)))
                             : options_.block_bytes);
    std::uint64_t taken = 0;
    // Hands `size` bytes to the sink, within `max`; false once past it.
    auto deliver = [&](const char* data, std::size_t size, Status* st) {
      const std::uint64_t room = max - taken;
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(size, room));
      if (k > 0) *st = sink(data, k);
      taken += k;
      if (k < size) truncated_ = true;
      return st->ok() && !truncated_;
    };
    Status st;
    if (parser_->chunked()) {
      while (!parser_->is_done()) {
        PKGXFER_RETURN_IF_ERROR(checkContext());
        auto& body = parser_->get().body();
        body.data = block.data();
        body.size = block.size();
        expire(options_.io_timeout);
        auto [ec, n] = runOp([&](auto handler) {
          http::async_read_some(conn_->stream, conn_->buffer, *parser_, std::move(handler));
        });
        (void)n;
        const std::size_t got = block.size() - parser_->get().body().size;
        if (ec == http::error::buffer_overflow) {
          return Status::Unavailable(what_ + ": read response body: a chunk header or trailer " +
                                     "that does not end within " +
                                     std::to_string(conn_->buffer.max_size()) + " bytes");
        }
        if (ec && ec != http::error::need_buffer) {
          return fail("read response body", ec, false).status();
        }
        if (got > 0 && !deliver(block.data(), got, &st)) return st;
      }
      return Status::Ok();
    }
    const boost::optional<std::uint64_t>& length = declared;
    std::uint64_t left = length.value_or(kNoLimit);
    // Bytes that came with the head first, then straight from the socket.
    if (conn_->buffer.size() > 0 && left > 0) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(conn_->buffer.size(), left));
      const bool more = deliver(static_cast<const char*>(conn_->buffer.data().data()), k, &st);
      conn_->buffer.consume(k);
      left -= k;
      if (!more) return st;
    }
    while (left > 0) {
      PKGXFER_RETURN_IF_ERROR(checkContext());
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), left));
      expire(options_.io_timeout);
      auto [ec, n] = runOp([&](auto handler) {
        conn_->stream.async_read_some(net::buffer(block.data(), want), std::move(handler));
      });
      if (n > 0) {
        left -= n;
        if (!deliver(block.data(), n, &st)) return st;
      }
      if (ec) {
        if (!length && (ec == net::error::eof || isTlsTruncation(ec))) {
          reusable_body_ = false;
          return Status::Ok();  // a body delimited by the end of the connection
        }
        if (length && ec == net::error::eof) {
          return Status::Unavailable(what_ + ": the connection closed after " +
                                     std::to_string(*length - left) + " of " +
                                     std::to_string(*length) + " body bytes");
        }
        return fail("read response body", ec, false).status();
      }
    }
    if (!length) reusable_body_ = false;
    return Status::Ok();
  }

  // The Status for a failed step. `before_response` marks failures while sending, for the retry
  // decision (a reused connection the server had closed).
  Result<ClientResponse> fail(std::string_view step, const error_code& ec, bool before_response) {
    if (before_response && reused_ && !source_called_ && isDisconnect(ec) && !cancelled_ &&
        isIdempotent(req_.method)) {
      retryable_ = true;
    }
    if (cancelled_ || ctx_.stopRequested()) return Status::Cancelled(what_ + ": stopped");
    if (ec == beast::error::timeout) {
      return Status::Unavailable(
          what_ + ": " + std::string(step) + ": timed out (" +
          (deadline_bound_ ? std::string("the call's deadline passed")
                           : "no progress for " + std::to_string(timeout_.count()) + " ms") +
          ")");
    }
    return Status::Unavailable(what_ + ": " + std::string(step) + ": " + errorText(ec));
  }

  ClientImpl& client_;
  const ClientOptions& options_;
  const CallContext& ctx_;
  const ClientRequest& req_;
  const std::string what_;
  std::unique_ptr<ClientConnection> conn_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::atomic<bool> cancelled_{false};
  std::optional<std::stop_callback<std::function<void()>>> stop_callback_;
  bool reused_ = false;
  bool reusable_ = false;
  bool reusable_body_ = true;  // false for a body that ended with the connection
  bool truncated_ = false;     // the body was longer than what was read of it
  bool retryable_ = false;
  bool source_called_ = false;
  bool got_response_bytes_ = false;
  bool deadline_bound_ = false;
  std::chrono::milliseconds timeout_{0};  // of the last expire(), for messages
};

// Runs `attempt` once more if it failed in a retryable way (see client.h). Nothing thrown gets
// out of the module: an exception from below (Asio, OpenSSL, an allocation, a throwing sink or
// source) becomes a Status naming the request.
template <typename Attempt>
Result<ClientResponse> withRetry(const ClientRequest& req, const std::string& base,
                                 Attempt&& attempt) {
  try {
    for (int i = 0;; ++i) {
      bool retryable = false;
      Result<ClientResponse> r = attempt(&retryable);
      if (r.ok() || !retryable || i >= 1) return r;
    }
  } catch (const boost::system::system_error& e) {
    return Status::Unavailable(req.method + " " + base + clip(req.target, kMaxMessageTarget) +
                               ": " + errorText(e.code()));
  } catch (const std::exception& e) {
    return Status::Internal(req.method + " " + base + clip(req.target, kMaxMessageTarget) + ": " +
                            e.what());
  } catch (...) {
    return Status::Internal(req.method + " " + base + clip(req.target, kMaxMessageTarget) +
                            ": unknown exception");
  }
}

}  // namespace
}  // namespace detail

// --- Client --------------------------------------------------------------------------------------

std::string_view ClientResponse::header(std::string_view name) const {
  const std::string* v = findHeader(headers, name);
  return v ? std::string_view(*v) : std::string_view();
}

Result<std::unique_ptr<Client>> Client::create(ClientOptions options) {
  PKGXFER_ASSIGN_OR_RETURN(detail::BaseUrl url, detail::parseBaseUrl(options.base_url));
  if (options.connect_timeout.count() <= 0 || options.io_timeout.count() <= 0 ||
      options.expect_continue_timeout.count() < 0) {
    return Status::InvalidArgument("http client " + url.text + ": timeouts must be positive");
  }
  const std::string where = "http client " + url.text + ": ";
  if (options.max_idle_time.count() < 0) {
    return Status::InvalidArgument(where + "max_idle_time must not be negative");
  }
  if (options.block_bytes == 0 || options.block_bytes > detail::kMaxBlockBytes) {
    return Status::InvalidArgument(where + "block_bytes must be 1 B..64 MiB, not " +
                                   std::to_string(options.block_bytes));
  }
  if (options.max_response_header_bytes < detail::kMinResponseHeaderBytes ||
      options.max_response_header_bytes > detail::kMaxResponseHeaderBytes) {
    return Status::InvalidArgument(where + "max_response_header_bytes must be 1 KiB..16 MiB, not " +
                                   std::to_string(options.max_response_header_bytes));
  }
  if (!isValidHeaderValue(options.bearer_token)) {
    return Status::InvalidArgument("http client " + url.text +
                                   ": the bearer token holds a control character");
  }
  std::unique_ptr<detail::TlsContext> tls;
  if (url.tls) {
    PKGXFER_ASSIGN_OR_RETURN(tls, detail::makeClientTlsContext(options.ca_file));
  }
  auto impl =
      std::make_unique<detail::ClientImpl>(std::move(options), std::move(url), std::move(tls));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<detail::ClientImpl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<ClientResponse> Client::request(const CallContext& ctx, const ClientRequest& request) {
  return detail::withRetry(request, impl_->url().text, [&](bool* retryable) {
    detail::Call call(*impl_, ctx, request);
    auto r = call.runBuffered();
    *retryable = call.retryable();
    return r;
  });
}

Result<ClientResponse> Client::get(const CallContext& ctx, std::string target, Headers headers) {
  ClientRequest req;
  req.method = "GET";
  req.target = std::move(target);
  req.headers = std::move(headers);
  return request(ctx, req);
}

Result<ClientResponse> Client::sendJson(const CallContext& ctx, std::string method,
                                        std::string target, const nlohmann::json& body) {
  ClientRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.content_type = "application/json";
  req.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return request(ctx, req);
}

Result<ClientResponse> Client::upload(const CallContext& ctx, const ClientRequest& head,
                                      std::uint64_t length, const BodySource& source) {
  return detail::withRetry(head, impl_->url().text, [&](bool* retryable) {
    detail::Call call(*impl_, ctx, head);
    auto r = call.runUpload(length, source);
    *retryable = call.retryable();
    return r;
  });
}

Result<ClientResponse> Client::download(const CallContext& ctx, const ClientRequest& request,
                                        const DownloadSink& sink) {
  return detail::withRetry(request, impl_->url().text, [&](bool* retryable) {
    detail::Call call(*impl_, ctx, request);
    auto r = call.runDownload(sink);
    *retryable = call.retryable();
    return r;
  });
}

const std::string& Client::baseUrl() const { return impl_->url().text; }

ClientStats Client::stats() const {
  ClientStats s;
  s.connections_opened = impl_->opened.load(std::memory_order_relaxed);
  s.requests = impl_->requests.load(std::memory_order_relaxed);
  s.reused = impl_->reused.load(std::memory_order_relaxed);
  s.idle = impl_->idleCount();
  return s;
}

Status responseStatus(const ClientResponse& response) {
  if (response.ok()) return Status::Ok();
  std::string text;
  try {
    auto json = nlohmann::json::parse(response.body);
    if (json.is_object() && json.contains("error") && json["error"].is_string()) {
      text = json["error"].get<std::string>();
    }
  } catch (const nlohmann::json::exception&) {
  }
  if (text.empty()) {
    for (char c : std::string_view(response.body).substr(0, 200)) {
      const auto u = static_cast<unsigned char>(c);
      text.push_back(u < 0x20 || u == 0x7F ? ' ' : c);
    }
  }
  const int s = response.status;
  std::string msg =
      response.request + ": HTTP " + std::to_string(s) + " " + std::string(reasonPhrase(s));
  if (!text.empty()) msg += ": " + text;
  if (s == 401 || s == 403) return Status::PermissionDenied(std::move(msg));
  if (s == 404 || s == 410) return Status::NotFound(std::move(msg));
  if (s == 409) return Status::AlreadyExists(std::move(msg));
  if (s == 408 || s == 429 || (s >= 500 && s != 501 && s != 505)) {
    return Status::Unavailable(std::move(msg));
  }
  return Status::InvalidArgument(std::move(msg));
}

}  // namespace pkgxfer::http
