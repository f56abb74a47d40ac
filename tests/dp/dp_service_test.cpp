// The dp component's HTTP API (docs/http-api.md) on real sockets: see dp_fixture.h. Every
// endpoint; Range on GET/HEAD /v1/files; the token on every route that changes something;
// hostile paths, heads and bodies; slow clients; concurrent uploads; a DP restart mid-upload.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "dp/dp_fixture.h"
#include "pkgxfer/content/manifest.h"

namespace pkgxfer::dp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using http::testing::fillPattern;
using http::testing::RawResponse;
using http::testing::RawSocket;
using http::testing::sha256Hex;
using nlohmann::json;
using testing::kToken;

constexpr const char* kPkg = "PS100001";
constexpr const char* kOwner = "PS100001";

struct Body {
  std::string data;
  std::string sha;
};

Body makeBody(std::size_t size, std::uint32_t seed) {
  Body b;
  b.data.resize(size);
  fillPattern(b.data.data(), size, 0, seed);
  b.sha = sha256Hex(b.data);
  return b;
}

json jsonOf(const http::ClientResponse& r) { return json::parse(r.body, nullptr, false); }
json jsonOf(const RawResponse& r) { return json::parse(r.body, nullptr, false); }

std::string reasonOf(const http::ClientResponse& r) {
  const json j = jsonOf(r);
  return j.is_object() && j.contains("reason") && j["reason"].is_string()
             ? j["reason"].get<std::string>()
             : std::string("<no reason in: " + r.body + ">");
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// A manifest of `package` v`version` with one file per body.
content::Manifest manifestOf(const std::vector<const Body*>& bodies, std::uint64_t version = 1,
                             std::string package = kPkg) {
  content::Manifest m;
  m.package_id = std::move(package);
  m.version = version;
  m.name = "Test";
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    content::ManifestFile f;
    f.path = "dir/file" + std::to_string(i) + ".bin";
    f.size = bodies[i]->data.size();
    f.sha256 = bodies[i]->sha;
    f.attributes = 0644;
    m.files.push_back(f);
  }
  content::canonicalizeManifest(m);
  return m;
}

// A request head for a RawSocket; `token` empty: no Authorization.
std::string rawHead(std::string_view method, std::string_view target, std::string_view token = {},
                    std::optional<std::uint64_t> content_length = std::nullopt,
                    std::string_view extra_headers = {}) {
  std::string h =
      std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) h += "Authorization: Bearer " + std::string(token) + "\r\n";
  if (content_length) h += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  h += extra_headers;
  h += "\r\n";
  return h;
}

class DpServiceTest : public testing::DpFixture {
 protected:
  void SetUp() override { startDp(); }
  void TearDown() override { dropClients(); }

  // The clients' pooled connections do not survive a DP restart: new clients after one.
  void dropClients() {
    site_.reset();
    anon_.reset();
  }
  void restart() {
    dropClients();
    restartDp();
  }

  std::unique_ptr<http::Client> client(std::string token) {
    http::ClientOptions o;
    o.bearer_token = std::move(token);
    o.io_timeout = 30s;
    return makeClient(port_, std::move(o));
  }
  // The site's client (with the token) and an anonymous one.
  http::Client& site() {
    if (!site_) site_ = client(kToken);
    return *site_;
  }
  http::Client& anon() {
    if (!anon_) anon_ = client("");
    return *anon_;
  }

  // One buffered request; a transport failure fails the test and gives status 0.
  static http::ClientResponse call(http::Client& c, std::string method, std::string target,
                                   std::string body = {}, http::Headers headers = {},
                                   std::string content_type = "application/octet-stream") {
    http::ClientRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.headers = std::move(headers);
    if (!body.empty() || req.method == "PUT") req.content_type = std::move(content_type);
    req.body = std::move(body);
    auto r = c.request(within(60s), req);
    EXPECT_TRUE(r.ok()) << req.method << " " << req.target << ": " << r.status().toString();
    return r.ok() ? std::move(*r) : http::ClientResponse{};
  }
  static http::ClientResponse sendJson(http::Client& c, std::string method, std::string target,
                                       const json& body) {
    return call(c, std::move(method), std::move(target), body.dump(), {}, "application/json");
  }
  http::ClientResponse get(std::string target, http::Headers headers = {}) {
    return call(anon(), "GET", std::move(target), {}, std::move(headers));
  }
  http::ClientResponse head(std::string target, http::Headers headers = {}) {
    return call(anon(), "HEAD", std::move(target), {}, std::move(headers));
  }

  // One request on a fresh raw socket ("Connection: close"); the response, or status 0.
  RawResponse raw(std::string_view method, std::string_view target, std::string_view token = {},
                  std::string_view body = {}) {
    RawSocket sock(port_);
    EXPECT_TRUE(sock.connected());
    sock.send(rawHead(
        method, target, token,
        body.empty() && method != "PUT" ? std::nullopt : std::optional<std::uint64_t>(body.size()),
        "Connection: close\r\n"));
    sock.send(body);
    auto r = sock.readResponse(20s, method == "HEAD");
    EXPECT_TRUE(r.has_value()) << method << " " << target << ": no response";
    return r.value_or(RawResponse{});
  }

  // ---- the library on disk ----

