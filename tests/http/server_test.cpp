// The server's limits, timeouts, keep-alive, pipelining, auth, error handling and stop.

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/http_test_util.h"
#include "pkgxfer/http/server.h"
#include "server_core.h"

namespace pkgxfer::http {
namespace {

using namespace std::chrono_literals;
using pkgxfer::testing::waitFor;
using testing::HttpTest;
using testing::RawSocket;
using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "s3cret-token-4f9a1c";

Handler echoBody(std::size_t limit = 1 << 20) {
  return [limit](Request& req, Response& res) {
    PKGXFER_ASSIGN_OR_RETURN(std::string body, req.readBody(limit));
    return res.send(200, body, "text/plain");
  };
}

Handler fixed(std::string body) {
  return [body](Request&, Response& res) { return res.send(200, body, "text/plain"); };
}

class ServerTest : public HttpTest {};

// A client that asked for a long streamed body and reads it one byte at a time, slowly: its
// handler makes progress (so write_timeout never cuts it) but never finishes.
class SlowReader {
 public:
  SlowReader(std::uint16_t port, const std::string& request) : sock_(port) {
    EXPECT_TRUE(sock_.send(request));
    thread_ = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        sock_.readUpTo(1, std::chrono::milliseconds(100));
        // The slow pace is the point, not a wait for something.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  ~SlowReader() {
    thread_.request_stop();
    thread_.join();  // before the socket closes
  }

 private:
  RawSocket sock_;
  std::jthread thread_;
};

// Sends `start`, then `filler` over and over until the server answers (or `max_bytes` went out);
// the answer, if any.
std::optional<testing::RawResponse> feedUntilAnswered(RawSocket& sock, const std::string& start,
                                                      const std::string& filler,
                                                      std::size_t max_bytes,
                                                      std::size_t* fed = nullptr) {
  if (!sock.send(start)) return std::nullopt;
  std::size_t sent = 0;
  std::optional<testing::RawResponse> r;
  while (!r && sent < max_bytes && sock.send(filler)) {
    sent += filler.size();
    r = sock.readResponse(std::chrono::milliseconds(0));
  }
  if (fed != nullptr) *fed = sent;
  return r ? r : sock.readResponse(std::chrono::seconds(5));
}

// Verifies that one client reuses one connection for many calls, and the server saw one.
TEST_F(ServerTest, KeepAliveReusesOneConnection) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok());
  });
  auto client = makeClient(s.port());
  for (int i = 0; i < 20; ++i) {
    auto r = client->get(within(5s), "/x");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    ASSERT_EQ(r->status, 200);
  }
  EXPECT_EQ(client->stats().connections_opened, 1u);
  EXPECT_EQ(client->stats().reused, 19u);
  EXPECT_EQ(s.stats().accepted, 1u);
  EXPECT_EQ(s.stats().requests, 20u);
}

// Verifies that max_requests_per_connection closes a connection after that many requests.
TEST_F(ServerTest, RequestCapPerConnection) {
  ServerOptions o = serverOptions();
  o.max_requests_per_connection = 3;
  Server& s =
      startServer(o, [](Server& s) { ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok()); });
  auto client = makeClient(s.port());
  for (int i = 0; i < 7; ++i) {
    auto r = client->get(within(5s), "/x");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(r->header("Connection") == "close", i % 3 == 2) << i;
  }
  EXPECT_EQ(client->stats().connections_opened, 3u);
}

// Verifies that pipelined requests, one with a body, are answered in order on one connection.
TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/seq/{n}", {}, [](Request& req, Response& res) {
                   return res.send(200, "seq " + req.param("n"), "text/plain");
                 }).ok());
    ASSERT_TRUE(s.addRoute("POST", "/echo", {}, echoBody()).ok());
  });
  RawSocket sock(s.port());
  ASSERT_TRUE(
      sock.send("GET /seq/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
                "GET /seq/2 HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /seq/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::vector<std::string> bodies;
  for (int i = 0; i < 5; ++i) {
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r) << i;
    bodies.push_back(std::to_string(r->status) + " " + (r->status == 404 ? "" : r->body));
  }
  EXPECT_EQ(bodies, (std::vector<std::string>{"200 seq 1", "200 hello world", "200 seq 2", "404 ",
                                              "200 seq 3"}));
  EXPECT_TRUE(sock.waitClosed(5s));
  EXPECT_EQ(s.stats().accepted, 1u);
}

// Verifies that "Connection: close" and HTTP/1.0 without keep-alive close after the response.
TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok());
  });
  {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(sock.waitClosed(5s));
  }
  {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("GET /x HTTP/1.0\r\n\r\n"));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(sock.waitClosed(5s));
  }
}

