// The client: pooling, deadlines and stop, errors, streamed bodies, and responses of every
// framing.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/http_test_util.h"
#include "pkgxfer/http/client.h"
#include "pkgxfer/http/server.h"

namespace pkgxfer::http {
namespace {

using namespace std::chrono_literals;
using pkgxfer::testing::waitFor;
using testing::HttpTest;
using testing::Sha256;
using Clock = std::chrono::steady_clock;

// A TCP server that accepts connections, reads each request head and answers it with a fixed
// script: `response` (then closes if `close_after`), or nothing at all when `response` is empty.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::string response = {}, bool close_after = true)
      : response_(std::move(response)), close_after_(close_after) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  std::uint16_t port() const { return port_; }
  int heads() const { return heads_.load(); }

 private:
  void run() {
    struct Peer {
      int fd;
      std::string pending;
    };
    std::vector<Peer> peers;
    while (!stop_) {
      std::vector<pollfd> polls{{listen_fd_, POLLIN, 0}};
      for (const Peer& p : peers) polls.push_back({p.fd, POLLIN, 0});
      if (::poll(polls.data(), polls.size(), 20) <= 0) continue;
      if (polls[0].revents & POLLIN) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) peers.push_back({fd, {}});
      }
      std::vector<int> gone;  // closed by the client: dropped, or poll would report them forever
      for (std::size_t i = 1; i < polls.size(); ++i) {
        if (!(polls[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        const ssize_t n = ::recv(polls[i].fd, buf, sizeof buf, 0);
        if (n <= 0) {
          gone.push_back(polls[i].fd);
          continue;
        }
        std::string& p = peers[i - 1].pending;
        p.append(buf, static_cast<std::size_t>(n));
        const std::size_t end = p.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        p.erase(0, end + 4);
        ++heads_;
        if (response_.empty()) continue;  // silent
        ::send(polls[i].fd, response_.data(), response_.size(), MSG_NOSIGNAL);
        if (close_after_) ::shutdown(polls[i].fd, SHUT_WR);
      }
      for (int fd : gone) {
        ::close(fd);
        std::erase_if(peers, [fd](const Peer& p) { return p.fd == fd; });
      }
    }
    for (const Peer& p : peers) ::close(p.fd);
  }

  const std::string response_;
  const bool close_after_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> heads_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A port nothing listens on, for as long as the object lives: a socket bound to it and never
// listening, so the OS cannot hand the port to anyone else meanwhile and a connect to it is refused
// (RST) rather than answered by whoever got the port next.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A TCP server that hands each accepted connection to `serve` on a thread of its own: blocking
// sockets and hand-written bytes, for servers that misbehave in a precise way. The destructor shuts
// every connection down (so a blocked serve() returns) and joins.
class ConnServer {
 public:
  using Serve = std::function<void(int fd)>;
  explicit ConnServer(Serve serve) : serve_(std::move(serve)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~ConnServer() {
    stop_ = true;
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
    ::close(listen_fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  void acceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      open_.push_back(fd);
      threads_.emplace_back([this, fd] {
        serve_(fd);
        std::lock_guard<std::mutex> lock(mu_);
        std::erase(open_, fd);
        ::close(fd);
      });
    }
  }

  Serve serve_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<int> open_;             // guarded by mu_
  std::vector<std::thread> threads_;  // guarded by mu_ until acceptor_ is joined
  std::thread acceptor_;
};

// Reads from `fd` up to the end of a request head; the head ("" at EOF or error), and in `rest`
// what came after it.
std::string readHeadFrom(int fd, std::string* rest = nullptr) {
  std::string data;
  char buf[4096];
  while (data.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {};
    data.append(buf, static_cast<std::size_t>(n));
  }
  const std::size_t end = data.find("\r\n\r\n") + 4;
  if (rest != nullptr) *rest = data.substr(end);
  return data.substr(0, end);
}

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

class ClientTest : public HttpTest {};

// Verifies that a refused connection is Unavailable with the OS text and where it went.
TEST_F(ClientTest, ConnectionRefusedIsUnavailable) {
  const ClosedPort closed;
  const std::uint16_t port = closed.port();
  auto client = makeClient(port);
  auto r = client->get(within(5s), "/v1/files/ab");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Unavailable);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("GET http://127.0.0.1:" + std::to_string(port) + "/v1/files/ab"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused"),
            std::string::npos)
      << m;
}

// Verifies that the call's deadline bounds a call to a server that accepts and never answers.
TEST_F(ClientTest, DeadlineBoundsACallToASilentServer) {
  ScriptedServer silent;
  auto client = makeClient(silent.port());
  const auto t0 = Clock::now();
  auto r = client->get(within(300ms), "/x");
  const auto elapsed = Clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Unavailable);
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().toString();
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 3s);
}

// Verifies that io_timeout alone (no deadline) cuts a server that stops answering.
TEST_F(ClientTest, IoTimeoutCutsASilentServer) {
  ScriptedServer silent;
  ClientOptions o;
  o.io_timeout = 300ms;
  auto client = makeClient(silent.port(), o);
  const auto t0 = Clock::now();
  auto r = client->get(CallContext{}, "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Unavailable);
  EXPECT_NE(r.status().message().find("no progress for 300 ms"), std::string::npos)
      << r.status().toString();
  EXPECT_LT(Clock::now() - t0, 3s);
}

// Verifies that a stop request aborts a hanging call at once with Cancelled.
TEST_F(ClientTest, StopTokenCancelsAHangingCallAtOnce) {
  ScriptedServer silent;
  auto client = makeClient(silent.port());
  std::stop_source stop;
  CallContext ctx;
  ctx.stop = stop.get_token();
  std::promise<Result<ClientResponse>> result;
  auto fut = result.get_future();
  std::jthread caller([&] { result.set_value(client->get(ctx, "/x")); });
  struct StopOnExit {
    std::stop_source& stop;
    ~StopOnExit() { stop.request_stop(); }  // an early return must not leave the call hanging
  } guard{stop};
  ASSERT_TRUE(waitFor([&] { return silent.heads() == 1; }));  // the call now waits for a response
  const auto t0 = Clock::now();
  stop.request_stop();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  const auto elapsed = Clock::now() - t0;
  caller.join();
  auto r = fut.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Cancelled) << r.status().toString();
  EXPECT_LT(elapsed, 1s);

  // A context already stopped does not even connect.
  auto again = client->get(ctx, "/x");
  EXPECT_EQ(again.status().code(), Status::Code::Cancelled);
  EXPECT_EQ(silent.heads(), 1);
}

// Verifies that an error response keeps the server's JSON error text in its Status.
TEST_F(ClientTest, ErrorResponsesBecomeStatusesWithTheServersText) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/v1/files/{sha256}", {}, [](Request&, Response& res) {
                   return res.sendError(404, "no such body");
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/plain", {}, [](Request&, Response& res) {
                   return res.send(409, "conflict\nhere", "text/plain");
                 }).ok());
  });
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/v1/files/ab");
  ASSERT_TRUE(r.ok());
  Status st = responseStatus(*r);
  EXPECT_EQ(st.code(), Status::Code::NotFound);
  EXPECT_EQ(st.message(), "GET http://127.0.0.1:" + std::to_string(s.port()) +
                              "/v1/files/ab: HTTP 404 Not Found: no such body");
  auto p = client->get(within(5s), "/plain");
  ASSERT_TRUE(p.ok());
  st = responseStatus(*p);
  EXPECT_EQ(st.code(), Status::Code::AlreadyExists);
  EXPECT_NE(st.message().find("HTTP 409 Conflict: conflict here"), std::string::npos)
      << st.toString();
  ClientResponse ok;
  ok.status = 206;
  EXPECT_TRUE(responseStatus(ok).ok());
}