  fs::path bodyFile(const std::string& sha) const {
    return root_ / "FileLib" / sha.substr(0, 4) / sha;
  }
  bool hasBodyFile(const Body& b) const {
    std::error_code ec;
    return fs::is_regular_file(fs::symlink_status(bodyFile(b.sha), ec));
  }
  std::string bodyFileContent(const Body& b) const {
    return pkgxfer::testing::readFile(bodyFile(b.sha));
  }
  // Every temporary file in the library (".<name>....partial", legacy ".tmp"), relative paths.
  std::vector<std::string> temporaryFiles() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.size() > 1 && name.front() == '.' &&
          (name.ends_with(".partial") || name.ends_with(".tmp"))) {
        out.push_back(fs::relative(it->path(), root_).string());
      }
    }
    return out;
  }
  // Everything under the root: relative path -> "dir", "link -> target" or "<size> <sha256>".
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string rel = fs::relative(it->path(), root_).string();
      const fs::file_status st = fs::symlink_status(it->path());
      if (fs::is_symlink(st)) {
        out[rel] = "link -> " + fs::read_symlink(it->path()).string();
      } else if (fs::is_directory(st)) {
        out[rel] = "dir";
      } else {
        const std::string data = pkgxfer::testing::readFile(it->path());
        out[rel] = std::to_string(data.size()) + " " + sha256Hex(data);
      }
    }
    EXPECT_FALSE(ec) << ec.message();
    return out;
  }

  // ---- protocol steps that must succeed ----

  // PUT /v1/files/{sha}: 201.
  void putFile(const Body& b) {
    auto r = call(site(), "PUT", "/v1/files/" + b.sha, b.data);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // PUT /v1/content/{pkg}/{ver}: 200.
  void commit(const content::Manifest& m) {
    auto r = call(site(), "PUT", "/v1/content/" + m.package_id + "/" + std::to_string(m.version),
                  content::toJson(m), {}, "application/json");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // POST /v1/uploads: a resumable upload of `b` by kOwner (plus `extra` fields). Its answer.
  json openUpload(const Body& b, const json& extra = json::object()) {
    json req = {{"sha256", b.sha}, {"size", b.data.size()}, {"owner", kOwner}};
    for (const auto& [key, value] : extra.items()) req[key] = value;
    auto r = sendJson(site(), "POST", "/v1/uploads", req);
    EXPECT_EQ(r.status, 200) << r.body;
    json answer = jsonOf(r);
    EXPECT_TRUE(answer.is_object() && answer.contains("upload") && answer["upload"].is_string())
        << r.body;
    return answer.is_object() ? answer : json::object();
  }
  // PUT /v1/uploads/{id}: bytes [from, to) of `b`.
  http::ClientResponse putRange(const std::string& id, const Body& b, std::size_t from,
                                std::size_t to, bool checkpoint = false) {
    return call(site(), "PUT", "/v1/uploads/" + id + (checkpoint ? "?checkpoint=1" : ""),
                b.data.substr(from, to - from),
                {{"Content-Range", "bytes " + std::to_string(from) + "-" + std::to_string(to - 1) +
                                       "/" + std::to_string(b.data.size())}});
  }
  std::string uploadPath(const std::string& id, const Body& b) const {
    return (bodyFile(b.sha).parent_path() / id).string();
  }

  std::unique_ptr<http::Client> site_;
  std::unique_ptr<http::Client> anon_;
};

// ---- GET /v1/library, POST /v1/library ----------------------------------------------------------

TEST_F(DpServiceTest, LibraryReportsItsIdentityWritabilityAndFreeSpace) {
  auto r = get("/v1/library");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  const json j = jsonOf(r);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["name"], "dp01");
  EXPECT_EQ(j["site_code"], "") << "no site adopted the library yet";
  EXPECT_EQ(j["library_id"], library_->identity().library_id);
  EXPECT_EQ(j["library_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(j["writable"], true);
  EXPECT_FALSE(j.contains("writable_error"));
  EXPECT_GT(j["free_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(j["uploads_open"], 0);
  EXPECT_TRUE(temporaryFiles().empty()) << "the writability probe is gone";
}

TEST_F(DpServiceTest, AdoptRecordsTheSiteOnceAndRefusesAnother) {
  auto r = sendJson(site(), "POST", "/v1/library", {{"site_code", "PS1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["site_code"], "PS1");
  EXPECT_EQ(jsonOf(r)["library_id"], library_->identity().library_id);
  EXPECT_EQ(jsonOf(get("/v1/library"))["site_code"], "PS1");
  // Recorded in the identity file, so it survives a restart.
  const json identity =
      json::parse(pkgxfer::testing::readFile(root_ / content::kIdentityFileName), nullptr, false);
  EXPECT_EQ(identity["site_code"], "PS1");

  // The same site again: OK. Another site: 409, naming the owner; nothing changes.
  EXPECT_EQ(sendJson(site(), "POST", "/v1/library", {{"site_code", "PS1"}}).status, 200);
  auto other = sendJson(site(), "POST", "/v1/library", {{"site_code", "XY9"}});
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(reasonOf(other), "exists");
  EXPECT_NE(other.body.find("belongs to site PS1"), std::string::npos) << other.body;
  restart();
  EXPECT_EQ(jsonOf(get("/v1/library"))["site_code"], "PS1");
}

TEST_F(DpServiceTest, AdoptRefusesWhatIsNotASiteCode) {
  const auto before = snapshot();
  for (const json& code : {json(""), json("ps1"), json("PS12"), json("P/1"), json("../"),
                           json(std::string(300, 'A')), json(7), json(nullptr)}) {
    auto r = sendJson(site(), "POST", "/v1/library", {{"site_code", code}});
    EXPECT_EQ(r.status, 400) << code.dump() << ": " << r.body;
  }
  EXPECT_EQ(sendJson(site(), "POST", "/v1/library", json::object()).status, 400);
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(library_->identity().site_code, "");
  // A valid one is still taken afterwards.
  EXPECT_EQ(sendJson(site(), "POST", "/v1/library", {{"site_code", "AB0"}}).status, 200);
}

// ---- POST /v1/inventory -------------------------------------------------------------------------

TEST_F(DpServiceTest, InventoryListsThePresentBodiesInRequestOrder) {
  const Body a = makeBody(100, 1), b = makeBody(200, 2), c = makeBody(300, 3);
  putFile(a);
  putFile(c);
  // Anonymous: a read.
  auto r = sendJson(anon(), "POST", "/v1/inventory", {{"sha256", {c.sha, b.sha, a.sha, c.sha}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["present"], json({c.sha, a.sha, c.sha}));
  r = sendJson(anon(), "POST", "/v1/inventory", {{"sha256", json::array()}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["present"], json::array());

  // Anything but 64 lower-case hex digits is refused, naming it.
  for (const json& bad : {json(upper(a.sha)), json(a.sha.substr(0, 63)), json(a.sha + "0"),
                          json("../../etc/passwd"), json(5), json(nullptr)}) {
    auto refused = sendJson(anon(), "POST", "/v1/inventory", {{"sha256", {a.sha, bad}}});
    EXPECT_EQ(refused.status, 400) << bad.dump() << ": " << refused.body;
    EXPECT_EQ(reasonOf(refused), "invalid");
  }
  EXPECT_EQ(sendJson(anon(), "POST", "/v1/inventory", {{"sha", {a.sha}}}).status, 400);
  EXPECT_EQ(sendJson(anon(), "POST", "/v1/inventory", {{"sha256", a.sha}}).status, 400);
  EXPECT_EQ(sendJson(anon(), "POST", "/v1/inventory", json::array({a.sha})).status, 400);
  EXPECT_EQ(call(anon(), "POST", "/v1/inventory", "{not json", {}, "application/json").status, 400);
}

TEST_F(DpServiceTest, InventoryOfOneHundredThousandHashes) {
  const Body a = makeBody(10, 1), b = makeBody(20, 2), c = makeBody(30, 3);
  putFile(a);
  putFile(b);
  putFile(c);
  std::vector<std::string> shas;
  shas.reserve(100000);
  for (int i = 0; i < 100000; ++i) shas.push_back(sha256Hex("absent " + std::to_string(i)));
  shas[17] = b.sha;
  shas[50000] = a.sha;
  shas[99999] = c.sha;
  auto r = sendJson(anon(), "POST", "/v1/inventory", {{"sha256", shas}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
  EXPECT_EQ(jsonOf(r)["present"], json({b.sha, a.sha, c.sha}));

  // One more is over the limit: 400, saying so.
  shas.push_back(sha256Hex("one too many"));
  r = sendJson(anon(), "POST", "/v1/inventory", {{"sha256", shas}});
  EXPECT_EQ(r.status, 400) << r.body.substr(0, 500);
  EXPECT_NE(r.body.find("100001 hashes"), std::string::npos) << r.body.substr(0, 500);
}

// ---- GET/HEAD /v1/files/{sha256} ----------------------------------------------------------------

TEST_F(DpServiceTest, GetAndHeadServeABodyWithItsHashAsETag) {
  const Body a = makeBody(2 * 1024 * 1024 + 12345, 4);  // more than one 1 MiB block
  putFile(a);
  auto r = get("/v1/files/" + a.sha);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), a.data.size());
  EXPECT_TRUE(r.body == a.data);
  EXPECT_EQ(r.header("ETag"), "\"" + a.sha + "\"");
  EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r.header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(r.header("Content-Length"), std::to_string(a.data.size()));
  EXPECT_TRUE(r.header("Content-Range").empty());

  auto h = head("/v1/files/" + a.sha);
  ASSERT_EQ(h.status, 200);
  EXPECT_TRUE(h.body.empty());
  EXPECT_EQ(h.header("ETag"), "\"" + a.sha + "\"");
  EXPECT_EQ(h.header("Content-Length"), std::to_string(a.data.size()));
  EXPECT_EQ(h.header("Accept-Ranges"), "bytes");

  // An empty body is a body too.
  const Body empty = makeBody(0, 0);
  putFile(empty);
  r = get("/v1/files/" + empty.sha);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), "0");
  EXPECT_EQ(r.header("ETag"), "\"" + empty.sha + "\"");

  // Absent: 404, with the reason, for GET and HEAD.
  const Body absent = makeBody(10, 99);
  r = get("/v1/files/" + absent.sha);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(reasonOf(r), "not_found");
  EXPECT_EQ(head("/v1/files/" + absent.sha).status, 404);
}

TEST_F(DpServiceTest, RangeRequestsOnFiles) {
  const std::size_t size = 1024 * 1024 + 1000;  // crosses the 1 MiB read block
  const Body a = makeBody(size, 5);
  putFile(a);
  const std::string path = "/v1/files/" + a.sha;
  const std::string sz = std::to_string(size);
  auto partial = [&](const std::string& range, std::size_t first, std::size_t last) {
    SCOPED_TRACE(range);
    auto r = get(path, {{"Range", range}});
    ASSERT_EQ(r.status, 206) << r.body;
    EXPECT_EQ(r.header("Content-Range"),
              "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + sz);
    EXPECT_EQ(r.header("Content-Length"), std::to_string(last - first + 1));
    EXPECT_EQ(r.header("ETag"), "\"" + a.sha + "\"");
    EXPECT_TRUE(r.body == a.data.substr(first, last - first + 1));
  };
  partial("bytes=10-19", 10, 19);
  partial("bytes=0-0", 0, 0);
  partial("bytes=1048570-1048600", 1048570, 1048600);          // across the block boundary
  partial("bytes=-100", size - 100, size - 1);                 // suffix
  partial("bytes=-" + std::to_string(size * 3), 0, size - 1);  // suffix longer than the body
  partial("bytes=1000000-", 1000000, size - 1);                // open
  partial("bytes=" + std::to_string(size - 1) + "-", size - 1, size - 1);
  partial("bytes=5-" + std::to_string(size * 10), 5, size - 1);  // end clipped

  // Beyond the end: 416 with "bytes */size", and no body bytes.
  for (const std::string& range :
       {"bytes=" + sz + "-", "bytes=" + sz + "-" + sz + "0", std::string("bytes=-0")}) {
    SCOPED_TRACE(range);
    auto r = get(path, {{"Range", range}});
    EXPECT_EQ(r.status, 416);
    EXPECT_EQ(r.header("Content-Range"), "bytes */" + sz);
    EXPECT_LT(r.body.size(), 1000u);
    EXPECT_EQ(jsonOf(r)["status"], 416);
  }
  // Several ranges, a malformed or unknown-unit range: the whole body, 200.
  for (const std::string range :
       {"bytes=0-1,5-6", "bytes=0-1, -5", "bytes=9-3", "bytes=abc", "items=0-5"}) {
    SCOPED_TRACE(range);
    auto r = get(path, {{"Range", range}});
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.header("Content-Range").empty());
    EXPECT_TRUE(r.body == a.data);
  }
  // If-Range: the range only for the same ETag.
  auto r = get(path, {{"Range", "bytes=0-9"}, {"If-Range", "\"" + a.sha + "\""}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body.size(), 10u);
  r = get(path, {{"Range", "bytes=0-9"}, {"If-Range", "\"" + makeBody(1, 1).sha + "\""}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), size);

  // HEAD: the same status and headers, no body.
  auto h = head(path, {{"Range", "bytes=-100"}});
  EXPECT_EQ(h.status, 206);
  EXPECT_EQ(h.header("Content-Range"),
            "bytes " + std::to_string(size - 100) + "-" + std::to_string(size - 1) + "/" + sz);
  EXPECT_EQ(h.header("Content-Length"), "100");
  EXPECT_TRUE(h.body.empty());
  h = head(path, {{"Range", "bytes=" + sz + "-"}});
  EXPECT_EQ(h.status, 416);
  EXPECT_EQ(h.header("Content-Range"), "bytes */" + sz);
  h = head(path, {{"Range", "bytes=0-1,5-6"}});
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.header("Content-Length"), sz);
}

// ---- PUT /v1/files/{sha256} ---------------------------------------------------------------------

TEST_F(DpServiceTest, PutFileStoresAVerifiedBody) {
  const Body a = makeBody(3 * 1024 * 1024 + 17, 6);
  auto r = call(site(), "PUT", "/v1/files/" + a.sha, a.data);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(jsonOf(r), json({{"sha256", a.sha}, {"size", a.data.size()}}));
  ASSERT_TRUE(hasBodyFile(a));
  EXPECT_TRUE(bodyFileContent(a) == a.data);
  EXPECT_TRUE(temporaryFiles().empty());
  // The same body again is fine (idempotent), and changes nothing.
  r = call(site(), "PUT", "/v1/files/" + a.sha, a.data);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(bodyFileContent(a) == a.data);
  EXPECT_TRUE(temporaryFiles().empty());
  auto got = get("/v1/files/" + a.sha);
  EXPECT_EQ(got.status, 200);
  EXPECT_TRUE(got.body == a.data);
}

TEST_F(DpServiceTest, PutFileWithAHashMismatchLeavesNothing) {
  const Body a = makeBody(1024 * 1024 + 5, 7);
  std::string tampered = a.data;
  tampered[1000] ^= 0x20;
  auto r = call(site(), "PUT", "/v1/files/" + a.sha, tampered);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(reasonOf(r), "corrupt");
  EXPECT_NE(r.body.find(sha256Hex(tampered)), std::string::npos) << "names the actual hash";
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_TRUE(temporaryFiles().empty());
  EXPECT_EQ(get("/v1/files/" + a.sha).status, 404);
  EXPECT_EQ(jsonOf(sendJson(anon(), "POST", "/v1/inventory", {{"sha256", {a.sha}}}))["present"],
            json::array());
  EXPECT_NE(logText().find("Rejected the upload of " + a.sha), std::string::npos);
  // A staged upload with a mismatch: the same.
  r = call(site(), "PUT", "/v1/files/" + a.sha + "?stage=1&owner=" + kOwner, tampered);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_TRUE(temporaryFiles().empty());
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 0);
}

TEST_F(DpServiceTest, PutFileShorterThanDeclaredLeavesNothing) {
  const Body a = makeBody(256 * 1024, 8);
  {
    RawSocket sock(port_);
    ASSERT_TRUE(sock.connected());
    ASSERT_TRUE(sock.send(rawHead("PUT", "/v1/files/" + a.sha, kToken, a.data.size())));
    ASSERT_TRUE(sock.send(std::string_view(a.data).substr(0, a.data.size() - 1000)));
  }  // closed with 1000 bytes missing
  ASSERT_TRUE(pkgxfer::testing::waitFor(
      [&] { return logText().find("Upload of " + a.sha) != std::string::npos; }, 20s))
      << logText();
  EXPECT_NE(logText().find("not completed"), std::string::npos) << logText();
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return dp_->stats().handlers == 0; }, 20s));
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());

  // Half-closed instead (the client says it is done): the same.
  const Body b = makeBody(100 * 1024, 9);
  {
    RawSocket sock(port_);
    ASSERT_TRUE(sock.send(rawHead("PUT", "/v1/files/" + b.sha, kToken, b.data.size())));
    ASSERT_TRUE(sock.send(std::string_view(b.data).substr(0, 10)));
    sock.shutdownSend();
    EXPECT_TRUE(sock.waitClosed(20s));
  }
  ASSERT_TRUE(pkgxfer::testing::waitFor(
      [&] { return logText().find("Upload of " + b.sha) != std::string::npos; }, 20s));
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return dp_->stats().handlers == 0; }, 20s));
  EXPECT_FALSE(hasBodyFile(b));
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
  // The DP serves on.
  putFile(b);
  EXPECT_TRUE(bodyFileContent(b) == b.data);
}

