#include "stream.h"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <openssl/x509.h>

#include "pkgxfer/common/os_error.h"

namespace pkgxfer::http::detail {

std::string errorText(const error_code& ec) {
  if (ec.category() == boost::system::system_category() ||
      ec.category() == boost::system::generic_category()) {
    return errnoText(ec.value());
  }
  if (ec == beast::error::timeout) return "timed out";
  if (ec == net::error::eof || ec == beast::http::error::end_of_stream) {
    return "connection closed by the peer";
  }
  if (ec == net::ssl::error::stream_truncated) {
    return "connection closed by the peer (TLS stream truncated)";
  }
  return ec.message();
}

std::string tlsErrorText(const error_code& ec, SSL* ssl) {
  std::string text = errorText(ec);
  if (ssl != nullptr && ec.category() == net::error::get_ssl_category()) {
    const long verify = ::SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      text += " (";
      text += ::X509_verify_cert_error_string(verify);
      text += ')';
    }
  }
  return text;
}

bool isDisconnect(const error_code& ec) {
  return ec == net::error::eof || ec == beast::http::error::end_of_stream ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == net::error::operation_aborted ||
         ec == net::error::bad_descriptor || ec == net::ssl::error::stream_truncated;
}

}  // namespace pkgxfer::http::detail
