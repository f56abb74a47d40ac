// HttpTransport against a real DP (DpService over a content library, real sockets on 127.0.0.1):
// the whole Transport contract as the checks and the jobs use it, resumes across restarts of the
// DP and of the site's side, and the errors an administrator reads.

#include "pkgxfer/transport/http_transport.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dp/dp_fixture.h"
#include "pkgxfer/content/manifest.h"
#include "pkgxfer/content/sha256.h"

namespace pkgxfer::transport {
namespace {

using dp::testing::kToken;
using http::testing::fillPattern;
using http::testing::sha256Hex;
using pkgxfer::testing::readFile;
using pkgxfer::testing::writeFile;

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

class HttpTransportTest : public dp::testing::DpFixture {
 protected:
  void SetUp() override { startDp(); }

  std::unique_ptr<HttpTransport> transport(std::string token = kToken, std::string url = {}) {
    HttpTransportOptions o;
    o.base_url = url.empty() ? this->url() : url;
    o.bearer_token = std::move(token);
    o.site_code = "PS1";
    o.io_timeout = std::chrono::seconds(10);
    o.connect_timeout = std::chrono::seconds(5);
    auto made = HttpTransport::create(std::move(o));
    EXPECT_TRUE(made.ok()) << made.status().toString();
    return made.ok() ? std::move(*made) : nullptr;
  }

  // A manifest of PS100001 v`version` with one file per body.
  static std::shared_ptr<content::Manifest> manifestOf(const std::vector<Body>& bodies,
                                                       std::uint64_t version = 1) {
    auto m = std::make_shared<content::Manifest>();
    m->package_id = "PS100001";
    m->version = version;
    m->name = "Test";
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      content::ManifestFile f;
      f.path = "dir/file" + std::to_string(i) + ".bin";
      f.size = bodies[i].data.size();
      f.sha256 = bodies[i].sha;
      f.attributes = 0644;
      m->files.push_back(f);
    }
    content::canonicalizeManifest(*m);
    return m;
  }

  static CallContext ctx() { return within(std::chrono::seconds(30)); }

