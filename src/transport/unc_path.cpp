#include "pkgxfer/transport/unc_path.h"

#include <algorithm>

namespace pkgxfer::transport {

Result<std::string> uncPath(const config::SmbAddress& address) {
  if (address.port != 0 && address.port != 445) {
    return Status::InvalidArgument("smb://" + address.host + ":" + std::to_string(address.port) +
                                   "/" + address.share +
                                   ": a UNC path cannot name a port (Windows reaches SMB shares "
                                   "on port 445 only through this address)");
  }
  std::string host = address.host;
  if (host.find(':') != std::string::npos) {
    std::replace(host.begin(), host.end(), ':', '-');
    std::replace(host.begin(), host.end(), '%', 's');  // a zone index: fe80::1%4 -> fe80--1s4
    host += ".ipv6-literal.net";
  }
  std::string out = "\\\\" + host + "\\" + address.share;
  for (char c : address.path) out += c == '/' ? '\\' : c;
  return out;
}

}  // namespace pkgxfer::transport
