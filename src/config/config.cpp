#include "pkgxfer/config/config.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <iterator>
#include <system_error>

#include "json_reader.h"
#include "syntax.h"

// Loading runs in stages, each assuming the previous ones passed, and stops at the first error:
//   1. size cap            the text is at most 1 MiB
//   2. JSON                well-formed, no key twice in an object
//   3. shape               the root and every block are objects (or arrays) with known keys only
//   4. values              each value has the right type and range; defaults fill the rest
//   5. cross-field         blocks the hosted components need, unique DP names, pull DP sources,
//                          one library root per file DP, none in or around the site's data_dir
// Within a stage, blocks are checked in a fixed order and keys of one object in document order, so
// the same input always gives the same message.

namespace pkgxfer::config {

namespace fs = std::filesystem;

using internal::checkArray;
using internal::checkObject;
using internal::childPointer;
using internal::describe;
using internal::EnumName;
using internal::expected;
using internal::Fields;
using internal::invalid;
using internal::Json;
using internal::quote;

namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;

constexpr std::string_view kRootKeys[] = {
    "site", "logging", "components", "distribution", "distribution_points", "dp", "pulldp"};
constexpr std::string_view kSiteKeys[] = {"code", "data_dir", "listen", "token_file", "timezone"};
constexpr std::string_view kLoggingKeys[] = {"dir", "level", "max_size", "history"};
constexpr std::string_view kDistributionKeys[] = {"max_concurrent_packages",
                                                  "max_threads_per_package",
                                                  "retry_count",
                                                  "retry_delay",
                                                  "pull_source_recheck",
                                                  "pull_source_recheck_count",
                                                  "pull_status_timeout",
                                                  "pull_status_check_count",
                                                  "verify"};
constexpr std::string_view kDistributionPointKeys[] = {
    "name",        "type", "address",  "content_url", "ca_file",
    "credentials", "smb",  "schedule", "rate_limit",  "sources"};
constexpr std::string_view kCredentialsKeys[] = {"user", "domain", "password_env"};
constexpr std::string_view kSmbKeys[] = {"encrypt"};
constexpr std::string_view kScheduleKeys[] = {"default", "rules"};
constexpr std::string_view kRuleKeys[] = {"days", "hours", "level"};
constexpr std::string_view kRateLimitKeys[] = {"mode", "block_size", "delay", "hours"};
constexpr std::string_view kDpKeys[] = {"name", "content_library", "listen", "token_file", "tls"};
constexpr std::string_view kTlsKeys[] = {"cert_file", "key_file"};
constexpr std::string_view kPullDpKeys[] = {"site_status_url", "max_concurrent_jobs"};

constexpr EnumName<LogLevel> kLogLevels[] = {{"debug", LogLevel::Debug},
                                             {"info", LogLevel::Info},
                                             {"warning", LogLevel::Warning},
                                             {"error", LogLevel::Error}};
constexpr EnumName<DpType> kDpTypes[] = {{"standard", DpType::Standard}, {"pull", DpType::Pull}};
constexpr EnumName<ScheduleLevel> kScheduleLevels[] = {{"all", ScheduleLevel::All},
                                                       {"medium_high", ScheduleLevel::MediumHigh},
                                                       {"high", ScheduleLevel::High},
                                                       {"closed", ScheduleLevel::Closed}};
constexpr EnumName<RateLimitMode> kRateLimitModes[] = {{"unlimited", RateLimitMode::Unlimited},
                                                       {"pulse", RateLimitMode::Pulse},
                                                       {"limited", RateLimitMode::Limited},
                                                       {"max_rate", RateLimitMode::MaxRate}};
constexpr EnumName<int> kDays[] = {{"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3},
                                   {"thu", 4}, {"fri", 5}, {"sat", 6}};

constexpr std::string_view kSiteComponents[] = {"distmgr", "pkgxfermgr", "statusreceiver"};

constexpr std::string_view kListenWhat =
    "\"host:port\" (an IPv4 address, [IPv6 address] or host name, and a port from 1 to 65535)";
constexpr std::string_view kHourRangeWhat =
    "an hour range \"HH-HH\" from 00 to 24, start != end, e.g. \"08-18\" or \"22-06\"";
constexpr std::string_view kUrlWhat = "an http:// or https:// URL";

std::string twoDigits(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

std::vector<std::string_view> componentNames() {
  return std::vector<std::string_view>(kComponentNames.begin(), kComponentNames.end());
}

// ---- Stage 2: JSON ----------------------------------------------------------------------------

// "line L, column C" of the byte nlohmann reports (1-based index of the last character read).
std::string textLocation(std::string_view text, std::size_t byte) {
  const std::size_t end = std::min(byte == 0 ? 0 : byte - 1, text.size());
  std::size_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(end - line_start + 1);
}

// nlohmann's what() is "[json.exception.parse_error.101] parse error at line 2, column 8: <why>";
// keep <why>, the location is computed by textLocation(). <why> may quote the offending bytes,
// which can be invalid UTF-8: non-ASCII bytes become '?' so the message is safe to log.
std::string parseErrorReason(std::string_view what) {
  const std::size_t column = what.find("column ");
  const std::size_t colon = what.find(": ", column == std::string_view::npos ? 0 : column);
  std::string reason(colon == std::string_view::npos ? what : what.substr(colon + 2));
  for (char& c : reason) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      c = '?';
    }
  }
  return reason;
}

// nlohmann's what() is "[json.exception.out_of_range.406] number overflow parsing '<number>'",
// without a position: the number's first appearance in the text gives one (a string holding the
// same characters earlier would be named instead; a rare and harmless miss).
Status numberOverflow(std::string_view text, std::string_view what) {
  const std::size_t open = what.find('\'');
  const std::size_t close = what.rfind('\'');
  std::string_view number;
  if (open != std::string_view::npos && close > open) {
    number = what.substr(open + 1, close - open - 1);
  }
  const std::size_t at = number.empty() ? std::string_view::npos : text.find(number);
  const std::string where = at == std::string_view::npos ? "" : textLocation(text, at + 1) + ": ";
  constexpr std::size_t kShown = 32;
  std::string shown(number.substr(0, kShown));
  if (number.size() > kShown) shown += "...";
  return Status::InvalidArgument(where + "invalid JSON: number " + shown + " is too large");
}

// Tracks the pointer of the value being parsed to report a key given twice in one object (nlohmann
// would silently keep the last one, hiding a typo or a bad merge).
class DuplicateKeyFinder {
 public:
  bool onEvent(Json::parse_event_t event, const Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        startElement();
        frames_.emplace_back().array = false;
        break;
      case Json::parse_event_t::array_start:
        startElement();
        frames_.emplace_back().array = true;
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!frames_.empty()) {
          frames_.pop_back();
        }
        break;
      case Json::parse_event_t::key:
        if (!frames_.empty() && parsed.is_string()) {
          Frame& frame = frames_.back();
          frame.key = parsed.get<std::string>();
          if (std::find(frame.keys.begin(), frame.keys.end(), frame.key) != frame.keys.end()) {
            if (error_.ok()) {
              error_ =
                  invalid(pointer(), "duplicate key (a key may appear only once in an object)");
            }
          } else {
            frame.keys.push_back(frame.key);
          }
        }
        break;
      case Json::parse_event_t::value:
        startElement();
        break;
    }
    return true;
  }
  const Status& error() const { return error_; }

 private:
  struct Frame {
    bool array = false;
    std::size_t next_index = 0;
    std::string key;
    std::vector<std::string> keys;
  };

  // A value, object or array starting inside an array is its next element.
  void startElement() {
    if (!frames_.empty() && frames_.back().array) {
      frames_.back().key = std::to_string(frames_.back().next_index++);
    }
  }

  std::string pointer() const {
    std::string out;
    for (const Frame& frame : frames_) {
      out = frame.array ? out + "/" + frame.key : childPointer(out, frame.key);
    }
    return out;
  }

  std::vector<Frame> frames_;
  Status error_;
};