TEST_F(DpServiceTest, PutFileLongerThanDeclaredNeverStoresTheExtraBytes) {
  // The hash of everything sent, but a Content-Length 1000 bytes short: the DP reads what was
  // declared, which does not match: 422, nothing stored.
  const Body a = makeBody(64 * 1024, 10);
  {
    RawSocket sock(port_);
    ASSERT_TRUE(sock.send(rawHead("PUT", "/v1/files/" + a.sha, kToken, a.data.size() - 1000)));
    ASSERT_TRUE(sock.send(a.data));
    auto r = sock.readResponse(20s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 422) << r->body;
    sock.shutdownSend();
    EXPECT_TRUE(sock.waitClosed(20s)) << "the extra bytes are no request";
  }
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());

  // The hash of the declared bytes, and more after them: exactly the declared bytes are stored;
  // the rest is not taken for part of the body.
  const Body prefix{a.data.substr(0, 30000), sha256Hex(a.data.substr(0, 30000))};
  {
    RawSocket sock(port_);
    ASSERT_TRUE(sock.send(rawHead("PUT", "/v1/files/" + prefix.sha, kToken, prefix.data.size())));
    ASSERT_TRUE(sock.send(a.data));
    auto r = sock.readResponse(20s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 201) << r->body;
    sock.shutdownSend();
    EXPECT_TRUE(sock.waitClosed(20s));
  }
  ASSERT_TRUE(hasBodyFile(prefix));
  EXPECT_EQ(bodyFileContent(prefix).size(), prefix.data.size());
  EXPECT_TRUE(bodyFileContent(prefix) == prefix.data);
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return dp_->stats().handlers == 0; }, 20s));
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
}

TEST_F(DpServiceTest, PutFileNeedsALengthWithinTheLimit) {
  // Chunked: 411 (the DP must know the size before it writes).
  {
    RawSocket sock(port_);
    const Body a = makeBody(10, 11);
    ASSERT_TRUE(sock.send(rawHead("PUT", "/v1/files/" + a.sha, kToken, std::nullopt,
                                  "Transfer-Encoding: chunked\r\n") +
                          "a\r\n" + a.data + "\r\n0\r\n\r\n"));
    auto r = sock.readResponse(20s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 411);
    EXPECT_FALSE(hasBodyFile(a));
  }
  // Over max_body_bytes: 413 before any byte is read; for a resumable upload too.
  stopDp();
  dropClients();
  DpServiceOptions o = dpOptions();
  o.max_body_bytes = 1000;
  startDp(o);
  const Body big = makeBody(1001, 12);
  auto r = call(site(), "PUT", "/v1/files/" + big.sha, big.data);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_FALSE(hasBodyFile(big));
  r = sendJson(site(), "POST", "/v1/uploads",
               {{"sha256", big.sha}, {"size", 1001}, {"owner", kOwner}});
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(reasonOf(r), "too_large");
  EXPECT_TRUE(temporaryFiles().empty());
  const Body fits = makeBody(1000, 13);
  putFile(fits);
}

// ---- staged uploads, resumable uploads, install -------------------------------------------------

TEST_F(DpServiceTest, AStagedBodyWaitsForItsInstall) {
  const Body a = makeBody(5000, 14), b = makeBody(7000, 15);
  auto ra = call(site(), "PUT", "/v1/files/" + a.sha + "?stage=1&owner=" + kOwner, a.data);
  ASSERT_EQ(ra.status, 200) << ra.body;
  EXPECT_EQ(jsonOf(ra)["sealed"], true);
  EXPECT_EQ(jsonOf(ra)["offset"], a.data.size());
  const std::string ida = jsonOf(ra)["upload"];
  auto rb = call(site(), "PUT", "/v1/files/" + b.sha + "?stage=1&owner=" + kOwner, b.data);
  ASSERT_EQ(rb.status, 200) << rb.body;
  const std::string idb = jsonOf(rb)["upload"];
  // Checked and held under temporary names, not yet in place.
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_FALSE(hasBodyFile(b));
  EXPECT_EQ(temporaryFiles().size(), 2u);
  EXPECT_EQ(get("/v1/files/" + a.sha).status, 404);
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 2);

  auto r = sendJson(site(), "POST", "/v1/install", {{"uploads", {idb, ida, ida}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["installed"], 2);
  EXPECT_TRUE(bodyFileContent(a) == a.data);
  EXPECT_TRUE(bodyFileContent(b) == b.data);
  EXPECT_TRUE(temporaryFiles().empty());
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 0);
  // Installed uploads are gone.
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {ida}}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(reasonOf(r), "unknown_upload");

  // A staged upload needs an owner, a valid one.
  const Body c = makeBody(10, 16);
  EXPECT_EQ(call(site(), "PUT", "/v1/files/" + c.sha + "?stage=1", c.data).status, 400);
  EXPECT_EQ(call(site(), "PUT", "/v1/files/" + c.sha + "?stage=1&owner=a.b", c.data).status, 400);
  EXPECT_TRUE(temporaryFiles().empty());

  // A staged body the DP loses (it restarted) stays as its owner's leftover; staging the body
  // again with discard_leftovers deletes it.
  const Body d = makeBody(3000, 59);
  auto rd = call(site(), "PUT", "/v1/files/" + d.sha + "?stage=1&owner=" + kOwner, d.data);
  ASSERT_EQ(rd.status, 200) << rd.body;
  const std::string lost = jsonOf(rd)["upload"];
  restart();
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {lost}}});
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_TRUE(fs::exists(uploadPath(lost, d)));
  EXPECT_FALSE(hasBodyFile(d));
  rd = call(site(), "PUT",
            "/v1/files/" + d.sha + "?stage=1&owner=" + kOwner + "&discard_leftovers=1", d.data);
  ASSERT_EQ(rd.status, 200) << rd.body;
  EXPECT_EQ(jsonOf(rd)["leftovers_discarded"], 1);
  EXPECT_FALSE(fs::exists(uploadPath(lost, d)));
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {jsonOf(rd)["upload"]}}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(bodyFileContent(d) == d.data);
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
}

TEST_F(DpServiceTest, AResumableUploadReceivesItsBytesInOrderAndIsInstalled) {
  const std::size_t size = 3 * 1024 * 1024 + 11;
  const Body a = makeBody(size, 17);
  json opened = openUpload(a);
  const std::string id = opened["upload"];
  EXPECT_EQ(opened["offset"], 0);
  EXPECT_EQ(opened["leftovers_discarded"], 0);
  // Its id is its temporary file's name: ".<sha>.<owner>.<16 hex>.partial".
  EXPECT_TRUE(id.starts_with("." + a.sha + "." + kOwner + ".")) << id;
  EXPECT_TRUE(id.ends_with(".partial")) << id;
  EXPECT_TRUE(fs::exists(uploadPath(id, a)));

  const std::size_t mib = 1024 * 1024;
  auto r = putRange(id, a, 0, mib, /*checkpoint=*/true);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r), json({{"offset", mib}, {"sealed", false}, {"durable_offset", mib}}));
  r = putRange(id, a, mib, 2 * mib);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r), json({{"offset", 2 * mib}, {"sealed", false}}));
  r = sendJson(site(), "POST", "/v1/uploads/" + id + "/checkpoint", json::object());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["durable_offset"], 2 * mib);
  EXPECT_EQ(fs::file_size(uploadPath(id, a)), 2 * mib);

  // Bytes out of order: 409 with the DP's offset. A Content-Range that does not describe the
  // bytes sent, or names another size: 400.
  r = putRange(id, a, mib, 2 * mib);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(reasonOf(r), "offset_mismatch");
  EXPECT_EQ(jsonOf(r)["offset"], 2 * mib);
  const std::string next = a.data.substr(2 * mib, 100);
  for (const std::string& range : {std::string("bytes 2097152-2097251/999"),
                                   std::string("bytes 2097152-2097250/") + std::to_string(size),
                                   std::string("bytes */") + std::to_string(size),
                                   std::string("2097152-2097251"), std::string("")}) {
    SCOPED_TRACE(range);
    http::Headers headers;
    if (!range.empty()) headers.push_back({"Content-Range", range});
    r = call(site(), "PUT", "/v1/uploads/" + id, next, headers);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(reasonOf(r), "bad_range");
  }
  // Sealing early: 409, the upload stays.
  r = sendJson(site(), "POST", "/v1/uploads/" + id + "/seal", json::object());
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(reasonOf(r), "incomplete");
  EXPECT_EQ(jsonOf(r)["offset"], 2 * mib);
  // Installing an unsealed upload: 409, nothing installed.
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {id}}});
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(reasonOf(r), "not_sealed");
  EXPECT_FALSE(hasBodyFile(a));

  // The last bytes seal it (hash checked); the seal route then agrees.
  r = putRange(id, a, 2 * mib, size);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["sealed"], true);
  EXPECT_EQ(jsonOf(r)["offset"], size);
  r = sendJson(site(), "POST", "/v1/uploads/" + id + "/seal", json::object());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["sealed"], true);
  // A checkpoint of a sealed upload changes nothing: its install makes it durable.
  r = sendJson(site(), "POST", "/v1/uploads/" + id + "/checkpoint", json::object());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["durable_offset"], size);
  EXPECT_FALSE(hasBodyFile(a)) << "sealed, not yet installed";

  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {id}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["installed"], 1);
  EXPECT_TRUE(bodyFileContent(a) == a.data);
  EXPECT_TRUE(temporaryFiles().empty());
  auto got = get("/v1/files/" + a.sha);
  EXPECT_EQ(got.status, 200);
  EXPECT_TRUE(got.body == a.data);
  // The upload is gone now.
  r = putRange(id, a, 0, 10);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(reasonOf(r), "unknown_upload");
  EXPECT_EQ(sendJson(site(), "POST", "/v1/uploads/" + id + "/checkpoint", json::object()).status,
            404);
  EXPECT_EQ(sendJson(site(), "POST", "/v1/uploads/" + id + "/seal", json::object()).status, 404);
}

