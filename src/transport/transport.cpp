#include "pkgxfer/transport/transport.h"

#include "pkgxfer/transport/file_transport.h"

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
  if (dp.smb() != nullptr) {
    return Status::Unavailable("DP " + dp.name + " (" + dp.address +
                               "): the smb transport is not available in this build yet");
  }
  return Status::Unavailable("DP " + dp.name + " (" + dp.address +
                             "): the http(s) transport is not available in this build yet");
}

TransportFactory defaultTransportFactory(const TransportOptions& options) {
  return
      [options](const config::DistributionPointConfig& dp) -> Result<std::shared_ptr<Transport>> {
        PKGXFER_ASSIGN_OR_RETURN(auto made, makeTransport(dp, options));
        return std::shared_ptr<Transport>(std::move(made));
      };
}

}  // namespace pkgxfer::transport
