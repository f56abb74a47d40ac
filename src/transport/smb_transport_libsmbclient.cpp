// An SMB DP over libsmbclient: the file transport, unchanged, over the share's file system. The
// library's layout, temporary names, crash ordering, validation and removal are ContentLibrary's.

#include <cstdlib>

#include "pkgxfer/fs/smb_file_system.h"
#include "pkgxfer/transport/file_transport.h"
#include "smb_transport.h"

namespace pkgxfer::transport {

Result<std::unique_ptr<Transport>> makeSmbTransport(const config::DistributionPointConfig& dp,
                                                    const TransportOptions& options) {
  const config::SmbAddress& address = *dp.smb();
  fs::SmbShareOptions share;
  share.host = address.host;
  share.port = address.port;
  share.share = address.share;
  share.encrypt = dp.smb_encrypt;
  if (dp.credentials) {
    share.user = dp.credentials->user;
    share.domain = dp.credentials->domain;
    const char* password = std::getenv(dp.credentials->password_env.c_str());
    if (password == nullptr) {
      return Status::InvalidArgument("DP " + dp.name + " (" + dp.address +
                                     "): the environment variable " + dp.credentials->password_env +
                                     " (credentials.password_env) that holds its password is not "
                                     "set in pkgxferd's environment");
    }
    share.password = password;
  }
  auto made = fs::makeSmbFileSystem(std::move(share));
  if (!made.ok()) return made.status().withContext("DP " + dp.name + " (" + dp.address + ")");

  FileTransportOptions file_options;
  file_options.sync = options.sync;
  file_options.site_code = options.site_code;
  file_options.description = dp.address;
  // The server says "no such share or path": NotFound (retried), not an unmounted folder.
  file_options.missing_root_is_offline = false;
  // Over the network, large reads: the read-back of a body asks for 4 MiB at a time.
  file_options.read_back_buffer = 4 << 20;
  return std::unique_ptr<Transport>(std::make_unique<FileTransport>(
      std::move(*made), std::filesystem::path(address.path.empty() ? "/" : address.path),
      file_options));
}

}  // namespace pkgxfer::transport