// Verifies a 64 MiB streamed upload and download, block by block, SHA-256 checked on both sides.
TEST_F(ClientTest, StreamsA64MiBUploadAndDownload) {
  constexpr std::uint64_t kSize = 64ull << 20;
  // Written by handlers on the pool, read here: a socket is no happens-before edge to TSan.
  std::mutex mu;
  std::string uploaded_hash;
  std::uint64_t uploaded_bytes = 0;
  std::string served_hash;
  Server& s = startServer(serverOptions(), [&](Server& s) {
    RouteOptions big;
    big.max_body_bytes = kSize;
    ASSERT_TRUE(s.addRoute("PUT", "/v1/files/{sha256}", big, [&](Request& req, Response& res) {
                   std::vector<char> buf(1 << 20);
                   Sha256 h;
                   std::uint64_t total = 0;
                   while (true) {
                     PKGXFER_ASSIGN_OR_RETURN(std::size_t n, req.read(buf.data(), buf.size()));
                     if (n == 0) break;
                     h.update(buf.data(), n);
                     total += n;
                   }
                   const std::string hash = h.hex();
                   {
                     std::lock_guard<std::mutex> lock(mu);
                     uploaded_hash = hash;
                     uploaded_bytes = total;
                   }
                   if (hash != req.param("sha256")) {
                     return res.sendError(400, "hash mismatch");
                   }
                   return res.send(201, "");
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/v1/files/{sha256}", {}, [&](Request&, Response& res) {
                   PKGXFER_RETURN_IF_ERROR(res.beginStream(200, kSize));
                   std::vector<char> buf(1 << 20);
                   Sha256 h;
                   for (std::uint64_t off = 0; off < kSize; off += buf.size()) {
                     testing::fillPattern(buf.data(), buf.size(), off);
                     h.update(buf.data(), buf.size());
                     PKGXFER_RETURN_IF_ERROR(res.write(buf.data(), buf.size()));
                   }
                   std::lock_guard<std::mutex> lock(mu);
                   served_hash = h.hex();
                   return Status::Ok();
                 }).ok());
  });
  // The expected hash, computed from the same pattern.
  std::string expected;
  {
    std::vector<char> buf(1 << 20);
    Sha256 h;
    for (std::uint64_t off = 0; off < kSize; off += buf.size()) {
      testing::fillPattern(buf.data(), buf.size(), off);
      h.update(buf.data(), buf.size());
    }
    expected = h.hex();
  }
  auto client = makeClient(s.port());

  ClientRequest put;
  put.method = "PUT";
  put.target = "/v1/files/" + expected;
  std::uint64_t offset = 0;
  int blocks = 0;
  auto up = client->upload(within(60s), put, kSize, [&](char* buf, std::size_t size) {
    EXPECT_LE(size, 1u << 20);
    testing::fillPattern(buf, size, offset);
    offset += size;
    ++blocks;
    return Result<std::size_t>(size);
  });
  ASSERT_TRUE(up.ok()) << up.status().toString();
  EXPECT_EQ(up->status, 201) << up->body;
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(uploaded_bytes, kSize);
    EXPECT_EQ(uploaded_hash, expected);
  }
  EXPECT_EQ(blocks, 64);

  Sha256 h;
  std::uint64_t received = 0;
  std::size_t largest = 0;
  DownloadSink sink;
  sink.on_head = [&](const ClientResponse& head) {
    EXPECT_EQ(head.header("Content-Length"), std::to_string(kSize));
    return Status::Ok();
  };
  sink.on_data = [&](const char* data, std::size_t size) {
    h.update(data, size);
    received += size;
    largest = std::max(largest, size);
    return Status::Ok();
  };
  ClientRequest get;
  get.target = "/v1/files/" + expected;
  auto down = client->download(within(60s), get, sink);
  ASSERT_TRUE(down.ok()) << down.status().toString();
  EXPECT_EQ(down->status, 200);
  EXPECT_TRUE(down->body.empty());
  EXPECT_EQ(received, kSize);
  EXPECT_LE(largest, 1u << 20);
  EXPECT_EQ(h.hex(), expected);
  // The handler records its hash after its last write, which may be after the client's read.
  EXPECT_TRUE(waitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return served_hash == expected;
  }));
  EXPECT_EQ(client->stats().connections_opened, 1u);  // both on one kept-alive connection
}

