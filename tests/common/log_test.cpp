#include "pkgxfer/common/log.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fakes/test_util.h"

namespace pkgxfer {
namespace {

namespace fs = std::filesystem;
using pkgxfer::testing::readFile;
using pkgxfer::testing::readLines;
using pkgxfer::testing::TempDir;

// The regexes below are written from SPEC §6 and the ConfigMgr samples, independently of the
// formatter, so that a formatter bug cannot hide behind a shared definition.
//   MESSAGE $$<COMPONENT><MM-DD-YYYY HH:MM:SS.mmm+BIAS><thread=TID (0xTIDHEX)>
const std::regex kTraceLine(
    R"(^(.*) \$\$<([A-Za-z0-9_]+)><(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}))"
    R"(([+-](?:0|[1-9]\d*))><thread=(\d+) \(0x([0-9A-F]+)\)>$)");
//   <![LOG[MESSAGE]LOG]!><time="HH:MM:SS.mmm+BIAS" date="MM-DD-YYYY" component="C" context=""
//   type="1" thread="TID" file="source.cpp:123">
const std::regex kCmTraceLine(
    R"re(^<!\[LOG\[(.*)\]LOG\]!><time="(\d{2}):(\d{2}):(\d{2})\.(\d{3})([+-]\d{3,})" )re"
    R"re(date="(\d{2})-(\d{2})-(\d{4})" component="([^"]*)" context="" type="([123])" )re"
    R"re(thread="(\d+)" file="([^"]*)">$)re");

struct TraceEntry {
  std::string message;
  std::string component;
  std::tm local{};  // fields as written
  int millis = 0;
  std::string bias_text;
  long tid = 0;
  std::string tid_hex;
};

std::optional<TraceEntry> parseTrace(const std::string& line) {
  std::smatch m;
  if (!std::regex_match(line, m, kTraceLine)) return std::nullopt;
  TraceEntry e;
  e.message = m[1];
  e.component = m[2];
  e.local.tm_mon = std::stoi(m[3]) - 1;
  e.local.tm_mday = std::stoi(m[4]);
  e.local.tm_year = std::stoi(m[5]) - 1900;
  e.local.tm_hour = std::stoi(m[6]);
  e.local.tm_min = std::stoi(m[7]);
  e.local.tm_sec = std::stoi(m[8]);
  e.millis = std::stoi(m[9]);
  e.bias_text = m[10];
  e.tid = std::stol(m[11]);
  e.tid_hex = m[12];
  return e;
}

struct CmTraceEntry {
  std::string message;
  std::string bias_text;
  std::string component;
  int type = 0;
  long tid = 0;
  std::string file;
};

std::optional<CmTraceEntry> parseCmTrace(const std::string& line) {
  std::smatch m;
  if (!std::regex_match(line, m, kCmTraceLine)) return std::nullopt;
  CmTraceEntry e;
  e.message = m[1];
  e.bias_text = m[6];
  e.component = m[10];
  e.type = std::stoi(m[11]);
  e.tid = std::stol(m[12]);
  e.file = m[13];
  return e;
}

long currentTid() { return static_cast<long>(::syscall(SYS_gettid)); }

std::string upperHex(long value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lX", value);
  return buf;
}

// Sets TZ for the scope of a test and restores the previous value (or its absence).
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTimeZone() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ScopedTimeZone(const ScopedTimeZone&) = delete;
  ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

 private:
  std::optional<std::string> old_;
};

std::time_t utcTime(int year, int month, int day, int hour) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  return ::timegm(&tm);
}

std::int64_t nowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Sequence numbers of "seq=N" entries, in file order.
std::vector<int> sequenceNumbers(const fs::path& file) {
  static const std::regex kSeq(R"(^seq=(\d+) )");
  std::vector<int> out;
  for (const auto& line : readLines(file)) {
    auto entry = parseTrace(line);
    EXPECT_TRUE(entry) << line;
    if (!entry) continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(entry->message, m, kSeq)) << line;
    if (!m.empty()) out.push_back(std::stoi(m[1]));
  }
  return out;
}

class LogTest : public ::testing::Test {
 protected:
  LogOptions optionsFor(const fs::path& dir) {
    LogOptions options;
    options.dir = dir;
    return options;
  }
  LogOptions defaultOptions() { return optionsFor(dir_.path() / "logs"); }

