#include "pkgxfer/transport/transport.h"

#include "file_transport.h"

namespace pkgxfer::transport {

Result<std::unique_ptr<Transport>> makeTransport(const config::DistributionPointConfig& dp,
                                                 const TransportOptions& options) {
  switch (dp.scheme) {
    case config::AddressScheme::File:
      return std::unique_ptr<Transport>(std::make_unique<FileTransport>(dp.file_root, options));
    case config::AddressScheme::Smb:
      return Status::Unavailable("DP " + dp.name + " (" + dp.address +
                                 "): the smb transport is not available in this build yet");
    case config::AddressScheme::Http:
    case config::AddressScheme::Https:
      return Status::Unavailable("DP " + dp.name + " (" + dp.address +
                                 "): the http(s) transport is not available in this build yet");
  }
  return Status::Internal("unknown address scheme of DP " + dp.name);
}

TransportFactory defaultTransportFactory(const TransportOptions& options) {
  return
      [options](const config::DistributionPointConfig& dp) -> Result<std::shared_ptr<Transport>> {
        PKGXFER_ASSIGN_OR_RETURN(auto made, makeTransport(dp, options));
        return std::shared_ptr<Transport>(std::move(made));
      };
}

}  // namespace pkgxfer::transport