Status parseJson(std::string_view text, Json* root) {
  DuplicateKeyFinder duplicates;
  try {
    *root = Json::parse(
        text.begin(), text.end(),
        [&duplicates](int /*depth*/, Json::parse_event_t event, Json& parsed) {
          return duplicates.onEvent(event, parsed);
        },
        /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::parse_error& e) {
    return Status::InvalidArgument(textLocation(text, e.byte) +
                                   ": invalid JSON: " + parseErrorReason(e.what()));
  } catch (const Json::out_of_range& e) {
    // A number too large for a double ("1e400"; nlohmann's out_of_range.406) is bad text like a
    // syntax error, not an internal error (found by the config fuzzer, tests/fuzz).
    return numberOverflow(text, e.what());
  }
  return duplicates.error();
}

// ---- Stage 3: shape ---------------------------------------------------------------------------

const Json* member(const Json& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Status checkDistributionPointShape(const Json& dp, const std::string& ptr) {
  PKGXFER_RETURN_IF_ERROR(checkObject(dp, ptr, kDistributionPointKeys));
  if (const Json* v = member(dp, "credentials")) {
    PKGXFER_RETURN_IF_ERROR(checkObject(*v, childPointer(ptr, "credentials"), kCredentialsKeys));
  }
  if (const Json* v = member(dp, "smb")) {
    PKGXFER_RETURN_IF_ERROR(checkObject(*v, childPointer(ptr, "smb"), kSmbKeys));
  }
  if (const Json* schedule = member(dp, "schedule")) {
    const std::string schedule_ptr = childPointer(ptr, "schedule");
    PKGXFER_RETURN_IF_ERROR(checkObject(*schedule, schedule_ptr, kScheduleKeys));
    if (const Json* rules = member(*schedule, "rules")) {
      const std::string rules_ptr = childPointer(schedule_ptr, "rules");
      PKGXFER_RETURN_IF_ERROR(checkArray(*rules, rules_ptr));
      for (std::size_t i = 0; i < rules->size(); ++i) {
        const std::string rule_ptr = childPointer(rules_ptr, i);
        PKGXFER_RETURN_IF_ERROR(checkObject((*rules)[i], rule_ptr, kRuleKeys));
        if (const Json* days = member((*rules)[i], "days")) {
          PKGXFER_RETURN_IF_ERROR(checkArray(*days, childPointer(rule_ptr, "days")));
        }
      }
    }
  }
  if (const Json* rate = member(dp, "rate_limit")) {
    const std::string rate_ptr = childPointer(ptr, "rate_limit");
    PKGXFER_RETURN_IF_ERROR(checkObject(*rate, rate_ptr, kRateLimitKeys));
    if (const Json* hours = member(*rate, "hours"); hours && !hours->is_object()) {
      return expected(childPointer(rate_ptr, "hours"),
                      "an object of hour ranges, e.g. {\"06-18\": ...}", *hours);
    }
  }
  if (const Json* sources = member(dp, "sources")) {
    PKGXFER_RETURN_IF_ERROR(checkArray(*sources, childPointer(ptr, "sources")));
  }
  return Status::Ok();
}

Status checkShape(const Json& root) {
  if (!root.is_object()) {
    return expected("", "a JSON object at the top level", root);
  }
  PKGXFER_RETURN_IF_ERROR(checkObject(root, "", kRootKeys));
  if (const Json* v = member(root, "site")) {
    PKGXFER_RETURN_IF_ERROR(checkObject(*v, "/site", kSiteKeys));
  }
  if (const Json* v = member(root, "logging")) {
    PKGXFER_RETURN_IF_ERROR(checkObject(*v, "/logging", kLoggingKeys));
  }
  if (const Json* v = member(root, "components")) {
    PKGXFER_RETURN_IF_ERROR(checkArray(*v, "/components"));
  }
  if (const Json* v = member(root, "distribution")) {
    PKGXFER_RETURN_IF_ERROR(checkObject(*v, "/distribution", kDistributionKeys));
  }
  if (const Json* dps = member(root, "distribution_points")) {
    PKGXFER_RETURN_IF_ERROR(checkArray(*dps, "/distribution_points"));
    for (std::size_t i = 0; i < dps->size(); ++i) {
      PKGXFER_RETURN_IF_ERROR(
          checkDistributionPointShape((*dps)[i], childPointer("/distribution_points", i)));
    }
  }
  if (const Json* dp = member(root, "dp")) {
    PKGXFER_RETURN_IF_ERROR(checkObject(*dp, "/dp", kDpKeys));
    if (const Json* tls = member(*dp, "tls")) {
      PKGXFER_RETURN_IF_ERROR(checkObject(*tls, "/dp/tls", kTlsKeys));
    }
  }
  if (const Json* v = member(root, "pulldp")) {
    PKGXFER_RETURN_IF_ERROR(checkObject(*v, "/pulldp", kPullDpKeys));
  }
  return Status::Ok();
}

// ---- Stage 4: values --------------------------------------------------------------------------

// The state shared by the readers of one document.
struct Context {
  fs::path base_dir;  // absolute; relative paths are resolved against it
  Config* config;
};

Status readName(const Fields& f, std::string* out) {
  constexpr std::string_view kWhat = "a name of 1 to 64 characters A-Z, a-z, 0-9, '.', '_' or '-'";
  PKGXFER_RETURN_IF_ERROR(f.require("name", kWhat));
  PKGXFER_RETURN_IF_ERROR(f.readString("name", kWhat, out));
  if (!internal::isName(*out)) {
    return expected(f.pointer("name"), kWhat, *f.find("name"));
  }
  return Status::Ok();
}

Status readListen(const Fields& f, std::string* out) {
  const Json* v = f.find("listen");
  if (v == nullptr) {
    return Status::Ok();
  }
  if (!v->is_string() || !internal::splitHostPort(v->get_ref<const std::string&>())) {
    return expected(f.pointer("listen"), kListenWhat, *v);
  }
  *out = v->get<std::string>();
  return Status::Ok();
}

// An http(s) URL, stored without a trailing '/'.
Status readUrl(const Fields& f, std::string_view key, std::string* out) {
  const Json* v = f.find(key);
  if (v == nullptr) {
    return Status::Ok();
  }
  std::string text;
  PKGXFER_RETURN_IF_ERROR(internal::readString(*v, f.pointer(key), kUrlWhat, &text));
  std::string why;
  std::optional<internal::HttpUrl> url = internal::parseHttpUrl(text, &why);
  if (!url) {
    return invalid(f.pointer(key), "expected " + std::string(kUrlWhat) + ", got " + describe(*v) +
                                       " (" + why + ")");
  }
  *out = url->normalized;
  return Status::Ok();
}

// A file that must exist and be readable now (certificates, keys, CA bundles).
Status checkReadableFile(const std::string& ptr, const fs::path& file) {
  const std::string shown = quote(internal::pathToUtf8(file));
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (ec) {
    return invalid(ptr, "cannot read " + shown + ": " + ec.message());
  }
  if (!fs::is_regular_file(st)) {
    return invalid(ptr, "cannot read " + shown + ": not a regular file");
  }
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    return invalid(ptr, "cannot read " + shown + ": " +
                            (err != 0 ? std::generic_category().message(err) : "cannot open"));
  }
  return Status::Ok();
}

Status readReadableFile(const Fields& f, std::string_view key, const Context& ctx, fs::path* out) {
  if (!f.has(key)) {
    return Status::Ok();
  }
  PKGXFER_RETURN_IF_ERROR(f.readPath(key, ctx.base_dir, out));
  return checkReadableFile(f.pointer(key), *out);
}

// The IANA zone database: $TZDIR, else /usr/share/zoneinfo. Empty when there is none here (e.g.
// Windows), in which case only the form of a zone name is checked.
fs::path zoneInfoDir() {
  const char* env = std::getenv("TZDIR");
  fs::path dir = (env != nullptr && *env != '\0') ? fs::path(env) : fs::path("/usr/share/zoneinfo");
  std::error_code ec;
  return fs::is_directory(dir, ec) ? dir : fs::path();
}

bool isZoneFile(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return false;
  }
  std::ifstream in(file, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof(magic));
  return in && std::memcmp(magic, "TZif", sizeof(magic)) == 0;
}