  Logger openOrDie(LogManager& manager, const std::string& stem, const std::string& component,
                   LogFormat format = LogFormat::Trace) {
    auto logger = manager.open(LogFileSpec{stem, component, format});
    EXPECT_TRUE(logger.ok()) << logger.status().toString();
    return logger.ok() ? *logger : nullptr;
  }

  fs::path logDir() const { return dir_.path() / "logs"; }

  TempDir dir_;
};

TEST_F(LogTest, TraceLineHasExactShapeComponentTimeAndThread) {
  // A half-hour zone proves the bias and the local time agree (UTC = local + bias).
  ScopedTimeZone tz("Asia/Kolkata");
  LogManager manager(defaultOptions());
  Logger logger = openOrDie(manager, "pkgxfermgr", "SMS_PACKAGE_TRANSFER_MANAGER");
  ASSERT_TRUE(logger);
  EXPECT_EQ(logger->name(), "pkgxfermgr");

  const std::int64_t before = nowMillis();
  PX_LOG_INFO(logger, "Sending thread starting for job {}", 577);
  const std::int64_t after = nowMillis();

  const std::string content = readFile(logDir() / "pkgxfermgr.log");
  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content.back(), '\n');
  EXPECT_EQ(content.find('\r'), std::string::npos);
  const auto lines = readLines(logDir() / "pkgxfermgr.log");
  ASSERT_EQ(lines.size(), 1u);
  auto entry = parseTrace(lines[0]);
  ASSERT_TRUE(entry) << lines[0];
  EXPECT_EQ(entry->message, "Sending thread starting for job 577");
  EXPECT_EQ(entry->component, "SMS_PACKAGE_TRANSFER_MANAGER");
  EXPECT_EQ(entry->bias_text, "-330");
  EXPECT_EQ(entry->tid, currentTid());
  EXPECT_EQ(entry->tid_hex, upperHex(currentTid()));

