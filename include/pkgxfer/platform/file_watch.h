#pragma once

// Tells when a file changes, for a component that would otherwise poll for it: distmgr watches the
// site database's write-ahead log (site.db-wal), which every writer appends to — the CLI queuing a
// request included — so a request is read at once while an idle site does not wake to look.
// Linux: inotify (IN_MODIFY), read on the io_context, no thread of its own. Elsewhere (Windows,
// until its issue lands): Unavailable, and the caller polls instead.

#include <boost/asio/any_io_executor.hpp>

#include <filesystem>
#include <functional>
#include <memory>

#include "pkgxfer/common/status.h"

namespace pkgxfer::platform {

class FileWatch {
 public:
  virtual ~FileWatch() = default;
  // No on_change runs once it returns. Call it on the watch's executor (the component's strand).
  // The destructor cancels too.
  virtual void cancel() = 0;
};

// Starts watching `file` (which must exist). `on_change` runs on `executor` after one or more
// changes (changes that come while it runs are coalesced into one more call). Errors: Unavailable
// (this platform has no notification, or the file cannot be watched: the message says why, e.g.
// "watch /srv/site/site.db-wal: No space left on device (ENOSPC)" when the inotify watch limit is
// reached).
Result<std::unique_ptr<FileWatch>> watchFile(boost::asio::any_io_executor executor,
                                             const std::filesystem::path& file,
                                             std::function<void()> on_change);

}  // namespace pkgxfer::platform
