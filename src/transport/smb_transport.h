#pragma once

// The transport of an smb:// DP; which file implements it is chosen by CMake:
//   smb_transport_libsmbclient.cpp  Linux with libsmbclient (PKGXFER_WITH_SMB): FileTransport over
//                                   the share's fs::SmbFileSystem
//   smb_transport_windows.cpp       Windows: FileTransport over the local file system at the UNC
//                                   path (transport/unc_path.h)
//   smb_transport_unavailable.cpp   a build without SMB: InvalidArgument saying so (config already
//                                   refuses smb:// addresses in such a build)

#include <memory>

#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::transport {

// `dp` has an smb:// address. InvalidArgument when its credentials' password variable is not set.
Result<std::unique_ptr<Transport>> makeSmbTransport(const config::DistributionPointConfig& dp,
                                                    const TransportOptions& options);

}  // namespace pkgxfer::transport