Status readTimezone(const Fields& f, std::string* out) {
  constexpr std::string_view kWhat = "an IANA time zone name such as \"Europe/Berlin\"";
  PKGXFER_RETURN_IF_ERROR(f.readString("timezone", kWhat, out));
  if (out->empty()) {
    return Status::Ok();  // the machine's zone
  }
  const std::string ptr = f.pointer("timezone");
  if (!internal::isTimezoneName(*out)) {
    return expected(ptr, kWhat, *f.find("timezone"));
  }
  const fs::path dir = zoneInfoDir();
  if (!dir.empty() && !isZoneFile(dir / internal::pathFromUtf8(*out))) {
    return expected(ptr, "a time zone in " + internal::pathToUtf8(dir), *f.find("timezone"));
  }
  return Status::Ok();
}

Status readSite(const Json& v, Context& ctx) {
  Fields f(v, "/site");
  SiteConfig site;
  constexpr std::string_view kCodeWhat = "a site code of 3 characters A-Z or 0-9 (upper case)";
  PKGXFER_RETURN_IF_ERROR(f.require("code", kCodeWhat));
  PKGXFER_RETURN_IF_ERROR(f.readString("code", kCodeWhat, &site.code));
  if (!internal::isSiteCode(site.code)) {
    return expected(f.pointer("code"), kCodeWhat, *f.find("code"));
  }
  PKGXFER_RETURN_IF_ERROR(f.require("data_dir", "a path"));
  PKGXFER_RETURN_IF_ERROR(f.readPath("data_dir", ctx.base_dir, &site.data_dir));
  PKGXFER_RETURN_IF_ERROR(readListen(f, &site.listen));
  site.token_file = site.data_dir / "site.token";
  PKGXFER_RETURN_IF_ERROR(f.readPath("token_file", ctx.base_dir, &site.token_file));
  PKGXFER_RETURN_IF_ERROR(readTimezone(f, &site.timezone));
  ctx.config->site = std::move(site);
  return Status::Ok();
}

Status readLogging(const Json& v, Context& ctx) {
  Fields f(v, "/logging");
  LoggingConfig& logging = ctx.config->logging;
  PKGXFER_RETURN_IF_ERROR(f.require("dir", "a path"));
  PKGXFER_RETURN_IF_ERROR(f.readPath("dir", ctx.base_dir, &logging.dir));
  PKGXFER_RETURN_IF_ERROR(f.readEnum("level", kLogLevels, &logging.level));
  PKGXFER_RETURN_IF_ERROR(f.readSize("max_size", 64ull << 10, 1ull << 30, &logging.max_size));
  PKGXFER_RETURN_IF_ERROR(f.readInt("history", 1, 99, &logging.history));
  return Status::Ok();
}

Status readComponents(const Json& v, Context& ctx) {
  const std::vector<std::string_view> known = componentNames();
  const std::string what = "a component name (one of: " + internal::joinNames(known) + ")";
  if (v.empty()) {
    return expected("/components", "a non-empty array of component names", v);
  }
  std::vector<std::string>& components = ctx.config->components;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string ptr = childPointer("/components", i);
    std::string name;
    PKGXFER_RETURN_IF_ERROR(internal::readString(v[i], ptr, what, &name));
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string text = "unknown component " + quote(name) +
                         " (expected one of: " + internal::joinNames(known) + ")";
      if (std::optional<std::string_view> suggestion = internal::closestName(name, known)) {
        text += "; did you mean " + quote(*suggestion) + "?";
      }
      return invalid(ptr, text);
    }
    if (std::find(components.begin(), components.end(), name) != components.end()) {
      return invalid(ptr, quote(name) + " is listed twice");
    }
    components.push_back(std::move(name));
  }
  return Status::Ok();
}