// Verifies that a refused upload costs no body: with Expect: 100-continue the server answers 401
// first and the source is never asked for a block.
TEST_F(ClientTest, RefusedUploadSendsNoBody) {
  ServerOptions o = serverOptions();
  o.bearer_token = "token";
  Server& s = startServer(o, [](Server& s) {
    RouteOptions auth;
    auth.requires_auth = true;
    auth.max_body_bytes = 1ull << 30;
    ASSERT_TRUE(s.addRoute("PUT", "/up", auth, [](Request&, Response& res) {
                   return res.send(200, "");
                 }).ok());
  });
  auto client = makeClient(s.port());
  ClientRequest put;
  put.method = "PUT";
  put.target = "/up";
  int calls = 0;
  auto r = client->upload(within(10s), put, 64ull << 20, [&](char*, std::size_t size) {
    ++calls;
    return Result<std::size_t>(size);
  });
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(calls, 0);
}

// Verifies that an upload source that fails ends the call with its Status, and one that gives
// too little is an error; neither leaves a connection that a later call would trip on.
TEST_F(ClientTest, UploadSourceErrors) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("PUT", "/up", {}, [](Request& req, Response& res) {
                   PKGXFER_ASSIGN_OR_RETURN(std::string b, req.readBody(1 << 20));
                   return res.send(200, std::to_string(b.size()));
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, [](Request&, Response& res) {
                   return res.send(200, "x");
                 }).ok());
  });
  auto client = makeClient(s.port());
  ClientRequest put;
  put.method = "PUT";
  put.target = "/up";
  auto r = client->upload(within(5s), put, 1000, [](char*, std::size_t) -> Result<std::size_t> {
    return Status::IoError("read /src/a.bin: Input/output error (EIO)");
  });
  EXPECT_EQ(r.status().code(), Status::Code::IoError);
  r = client->upload(within(5s), put, 1000,
                     [](char*, std::size_t) { return Result<std::size_t>(0); });
  EXPECT_EQ(r.status().code(), Status::Code::InvalidArgument);
  auto ok = client->get(within(5s), "/x");
  ASSERT_TRUE(ok.ok()) << ok.status().toString();
  EXPECT_EQ(ok->body, "x");
}

