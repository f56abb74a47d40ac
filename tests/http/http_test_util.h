#pragma once

// Shared by the http tests: a fixture that runs an io_context (2 threads, as pkgxferd does) and a
// handler pool, starts servers on 127.0.0.1 port 0 and makes clients for them; a raw socket for
// requests no well-behaved client would send; test certificates made with the openssl CLI; and
// SHA-256 through OpenSSL EVP.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/test_util.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/http/client.h"
#include "pkgxfer/http/server.h"

namespace pkgxfer::http::testing {

// Lowercase hex SHA-256, incrementally.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t size);
  std::string hex();

 private:
  void* ctx_;
};
std::string sha256Hex(std::string_view data);

// Deterministic pseudo-random bytes: the same (seed, offset) always gives the same byte.
void fillPattern(char* buf, std::size_t size, std::uint64_t offset, std::uint32_t seed = 7);

// A response as read off a raw socket.
struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Parses one response (head, and a Content-Length body unless `head_request`) from the front of
// `data`, removing it. nullopt if `data` does not hold a complete one yet.
std::optional<RawResponse> takeResponse(std::string& data, bool head_request = false);

// A blocking TCP client socket to 127.0.0.1 for hand-made requests.
class RawSocket {
 public:
  explicit RawSocket(std::uint16_t port);
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Sends everything; false if the peer reset or closed.
  bool send(std::string_view data);
  // Reads one response within `timeout`; nullopt on timeout or EOF first.
  std::optional<RawResponse> readResponse(std::chrono::milliseconds timeout,
                                          bool head_request = false);
  // True if the peer closes (EOF or reset) within `timeout`; data received meanwhile is kept.
  bool waitClosed(std::chrono::milliseconds timeout);
  // Reads at most `max` bytes (into received()) within `timeout`; how many (0: none, or EOF).
  std::size_t readUpTo(std::size_t max, std::chrono::milliseconds timeout);
  // Half-closes: the peer reads EOF, this socket can still read.
  void shutdownSend();
  // Everything received and not yet parsed.
  std::string& received() { return pending_; }

 private:
  // Reads what is available within `timeout`; false on timeout, EOF or error (eof_ says which).
  bool readSome(std::chrono::steady_clock::time_point until);

  int fd_ = -1;
  bool eof_ = false;
  std::string pending_;
};

// Test certificates, made once per process with the openssl CLI.
struct TestCerts {
  std::filesystem::path ca;           // the CA that signed the server certificates
  std::filesystem::path other_ca;     // an unrelated CA
  std::filesystem::path server_cert;  // SAN IP:127.0.0.1, DNS:localhost, valid now
  std::filesystem::path server_key;
  std::filesystem::path expired_cert;     // same key and names, valid only in January 2020
  std::filesystem::path wrong_name_cert;  // valid now, SAN DNS:elsewhere.example only
  std::filesystem::path other_key;        // a key that belongs to no certificate above
};
const TestCerts& testCerts();

// Runs a shell command line; fails the test (and returns false) on a non-zero exit.
bool shell(const std::string& command);

class HttpTest : public ::testing::Test {
 protected:
  HttpTest();
  ~HttpTest() override;

  // Options with the handler pool, the captured logger (debug level) and short-ish timeouts.
  ServerOptions serverOptions();
  // Builds a server with `options`, lets `routes` add its routes, starts it (failing the test if
  // that fails) and returns it. Stopped by the fixture if the test does not.
  Server& startServer(ServerOptions options, const std::function<void(Server&)>& routes);
  // Stops `server` and waits (up to 10 s) for its done callback; true if it came.
  bool stopServer(Server& server);
  // A client of http://127.0.0.1:<port>.
  std::unique_ptr<Client> makeClient(std::uint16_t port, ClientOptions options = {});
  // A context ending `timeout` from now.
  static CallContext within(std::chrono::milliseconds timeout);
  // Everything the servers logged so far.
  std::string logText();

  boost::asio::io_context io_{2};
  boost::asio::thread_pool pool_{6};
  Logger logger_;

 private:
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::vector<std::thread> io_threads_;
  std::shared_ptr<std::ostringstream> log_stream_;
  std::vector<std::unique_ptr<Server>> servers_;
};

}  // namespace pkgxfer::http::testing