Status readDistribution(const Json& v, Context& ctx) {
  Fields f(v, "/distribution");
  DistributionConfig& d = ctx.config->distribution;
  const Duration lo = std::chrono::milliseconds(100);
  const Duration hi = std::chrono::hours(24);
  PKGXFER_RETURN_IF_ERROR(f.readInt("max_concurrent_packages", 1, 50, &d.max_concurrent_packages));
  PKGXFER_RETURN_IF_ERROR(f.readInt("max_threads_per_package", 1, 999, &d.max_threads_per_package));
  // Each may be within its range (SPEC §8) while the pool they ask for is not: every sending
  // thread is a thread of the service's blocking pool, and "running" jobs that only queue for one
  // would be a lie on the status screen.
  if (const long threads = static_cast<long>(d.max_concurrent_packages) * d.max_threads_per_package;
      threads > kMaxSendingThreads) {
    return Status::InvalidArgument(
        "/distribution/max_concurrent_packages (" + std::to_string(d.max_concurrent_packages) +
        ") x /distribution/max_threads_per_package (" + std::to_string(d.max_threads_per_package) +
        ") = " + std::to_string(threads) + " sending threads; at most " +
        std::to_string(kMaxSendingThreads) + " can run at once: lower one of them");
  }
  PKGXFER_RETURN_IF_ERROR(f.readInt("retry_count", 0, 1000, &d.retry_count));
  PKGXFER_RETURN_IF_ERROR(f.readDuration("retry_delay", lo, hi, &d.retry_delay));
  PKGXFER_RETURN_IF_ERROR(f.readDuration("pull_source_recheck", lo, hi, &d.pull_source_recheck));
  PKGXFER_RETURN_IF_ERROR(
      f.readInt("pull_source_recheck_count", 1, 1000, &d.pull_source_recheck_count));
  PKGXFER_RETURN_IF_ERROR(f.readDuration("pull_status_timeout", lo, hi, &d.pull_status_timeout));
  PKGXFER_RETURN_IF_ERROR(
      f.readInt("pull_status_check_count", 1, 1000, &d.pull_status_check_count));
  PKGXFER_RETURN_IF_ERROR(f.readBool("verify", &d.verify));
  return Status::Ok();
}

// The address and what follows from it: scheme and, for file://, the library root.
Status readAddress(const Fields& f, const Context& ctx, DistributionPointConfig* dp) {
  constexpr std::string_view kWhat = "a file://, smb://, http:// or https:// address";
  PKGXFER_RETURN_IF_ERROR(f.require("address", kWhat));
  PKGXFER_RETURN_IF_ERROR(f.readString("address", kWhat, &dp->address));
  const std::string ptr = f.pointer("address");
  const Json& v = *f.find("address");
  const std::string& address = dp->address;
  std::string why;
  if (address.starts_with("file://")) {
    const std::string path = internal::fileUrlPath(address);
    if (path.empty() || path.find('\0') != std::string::npos) {
      return expected(ptr, "\"file://\" followed by a path, e.g. \"file:///srv/dp01\"", v);
    }
    dp->location = FileAddress{internal::resolvePath(ctx.base_dir, internal::pathFromUtf8(path))};
  } else if (address.starts_with("smb://")) {
    std::optional<internal::SmbAddress> smb = internal::parseSmbAddress(address, &why);
    if (!smb) {
      return invalid(ptr,
                     "expected \"smb://host/share[/path]\", got " + describe(v) + " (" + why + ")");
    }
    dp->location = SmbAddress{smb->host, smb->port, smb->share, smb->path};
  } else if (address.starts_with("http://") || address.starts_with("https://")) {
    std::optional<internal::HttpUrl> url = internal::parseHttpUrl(address, &why);
    if (!url) {
      return invalid(
          ptr, "expected \"http(s)://host[:port][/path]\", got " + describe(v) + " (" + why + ")");
    }
    dp->location = HttpAddress{url->https, url->host, url->port, url->path};
  } else {
    return expected(ptr, "an address starting with file://, smb://, http:// or https://", v);
  }
  if (dp->type == DpType::Pull && dp->http() == nullptr) {
    return expected(ptr, "an http:// or https:// address for a pull DP (it is notified over HTTP)",
                    v);
  }
  return Status::Ok();
}

Status readCredentials(const Json& v, const std::string& ptr, Credentials* out) {
  Fields f(v, ptr);
  constexpr std::string_view kUserWhat = "a non-empty user name";
  constexpr std::string_view kEnvWhat =
      "the name of an environment variable (letters, digits and '_', not starting with a digit)";
  PKGXFER_RETURN_IF_ERROR(f.require("user", kUserWhat));
  PKGXFER_RETURN_IF_ERROR(f.readString("user", kUserWhat, &out->user));
  if (out->user.empty()) {
    return expected(f.pointer("user"), kUserWhat, *f.find("user"));
  }
  PKGXFER_RETURN_IF_ERROR(f.readString("domain", "a domain name", &out->domain));
  PKGXFER_RETURN_IF_ERROR(f.require("password_env", kEnvWhat));
  PKGXFER_RETURN_IF_ERROR(f.readString("password_env", kEnvWhat, &out->password_env));
  if (!internal::isEnvVarName(out->password_env)) {
    return expected(f.pointer("password_env"), kEnvWhat, *f.find("password_env"));
  }
  return Status::Ok();
}

// Sets the hours of `range` on `day` to `level`; a range that wraps past midnight continues on the
// next day ("22-06" on Friday is Friday 22:00 to Saturday 06:00).
void fillHours(Schedule* schedule, int day, internal::HourRange range, ScheduleLevel level) {
  auto set = [&](int d, int from, int to) {
    for (int h = from; h < to; ++h) {
      schedule->hours[static_cast<std::size_t>(d * 24 + h)] = level;
    }
  };
  if (!range.wraps()) {
    set(day, range.start, range.end);
  } else {
    set(day, range.start, 24);
    set((day + 1) % 7, 0, range.end);
  }
}