// Verifies that the limit holds for the whole head, not for each read: many small fields sent a
// few at a time (Beast 1.74's parser takes complete fields as they come and checks its limit per
// call only).
TEST_F(ServerTest, AHeadOfManySmallFieldsSentInPiecesGets431) {
  ServerOptions o = serverOptions();
  o.max_header_bytes = 2048;
  Server& s =
      startServer(o, [](Server& s) { ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok()); });
  RawSocket sock(s.port());
  ASSERT_TRUE(sock.send("GET /x HTTP/1.1\r\nHost: x\r\n"));
  bool cut = false;
  for (int i = 0; i < 200 && !cut; ++i) {  // 200 x ~20 bytes: twice the limit
    cut = !sock.send("X-Field-" + std::to_string(i) + ": v\r\n");
    if (!cut && i % 10 == 9) cut = sock.waitClosed(2ms) || !sock.received().empty();
  }
  if (!cut) (void)sock.send("\r\n");
  auto r = sock.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(sock.waitClosed(5s));
}

// Verifies that a request head over max_header_bytes gets 431 and the connection closes.
TEST_F(ServerTest, OversizedHeaderGets431) {
  ServerOptions o = serverOptions();
  o.max_header_bytes = 2048;
  Server& s =
      startServer(o, [](Server& s) { ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok()); });
  RawSocket sock(s.port());
  ASSERT_TRUE(
      sock.send("GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n"));
  auto r = sock.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(nlohmann::json::parse(r->body)["status"], 431);
  EXPECT_TRUE(sock.waitClosed(5s));
  // A head just under the limit is fine.
  auto client = makeClient(s.port());
  auto ok = client->get(within(5s), "/x", {{"X-Big", std::string(1500, 'a')}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
}

// Verifies that a declared Content-Length over the route's limit gets 413 before any byte of the
// body is sent, and the handler does not run.
TEST_F(ServerTest, DeclaredBodyOverLimitGets413WithoutReadingIt) {
  std::atomic<int> runs{0};
  Server& s = startServer(serverOptions(), [&](Server& s) {
    RouteOptions ro;
    ro.max_body_bytes = 1024;
    ASSERT_TRUE(s.addRoute("PUT", "/up", ro, [&](Request& req, Response& res) {
                   ++runs;
                   return echoBody()(req, res);
                 }).ok());
  });
  RawSocket sock(s.port());
  // 1 GiB declared, nothing of it sent: the answer cannot depend on reading it.
  ASSERT_TRUE(sock.send("PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"));
  auto r = sock.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(sock.waitClosed(5s));
  EXPECT_EQ(runs.load(), 0);
}

// Verifies chunked uploads: decoded for the handler, 413 past the limit, 411 where a route needs
// a length.
TEST_F(ServerTest, ChunkedBodies) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("POST", "/echo", {}, echoBody()).ok());
    RouteOptions small;
    small.max_body_bytes = 8;
    ASSERT_TRUE(s.addRoute("POST", "/small", small, echoBody()).ok());
    RouteOptions sized;
    sized.requires_content_length = true;
    ASSERT_TRUE(s.addRoute("POST", "/sized", sized, echoBody()).ok());
  });
  const std::string chunked =
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("POST /echo HTTP/1.1\r\nHost: x\r\n" + chunked));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello world");
  }
  {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("POST /small HTTP/1.1\r\nHost: x\r\n" + chunked));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(sock.waitClosed(5s));
  }
  {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("POST /sized HTTP/1.1\r\nHost: x\r\n" + chunked));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 411);
  }
  {
    RawSocket sock(s.port());  // a transfer coding the server does not do
    ASSERT_TRUE(sock.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
}

// Verifies "Expect: 100-continue": the go-ahead comes when the handler reads, and a request the
// server refuses gets its final status instead.
TEST_F(ServerTest, ExpectContinue) {
  ServerOptions o = serverOptions();
  o.bearer_token = kToken;
  Server& s = startServer(o, [](Server& s) {
    ASSERT_TRUE(s.addRoute("PUT", "/echo", {}, echoBody()).ok());
    RouteOptions auth;
    auth.requires_auth = true;
    ASSERT_TRUE(s.addRoute("PUT", "/auth", auth, echoBody()).ok());
  });
  RawSocket sock(s.port());
  ASSERT_TRUE(sock.send(
      "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto cont = sock.readResponse(5s);
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(sock.send("hello"));
  auto r = sock.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");

  ASSERT_TRUE(sock.send(
      "PUT /auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto refused = sock.readResponse(5s);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_TRUE(sock.waitClosed(5s));  // the body it did not want was never sent
}

// Verifies that a body shorter than declared, from a client that then hangs, is cut at the
// request timeout: the handler's read fails and the connection closes.
TEST_F(ServerTest, ShortBodyIsCutAtRequestTimeout) {
  ServerOptions o = serverOptions();
  o.request_timeout = 800ms;
  std::promise<Status> read_result;
  Server& s = startServer(o, [&](Server& s) {
    ASSERT_TRUE(s.addRoute("PUT", "/up", {}, [&](Request& req, Response& res) {
                   auto body = req.readBody(1000);
                   read_result.set_value(body.status());
                   if (!body.ok()) return body.status();
                   return res.send(200, "");
                 }).ok());
  });
  RawSocket sock(s.port());
  const auto start = Clock::now();
  ASSERT_TRUE(sock.send("PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"));
  EXPECT_TRUE(sock.waitClosed(10s));
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, 700ms);
  EXPECT_LT(elapsed, 8s);
  auto fut = read_result.get_future();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  Status st = fut.get();
  EXPECT_EQ(st.code(), Status::Code::Unavailable) << st.toString();
  EXPECT_NE(st.message().find("timed out"), std::string::npos) << st.toString();
}

// Verifies that a client sending its request a byte at a time is cut at the request timeout
// (progress does not extend it), while other clients are served meanwhile. Deterministic: the slow
// client's head never ends (a header value that goes on, far below max_header_bytes before the
// cut), and its pace is set by the other client's requests, one byte per request served.
TEST_F(ServerTest, SlowClientIsCutWhileOthersAreServed) {
  ServerOptions o = serverOptions();
  o.request_timeout = 500ms;
  o.max_header_bytes = 1 << 20;  // a 431 would take a million requests: the timeout comes first
  Server& s =
      startServer(o, [](Server& s) { ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok()); });
  auto client = makeClient(s.port());
  ASSERT_TRUE(client->get(within(5s), "/x").ok());  // connected before the slow client starts

  RawSocket slow(s.port());
  const std::string start = "GET /x HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  const auto first_byte = Clock::now();
  const auto give_up = first_byte + 20s;
  std::size_t sent = 0;
  int served = 0;
  bool closed = false;
  while (!closed && Clock::now() < give_up) {
    const char byte = sent < start.size() ? start[sent] : 'p';
    if (!slow.send(std::string_view(&byte, 1))) {
      closed = true;  // reset by the server's close
      break;
    }
    ++sent;
    auto r = client->get(within(5s), "/x");
    ASSERT_TRUE(r.ok()) << r.status().toString();
    ASSERT_EQ(r->status, 200);
    ++served;
    closed = slow.waitClosed(1ms);
  }
  const auto lasted = Clock::now() - first_byte;
  ASSERT_TRUE(closed || slow.waitClosed(5s)) << "not cut after " << sent << " bytes";
  EXPECT_TRUE(slow.received().empty()) << slow.received();  // cut without an answer
  EXPECT_GE(lasted, o.request_timeout);                     // not before its timeout
  EXPECT_GT(served, 0);                                     // others were served meanwhile
  EXPECT_LT(sent, o.max_header_bytes);
  EXPECT_NE(logText().find("request head not complete"), std::string::npos);
}

// Verifies that an idle keep-alive connection is closed after the idle timeout.
TEST_F(ServerTest, IdleConnectionIsClosed) {
  ServerOptions o = serverOptions();
  o.idle_timeout = 300ms;
  Server& s =
      startServer(o, [](Server& s) { ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok()); });
  RawSocket sock(s.port());
  ASSERT_TRUE(sock.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(sock.readResponse(5s));
  const auto start = Clock::now();
  EXPECT_TRUE(sock.waitClosed(5s));
  EXPECT_GE(Clock::now() - start, 250ms);
  EXPECT_TRUE(waitFor([&] { return s.stats().open_connections == 0; }));
}

// Verifies the connection cap: beyond it a connection gets 503 and is closed; once one closes, a
// new one is served.
TEST_F(ServerTest, ConnectionCapAnswers503) {
  ServerOptions o = serverOptions();
  o.max_connections = 2;
  Server& s =
      startServer(o, [](Server& s) { ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok()); });
  auto a = std::make_unique<RawSocket>(s.port());
  RawSocket b(s.port());
  for (RawSocket* sock : {a.get(), &b}) {
    ASSERT_TRUE(sock->send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = sock->readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  {
    RawSocket c(s.port());
    ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->header("retry-after"), "1");
    EXPECT_EQ(nlohmann::json::parse(r->body)["status"], 503);
    EXPECT_TRUE(c.waitClosed(5s));
  }
  EXPECT_EQ(s.stats().refused, 1u);
  a.reset();
  ASSERT_TRUE(waitFor([&] { return s.stats().open_connections == 1; }));
  RawSocket d(s.port());
  ASSERT_TRUE(d.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = d.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// Verifies bearer auth: a missing or wrong token gets 401 with WWW-Authenticate and the handler
// does not run; the right one is served; no token ever reaches the log.
TEST_F(ServerTest, BearerTokenIsRequiredWhereDeclared) {
  ServerOptions o = serverOptions();
  o.bearer_token = kToken;
  std::atomic<int> runs{0};
  Server& s = startServer(o, [&](Server& s) {
    RouteOptions auth;
    auth.requires_auth = true;
    ASSERT_TRUE(s.addRoute("PUT", "/v1/files/{sha256}", auth, [&](Request& req, Response& res) {
                   ++runs;
                   return echoBody()(req, res);
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/v1/files/{sha256}", {}, fixed("anonymous")).ok());
  });
  ClientRequest put;
  put.method = "PUT";
  put.target = "/v1/files/ab";
  put.body = "data";

  auto anonymous = makeClient(s.port());
  auto r = anonymous->request(within(5s), put);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->header("WWW-Authenticate").substr(0, 6), "Bearer");
  EXPECT_EQ(responseStatus(*r).code(), Status::Code::PermissionDenied);
  auto g = anonymous->get(within(5s), "/v1/files/ab");  // reads need no token
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->body, "anonymous");

  for (const char* wrong :
       {"wrong-token-value-xyz", "s3cret-token-4f9a1", "s3cret-token-4f9a1c0", ""}) {
    ClientOptions co;
    co.bearer_token = wrong;
    auto c = makeClient(s.port(), co);
    auto w = c->request(within(5s), put);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->status, 401) << wrong;
  }
  {
    RawSocket sock(s.port());  // another scheme
    ASSERT_TRUE(
        sock.send(std::string("PUT /v1/files/ab HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ") +
                  kToken + "\r\nContent-Length: 0\r\n\r\n"));
    auto b = sock.readResponse(5s);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->status, 401);
  }
  EXPECT_EQ(runs.load(), 0);

  ClientOptions co;
  co.bearer_token = kToken;
  auto authorized = makeClient(s.port(), co);
  auto ok = authorized->request(within(5s), put);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "data");
  EXPECT_EQ(runs.load(), 1);

  const std::string log = logText();
  EXPECT_EQ(log.find(kToken), std::string::npos);
  EXPECT_EQ(log.find("wrong-token-value-xyz"), std::string::npos);
  EXPECT_EQ(log.find("s3cret-token-4f9a1"), std::string::npos);
}

// Verifies that requests the server cannot understand get a 4xx/505 and it keeps serving.
TEST_F(ServerTest, MalformedRequestsGet4xxAndServerStaysUp) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok());
  });
  struct Case {
    std::string request;
    int status;
    bool closes;  // unparseable requests close the connection; a bad path alone does not
  };
  const std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", 400, true},
      {"G@T /x HTTP/1.1\r\nHost: x\r\n\r\n", 400, true},
      {"GET /x HTTP/9.9\r\nHost: x\r\n\r\n", 505, true},
      {"GET /x HTTP/1.1\r\n\r\n", 400, true},  // no Host
      {"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, true},
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n", 400, true},
      {"GET x HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
      {"GET http://elsewhere/x HTTP/1.1\r\nHost: x\r\n\r\n", 400, false},
  };
  for (const Case& c : cases) {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send(c.request));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r) << c.request;
    EXPECT_EQ(r->status, c.status) << c.request;
    EXPECT_EQ(nlohmann::json::parse(r->body)["status"], c.status) << c.request;
    if (c.closes) {
      EXPECT_TRUE(sock.waitClosed(5s)) << c.request;
    }
  }
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

