#include "tls.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>

#include <exception>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pkgxfer/fs/file_system.h"
#include "stream.h"
#include "text.h"

namespace pkgxfer::http::detail {
namespace {

// A PEM file (certificate chain, key, CA bundle): small, read whole, named in errors.
Result<std::string> readPem(std::string_view what, const std::filesystem::path& path) {
  auto pem = fs::readWholeFile(fs::FileSystem::local(), path, 16u << 20);
  if (!pem.ok()) return pem.status().withContext(what);
  return pem;
}

namespace ssl = boost::asio::ssl;

// OpenSSL's reason for the last failure, and an empty error queue for whoever comes next.
std::string sslReason(const boost::system::error_code& ec) {
  std::string text = ec ? ec.message() : "unknown OpenSSL error";
  ::ERR_clear_error();
  return text;
}

void restrictProtocols(ssl::context& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::no_compression);
  ::SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
}

}  // namespace

bool isIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

Result<std::unique_ptr<ssl::context>> makeServerTlsContext(
    const std::filesystem::path& cert_chain_file, const std::filesystem::path& private_key_file) {
  const std::string chain_path = cert_chain_file.string();
  const std::string key_path = private_key_file.string();
  PKGXFER_ASSIGN_OR_RETURN(std::string chain, readPem("TLS certificate chain", chain_path));
  PKGXFER_ASSIGN_OR_RETURN(std::string key, readPem("TLS private key", key_path));
  try {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    restrictProtocols(*ctx);
    // No session tickets: a ticket is data the server sends unasked after the handshake, which a
    // client waiting for "100 Continue" would take for the start of a response.
    ::SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_TICKET);
    ::SSL_CTX_set_num_tickets(ctx->native_handle(), 0);
    // No renegotiation (TLS 1.2): a client-initiated one costs the server a handshake per request
    // of the client's choosing, and nothing here needs one.
    ::SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
    // An encrypted key would make OpenSSL's default callback prompt for a password on the
    // terminal (or read stdin) at start: a service has no one to answer. This one refuses, and
    // says that it was asked.
    bool asked_password = false;
    ctx->set_password_callback([&asked_password](std::size_t, ssl::context::password_purpose) {
      asked_password = true;
      return std::string();
    });
    boost::system::error_code ec;
    ctx->use_certificate_chain(boost::asio::buffer(chain), ec);
    if (ec) {
      return Status::InvalidArgument("TLS certificate chain " + chain_path +
                                     ": not a PEM certificate chain (" + sslReason(ec) + ")");
    }
    ctx->use_private_key(boost::asio::buffer(key), ssl::context::pem, ec);
    ctx->set_password_callback(
        [](std::size_t, ssl::context::password_purpose) { return std::string(); });
    if (ec && asked_password) {
      ::ERR_clear_error();
      return Status::InvalidArgument("TLS private key " + key_path +
                                     " is encrypted: give the server an unencrypted key (e.g. "
                                     "openssl pkey -in <key> -out <plain key>)");
    }
    if (ec) {
      return Status::InvalidArgument("TLS private key " + key_path + ": not a PEM private key (" +
                                     sslReason(ec) + ")");
    }
    if (::SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      ::ERR_clear_error();
      return Status::InvalidArgument("TLS private key " + key_path +
                                     " does not belong to the certificate in " + chain_path);
    }
    return ctx;
  } catch (const std::exception& e) {  // SSL_CTX_new failed (out of memory)
    return Status::Internal(std::string("TLS server context: ") + e.what());
  }
}

Result<std::unique_ptr<ssl::context>> makeClientTlsContext(const std::filesystem::path& ca_file) {
  try {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    restrictProtocols(*ctx);
    ctx->set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
      if (ec) {
        return Status::InvalidArgument("TLS: cannot load the system's CA store (" + sslReason(ec) +
                                       ")");
      }
    } else {
      const std::string path = ca_file.string();
      PKGXFER_ASSIGN_OR_RETURN(std::string pem, readPem("TLS CA file", path));
      ctx->add_certificate_authority(boost::asio::buffer(pem), ec);
      if (ec) {
        return Status::InvalidArgument("TLS CA file " + path + ": not a PEM certificate list (" +
                                       sslReason(ec) + ")");
      }
    }
    return ctx;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("TLS client context: ") + e.what());
  }
}

Status prepareClientTls(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* param = ::SSL_get0_param(ssl);
  ::X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (isIpLiteral(host)) {
    // RFC 6066: no SNI for an address; the certificate must name it as an iPAddress SAN.
    if (::X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
      ::ERR_clear_error();
      return Status::InvalidArgument("TLS: bad IP address " + host);
    }
  } else {
    if (::SSL_set_tlsext_host_name(ssl, host.c_str()) != 1 ||
        ::X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1) {
      ::ERR_clear_error();
      return Status::InvalidArgument("TLS: bad host name " + host);
    }
  }
  return Status::Ok();
}

}  // namespace pkgxfer::http::detail
