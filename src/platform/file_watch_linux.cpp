#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <cerrno>
#include <utility>

#include "pkgxfer/common/os_error.h"
#include "pkgxfer/platform/file_watch.h"

namespace pkgxfer::platform {
namespace {

namespace asio = boost::asio;

// The inotify descriptor and its pending read. Shared with the read's handler, so a cancel() while
// a read is in flight leaves nothing dangling.
class InotifyWatch final : public std::enable_shared_from_this<InotifyWatch> {
 public:
  InotifyWatch(asio::any_io_executor executor, int fd, std::function<void()> on_change)
      : stream_(std::move(executor), fd), on_change_(std::move(on_change)) {}

  void read() {
    stream_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (ec || self->cancelled_) return;  // cancelled, or the fd failed
          self->on_change_();
          if (!self->cancelled_) self->read();
        });
  }

  void cancel() {
    cancelled_ = true;
    boost::system::error_code ignored;
    stream_.close(ignored);  // the pending read ends with operation_aborted
  }

 private:
  asio::posix::stream_descriptor stream_;
  std::function<void()> on_change_;
  // Events are not looked at (any change means "read the queue"): one read drains many.
  std::array<char, 4096> buffer_{};
  bool cancelled_ = false;
};

class LinuxFileWatch final : public FileWatch {
 public:
  explicit LinuxFileWatch(std::shared_ptr<InotifyWatch> watch) : watch_(std::move(watch)) {}
  ~LinuxFileWatch() override { cancel(); }
  void cancel() override { watch_->cancel(); }

 private:
  std::shared_ptr<InotifyWatch> watch_;
};

}  // namespace

Result<std::unique_ptr<FileWatch>> watchFile(asio::any_io_executor executor,
                                             const std::filesystem::path& file,
                                             std::function<void()> on_change) {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Status::Unavailable("watch " + file.string() + ": " + errnoText(errno));
  if (::inotify_add_watch(fd, file.c_str(), IN_MODIFY) < 0) {
    const int err = errno;
    ::close(fd);
    return Status::Unavailable("watch " + file.string() + ": " + errnoText(err));
  }
  auto watch = std::make_shared<InotifyWatch>(std::move(executor), fd, std::move(on_change));
  watch->read();
  return std::unique_ptr<FileWatch>(std::make_unique<LinuxFileWatch>(std::move(watch)));
}

}  // namespace pkgxfer::platform
