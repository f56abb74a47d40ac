#pragma once

// How a Windows site reaches an SMB DP: the OS's own SMB client, through the UNC path of the
// smb:// address, with the file transport (no libsmbclient on Windows). A pure function, compiled
// and tested on every platform.

#include <string>

#include "pkgxfer/common/status.h"
#include "pkgxfer/config/config.h"

namespace pkgxfer::transport {

// smb://host/share/a/b -> \\host\share\a\b (smb://host/share -> \\host\share). An IPv6 address
// becomes its ipv6-literal.net name (fe80::1 -> fe80--1.ipv6-literal.net), as UNC paths need.
// InvalidArgument for a port other than 445: a UNC path cannot name a port (the Windows client
// picks it per server, not per path).
Result<std::string> uncPath(const config::SmbAddress& address);

}  // namespace pkgxfer::transport
