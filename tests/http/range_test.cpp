// Byte ranges: parsing Range and Content-Range, and serveSized's 200/206/416 answers.

#include <atomic>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "http/http_test_util.h"
#include "pkgxfer/http/client.h"
#include "pkgxfer/http/range.h"

namespace pkgxfer::http {
namespace {

using namespace std::chrono_literals;
using testing::HttpTest;
using Kind = RangeRequest::Kind;

// Verifies the Range forms of RFC 9110 against a 1000-byte body.
TEST(RangeTest, ParsesSingleRanges) {
  struct Case {
    const char* header;
    Kind kind;
    std::uint64_t first, last;
  };
  const Case cases[] = {
      {"", Kind::Whole, 0, 0},
      {"bytes=0-499", Kind::Partial, 0, 499},
      {"bytes=500-999", Kind::Partial, 500, 999},
      {"bytes=500-5000", Kind::Partial, 500, 999},  // clipped to the body
      {"bytes=900-", Kind::Partial, 900, 999},
      {"bytes=-100", Kind::Partial, 900, 999},
      {"bytes=-5000", Kind::Partial, 0, 999},
      {" bytes= 10-20 ", Kind::Partial, 10, 20},
      {"bytes = 10-20", Kind::Whole, 0, 0},
      {"BYTES=1-1", Kind::Partial, 1, 1},
      {"bytes=999-999", Kind::Partial, 999, 999},
      {"bytes=1000-", Kind::Unsatisfiable, 0, 0},
      {"bytes=1000-2000", Kind::Unsatisfiable, 0, 0},
      {"bytes=99999999999999999999999-", Kind::Unsatisfiable, 0, 0},
      {"bytes=-0", Kind::Unsatisfiable, 0, 0},
      {"bytes=5-4", Kind::Whole, 0, 0},  // invalid: ignored
      {"bytes=0-1,5-6", Kind::Whole, 0, 0},
      {"items=0-1", Kind::Whole, 0, 0},
      {"bytes=a-b", Kind::Whole, 0, 0},
      {"bytes=-", Kind::Whole, 0, 0},
      {"bytes=1", Kind::Whole, 0, 0},
      {"bytes=+1-2", Kind::Whole, 0, 0},
  };
  for (const Case& c : cases) {
    RangeRequest r = parseRange(c.header, 1000);
    EXPECT_EQ(r.kind, c.kind) << c.header;
    if (c.kind == Kind::Partial) {
      EXPECT_EQ(r.range.first, c.first) << c.header;
      EXPECT_EQ(r.range.last, c.last) << c.header;
    }
  }
  EXPECT_EQ(parseRange("bytes=0-", 0).kind, Kind::Unsatisfiable);
  EXPECT_EQ(parseRange("bytes=-1", 0).kind, Kind::Unsatisfiable);
}

// Verifies Content-Range parsing and the helpers' formats.
TEST(RangeTest, ParsesContentRange) {
  auto a = parseContentRange("bytes 500-999/1000");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->satisfied);
  EXPECT_EQ(a->range.first, 500u);
  EXPECT_EQ(a->range.last, 999u);
  EXPECT_EQ(a->complete_length, 1000u);
  auto b = parseContentRange("bytes 0-9/*");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->complete_length.has_value());
  auto c = parseContentRange("bytes */1000");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->satisfied);
  EXPECT_EQ(c->complete_length, 1000u);
  for (const char* bad : {"", "bytes", "bytes 5-4/10", "bytes 0-10/10", "bytes */*", "items 0-1/2",
                          "bytes 0-1", "bytes x-1/2"}) {
    EXPECT_FALSE(parseContentRange(bad).ok()) << bad;
  }
  EXPECT_EQ(rangeFrom(12345), "bytes=12345-");
  EXPECT_EQ(contentRange({10, 19}, 100), "bytes 10-19/100");
}

