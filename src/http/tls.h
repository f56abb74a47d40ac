#pragma once

// Private to the http module: TLS contexts for the server (certificate chain and key from PEM
// files) and the client (CA file, SNI and host-name verification), TLS 1.2 and later. A context is
// configured once and then shared read-only by every connection (OpenSSL allows that).
//
// A build without OpenSSL (the Windows build: PKGXFER_WITH_TLS unset) has no TLS: tls_none.cpp
// refuses to make a context, with a message that says so (config refuses https:// and `tls`
// blocks before it comes to that), and the streams are plain TCP only (stream.h).

#if PKGXFER_WITH_TLS
#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>
#endif

#include <filesystem>
#include <memory>
#include <string>

#include "pkgxfer/common/status.h"

namespace pkgxfer::http::detail {

#if PKGXFER_WITH_TLS
inline constexpr bool kTlsBuilt = true;
using TlsContext = boost::asio::ssl::context;
#else
inline constexpr bool kTlsBuilt = false;
struct TlsContext {};  // never made
#endif

// Errors name the file: NotFound/PermissionDenied/IoError when it cannot be read,
// InvalidArgument with OpenSSL's reason when it is not a usable chain or key, or when the key does
// not belong to the certificate.
Result<std::unique_ptr<TlsContext>> makeServerTlsContext(
    const std::filesystem::path& cert_chain_file, const std::filesystem::path& private_key_file);

// Verifies peers against the CAs in `ca_file` (PEM; empty: the system's default store).
Result<std::unique_ptr<TlsContext>> makeClientTlsContext(const std::filesystem::path& ca_file);

#if PKGXFER_WITH_TLS
// Sets SNI (for a DNS name) and the name or IP address the server's certificate must match.
Status prepareClientTls(SSL* ssl, const std::string& host);

// True if `host` is an IPv4 or IPv6 literal (without brackets).
bool isIpLiteral(const std::string& host);
#endif

}  // namespace pkgxfer::http::detail
