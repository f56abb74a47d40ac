// Routes, named segments, 404/405, HEAD, and paths that try to escape.

#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http/http_test_util.h"
#include "pkgxfer/http/server.h"

namespace pkgxfer::http {
namespace {

using namespace std::chrono_literals;
using testing::HttpTest;
using testing::RawSocket;

class RoutingTest : public HttpTest {
 protected:
  // GET /v1/files/{sha256} echoes its segment; PUT /v1/content/{pkg}/{ver} echoes both and the
  // body; GET /v1/files/list is a literal; every handler run is counted.
  Server& startRoutes() {
    return startServer(serverOptions(), [this](Server& s) {
      ASSERT_TRUE(s.addRoute("GET", "/v1/files/{sha256}", {}, [this](Request& req, Response& res) {
                     ++runs_;
                     return res.sendJson(200, {{"sha256", req.param("sha256")},
                                               {"head", req.isHead()},
                                               {"method", req.method()}});
                   }).ok());
      ASSERT_TRUE(s.addRoute("GET", "/v1/files/list", {}, [this](Request&, Response& res) {
                     ++runs_;
                     return res.send(200, "literal", "text/plain");
                   }).ok());
      ASSERT_TRUE(
          s.addRoute("PUT", "/v1/content/{pkg}/{ver}", {}, [this](Request& req, Response& res) {
             ++runs_;
             PKGXFER_ASSIGN_OR_RETURN(std::string body, req.readBody(1024));
             return res.sendJson(
                 201, {{"pkg", req.param("pkg")}, {"ver", req.param("ver")}, {"body", body}});
           }).ok());
      ASSERT_TRUE(
          s.addRoute("DELETE", "/v1/content/{pkg}/{ver}", {}, [this](Request&, Response& res) {
             ++runs_;
             return res.send(204, "");
           }).ok());
    });
  }

  std::atomic<int> runs_{0};
};

// Verifies that handlers get the decoded named segments of their route.
TEST_F(RoutingTest, ServesNamedSegments) {
  Server& s = startRoutes();
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/v1/files/3a4f");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["sha256"], "3a4f");
  EXPECT_EQ(r->header("Content-Type"), "application/json");

  ClientRequest put;
  put.method = "PUT";
  put.target = "/v1/content/PS100001/3";
  put.body = "manifest";
  auto p = client->request(within(5s), put);
  ASSERT_TRUE(p.ok()) << p.status().toString();
  EXPECT_EQ(p->status, 201);
  auto j = nlohmann::json::parse(p->body);
  EXPECT_EQ(j["pkg"], "PS100001");
  EXPECT_EQ(j["ver"], "3");
  EXPECT_EQ(j["body"], "manifest");

  ClientRequest del;
  del.method = "DELETE";
  del.target = "/v1/content/PS100001/3";
  auto d = client->request(within(5s), del);
  ASSERT_TRUE(d.ok()) << d.status().toString();
  EXPECT_EQ(d->status, 204);
  EXPECT_TRUE(d->body.empty());
}

// Verifies that percent-encoded characters that are harmless arrive decoded.
TEST_F(RoutingTest, DecodesPercentEncodedSegments) {
  Server& s = startRoutes();
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/v1/files/a%20b%41?x=1");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["sha256"], "a bA");
}

// Verifies that a literal segment wins over a named one where both match.
TEST_F(RoutingTest, LiteralSegmentWinsOverNamed) {
  Server& s = startRoutes();
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/v1/files/list");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "literal");
}

// Verifies that an unknown path gets 404 and a known path with another method 405 with Allow,
// both with the JSON error body, and no handler runs.
TEST_F(RoutingTest, UnknownPathIs404AndOtherMethodIs405) {
  Server& s = startRoutes();
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/v1/nothing/here");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["status"], 404);
  EXPECT_FALSE(j["error"].get<std::string>().empty());

  ClientRequest post;
  post.method = "POST";
  post.target = "/v1/files/abc";
  auto p = client->request(within(5s), post);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->status, 405);
  EXPECT_EQ(p->header("Allow"), "GET, HEAD");
  EXPECT_EQ(nlohmann::json::parse(p->body)["status"], 405);

  post.target = "/v1/content/PS100001/1";
  p = client->request(within(5s), post);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->header("Allow"), "DELETE, PUT");
  EXPECT_EQ(runs_.load(), 0);
  // Neither error cost the connection: it had no body.
  EXPECT_EQ(client->stats().connections_opened, 1u);
}

// Verifies that a GET route answers HEAD with the headers and no body.
TEST_F(RoutingTest, GetRouteAnswersHeadWithoutBody) {
  Server& s = startRoutes();
  RawSocket sock(s.port());
  ASSERT_TRUE(
      sock.send("HEAD /v1/files/abc HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /v1/files/abc HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = sock.readResponse(5s, /*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  auto get = sock.readResponse(5s);
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  // The HEAD had the Content-Length of its own would-be body (which says "head":true and
  // "method":"HEAD", as long as the GET's "head":false and "method":"GET") and sent nothing
  // after its head: the GET's response was read right after it, intact.
  EXPECT_EQ(head->header("content-length"), std::to_string(get->body.size()));
  EXPECT_EQ(nlohmann::json::parse(get->body)["head"], false);
  EXPECT_TRUE(sock.received().empty());
}

// Verifies that a HEAD route of its own takes precedence over the GET route.
TEST_F(RoutingTest, HeadRouteOfItsOwnWins) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/x", {}, [](Request&, Response& res) {
                   return res.send(200, "get");
                 }).ok());
    ASSERT_TRUE(s.addRoute("HEAD", "/x", {}, [](Request&, Response& res) {
                   EXPECT_TRUE(res.addHeader("X-Head", "own").ok());
                   return res.beginStream(200, 5);
                 }).ok());
  });
  auto client = makeClient(s.port());
  ClientRequest head;
  head.method = "HEAD";
  head.target = "/x";
  auto r = client->request(within(5s), head);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->header("X-Head"), "own");
  EXPECT_EQ(r->header("Content-Length"), "5");
  EXPECT_TRUE(r->body.empty());
  auto g = client->get(within(5s), "/x");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->body, "get");
}