class ServeSizedTest : public HttpTest {
 protected:
  void SetUp() override {
    body_.resize(100000);
    testing::fillPattern(body_.data(), body_.size(), 0);
    server_ = &startServer(serverOptions(), [this](Server& s) {
      ASSERT_TRUE(s.addRoute("GET", "/v1/files/{sha256}", {}, [this](Request& req, Response& res) {
                     ServeSizedOptions o;
                     o.etag = "\"" + req.param("sha256") + "\"";
                     o.chunk_bytes = 4096;
                     return serveSized(
                         req, res, body_.size(),
                         [this](std::uint64_t offset, char* buf, std::size_t size) {
                           ++reads_;
                           std::memcpy(buf, body_.data() + offset, size);
                           return Result<std::size_t>(size);
                         },
                         o);
                   }).ok());
    });
    client_ = makeClient(server_->port());
  }

  Result<ClientResponse> get(Headers headers, std::string method = "GET") {
    ClientRequest req;
    req.method = std::move(method);
    req.target = "/v1/files/abc";
    req.headers = std::move(headers);
    return client_->request(within(10s), req);
  }

  std::string body_;
  std::atomic<int> reads_{0};
  Server* server_ = nullptr;
  std::unique_ptr<Client> client_;
};

// Verifies 200 for the whole body, 206 with Content-Range for a range, and resuming with
// rangeFrom().
TEST_F(ServeSizedTest, AnswersWholeAndPartial) {
  auto whole = get({});
  ASSERT_TRUE(whole.ok()) << whole.status().toString();
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->body, body_);
  EXPECT_EQ(whole->header("Accept-Ranges"), "bytes");
  EXPECT_EQ(whole->header("ETag"), "\"abc\"");

  auto part = get({{"Range", rangeFrom(60000)}});
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, body_.substr(60000));
  auto cr = parseContentRange(part->header("Content-Range"));
  ASSERT_TRUE(cr.ok()) << cr.status().toString();
  EXPECT_EQ(cr->range.first, 60000u);
  EXPECT_EQ(cr->range.last, 99999u);
  EXPECT_EQ(cr->complete_length, 100000u);

  auto middle = get({{"Range", "bytes=10-19"}});
  ASSERT_TRUE(middle.ok());
  EXPECT_EQ(middle->status, 206);
  EXPECT_EQ(middle->body, body_.substr(10, 10));
  EXPECT_EQ(middle->header("Content-Range"), "bytes 10-19/100000");

  auto suffix = get({{"Range", "bytes=-5"}});
  ASSERT_TRUE(suffix.ok());
  EXPECT_EQ(suffix->body, body_.substr(99995));
}

// Verifies 416 with "Content-Range: bytes */size" for a range past the end.
TEST_F(ServeSizedTest, RangePastTheEndIs416) {
  auto r = get({{"Range", rangeFrom(100000)}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 416);
  EXPECT_EQ(r->header("Content-Range"), "bytes */100000");
  EXPECT_EQ(nlohmann::json::parse(r->body)["status"], 416);
  auto cr = parseContentRange(r->header("Content-Range"));
  ASSERT_TRUE(cr.ok());
  EXPECT_FALSE(cr->satisfied);
  EXPECT_EQ(responseStatus(*r).code(), Status::Code::InvalidArgument);
}

// Verifies If-Range: a matching ETag keeps the range, another one gets the whole body; several
// ranges get the whole body too.
TEST_F(ServeSizedTest, IfRangeAndMultipleRanges) {
  auto same = get({{"Range", "bytes=0-9"}, {"If-Range", "\"abc\""}});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->status, 206);
  auto changed = get({{"Range", "bytes=0-9"}, {"If-Range", "\"other\""}});
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->status, 200);
  EXPECT_EQ(changed->body.size(), body_.size());
  auto several = get({{"Range", "bytes=0-9,20-29"}});
  ASSERT_TRUE(several.ok());
  EXPECT_EQ(several->status, 200);
}

// Verifies HEAD: the status and headers of the GET, no body and no read of it.
TEST_F(ServeSizedTest, HeadReadsNothing) {
  auto h = get({{"Range", "bytes=100-199"}}, "HEAD");
  ASSERT_TRUE(h.ok()) << h.status().toString();
  EXPECT_EQ(h->status, 206);
  EXPECT_EQ(h->header("Content-Length"), "100");
  EXPECT_EQ(h->header("Content-Range"), "bytes 100-199/100000");
  EXPECT_TRUE(h->body.empty());
  EXPECT_EQ(reads_.load(), 0);
}

}  // namespace
}  // namespace pkgxfer::http
