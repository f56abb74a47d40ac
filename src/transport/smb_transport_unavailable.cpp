// A build without SMB (-DPKGXFER_WITH_SMB=OFF, or no libsmbclient): config refuses smb://
// addresses already; this answers anyone who makes a DP config by hand.

#include "smb_transport.h"

namespace pkgxfer::transport {

Result<std::unique_ptr<Transport>> makeSmbTransport(const config::DistributionPointConfig& dp,
                                                    const TransportOptions&) {
  return Status::InvalidArgument("DP " + dp.name + " (" + dp.address +
                                 "): SMB support was not built into this pkgxferd (built with "
                                 "-DPKGXFER_WITH_SMB=OFF or without libsmbclient)");
}

}  // namespace pkgxfer::transport