// Verifies that a response not read to its end (a sink error, a body over the buffered limit)
// drops its connection instead of returning it to the pool.
TEST_F(ClientTest, ResponseNotFullyReadNeverReturnsToThePool) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/big", {}, [](Request&, Response& res) {
                   return res.send(200, std::string(3 << 20, 'b'), "text/plain");
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/big-error", {}, [](Request&, Response& res) {
                   return res.send(404, std::string(3 << 20, 'e'), "text/plain");
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, [](Request&, Response& res) {
                   return res.send(200, "x");
                 }).ok());
  });
  ClientOptions o;
  o.max_buffered_body_bytes = 1 << 20;
  auto client = makeClient(s.port(), o);
  DownloadSink sink;
  sink.on_data = [](const char*, std::size_t) { return Status::IoError("disk full"); };
  ClientRequest get;
  get.target = "/big";
  auto d = client->download(within(5s), get, sink);
  EXPECT_EQ(d.status().code(), Status::Code::IoError);
  auto ok = client->get(within(5s), "/x");
  ASSERT_TRUE(ok.ok()) << ok.status().toString();
  EXPECT_EQ(ok->body, "x");
  EXPECT_EQ(client->stats().connections_opened, 2u);

  auto over = client->get(within(5s), "/big");
  EXPECT_EQ(over.status().code(), Status::Code::InvalidArgument) << over.status().toString();
  ok = client->get(within(5s), "/x");
  ASSERT_TRUE(ok.ok()) << ok.status().toString();
  EXPECT_EQ(client->stats().connections_opened, 3u);

  // An error response to a download keeps the start of its body; the rest is not read.
  get.target = "/big-error";
  sink.on_data = [](const char*, std::size_t) { return Status::Ok(); };
  auto e = client->download(within(5s), get, sink);
  ASSERT_TRUE(e.ok()) << e.status().toString();
  EXPECT_EQ(e->status, 404);
  EXPECT_EQ(e->body.size(), 64u * 1024);
  ok = client->get(within(5s), "/x");
  ASSERT_TRUE(ok.ok()) << ok.status().toString();
  EXPECT_EQ(client->stats().connections_opened, 4u);
}

// Verifies that a pooled connection the server closed while idle is not used again: the next call
// goes out on a new one and succeeds.
TEST_F(ClientTest, ConnectionClosedByTheServerWhileIdleIsReplaced) {
  ServerOptions o = serverOptions();
  o.idle_timeout = 200ms;
  Server& s = startServer(o, [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, [](Request&, Response& res) {
                   return res.send(200, "x");
                 }).ok());
  });
  auto client = makeClient(s.port());
  ASSERT_TRUE(client->get(within(5s), "/x").ok());
  ASSERT_TRUE(waitFor([&] { return s.stats().open_connections == 0; }));
  auto r = client->get(within(5s), "/x");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(client->stats().connections_opened, 2u);
}