// Verifies that a handler that throws, fails or answers nothing becomes a 500, logged, and the
// server goes on serving (on the same connection).
TEST_F(ServerTest, HandlerFailuresBecome500) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/throw", {}, [](Request&, Response&) -> Status {
                   throw std::runtime_error("boom in handler");
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/fail", {}, [](Request&, Response&) {
                   return Status::IoError("open /srv/x: No space left on device");
                 }).ok());
    ASSERT_TRUE(
        s.addRoute("GET", "/silent", {}, [](Request&, Response&) { return Status::Ok(); }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok());
  });
  auto client = makeClient(s.port());
  auto t = client->get(within(5s), "/throw");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->status, 500);
  EXPECT_EQ(nlohmann::json::parse(t->body)["error"], "internal error");
  auto f = client->get(within(5s), "/fail");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->status, 500);
  Status st = responseStatus(*f);
  EXPECT_EQ(st.code(), Status::Code::Unavailable);
  EXPECT_NE(st.message().find("No space left on device"), std::string::npos) << st.toString();
  auto n = client->get(within(5s), "/silent");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->status, 500);
  auto ok = client->get(within(5s), "/x");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(client->stats().connections_opened, 1u);
  EXPECT_NE(logText().find("boom in handler"), std::string::npos);
}

