#pragma once

// The typed configuration of pkgxferd and pkgxfer (SPEC §4). These structs are what every other
// module sees; only src/config parses JSON. A Config returned by loadConfig() has passed every
// shape, range and cross-field check, has its defaults filled in (SPEC §8), and holds absolute
// paths (relative ones were resolved against the config file's folder).
//
// Value types: thread-safe to read once built, never mutated after loading.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/common/units.h"

namespace pkgxfer::config {

enum class LogLevel { Debug, Info, Warning, Error };

struct SiteConfig {
  std::string code;                       // 3 characters [A-Z0-9], upper case. Required.
  std::filesystem::path data_dir;         // required; holds site.db and ContentLib/
  std::string listen = "127.0.0.1:8530";  // host:port of the statusreceiver endpoint
  std::filesystem::path token_file;       // default <data_dir>/site.token
  std::string timezone;                   // IANA name; empty = the machine's zone
};

struct LoggingConfig {
  std::filesystem::path dir;  // required
  LogLevel level = LogLevel::Info;
  std::uint64_t max_size = 2ull << 20;  // bytes; default 2MB, range 64KB..1GB
  int history = 1;                      // rotated files kept; default 1, range 1..99
};

struct DistributionConfig {
  int max_concurrent_packages = 3;                          // 1..50
  int max_threads_per_package = 5;                          // 1..999
  int retry_count = 100;                                    // 0..1000
  Duration retry_delay = std::chrono::minutes(30);          // 100ms..1d
  Duration pull_source_recheck = std::chrono::minutes(20);  // 100ms..1d
  int pull_source_recheck_count = 30;                       // 1..1000
  Duration pull_status_timeout = std::chrono::minutes(60);  // 100ms..1d
  int pull_status_check_count = 72;                         // 1..1000
  bool verify = true;                                       // read back and hash every body sent
};

enum class DpType { Standard, Pull };
enum class AddressScheme { File, Smb, Http, Https };

// What an hour of the week allows (SPEC §4 schedule).
enum class ScheduleLevel { All, MediumHigh, High, Closed };

// 7 × 24 hours, index = day * 24 + hour, day 0 = Sunday, in the site's time zone. Filled from the
// config's `default` and then each rule in order (later rules win); a rule's range that wraps past
// midnight ("22-06" on Friday) continues on the next day (Saturday 00:00-06:00).
struct Schedule {
  std::array<ScheduleLevel, 168> hours;
  Schedule() { hours.fill(ScheduleLevel::All); }
  bool alwaysOpen() const;
};

enum class RateLimitMode { Unlimited, Pulse, Limited, MaxRate };

struct RateLimit {
  RateLimitMode mode = RateLimitMode::Unlimited;
  std::uint64_t block_size = 64 * 1024;      // pulse: 1KB..256KB
  Duration delay = std::chrono::seconds(1);  // pulse: 1s..30s
  // limited: percent 1..100 of each hour (100 = unlimited); hours not named are 100. A range that
  // wraps ("22-06") covers 22, 23 and 0..5 of every day.
  std::array<int, 24> percent;
  // max_rate: bytes per second for each hour, 0 = unlimited; hours not named are 0.
  std::array<std::uint64_t, 24> bytes_per_second;
  RateLimit() {
    percent.fill(100);
    bytes_per_second.fill(0);
  }
};

struct Credentials {
  std::string user;
  std::string domain;        // optional
  std::string password_env;  // the environment variable holding the password; never the password
};

// A DP's address, parsed once when the config is read; transports receive this form.
// file://: the library root, absolute (a relative path after "file://" is resolved against the
// config file's folder).
struct FileAddress {
  std::filesystem::path root;
  bool operator==(const FileAddress&) const = default;
};
// smb://host[:port]/share[/path]: the library is `path` inside the share.
struct SmbAddress {
  std::string host;
  std::uint16_t port = 0;  // 0 = the default (445)
  std::string share;
  std::string path;  // "" (the share's root) or "/a/b", without a trailing '/'
  bool operator==(const SmbAddress&) const = default;
};
// http(s)://host[:port][/path]
struct HttpAddress {
  bool https = false;
  std::string host;        // without brackets
  std::uint16_t port = 0;  // 0 = the default (80 or 443)
  std::string base_path;   // "" or "/a/b", without a trailing '/'
  std::uint16_t portOrDefault() const { return port != 0 ? port : (https ? 443 : 80); }
  // "https://[::1]:8531/base": the normalized URL (no trailing '/').
  std::string url() const;
  bool operator==(const HttpAddress&) const = default;
};
using DpAddress = std::variant<FileAddress, SmbAddress, HttpAddress>;

struct DistributionPointConfig {
  std::string name;  // unique, [A-Za-z0-9._-]{1,64}
  DpType type = DpType::Standard;
  std::string address;  // as written: for messages and logs
  DpAddress location;   // the address, parsed
  AddressScheme scheme() const;
  const FileAddress* file() const { return std::get_if<FileAddress>(&location); }
  const SmbAddress* smb() const { return std::get_if<SmbAddress>(&location); }
  const HttpAddress* http() const { return std::get_if<HttpAddress>(&location); }
  // http(s) base URL others download from, without a trailing '/'; defaults to `address` when
  // that is http(s); "" if the DP has no HTTP endpoint.
  std::string content_url;
  std::filesystem::path ca_file;  // verifies an https DP's certificate; optional, must exist
  std::optional<Credentials> credentials;  // smb only
  bool smb_encrypt = false;
  Schedule schedule;                 // standard DPs only; always open on a pull DP
  RateLimit rate_limit;              // standard DPs only; unlimited on a pull DP
  std::vector<std::string> sources;  // pull DPs: source DP names, in priority order
};

struct TlsConfig {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

struct DpConfig {
  std::string name;                       // required, [A-Za-z0-9._-]{1,64}
  std::filesystem::path content_library;  // required
  std::string listen = "127.0.0.1:8531";  // host:port of the DP's HTTP(S) server
  std::filesystem::path token_file;       // default: the site's token_file; required without site
  std::optional<TlsConfig> tls;           // both files required and readable when present
};

struct PullDpConfig {
  std::string site_status_url;   // http(s) URL of the site's statusreceiver
  int max_concurrent_jobs = 50;  // 1..500
};

// Component names as they appear in `components`.
// The most sending threads a site runs at once: distribution.max_concurrent_packages x
// distribution.max_threads_per_package may not exceed it (the service's blocking pool holds one
// thread per sending job).
inline constexpr int kMaxSendingThreads = 1000;

inline constexpr std::array<const char*, 5> kComponentNames = {"distmgr", "pkgxfermgr",
                                                               "statusreceiver", "dp", "pulldp"};

struct Config {
  std::filesystem::path file;      // the config file itself (absolute)
  std::optional<SiteConfig> site;  // required by distmgr, pkgxfermgr, statusreceiver
  LoggingConfig logging;
  std::vector<std::string> components;  // in start order, no duplicates
  DistributionConfig distribution;
  std::vector<DistributionPointConfig> distribution_points;
  std::optional<DpConfig> dp;
  std::optional<PullDpConfig> pulldp;

