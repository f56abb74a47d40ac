// HTTPS: the server's certificate files, and the client's verification of the server (CA, name,
// validity), with certificates the test makes with the openssl CLI.

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "fakes/test_util.h"
#include "http/http_test_util.h"
#include "pkgxfer/http/client.h"
#include "pkgxfer/http/server.h"
#include "tls.h"

namespace pkgxfer::http {
namespace {

using namespace std::chrono_literals;
using testing::HttpTest;
using testing::RawSocket;
using testing::testCerts;

class TlsTest : public HttpTest {
 protected:
  Server& startTls(const std::filesystem::path& cert) {
    ServerOptions o = serverOptions();
    o.tls = ServerTlsOptions{cert, testCerts().server_key};
    return startServer(o, [](Server& s) {
      ASSERT_TRUE(s.addRoute("GET", "/x", {}, [](Request&, Response& res) {
                     return res.send(200, "secure");
                   }).ok());
      RouteOptions big;
      big.max_body_bytes = 64 << 20;
      ASSERT_TRUE(s.addRoute("PUT", "/echo-hash", big, [](Request& req, Response& res) {
                     testing::Sha256 h;
                     std::vector<char> buf(1 << 20);
                     while (true) {
                       PKGXFER_ASSIGN_OR_RETURN(std::size_t n, req.read(buf.data(), buf.size()));
                       if (n == 0) break;
                       h.update(buf.data(), n);
                     }
                     return res.send(200, h.hex(), "text/plain");
                   }).ok());
    });
  }

  std::unique_ptr<Client> tlsClient(std::uint16_t port, const std::filesystem::path& ca,
                                    const std::string& host = "127.0.0.1") {
    ClientOptions o;
    o.base_url = "https://" + host + ":" + std::to_string(port);
    o.ca_file = ca;
    return makeClient(port, o);
  }
};

// Verifies that a client trusting the right CA talks to the server by IP and by name, and that a
// streamed body crosses TLS intact.
TEST_F(TlsTest, RightCaWorks) {
  Server& s = startTls(testCerts().server_cert);
  for (const char* host : {"127.0.0.1", "localhost"}) {
    auto client = tlsClient(s.port(), testCerts().ca, host);
    auto r = client->get(within(10s), "/x");
    ASSERT_TRUE(r.ok()) << host << ": " << r.status().toString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "secure");
    ASSERT_TRUE(client->get(within(10s), "/x").ok());
    EXPECT_EQ(client->stats().connections_opened, 1u);
  }
  auto client = tlsClient(s.port(), testCerts().ca);
  constexpr std::uint64_t kSize = 8ull << 20;
  std::string data(kSize, '\0');
  testing::fillPattern(data.data(), data.size(), 0);
  ClientRequest put;
  put.method = "PUT";
  put.target = "/echo-hash";
  std::uint64_t offset = 0;
  auto r = client->upload(within(30s), put, kSize, [&](char* buf, std::size_t size) {
    std::memcpy(buf, data.data() + offset, size);
    offset += size;
    return Result<std::size_t>(size);
  });
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->body, testing::sha256Hex(data));
}

// Verifies that a client trusting another CA fails with OpenSSL's verify reason.
TEST_F(TlsTest, WrongCaFailsWithTheVerifyReason) {
  Server& s = startTls(testCerts().server_cert);
  auto client = tlsClient(s.port(), testCerts().other_ca);
  auto r = client->get(within(10s), "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::Unavailable);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("TLS handshake with 127.0.0.1:" + std::to_string(s.port()) +
                   ": certificate verify failed (unable to get local issuer certificate)"),
            std::string::npos)
      << m;
  // The server logs its side of the failure (once the client's alert reached it).
  EXPECT_TRUE(pkgxfer::testing::waitFor(
      [&] { return logText().find("TLS handshake with 127.0.0.1") != std::string::npos; }));
}

// Verifies that an expired certificate fails with "certificate has expired".
TEST_F(TlsTest, ExpiredCertificateFails) {
  Server& s = startTls(testCerts().expired_cert);
  auto client = tlsClient(s.port(), testCerts().ca);
  auto r = client->get(within(10s), "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("certificate verify failed (certificate has expired)"),
            std::string::npos)
      << r.status().toString();
}