// Verifies that a streamed response the handler leaves short closes the connection, so the client
// sees a cut body rather than a hang or a mixed-up next response.
TEST_F(ServerTest, ShortStreamedResponseClosesTheConnection) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/short", {}, [](Request&, Response& res) {
                   PKGXFER_RETURN_IF_ERROR(res.beginStream(200, 100));
                   std::string half(50, 'h');
                   PKGXFER_RETURN_IF_ERROR(res.write(half.data(), half.size()));
                   EXPECT_EQ(res.write(half.data(), 51).code(),
                             Status::Code::InvalidArgument);  // past the length
                   return Status::Ok();
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok());
  });
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/short");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Unavailable) << r.status().toString();
  auto ok = client->get(within(5s), "/x");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(client->stats().connections_opened, 2u);
}

// Verifies graceful stop: idle connections close at once, no new connection is accepted, the
// request in flight finishes (its response says close), then done is called.
TEST_F(ServerTest, GracefulStopLetsTheRequestInFlightFinish) {
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  Server& s = startServer(serverOptions(), [&](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/slow", {}, [&](Request&, Response& res) {
                   started = true;
                   waitFor([&] { return release.load(); }, 30s);
                   return res.send(200, "finished", "text/plain");
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok());
  });
  const std::uint16_t port = s.port();
  RawSocket idle(port);
  ASSERT_TRUE(idle.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(idle.readResponse(5s));

  auto client = makeClient(port);
  std::promise<Result<ClientResponse>> result;
  auto fut = result.get_future();
  std::jthread caller([&] { result.set_value(client->get(within(20s), "/slow")); });
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag = true; }  // an early return must not leave the handler waiting
  } guard{release};
  ASSERT_TRUE(waitFor([&] { return started.load(); }));

  std::atomic<bool> done{false};
  s.stop([&] { done = true; });
  EXPECT_TRUE(idle.waitClosed(5s));
  EXPECT_TRUE(waitFor([&] { return !RawSocket(port).connected(); }));
  EXPECT_FALSE(done.load());

  release = true;
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  auto r = fut.get();
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "finished");
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(waitFor([&] { return done.load(); }));
}

