// tls.h in a build without OpenSSL (PKGXFER_WITH_TLS unset: the Windows build): no TLS at all.

#include "tls.h"

namespace pkgxfer::http::detail {
namespace {

Status notBuilt(const std::string& what) {
  return Status::InvalidArgument(what +
                                 ": TLS was not built into this pkgxfer (the Windows build has no "
                                 "OpenSSL); use http:// or a build with TLS");
}

}  // namespace

Result<std::unique_ptr<TlsContext>> makeServerTlsContext(const std::filesystem::path& cert,
                                                         const std::filesystem::path&) {
  return notBuilt("https server with certificate " + cert.string());
}

Result<std::unique_ptr<TlsContext>> makeClientTlsContext(const std::filesystem::path&) {
  return notBuilt("https client");
}

}  // namespace pkgxfer::http::detail