  // Sends `body` through `send`, in blocks, checkpointing after `checkpoint_after` bytes (0:
  // never).
  static std::unique_ptr<BodyUpload> upload(ContentSend& send, const Body& body,
                                            std::size_t block = 64 * 1024,
                                            std::size_t stop_after = SIZE_MAX) {
    BodySpec spec;
    spec.sha256 = body.sha;
    spec.size = body.data.size();
    auto up = send.openBody(spec, ctx());
    EXPECT_TRUE(up.ok()) << up.status().toString();
    if (!up.ok()) return nullptr;
    std::size_t at = 0;
    while (at < body.data.size() && at < stop_after) {
      const std::size_t n = std::min(block, body.data.size() - at);
      Status s = (*up)->write(body.data.data() + at, n, ctx());
      EXPECT_TRUE(s.ok()) << s.toString();
      at += n;
    }
    return std::move(*up);
  }
};

TEST_F(HttpTransportTest, ProbeAdoptsTheLibraryAndReportsFreeSpace) {
  auto t = transport();
  auto probe = t->probe(ctx());
  ASSERT_TRUE(probe.ok()) << probe.status().toString();
  EXPECT_GT(probe->free_bytes, 0u);
  EXPECT_EQ(probe->location, url());
  EXPECT_EQ(library_->identity().site_code, "PS1") << "the first probe records the site";
  // Another site's transport is refused, naming the owner.
  HttpTransportOptions o;
  o.base_url = url();
  o.bearer_token = kToken;
  o.site_code = "XY9";
  auto other = HttpTransport::create(o);
  ASSERT_TRUE(other.ok());
  auto refused = (*other)->probe(ctx());
  EXPECT_EQ(refused.status().code(), Status::Code::Unavailable);
  EXPECT_NE(refused.status().message().find("belongs to site PS1"), std::string::npos)
      << refused.status().toString();
}

TEST_F(HttpTransportTest, AFreshLibraryWhereTheSiteExpectsContentIsNotTheSitesOwn) {
  auto t = transport();
  ProbeOptions expect;
  expect.expect_initialised = true;
  auto probe = t->probe(ctx(), expect);
  EXPECT_EQ(probe.status().code(), Status::Code::Unavailable);
  EXPECT_NE(probe.status().message().find("is not the one this site initialised"),
            std::string::npos)
      << probe.status().toString();
  EXPECT_TRUE(library_->identity().site_code.empty()) << "nothing was adopted";
}

TEST_F(HttpTransportTest, SendsSmallAndLargeBodiesCommitsAndReadsBack) {
  auto t = transport();
  ASSERT_TRUE(t->probe(ctx()).ok());
  std::vector<Body> bodies = {makeBody(10, 1), makeBody(300 * 1024, 2), makeBody(3 << 20, 3),
                              makeBody(0, 4)};
  auto manifest = manifestOf(bodies);
  auto inv = t->inventory(content::uniqueBodies(*manifest), ctx());
  ASSERT_TRUE(inv.ok()) << inv.status().toString();
  EXPECT_TRUE(inv->empty());

  auto send = t->beginSend(manifest, "PS100001", ctx());
  ASSERT_TRUE(send.ok()) << send.status().toString();
  std::vector<std::unique_ptr<BodyUpload>> ups;
  for (const Body& b : bodies) {
    ups.push_back(upload(**send, b, 256 * 1024));
    ASSERT_TRUE(ups.back());
    Status sealed = ups.back()->seal(ctx());
    ASSERT_TRUE(sealed.ok()) << sealed.toString();
  }
  // Before the install nothing is under a final name, and the manifest is refused.
  EXPECT_EQ((*send)->commit(ctx()).code(), Status::Code::NotFound);
  std::vector<BodyUpload*> batch;
  for (auto& u : ups) batch.push_back(u.get());
  Status installed = (*send)->install(batch, ctx());
  ASSERT_TRUE(installed.ok()) << installed.toString();
  Status committed = (*send)->commit(ctx());
  ASSERT_TRUE(committed.ok()) << committed.toString();

  for (const Body& b : bodies) {
    EXPECT_EQ(readFile(library_->bodyPath(b.sha)), b.data);
  }
  auto read = t->readManifest("PS100001", 1, ctx());
  ASSERT_TRUE(read.ok()) << read.status().toString();
  EXPECT_EQ(*read, *manifest);
  auto versions = t->listVersions("PS100001", ctx());
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, std::vector<std::uint64_t>{1});
  auto report = t->validate("PS100001", 1, ctx());
  ASSERT_TRUE(report.ok()) << report.status().toString();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->bodies_checked, 4u);
  auto inv2 = t->inventory(content::uniqueBodies(*manifest), ctx());
  ASSERT_TRUE(inv2.ok());
  EXPECT_EQ(inv2->size(), 4u);
  EXPECT_EQ(t->clientStats().connections_opened, 1u) << "one kept-alive connection for all";

  // Remove: manifest first, then the bodies.
  ASSERT_TRUE(t->removeContent("PS100001", 1, ctx()).ok());
  EXPECT_EQ(t->readManifest("PS100001", 1, ctx()).status().code(), Status::Code::NotFound);
  EXPECT_FALSE(library_->hasBody(bodies[2].sha));
  EXPECT_EQ(t->removeContent("PS100001", 1, ctx()).code(), Status::Code::NotFound);
}

TEST_F(HttpTransportTest, ACorruptBodyIsRejectedAndNothingIsLeft) {
  auto t = transport();
  Body good = makeBody(2 << 20, 5);
  Body bad = good;
  bad.data[12345] ^= 1;
  auto manifest = manifestOf({good});
  auto send = t->beginSend(manifest, "PS100001", ctx());
  ASSERT_TRUE(send.ok());
  BodySpec spec;
  spec.sha256 = good.sha;
  spec.size = good.data.size();
  auto up = (*send)->openBody(spec, ctx());
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE((*up)->write(bad.data.data(), bad.data.size() - 10, ctx()).ok());
  Status last = (*up)->write(bad.data.data() + bad.data.size() - 10, 10, ctx());
  if (last.ok()) last = (*up)->seal(ctx());
  EXPECT_EQ(last.code(), Status::Code::Corruption) << last.toString();
  EXPECT_FALSE(library_->hasBody(good.sha));
  auto temps = library_->cleanTemporaryFiles();
  ASSERT_TRUE(temps.ok());
  std::size_t files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(root_ / "FileLib")) {
    files += e.is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(files, 0u) << "no temporary file remains";
}