// Verifies that past stop_timeout the server closes connections under their handlers, which see
// their stop token, and then reports done.
TEST_F(ServerTest, StopTimeoutClosesBusyConnections) {
  ServerOptions o = serverOptions();
  o.stop_timeout = 300ms;
  std::atomic<bool> started{false};
  std::atomic<bool> saw_stop{false};
  Server& s = startServer(o, [&](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/forever", {}, [&](Request& req, Response&) {
                   started = true;
                   saw_stop = waitFor([&] { return req.stopToken().stop_requested(); }, 20s);
                   return Status::Cancelled("stopped");
                 }).ok());
  });
  auto client = makeClient(s.port());
  std::promise<Result<ClientResponse>> result;
  std::jthread caller([&] { result.set_value(client->get(within(20s), "/forever")); });
  ASSERT_TRUE(waitFor([&] { return started.load(); }));
  const auto t0 = Clock::now();
  EXPECT_TRUE(stopServer(s));
  EXPECT_LT(Clock::now() - t0, 5s);
  caller.join();
  EXPECT_TRUE(saw_stop.load());
  auto r = result.get_future().get();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Unavailable) << r.status().toString();
}

// Verifies start-up errors: a busy port, no handler executor, an auth route without a token.
TEST_F(ServerTest, StartUpErrorsAreClear) {
  Server& first = startServer(serverOptions(), nullptr);
  ServerOptions same = serverOptions();
  same.port = first.port();
  Server busy(io_, same);
  Status st = busy.start();
  EXPECT_EQ(st.code(), Status::Code::IoError);
  EXPECT_NE(st.message().find("listen on 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << st.toString();
  EXPECT_NE(st.message().find("Address already in use"), std::string::npos) << st.toString();

  ServerOptions no_exec = serverOptions();
  no_exec.handler_executor = {};
  EXPECT_EQ(Server(io_, no_exec).start().code(), Status::Code::InvalidArgument);

  // Handlers block: on the io threads they would wait for themselves.
  ServerOptions on_io = serverOptions();
  on_io.handler_executor = io_.get_executor();
  st = Server(io_, on_io).start();
  EXPECT_EQ(st.code(), Status::Code::InvalidArgument);
  EXPECT_NE(st.message().find("io_context"), std::string::npos) << st.toString();
  on_io.handler_executor = boost::asio::make_strand(io_);
  EXPECT_EQ(Server(io_, on_io).start().code(), Status::Code::InvalidArgument);

  Server no_token(io_, serverOptions());
  RouteOptions auth;
  auth.requires_auth = true;
  ASSERT_TRUE(no_token.addRoute("PUT", "/x", auth, fixed("x")).ok());
  st = no_token.start();
  EXPECT_EQ(st.code(), Status::Code::InvalidArgument);
  EXPECT_NE(st.message().find("PUT /x"), std::string::npos) << st.toString();
}

// Verifies that a chunk extension or a trailer that never ends is cut once it passes the read
// buffer's bound (max_header_bytes + 16 KiB), answered 400 and closed: Beast 1.74 buffers either
// whole, so without the bound the server's memory would grow for as long as the client sends.
TEST_F(ServerTest, EndlessChunkHeaderOrTrailerIsCut) {
  ServerOptions o = serverOptions();
  o.max_header_bytes = 4096;
  std::mutex mu;
  std::vector<Status> reads;
  Server& s = startServer(o, [&](Server& s) {
    ASSERT_TRUE(s.addRoute("POST", "/echo", {}, [&](Request& req, Response& res) {
                   auto body = req.readBody(64 << 20);
                   {
                     std::lock_guard<std::mutex> lock(mu);
                     reads.push_back(body.status());
                   }
                   if (!body.ok()) return body.status();
                   return res.send(200, *body, "text/plain");
                 }).ok());
  });
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& start :
       {head + "5;ext=", head + "5\r\nhello\r\n0\r\nX-Trailer: endless"}) {
    RawSocket sock(s.port());
    std::size_t fed = 0;
    auto r = feedUntilAnswered(sock, start, std::string(4096, 'a'), 64u << 20, &fed);
    ASSERT_TRUE(r) << "no answer after " << fed << " bytes: " << start;
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("does not end within"), std::string::npos) << r->body;
    sock.shutdownSend();  // ends the server's linger
    EXPECT_TRUE(sock.waitClosed(5s));
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(reads.size(), 2u);
  for (const Status& st : reads) {
    EXPECT_EQ(st.code(), Status::Code::InvalidArgument) << st.toString();
    EXPECT_NE(st.message().find(std::to_string(4096 + 16 * 1024) + " bytes"), std::string::npos)
        << st.toString();
  }
}

// Verifies max_concurrent_handlers: slow readers of a streamed GET (a byte at a time: never cut by
// write_timeout) hold at most that many handlers; other requests get 503 with Retry-After at once,
// without a handler; once one slow reader goes, its slot serves a request again.
TEST_F(ServerTest, SlowReadersHoldAtMostMaxConcurrentHandlers) {
  ServerOptions o = serverOptions();
  o.max_concurrent_handlers = 2;
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::atomic<int> fast_runs{0};
  Server& s = startServer(o, [&](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/stream", {}, [&](Request&, Response& res) {
                   const int now = ++running;
                   int seen = peak.load();
                   while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                   }
                   constexpr std::uint64_t kSize = 1ull << 32;  // never all sent
                   std::vector<char> buf(64 << 10, 'd');
                   Status st = res.beginStream(200, kSize);
                   for (std::uint64_t sent = 0; st.ok() && sent < kSize; sent += buf.size()) {
                     st = res.write(buf.data(), buf.size());
                   }
                   --running;
                   return st;
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, [&](Request&, Response& res) {
                   ++fast_runs;
                   return res.send(200, "x", "text/plain");
                 }).ok());
  });
  const std::string stream = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
  auto a = std::make_unique<SlowReader>(s.port(), stream);
  ASSERT_TRUE(waitFor([&] { return running.load() == 1; }));
  SlowReader b(s.port(), stream);
  ASSERT_TRUE(waitFor([&] { return running.load() == 2; }));
  EXPECT_EQ(s.stats().handlers, 2u);

  RawSocket c(s.port());  // a third slow reader would-be
  ASSERT_TRUE(c.send(stream));
  auto busy = c.readResponse(5s);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->header("retry-after"), "1");
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/x");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(fast_runs.load(), 0);
  EXPECT_EQ(s.stats().busy, 2u);

  a.reset();  // one slow reader goes: its handler's write fails and it returns
  ASSERT_TRUE(waitFor([&] { return s.stats().handlers == 1; }));
  r = client->get(within(5s), "/x");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(fast_runs.load(), 1);
  EXPECT_EQ(peak.load(), 2);
}

