#pragma once

// Private to pkgxfer_common: the formatters and the rotating file sink behind LogManager.

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/base_sink.h>

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "log_file.h"
#include "pkgxfer/common/log.h"
#include "pkgxfer/common/status.h"

namespace pkgxfer::log_internal {

// Local broken-down time of the last second seen, so that a burst of entries costs one
// localtime_r() per second rather than one per entry. Not thread-safe: owned by one formatter,
// which its sink calls under its lock.
class LocalTimeCache {
 public:
  struct Parts {
    std::tm tm;
    int millis;
    int bias;  // Windows bias in minutes (UTC - local)
  };
  Parts at(spdlog::log_clock::time_point time);

 private:
  std::time_t second_ = static_cast<std::time_t>(-1);
  std::tm tm_{};
  int bias_ = 0;
};

// Writes entries in ConfigMgr's trace or CMTrace format (see log.h). Not thread-safe (its sink's
// lock serializes calls).
class ConfigMgrFormatter final : public spdlog::formatter {
 public:
  ConfigMgrFormatter(LogFormat format, std::string component)
      : format_(format), component_(std::move(component)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  LogFormat format_;
  std::string component_;
  LocalTimeCache time_;
};

// The readable copy for a terminal: "2026-11-25 14:05:09.118 [info] [distmgr] message".
class ReadableFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  LocalTimeCache time_;
};

// One component's log file with ConfigMgr-style rotation (see log.h). Each entry is formatted and
// written with one append (log_file.h) under the base_sink mutex, which also covers rotation, so
// concurrent loggers never interleave inside a line and no entry is lost while the file is renamed.
// Never throws from logging: I/O failures are reported once on stderr.
class RotatingLogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Opens (creates or appends to) `path`, which must end in ".log". Errors: IoError naming the
  // file and the OS error text.
  static Result<std::shared_ptr<RotatingLogSink>> open(std::filesystem::path path, LogFormat format,
                                                       std::string component,
                                                       std::uint64_t max_size, int history);
  ~RotatingLogSink() override;

  // The name of rotated file `index`: 0 -> "<stem>.lo_", n -> "<stem>.lo_<n>".
  std::filesystem::path rotatedPath(int index) const;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  // Entries are already in the kernel once sink_it_ returns; there is nothing to flush.
  void flush_() override {}
  // The file format is the contract with CMTrace and log parsers: patterns do not apply.
  void set_pattern_(const std::string&) override {}
  void set_formatter_(std::unique_ptr<spdlog::formatter>) override {}

 private:
  RotatingLogSink(std::filesystem::path path, LogFormat format, std::string component,
                  std::uint64_t max_size, int history, LogFileHandle file, std::uint64_t size);

  void rotate();
  // Reopens path_ after a rotation or a failed open; false (reported once) if it cannot.
  bool reopen();
  void writeAll(const char* data, std::size_t size);
  // Prints `what` on stderr unless `*reported` is already set, then sets it.
  void reportOnce(bool* reported, const std::string& what);

  const std::filesystem::path path_;
  const std::uint64_t max_size_;
  const int history_;
  LogFileHandle file_;
  std::uint64_t size_;   // bytes in the current file
  std::uint64_t limit_;  // rotate before the file would pass this many bytes
  bool rotate_reported_ = false;
  bool open_reported_ = false;
  bool write_reported_ = false;
};

}  // namespace pkgxfer::log_internal