TEST_F(DpServiceTest, OpeningAnUploadChecksItsRequest) {
  const Body a = makeBody(100, 18);
  const json good = {{"sha256", a.sha}, {"size", 100}, {"owner", kOwner}};
  auto with = [&](const char* key, const json& value) {
    json j = good;
    if (value.is_discarded()) {
      j.erase(key);
    } else {
      j[key] = value;
    }
    return j;
  };
  const json gone = json(json::value_t::discarded);
  for (const json& bad :
       {with("sha256", upper(a.sha)), with("sha256", a.sha.substr(1)), with("sha256", gone),
        with("size", -1), with("size", "100"), with("size", 1.5), with("size", gone),
        with("owner", ""), with("owner", "a/b"), with("owner", std::string(65, 'a')),
        with("owner", gone), with("resume", "../../etc/passwd"),
        with("resume", "." + a.sha + ".OTHER.0123456789abcdef.partial"),
        with("resume", "." + a.sha + "." + kOwner + ".0123456789abcdef.partial"),  // no offset
        with("discard_leftovers", "yes")}) {
    auto r = sendJson(site(), "POST", "/v1/uploads", bad);
    EXPECT_EQ(r.status, 400) << bad.dump() << ": " << r.body;
  }
  EXPECT_TRUE(temporaryFiles().empty());
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 0);
}

TEST_F(DpServiceTest, AResumableUploadWithAHashMismatchIsDiscarded) {
  Body a = makeBody(300 * 1024, 19);
  const json opened = openUpload(a);
  const std::string id = opened["upload"];
  Body tampered = a;
  tampered.data[200 * 1024] ^= 1;
  ASSERT_EQ(putRange(id, tampered, 0, 100 * 1024, /*checkpoint=*/true).status, 200);
  auto r = putRange(id, tampered, 100 * 1024, a.data.size());
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(reasonOf(r), "corrupt");
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
  r = putRange(id, a, 0, 10);
  EXPECT_EQ(r.status, 404) << "the DP discarded the upload";
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 0);
}

TEST_F(DpServiceTest, DeletingAnUploadRemovesItsTemporaryFile) {
  const Body a = makeBody(200 * 1024, 20);
  const std::string id = openUpload(a)["upload"];
  ASSERT_EQ(putRange(id, a, 0, 1000, /*checkpoint=*/true).status, 200);
  ASSERT_TRUE(fs::exists(uploadPath(id, a)));
  auto r = call(site(), "DELETE", "/v1/uploads/" + id);
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_FALSE(fs::exists(uploadPath(id, a)));
  EXPECT_EQ(putRange(id, a, 1000, 2000).status, 404);
  // Again, or an upload this DP never had: OK (idempotent).
  EXPECT_EQ(call(site(), "DELETE", "/v1/uploads/" + id).status, 204);
  // A name that is no upload's: 400.
  EXPECT_EQ(call(site(), "DELETE", "/v1/uploads/" + a.sha).status, 400);
  EXPECT_EQ(call(site(), "DELETE", "/v1/uploads/.secret.partial").status, 400);

  // A staged body (sealed, waiting for its install) is dropped the same way.
  const Body b = makeBody(3000, 21);
  auto staged = call(site(), "PUT", "/v1/files/" + b.sha + "?stage=1&owner=" + kOwner, b.data);
  ASSERT_EQ(staged.status, 200) << staged.body;
  const std::string sid = jsonOf(staged)["upload"];
  ASSERT_EQ(temporaryFiles().size(), 1u);
  r = call(site(), "DELETE", "/v1/uploads/" + sid);
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 0);
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {sid}}});
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_FALSE(hasBodyFile(b));
}

TEST_F(DpServiceTest, InstallRefusesUnknownUploadsAndMalformedRequests) {
  const Body a = makeBody(100, 22);
  auto staged = call(site(), "PUT", "/v1/files/" + a.sha + "?stage=1&owner=" + kOwner, a.data);
  ASSERT_EQ(staged.status, 200);
  const std::string id = jsonOf(staged)["upload"];
  // One unknown upload fails the batch: nothing is installed and the known one stays.
  auto r = sendJson(site(), "POST", "/v1/install", {{"uploads", {id, ".nope"}}});
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(reasonOf(r), "unknown_upload");
  EXPECT_FALSE(hasBodyFile(a));
  for (const json& bad :
       {json::object(), json({{"uploads", id}}), json({{"uploads", {5}}}), json::array()}) {
    r = sendJson(site(), "POST", "/v1/install", bad);
    EXPECT_EQ(r.status, 400) << bad.dump() << ": " << r.body;
  }
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", json::array()}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["installed"], 0);
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {id}}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(bodyFileContent(a) == a.data);
}

// ---- sends --------------------------------------------------------------------------------------

