#pragma once

// Private to the http module: TLS contexts for the server (certificate chain and key from PEM
// files) and the client (CA file, SNI and host-name verification), TLS 1.2 and later. A context is
// configured once and then shared read-only by every connection (OpenSSL allows that).

#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include <openssl/ssl.h>

#include "pkgxfer/common/status.h"

namespace pkgxfer::http::detail {

// Errors name the file: NotFound/PermissionDenied/IoError when it cannot be read,
// InvalidArgument with OpenSSL's reason when it is not a usable chain or key, or when the key does
// not belong to the certificate.
Result<std::unique_ptr<boost::asio::ssl::context>> makeServerTlsContext(
    const std::filesystem::path& cert_chain_file, const std::filesystem::path& private_key_file);

// Verifies peers against the CAs in `ca_file` (PEM; empty: the system's default store).
Result<std::unique_ptr<boost::asio::ssl::context>> makeClientTlsContext(
    const std::filesystem::path& ca_file);

// Sets SNI (for a DNS name) and the name or IP address the server's certificate must match.
Status prepareClientTls(SSL* ssl, const std::string& host);

// True if `host` is an IPv4 or IPv6 literal (without brackets).
bool isIpLiteral(const std::string& host);

}  // namespace pkgxfer::http::detail