Status readScheduleRule(const Json& v, const std::string& ptr, Schedule* schedule) {
  Fields f(v, ptr);
  bool days[7] = {true, true, true, true, true, true, true};
  if (const Json* list = f.find("days")) {
    constexpr std::string_view kWhat = "a non-empty array of days (\"sun\" to \"sat\")";
    if (list->empty()) {
      return expected(f.pointer("days"), kWhat, *list);
    }
    std::fill(std::begin(days), std::end(days), false);
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string day_ptr = childPointer(f.pointer("days"), i);
      int day = 0;
      PKGXFER_RETURN_IF_ERROR(internal::readEnum((*list)[i], day_ptr, kDays, &day));
      if (days[day]) {
        return invalid(day_ptr, describe((*list)[i]) + " is listed twice");
      }
      days[day] = true;
    }
  }
  PKGXFER_RETURN_IF_ERROR(f.require("hours", kHourRangeWhat));
  std::string hours_text;
  PKGXFER_RETURN_IF_ERROR(f.readString("hours", kHourRangeWhat, &hours_text));
  std::optional<internal::HourRange> range = internal::parseHourRange(hours_text);
  if (!range) {
    return expected(f.pointer("hours"), kHourRangeWhat, *f.find("hours"));
  }
  PKGXFER_RETURN_IF_ERROR(
      f.require("level", "one of \"all\", \"medium_high\", \"high\", \"closed\""));
  ScheduleLevel level = ScheduleLevel::All;
  PKGXFER_RETURN_IF_ERROR(f.readEnum("level", kScheduleLevels, &level));
  for (int day = 0; day < 7; ++day) {
    if (days[day]) {
      fillHours(schedule, day, *range, level);
    }
  }
  return Status::Ok();
}

Status readSchedule(const Json& v, const std::string& ptr, Schedule* schedule) {
  Fields f(v, ptr);
  ScheduleLevel level = ScheduleLevel::All;
  PKGXFER_RETURN_IF_ERROR(f.readEnum("default", kScheduleLevels, &level));
  schedule->hours.fill(level);
  if (const Json* rules = f.find("rules")) {
    for (std::size_t i = 0; i < rules->size(); ++i) {
      PKGXFER_RETURN_IF_ERROR(
          readScheduleRule((*rules)[i], childPointer(f.pointer("rules"), i), schedule));
    }
  }
  return Status::Ok();
}

// Which mode a rate_limit key belongs to, for the message when it is used with another one.
std::string_view rateKeyModes(std::string_view key) {
  return key == "hours" ? "mode \"limited\" or \"max_rate\"" : "mode \"pulse\"";
}

bool rateKeyAllowed(std::string_view key, RateLimitMode mode) {
  if (key == "block_size" || key == "delay") {
    return mode == RateLimitMode::Pulse;
  }
  if (key == "hours") {
    return mode == RateLimitMode::Limited || mode == RateLimitMode::MaxRate;
  }
  return key == "mode";
}

// The "hours" of a limited or max_rate limit: {"HH-HH": value}, ranges not overlapping.
Status readRateHours(const Json& hours, const std::string& ptr, RateLimit* out) {
  constexpr std::string_view kObjectWhat = "a non-empty object of hour ranges, e.g. {\"06-18\": ";
  const bool limited = out->mode == RateLimitMode::Limited;
  if (hours.empty()) {
    return expected(ptr, std::string(kObjectWhat) + (limited ? "40}" : "\"10MB/s\"}"), hours);
  }
  std::array<std::string, 24> owner;  // the range that set each hour, "" if none yet
  for (const auto& [key, value] : hours.items()) {
    const std::string key_ptr = childPointer(ptr, key);
    std::optional<internal::HourRange> range = internal::parseHourRange(key);
    if (!range) {
      return invalid(key_ptr, "expected " + std::string(kHourRangeWhat) + ", got " + quote(key));
    }
    for (int h = 0; h < 24; ++h) {
      if (range->covers(h) && !owner[static_cast<std::size_t>(h)].empty()) {
        return invalid(key_ptr, "overlaps " + quote(owner[static_cast<std::size_t>(h)]) +
                                    " (hour " + twoDigits(h) + " is in both)");
      }
    }
    int percent = 100;
    std::uint64_t rate = 0;
    if (limited) {
      PKGXFER_RETURN_IF_ERROR(internal::readInt(value, key_ptr, 1, 100, &percent));
    } else {
      constexpr std::string_view kRateWhat =
          "a rate of at least 1B/s such as \"10MB/s\", or \"unlimited\"";
      if (!value.is_string()) {
        return expected(key_ptr, kRateWhat, value);
      }
      const std::string& text = value.get_ref<const std::string&>();
      if (text != "unlimited") {
        Result<std::uint64_t> parsed = parseRate(text);
        if (!parsed.ok() || *parsed == 0) {
          return expected(key_ptr, kRateWhat, value);
        }
        rate = *parsed;
      }
    }
    for (int h = 0; h < 24; ++h) {
      if (range->covers(h)) {
        const auto i = static_cast<std::size_t>(h);
        owner[i] = key;
        out->percent[i] = percent;
        out->bytes_per_second[i] = rate;
      }
    }
  }
  return Status::Ok();
}

Status readRateLimit(const Json& v, const std::string& ptr, RateLimit* out) {
  Fields f(v, ptr);
  PKGXFER_RETURN_IF_ERROR(f.readEnum("mode", kRateLimitModes, &out->mode));
  for (const auto& [key, value] : v.items()) {
    if (!rateKeyAllowed(key, out->mode)) {
      return invalid(f.pointer(key), "not valid with mode " + quote(toString(out->mode)) + "; " +
                                         key + " goes with " + std::string(rateKeyModes(key)));
    }
  }
  switch (out->mode) {
    case RateLimitMode::Unlimited:
      break;
    case RateLimitMode::Pulse:
      PKGXFER_RETURN_IF_ERROR(f.readSize("block_size", 1ull << 10, 256ull << 10, &out->block_size));
      PKGXFER_RETURN_IF_ERROR(
          f.readDuration("delay", std::chrono::seconds(1), std::chrono::seconds(30), &out->delay));
      break;
    case RateLimitMode::Limited:
    case RateLimitMode::MaxRate:
      PKGXFER_RETURN_IF_ERROR(f.require(
          "hours", out->mode == RateLimitMode::Limited
                       ? "an object of hour ranges to percentages, e.g. {\"06-18\": 40}"
                       : "an object of hour ranges to rates, e.g. {\"06-18\": \"10MB/s\"}"));
      PKGXFER_RETURN_IF_ERROR(readRateHours(*f.find("hours"), f.pointer("hours"), out));
      break;
  }
  return Status::Ok();
}

Status readSources(const Fields& f, DistributionPointConfig* dp) {
  const Json* sources = f.find("sources");
  constexpr std::string_view kWhat = "a non-empty array of DP names, in priority order";
  if (dp->type != DpType::Pull) {
    if (sources != nullptr) {
      return invalid(f.pointer("sources"),
                     "only a pull DP has sources (this DP's type is "
                     "\"standard\")");
    }
    return Status::Ok();
  }
  PKGXFER_RETURN_IF_ERROR(f.require("sources", kWhat));
  if (sources->empty()) {
    return expected(f.pointer("sources"), kWhat, *sources);
  }
  for (std::size_t i = 0; i < sources->size(); ++i) {
    std::string name;
    PKGXFER_RETURN_IF_ERROR(internal::readString(
        (*sources)[i], childPointer(f.pointer("sources"), i), "a DP name", &name));
    dp->sources.push_back(std::move(name));
  }
  return Status::Ok();
}