TEST_F(HttpTransportTest, ALargeBodyResumesFromTheDurableOffsetAfterTheDpRestarts) {
  auto t = transport();
  Body big = makeBody(6 << 20, 6);
  auto manifest = manifestOf({big});
  std::string temp;
  std::uint64_t durable = 0;
  {
    auto send = t->beginSend(manifest, "PS100001", ctx());
    ASSERT_TRUE(send.ok());
    auto up = upload(**send, big, 1 << 20, 4 << 20);
    ASSERT_TRUE(up);
    ASSERT_TRUE(up->checkpoint(ctx()).ok());
    durable = up->offset();
    temp = up->tempName();
    // One more block that is never made durable.
    ASSERT_TRUE(up->write(big.data.data() + durable, 1 << 20, ctx()).ok());
  }
  EXPECT_EQ(durable, 4u << 20);
  restartDp();

  auto send = t->beginSend(manifest, "PS100001", ctx());
  ASSERT_TRUE(send.ok()) << send.status().toString();
  BodySpec spec;
  spec.sha256 = big.sha;
  spec.size = big.data.size();
  spec.resume_temp_name = temp;
  spec.resume_offset = durable;
  auto up = (*send)->openBody(spec, ctx());
  ASSERT_TRUE(up.ok()) << up.status().toString();
  EXPECT_EQ((*up)->offset(), durable) << "resumed, not restarted";
  EXPECT_EQ((*up)->tempName(), temp);
  ASSERT_TRUE((*up)->write(big.data.data() + durable, big.data.size() - durable, ctx()).ok());
  ASSERT_TRUE((*up)->seal(ctx()).ok());
  BodyUpload* batch[] = {up->get()};
  ASSERT_TRUE((*send)->install(batch, ctx()).ok());
  ASSERT_TRUE((*send)->commit(ctx()).ok());
  EXPECT_EQ(readFile(library_->bodyPath(big.sha)), big.data);
  EXPECT_NE(logText().find("Resuming the upload of " + big.sha), std::string::npos);
}

TEST_F(HttpTransportTest, AResumeNameTheDpNoLongerHasStartsOver) {
  auto t = transport();
  Body big = makeBody(3 << 20, 7);
  auto manifest = manifestOf({big});
  auto send = t->beginSend(manifest, "PS100001", ctx());
  ASSERT_TRUE(send.ok());
  BodySpec spec;
  spec.sha256 = big.sha;
  spec.size = big.data.size();
  spec.resume_temp_name = "." + big.sha + ".PS100001.0123456789abcdef.partial";
  spec.resume_offset = 1 << 20;
  auto up = (*send)->openBody(spec, ctx());
  ASSERT_TRUE(up.ok()) << up.status().toString();
  EXPECT_EQ((*up)->offset(), 0u);
  ASSERT_TRUE((*up)->write(big.data.data(), big.data.size(), ctx()).ok());
  ASSERT_TRUE((*up)->seal(ctx()).ok());
}

TEST_F(HttpTransportTest, AbortAndDiscardLeaveNoTemporaryFile) {
  auto t = transport();
  Body big = makeBody(3 << 20, 8);
  auto manifest = manifestOf({big});
  auto send = t->beginSend(manifest, "PS100001", ctx());
  ASSERT_TRUE(send.ok());
  auto up = upload(**send, big, 1 << 20, 2 << 20);
  ASSERT_TRUE(up);
  ASSERT_TRUE(up->checkpoint(ctx()).ok());
  const std::string temp = up->tempName();
  EXPECT_TRUE(std::filesystem::exists(library_->bodyPath(big.sha).parent_path() / temp));
  up.reset();  // kept for a resume
  EXPECT_TRUE(std::filesystem::exists(library_->bodyPath(big.sha).parent_path() / temp));
  ASSERT_TRUE(t->discardTemp(big.sha, temp, ctx()).ok());
  EXPECT_FALSE(std::filesystem::exists(library_->bodyPath(big.sha).parent_path() / temp));
  EXPECT_TRUE(t->discardTemp(big.sha, temp, ctx()).ok()) << "idempotent";

  // Leftovers of an owner, found by owner: the DP restarted meanwhile.
  auto again = upload(**send, big, 1 << 20, 2 << 20);
  ASSERT_TRUE(again && again->checkpoint(ctx()).ok());
  again.reset();
  restartDp();
  auto n = t->discardLeftovers("PS100001", {big.sha}, ctx());
  ASSERT_TRUE(n.ok()) << n.status().toString();
  EXPECT_EQ(*n, 1u);
}

TEST_F(HttpTransportTest, AWrongTokenIsPermissionDeniedAndChangesNothing) {
  auto t = transport("not-the-token");
  Body b = makeBody(100, 9);
  auto send = t->beginSend(manifestOf({b}), "PS100001", ctx());
  ASSERT_FALSE(send.ok());
  EXPECT_EQ(send.status().code(), Status::Code::PermissionDenied);
  EXPECT_NE(send.status().message().find("token"), std::string::npos) << send.status().toString();
  // Reads need no token.
  EXPECT_TRUE(t->inventory({b.sha}, ctx()).ok());
}

