// An SMB DP on Windows: the OS's SMB client through the UNC path, with the file transport over the
// local (Win32) file system. The service's account logs on to the share; a `credentials` block is
// for libsmbclient builds (map the share with `net use` or give the service an account instead).

#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/transport/file_transport.h"
#include "pkgxfer/transport/unc_path.h"
#include "smb_transport.h"

namespace pkgxfer::transport {

Result<std::unique_ptr<Transport>> makeSmbTransport(const config::DistributionPointConfig& dp,
                                                    const TransportOptions& options) {
  auto unc = uncPath(*dp.smb());
  if (!unc.ok()) return unc.status().withContext("DP " + dp.name);
  FileTransportOptions file_options;
  file_options.sync = options.sync;
  file_options.site_code = options.site_code;
  return std::unique_ptr<Transport>(
      std::make_unique<FileTransport>(fs::FileSystem::local(), *unc, file_options));
}

}  // namespace pkgxfer::transport