// Verifies that a certificate for another name fails the host check, by IP and by name.
TEST_F(TlsTest, CertificateForAnotherNameFails) {
  Server& s = startTls(testCerts().wrong_name_cert);
  auto by_ip = tlsClient(s.port(), testCerts().ca);
  auto r = by_ip->get(within(10s), "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("IP address mismatch"), std::string::npos)
      << r.status().toString();
  auto by_name = tlsClient(s.port(), testCerts().ca, "localhost");
  r = by_name->get(within(10s), "/x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("hostname mismatch"), std::string::npos)
      << r.status().toString();
}

// Verifies that a plain-HTTP client talking to the TLS port gets an error, not a hang, and the
// server goes on.
TEST_F(TlsTest, PlainClientOnTlsPortFails) {
  Server& s = startTls(testCerts().server_cert);
  auto plain = makeClient(s.port());
  auto r = plain->get(within(10s), "/x");
  EXPECT_FALSE(r.ok());
  auto good = tlsClient(s.port(), testCerts().ca);
  EXPECT_TRUE(good->get(within(10s), "/x").ok());
}

// Verifies that bad TLS files are start-up errors naming the file.
TEST_F(TlsTest, BadFilesAreClearStartUpErrors) {
  pkgxfer::testing::TempDir dir;
  pkgxfer::testing::writeFile(dir / "garbage.pem", "not a certificate\n");
  struct Case {
    std::filesystem::path cert, key;
    Status::Code code;
    std::string names;
  };
  const std::vector<Case> cases = {
      {dir / "missing.pem", testCerts().server_key, Status::Code::NotFound,
       (dir / "missing.pem").string()},
      {dir / "garbage.pem", testCerts().server_key, Status::Code::InvalidArgument,
       (dir / "garbage.pem").string()},
      {testCerts().server_cert, dir / "garbage.pem", Status::Code::InvalidArgument,
       (dir / "garbage.pem").string()},
      {testCerts().server_cert, testCerts().other_key, Status::Code::InvalidArgument,
       testCerts().other_key.string()},
  };
  for (const Case& c : cases) {
    ServerOptions o = serverOptions();
    o.tls = ServerTlsOptions{c.cert, c.key};
    Server s(io_, o);
    Status st = s.start();
    EXPECT_EQ(st.code(), c.code) << st.toString();
    EXPECT_NE(st.message().find(c.names), std::string::npos) << st.toString();
  }
  ClientOptions o;
  o.base_url = "https://127.0.0.1:1";
  o.ca_file = dir / "garbage.pem";
  auto c = Client::create(o);
  EXPECT_EQ(c.status().code(), Status::Code::InvalidArgument);
  EXPECT_NE(c.status().message().find("garbage.pem"), std::string::npos);
  o.ca_file = dir / "missing.pem";
  EXPECT_EQ(Client::create(o).status().code(), Status::Code::NotFound);
}

// Verifies that an encrypted private key is a clear start-up error naming the file, not a prompt
// for a password on the terminal.
TEST_F(TlsTest, EncryptedKeyIsAClearErrorNotAPrompt) {
  pkgxfer::testing::TempDir dir;
  const auto encrypted = dir / "encrypted.key";
  ASSERT_TRUE(testing::shell("openssl pkey -in '" + testCerts().server_key.string() +
                             "' -aes256 -passout pass:secret -out '" + encrypted.string() +
                             "' </dev/null >/dev/null 2>&1"));
  ServerOptions o = serverOptions();
  o.tls = ServerTlsOptions{testCerts().server_cert, encrypted};
  Server s(io_, o);
  Status st = s.start();
  EXPECT_EQ(st.code(), Status::Code::InvalidArgument) << st.toString();
  EXPECT_NE(st.message().find(encrypted.string() + " is encrypted"), std::string::npos)
      << st.toString();
}

// Verifies that the server's TLS context refuses renegotiation (a handshake per request, at the
// client's choice).
TEST_F(TlsTest, ServerRefusesRenegotiation) {
  auto ctx = detail::makeServerTlsContext(testCerts().server_cert, testCerts().server_key);
  ASSERT_TRUE(ctx.ok()) << ctx.status().toString();
  EXPECT_NE(::SSL_CTX_get_options((*ctx)->native_handle()) & SSL_OP_NO_RENEGOTIATION, 0u);
}

// Verifies that an HTTPS connection over max_connections is closed at once, without a handshake
// (a 503 would cost the full handshake the cap is there to avoid).
TEST_F(TlsTest, RefusedConnectionIsClosedWithoutAHandshake) {
  ServerOptions o = serverOptions();
  o.tls = ServerTlsOptions{testCerts().server_cert, testCerts().server_key};
  o.max_connections = 1;
  Server& s = startServer(o, nullptr);
  RawSocket held(s.port());  // in its handshake, for request_timeout (10 s)
  ASSERT_TRUE(pkgxfer::testing::waitFor([&] { return s.stats().accepted == 1; }));
  RawSocket refused(s.port());
  EXPECT_TRUE(refused.waitClosed(5s));
  EXPECT_TRUE(refused.received().empty());
  EXPECT_EQ(s.stats().dropped, 1u);
  EXPECT_EQ(s.stats().open_connections, 1u);
}

}  // namespace
}  // namespace pkgxfer::http
