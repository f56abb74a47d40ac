#include "http/http_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>

#include <openssl/evp.h>
#include <spdlog/sinks/base_sink.h>

namespace pkgxfer::http::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Keeps every formatted log line, for tests that look at the log.
class CapturingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard<std::mutex> lock(this->mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    text_.append(msg.payload.data(), msg.payload.size());
    text_ += '\n';
  }
  void flush_() override {}

 private:
  std::string text_;
};

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

}  // namespace

// --- Sha256
// ---------------------------------------------------------------------------------------

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::update(const void* data, std::size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}
std::string Sha256::hex() {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

void fillPattern(char* buf, std::size_t size, std::uint64_t offset, std::uint32_t seed) {
  for (std::size_t i = 0; i < size; ++i) {
    std::uint64_t x = (offset + i) * 0x9E3779B97F4A7C15ull + seed;
    x ^= x >> 29;
    buf[i] = static_cast<char>(x & 0xFF);
  }
}

// --- Raw responses and sockets
// --------------------------------------------------------------------

std::optional<RawResponse> takeResponse(std::string& data, bool head_request) {
  const std::size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  RawResponse r;
  std::istringstream head(data.substr(0, end));
  std::string line;
  std::getline(head, line);
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) return std::nullopt;
  r.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[lower(line.substr(0, colon))] = value;
  }
  std::size_t length = 0;
  if (!head_request && r.status != 204 && r.status != 304 && r.status / 100 != 1) {
    length =
        static_cast<std::size_t>(std::strtoull(r.header("content-length").c_str(), nullptr, 10));
  }
  if (data.size() < end + 4 + length) return std::nullopt;
  r.body = data.substr(end + 4, length);
  data.erase(0, end + 4 + length);
  return r;
}