TEST_F(DpServiceTest, ASendPinsItsBodiesUntilItEnds) {
  const Body a = makeBody(100, 23), b = makeBody(200, 24);
  putFile(a);
  putFile(b);
  auto r = sendJson(site(), "POST", "/v1/sends",
                    {{"owner", kOwner}, {"package_id", kPkg}, {"version", 1}, {"sha256", {a.sha}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string send = jsonOf(r)["send"];
  EXPECT_FALSE(send.empty());
  EXPECT_EQ(jsonOf(r)["lease_ms"], 600000);

  // a is pinned, b is not: a removal of unreferenced bodies takes only b.
  r = sendJson(site(), "POST", "/v1/bodies/remove", {{"sha256", {a.sha, b.sha}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["removed"], 1);
  EXPECT_TRUE(hasBodyFile(a));
  EXPECT_FALSE(hasBodyFile(b));

  r = call(site(), "POST", "/v1/sends/" + send + "/renew");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["lease_ms"], 600000);
  EXPECT_EQ(call(site(), "DELETE", "/v1/sends/" + send).status, 204);
  r = call(site(), "POST", "/v1/sends/" + send + "/renew");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(reasonOf(r), "unknown_send");
  EXPECT_EQ(call(site(), "DELETE", "/v1/sends/" + send).status, 204) << "idempotent";
  r = sendJson(site(), "POST", "/v1/bodies/remove", {{"sha256", {a.sha}}});
  EXPECT_EQ(jsonOf(r)["removed"], 1);
  EXPECT_FALSE(hasBodyFile(a));

  // Committing the manifest with ?send= ends the send.
  putFile(a);
  r = sendJson(site(), "POST", "/v1/sends", {{"owner", kOwner}, {"sha256", {a.sha}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string send2 = jsonOf(r)["send"];
  const content::Manifest m = manifestOf({&a});
  r = call(site(), "PUT", std::string("/v1/content/") + kPkg + "/1?send=" + send2,
           content::toJson(m), {}, "application/json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(call(site(), "POST", "/v1/sends/" + send2 + "/renew").status, 404);

  // Malformed: 400.
  for (const json& bad : {json({{"sha256", {a.sha}}}), json({{"owner", 5}, {"sha256", {a.sha}}}),
                          json({{"owner", kOwner}, {"sha256", {upper(a.sha)}}}),
                          json({{"owner", kOwner}, {"sha256", {a.sha}}, {"version", "one"}}),
                          json({{"owner", kOwner}, {"sha256", {a.sha}}, {"package_id", 7}})}) {
    r = sendJson(site(), "POST", "/v1/sends", bad);
    EXPECT_EQ(r.status, 400) << bad.dump() << ": " << r.body;
  }
}

// ---- content: PUT/GET/DELETE /v1/content/{pkg}/{ver}, GET /v1/content/{pkg}
// ----------------------

TEST_F(DpServiceTest, ACommitNamingAMissingBodyIsRefusedUntilItArrives) {
  const Body a = makeBody(1000, 25), b = makeBody(2000, 26);
  putFile(a);
  const content::Manifest m = manifestOf({&a, &b});
  const std::string path = std::string("/v1/content/") + kPkg + "/1";
  auto r = call(site(), "PUT", path, content::toJson(m), {}, "application/json");
  ASSERT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(reasonOf(r), "missing_bodies");
  EXPECT_EQ(jsonOf(r)["missing"], json({b.sha}));
  EXPECT_EQ(get(path).status, 404);
  EXPECT_FALSE(fs::exists(root_ / "DataLib" / (std::string(kPkg) + ".1.json")));
  EXPECT_EQ(jsonOf(get(std::string("/v1/content/") + kPkg))["versions"], json::array());

  putFile(b);
  r = call(site(), "PUT", path, content::toJson(m), {}, "application/json");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r), json({{"package_id", kPkg}, {"version", 1}}));
  r = get(path);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, content::toJson(m));
  auto parsed = content::parseManifest(r.body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, m);
  r = get(std::string("/v1/content/") + kPkg);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r), json({{"package_id", kPkg}, {"versions", {1}}}));

  // The same manifest again: OK. Another one under the same version: 409 manifest_exists.
  EXPECT_EQ(call(site(), "PUT", path, content::toJson(m), {}, "application/json").status, 200);
  content::Manifest other = manifestOf({&a});
  r = call(site(), "PUT", path, content::toJson(other), {}, "application/json");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(reasonOf(r), "manifest_exists");
  EXPECT_EQ(get(path).body, content::toJson(m));
  // A manifest of another package or version than the URL's: 400; an invalid one: 422.
  r = call(site(), "PUT", std::string("/v1/content/") + kPkg + "/2", content::toJson(m), {},
           "application/json");
  EXPECT_EQ(r.status, 400) << r.body;
  r = call(site(), "PUT", "/v1/content/PS100002/1", content::toJson(m), {}, "application/json");
  EXPECT_EQ(r.status, 400) << r.body;
  r = call(site(), "PUT", std::string("/v1/content/") + kPkg + "/3", "{\"package_id\": 1}", {},
           "application/json");
  EXPECT_EQ(r.status, 422) << r.body;
  r = call(site(), "PUT", std::string("/v1/content/") + kPkg + "/3", "", {}, "application/json");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(jsonOf(get(std::string("/v1/content/") + kPkg))["versions"], json({1}));
}

TEST_F(DpServiceTest, DeletingContentRemovesTheBodiesNoOtherVersionUses) {
  const Body shared = makeBody(100, 27), only1 = makeBody(200, 28), only2 = makeBody(300, 29);
  for (const Body* b : {&shared, &only1, &only2}) putFile(*b);
  commit(manifestOf({&shared, &only1}, 1));
  commit(manifestOf({&shared, &only2}, 2));
  EXPECT_EQ(jsonOf(get(std::string("/v1/content/") + kPkg))["versions"], json({1, 2}));

  auto r = call(site(), "DELETE", std::string("/v1/content/") + kPkg + "/1");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(get(std::string("/v1/content/") + kPkg + "/1").status, 404);
  EXPECT_EQ(get(std::string("/v1/content/") + kPkg + "/2").status, 200);
  EXPECT_EQ(jsonOf(get(std::string("/v1/content/") + kPkg))["versions"], json({2}));
  EXPECT_TRUE(hasBodyFile(shared));
  EXPECT_FALSE(hasBodyFile(only1));
  EXPECT_TRUE(hasBodyFile(only2));
  r = call(site(), "DELETE", std::string("/v1/content/") + kPkg + "/1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(reasonOf(r), "not_found");

  EXPECT_EQ(call(site(), "DELETE", std::string("/v1/content/") + kPkg + "/2").status, 204);
  EXPECT_FALSE(hasBodyFile(shared));
  EXPECT_FALSE(hasBodyFile(only2));
  EXPECT_EQ(jsonOf(get(std::string("/v1/content/") + kPkg))["versions"], json::array());
}

TEST_F(DpServiceTest, ValidateReportsMissingAndMismatchedBodies) {
  const Body a = makeBody(5000, 30), b = makeBody(6000, 31), c = makeBody(7000, 32);
  for (const Body* x : {&a, &b, &c}) putFile(*x);
  commit(manifestOf({&a, &b, &c}));
  const std::string path = std::string("/v1/validate/") + kPkg + "/1";
  auto r = call(site(), "POST", path);
  ASSERT_EQ(r.status, 200) << r.body;
  json j = jsonOf(r);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["bodies_checked"], 3);
  EXPECT_EQ(j["bytes_checked"], 18000);
  EXPECT_EQ(j["missing"], json::array());
  EXPECT_EQ(j["mismatched"], json::array());

  // b damaged in place, c deleted behind the DP's back.
  {
    std::string damaged = b.data;
    damaged[10] ^= 0xFF;
    pkgxfer::testing::writeFile(bodyFile(b.sha), damaged);
  }
  fs::remove(bodyFile(c.sha));
  r = call(site(), "POST", path);
  ASSERT_EQ(r.status, 200) << r.body;
  j = jsonOf(r);
  EXPECT_EQ(j["ok"], false);
  ASSERT_EQ(j["mismatched"].size(), 1u) << r.body;
  EXPECT_EQ(j["mismatched"][0]["path"], "dir/file1.bin");
  EXPECT_EQ(j["mismatched"][0]["sha256"], b.sha);
  ASSERT_EQ(j["missing"].size(), 1u) << r.body;
  EXPECT_EQ(j["missing"][0]["path"], "dir/file2.bin");
  EXPECT_EQ(j["missing"][0]["sha256"], c.sha);
  EXPECT_NE(logText().find("Validation of " + std::string(kPkg) + ".1 failed"), std::string::npos);

  r = call(site(), "POST", std::string("/v1/validate/") + kPkg + "/2");
  EXPECT_EQ(r.status, 404) << r.body;
}

// ---- leftovers and bodies -----------------------------------------------------------------------

TEST_F(DpServiceTest, DiscardLeftoversDeletesAnOwnersTemporaryFiles) {
  const Body a = makeBody(100 * 1024, 33), b = makeBody(100 * 1024, 34);
  const std::string ida = openUpload(a)["upload"];
  ASSERT_EQ(putRange(ida, a, 0, 5000, true).status, 200);
  // b's upload belongs to another owner: kept.
  auto r = sendJson(site(), "POST", "/v1/uploads",
                    {{"sha256", b.sha}, {"size", b.data.size()}, {"owner", "PS100002"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string idb = jsonOf(r)["upload"];
  ASSERT_EQ(temporaryFiles().size(), 2u);

  r = sendJson(site(), "POST", "/v1/leftovers/discard",
               {{"owner", kOwner}, {"sha256", {a.sha, b.sha}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["discarded"], 1);
  EXPECT_FALSE(fs::exists(uploadPath(ida, a)));
  EXPECT_TRUE(fs::exists(uploadPath(idb, b)));
  EXPECT_EQ(putRange(ida, a, 5000, 6000).status, 404) << "its upload was closed too";
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 1);
  r = sendJson(site(), "POST", "/v1/leftovers/discard", {{"owner", kOwner}, {"sha256", {a.sha}}});
  EXPECT_EQ(jsonOf(r)["discarded"], 0);

  // A new upload may discard its owner's leftovers of the same body itself.
  const std::string idb2 = openUpload(b)["upload"];
  ASSERT_EQ(putRange(idb2, b, 0, 100, true).status, 200);
  const json fresh = openUpload(b, {{"discard_leftovers", true}});
  EXPECT_EQ(fresh["leftovers_discarded"], 1);
  EXPECT_FALSE(fs::exists(uploadPath(idb2, b)));
  EXPECT_EQ(putRange(idb2, b, 100, 200).status, 404);
  EXPECT_TRUE(fs::exists(uploadPath(idb, b))) << "another owner's";

  for (const json& bad :
       {json({{"owner", ""}, {"sha256", {a.sha}}}), json({{"owner", "../x"}, {"sha256", {a.sha}}}),
        json({{"sha256", {a.sha}}}), json({{"owner", kOwner}}),
        json({{"owner", kOwner}, {"sha256", {"../../x"}}})}) {
    r = sendJson(site(), "POST", "/v1/leftovers/discard", bad);
    EXPECT_EQ(r.status, 400) << bad.dump() << ": " << r.body;
  }
}

TEST_F(DpServiceTest, RemoveBodiesDeletesOnlyUnreferencedOnes) {
  const Body used = makeBody(100, 35), loose = makeBody(200, 36), absent = makeBody(300, 37);
  putFile(used);
  putFile(loose);
  commit(manifestOf({&used}));
  auto r = sendJson(site(), "POST", "/v1/bodies/remove",
                    {{"sha256", {used.sha, loose.sha, absent.sha}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["removed"], 1);
  EXPECT_TRUE(hasBodyFile(used));
  EXPECT_FALSE(hasBodyFile(loose));
  EXPECT_EQ(sendJson(site(), "POST", "/v1/bodies/remove", {{"sha256", {upper(used.sha)}}}).status,
            400);
  EXPECT_EQ(sendJson(site(), "POST", "/v1/bodies/remove", json::object()).status, 400);
  EXPECT_TRUE(hasBodyFile(used));
}

// ---- the token ----------------------------------------------------------------------------------

TEST_F(DpServiceTest, EveryChangeNeedsTheSitesToken) {
  // A library with something of everything: content, a loose body, a resumable upload half
  // written, a staged body, a send.
  const Body a = makeBody(1000, 40), loose = makeBody(2000, 41), c = makeBody(300 * 1024, 42),
             d = makeBody(4000, 43), e = makeBody(5000, 44);
  putFile(a);
  putFile(loose);
  commit(manifestOf({&a}));
  const std::string upload = openUpload(c)["upload"];
  ASSERT_EQ(putRange(upload, c, 0, 100 * 1024, true).status, 200);
  auto staged = call(site(), "PUT", "/v1/files/" + d.sha + "?stage=1&owner=" + kOwner, d.data);
  ASSERT_EQ(staged.status, 200);
  const std::string staged_id = jsonOf(staged)["upload"];
  auto begun = sendJson(site(), "POST", "/v1/sends", {{"owner", kOwner}, {"sha256", {loose.sha}}});
  ASSERT_EQ(begun.status, 200);
  const std::string send = jsonOf(begun)["send"];
  const auto before = snapshot();

  struct Change {
    std::string method, target, body;
    http::Headers headers;
  };
  const std::string pkg1 = std::string("/v1/content/") + kPkg + "/1";
  const std::vector<Change> changes = {
      {"POST", "/v1/library", json({{"site_code", "PS1"}}).dump(), {}},
      {"PUT", "/v1/files/" + e.sha, e.data, {}},
      {"PUT", "/v1/files/" + e.sha + "?stage=1&owner=" + kOwner, e.data, {}},
      {"POST",
       "/v1/uploads",
       json({{"sha256", e.sha}, {"size", e.data.size()}, {"owner", kOwner}}).dump(),
       {}},
      {"PUT",
       "/v1/uploads/" + upload,
       c.data.substr(100 * 1024, 1000),
       {{"Content-Range", "bytes 102400-103399/" + std::to_string(c.data.size())}}},
      {"POST", "/v1/uploads/" + upload + "/checkpoint", "", {}},
      {"POST", "/v1/uploads/" + upload + "/seal", "", {}},
      {"DELETE", "/v1/uploads/" + upload, "", {}},
      {"POST", "/v1/install", json({{"uploads", {staged_id}}}).dump(), {}},
      {"POST", "/v1/sends", json({{"owner", kOwner}, {"sha256", {a.sha}}}).dump(), {}},
      {"POST", "/v1/sends/" + send + "/renew", "", {}},
      {"DELETE", "/v1/sends/" + send, "", {}},
      {"PUT", std::string("/v1/content/") + kPkg + "/2", content::toJson(manifestOf({&a}, 2)), {}},
      {"DELETE", pkg1, "", {}},
      {"POST", std::string("/v1/validate/") + kPkg + "/1", "", {}},
      {"POST", "/v1/leftovers/discard", json({{"owner", kOwner}, {"sha256", {c.sha}}}).dump(), {}},
      {"POST", "/v1/bodies/remove", json({{"sha256", {loose.sha}}}).dump(), {}},
  };
  auto none = client("");
  auto wrong = client("wrong-token");
  auto longer = client(std::string(kToken) + "x");
  auto shorter = client(std::string(kToken).substr(0, 10));
  for (http::Client* cl : {none.get(), wrong.get(), longer.get(), shorter.get()}) {
    for (const Change& ch : changes) {
      SCOPED_TRACE(ch.method + " " + ch.target);
      auto r = call(*cl, ch.method, ch.target, ch.body, ch.headers);
      EXPECT_EQ(r.status, 401) << r.body;
      EXPECT_TRUE(r.header("WWW-Authenticate").starts_with("Bearer"))
          << r.header("WWW-Authenticate");
      EXPECT_EQ(jsonOf(r)["status"], 401);
    }
  }
  // Other ways of getting the header wrong, on raw sockets.
  for (const std::string& auth :
       {std::string("Basic ") + kToken, std::string("Bearer"), std::string("Bearer  "),
        std::string("bearer_") + kToken, std::string(kToken)}) {
    for (const Change& ch : changes) {
      SCOPED_TRACE(auth + ": " + ch.method + " " + ch.target);
      RawSocket sock(port_);
      std::string extra = "Authorization: " + auth + "\r\nConnection: close\r\n";
      for (const auto& h : ch.headers) extra += h.name + ": " + h.value + "\r\n";
      ASSERT_TRUE(sock.send(rawHead(ch.method, ch.target, {}, ch.body.size(), extra) + ch.body));
      auto r = sock.readResponse(20s);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->status, 401) << r->body;
    }
  }
  EXPECT_EQ(snapshot(), before) << "nothing changed on disk";
  EXPECT_EQ(library_->identity().site_code, "");

  // Nor in the DP's memory: the upload continues where it was, the staged body installs, the
  // send still pins.
  auto r = putRange(upload, c, 100 * 1024, c.data.size());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["sealed"], true);
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {upload, staged_id}}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(bodyFileContent(c) == c.data);
  EXPECT_TRUE(bodyFileContent(d) == d.data);
  EXPECT_EQ(call(site(), "POST", "/v1/sends/" + send + "/renew").status, 200);
  r = sendJson(site(), "POST", "/v1/bodies/remove", {{"sha256", {loose.sha}}});
  EXPECT_EQ(jsonOf(r)["removed"], 0) << "still pinned by the send";
  // Reads need no token.
  EXPECT_EQ(call(*none, "GET", "/v1/files/" + a.sha).status, 200);
  EXPECT_EQ(call(*wrong, "GET", pkg1).status, 200);
}

// ---- hostile requests ---------------------------------------------------------------------------

TEST_F(DpServiceTest, PathsThatAreNotAHashPackageOrVersionAreRefused) {
  const std::string secret = "TOP-SECRET-" + std::string(200, 'S');
  pkgxfer::testing::writeFile(dir_.path() / "secret.txt", secret);
  fs::create_directories(dir_.path() / "etc");
  pkgxfer::testing::writeFile(dir_.path() / "etc" / "passwd", secret);
  const Body a = makeBody(1000, 45);
  putFile(a);
  commit(manifestOf({&a}));
  const std::string sha63 = a.sha.substr(0, 63);

  struct Attempt {
    std::string method;
    std::string target;
    int status;
  };
  const std::vector<Attempt> attempts = {
      {"GET", "/v1/files/../../etc/passwd", 400},
      {"GET", "/v1/files/../../secret.txt", 400},
      {"GET", "/v1/files/%2e%2e%2f%2e%2e%2fsecret.txt", 400},
      {"GET", "/v1/files/%2E%2E%2F%2E%2E%2Fsecret.txt", 400},
      {"GET", "/v1/files/..%2f..%2fsecret.txt", 400},
      {"GET", "/v1/files/..%2F..%2F..%2Fetc%2Fpasswd", 400},
      {"GET", "/v1/files/%2e%2e", 400},
      {"GET", "/v1/files/%2fetc%2fpasswd", 400},
      {"GET", "/v1/files/..%5c..%5csecret.txt", 400},
      {"GET", "/v1/files/..\\..\\secret.txt", 400},
      {"GET", "/v1/files/C:%5csecret.txt", 400},
      {"GET", "/v1/files/" + a.sha.substr(0, 4) + "%2f" + a.sha, 400},
      {"GET", "/v1/files/" + sha63, 400},
      {"GET", "/v1/files/" + a.sha + "0", 400},
      {"GET", "/v1/files/" + upper(a.sha), 400},
      {"GET", "/v1/files/" + sha63 + "g", 400},
      {"GET", "/v1/files/" + sha63 + "%00", 400},
      {"GET", "/v1/files/" + a.sha + "%00", 400},
      {"GET", "/v1/files/.." + a.sha.substr(2), 400},
      {"HEAD", "/v1/files/..%2f..%2fsecret.txt", 400},
      {"HEAD", "/v1/files/" + upper(a.sha), 400},
      {"GET", "/v1/files//" + a.sha, 400},
      {"GET", "/v1/files/" + a.sha + "/../../../secret.txt", 400},
      {"GET", "/v1/files/" + a.sha + "/x", 404},
      {"GET", "/v1/files", 404},
      {"GET", "/v1/content/..", 400},
      {"GET", "/v1/content/..%2f..%2fsecret.txt/1", 400},
      {"GET", "/v1/content/%2e%2e%2f%2e%2e%2fsecret.txt", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/..%2f..%2f..%2fsecret.txt", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/1/../../../secret.txt", 400},
      {"GET", "/v1/content/ps100001/1", 400},
      {"GET", "/v1/content/PS10000/1", 400},
      {"GET", "/v1/content/PS1000011/1", 400},
      {"GET", "/v1/content/PS10000G/1", 400},
      {"GET", "/v1/content/secret.txt", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/0", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/01", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/-1", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/1.0", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/%31", 200},  // "1", percent-encoded
      {"GET", "/v1/content/" + std::string(kPkg) + "/1%00", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/99999999999999999999", 400},
      {"GET", "/v1/content/" + std::string(kPkg) + "/1/extra", 404},
      {"POST", "/v1/validate/..%2fsecret.txt/1", 400},
      {"POST", "/v1/validate/" + std::string(kPkg) + "/x", 400},
      {"DELETE", "/v1/content/ps100001/1", 400},
      {"DELETE", "/v1/content/" + std::string(kPkg) + "/%2e%2e", 400},
      {"PUT", "/v1/files/..%2f..%2fsecret.txt", 400},
      {"PUT", "/v1/files/" + upper(a.sha), 400},
      {"PUT", "/v1/files/" + a.sha + "?stage=1&owner=..%2F..%2Fsecret", 400},
      {"DELETE", "/v1/uploads/..%2f..%2fsecret.txt", 400},
      {"DELETE", "/v1/uploads/.secret.txt", 400},
      {"DELETE", "/v1/uploads/." + a.sha + ".PS1%2f..%2f.0123456789abcdef.partial", 400},
      {"POST", "/v1/uploads/..%2f..%2fsecret.txt/seal", 400},
  };
  for (const Attempt& at : attempts) {
    SCOPED_TRACE(at.method + " " + at.target);
    const std::string body = at.method == "PUT" ? a.data : std::string();
    RawResponse r = raw(at.method, at.target, kToken, body);
    EXPECT_EQ(r.status, at.status) << r.body;
    EXPECT_EQ(r.body.find("TOP-SECRET"), std::string::npos);
    if (at.status != 200 && at.method != "HEAD") {
      EXPECT_EQ(jsonOf(r)["status"], at.status) << r.body;
    }
  }
  // Nothing was read or written outside the library, and nothing in it changed.
  EXPECT_EQ(pkgxfer::testing::readFile(dir_.path() / "secret.txt"), secret);
  EXPECT_EQ(pkgxfer::testing::readFile(dir_.path() / "etc" / "passwd"), secret);
  EXPECT_TRUE(bodyFileContent(a) == a.data);
  EXPECT_EQ(get(std::string("/v1/content/") + kPkg + "/1").status, 200);
  EXPECT_TRUE(temporaryFiles().empty());
}

TEST_F(DpServiceTest, ALinkInFileLibIsNeverFollowed) {
  // Someone with access to the DP's disk put a link where a body would be, to a file outside the
  // library whose hash it names.
  const std::string secret = "TOP-SECRET-" + std::string(100, 'x');
  const fs::path outside = dir_.path() / "secret.txt";
  pkgxfer::testing::writeFile(outside, secret);
  const std::string sha = sha256Hex(secret);
  fs::create_directories(bodyFile(sha).parent_path());
  fs::create_symlink(outside, bodyFile(sha));
  auto r = get("/v1/files/" + sha);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(reasonOf(r), "corrupt");
  EXPECT_EQ(r.body.find("TOP-SECRET"), std::string::npos);
  r = get("/v1/files/" + sha, {{"Range", "bytes=0-10"}});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body.find("TOP-SECRET"), std::string::npos);
  EXPECT_EQ(head("/v1/files/" + sha).status, 422);
  EXPECT_EQ(pkgxfer::testing::readFile(outside), secret);
}

TEST_F(DpServiceTest, OversizedRequestHeadsAre431) {
  // A huge header or target; on a read and on an upload with the token.
  const Body a = makeBody(1000, 46);
  const std::vector<std::string> heads = {
      rawHead("GET", "/v1/library", {}, std::nullopt,
              "X-Padding: " + std::string(20 * 1024, 'p') + "\r\n"),
      rawHead("PUT", "/v1/files/" + a.sha, kToken, a.data.size(),
              "X-Padding: " + std::string(20 * 1024, 'p') + "\r\n"),
      rawHead("GET", "/v1/files/" + std::string(20 * 1024, 'a'), {}, std::nullopt),
  };
  for (const std::string& h : heads) {
    RawSocket sock(port_);
    ASSERT_TRUE(sock.connected());
    sock.send(h);
    auto r = sock.readResponse(20s);
    ASSERT_TRUE(r.has_value()) << h.substr(0, 80);
    EXPECT_EQ(r->status, 431) << h.substr(0, 80);
    EXPECT_EQ(jsonOf(*r)["status"], 431);
    EXPECT_TRUE(sock.waitClosed(20s)) << "the connection is closed after a 431";
  }
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_TRUE(temporaryFiles().empty());
  // Just under the limit is served.
  RawSocket sock(port_);
  sock.send(rawHead("GET", "/v1/library", {}, std::nullopt,
                    "X-Padding: " + std::string(15 * 1024, 'p') + "\r\n"));
  auto r = sock.readResponse(20s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

// Beast 1.74's parser applies header_limit to each parse call, not to the whole head: the server
// counts the head's bytes itself, so a head of many small fields arriving in small reads is
// held to max_header_bytes too (~21 KiB over a 16 KiB limit).
TEST_F(DpServiceTest, AHeadOfManySmallFieldsOverTheLimitIs431) {
  const Body a = makeBody(1000, 46);
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "X-Header-" + std::to_string(i) + ": value\r\n";
  RawSocket sock(port_);
  ASSERT_TRUE(sock.connected());
  sock.send(rawHead("GET", "/v1/files/" + a.sha, {}, std::nullopt, many));
  auto r = sock.readResponse(20s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(sock.waitClosed(20s)) << "the connection is closed after a 431";
}

TEST_F(DpServiceTest, MalformedJsonRequestsAre400) {
  const std::vector<std::string> routes = {
      "/v1/library", "/v1/inventory",         "/v1/uploads",      "/v1/install",
      "/v1/sends",   "/v1/leftovers/discard", "/v1/bodies/remove"};
  for (const std::string& route : routes) {
    for (const std::string body :
         {"", "{", "not json", "[]", "42", "\"text\"", "null", "{\"sha256\": {}}"}) {
      SCOPED_TRACE("POST " + route + " " + body);
      auto r = call(site(), "POST", route, body, {}, "application/json");
      EXPECT_EQ(r.status, 400) << r.body;
    }
  }
  EXPECT_TRUE(temporaryFiles().empty());
  EXPECT_EQ(library_->identity().site_code, "");
}

// ---- concurrency --------------------------------------------------------------------------------

TEST_F(DpServiceTest, TheSameBodyPutByEightClientsAtOnceEndsAsOneCorrectBody) {
  const Body a = makeBody(4 * 1024 * 1024 + 3, 47);
  constexpr int kClients = 8;
  std::latch start(kClients);
  std::vector<int> statuses(kClients, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto c = client(kToken);
      start.arrive_and_wait();
      http::ClientRequest req;
      req.method = "PUT";
      req.target = "/v1/files/" + a.sha;
      req.content_type = "application/octet-stream";
      req.body = a.data;
      auto r = c->request(within(60s), req);
      statuses[i] = r.ok() ? r->status : -1;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(statuses[i], 201) << "client " << i;
  // Exactly one body, complete and correct, and no temporary file of any of the writers.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(bodyFile(a.sha).parent_path())) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{a.sha});
  EXPECT_TRUE(bodyFileContent(a) == a.data);
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
  auto r = get("/v1/files/" + a.sha);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(sha256Hex(r.body), a.sha);
}

TEST_F(DpServiceTest, DifferentBodiesUploadedInParallel) {
  constexpr int kClients = 8;
  std::vector<Body> bodies;
  for (int i = 0; i < kClients; ++i) bodies.push_back(makeBody(1024 * 1024 + 1000 * i, 100 + i));
  std::latch start(kClients);
  std::vector<int> statuses(kClients, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto c = client(kToken);
      start.arrive_and_wait();
      const Body& b = bodies[i];
      http::ClientRequest req;
      req.method = "PUT";
      // Half whole-body PUTs, half resumable uploads in two parts installed at the end.
      if (i % 2 == 0) {
        req.target = "/v1/files/" + b.sha;
        req.content_type = "application/octet-stream";
        req.body = b.data;
        auto r = c->request(within(60s), req);
        statuses[i] = r.ok() ? r->status : -1;
        return;
      }
      auto opened = c->sendJson(within(60s), "POST", "/v1/uploads",
                                {{"sha256", b.sha}, {"size", b.data.size()}, {"owner", kOwner}});
      if (!opened.ok() || opened->status != 200) {
        statuses[i] = opened.ok() ? opened->status : -1;
        return;
      }
      const std::string id = jsonOf(*opened)["upload"];
      const std::size_t half = b.data.size() / 2;
      for (auto [from, to] :
           {std::pair<std::size_t, std::size_t>{0, half}, {half, b.data.size()}}) {
        req.target = "/v1/uploads/" + id;
        req.content_type = "application/octet-stream";
        req.body = b.data.substr(from, to - from);
        req.headers = {{"Content-Range", "bytes " + std::to_string(from) + "-" +
                                             std::to_string(to - 1) + "/" +
                                             std::to_string(b.data.size())}};
        auto r = c->request(within(60s), req);
        if (!r.ok() || r->status != 200) {
          statuses[i] = r.ok() ? r->status : -1;
          return;
        }
      }
      auto installed = c->sendJson(within(60s), "POST", "/v1/install", {{"uploads", {id}}});
      statuses[i] = installed.ok() ? installed->status : -1;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(statuses[i], i % 2 == 0 ? 201 : 200) << "client " << i;
    EXPECT_TRUE(bodyFileContent(bodies[i]) == bodies[i].data) << "body " << i;
  }
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 0);
}

// The head of a PUT of bytes `from`..`to` of a body of `size` bytes to upload `id`, with
// "Expect: 100-continue", once the DP said "100 Continue": its handler then holds the upload and
// waits for the body, which the caller sends when it likes.
std::unique_ptr<RawSocket> stalledPut(std::uint16_t port, const std::string& id, std::size_t size,
                                      std::size_t from, std::size_t to) {
  auto sock = std::make_unique<RawSocket>(port);
  EXPECT_TRUE(sock->send(rawHead("PUT", "/v1/uploads/" + id, kToken, to - from,
                                 "Content-Range: bytes " + std::to_string(from) + "-" +
                                     std::to_string(to - 1) + "/" + std::to_string(size) +
                                     "\r\nExpect: 100-continue\r\n")));
  auto go_ahead = sock->readResponse(20s);
  EXPECT_TRUE(go_ahead.has_value() && go_ahead->status == 100)
      << (go_ahead ? go_ahead->body : std::string("no answer"));
  return sock;
}

TEST_F(DpServiceTest, RequestsOnAnUploadInUseWaitForIt) {
  const Body a = makeBody(100 * 1024, 57);
  const std::string id = openUpload(a)["upload"];
  ASSERT_EQ(putRange(id, a, 0, 1000, true).status, 200);
  const fs::path file = uploadPath(id, a);
  auto handlers = [&] { return dp_->stats().handlers; };

  // A checkpoint waits for the PUT that holds the upload, then makes its bytes durable.
  {
    auto put = stalledPut(port_, id, a.data.size(), 1000, 3000);
    std::atomic<int> status{0};
    json answer;
    std::jthread checkpoint([&] {
      auto c = client(kToken);
      auto r = call(*c, "POST", "/v1/uploads/" + id + "/checkpoint");
      answer = jsonOf(r);
      status = r.status;
    });
    EXPECT_TRUE(pkgxfer::testing::waitFor([&] { return handlers() == 2; }, 20s));
    EXPECT_EQ(status.load(), 0) << "the checkpoint waits while the PUT holds the upload";
    EXPECT_TRUE(put->send(a.data.substr(1000, 2000)));
    auto r = put->readResponse(20s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200) << r->body;
    checkpoint.join();
    EXPECT_EQ(status.load(), 200);
    EXPECT_EQ(answer["durable_offset"], 3000) << "it ran after the PUT";
  }
  // A DELETE waits too, then discards the upload.
  {
    auto put = stalledPut(port_, id, a.data.size(), 3000, 5000);
    EXPECT_TRUE(put->send(a.data.substr(3000, 5)));
    std::atomic<int> status{0};
    std::jthread remove([&] {
      auto c = client(kToken);
      status = call(*c, "DELETE", "/v1/uploads/" + id).status;
    });
    EXPECT_TRUE(pkgxfer::testing::waitFor([&] { return handlers() == 2; }, 20s));
    EXPECT_EQ(status.load(), 0) << "the DELETE waits while the PUT holds the upload";
    put.reset();  // the site's side of the PUT goes away
    remove.join();
    EXPECT_EQ(status.load(), 204);
  }
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return handlers() == 0; }, 20s));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 0);
  EXPECT_EQ(putRange(id, a, 3000, 4000).status, 404);
}

TEST_F(DpServiceTest, ARequestWaitingForAnUploadTheHolderDiscardedFindsItGone) {
  const Body a = makeBody(100 * 1024, 58);
  const std::size_t size = a.data.size();
  const std::string id = openUpload(a)["upload"];
  ASSERT_EQ(putRange(id, a, 0, size - 10, true).status, 200);
  // The last 10 bytes, wrong, of a PUT that holds the upload.
  std::string wrong = a.data;
  wrong[size - 1] ^= 1;
  auto put = stalledPut(port_, id, size, size - 10, size);
  std::atomic<int> status{0};
  std::jthread checkpoint([&] {
    auto c = client(kToken);
    status = call(*c, "POST", "/v1/uploads/" + id + "/checkpoint").status;
  });
  EXPECT_TRUE(pkgxfer::testing::waitFor([&] { return dp_->stats().handlers == 2; }, 20s));
  EXPECT_EQ(status.load(), 0) << "the checkpoint waits while the PUT holds the upload";
  // The rest: the seal finds the mismatch and the DP discards the upload under the waiter.
  EXPECT_TRUE(put->send(wrong.substr(size - 10)));
  auto r = put->readResponse(20s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 422) << r->body;
  checkpoint.join();
  EXPECT_EQ(status.load(), 404);
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
  EXPECT_EQ(jsonOf(get("/v1/library"))["uploads_open"], 0);
}

// ---- a DP restart -------------------------------------------------------------------------------

TEST_F(DpServiceTest, AResumableUploadContinuesAtItsDurableOffsetAfterARestart) {
  const std::size_t mib = 1024 * 1024;
  const Body a = makeBody(3 * mib + 77, 48);
  const std::string id = openUpload(a)["upload"];
  auto r = putRange(id, a, 0, mib, /*checkpoint=*/true);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(jsonOf(r)["durable_offset"], mib);
  // More bytes, never made durable: the site does not count on them.
  ASSERT_EQ(putRange(id, a, mib, mib + mib / 2).status, 200);

  restart();
  // The DP forgot its uploads, but the temporary file is where it was.
  r = putRange(id, a, mib + mib / 2, 2 * mib);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(reasonOf(r), "unknown_upload");
  ASSERT_TRUE(fs::exists(uploadPath(id, a)));

  const json resumed = openUpload(a, {{"resume", id}, {"offset", mib}});
  EXPECT_EQ(resumed["upload"], id) << "the same upload, under the same name";
  EXPECT_EQ(resumed["offset"], mib);
  EXPECT_EQ(fs::file_size(uploadPath(id, a)), mib) << "bytes past the durable offset are cut";
  EXPECT_NE(logText().find("Resuming the upload of " + a.sha), std::string::npos);
  // Bytes at the old, non-durable offset are refused: the DP holds mib.
  r = putRange(id, a, mib + mib / 2, 2 * mib);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(jsonOf(r)["offset"], mib);
  ASSERT_EQ(putRange(id, a, mib, 2 * mib, true).status, 200);
  r = putRange(id, a, 2 * mib, a.data.size());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["sealed"], true) << "the resumed body's hash matches (read back)";
  r = sendJson(site(), "POST", "/v1/install", {{"uploads", {id}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(bodyFileContent(a) == a.data);
  EXPECT_TRUE(temporaryFiles().empty());
  auto got = get("/v1/files/" + a.sha);
  EXPECT_EQ(sha256Hex(got.body), a.sha);
}

TEST_F(DpServiceTest, AResumeThatCannotContinueStartsOver) {
  const Body a = makeBody(200 * 1024, 49);
  const std::string id = openUpload(a)["upload"];
  ASSERT_EQ(putRange(id, a, 0, 1000, true).status, 200);
  restart();
  // An offset past what the file holds (the DP lost data): the upload starts over from 0, under
  // the same id.
  const json fresh = openUpload(a, {{"resume", id}, {"offset", 5000}});
  EXPECT_EQ(fresh["offset"], 0);
  EXPECT_EQ(fresh["upload"], id);
  const std::string id2 = fresh["upload"];
  EXPECT_EQ(fs::file_size(uploadPath(id2, a)), 0u);
  auto r = putRange(id2, a, 1000, 2000);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(jsonOf(r)["offset"], 0);
  // A name the DP no longer has: a new upload from 0, under a new name.
  ASSERT_EQ(call(site(), "DELETE", "/v1/uploads/" + id2).status, 204);
  EXPECT_TRUE(temporaryFiles().empty());
  const json again = openUpload(a, {{"resume", id2}, {"offset", 1000}});
  EXPECT_EQ(again["offset"], 0);
  const std::string id3 = again["upload"];
  EXPECT_NE(id3, id2);
  EXPECT_NE(logText().find("cannot resume"), std::string::npos);
  ASSERT_EQ(putRange(id3, a, 0, a.data.size()).status, 200);
  ASSERT_EQ(sendJson(site(), "POST", "/v1/install", {{"uploads", {id3}}}).status, 200);
  EXPECT_TRUE(bodyFileContent(a) == a.data);
  EXPECT_TRUE(temporaryFiles().empty());
}

// ---- slow clients and timeouts ------------------------------------------------------------------

class DpTimeoutTest : public DpServiceTest {
 protected:
  static constexpr auto kRequestTimeout = 1500ms;
  static constexpr auto kBodyIdleTimeout = 1000ms;
  void SetUp() override {
    DpServiceOptions o = dpOptions();
    o.server.request_timeout = kRequestTimeout;
    o.body_idle_timeout = kBodyIdleTimeout;
    o.upload_idle_timeout = 300ms;
    o.send_lease = 300ms;
    startDp(o);
  }
  using Steady = std::chrono::steady_clock;
};

TEST_F(DpTimeoutTest, AStalledRequestHeadIsCutWhileOthersAreServed) {
  const auto began = Steady::now();
  RawSocket slow(port_);
  ASSERT_TRUE(slow.send("GET /v1/library HTTP/1.1\r\nHost: 127.0.0.1\r\n"));  // and no more
  // Others are served meanwhile.
  const Body a = makeBody(1000, 50);
  putFile(a);
  EXPECT_EQ(get("/v1/files/" + a.sha).status, 200);
  EXPECT_EQ(get("/v1/library").status, 200);
  ASSERT_TRUE(slow.waitClosed(20s)) << "the stalled client is cut";
  EXPECT_GE(Steady::now() - began, kRequestTimeout);
  EXPECT_TRUE(slow.received().empty()) << "with no response: " << slow.received();
}

TEST_F(DpTimeoutTest, ATricklingRequestHeadIsCutAtTheRequestTimeout) {
  // One byte every 100 ms: progress, but the whole head must arrive within request_timeout.
  const std::string head = rawHead("GET", "/v1/library", {}, std::nullopt,
                                   "X-Padding: " + std::string(200, 'p') + "\r\n");
  const auto began = Steady::now();
  RawSocket slow(port_);
  std::size_t sent = 0;
  bool closed = false;
  while (sent < head.size() && Steady::now() - began < 20s) {
    if (!slow.send(head.substr(sent, 1))) {
      closed = true;
      break;
    }
    ++sent;
    if (slow.waitClosed(100ms)) {
      closed = true;
      break;
    }
    if (sent == 3) {
      EXPECT_EQ(get("/v1/library").status, 200) << "others are served";
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, head.size()) << "the head never arrived whole";
  EXPECT_GE(Steady::now() - began, kRequestTimeout);
  EXPECT_TRUE(slow.received().empty()) << slow.received();
}

TEST_F(DpTimeoutTest, AStalledUploadIsCutAndLeavesNothing) {
  const Body a = makeBody(100 * 1024, 51);
  RawSocket slow(port_);
  ASSERT_TRUE(slow.send(rawHead("PUT", "/v1/files/" + a.sha, kToken, a.data.size())));
  const auto stalled = Steady::now();  // before the last bytes the DP receives
  ASSERT_TRUE(slow.send(std::string_view(a.data).substr(0, 1000)));
  // Others are served meanwhile, uploads included.
  const Body b = makeBody(50 * 1024, 52);
  putFile(b);
  EXPECT_TRUE(get("/v1/files/" + b.sha).body == b.data);
  ASSERT_TRUE(slow.waitClosed(20s));
  EXPECT_GE(Steady::now() - stalled, kBodyIdleTimeout);
  ASSERT_TRUE(pkgxfer::testing::waitFor(
      [&] { return logText().find("Upload of " + a.sha) != std::string::npos; }, 20s));
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return dp_->stats().handlers == 0; }, 20s));
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_TRUE(temporaryFiles().empty()) << ::testing::PrintToString(temporaryFiles());
}

TEST_F(DpTimeoutTest, AStalledResumableUploadIsCutAndResumesFromItsCheckpoint) {
  const Body a = makeBody(100 * 1024, 53);
  const std::string id = openUpload(a)["upload"];
  ASSERT_EQ(putRange(id, a, 0, 10000, true).status, 200);
  {
    RawSocket slow(port_);
    ASSERT_TRUE(
        slow.send(rawHead("PUT", "/v1/uploads/" + id, kToken, a.data.size() - 10000,
                          "Content-Range: bytes 10000-" + std::to_string(a.data.size() - 1) + "/" +
                              std::to_string(a.data.size()) + "\r\n")));
    ASSERT_TRUE(slow.send(std::string_view(a.data).substr(10000, 500)));
    ASSERT_TRUE(slow.waitClosed(20s));
  }
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return dp_->stats().handlers == 0; }, 20s));
  ASSERT_TRUE(fs::exists(uploadPath(id, a))) << "a resumable upload keeps its file";
  const json resumed = openUpload(a, {{"resume", id}, {"offset", 10000}});
  EXPECT_EQ(resumed["upload"], id);
  EXPECT_EQ(resumed["offset"], 10000);
  auto r = putRange(id, a, 10000, a.data.size());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["sealed"], true);
  ASSERT_EQ(sendJson(site(), "POST", "/v1/install", {{"uploads", {id}}}).status, 200);
  EXPECT_TRUE(bodyFileContent(a) == a.data);
}

TEST_F(DpTimeoutTest, ATricklingJsonBodyIsCutAtTheRequestTimeout) {
  const std::string body = json({{"sha256", {makeBody(1, 1).sha, makeBody(2, 2).sha}}}).dump();
  const auto began = Steady::now();
  RawSocket slow(port_);
  ASSERT_TRUE(slow.send(rawHead("POST", "/v1/inventory", {}, body.size())));
  std::size_t sent = 0;
  bool closed = false;
  while (sent < body.size() && Steady::now() - began < 20s) {
    if (!slow.send(body.substr(sent, 1))) {
      closed = true;
      break;
    }
    ++sent;
    if (slow.waitClosed(100ms)) {
      closed = true;
      break;
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, body.size());
  EXPECT_GE(Steady::now() - began, kRequestTimeout);
  EXPECT_EQ(get("/v1/library").status, 200);
}

TEST_F(DpTimeoutTest, AnUploadThatPausesLessThanTheBodyIdleTimeoutCompletes) {
  // A rate-limited site: the body takes longer than request_timeout, but never pauses for
  // body_idle_timeout.
  const Body a = makeBody(40, 54);
  const auto began = Steady::now();
  RawSocket sock(port_);
  ASSERT_TRUE(sock.send(rawHead("PUT", "/v1/files/" + a.sha, kToken, a.data.size())));
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    ASSERT_TRUE(sock.send(a.data.substr(i, 1)));
    if (i + 1 < a.data.size()) {
      ASSERT_FALSE(sock.waitClosed(100ms)) << "cut after " << i + 1;
    }
  }
  auto r = sock.readResponse(20s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_GE(Steady::now() - began, kRequestTimeout);
  EXPECT_TRUE(bodyFileContent(a) == a.data);
}

TEST_F(DpTimeoutTest, AnIdleUploadIsClosedButItsFileKeptForAResume) {
  const Body a = makeBody(50 * 1024, 55);
  const std::string id = openUpload(a)["upload"];
  ASSERT_EQ(putRange(id, a, 0, 2000, true).status, 200);
  // Requests that may meet an idle upload sweep them (here: a removal of nothing).
  ASSERT_TRUE(pkgxfer::testing::waitFor(
      [&] {
        sendJson(site(), "POST", "/v1/bodies/remove", {{"sha256", json::array()}});
        return jsonOf(get("/v1/library"))["uploads_open"] == 0;
      },
      20s));
  EXPECT_EQ(putRange(id, a, 2000, 3000).status, 404);
  ASSERT_TRUE(fs::exists(uploadPath(id, a)));
  const json resumed = openUpload(a, {{"resume", id}, {"offset", 2000}});
  EXPECT_EQ(resumed["upload"], id);
  EXPECT_EQ(resumed["offset"], 2000);
  ASSERT_EQ(putRange(id, a, 2000, a.data.size()).status, 200);
  ASSERT_EQ(sendJson(site(), "POST", "/v1/install", {{"uploads", {id}}}).status, 200);
  EXPECT_TRUE(bodyFileContent(a) == a.data);
}

TEST_F(DpTimeoutTest, ASendWhoseLeaseRanOutNoLongerPins) {
  const Body a = makeBody(100, 56);
  putFile(a);
  auto r = sendJson(site(), "POST", "/v1/sends", {{"owner", kOwner}, {"sha256", {a.sha}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(jsonOf(r)["lease_ms"], 300);
  const std::string send = jsonOf(r)["send"];
  ASSERT_TRUE(pkgxfer::testing::waitFor(
      [&] {
        auto removed = sendJson(site(), "POST", "/v1/bodies/remove", {{"sha256", {a.sha}}});
        return jsonOf(removed)["removed"] == 1;
      },
      20s));
  EXPECT_FALSE(hasBodyFile(a));
  EXPECT_EQ(call(site(), "POST", "/v1/sends/" + send + "/renew").status, 404);
}

}  // namespace
}  // namespace pkgxfer::dp