// Verifies that every way of smuggling a path separator, a dot segment or a control character
// into a segment is answered 400 before any handler runs.
TEST_F(RoutingTest, TraversalAttemptsAre400BeforeAnyHandler) {
  Server& s = startRoutes();
  const std::vector<std::string> targets = {
      "/v1/files/../../etc/passwd",
      "/v1/files/..",
      "/v1/files/.",
      "/v1/files/%2e%2e",
      "/v1/files/%2E%2e%2fetc%2fpasswd",
      "/v1/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/v1/files/a%2Fb",
      "/v1/files/a%2fb",
      "/v1/files/a%5Cb",
      "/v1/files/..%5C..%5Cwindows",
      "/v1/files/a%00b",
      "/v1/files/%00",
      "/v1/files/C%3A",
      "/v1/files/a%0d%0aX-Injected:%201",
      "/v1/files/%zz",
      "/v1/files/%4",
      "/v1/files//etc",
      "/v1/files/abc/",
      "/v1/content/PS1/..%2f..%2f..",
  };
  for (const std::string& target : targets) {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 400) << target;
    EXPECT_EQ(nlohmann::json::parse(r->body)["status"], 400) << target;
  }
  // A raw NUL and a raw backslash in the target.
  for (const std::string& target :
       {std::string("/v1/files/a\0b", 13), std::string("/v1/files/a\\b")}) {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
  EXPECT_EQ(runs_.load(), 0);
}

// Verifies that addRoute rejects malformed patterns and methods, and a second identical route.
TEST_F(RoutingTest, AddRouteRejectsBadRoutes) {
  Server s(io_, serverOptions());
  auto ok = [](Request&, Response& res) { return res.send(200, ""); };
  EXPECT_TRUE(s.addRoute("GET", "/v1/files/{sha256}", {}, ok).ok());
  EXPECT_EQ(s.addRoute("GET", "/v1/files/{other}", {}, ok).code(), Status::Code::AlreadyExists);
  EXPECT_TRUE(s.addRoute("PUT", "/v1/files/{sha256}", {}, ok).ok());
  for (const char* bad :
       {"v1/files", "/v1//files", "/v1/{a}/{a}", "/v1/{a-b}", "/v1/..", "/v1/fi%20les", "/v1/{}"}) {
    EXPECT_EQ(s.addRoute("GET", bad, {}, ok).code(), Status::Code::InvalidArgument) << bad;
  }
  EXPECT_EQ(s.addRoute("get", "/x", {}, ok).code(), Status::Code::InvalidArgument);
  EXPECT_EQ(s.addRoute("GET", "/x", {}, nullptr).code(), Status::Code::InvalidArgument);
  ASSERT_TRUE(s.start().ok());
  EXPECT_EQ(s.addRoute("GET", "/late", {}, ok).code(), Status::Code::InvalidArgument);
  EXPECT_TRUE(stopServer(s));
}

// Verifies Request::query(): percent-decoded names and values, "" for a name without a value,
// nullopt when absent, '+' kept; the query takes no part in matching.
TEST_F(RoutingTest, QueryParametersAreDecoded) {
  Server& s = startServer(serverOptions(), [](Server& s) {
    ASSERT_TRUE(s.addRoute("GET", "/q/{id}", {}, [](Request& req, Response& res) {
                   nlohmann::json j = nlohmann::json::object();
                   for (const char* name : {"a", "b", "c", "d", "e f", "missing"}) {
                     const auto v = req.query(name);
                     j[name] = v ? nlohmann::json(*v) : nlohmann::json();
                   }
                   j["id"] = req.param("id");
                   return res.sendJson(200, j);
                 }).ok());
  });
  auto client = makeClient(s.port());
  auto r = client->get(within(5s), "/q/7?a=1%202&b=&c&d=http%3A%2F%2Fdp%2Fx&&e%20f=1+2&a=second");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->status, 200) << r->body;
  const auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["id"], "7");
  EXPECT_EQ(j["a"], "1 2");  // the first of two
  EXPECT_EQ(j["b"], "");
  EXPECT_EQ(j["c"], "");
  EXPECT_EQ(j["d"], "http://dp/x");  // not a path segment: '/' and ':' are fine
  EXPECT_EQ(j["e f"], "1+2");
  EXPECT_TRUE(j["missing"].is_null());
}

// Verifies that a query with a bad percent-encoding or a control character is answered 400 before
// the handler runs.
TEST_F(RoutingTest, BadQueryIs400BeforeTheHandler) {
  Server& s = startRoutes();
  for (const std::string target :
       {"/v1/files/ab?x=%zz", "/v1/files/ab?x=%4", "/v1/files/ab?x=a%00b", "/v1/files/ab?%0a=1",
        "/v1/files/ab?x=%7f", "/v1/files/ab?x=1#frag"}) {
    RawSocket sock(s.port());
    ASSERT_TRUE(sock.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = sock.readResponse(5s);
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 400) << target;
  }
  EXPECT_EQ(runs_.load(), 0);
}

}  // namespace
}  // namespace pkgxfer::http