RawSocket::RawSocket(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawSocket::~RawSocket() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawSocket::send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool RawSocket::readSome(Clock::time_point until) {
  if (eof_ || fd_ < 0) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
  if (left.count() < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  const int rc = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
  if (rc <= 0) return false;
  char buf[65536];
  const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  pending_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::optional<RawResponse> RawSocket::readResponse(std::chrono::milliseconds timeout,
                                                   bool head_request) {
  const auto until = Clock::now() + timeout;
  while (true) {
    if (auto r = takeResponse(pending_, head_request)) return r;
    if (!readSome(until)) return takeResponse(pending_, head_request);
  }
}

bool RawSocket::waitClosed(std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (!eof_) {
    if (!readSome(until) && !eof_) return false;
  }
  return true;
}

std::size_t RawSocket::readUpTo(std::size_t max, std::chrono::milliseconds timeout) {
  if (eof_ || fd_ < 0 || max == 0) return 0;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return 0;
  std::string buf(max, '\0');
  const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
  if (n <= 0) {
    eof_ = true;
    return 0;
  }
  pending_.append(buf.data(), static_cast<std::size_t>(n));
  return static_cast<std::size_t>(n);
}

void RawSocket::shutdownSend() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

// --- Certificates
// ---------------------------------------------------------------------------------

bool shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << command;
  return rc == 0;
}

const TestCerts& testCerts() {
  static const TestCerts certs = [] {
    // Lives until the process ends (gtest runs one process per ctest test): keep the folder.
    static pkgxfer::testing::TempDir dir;
    const fs::path d = dir.path();
    const std::string q = "'" + d.string() + "'";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    pkgxfer::testing::writeFile(d / "ext.cnf",
                                "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
    pkgxfer::testing::writeFile(d / "wrong.cnf",
                                "subjectAltName=DNS:elsewhere.example\n"
                                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
    pkgxfer::testing::writeFile(d / "index.txt", "");
    pkgxfer::testing::writeFile(d / "serial", "1000\n");
    fs::create_directories(d / "newcerts");
    pkgxfer::testing::writeFile(
        d / "ca.cnf",
        "[ ca ]\ndefault_ca = test_ca\n"
        "[ test_ca ]\n"
        "database = " +
            (d / "index.txt").string() +
            "\n"
            "new_certs_dir = " +
            (d / "newcerts").string() +
            "\n"
            "certificate = " +
            (d / "ca.pem").string() +
            "\n"
            "private_key = " +
            (d / "ca.key").string() +
            "\n"
            "serial = " +
            (d / "serial").string() +
            "\n"
            "default_md = sha256\npolicy = policy_any\nunique_subject = no\n"
            "[ policy_any ]\ncommonName = supplied\n"
            "[ server_ext ]\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n"
            "basicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n");
    const std::string quiet = " >/dev/null 2>&1";
    const std::string ca_ext =
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
    bool ok = shell("cd " + q + " && openssl req -x509" + ec +
                    " -keyout ca.key -out ca.pem -days 3650 -subj '/CN=pkgxfer test CA'" + ca_ext +
                    quiet) &&
              shell("cd " + q + " && openssl req -x509" + ec +
                    " -keyout other-ca.key -out other-ca.pem -days 3650 -subj '/CN=other CA'" +
                    ca_ext + quiet) &&
              shell("cd " + q + " && openssl req -new" + ec +
                    " -keyout server.key -out server.csr -subj '/CN=localhost'" + quiet) &&
              shell("cd " + q +
                    " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
                    " -out server.pem -days 365 -extfile ext.cnf" +
                    quiet) &&
              shell("cd " + q +
                    " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
                    " -out wrong-name.pem -days 365 -extfile wrong.cnf" +
                    quiet) &&
              // OpenSSL 3.0's x509 has no -not_before/-not_after; `openssl ca` takes explicit
              // dates.
              shell("cd " + q +
                    " && openssl ca -batch -config ca.cnf -in server.csr -out expired.pem -notext"
                    " -startdate 20200101000000Z -enddate 20200102000000Z -extensions server_ext" +
                    quiet) &&
              shell("cd " + q +
                    " && openssl genpkey -algorithm EC -pkeyopt "
                    "ec_paramgen_curve:prime256v1 -out other.key" +
                    quiet);
    EXPECT_TRUE(ok) << "making test certificates in " << d;
    TestCerts c;
    c.ca = d / "ca.pem";
    c.other_ca = d / "other-ca.pem";
    c.server_cert = d / "server.pem";
    c.server_key = d / "server.key";
    c.expired_cert = d / "expired.pem";
    c.wrong_name_cert = d / "wrong-name.pem";
    c.other_key = d / "other.key";
    return c;
  }();
  return certs;
}

// --- HttpTest
// -------------------------------------------------------------------------------------

HttpTest::HttpTest() {
  auto sink = std::make_shared<CapturingSink>();
  logger_ = std::make_shared<spdlog::logger>("http-test", sink);
  logger_->set_level(spdlog::level::debug);
  guard_.emplace(boost::asio::make_work_guard(io_));
  for (int i = 0; i < 2; ++i) io_threads_.emplace_back([this] { io_.run(); });
}

HttpTest::~HttpTest() {
  for (auto& s : servers_) stopServer(*s);
  servers_.clear();
  pool_.join();
  guard_.reset();
  io_.stop();
  for (auto& t : io_threads_) t.join();
}

ServerOptions HttpTest::serverOptions() {
  ServerOptions o;
  o.handler_executor = pool_.get_executor();
  o.logger = logger_;
  o.request_timeout = std::chrono::seconds(10);
  o.idle_timeout = std::chrono::seconds(10);
  o.write_timeout = std::chrono::seconds(10);
  o.stop_timeout = std::chrono::seconds(5);
  return o;
}

Server& HttpTest::startServer(ServerOptions options, const std::function<void(Server&)>& routes) {
  servers_.push_back(std::make_unique<Server>(io_, std::move(options)));
  Server& s = *servers_.back();
  if (routes) routes(s);
  Status st = s.start();
  EXPECT_TRUE(st.ok()) << st.toString();
  return s;
}

bool HttpTest::stopServer(Server& server) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  server.stop([done] { done->set_value(); });
  return future.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
}

std::unique_ptr<Client> HttpTest::makeClient(std::uint16_t port, ClientOptions options) {
  if (options.base_url.empty()) options.base_url = "http://127.0.0.1:" + std::to_string(port);
  auto c = Client::create(std::move(options));
  EXPECT_TRUE(c.ok()) << c.status().toString();
  return c.ok() ? std::move(c).value() : nullptr;
}

CallContext HttpTest::within(std::chrono::milliseconds timeout) {
  return CallContext{}.within(timeout);
}

std::string HttpTest::logText() {
  auto& sinks = logger_->sinks();
  return static_cast<CapturingSink&>(*sinks.front()).text();
}

}  // namespace pkgxfer::http::testing