// Verifies that the time a request waits for a thread of the handler executor does not count
// against request_timeout: a small POST whose handler starts after longer than that still gets
// its body (the rest of which is sent only once the handler runs).
TEST_F(ServerTest, QueueWaitDoesNotCountAgainstRequestTimeout) {
  boost::asio::thread_pool one(1);  // a handler executor busy with other work for a while
  std::atomic<bool> release{false};
  std::atomic<bool> started{false};
  ServerOptions o = serverOptions();
  o.handler_executor = one.get_executor();
  o.request_timeout = 300ms;
  Server& s = startServer(o, [&](Server& s) {
    ASSERT_TRUE(s.addRoute("POST", "/echo", {}, [&](Request& req, Response& res) {
                   started = true;
                   PKGXFER_ASSIGN_OR_RETURN(std::string body, req.readBody(100));
                   return res.send(200, body, "text/plain");
                 }).ok());
  });
  boost::asio::post(one, [&] { waitFor([&] { return release.load(); }, 30s); });
  RawSocket sock(s.port());
  ASSERT_TRUE(sock.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234"));
  ASSERT_TRUE(waitFor([&] { return s.stats().handlers == 1; }));  // posted, waiting
  // Not a wait for an event: the queue wait must outlast request_timeout, and only time does that.
  std::this_thread::sleep_for(2 * o.request_timeout);
  release = true;
  ASSERT_TRUE(waitFor([&] { return started.load(); }));
  ASSERT_TRUE(sock.send("56789"));
  auto r = sock.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "0123456789");
  EXPECT_TRUE(stopServer(s));
}

