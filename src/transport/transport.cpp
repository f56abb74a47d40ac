#include "pkgxfer/transport/transport.h"

#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/transport/file_transport.h"
#include "pkgxfer/transport/http_transport.h"
#include "smb_transport.h"

namespace pkgxfer::transport {

Result<std::unique_ptr<Transport>> makeTransport(const config::DistributionPointConfig& dp,
                                                 const TransportOptions& options) {
  if (const config::FileAddress* file = dp.file()) {
    FileTransportOptions file_options;
    file_options.sync = options.sync;
    file_options.site_code = options.site_code;
    return std::unique_ptr<Transport>(
        std::make_unique<FileTransport>(fs::FileSystem::local(), file->root, file_options));
  }
  if (const config::HttpAddress* http = dp.http()) {
    HttpTransportOptions http_options;
    http_options.base_url = http->url();
    http_options.ca_file = dp.ca_file;
    http_options.site_code = options.site_code;
    if (!options.token_file.empty()) {
      auto token = fs::readTokenFile(fs::FileSystem::local(), options.token_file);
      if (!token.ok()) return token.status().withContext("the site's token (site.token_file)");
      http_options.bearer_token = std::move(*token);
    }
    auto made = HttpTransport::create(std::move(http_options));
    if (!made.ok()) return made.status().withContext("DP " + dp.name + " (" + dp.address + ")");
    return std::unique_ptr<Transport>(std::move(*made));
  }
  return makeSmbTransport(dp, options);
}

TransportOptions siteTransportOptions(const config::SiteConfig& site) {
  TransportOptions t;
  t.site_code = site.code;  // recorded in the identity file of a library the site initialises
  t.token_file = site.token_file;
  return t;
}

TransportFactory defaultTransportFactory(const TransportOptions& options) {
  return
      [options](const config::DistributionPointConfig& dp) -> Result<std::shared_ptr<Transport>> {
        PKGXFER_ASSIGN_OR_RETURN(auto made, makeTransport(dp, options));
        return std::shared_ptr<Transport>(std::move(made));
      };
}

}  // namespace pkgxfer::transport