Status readDistributionPoint(const Json& v, const std::string& ptr, Context& ctx,
                             DistributionPointConfig* dp) {
  Fields f(v, ptr);
  PKGXFER_RETURN_IF_ERROR(readName(f, &dp->name));
  PKGXFER_RETURN_IF_ERROR(f.readEnum("type", kDpTypes, &dp->type));
  PKGXFER_RETURN_IF_ERROR(readAddress(f, ctx, dp));
  if (const HttpAddress* http = dp->http()) dp->content_url = http->url();
  PKGXFER_RETURN_IF_ERROR(readUrl(f, "content_url", &dp->content_url));

  if (f.has("ca_file") && dp->scheme() != AddressScheme::Https &&
      !dp->content_url.starts_with("https://")) {
    return invalid(f.pointer("ca_file"),
                   "only used with an https:// address or content_url (this DP has neither)");
  }
  PKGXFER_RETURN_IF_ERROR(readReadableFile(f, "ca_file", ctx, &dp->ca_file));

  if (const Json* credentials = f.find("credentials")) {
    if (dp->smb() == nullptr) {
      return invalid(f.pointer("credentials"), "only used with an smb:// address");
    }
    Credentials c;
    PKGXFER_RETURN_IF_ERROR(readCredentials(*credentials, f.pointer("credentials"), &c));
    dp->credentials = std::move(c);
  }
  if (const Json* smb = f.find("smb")) {
    if (dp->smb() == nullptr) {
      return invalid(f.pointer("smb"), "only used with an smb:// address");
    }
    PKGXFER_RETURN_IF_ERROR(Fields(*smb, f.pointer("smb")).readBool("encrypt", &dp->smb_encrypt));
  }
#if !defined(PKGXFER_WITH_SMB)
  // After the SMB keys were checked, so that a typo there is still named first.
  if (dp->smb() != nullptr) {
    return invalid(f.pointer("address"),
                   "SMB support was not built into this pkgxfer (built with "
                   "-DPKGXFER_WITH_SMB=OFF or without libsmbclient): this DP cannot be reached");
  }
#endif

  // A pull DP's schedule and rate limit are checked (a typo is still an error) but not used.
  const bool pull = dp->type == DpType::Pull;
  if (const Json* schedule = f.find("schedule")) {
    PKGXFER_RETURN_IF_ERROR(readSchedule(*schedule, f.pointer("schedule"), &dp->schedule));
    if (pull) {
      dp->schedule = Schedule();
      ctx.config->warnings.push_back(f.pointer("schedule") +
                                     ": ignored on a pull DP, as ConfigMgr does");
    }
  }
  if (const Json* rate = f.find("rate_limit")) {
    PKGXFER_RETURN_IF_ERROR(readRateLimit(*rate, f.pointer("rate_limit"), &dp->rate_limit));
    if (pull) {
      dp->rate_limit = RateLimit();
      ctx.config->warnings.push_back(f.pointer("rate_limit") +
                                     ": ignored on a pull DP, as ConfigMgr does");
    }
  }
  return readSources(f, dp);
}

Status readDistributionPoints(const Json& v, Context& ctx) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    DistributionPointConfig dp;
    PKGXFER_RETURN_IF_ERROR(
        readDistributionPoint(v[i], childPointer("/distribution_points", i), ctx, &dp));
    ctx.config->distribution_points.push_back(std::move(dp));
  }
  return Status::Ok();
}

Status readDp(const Json& v, Context& ctx) {
  Fields f(v, "/dp");
  DpConfig dp;
  PKGXFER_RETURN_IF_ERROR(readName(f, &dp.name));
  PKGXFER_RETURN_IF_ERROR(f.require("content_library", "a path"));
  PKGXFER_RETURN_IF_ERROR(f.readPath("content_library", ctx.base_dir, &dp.content_library));
  PKGXFER_RETURN_IF_ERROR(readListen(f, &dp.listen));
  if (ctx.config->site) {
    dp.token_file = ctx.config->site->token_file;
  } else {
    PKGXFER_RETURN_IF_ERROR(
        f.require("token_file", "a path; without a \"site\" block there is no default"));
  }
  PKGXFER_RETURN_IF_ERROR(f.readPath("token_file", ctx.base_dir, &dp.token_file));
  if (const Json* tls = f.find("tls")) {
#if !defined(PKGXFER_WITH_TLS)
    return invalid("/dp/tls",
                   "TLS was not built into this pkgxfer (the Windows build has no OpenSSL): remove "
                   "the block and serve http://");
#endif
    Fields t(*tls, "/dp/tls");
    TlsConfig files;
    PKGXFER_RETURN_IF_ERROR(t.require("cert_file", "a path to a PEM certificate"));
    PKGXFER_RETURN_IF_ERROR(readReadableFile(t, "cert_file", ctx, &files.cert_file));
    PKGXFER_RETURN_IF_ERROR(t.require("key_file", "a path to a PEM private key"));
    PKGXFER_RETURN_IF_ERROR(readReadableFile(t, "key_file", ctx, &files.key_file));
    dp.tls = std::move(files);
  }
  ctx.config->dp = std::move(dp);
  return Status::Ok();
}

Status readPullDp(const Json& v, Context& ctx) {
  Fields f(v, "/pulldp");
  PullDpConfig pulldp;
  PKGXFER_RETURN_IF_ERROR(f.require("site_status_url", kUrlWhat));
  PKGXFER_RETURN_IF_ERROR(readUrl(f, "site_status_url", &pulldp.site_status_url));
  PKGXFER_RETURN_IF_ERROR(f.readInt("max_concurrent_jobs", 1, 500, &pulldp.max_concurrent_jobs));
  ctx.config->pulldp = std::move(pulldp);
  return Status::Ok();
}

Status readValues(const Json& root, Context& ctx) {
  Fields f(root, "");
  if (const Json* v = f.find("site")) {
    PKGXFER_RETURN_IF_ERROR(readSite(*v, ctx));
  }
  PKGXFER_RETURN_IF_ERROR(f.require("logging", "an object with at least \"dir\""));
  PKGXFER_RETURN_IF_ERROR(readLogging(*f.find("logging"), ctx));
  PKGXFER_RETURN_IF_ERROR(f.require(
      "components", "an array of component names from: " + internal::joinNames(componentNames())));
  PKGXFER_RETURN_IF_ERROR(readComponents(*f.find("components"), ctx));
  if (const Json* v = f.find("distribution")) {
    PKGXFER_RETURN_IF_ERROR(readDistribution(*v, ctx));
  }
  if (const Json* v = f.find("distribution_points")) {
    PKGXFER_RETURN_IF_ERROR(readDistributionPoints(*v, ctx));
  }
  if (const Json* v = f.find("dp")) {
    PKGXFER_RETURN_IF_ERROR(readDp(*v, ctx));
  }
  if (const Json* v = f.find("pulldp")) {
    PKGXFER_RETURN_IF_ERROR(readPullDp(*v, ctx));
  }
  return Status::Ok();
}