// Verifies that many threads can share one client.
TEST_F(ClientTest, ConcurrentCallsShareThePool) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/n/{n}", {}, [](Request& req, Response& res) {
                   return res.send(200, req.param("n"), "text/plain");
                 }).ok());
  });
  auto client = makeClient(s.port());
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string n = std::to_string(t * 100 + i);
        auto r = client->get(within(10s), "/n/" + n);
        if (r.ok() && r->status == 200 && r->body == n) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 200);
  EXPECT_LE(client->stats().connections_opened, 16u);
}

// Verifies HEAD through the client: headers, no body, and the connection stays usable.
TEST_F(ClientTest, HeadRequestReadsNoBody) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, [](Request&, Response& res) {
                   return res.send(200, "twelve bytes");
                 }).ok());
  });
  auto client = makeClient(s.port());
  ClientRequest head;
  head.method = "HEAD";
  head.target = "/x";
  auto h = client->request(within(5s), head);
  ASSERT_TRUE(h.ok()) << h.status().toString();
  EXPECT_EQ(h->header("Content-Length"), "12");
  EXPECT_TRUE(h->body.empty());
  auto g = client->get(within(5s), "/x");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->body, "twelve bytes");
  EXPECT_EQ(client->stats().connections_opened, 1u);
}

// Verifies responses framed in other ways than ours: chunked, ended by the connection's close, an
// unasked-for 100 Continue first, and garbage.
TEST_F(ClientTest, ReadsResponsesOfEveryFraming) {
  {
    ScriptedServer chunked(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
        /*close_after=*/false);
    auto client = makeClient(chunked.port());
    auto r = client->get(within(5s), "/x");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(r->body, "Wikipedia");
  }
  {
    ScriptedServer close_delimited("HTTP/1.0 200 OK\r\n\r\nuntil the end");
    auto client = makeClient(close_delimited.port());
    auto r = client->get(within(5s), "/x");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(r->body, "until the end");
  }
  {
    ScriptedServer informational(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    auto client = makeClient(informational.port());
    auto r = client->get(within(5s), "/x");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
  {
    ScriptedServer cut("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    auto client = makeClient(cut.port());
    auto r = client->get(within(5s), "/x");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::Unavailable);
    EXPECT_NE(r.status().message().find("after 9 of 100"), std::string::npos)
        << r.status().toString();
  }
  {
    ScriptedServer garbage("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    auto client = makeClient(garbage.port());
    auto r = client->get(within(5s), "/x");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::Unavailable) << r.status().toString();
  }
}

// Verifies that bad base URLs and requests are rejected up front.
TEST_F(ClientTest, RejectsBadUrlsAndRequests) {
  for (const char* url : {"", "ftp://x", "http://", "http://host:99999", "http://host:x",
                          "http://host/path", "http://user@host", "http://[::1"}) {
    ClientOptions o;
    o.base_url = url;
    EXPECT_EQ(Client::create(o).status().code(), Status::Code::InvalidArgument) << url;
  }
  for (const char* url :
       {"http://127.0.0.1:8531", "https://dp03:8531/", "http://[::1]:80", "http://localhost"}) {
    ClientOptions o;
    o.base_url = url;
    EXPECT_TRUE(Client::create(o).ok()) << url;
  }
  // Options out of range are refused with the field's name.
  const std::vector<std::pair<std::string, std::function<void(ClientOptions&)>>> bad_options = {
      {"max_response_header_bytes", [](ClientOptions& o) { o.max_response_header_bytes = 0; }},
      {"max_response_header_bytes",
       [](ClientOptions& o) { o.max_response_header_bytes = std::size_t{5} << 30; }},
      {"block_bytes", [](ClientOptions& o) { o.block_bytes = 0; }},
      {"block_bytes", [](ClientOptions& o) { o.block_bytes = std::size_t{1} << 30; }},
      {"max_idle_time", [](ClientOptions& o) { o.max_idle_time = std::chrono::milliseconds(-1); }},
  };
  for (const auto& [field, set] : bad_options) {
    ClientOptions o;
    o.base_url = "http://127.0.0.1:8531";
    set(o);
    Status st = Client::create(o).status();
    EXPECT_EQ(st.code(), Status::Code::InvalidArgument) << field;
    EXPECT_NE(st.message().find(field), std::string::npos) << st.toString();
  }
  const ClosedPort closed;
  auto client = makeClient(closed.port());
  EXPECT_EQ(client->get(within(1s), "no-slash").status().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(client->get(within(1s), "/a b").status().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(client->get(within(1s), "/x", {{"X-Evil", "a\r\nInjected: 1"}}).status().code(),
            Status::Code::InvalidArgument);
  EXPECT_EQ(client->get(within(1s), "/x", {{"Host", "elsewhere"}}).status().code(),
            Status::Code::InvalidArgument);
}

// Verifies that a hostile server's chunk extension or trailer that never ends fails the call once
// it passes max_response_header_bytes + 16 KiB, instead of growing the client's buffer until
// io_timeout.
TEST_F(ClientTest, EndlessChunkHeaderOrTrailerIsCut) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& start :
       {head + "5;ext=", head + "5\r\nhello\r\n0\r\nX-Trailer: endless"}) {
    ConnServer flood([&](int fd) {
      if (readHeadFrom(fd).empty() || !sendAll(fd, start)) return;
      const std::string filler(4096, 'a');
      // Until the client gives up (or 64 MiB, which a client without a bound would take).
      for (std::size_t sent = 0; sent < (64u << 20) && sendAll(fd, filler);) {
        sent += filler.size();
      }
    });
    ClientOptions o;
    o.io_timeout = 3s;
    auto client = makeClient(flood.port(), o);
    auto r = client->get(within(20s), "/x");
    ASSERT_FALSE(r.ok()) << start;
    EXPECT_EQ(r.status().code(), Status::Code::Unavailable) << r.status().toString();
    EXPECT_NE(r.status().message().find("does not end within " +
                                        std::to_string(64 * 1024 + 16 * 1024) + " bytes"),
              std::string::npos)
        << r.status().toString();
  }
}

// Verifies that a final response coming after "100 Continue", while the body is being sent (the
// server read part of it, answered 507 and closed), is what the call returns, not the 100.
TEST_F(ClientTest, EarlyFinalResponseAfter100ContinueIsReturned) {
  ConnServer full([](int fd) {
    const std::string head = readHeadFrom(fd);
    if (head.find("Expect: 100-continue") == std::string::npos) return;
    if (!sendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return;
    std::size_t got = 0;
    char buf[65536];
    while (got < (1u << 20)) {  // a part of the body, then the disk is full
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      got += static_cast<std::size_t>(n);
    }
    const std::string body = R"({"error":"no space left for the body","status":507})";
    sendAll(fd,
            "HTTP/1.1 507 Insufficient Storage\r\nContent-Type: application/json\r\n"
            "Content-Length: " +
                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    // Returns: the connection closes with the rest of the body unread.
  });
  ClientOptions o;
  o.expect_continue_min_bytes = 1;
  auto client = makeClient(full.port(), o);
  ClientRequest put;
  put.method = "PUT";
  put.target = "/v1/files/ab";
  auto r = client->upload(within(20s), put, 256ull << 20, [](char* buf, std::size_t size) {
    std::memset(buf, 'u', size);
    return Result<std::size_t>(size);
  });
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 507);
  Status st = responseStatus(*r);
  EXPECT_NE(st.message().find("HTTP 507 Insufficient Storage: no space left for the body"),
            std::string::npos)
      << st.toString();
}

// Verifies ClientRequest::response_timeout: a server that works longer than io_timeout before it
// answers is waited for when the request allows it, and a shorter one cuts a silent server early.
TEST_F(ClientTest, ResponseTimeoutBoundsTheWaitForTheHead) {
  ConnServer slow([](int fd) {
    if (readHeadFrom(fd).empty()) return;
    // The server's work before it answers (an fsync): longer than the client's io_timeout.
    std::this_thread::sleep_for(600ms);
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
  });
  ClientOptions o;
  o.io_timeout = 150ms;
  auto client = makeClient(slow.port(), o);
  ClientRequest req;
  req.target = "/x";
  auto cut = client->request(within(10s), req);
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("no progress for 150 ms"), std::string::npos)
      << cut.status().toString();
  req.response_timeout = 10s;
  auto r = client->request(within(20s), req);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->body, "done");

  ScriptedServer silent;
  ClientOptions patient;
  patient.io_timeout = 30s;
  auto c2 = makeClient(silent.port(), patient);
  req.response_timeout = 200ms;
  const auto t0 = Clock::now();
  auto s = c2->request(CallContext{}, req);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::Unavailable);
  EXPECT_NE(s.status().message().find("no progress for 200 ms"), std::string::npos)
      << s.status().toString();
  EXPECT_LT(Clock::now() - t0, 10s);
}

