#include "pkgxfer/platform/file_watch.h"

namespace pkgxfer::platform {

// No change notification here yet (Windows: ReadDirectoryChangesW when its issue lands): the
// caller polls.
Result<std::unique_ptr<FileWatch>> watchFile(boost::asio::any_io_executor,
                                             const std::filesystem::path& file,
                                             std::function<void()>) {
  return Status::Unavailable("watch " + file.string() +
                             ": no file-change notification on this platform");
}

}  // namespace pkgxfer::platform