// ---- Stage 5: cross-field ---------------------------------------------------------------------

Status requireBlockFor(const Json& root, std::string_view block, std::string_view component) {
  if (member(root, block) != nullptr) {
    return Status::Ok();
  }
  return invalid(childPointer("", block),
                 "is required when components include " + quote(component));
}

Status checkRequiredBlocks(const Json& root, const Config& config) {
  for (const std::string& component : config.components) {
    const bool site_component = std::find(std::begin(kSiteComponents), std::end(kSiteComponents),
                                          component) != std::end(kSiteComponents);
    if (site_component) {
      PKGXFER_RETURN_IF_ERROR(requireBlockFor(root, "site", component));
      PKGXFER_RETURN_IF_ERROR(requireBlockFor(root, "distribution_points", component));
    }
    if (component == "dp" || component == "pulldp") {
      PKGXFER_RETURN_IF_ERROR(requireBlockFor(root, "dp", component));
    }
    if (component == "pulldp") {
      PKGXFER_RETURN_IF_ERROR(requireBlockFor(root, "pulldp", component));
      if (!config.hosts("dp")) {
        return invalid("/components",
                       "pulldp serves the content it pulls through the dp "
                       "component of the same process: add \"dp\"");
      }
    }
  }
  return Status::Ok();
}

Status checkDpNames(const Config& config) {
  const auto& dps = config.distribution_points;
  for (std::size_t i = 0; i < dps.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (dps[j].name == dps[i].name) {
        return invalid(childPointer(childPointer("/distribution_points", i), "name"),
                       quote(dps[i].name) + " is already the name of " +
                           childPointer("/distribution_points", j));
      }
    }
  }
  return Status::Ok();
}

Status checkSources(const Config& config) {
  const auto& dps = config.distribution_points;
  for (std::size_t i = 0; i < dps.size(); ++i) {
    const DistributionPointConfig& dp = dps[i];
    const std::string sources_ptr =
        childPointer(childPointer("/distribution_points", i), "sources");
    for (std::size_t j = 0; j < dp.sources.size(); ++j) {
      const std::string& name = dp.sources[j];
      const std::string ptr = childPointer(sources_ptr, j);
      if (name == dp.name) {
        return invalid(ptr, "a pull DP cannot be its own source");
      }
      if (std::find(dp.sources.begin(), dp.sources.begin() + static_cast<std::ptrdiff_t>(j),
                    name) != dp.sources.begin() + static_cast<std::ptrdiff_t>(j)) {
        return invalid(ptr, quote(name) + " is listed twice");
      }
      const DistributionPointConfig* source = config.findDp(name);
      if (source == nullptr) {
        return invalid(ptr, "no DP named " + quote(name) + " in /distribution_points");
      }
      if (source->content_url.empty()) {
        return invalid(ptr, "source " + quote(name) +
                                " is not reachable over HTTP (expected a DP with an http(s) "
                                "address or a content_url)");
      }
    }
  }
  // A pull DP may be the source of another (it serves what it pulled), but never, through a
  // chain of them, its own: each would wait for the other to hold the content first.
  for (std::size_t i = 0; i < dps.size(); ++i) {
    std::vector<std::string> path = {dps[i].name};
    std::function<std::optional<std::vector<std::string>>(const DistributionPointConfig&)> walk =
        [&](const DistributionPointConfig& dp) -> std::optional<std::vector<std::string>> {
      for (const std::string& name : dp.sources) {
        const DistributionPointConfig* source = config.findDp(name);
        if (source == nullptr || source->type != DpType::Pull) continue;
        if (name == path.front()) {
          std::vector<std::string> loop = path;
          loop.push_back(name);
          return loop;
        }
        if (std::find(path.begin(), path.end(), name) != path.end()) continue;  // another loop
        path.push_back(name);
        if (auto loop = walk(*source)) return loop;
        path.pop_back();
      }
      return std::nullopt;
    };
    if (auto loop = walk(dps[i])) {
      std::string chain;
      for (const std::string& name : *loop) chain += (chain.empty() ? "" : " -> ") + name;
      return invalid(childPointer(childPointer("/distribution_points", i), "sources"),
                     "pull DP sources form a loop: " + chain);
    }
  }
  return Status::Ok();
}

// A path as the file system resolves it (symbolic links, "." and ".."), for comparing two
// configured paths; the lexically normal one where it does not exist yet.
fs::path comparable(const fs::path& path) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(path, ec);
  return internal::resolvePath(fs::path(), ec ? path : out);
}

