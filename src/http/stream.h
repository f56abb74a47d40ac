#pragma once

// Private to the http module: the byte stream under a connection, plain TCP or TLS over TCP, as one
// type, so the server's connection and the client's code are written once for both. Not
// thread-safe: used on one strand (server) or one thread (client), like the streams it wraps.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#if PKGXFER_WITH_TLS
#include <boost/beast/ssl/ssl_stream.hpp>
#endif

#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "text.h"
#include "tls.h"

namespace pkgxfer::http::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// `Lowest` is the TCP layer: a raw tcp::socket for the server (whose connections keep their own
// lazily re-armed deadline timer, see connection.h) or a beast::tcp_stream for the client (whose
// per-operation timeouts cost nothing there: one thread runs everything of a call).
//
// Without TLS in the build (tls.h), a stream is always plain: isTls() is false and the TLS
// constructors are not there.
template <class Lowest>
class BasicStream {
 public:
  using executor_type = net::any_io_executor;
#if PKGXFER_WITH_TLS
  using TlsStream = beast::ssl_stream<Lowest>;
#else
  struct TlsStream {  // never made
    executor_type get_executor() { return {}; }
    template <class B, class H>
    void async_read_some(const B&, H&&) {}
    template <class B, class H>
    void async_write_some(const B&, H&&) {}
  };
#endif

  // A plain stream over an accepted socket.
  explicit BasicStream(tcp::socket socket) : plain_(std::in_place, std::move(socket)) {}
  // Unconnected streams for a client.
  explicit BasicStream(const executor_type& ex) : plain_(std::in_place, ex) {}
#if PKGXFER_WITH_TLS
  // A TLS stream over an accepted socket (the handshake is the caller's).
  BasicStream(tcp::socket socket, TlsContext& ctx) : tls_(std::in_place, std::move(socket), ctx) {}
  BasicStream(const executor_type& ex, TlsContext& ctx) : tls_(std::in_place, ex, ctx) {}
#endif

  executor_type get_executor() { return tls_ ? tls_->get_executor() : plain_->get_executor(); }
#if PKGXFER_WITH_TLS
  Lowest& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
#else
  Lowest& lowest() { return *plain_; }
#endif
  tcp::socket& socket() {
    if constexpr (std::is_same_v<Lowest, tcp::socket>) {
      return lowest();
    } else {
      return lowest().socket();
    }
  }
  bool isTls() const { return tls_.has_value(); }
  TlsStream& tls() { return *tls_; }  // REQUIRES: isTls()

  template <class MutableBufferSequence, class ReadHandler>
  void async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<ReadHandler>(handler));
    } else {
      plain_->async_read_some(buffers, std::forward<ReadHandler>(handler));
    }
  }

  template <class ConstBufferSequence, class WriteHandler>
  void async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<WriteHandler>(handler));
    } else {
      plain_->async_write_some(buffers, std::forward<WriteHandler>(handler));
    }
  }

 private:
  std::optional<Lowest> plain_;
  std::optional<TlsStream> tls_;
};

using ServerStream = BasicStream<tcp::socket>;
using ClientStream = BasicStream<beast::tcp_stream>;

// An Asio/Beast/OpenSSL error as words: OS errors as errnoText() writes them ("Connection refused
// (ECONNREFUSED)"), others by their category's message ("end of stream").
std::string errorText(const error_code& ec);
// errorText() of a TLS handshake error, plus the certificate verify reason when verification is
// what failed: "certificate verify failed (certificate has expired)".
#if PKGXFER_WITH_TLS
std::string tlsErrorText(const error_code& ec, SSL* ssl);
#endif

// True for a TLS peer that closed without close_notify (never, in a build without TLS).
bool isTlsTruncation(const error_code& ec);

// True for the errors a peer that went away produces (EOF, reset, broken pipe, aborted, TLS
// truncation): worth a debug line, not a warning.
bool isDisconnect(const error_code& ec);

}  // namespace pkgxfer::http::detail