  std::tm local = entry->local;
  const std::int64_t written =
      (static_cast<std::int64_t>(::timegm(&local)) + std::stoi(entry->bias_text) * 60) * 1000 +
      entry->millis;
  EXPECT_GE(written, before);
  EXPECT_LE(written, after);
}

TEST_F(LogTest, TraceBiasIsPlainSignedMinutes) {
  {
    ScopedTimeZone tz("UTC0");
    LogManager manager(optionsFor(dir_.path() / "utc"));
    Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
    PX_LOG_INFO(logger, "in utc");
  }
  {
    // POSIX TZ sign is inverted: "ABC-1" is UTC+1, whose Windows bias is -60.
    ScopedTimeZone tz("ABC-1");
    LogManager manager(optionsFor(dir_.path() / "cet"));
    Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
    PX_LOG_INFO(logger, "an hour east");
  }
  auto utc = readLines(dir_.path() / "utc" / "distmgr.log");
  auto cet = readLines(dir_.path() / "cet" / "distmgr.log");
  ASSERT_EQ(utc.size(), 1u);
  ASSERT_EQ(cet.size(), 1u);
  auto utc_entry = parseTrace(utc[0]);
  auto cet_entry = parseTrace(cet[0]);
  ASSERT_TRUE(utc_entry && cet_entry);
  EXPECT_EQ(utc_entry->bias_text, "+0");
  EXPECT_EQ(cet_entry->bias_text, "-60");
}

TEST_F(LogTest, TraceMarksWarningsAndErrorsInTheMessage) {
  LogOptions options = defaultOptions();
  options.level = spdlog::level::debug;
  LogManager manager(options);
  Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  PX_LOG_DEBUG(logger, "debug text");
  PX_LOG_INFO(logger, "info text");
  PX_LOG_WARN(logger, "warn text");
  PX_LOG_ERROR(logger, "error text");
  logger->critical("critical text");

  const auto lines = readLines(logDir() / "distmgr.log");
  ASSERT_EQ(lines.size(), 5u);
  std::vector<std::string> messages;
  for (const auto& line : lines) {
    auto entry = parseTrace(line);
    ASSERT_TRUE(entry) << line;
    EXPECT_EQ(entry->component, "SMS_DISTRIBUTION_MANAGER");
    messages.push_back(entry->message);
  }
  EXPECT_EQ(messages, (std::vector<std::string>{"debug text", "info text", "WARNING: warn text",
                                                "ERROR: error text", "ERROR: critical text"}));
}

TEST_F(LogTest, CmTraceLineHasTypeThreadAndSourceLocation) {
  ScopedTimeZone tz("UTC0");
  LogOptions options = defaultOptions();
  options.level = spdlog::level::debug;
  LogManager manager(options);
  Logger logger = openOrDie(manager, "pulldp", "PullDP", LogFormat::CmTrace);
  // clang-format off
  PX_LOG_DEBUG(logger, "debug {}", 1); const int debug_line = __LINE__;
  PX_LOG_INFO(logger, "info {}", 2); const int info_line = __LINE__;
  PX_LOG_WARN(logger, "warn {}", 3); const int warn_line = __LINE__;
  PX_LOG_ERROR(logger, "error {}", 4); const int error_line = __LINE__;
  // clang-format on
  logger->info("no source location");

  const auto lines = readLines(logDir() / "pulldp.log");
  ASSERT_EQ(lines.size(), 5u);
  std::vector<CmTraceEntry> entries;
  for (const auto& line : lines) {
    auto entry = parseCmTrace(line);
    ASSERT_TRUE(entry) << line;
    EXPECT_EQ(entry->component, "PullDP");
    EXPECT_EQ(entry->tid, currentTid());
    EXPECT_EQ(entry->bias_text, "+000");
    entries.push_back(*entry);
  }
  EXPECT_EQ(entries[0].message, "debug 1");
  EXPECT_EQ(entries[0].type, 1);
  EXPECT_EQ(entries[0].file, "log_test.cpp:" + std::to_string(debug_line));
  EXPECT_EQ(entries[1].message, "info 2");
  EXPECT_EQ(entries[1].type, 1);
  EXPECT_EQ(entries[1].file, "log_test.cpp:" + std::to_string(info_line));
  EXPECT_EQ(entries[2].message, "warn 3");  // CMTrace has a type field: no text prefix
  EXPECT_EQ(entries[2].type, 2);
  EXPECT_EQ(entries[2].file, "log_test.cpp:" + std::to_string(warn_line));
  EXPECT_EQ(entries[3].message, "error 4");
  EXPECT_EQ(entries[3].type, 3);
  EXPECT_EQ(entries[3].file, "log_test.cpp:" + std::to_string(error_line));
  EXPECT_EQ(entries[4].file, "");
}

TEST_F(LogTest, CmTraceBiasHasSignAndThreeDigits) {
  ScopedTimeZone tz("ABC-1");  // UTC+1: bias -60
  LogManager manager(defaultOptions());
  Logger logger = openOrDie(manager, "dp", "SMS_DP", LogFormat::CmTrace);
  PX_LOG_INFO(logger, "x");
  const auto lines = readLines(logDir() / "dp.log");
  ASSERT_EQ(lines.size(), 1u);
  auto entry = parseCmTrace(lines[0]);
  ASSERT_TRUE(entry) << lines[0];
  EXPECT_EQ(entry->bias_text, "-060");
}

TEST_F(LogTest, WindowsBiasFollowsTimeZoneAndDaylightSaving) {
  const std::time_t winter = utcTime(2026, 1, 15, 12);
  const std::time_t summer = utcTime(2026, 7, 15, 12);
  {
    ScopedTimeZone tz("America/Los_Angeles");
    EXPECT_EQ(windowsBiasMinutes(winter), 480);
    EXPECT_EQ(windowsBiasMinutes(summer), 420);
  }
  {
    ScopedTimeZone tz("Europe/Berlin");
    EXPECT_EQ(windowsBiasMinutes(winter), -60);
    EXPECT_EQ(windowsBiasMinutes(summer), -120);
  }
  {
    ScopedTimeZone tz("Asia/Kolkata");
    EXPECT_EQ(windowsBiasMinutes(winter), -330);
  }
  {
    ScopedTimeZone tz("UTC0");
    EXPECT_EQ(windowsBiasMinutes(winter), 0);
    EXPECT_EQ(windowsBiasMinutes(summer), 0);
  }
}

TEST_F(LogTest, EscapeLogMessageKeepsOneLine) {
  EXPECT_EQ(escapeLogMessage("plain \\\\dp01\\ADMIN$ text"), "plain \\\\dp01\\ADMIN$ text");
  EXPECT_EQ(escapeLogMessage("a\nb\r\nc"), "a\\nb\\r\\nc");
  EXPECT_EQ(escapeLogMessage(std::string("nul\0bell\a", 9)), "nul\\x00bell\\x07");
  EXPECT_EQ(escapeLogMessage("esc\x1b del\x7f"), "esc\\x1B del\\x7F");
  EXPECT_EQ(escapeLogMessage("tab\tstays"), "tab\tstays");
  EXPECT_EQ(escapeLogMessage("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 passes through
  EXPECT_EQ(escapeLogMessage(""), "");
}

TEST_F(LogTest, NewlinesInMessagesAreEscapedInBothFormats) {
  LogManager manager(defaultOptions());
  Logger trace = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  Logger cmtrace = openOrDie(manager, "pulldp", "PullDP", LogFormat::CmTrace);
  PX_LOG_ERROR(trace, "first line\nsecond line\r\n");
  PX_LOG_INFO(cmtrace, "first line\nsecond line");

  const auto trace_lines = readLines(logDir() / "distmgr.log");
  ASSERT_EQ(trace_lines.size(), 1u);
  auto t = parseTrace(trace_lines[0]);
  ASSERT_TRUE(t) << trace_lines[0];
  EXPECT_EQ(t->message, "ERROR: first line\\nsecond line\\r\\n");

  const auto cm_lines = readLines(logDir() / "pulldp.log");
  ASSERT_EQ(cm_lines.size(), 1u);
  auto c = parseCmTrace(cm_lines[0]);
  ASSERT_TRUE(c) << cm_lines[0];
  EXPECT_EQ(c->message, "first line\\nsecond line");
}

TEST_F(LogTest, CmTraceMessageCannotBreakRecordFraming) {
  LogManager manager(defaultOptions());
  Logger logger = openOrDie(manager, "pulldp", "PullDP", LogFormat::CmTrace);
  PX_LOG_INFO(logger, "quoted ]LOG]!><time=\"00:00:00.000+000\" and <![LOG[fake");

  const std::string content = readFile(logDir() / "pulldp.log");
  // Exactly one record start and one record end, so a record-based parser sees one entry.
  EXPECT_EQ(content.find("<![LOG["), 0u);
  EXPECT_EQ(content.find("<![LOG[", 1), std::string::npos);
  const auto end = content.find("]LOG]!>");
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(content.find("]LOG]!>", end + 1), std::string::npos);
  const auto lines = readLines(logDir() / "pulldp.log");
  ASSERT_EQ(lines.size(), 1u);
  auto entry = parseCmTrace(lines[0]);
  ASSERT_TRUE(entry) << lines[0];
  EXPECT_EQ(entry->message, "quoted ]LOG]!&gt;<time=\"00:00:00.000+000\" and &lt;![LOG[fake");
}

TEST_F(LogTest, LevelFilteringHidesLowerLevels) {
  {
    LogManager manager(optionsFor(dir_.path() / "info"));  // default level: info
    Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
    PX_LOG_DEBUG(logger, "hidden debug");
    PX_LOG_INFO(logger, "shown info");
  }
  {
    LogOptions options = optionsFor(dir_.path() / "warn");
    options.level = spdlog::level::warn;
    LogManager manager(options);
    Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
    PX_LOG_INFO(logger, "hidden info");
    PX_LOG_WARN(logger, "shown warning");
  }
  auto info = readLines(dir_.path() / "info" / "distmgr.log");
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(parseTrace(info[0])->message, "shown info");
  auto warn = readLines(dir_.path() / "warn" / "distmgr.log");
  ASSERT_EQ(warn.size(), 1u);
  EXPECT_EQ(parseTrace(warn[0])->message, "WARNING: shown warning");
}

TEST_F(LogTest, SameStemReturnsSameLogger) {
  LogManager manager(defaultOptions());
  Logger a = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  Logger b = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  Logger c = openOrDie(manager, "pkgxferd", "SMS_EXECUTIVE");
  EXPECT_EQ(a.get(), b.get());
  EXPECT_NE(a.get(), c.get());
  EXPECT_EQ(c->name(), "pkgxferd");
  // Not in spdlog's global registry: managers in one process do not clash.
  EXPECT_EQ(spdlog::get("distmgr"), nullptr);
}

TEST_F(LogTest, OpenReportsIoErrorNamingThePath) {
  testing::writeFile(dir_ / "plainfile", "x");
  LogManager manager(optionsFor(dir_.path() / "plainfile" / "logs"));
  auto logger = manager.open(LogFileSpec{"distmgr", "SMS_DISTRIBUTION_MANAGER"});
  ASSERT_FALSE(logger.ok());
  EXPECT_EQ(logger.status().code(), Status::Code::IoError);
  EXPECT_NE(logger.status().message().find((dir_.path() / "plainfile").string()), std::string::npos)
      << logger.status().message();
  EXPECT_NE(logger.status().message().find("Not a directory"), std::string::npos)
      << logger.status().message();
}

TEST_F(LogTest, OpenRejectsBadStems) {
  LogManager manager(defaultOptions());
  for (const char* stem : {"", "a/b", "..", "."}) {
    auto logger = manager.open(LogFileSpec{stem, "X"});
    ASSERT_FALSE(logger.ok()) << stem;
    EXPECT_EQ(logger.status().code(), Status::Code::InvalidArgument) << stem;
  }
  LogManager no_dir(LogOptions{});
  EXPECT_EQ(no_dir.open(LogFileSpec{"distmgr", "X"}).status().code(),
            Status::Code::InvalidArgument);
}

TEST_F(LogTest, RotatesToLoUnderscoreAtMaxSizeWithHistoryOne) {
  LogOptions options = defaultOptions();
  options.max_size = 1000;
  LogManager manager(options);
  Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  constexpr int kLines = 60;  // ~100 bytes each: several rotations
  for (int i = 0; i < kLines; ++i) PX_LOG_INFO(logger, "seq={} padding to make a line", i);

  const fs::path log = logDir() / "distmgr.log";
  const fs::path lo = logDir() / "distmgr.lo_";
  ASSERT_TRUE(fs::exists(lo));
  EXPECT_FALSE(fs::exists(logDir() / "distmgr.lo_1"));
  EXPECT_LE(fs::file_size(log), 1000u);
  EXPECT_LE(fs::file_size(lo), 1000u);
  // Nearly full: the rotation happened only when the next line would not fit.
  EXPECT_GT(fs::file_size(lo), 1000u - 150u);
  // .lo_ then .log hold the newest lines, consecutive and ending at the last one.
  std::vector<int> seq = sequenceNumbers(lo);
  for (int s : sequenceNumbers(log)) seq.push_back(s);
  ASSERT_FALSE(seq.empty());
  EXPECT_EQ(seq.back(), kLines - 1);
  for (std::size_t i = 1; i < seq.size(); ++i) EXPECT_EQ(seq[i], seq[i - 1] + 1);
}

TEST_F(LogTest, KeepsHistoryRotatedFilesNewestFirst) {
  LogOptions options = defaultOptions();
  options.max_size = 1000;
  options.history = 3;
  LogManager manager(options);
  Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  constexpr int kLines = 100;  // ~10 files' worth
  for (int i = 0; i < kLines; ++i) PX_LOG_INFO(logger, "seq={} padding to make a line", i);

  for (const char* name : {"distmgr.log", "distmgr.lo_", "distmgr.lo_1", "distmgr.lo_2"}) {
    ASSERT_TRUE(fs::exists(logDir() / name)) << name;
    EXPECT_LE(fs::file_size(logDir() / name), 1000u) << name;
  }
  EXPECT_FALSE(fs::exists(logDir() / "distmgr.lo_3"));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(logDir())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 4);
  // Oldest to newest: .lo_2, .lo_1, .lo_, .log, with no gap.
  std::vector<int> seq;
  for (const char* name : {"distmgr.lo_2", "distmgr.lo_1", "distmgr.lo_", "distmgr.log"}) {
    for (int s : sequenceNumbers(logDir() / name)) seq.push_back(s);
  }
  ASSERT_FALSE(seq.empty());
  EXPECT_EQ(seq.back(), kLines - 1);
  for (std::size_t i = 1; i < seq.size(); ++i) EXPECT_EQ(seq[i], seq[i - 1] + 1);
}

TEST_F(LogTest, AppendsAcrossRestartsAndCountsTheExistingSize) {
  LogOptions options = defaultOptions();
  options.max_size = 1000;
  for (int run = 0; run < 2; ++run) {
    LogManager manager(options);
    Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
    PX_LOG_INFO(logger, "seq={} run", run);
  }
  EXPECT_EQ(sequenceNumbers(logDir() / "distmgr.log"), (std::vector<int>{0, 1}));

  // A file left full by an earlier run is rotated before the first new entry.
  testing::writeFile(logDir() / "pkgxferd.log", std::string(999, 'x') + "\n");
  LogManager manager(options);
  Logger logger = openOrDie(manager, "pkgxferd", "SMS_EXECUTIVE");
  PX_LOG_INFO(logger, "seq=7 after restart");
  EXPECT_EQ(fs::file_size(logDir() / "pkgxferd.lo_"), 1000u);
  EXPECT_EQ(sequenceNumbers(logDir() / "pkgxferd.log"), (std::vector<int>{7}));
}

TEST_F(LogTest, FailedRotationKeepsWritingAndReportsOnce) {
  LogOptions options = defaultOptions();
  options.max_size = 500;
  fs::create_directories(logDir() / "distmgr.lo_" / "occupied");  // rename onto it fails
  LogManager manager(options);
  Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  ::testing::internal::CaptureStderr();
  constexpr int kLines = 40;  // ~8 times max_size
  for (int i = 0; i < kLines; ++i) PX_LOG_INFO(logger, "seq={} padding to make a line", i);
  const std::string err = ::testing::internal::GetCapturedStderr();

  std::vector<int> expected;
  for (int i = 0; i < kLines; ++i) expected.push_back(i);
  EXPECT_EQ(sequenceNumbers(logDir() / "distmgr.log"), expected);
  std::size_t reports = 0;
  for (auto pos = err.find("cannot rotate"); pos != std::string::npos;
       pos = err.find("cannot rotate", pos + 1)) {
    ++reports;
  }
  EXPECT_EQ(reports, 1u) << err;
  EXPECT_NE(err.find("distmgr.lo_"), std::string::npos) << err;
}

TEST_F(LogTest, StderrCopyIsReadable) {
  LogOptions options = defaultOptions();
  options.stderr_copy = true;
  LogManager manager(options);
  Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  ::testing::internal::CaptureStderr();
  PX_LOG_INFO(logger, "hello\nworld");
  PX_LOG_WARN(logger, "careful");
  manager.flushAll();
  const std::string err = ::testing::internal::GetCapturedStderr();
  const std::regex kReadable(
      R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \[info\] \[distmgr\] hello\\nworld\n)"
      R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \[warning\] \[distmgr\] careful\n)");
  EXPECT_TRUE(std::regex_match(err, kReadable)) << err;
  // The file still gets the trace format.
  EXPECT_EQ(readLines(logDir() / "distmgr.log").size(), 2u);
}

TEST_F(LogTest, SetPatternDoesNotChangeTheFileFormat) {
  LogManager manager(defaultOptions());
  Logger logger = openOrDie(manager, "distmgr", "SMS_DISTRIBUTION_MANAGER");
  logger->set_pattern("%v");
  PX_LOG_INFO(logger, "still trace");
  const auto lines = readLines(logDir() / "distmgr.log");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(parseTrace(lines[0])) << lines[0];
}

TEST_F(LogTest, ManyThreadsRotateWithoutLosingOrInterleavingLines) {
  LogOptions options = defaultOptions();
  options.max_size = 64 * 1024;
  options.history = 99;  // enough that nothing is deleted
  LogManager manager(options);
  Logger logger = openOrDie(manager, "pkgxfermgr", "SMS_PACKAGE_TRANSFER_MANAGER");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  std::vector<long> tids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      tids[t] = currentTid();
      for (int i = 0; i < kPerThread; ++i) {
        PX_LOG_INFO(logger, "hammer worker={} seq={}", t, i);
      }
    });
  }
  for (auto& thread : threads) thread.join();

  const std::regex kHammer(R"(^hammer worker=(\d+) seq=(\d+)$)");
  std::map<std::pair<int, int>, int> seen;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(logDir())) {
    ++files;
    const std::string name = entry.path().filename().string();
    ASSERT_TRUE(name == "pkgxfermgr.log" || name.rfind("pkgxfermgr.lo_", 0) == 0) << name;
    EXPECT_LE(entry.file_size(), options.max_size) << name;
    for (const auto& line : readLines(entry.path())) {
      auto parsed = parseTrace(line);
      ASSERT_TRUE(parsed) << name << ": " << line;
      std::smatch m;
      ASSERT_TRUE(std::regex_match(parsed->message, m, kHammer)) << line;
      const int worker = std::stoi(m[1]);
      ASSERT_LT(worker, kThreads);
      EXPECT_EQ(parsed->tid, tids[worker]) << line;
      ++seen[{worker, std::stoi(m[2])}];
    }
  }
  EXPECT_GT(files, 10);      // the test did exercise rotation many times
  EXPECT_LE(files, 1 + 99);  // .log and at most `history` rotated files
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
  for (const auto& [key, count] : seen) {
    ASSERT_EQ(count, 1) << "worker " << key.first << " seq " << key.second;
  }
}

}  // namespace
}  // namespace pkgxfer