// True if `inner` is `outer` or below it (both comparable()).
bool isWithin(const fs::path& inner, const fs::path& outer) {
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

// Two file DPs on one library root would each take the other's content for its own (and sweep
// the other's uploads); a DP inside the site's data folder, or holding it, would mix a DP's
// library with the site's own library and database.
Status checkLibraryRoots(const Config& config) {
  const auto& dps = config.distribution_points;
  std::vector<fs::path> roots(dps.size());
  for (std::size_t i = 0; i < dps.size(); ++i) {
    if (const FileAddress* file = dps[i].file()) roots[i] = comparable(file->root);
  }
  const std::optional<fs::path> data_dir =
      config.site ? std::optional<fs::path>(comparable(config.site->data_dir)) : std::nullopt;
  for (std::size_t i = 0; i < dps.size(); ++i) {
    if (roots[i].empty()) continue;
    const std::string ptr = childPointer(childPointer("/distribution_points", i), "address");
    const std::string shown = internal::pathToUtf8(dps[i].file()->root);
    for (std::size_t j = 0; j < i; ++j) {
      if (roots[j] == roots[i]) {
        return invalid(ptr, quote(dps[i].address) + " is the same library root (" + shown +
                                ") as " +
                                childPointer(childPointer("/distribution_points", j), "address") +
                                " " + quote(dps[j].address) + "; each DP needs its own folder");
      }
    }
    if (!data_dir) continue;
    const std::string site = internal::pathToUtf8(config.site->data_dir);
    if (isWithin(roots[i], *data_dir)) {
      return invalid(ptr, "library root " + shown + " is inside the site's data folder " + site +
                              " (/site/data_dir)");
    }
    if (isWithin(*data_dir, roots[i])) {
      return invalid(ptr, "library root " + shown + " contains the site's data folder " + site +
                              " (/site/data_dir)");
    }
  }
  return Status::Ok();
}

bool isWildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

// statusreceiver and dp (with pulldp) bind their listen addresses in the same process.
Status checkListenConflict(const Config& config) {
  if (!config.site || !config.dp || !config.hosts("statusreceiver") ||
      !(config.hosts("dp") || config.hosts("pulldp"))) {
    return Status::Ok();
  }
  std::optional<HostPort> site = internal::splitHostPort(config.site->listen);
  std::optional<HostPort> dp = internal::splitHostPort(config.dp->listen);
  if (site && dp && site->port == dp->port &&
      (site->host == dp->host || isWildcard(site->host) || isWildcard(dp->host))) {
    return invalid("/dp/listen", quote(config.dp->listen) + " uses the same port as /site/listen " +
                                     quote(config.site->listen) +
                                     "; statusreceiver and dp run in this process and need "
                                     "different ports");
  }
  return Status::Ok();
}

Status checkCrossFields(const Json& root, const Config& config) {
  PKGXFER_RETURN_IF_ERROR(checkRequiredBlocks(root, config));
  PKGXFER_RETURN_IF_ERROR(checkDpNames(config));
  PKGXFER_RETURN_IF_ERROR(checkSources(config));
  PKGXFER_RETURN_IF_ERROR(checkLibraryRoots(config));
  return checkListenConflict(config);
}

// ---- Driver -----------------------------------------------------------------------------------

std::string sizeCapMessage(std::uintmax_t size) {
  return "the config is " + std::to_string(size) + " bytes; the limit is " +
         std::to_string(kMaxConfigBytes) + " bytes (1 MiB)";
}

Result<Config> parseChecked(std::string_view text, const fs::path& base_dir) {
  if (text.size() > kMaxConfigBytes) {
    return invalid("", sizeCapMessage(text.size()));
  }
  Json root;
  PKGXFER_RETURN_IF_ERROR(parseJson(text, &root));
  PKGXFER_RETURN_IF_ERROR(checkShape(root));
  Config config;
  Context ctx{base_dir, &config};
  PKGXFER_RETURN_IF_ERROR(readValues(root, ctx));
  PKGXFER_RETURN_IF_ERROR(checkCrossFields(root, config));
  return config;
}

fs::path absoluteDir(const fs::path& dir) {
  std::error_code ec;
  fs::path out = fs::absolute(dir, ec);
  return internal::resolvePath(fs::path(), ec ? dir : out);
}

// Reads the whole file, refusing one larger than the cap. Messages name the path.
Result<std::string> readConfigFile(const fs::path& file, const std::string& shown) {
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (st.type() == fs::file_type::not_found) {
    return Status::NotFound(shown + ": " +
                            std::make_error_code(std::errc::no_such_file_or_directory).message());
  }
  if (ec) {
    return Status::IoError(shown + ": " + ec.message());
  }
  if (fs::is_directory(st)) {
    return Status::IoError(shown + ": is a directory, not a config file");
  }
  const std::uintmax_t size = fs::file_size(file, ec);
  if (!ec && size > kMaxConfigBytes) {
    return Status::InvalidArgument(shown + ": " + sizeCapMessage(size));
  }
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    return Status::IoError(shown + ": " +
                           (err != 0 ? std::generic_category().message(err) : "cannot open"));
  }
  std::string text;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return Status::InvalidArgument(shown + ": " + sizeCapMessage(text.size()) +
                                     " (or more; the file grew while read)");
    }
  }
  if (in.bad()) {
    return Status::IoError(shown + ": read failed");
  }
  return text;
}

}  // namespace

bool Schedule::alwaysOpen() const {
  return std::all_of(hours.begin(), hours.end(),
                     [](ScheduleLevel level) { return level == ScheduleLevel::All; });
}

std::string HttpAddress::url() const {
  std::string out = https ? "https://" : "http://";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != 0) out += ":" + std::to_string(port);
  out += base_path;
  return out;
}

AddressScheme DistributionPointConfig::scheme() const {
  if (file() != nullptr) return AddressScheme::File;
  if (smb() != nullptr) return AddressScheme::Smb;
  return http()->https ? AddressScheme::Https : AddressScheme::Http;
}

bool Config::hosts(std::string_view component) const {
  return std::find(components.begin(), components.end(), component) != components.end();
}

const DistributionPointConfig* Config::findDp(std::string_view name) const {
  for (const DistributionPointConfig& dp : distribution_points) {
    if (dp.name == name) {
      return &dp;
    }
  }
  return nullptr;
}

Result<HostPort> parseHostPort(std::string_view text) {
  std::optional<HostPort> out = internal::splitHostPort(text);
  if (!out) {
    return Status::InvalidArgument("expected " + std::string(kListenWhat) + ", got " + quote(text));
  }
  return *out;
}

Result<Config> parseConfig(std::string_view json_text, const fs::path& base_dir) {
  try {
    return parseChecked(json_text, absoluteDir(base_dir));
  } catch (const std::exception& e) {
    // Nothing above is expected to throw; a bad_alloc or a library surprise must not escape.
    return Status::Internal(std::string("loading the config: ") + e.what());
  }
}

Result<Config> loadConfig(const fs::path& file) {
  const std::string shown = internal::pathToUtf8(file);
  try {
    std::error_code ec;
    fs::path absolute = fs::absolute(file, ec);
    absolute = (ec ? file : absolute).lexically_normal();
    Result<std::string> text = readConfigFile(absolute, shown);
    if (!text.ok()) {
      return text.error();
    }
    Result<Config> config = parseChecked(*text, absolute.parent_path());
    if (!config.ok()) {
      return config.error().withContext(shown);
    }
    config->file = absolute;
    return config;
  } catch (const std::exception& e) {
    return Status::Internal(shown + ": loading the config: " + e.what());
  }
}

std::string_view toString(LogLevel level) {
  for (const auto& n : kLogLevels) {
    if (n.value == level) {
      return n.name;
    }
  }
  return "unknown";
}

std::string_view toString(DpType type) {
  for (const auto& n : kDpTypes) {
    if (n.value == type) {
      return n.name;
    }
  }
  return "unknown";
}

std::string_view toString(ScheduleLevel level) {
  for (const auto& n : kScheduleLevels) {
    if (n.value == level) {
      return n.name;
    }
  }
  return "unknown";
}

std::string_view toString(RateLimitMode mode) {
  for (const auto& n : kRateLimitModes) {
    if (n.value == mode) {
      return n.name;
    }
  }
  return "unknown";
}

}  // namespace pkgxfer::config