// Verifies handler_queue_timeout: a request that gets no handler thread in time is answered 503
// (Retry-After) and its handler never runs, even once the executor gets to it.
TEST_F(ServerTest, RequestWaitingTooLongForAThreadGets503) {
  boost::asio::thread_pool one(1);
  std::atomic<bool> release{false};
  std::atomic<int> runs{0};
  ServerOptions o = serverOptions();
  o.handler_executor = one.get_executor();
  o.handler_queue_timeout = 200ms;
  Server& s = startServer(o, [&](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, [&](Request&, Response& res) {
                   ++runs;
                   return res.send(200, "x", "text/plain");
                 }).ok());
  });
  struct Release {
    std::atomic<bool>& flag;
    ~Release() { flag = true; }  // an early return must not leave the pool blocked
  } guard{release};
  boost::asio::post(one, [&] { waitFor([&] { return release.load(); }, 30s); });
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/x");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("Retry-After"), "1");
  EXPECT_NE(r->body.find("no handler thread"), std::string::npos) << r->body;
  EXPECT_EQ(s.stats().busy, 1u);
  release = true;
  ASSERT_TRUE(waitFor([&] { return s.stats().handlers == 0; }));  // the pool got to it
  EXPECT_EQ(runs.load(), 0);
  r = client->get(within(5s), "/x");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_TRUE(stopServer(s));
}

// Verifies that refusals (503 for max_connections) are themselves bounded: past
// max_refusals_in_flight a connection is closed at once, unanswered.
TEST_F(ServerTest, RefusalsInFlightAreBounded) {
  ServerOptions o = serverOptions();
  o.max_connections = 1;
  o.max_refusals_in_flight = 1;
  Server& s =
      startServer(o, [](Server& s) { ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok()); });
  RawSocket a(s.port());
  ASSERT_TRUE(a.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = a.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  RawSocket b(s.port());  // refused: answered, and held by the server's linger while b stays
  r = b.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  ASSERT_EQ(s.stats().refusals_in_flight, 1u);
  RawSocket c(s.port());  // one refusal too many
  EXPECT_TRUE(c.waitClosed(5s));
  EXPECT_TRUE(c.received().empty()) << c.received();
  EXPECT_EQ(s.stats().refused, 1u);
  EXPECT_EQ(s.stats().dropped, 1u);
}

// Verifies that a new connection that sends nothing is closed at request_timeout, not left to
// idle for idle_timeout.
TEST_F(ServerTest, FirstRequestIsHeldToRequestTimeout) {
  ServerOptions o = serverOptions();
  o.request_timeout = 300ms;
  o.idle_timeout = 60s;
  Server& s =
      startServer(o, [](Server& s) { ASSERT_TRUE(s.addRoute("GET", "/x", {}, fixed("x")).ok()); });
  RawSocket silent(s.port());
  const auto t0 = Clock::now();
  EXPECT_TRUE(silent.waitClosed(10s));  // idle_timeout would be 60 s
  EXPECT_GE(Clock::now() - t0, 250ms);
  EXPECT_TRUE(silent.received().empty());
}

