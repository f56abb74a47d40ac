#pragma once

// The FileSystem of one SMB share, over libsmbclient (built only when PKGXFER_WITH_SMB: the
// library is GPLv3 and optional). Paths are absolute paths inside the share ("/ContentLib/FileLib/
// 3a4f/..."; "/" is the share's root); display() shows them as smb://host[:port]/share/path.
// A content::ContentLibrary over it is an SMB DP's library with the same layout, temporary names,
// crash ordering, validation and removal as on a local disk.
//
// Threads and libsmbclient contexts. A libsmbclient context (SMBCCTX: its connections, its open
// files) must not be used by two threads at once. Each thread that calls into this file system gets
// a context of its own — with its own TCP connection to the server — made on its first call and
// kept until the file system is destroyed, so the streams of a transfer run in parallel on parallel
// connections. Each context also has a lock: a File keeps the context of the thread that opened it
// (an SMB handle belongs to a connection), so a call on it from another thread waits on that lock
// instead of racing its owner. Only the calls of libsmbclient's function table on one context are
// used (smbc_getFunctionOpen(ctx)(ctx, ...)), never the global smbc_* API. Creating and freeing
// contexts is serialized process-wide (libsmbclient's configuration is global), and the process
// installs pthread-based thread-local storage into Samba's utility library once, as libsmbclient's
// smbc_thread_posix() would (Debian's Samba 4.17 does not export it): without it Samba's talloc
// stack frames are one global shared by every thread.
//
// Protocol SMB2.02 at least (SMB3 at most; process-wide, libsmbclient has no per-context setting),
// NTLM with the given user, domain and password (no Kerberos, never an anonymous fallback after a
// refused logon), encryption required when `encrypt` (the server must support SMB3 encryption).
//
// Errors (common/os_error.h, "op smb://host/share/path: text (ERRNO)"): a refused logon is
// PermissionDenied with the server's answer ("... the server refused the logon of DOMAIN\user:
// The attempted logon is invalid. ..."); a missing share or path NotFound; a server that cannot be
// reached, refuses the connection or drops it (ECONNREFUSED, ETIMEDOUT, ECONNABORTED, ...)
// Unavailable, to be retried. The password is never part of a message.
//
// Durability. libsmbclient has no fsync: a write returns once the server acknowledged it, so what
// was written survives a dropped connection or a restart of this process; whether it survives a
// crash of the server is the server's business (Samba: `strict sync` / `sync always`; Windows
// flushes on close or with write-through, which libsmbclient does not ask for). File::sync(),
// syncDirectory() and syncVolume() therefore check nothing and return OK; close() returns what the
// server answered to the close, where a lost write can surface. A checkpoint's offset is thus the
// offset the server acknowledged.
//
// Locks. SMB byte-range locks are not in libsmbclient's API: File::tryLock() and lockDirectory()
// lock within this process only (keyed by server, share and path), which is what a library needs
// when one site's service is its only writer (the site's transfer manager; other components only
// read). Two processes writing one SMB library are not supported.
//
// No symbolic links are seen over SMB2 (the server follows or hides them): stat() with
// follow_links false is stat(); page-cache hints are no-ops.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "pkgxfer/common/status.h"
#include "pkgxfer/fs/file_system.h"

namespace pkgxfer::fs {

struct SmbShareOptions {
  std::string host;        // a name or an address; an IPv6 address without brackets
  std::uint16_t port = 0;  // 0: the default (445)
  std::string share;       // the share's name
  // Logon. An empty user logs on as a guest (if the server allows guests).
  std::string user;
  std::string domain;    // empty: the workgroup of the client's smb.conf
  std::string password;  // kept in memory only, never shown
  bool encrypt = false;  // require SMB3 encryption of every connection
  // Bounds each wait for the server (connect, each request). libsmbclient calls cannot be
  // interrupted otherwise.
  std::chrono::milliseconds timeout{30'000};
};

// "smb://host[:port]/share" as display() and messages show it (brackets around an IPv6 address).
std::string smbShareUrl(const SmbShareOptions& share);

// The file system of `share`. InvalidArgument if the host or share is empty. Connects lazily: an
// unreachable server or a refused logon shows in the first call.
Result<std::unique_ptr<FileSystem>> makeSmbFileSystem(SmbShareOptions share);

}  // namespace pkgxfer::fs
