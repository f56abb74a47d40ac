#include "stream.h"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#if PKGXFER_WITH_TLS
#include <boost/asio/ssl/error.hpp>

#include <openssl/x509.h>
#endif

#include "pkgxfer/common/os_error.h"

namespace pkgxfer::http::detail {

std::string errorText(const error_code& ec) {
  if (ec.category() == boost::system::generic_category()) return errnoText(ec.value());
  if (ec.category() == boost::system::system_category()) return systemErrorText(ec.value());
  if (ec == beast::error::timeout) return "timed out";
  if (ec == net::error::eof || ec == beast::http::error::end_of_stream) {
    return "connection closed by the peer";
  }
  if (isTlsTruncation(ec)) return "connection closed by the peer (TLS stream truncated)";
  return ec.message();
}

#if PKGXFER_WITH_TLS
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
#endif

bool isTlsTruncation(const error_code& ec) {
#if PKGXFER_WITH_TLS
  return ec == net::ssl::error::stream_truncated;
#else
  (void)ec;
  return false;
#endif
}

bool isDisconnect(const error_code& ec) {
  if (isTlsTruncation(ec)) return true;
  return ec == net::error::eof || ec == beast::http::error::end_of_stream ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == net::error::operation_aborted ||
         ec == net::error::bad_descriptor;
}

}  // namespace pkgxfer::http::detail