// Verifies that a handler's stop token fires when its client goes away while it runs.
TEST_F(ServerTest, StopTokenFiresWhenTheClientGoesAway) {
  std::atomic<bool> started{false};
  std::promise<bool> saw_stop;
  Server& s = startServer(serverOptions(), [&](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/wait", {}, [&](Request& req, Response&) {
                   started = true;
                   saw_stop.set_value(
                       waitFor([&] { return req.stopToken().stop_requested(); }, 20s));
                   return Status::Cancelled("the client went away");
                 }).ok());
  });
  {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(waitFor([&] { return started.load(); }));
  }  // the client goes away
  auto fut = saw_stop.get_future();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(fut.get());
  EXPECT_TRUE(waitFor([&] { return s.stats().open_connections == 0; }));
}

// Verifies that a stop() landing while start() runs leaves no server accepting after `done`:
// start() fails with Cancelled and the port is closed.
TEST_F(ServerTest, StopDuringStartLeavesNothingRunning) {
  Server server(io_, serverOptions());
  ASSERT_TRUE(server.addRoute("GET", "/x", {}, fixed("x")).ok());
  std::atomic<bool> done{false};
  std::uint16_t port = 0;
  detail::ServerTestAccess::setStartHook(server, [&](std::uint16_t p) {
    port = p;
    server.stop([&] { done = true; });
  });
  Status st = server.start();
  EXPECT_EQ(st.code(), Status::Code::Cancelled) << st.toString();
  EXPECT_TRUE(waitFor([&] { return done.load(); }));
  ASSERT_NE(port, 0);
  EXPECT_FALSE(RawSocket(port).connected());
  EXPECT_EQ(server.port(), 0);
}

// Verifies that a content type cannot inject headers, and that Content-Type cannot be added twice.
TEST_F(ServerTest, ContentTypeIsCheckedLikeAnyHeader) {
  std::mutex mu;
  std::vector<Status> results;
  auto record = [&](Status st) {
    std::lock_guard<std::mutex> lock(mu);
    results.push_back(std::move(st));
  };
  Server& s = startServer(serverOptions(), [&](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/send", {}, [&](Request&, Response& res) {
                   record(res.send(200, "x", "text/plain\r\nSet-Cookie: evil=1"));
                   return res.send(200, "ok", "text/plain");
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/stream", {}, [&](Request&, Response& res) {
                   record(res.beginStream(200, 2, "text/plain\nSet-Cookie: evil=1"));
                   return res.send(200, "ok", "text/plain");
                 }).ok());
    ASSERT_TRUE(s.addRoute("GET", "/twice", {}, [&](Request&, Response& res) {
                   record(res.addHeader("Content-Type", "text/html"));
                   return res.send(200, "ok", "text/plain");
                 }).ok());
  });
  auto client = makeClient(s.port());
  for (const char* target : {"/send", "/stream", "/twice"}) {
    auto r = client->get(within(5s), target);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(r->status, 200) << target;
    EXPECT_EQ(r->body, "ok") << target;
    EXPECT_TRUE(r->header("Set-Cookie").empty()) << target;
    int content_types = 0;
    for (const Header& h : r->headers) content_types += h.name == "Content-Type";
    EXPECT_EQ(content_types, 1) << target;
    EXPECT_EQ(r->header("Content-Type"), "text/plain") << target;
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(results.size(), 3u);
  for (const Status& st : results) {
    EXPECT_EQ(st.code(), Status::Code::InvalidArgument) << st.toString();
  }
}

// Verifies that readBody(SIZE_MAX), "no limit", reads a chunked body (the limit arithmetic must
// not wrap).
TEST_F(ServerTest, ReadBodyWithoutLimitReadsAChunkedBody) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(
        s.addRoute("POST", "/echo", {}, echoBody(std::numeric_limits<std::size_t>::max())).ok());
  });
  RawSocket sock(s.port());
  ASSERT_TRUE(
      sock.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto r = sock.readResponse(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello world");
}

// Verifies that a client closing its connection in the middle of a chunked body is Unavailable
// (it went away), not a malformed request.
TEST_F(ServerTest, ClientGoneMidChunkedBodyIsUnavailable) {
  std::promise<Status> read_result;
  Server& s = startServer(serverOptions(), [&](Server& s) {
    ASSERT_TRUE(s.addRoute("POST", "/up", {}, [&](Request& req, Response&) {
                   auto body = req.readBody(1 << 20);
                   read_result.set_value(body.status());
                   return body.status();
                 }).ok());
  });
  {
    RawSocket sock(s.port());
    ASSERT_TRUE(
        sock.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"));
  }
  auto fut = read_result.get_future();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  Status st = fut.get();
  EXPECT_EQ(st.code(), Status::Code::Unavailable) << st.toString();
  EXPECT_NE(st.message().find("mid-body"), std::string::npos) << st.toString();
}

}  // namespace
}  // namespace pkgxfer::http