  bool hosts(std::string_view component) const;
  const DistributionPointConfig* findDp(std::string_view name) const;
  // Non-fatal findings of loading (e.g. a schedule on a pull DP, which is ignored).
  std::vector<std::string> warnings;
};

// A "host:port" listen address split up. `host` is an IPv4 address, an IPv6 address (written in
// brackets in the text, kept without them here) or a host name; `port` is 1..65535.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
// Errors: InvalidArgument naming the expected form.
Result<HostPort> parseHostPort(std::string_view text);

// Loads and checks a config file in stages: size cap (1 MiB), JSON parse (duplicate keys are
// errors), shape (unknown keys are errors), typed values with defaults and ranges, cross-field
// checks. Stops at the first error. Never throws.
//
// Every error message starts with the file's path, then the JSON pointer of the offending value
// (RFC 6901; "/" stands for the root itself), then what was expected and what was found, e.g.
//   "/etc/pkgxfer/pkgxfer.json: /distribution/max_concurrent_packages: expected an integer from
//    1 to 50, got 0".
// A JSON syntax error has "line L, column C" in place of the pointer. The code is
// InvalidArgument, or NotFound/IoError (with the OS error text) when the file cannot be read.
Result<Config> loadConfig(const std::filesystem::path& file);
// The same checks on text already in memory; `base_dir` resolves relative paths (made absolute
// against the current directory if it is relative). Config::file stays empty. Messages start with
// the JSON pointer (no file name).
Result<Config> parseConfig(std::string_view json_text, const std::filesystem::path& base_dir);

std::string_view toString(LogLevel level);
std::string_view toString(DpType type);
std::string_view toString(ScheduleLevel level);
std::string_view toString(RateLimitMode mode);

}  // namespace pkgxfer::config
