#pragma once

// Component log files in ConfigMgr's formats (SPEC §6).
//
// Site-server components (and pkgxferd.log everywhere) use the site server trace format:
//   MESSAGE $$<COMPONENT><MM-DD-YYYY HH:MM:SS.mmm+BIAS><thread=TID (0xTIDHEX)>
//   e.g. "Sending thread starting $$<SMS_PACKAGE_TRANSFER_MANAGER><11-25-2026 14:05:09.118+0>
//   <thread=4844 (0x12EC)>" (one line). BIAS is plain signed minutes ("+0", "-60", "+480") and the
//   hex thread id is upper case without padding, as ConfigMgr writes them. The format has no
//   severity field, so warnings start with "WARNING: " and errors (and critical) with "ERROR: ".
// DP-side components use the CMTrace format:
//   <![LOG[MESSAGE]LOG]!><time="HH:MM:SS.mmm+BIAS" date="MM-DD-YYYY" component="PullDP"
//   context="" type="1" thread="TID" file="source.cpp:123">
//   Here BIAS has a sign and at least three digits ("+000", "-060", "+480", "-330"), as the CCM
//   logs write it. type is 1 for trace/debug/info, 2 warning, 3 error/critical. file is the
//   basename of the calling source file and its line (the PX_LOG_* macros supply them), or empty.
// Times are the machine's local time; BIAS is the Windows bias in minutes (UTC - local), always
// signed, so UTC = local + BIAS. Every entry is one line ending in "\n" (see escapeLogMessage).
//
// Rotation: when writing an entry would make <stem>.log pass max_size, the file is renamed to
// <stem>.lo_ (replacing the older one) and a new one started. history > 1 keeps .lo_ (newest),
// .lo_1, .lo_2, ... (oldest), history files in all. This happens under the sink's lock, so nothing
// is lost and threads never interleave inside a line. Files are opened in append mode: a restart
// continues the file and its existing size counts. If the rename fails, writing continues in the
// same file (reported once on stderr) and rotation is retried after another max_size bytes.
//
// Durability: each entry reaches the kernel with one write(2) before the logging call returns, so
// a process killed with SIGKILL leaves complete files; there is no user-space buffer to flush.
//
// Loggers are plain spdlog loggers (not registered in spdlog's global registry); log through the
// PX_LOG_* macros so CMTrace gets file:line. The file sinks own their format: set_pattern() and
// set_formatter() on a returned logger do not change the file format.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pkgxfer/common/status.h"

namespace pkgxfer {

// Thread-safe: an spdlog logger whose sinks lock per entry. Share it freely across threads.
using Logger = std::shared_ptr<spdlog::logger>;

enum class LogFormat { Trace, CmTrace };

// What one log file is: <dir>/<file_stem>.log, tagged with `component`
// (e.g. "SMS_DISTRIBUTION_MANAGER" for trace, "PullDP" for CMTrace).
struct LogFileSpec {
  std::string file_stem;  // non-empty, no path separators; also the spdlog logger name
  std::string component;
  LogFormat format = LogFormat::Trace;
};

struct LogOptions {
  // Where the .log files go. Required; created (with parents) if missing.
  std::filesystem::path dir;
  // Applies to every logger the manager opens.
  spdlog::level::level_enum level = spdlog::level::info;
  // Rotate before a file would pass this many bytes. Default 2 MiB; 0 disables rotation.
  std::uint64_t max_size = 2ull << 20;
  // Rotated files kept (.lo_, .lo_1, ...). Default 1; values < 1 act as 1.
  int history = 1;
  // Also write a readable copy to stderr (foreground runs), one line per entry:
  // "2026-11-25 14:05:09.118 [info] [distmgr] message".
  bool stderr_copy = false;
};

// Windows time-zone bias in minutes for local time at `t`: UTC minus local (e.g. +480 in US
// Pacific standard time, +420 in Pacific daylight time, -60 in Central European time, 0 in UTC).
// Uses the process time zone as last set by tzset() (TZ or /etc/localtime).
int windowsBiasMinutes(std::time_t t);

// Escapes a message so it stays on one line: "\n" -> "\\n", "\r" -> "\\r", other control
// characters (0x00-0x1F except tab, and 0x7F) -> "\\xHH". Tabs, backslashes and non-ASCII bytes
// (UTF-8) are kept as they are. Exposed for tests and for code that builds multi-line text.
// The CMTrace format additionally defuses its record markers inside a message: "]LOG]!>" is
// written "]LOG]!&gt;" and "<![LOG[" is written "&lt;![LOG[", so a message cannot end or start a
// record early.
std::string escapeLogMessage(std::string_view message);

// Creates and owns the component loggers of one process. Thread-safe: open() and flushAll() may be
// called from any thread. Loggers stay valid after the manager is destroyed (they are shared).
class LogManager {
 public:
  explicit LogManager(LogOptions options);
  ~LogManager();
  LogManager(const LogManager&) = delete;
  LogManager& operator=(const LogManager&) = delete;

  // Opens (creating `dir` if needed) the log file described by `spec` and returns its logger,
  // named spec.file_stem. Opening the same stem twice returns the same logger (the first spec's
  // component and format win). Errors: InvalidArgument for an empty dir or a bad stem; IoError
  // naming the directory or file and the OS error text.
  Result<Logger> open(const LogFileSpec& spec);
  // Flushes every logger (the files need none; this pushes the stderr copy).
  void flushAll();
  const LogOptions& options() const { return options_; }

 private:
  LogOptions options_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, Logger>> loggers_;
};

}  // namespace pkgxfer

// Log with source location (CMTrace's file="x.cpp:123"). Usage: PX_LOG_INFO(logger, "x {}", y);
// WARNING/ERROR prefixes of the trace format are added by the formatter from the level.
#define PX_LOG_DEBUG(logger, ...) SPDLOG_LOGGER_DEBUG(logger, __VA_ARGS__)
#define PX_LOG_INFO(logger, ...) SPDLOG_LOGGER_INFO(logger, __VA_ARGS__)
#define PX_LOG_WARN(logger, ...) SPDLOG_LOGGER_WARN(logger, __VA_ARGS__)
#define PX_LOG_ERROR(logger, ...) SPDLOG_LOGGER_ERROR(logger, __VA_ARGS__)