// Verifies that running out of file descriptors for a new connection is Unavailable with the OS
// text, not an exception out of the call.
TEST_F(ClientTest, NoFileDescriptorLeftIsUnavailableNotAThrow) {
  const ClosedPort closed;
  auto client = makeClient(closed.port());
  // Fill every descriptor below a lowered soft limit; restore both on the way out.
  struct Exhaust {
    rlimit old{};
    std::vector<int> fds;
    Exhaust() {
      ::getrlimit(RLIMIT_NOFILE, &old);
      const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      ::close(probe);
      rlimit low = old;
      low.rlim_cur = static_cast<rlim_t>(probe) + 1;
      ::setrlimit(RLIMIT_NOFILE, &low);
      for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds.push_back(fd);
    }
    ~Exhaust() {
      for (int fd : fds) ::close(fd);
      ::setrlimit(RLIMIT_NOFILE, &old);
    }
  };
  Result<ClientResponse> r = Status::Internal("not called");
  {
    Exhaust exhaust;
    r = client->get(within(5s), "/x");
  }
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Unavailable) << r.status().toString();
  EXPECT_NE(r.status().message().find("Too many open files"), std::string::npos)
      << r.status().toString();
}

// Verifies that the idle pool drops every connection the server closed, not only those at its
// back: here two closed ones sit behind a live one that the next call takes.
TEST_F(ClientTest, IdlePoolDropsEveryDeadConnection) {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> fd_of;  // target -> the server's socket that got it
  bool release_c = false;
  ConnServer server([&](int fd) {
    while (true) {
      const std::string head = readHeadFrom(fd);
      if (head.empty()) return;
      const std::string target = head.substr(4, head.find(' ', 4) - 4);
      {
        std::unique_lock<std::mutex> lock(mu);
        fd_of[target] = fd;
        cv.notify_all();
        // /a and /b are answered once both arrived (two connections at once), /c when released.
        if (target == "/a" || target == "/b") {
          cv.wait(lock, [&] { return fd_of.count("/a") && fd_of.count("/b"); });
        } else if (target == "/c") {
          cv.wait(lock, [&] { return release_c; });
        }
      }
      if (!sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")) return;
    }
  });
  auto client = makeClient(server.port());
  auto call = [&](const char* target) {
    return std::async(std::launch::async, [&, target] { return client->get(within(10s), target); });
  };
  auto c = call("/c");  // holds one connection
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return fd_of.count("/c") > 0; }));
  }
  auto a = call("/a");
  auto b = call("/b");
  ASSERT_TRUE(a.get().ok());
  ASSERT_TRUE(b.get().ok());
  ASSERT_TRUE(waitFor([&] { return client->stats().idle == 2; }));
  {
    std::lock_guard<std::mutex> lock(mu);
    ::shutdown(fd_of["/a"], SHUT_RDWR);  // the server closes the two idle ones
    ::shutdown(fd_of["/b"], SHUT_RDWR);
    release_c = true;
    cv.notify_all();
  }
  ASSERT_TRUE(c.get().ok());  // its connection goes back on top of the two dead ones
  auto d = client->get(within(10s), "/d");
  ASSERT_TRUE(d.ok()) << d.status().toString();
  EXPECT_EQ(client->stats().connections_opened, 3u);  // /d reused /c's connection
  EXPECT_EQ(client->stats().idle, 1u);
}

// Verifies that a server sending informational responses without end fails the call.
TEST_F(ClientTest, EndlessInformationalResponsesFail) {
  std::string hints;
  for (int i = 0; i < 3; ++i) hints += "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
  const std::string final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  {
    ScriptedServer few(hints + final);
    auto client = makeClient(few.port());
    auto r = client->get(within(5s), "/x");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(r->status, 200);
  }
  for (int i = 0; i < 30; ++i) hints += "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
  ScriptedServer many(hints + final);
  auto client = makeClient(many.port());
  auto r = client->get(within(5s), "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Unavailable);
  EXPECT_NE(r.status().message().find("informational"), std::string::npos) << r.status().toString();
}

}  // namespace
}  // namespace pkgxfer::http