TEST_F(HttpTransportTest, ADpThatIsDownIsUnavailableWithTheCause) {
  auto t = transport();
  stopDp();
  auto probe = t->probe(ctx());
  EXPECT_EQ(probe.status().code(), Status::Code::Unavailable);
  EXPECT_NE(probe.status().message().find("Connection refused"), std::string::npos)
      << probe.status().toString();
}

TEST_F(HttpTransportTest, ValidateReportsAMismatchedBody) {
  auto t = transport();
  Body b = makeBody(4096, 10);
  auto manifest = manifestOf({b});
  auto send = t->beginSend(manifest, "PS100001", ctx());
  ASSERT_TRUE(send.ok());
  auto up = upload(**send, b);
  ASSERT_TRUE(up->seal(ctx()).ok());
  BodyUpload* batch[] = {up.get()};
  ASSERT_TRUE((*send)->install(batch, ctx()).ok());
  ASSERT_TRUE((*send)->commit(ctx()).ok());
  writeFile(library_->bodyPath(b.sha), "tampered");
  auto report = t->validate("PS100001", 1, ctx());
  ASSERT_TRUE(report.ok()) << report.status().toString();
  ASSERT_EQ(report->mismatched.size(), 1u);
  EXPECT_EQ(report->mismatched[0].path, "dir/file0.bin");
  EXPECT_EQ(t->validate("PS100001", 2, ctx()).status().code(), Status::Code::NotFound);
}

}  // namespace
}  // namespace pkgxfer::transport

namespace pkgxfer::transport {
namespace {

// A DP behind a reverse proxy: its API under a path of the address.
TEST_F(HttpTransportTest, ADpAddressWithAPathPutsTheApiUnderIt) {
  auto& proxy = startServer(serverOptions(), [](http::Server& s) {
    ASSERT_TRUE(
        s.addRoute("GET", "/sites/dp03/v1/library", {}, [](http::Request&, http::Response& res) {
           return res.sendJson(200, {{"site_code", "PS1"},
                                     {"library_id", "abc"},
                                     {"writable", true},
                                     {"free_bytes", 42}});
         }).ok());
  });
  auto t = transport(kToken, "http://127.0.0.1:" + std::to_string(proxy.port()) + "/sites/dp03/");
  ASSERT_TRUE(t);
  auto probe = t->probe(ctx());
  ASSERT_TRUE(probe.ok()) << probe.status().toString();
  EXPECT_EQ(probe->free_bytes, 42u);
}

}  // namespace
}  // namespace pkgxfer::transport

namespace pkgxfer::transport {
namespace {

// A large body's small writes go up in a few large PUTs; a checkpoint is one of them.
TEST_F(HttpTransportTest, ALargeBodyGoesUpInAFewLargeRequests) {
  auto t = transport();
  Body big = makeBody(20 << 20, 11);
  auto manifest = manifestOf({big});
  auto send = t->beginSend(manifest, "PS100001", ctx());
  ASSERT_TRUE(send.ok());
  const auto before = t->clientStats().requests;
  BodySpec spec;
  spec.sha256 = big.sha;
  spec.size = big.data.size();
  auto up = (*send)->openBody(spec, ctx());  // 1 request
  ASSERT_TRUE(up.ok());
  const std::size_t block = 256 * 1024;
  for (std::size_t at = 0; at < big.data.size(); at += block) {
    ASSERT_TRUE((*up)->write(big.data.data() + at, block, ctx()).ok());
    if ((at + block) % (6 << 20) == 0) {  // the job checkpoints every few MiB
      ASSERT_TRUE((*up)->checkpoint(ctx()).ok());
      EXPECT_EQ((*up)->offset(), at + block);
    }
  }
  ASSERT_TRUE((*up)->seal(ctx()).ok());
  // 80 writes: at most open + 3 checkpoints + 8 MiB PUTs + the last one, far from 80 PUTs.
  EXPECT_LE(t->clientStats().requests - before, 8u);
  BodyUpload* batch[] = {up->get()};
  ASSERT_TRUE((*send)->install(batch, ctx()).ok());
  ASSERT_TRUE((*send)->commit(ctx()).ok());
  EXPECT_EQ(readFile(library_->bodyPath(big.sha)), big.data);
}

}  // namespace
}  // namespace pkgxfer::transport
