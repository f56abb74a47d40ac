#include "pkgxfer/common/log.h"

#include <spdlog/details/os.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iterator>
#include <system_error>

#include "log_file.h"
#include "log_sinks.h"
#include "pkgxfer/common/os_error.h"

namespace pkgxfer {
namespace {

namespace fs = std::filesystem;

std::string errorCodeText(const std::error_code& ec) {
  if (ec.category() == std::generic_category()) return errnoText(ec.value());
  if (ec.category() == std::system_category()) return systemErrorText(ec.value());
  return ec.message();
}

bool isEscaped(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

// Appends `message` to `out` escaped as escapeLogMessage() documents; with `cmtrace` also defuses
// the record markers. `Buf` is std::string or spdlog::memory_buf_t (both append pointer ranges).
template <typename Buf>
void appendEscaped(Buf& out, std::string_view message, bool cmtrace) {
  static constexpr std::string_view kEnd = "]LOG]!>";
  static constexpr std::string_view kStart = "<![LOG[";
  static constexpr char kHex[] = "0123456789ABCDEF";
  const char* run = message.data();  // start of the pending run of bytes copied as they are
  const char* const end = message.data() + message.size();
  for (const char* p = run; p != end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    std::string_view replacement;
    std::size_t consumed = 1;
    char hex[4];
    if (c == '\n') {
      replacement = "\\n";
    } else if (c == '\r') {
      replacement = "\\r";
    } else if (isEscaped(c)) {
      hex[0] = '\\';
      hex[1] = 'x';
      hex[2] = kHex[c >> 4];
      hex[3] = kHex[c & 0xf];
      replacement = std::string_view(hex, 4);
    } else if (cmtrace && c == ']' && std::string_view(p, end - p).starts_with(kEnd)) {
      replacement = "]LOG]!&gt;";
      consumed = kEnd.size();
    } else if (cmtrace && c == '<' && std::string_view(p, end - p).starts_with(kStart)) {
      replacement = "&lt;![LOG[";
      consumed = kStart.size();
    } else {
      continue;
    }
    out.append(run, p);
    out.append(replacement.data(), replacement.data() + replacement.size());
    p += consumed - 1;
    run = p + 1;
  }
  out.append(run, end);
}

void appendView(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

std::string_view payloadOf(const spdlog::details::log_msg& msg) {
  return std::string_view(msg.payload.data(), msg.payload.size());
}

std::string_view basenameOf(const char* file) {
  std::string_view path(file);
  const auto slash = path.find_last_of("/\\");
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

// spdlog's OS layer: localtime_r and tm_gmtoff on POSIX, localtime_s and GetTimeZoneInformation
// (the bias Windows itself reports) on Windows.
int windowsBiasMinutes(std::time_t t) {
  const std::tm tm = spdlog::details::os::localtime(t);
  return -spdlog::details::os::utc_minutes_offset(tm);
}

std::string escapeLogMessage(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  appendEscaped(out, message, /*cmtrace=*/false);
  return out;
}

namespace log_internal {

LocalTimeCache::Parts LocalTimeCache::at(spdlog::log_clock::time_point time) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const auto since_epoch = duration_cast<milliseconds>(time.time_since_epoch()).count();
  auto second = static_cast<std::time_t>(since_epoch / 1000);
  auto millis = static_cast<int>(since_epoch % 1000);
  if (millis < 0) {  // before 1970: keep millis in [0, 1000)
    millis += 1000;
    --second;
  }
  if (second != second_) {
    tm_ = spdlog::details::os::localtime(second);
    bias_ = -spdlog::details::os::utc_minutes_offset(tm_);
    second_ = second;
  }
  return Parts{tm_, millis, bias_};
}

void ConfigMgrFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const auto t = time_.at(msg.time);
  const int month = t.tm.tm_mon + 1;
  const int year = t.tm.tm_year + 1900;
  auto out = std::back_inserter(dest);
  if (format_ == LogFormat::Trace) {
    if (msg.level == spdlog::level::warn) {
      appendView(dest, "WARNING: ");
    } else if (msg.level >= spdlog::level::err && msg.level != spdlog::level::off) {
      appendView(dest, "ERROR: ");
    }
    appendEscaped(dest, payloadOf(msg), /*cmtrace=*/false);
    // Bias as plain signed minutes ("+0", "-60"), hex thread id unpadded, as ConfigMgr writes.
    fmt::format_to(out,
                   " $$<{}><{:02}-{:02}-{:04} {:02}:{:02}:{:02}.{:03}{:+}><thread={} (0x{:X})>\n",
                   component_, month, t.tm.tm_mday, year, t.tm.tm_hour, t.tm.tm_min, t.tm.tm_sec,
                   t.millis, t.bias, msg.thread_id, msg.thread_id);
    return;
  }
  int type = 1;
  if (msg.level == spdlog::level::warn) {
    type = 2;
  } else if (msg.level >= spdlog::level::err && msg.level != spdlog::level::off) {
    type = 3;
  }
  appendView(dest, "<![LOG[");
  appendEscaped(dest, payloadOf(msg), /*cmtrace=*/true);
  // CCM logs write the bias with a sign and three digits ("+000", "-060").
  fmt::format_to(out,
                 "]LOG]!><time=\"{:02}:{:02}:{:02}.{:03}{:+04}\" date=\"{:02}-{:02}-{:04}\" "
                 "component=\"{}\" context=\"\" type=\"{}\" thread=\"{}\" file=\"",
                 t.tm.tm_hour, t.tm.tm_min, t.tm.tm_sec, t.millis, t.bias, month, t.tm.tm_mday,
                 year, component_, type, msg.thread_id);
  if (!msg.source.empty() && msg.source.filename != nullptr) {
    fmt::format_to(out, "{}:{}", basenameOf(msg.source.filename), msg.source.line);
  }
  appendView(dest, "\">\n");
}

std::unique_ptr<spdlog::formatter> ConfigMgrFormatter::clone() const {
  return std::make_unique<ConfigMgrFormatter>(format_, component_);
}

void ReadableFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const auto t = time_.at(msg.time);
  const auto level = spdlog::level::to_string_view(msg.level);
  fmt::format_to(std::back_inserter(dest), "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} [{}] [{}] ",
                 t.tm.tm_year + 1900, t.tm.tm_mon + 1, t.tm.tm_mday, t.tm.tm_hour, t.tm.tm_min,
                 t.tm.tm_sec, t.millis, std::string_view(level.data(), level.size()),
                 std::string_view(msg.logger_name.data(), msg.logger_name.size()));
  appendEscaped(dest, payloadOf(msg), /*cmtrace=*/false);
  appendView(dest, "\n");
}

std::unique_ptr<spdlog::formatter> ReadableFormatter::clone() const {
  return std::make_unique<ReadableFormatter>();
}

Result<std::shared_ptr<RotatingLogSink>> RotatingLogSink::open(fs::path path, LogFormat format,
                                                               std::string component,
                                                               std::uint64_t max_size,
                                                               int history) {
  std::string error;
  const LogFileHandle file = openLogFile(path, &error);
  if (file == kNoLogFile) {
    return Status::IoError("open log file " + path.string() + ": " + error);
  }
  const std::uint64_t size = logFileSize(file);
  return std::shared_ptr<RotatingLogSink>(new RotatingLogSink(
      std::move(path), format, std::move(component), max_size, history, file, size));
}

RotatingLogSink::RotatingLogSink(fs::path path, LogFormat format, std::string component,
                                 std::uint64_t max_size, int history, LogFileHandle file,
                                 std::uint64_t size)
    : base_sink(std::make_unique<ConfigMgrFormatter>(format, std::move(component))),
      path_(std::move(path)),
      max_size_(max_size),
      history_(history < 1 ? 1 : history),
      file_(file),
      size_(size),
      limit_(max_size) {}

RotatingLogSink::~RotatingLogSink() {
  if (file_ != kNoLogFile) closeLogFile(file_);
}

fs::path RotatingLogSink::rotatedPath(int index) const {
  fs::path rotated = path_;
  rotated.replace_extension(index == 0 ? ".lo_" : ".lo_" + std::to_string(index));
  return rotated;
}

void RotatingLogSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  // A file is rotated only if it holds something: an entry longer than max_size still goes out.
  if (file_ != kNoLogFile && max_size_ > 0 && size_ > 0 && size_ + line.size() > limit_) rotate();
  if (file_ == kNoLogFile && !reopen()) return;
  writeAll(line.data(), line.size());
}

void RotatingLogSink::rotate() {
  // Closed before renaming: the same sequence works where open files cannot be renamed (Windows).
  closeLogFile(file_);
  file_ = kNoLogFile;
  std::string failure;
  // Shift older files up first (.lo_1 -> .lo_2, .lo_ -> .lo_1); renaming onto the last one
  // replaces it, which is what keeps `history` files. Stop at the first failure rather than let
  // .log overwrite a .lo_ that could not be moved.
  for (int i = history_ - 1; i >= 1 && failure.empty(); --i) {
    const fs::path from = rotatedPath(i - 1);
    const fs::path to = rotatedPath(i);
    std::string error;
    if (renameLogFile(from, to, &error) == RenameResult::Failed) {
      failure = "rename " + from.string() + " to " + to.string() + ": " + error;
    }
  }
  if (failure.empty()) {
    const fs::path to = rotatedPath(0);
    std::string error;
    const RenameResult renamed = renameLogFile(path_, to, &error);
    if (renamed != RenameResult::Ok) {
      if (renamed == RenameResult::SourceMissing) error = "the file is gone";
      failure = "rename " + path_.string() + " to " + to.string() + ": " + error;
    }
  }
  if (!reopen()) return;
  if (failure.empty()) {
    limit_ = max_size_;
    rotate_reported_ = false;
  } else {
    // Keep writing to the same file; try again once it has grown by another max_size.
    limit_ = size_ + max_size_;
    reportOnce(&rotate_reported_,
               "cannot rotate log (continuing in " + path_.string() + "): " + failure);
  }
}

bool RotatingLogSink::reopen() {
  std::string error;
  file_ = openLogFile(path_, &error);
  if (file_ == kNoLogFile) {
    reportOnce(&open_reported_, "cannot open log file " + path_.string() + ": " + error +
                                    " (entries are dropped until it can be opened)");
    return false;
  }
  open_reported_ = false;
  size_ = logFileSize(file_);
  return true;
}

void RotatingLogSink::writeAll(const char* data, std::size_t size) {
  std::string error;
  if (!appendLogFile(file_, data, size, &error)) {
    reportOnce(&write_reported_,
               "cannot write log file " + path_.string() + ": " + error + " (entries are dropped)");
    return;
  }
  size_ += size;
  write_reported_ = false;
}

void RotatingLogSink::reportOnce(bool* reported, const std::string& what) {
  if (*reported) return;
  *reported = true;
  std::fprintf(stderr, "pkgxfer: %s\n", what.c_str());
}

}  // namespace log_internal

LogManager::LogManager(LogOptions options) : options_(std::move(options)) {}

LogManager::~LogManager() { flushAll(); }

Result<Logger> LogManager::open(const LogFileSpec& spec) {
  if (options_.dir.empty()) return Status::InvalidArgument("log directory is not set");
  const std::string& stem = spec.file_stem;
  if (stem.empty() || stem == "." || stem == ".." ||
      stem.find_first_of("/\\") != std::string::npos) {
    return Status::InvalidArgument("invalid log file name '" + stem + "'");
  }
  std::lock_guard lock(mutex_);
  for (const auto& [name, logger] : loggers_) {
    if (name == stem) return logger;
  }
  try {
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec) {
      return Status::IoError("create log directory " + options_.dir.string() + ": " +
                             errorCodeText(ec));
    }
    auto sink =
        log_internal::RotatingLogSink::open(options_.dir / (stem + ".log"), spec.format,
                                            spec.component, options_.max_size, options_.history);
    if (!sink.ok()) return sink.error();
    std::vector<spdlog::sink_ptr> sinks{*sink};
    if (options_.stderr_copy) {
      auto console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
      console->set_formatter(std::make_unique<log_internal::ReadableFormatter>());
      sinks.push_back(std::move(console));
    }
    // Deliberately not registered with spdlog's global registry: each LogManager (one per process,
    // several in tests) owns its loggers, and names may repeat across managers.
    auto logger = std::make_shared<spdlog::logger>(stem, sinks.begin(), sinks.end());
    logger->set_level(options_.level);
    loggers_.emplace_back(stem, logger);
    return Logger(logger);
  } catch (const std::exception& e) {  // spdlog_ex, bad_alloc, filesystem_error
    return Status::Internal("open log " + stem + ": " + e.what());
  }
}

void LogManager::flushAll() {
  std::lock_guard lock(mutex_);
  for (const auto& entry : loggers_) entry.second->flush();  // spdlog catches and reports errors
}

}  // namespace pkgxfer
