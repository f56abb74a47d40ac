#include "pkgxfer/config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fakes/test_util.h"

namespace pkgxfer::config {
namespace {

namespace fs = std::filesystem;
using pkgxfer::testing::TempDir;
using pkgxfer::testing::writeFile;

constexpr const char* kSiteComponents = R"(["distmgr", "pkgxfermgr", "statusreceiver"])";

// A valid site config whose distribution_points are `dps` (the array's elements), with `extra`
// root members appended (each starting with ", ").
std::string siteConfig(const std::string& dps, const std::string& extra = "") {
  return std::string(R"({"site": {"code": "PS1", "data_dir": "site"}, "logging": {"dir": "log"},
                        "components": )") +
         kSiteComponents + R"(, "distribution_points": [)" + dps + "]" + extra + "}";
}

// A site config with one DP whose members are `members`.
std::string withDp(const std::string& members) { return siteConfig("{" + members + "}"); }

// A site config with `members` in its distribution block.
std::string withDistribution(const std::string& members) {
  return siteConfig("", R"(, "distribution": {)" + members + "}");
}

// A site config whose site block has `members`.
std::string withSite(const std::string& members) {
  return std::string(R"({"site": {)") + members + R"(}, "logging": {"dir": "log"},
                        "components": )" +
         kSiteComponents + R"(, "distribution_points": []})";
}

std::string withLogging(const std::string& members) {
  return std::string(R"({"site": {"code": "PS1", "data_dir": "site"}, "logging": {)") + members +
         R"(}, "components": )" + kSiteComponents + R"(, "distribution_points": []})";
}

// A DP machine's config: components dp and pulldp, with `dp` and `pulldp` members.
std::string dpMachine(const std::string& dp, const std::string& pulldp) {
  return R"({"logging": {"dir": "log"}, "components": ["dp", "pulldp"], "dp": {)" + dp +
         R"(}, "pulldp": {)" + pulldp + "}}";
}

constexpr const char* kFileDp = R"("name": "dp01", "address": "file:///srv/dp01")";
constexpr const char* kHttpDp = R"("name": "dp01", "address": "http://dp01:8531")";
constexpr const char* kHttpDp2 = R"({"name": "dp02", "address": "http://dp02:8531"})";
constexpr const char* kDpBlock =
    R"("name": "pdp01", "content_library": "lib", "token_file": "site.token")";
constexpr const char* kPullDpBlock = R"("site_status_url": "http://site:8530")";

std::string fileDpWith(const std::string& members) {
  return withDp(std::string(kFileDp) + ", " + members);
}

// Points $TZDIR at a small fake zone database for the test's lifetime, so time zone checks do not
// depend on the machine's tzdata.
class ScopedTzDir {
 public:
  explicit ScopedTzDir(const fs::path& dir) {
    if (const char* old = std::getenv("TZDIR")) {
      old_ = old;
    }
    writeFile(dir / "Europe" / "Berlin", "TZif2 fake zone data");
    writeFile(dir / "UTC", "TZif2 fake zone data");
    writeFile(dir / "zone.tab", "# not a zone file\n");
    ::setenv("TZDIR", dir.c_str(), 1);
  }
  ~ScopedTzDir() {
    if (old_) {
      ::setenv("TZDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TZDIR");
    }
  }

 private:
  std::optional<std::string> old_;
};

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() : tz_(tmp_ / "zoneinfo") {}

  Result<Config> parse(const std::string& text) { return parseConfig(text, base()); }

  Config parseOk(const std::string& text) {
    Result<Config> config = parse(text);
    EXPECT_TRUE(config.ok()) << config.error().toString() << "\n" << text;
    return config.ok() ? std::move(config).value() : Config();
  }

  fs::path base() const { return tmp_ / "etc"; }
  std::string baseText() const { return base().string(); }

  TempDir tmp_;
  ScopedTzDir tz_;
};

// ---- Bad configs: each must fail with exactly this message ------------------------------------

struct BadConfig {
  const char* name;
  std::string text;
  std::string message;  // "{base}" stands for the base directory, "{tz}" for $TZDIR
};

std::string substitute(std::string text, const std::string& token, const std::string& value) {
  for (std::size_t pos = text.find(token); pos != std::string::npos; pos = text.find(token)) {
    text.replace(pos, token.size(), value);
  }
  return text;
}

std::vector<BadConfig> badConfigs() {
  const std::string pull_with =
      R"("name": "pdp01", "type": "pull", "address": "http://pdp01:8532")";
  return {
      // Stage 1-2: text and JSON.
      {"SyntaxError", R"({"site": })",
       "line 1, column 10: invalid JSON: syntax error while parsing value - unexpected '}'; "
       "expected '[', '{', or a literal"},
      {"SyntaxErrorOnLaterLine", "{\n  \"logging\": {\"dir\": \"log\"},\n  \"components\" [\n}",
       "line 3, column 16: invalid JSON: syntax error while parsing object separator - unexpected "
       "'['; expected ':'"},
      {"EmptyText", "",
       "line 1, column 1: invalid JSON: syntax error while parsing value - unexpected end of "
       "input; expected '[', '{', or a literal"},
      {"TrailingComma", R"({"logging": {"dir": "log",}})",
       "line 1, column 27: invalid JSON: syntax error while parsing object key - unexpected '}'; "
       "expected string literal"},
      {"InvalidUtf8", "{\"logging\": \"\xff\"}",
       "line 1, column 14: invalid JSON: syntax error while parsing value - invalid string: "
       "ill-formed UTF-8 byte; last read: '\"?'"},
      // Was Internal (an exception escaping the parser), found by the config fuzzer.
      {"NumberTooLarge", R"({"logging": {"history": 1e400}})",
       "line 1, column 25: invalid JSON: number 1e400 is too large"},
      {"LongNumberTooLarge", "[" + std::string(40, '6') + "e" + std::string(40, '6') + "]",
       "line 1, column 2: invalid JSON: number " + std::string(32, '6') + "... is too large"},
      {"DuplicateKey", R"({"logging": {"dir": "a", "dir": "b"}, "components": ["dp"]})",
       "/logging/dir: duplicate key (a key may appear only once in an object)"},
      {"DuplicateKeyInArrayElement",
       siteConfig(std::string("{") + kFileDp + "}, {" + kFileDp + R"(, "name": "dp02"})"),
       "/distribution_points/1/name: duplicate key (a key may appear only once in an object)"},
      // Stage 3: shape.
      {"RootNotObject", "[]", "/: expected a JSON object at the top level, got an empty array"},
      {"UnknownRootKey", R"({"sites": {}})",
       "/sites: unknown key (expected one of: site, logging, components, distribution, "
       "distribution_points, dp, pulldp); did you mean \"site\"?"},
      {"UnknownKeyTypo", withDistribution(R"("max_concurent_packages": 3)"),
       "/distribution/max_concurent_packages: unknown key (expected one of: "
       "max_concurrent_packages, max_threads_per_package, retry_count, retry_delay, "
       "pull_source_recheck, pull_source_recheck_count, pull_status_timeout, "
       "pull_status_check_count, verify); did you mean \"max_concurrent_packages\"?"},
      {"UnknownKeyNoSuggestion", withLogging(R"("dir": "log", "colour": "red")"),
       "/logging/colour: unknown key (expected one of: dir, level, max_size, history)"},
      {"UnknownKeyDeepInSchedule",
       fileDpWith(
           R"("schedule": {"rules": [{"hours": "08-18", "level": "high", "day": ["mon"]}]})"),
       "/distribution_points/0/schedule/rules/0/day: unknown key (expected one of: days, hours, "
       "level); did you mean \"days\"?"},
      {"PasswordInConfig",
       withDp(R"("name": "dp02", "address": "smb://fs02/lib", "credentials": {"user": "u",
                 "password": "hunter2"})"),
       "/distribution_points/0/credentials/password: passwords never go in the config file; use "
       "password_env (the name of an environment variable that holds the password)"},
      {"SiteNotObject", R"({"site": "PS1"})", "/site: expected an object, got \"PS1\""},
      {"DistributionPointsNotArray", siteConfig("").replace(siteConfig("").find("[]"), 2, "{}"),
       "/distribution_points: expected an array, got an empty object"},
      {"RulesNotArray", fileDpWith(R"("schedule": {"rules": {"hours": "08-18"}})"),
       "/distribution_points/0/schedule/rules: expected an array, got an object"},
      {"RateHoursNotObject", fileDpWith(R"("rate_limit": {"mode": "limited", "hours": [40]})"),
       "/distribution_points/0/rate_limit/hours: expected an object of hour ranges, e.g. "
       "{\"06-18\": ...}, got an array"},
      // Stage 4: values. Root and site.
      {"MissingLogging", R"({"components": ["dp"]})",
       "/logging: is required (expected an object with at least \"dir\")"},
      {"MissingComponents", R"({"logging": {"dir": "log"}})",
       "/components: is required (expected an array of component names from: distmgr, "
       "pkgxfermgr, statusreceiver, dp, pulldp)"},
      {"EmptyComponents", R"({"logging": {"dir": "log"}, "components": []})",
       "/components: expected a non-empty array of component names, got an empty array"},
      {"UnknownComponent", R"({"logging": {"dir": "log"}, "components": ["dp", "distmrg"]})",
       "/components/1: unknown component \"distmrg\" (expected one of: distmgr, pkgxfermgr, "
       "statusreceiver, dp, pulldp); did you mean \"distmgr\"?"},
      {"DuplicateComponent", R"({"logging": {"dir": "log"}, "components": ["dp", "dp"]})",
       "/components/1: \"dp\" is listed twice"},
      {"ComponentNotString", R"({"logging": {"dir": "log"}, "components": [5]})",
       "/components/0: expected a component name (one of: distmgr, pkgxfermgr, statusreceiver, "
       "dp, pulldp), got 5"},
      {"SiteCodeLowerCase", withSite(R"("code": "ps1", "data_dir": "site")"),
       "/site/code: expected a site code of 3 characters A-Z or 0-9 (upper case), got \"ps1\""},
      {"SiteCodeTooLong", withSite(R"("code": "PS12", "data_dir": "site")"),
       "/site/code: expected a site code of 3 characters A-Z or 0-9 (upper case), got \"PS12\""},
      {"SiteCodeMissing", withSite(R"("data_dir": "site")"),
       "/site/code: is required (expected a site code of 3 characters A-Z or 0-9 (upper case))"},
      {"DataDirMissing", withSite(R"("code": "PS1")"),
       "/site/data_dir: is required (expected a path)"},
      {"DataDirEmpty", withSite(R"("code": "PS1", "data_dir": "")"),
       "/site/data_dir: expected a path, got \"\""},
      {"ListenWithoutPort", withSite(R"("code": "PS1", "data_dir": "d", "listen": "localhost")"),
       "/site/listen: expected \"host:port\" (an IPv4 address, [IPv6 address] or host name, and a "
       "port from 1 to 65535), got \"localhost\""},
      {"ListenPortZero", withSite(R"("code": "PS1", "data_dir": "d", "listen": "127.0.0.1:0")"),
       "/site/listen: expected \"host:port\" (an IPv4 address, [IPv6 address] or host name, and a "
       "port from 1 to 65535), got \"127.0.0.1:0\""},
      {"ListenPortTooLarge",
       withSite(R"("code": "PS1", "data_dir": "d", "listen": "127.0.0.1:70000")"),
       "/site/listen: expected \"host:port\" (an IPv4 address, [IPv6 address] or host name, and a "
       "port from 1 to 65535), got \"127.0.0.1:70000\""},
      {"ListenBadIpv4", withSite(R"("code": "PS1", "data_dir": "d", "listen": "300.1.2.3:80")"),
       "/site/listen: expected \"host:port\" (an IPv4 address, [IPv6 address] or host name, and a "
       "port from 1 to 65535), got \"300.1.2.3:80\""},
      {"ListenIpv6WithoutBrackets",
       withSite(R"("code": "PS1", "data_dir": "d", "listen": "::1:8530")"),
       "/site/listen: expected \"host:port\" (an IPv4 address, [IPv6 address] or host name, and a "
       "port from 1 to 65535), got \"::1:8530\""},
      {"TimezoneEscapes",
       withSite(R"("code": "PS1", "data_dir": "d", "timezone": "../../etc/passwd")"),
       "/site/timezone: expected an IANA time zone name such as \"Europe/Berlin\", got "
       "\"../../etc/passwd\""},
      {"TimezoneAbsolute", withSite(R"("code": "PS1", "data_dir": "d", "timezone": "/etc/UTC")"),
       "/site/timezone: expected an IANA time zone name such as \"Europe/Berlin\", got "
       "\"/etc/UTC\""},
      {"TimezoneUnknown", withSite(R"("code": "PS1", "data_dir": "d", "timezone": "Mars/Olympus")"),
       "/site/timezone: expected a time zone in {tz}, got \"Mars/Olympus\""},
      {"TimezoneNotAZoneFile",
       withSite(R"("code": "PS1", "data_dir": "d", "timezone": "zone.tab")"),
       "/site/timezone: expected a time zone in {tz}, got \"zone.tab\""},
      {"TimezoneDirectory", withSite(R"("code": "PS1", "data_dir": "d", "timezone": "Europe")"),
       "/site/timezone: expected a time zone in {tz}, got \"Europe\""},
      // Logging.
      {"LogDirMissing", withLogging(R"("level": "info")"),
       "/logging/dir: is required (expected a path)"},
      {"LogLevelUnknown", withLogging(R"("dir": "log", "level": "verbose")"),
       "/logging/level: expected one of \"debug\", \"info\", \"warning\", \"error\", got "
       "\"verbose\""},
      {"LogMaxSizeTooSmall", withLogging(R"("dir": "log", "max_size": "10KB")"),
       "/logging/max_size: expected a size from 64KB to 1GB, got \"10KB\""},
      {"LogMaxSizeTooLarge", withLogging(R"("dir": "log", "max_size": "2GB")"),
       "/logging/max_size: expected a size from 64KB to 1GB, got \"2GB\""},
      {"LogMaxSizeMalformed", withLogging(R"("dir": "log", "max_size": "2 MB")"),
       "/logging/max_size: expected a size from 64KB to 1GB (digits and a unit B, KB, MB or GB, "
       "e.g. \"64KB\"), got \"2 MB\""},
      {"LogMaxSizeNumber", withLogging(R"("dir": "log", "max_size": 2097152)"),
       "/logging/max_size: expected a size from 64KB to 1GB, got 2097152"},
      {"LogHistoryZero", withLogging(R"("dir": "log", "history": 0)"),
       "/logging/history: expected an integer from 1 to 99, got 0"},
      {"LogHistoryString", withLogging(R"("dir": "log", "history": "1")"),
       "/logging/history: expected an integer from 1 to 99, got \"1\""},
      // Distribution.
      {"MaxConcurrentPackagesZero", withDistribution(R"("max_concurrent_packages": 0)"),
       "/distribution/max_concurrent_packages: expected an integer from 1 to 50, got 0"},
      {"MaxThreadsTooMany", withDistribution(R"("max_threads_per_package": 1000)"),
       "/distribution/max_threads_per_package: expected an integer from 1 to 999, got 1000"},
      {"SendingThreadsBeyondThePool",
       withDistribution(R"("max_concurrent_packages": 50, "max_threads_per_package": 21)"),
       "/distribution/max_concurrent_packages (50) x /distribution/max_threads_per_package (21) "
       "= 1050 sending threads; at most 1000 can run at once: lower one of them"},
      {"RetryCountNegative", withDistribution(R"("retry_count": -1)"),
       "/distribution/retry_count: expected an integer from 0 to 1000, got -1"},
      {"RetryCountHuge", withDistribution(R"("retry_count": 99999999999999999999)"),
       "/distribution/retry_count: expected an integer from 0 to 1000, got 1e+20"},
      {"CheckCountFraction", withDistribution(R"("pull_status_check_count": 3.5)"),
       "/distribution/pull_status_check_count: expected an integer from 1 to 1000, got 3.5"},
      {"RetryDelayTooShort", withDistribution(R"("retry_delay": "50ms")"),
       "/distribution/retry_delay: expected a duration from 100ms to 1d, got \"50ms\""},
      {"RecheckTooLong", withDistribution(R"("pull_source_recheck": "2d")"),
       "/distribution/pull_source_recheck: expected a duration from 100ms to 1d, got \"2d\""},
      {"RetryDelayMalformed", withDistribution(R"("retry_delay": "30 minutes")"),
       "/distribution/retry_delay: expected a duration from 100ms to 1d (digits and a unit ms, s, "
       "m, h or d, e.g. \"30s\"), got \"30 minutes\""},
      {"StatusTimeoutNumber", withDistribution(R"("pull_status_timeout": 60)"),
       "/distribution/pull_status_timeout: expected a duration from 100ms to 1d, got 60"},
      {"VerifyNotBool", withDistribution(R"("verify": "yes")"),
       "/distribution/verify: expected true or false, got \"yes\""},
      // Distribution points.
      {"DpNameMissing", withDp(R"("address": "file:///srv/dp01")"),
       "/distribution_points/0/name: is required (expected a name of 1 to 64 characters A-Z, "
       "a-z, 0-9, '.', '_' or '-')"},
      {"DpNameInvalid", withDp(R"("name": "dp 01", "address": "file:///srv/dp01")"),
       "/distribution_points/0/name: expected a name of 1 to 64 characters A-Z, a-z, 0-9, '.', "
       "'_' or '-', got \"dp 01\""},
      {"DpTypeUnknown", fileDpWith(R"("type": "push")"),
       "/distribution_points/0/type: expected one of \"standard\", \"pull\", got \"push\""},
      {"AddressMissing", withDp(R"("name": "dp01")"),
       "/distribution_points/0/address: is required (expected a file://, smb://, http:// or "
       "https:// address)"},
      {"AddressUnknownScheme", withDp(R"("name": "dp01", "address": "ftp://dp01/lib")"),
       "/distribution_points/0/address: expected an address starting with file://, smb://, "
       "http:// or https://, got \"ftp://dp01/lib\""},
      {"AddressWindowsPath", withDp(R"("name": "dp01", "address": "\\\\dp01\\lib")"),
       "/distribution_points/0/address: expected an address starting with file://, smb://, "
       "http:// or https://, got \"\\\\\\\\dp01\\\\lib\""},
      {"FileAddressEmpty", withDp(R"("name": "dp01", "address": "file://")"),
       "/distribution_points/0/address: expected \"file://\" followed by a path, e.g. "
       "\"file:///srv/dp01\", got \"file://\""},
      {"SmbWithoutShare", withDp(R"("name": "dp02", "address": "smb://fs02")"),
       "/distribution_points/0/address: expected \"smb://host/share[/path]\", got \"smb://fs02\" "
       "(the share name is missing)"},
      {"SmbCredentialsInAddress",
       withDp(R"("name": "dp02", "address": "smb://svc:secret@fs02/lib")"),
       "/distribution_points/0/address: expected \"smb://host/share[/path]\", got "
       "\"smb://svc:secret@fs02/lib\" (credentials never go in the address; use \"credentials\")"},
      {"SmbBadShareName", withDp(R"("name": "dp02", "address": "smb://fs02/lib*/x")"),
       "/distribution_points/0/address: expected \"smb://host/share[/path]\", got "
       "\"smb://fs02/lib*/x\" (the share name contains a character not allowed in a share name)"},
      {"HttpPortZero", withDp(R"("name": "dp03", "address": "http://dp03:0")"),
       "/distribution_points/0/address: expected \"http(s)://host[:port][/path]\", got "
       "\"http://dp03:0\" (the host or port is not valid (port 1 to 65535))"},
      {"HttpWithQuery", withDp(R"("name": "dp03", "address": "https://dp03/lib?x=1")"),
       "/distribution_points/0/address: expected \"http(s)://host[:port][/path]\", got "
       "\"https://dp03/lib?x=1\" (a query or fragment is not allowed)"},
      {"PullDpFileAddress", withDp(R"("name": "pdp01", "type": "pull", "address": "file:///x")"),
       "/distribution_points/0/address: expected an http:// or https:// address for a pull DP (it "
       "is notified over HTTP), got \"file:///x\""},
      {"ContentUrlNotHttp", fileDpWith(R"("content_url": "ftp://dp01")"),
       "/distribution_points/0/content_url: expected an http:// or https:// URL, got "
       "\"ftp://dp01\" (the scheme must be http:// or https://)"},
      {"ContentUrlWithCredentials", fileDpWith(R"("content_url": "http://u:p@dp01")"),
       "/distribution_points/0/content_url: expected an http:// or https:// URL, got "
       "\"http://u:p@dp01\" (credentials never go in a URL)"},
      {"CaFileWithoutHttps", withDp(std::string(kHttpDp) + R"(, "ca_file": "ca.pem")"),
       "/distribution_points/0/ca_file: only used with an https:// address or content_url (this "
       "DP has neither)"},
      {"CaFileMissing",
       withDp(R"("name": "dp03", "address": "https://dp03:8531", "ca_file": "dp-ca.pem")"),
       "/distribution_points/0/ca_file: cannot read \"{base}/dp-ca.pem\": No such file or "
       "directory"},
      {"CredentialsOnFileDp", fileDpWith(R"("credentials": {"user": "u", "password_env": "P"})"),
       "/distribution_points/0/credentials: only used with an smb:// address"},
      {"CredentialsWithoutPasswordEnv",
       withDp(R"("name": "dp02", "address": "smb://fs02/lib", "credentials": {"user": "u"})"),
       "/distribution_points/0/credentials/password_env: is required (expected the name of an "
       "environment variable (letters, digits and '_', not starting with a digit))"},
      {"PasswordEnvInvalid", withDp(R"("name": "dp02", "address": "smb://fs02/lib",
                 "credentials": {"user": "u", "password_env": "1PASS"})"),
       "/distribution_points/0/credentials/password_env: expected the name of an environment "
       "variable (letters, digits and '_', not starting with a digit), got \"1PASS\""},
      {"CredentialsUserEmpty", withDp(R"("name": "dp02", "address": "smb://fs02/lib",
                 "credentials": {"user": "", "password_env": "P"})"),
       "/distribution_points/0/credentials/user: expected a non-empty user name, got \"\""},
      {"SmbBlockOnHttpDp", withDp(std::string(kHttpDp) + R"(, "smb": {"encrypt": true})"),
       "/distribution_points/0/smb: only used with an smb:// address"},
      {"SmbEncryptNotBool",
       withDp(R"("name": "dp02", "address": "smb://fs02/lib", "smb": {"encrypt": 1})"),
       "/distribution_points/0/smb/encrypt: expected true or false, got 1"},
      // Schedules.
      {"ScheduleDefaultUnknown", fileDpWith(R"("schedule": {"default": "sometimes"})"),
       "/distribution_points/0/schedule/default: expected one of \"all\", \"medium_high\", "
       "\"high\", \"closed\", got \"sometimes\""},
      {"RuleHourOutOfRange",
       fileDpWith(R"("schedule": {"rules": [{"hours": "25-06", "level": "high"}]})"),
       "/distribution_points/0/schedule/rules/0/hours: expected an hour range \"HH-HH\" from 00 "
       "to 24, start != end, e.g. \"08-18\" or \"22-06\", got \"25-06\""},
      {"RuleEmptyRange",
       fileDpWith(R"("schedule": {"rules": [{"hours": "06-06", "level": "high"}]})"),
       "/distribution_points/0/schedule/rules/0/hours: expected an hour range \"HH-HH\" from 00 "
       "to 24, start != end, e.g. \"08-18\" or \"22-06\", got \"06-06\""},
      {"RuleSingleDigitHours",
       fileDpWith(R"("schedule": {"rules": [{"hours": "8-18", "level": "high"}]})"),
       "/distribution_points/0/schedule/rules/0/hours: expected an hour range \"HH-HH\" from 00 "
       "to 24, start != end, e.g. \"08-18\" or \"22-06\", got \"8-18\""},
      {"RuleLevelMissing", fileDpWith(R"("schedule": {"rules": [{"hours": "08-18"}]})"),
       "/distribution_points/0/schedule/rules/0/level: is required (expected one of \"all\", "
       "\"medium_high\", \"high\", \"closed\")"},
      {"RuleDayTwice",
       fileDpWith(
           R"("schedule": {"rules": [{"days": ["mon", "mon"], "hours": "08-18", "level": "high"}]})"),
       "/distribution_points/0/schedule/rules/0/days/1: \"mon\" is listed twice"},
      {"RuleDayUnknown",
       fileDpWith(
           R"("schedule": {"rules": [{"days": ["monday"], "hours": "08-18", "level": "high"}]})"),
       "/distribution_points/0/schedule/rules/0/days/0: expected one of \"sun\", \"mon\", "
       "\"tue\", \"wed\", \"thu\", \"fri\", \"sat\", got \"monday\""},
      {"RuleDaysEmpty",
       fileDpWith(R"("schedule": {"rules": [{"days": [], "hours": "08-18", "level": "high"}]})"),
       "/distribution_points/0/schedule/rules/0/days: expected a non-empty array of days (\"sun\" "
       "to \"sat\"), got an empty array"},
      // Rate limits.
      {"RateModeUnknown", fileDpWith(R"("rate_limit": {"mode": "throttle"})"),
       "/distribution_points/0/rate_limit/mode: expected one of \"unlimited\", \"pulse\", "
       "\"limited\", \"max_rate\", got \"throttle\""},
      {"PulseBlockTooLarge",
       fileDpWith(R"("rate_limit": {"mode": "pulse", "block_size": "512KB"})"),
       "/distribution_points/0/rate_limit/block_size: expected a size from 1KB to 256KB, got "
       "\"512KB\""},
      {"PulseDelayTooShort", fileDpWith(R"("rate_limit": {"mode": "pulse", "delay": "500ms"})"),
       "/distribution_points/0/rate_limit/delay: expected a duration from 1s to 30s, got "
       "\"500ms\""},
      {"KeyOfAnotherMode",
       fileDpWith(R"("rate_limit": {"mode": "limited", "block_size": "64KB", "hours": {}})"),
       "/distribution_points/0/rate_limit/block_size: not valid with mode \"limited\"; block_size "
       "goes with mode \"pulse\""},
      {"HoursWithoutMode", fileDpWith(R"("rate_limit": {"hours": {"00-24": 50}})"),
       "/distribution_points/0/rate_limit/hours: not valid with mode \"unlimited\"; hours goes "
       "with mode \"limited\" or \"max_rate\""},
      {"LimitedWithoutHours", fileDpWith(R"("rate_limit": {"mode": "limited"})"),
       "/distribution_points/0/rate_limit/hours: is required (expected an object of hour ranges "
       "to percentages, e.g. {\"06-18\": 40})"},
      {"LimitedHoursEmpty", fileDpWith(R"("rate_limit": {"mode": "limited", "hours": {}})"),
       "/distribution_points/0/rate_limit/hours: expected a non-empty object of hour ranges, e.g. "
       "{\"06-18\": 40}, got an empty object"},
      {"LimitedPercentZero",
       fileDpWith(R"("rate_limit": {"mode": "limited", "hours": {"00-06": 100, "06-24": 0}})"),
       "/distribution_points/0/rate_limit/hours/06-24: expected an integer from 1 to 100, got 0"},
      {"LimitedBadRangeKey",
       fileDpWith(R"("rate_limit": {"mode": "limited", "hours": {"6-18": 40}})"),
       "/distribution_points/0/rate_limit/hours/6-18: expected an hour range \"HH-HH\" from 00 to "
       "24, start != end, e.g. \"08-18\" or \"22-06\", got \"6-18\""},
      {"RateHoursOverlap",
       fileDpWith(
           R"("rate_limit": {"mode": "max_rate", "hours": {"00-08": "unlimited", "06-24": "1MB/s"}})"),
       "/distribution_points/0/rate_limit/hours/06-24: overlaps \"00-08\" (hour 06 is in both)"},
      {"RateHoursOverlapAcrossMidnight",
       fileDpWith(R"("rate_limit": {"mode": "limited", "hours": {"22-06": 100, "05-10": 40}})"),
       "/distribution_points/0/rate_limit/hours/05-10: overlaps \"22-06\" (hour 05 is in both)"},
      {"MaxRateMalformed",
       fileDpWith(R"("rate_limit": {"mode": "max_rate", "hours": {"00-24": "fast"}})"),
       "/distribution_points/0/rate_limit/hours/00-24: expected a rate of at least 1B/s such as "
       "\"10MB/s\", or \"unlimited\", got \"fast\""},
      {"MaxRateZero",
       fileDpWith(R"("rate_limit": {"mode": "max_rate", "hours": {"00-24": "0MB/s"}})"),
       "/distribution_points/0/rate_limit/hours/00-24: expected a rate of at least 1B/s such as "
       "\"10MB/s\", or \"unlimited\", got \"0MB/s\""},
      // Sources.
      {"SourcesOnStandardDp", fileDpWith(R"("sources": ["dp02"])"),
       "/distribution_points/0/sources: only a pull DP has sources (this DP's type is "
       "\"standard\")"},
      {"PullDpWithoutSources", withDp(pull_with),
       "/distribution_points/0/sources: is required (expected a non-empty array of DP names, in "
       "priority order)"},
      {"PullDpEmptySources", withDp(pull_with + R"(, "sources": [])"),
       "/distribution_points/0/sources: expected a non-empty array of DP names, in priority "
       "order, got an empty array"},
      // Stage 5: cross-field.
      {"SiteMissingForDistmgr",
       R"({"logging": {"dir": "log"}, "components": ["distmgr"], "distribution_points": []})",
       "/site: is required when components include \"distmgr\""},
      {"DpsMissingForStatusReceiver",
       R"({"site": {"code": "PS1", "data_dir": "d"}, "logging": {"dir": "log"},
           "components": ["statusreceiver"]})",
       "/distribution_points: is required when components include \"statusreceiver\""},
      {"DpBlockMissing", R"({"logging": {"dir": "log"}, "components": ["dp"]})",
       "/dp: is required when components include \"dp\""},
      {"PullDpBlockMissing",
       std::string(R"({"logging": {"dir": "log"}, "components": ["pulldp"], "dp": {)") + kDpBlock +
           "}}",
       "/pulldp: is required when components include \"pulldp\""},
      {"DuplicateDpName", siteConfig(std::string("{") + kFileDp + "}, {" + kHttpDp + "}"),
       "/distribution_points/1/name: \"dp01\" is already the name of /distribution_points/0"},
      {"UnknownSource",
       siteConfig(std::string("{") + kHttpDp + "}, {" + pull_with +
                  R"(, "sources": ["dp01", "dp09"]})"),
       "/distribution_points/1/sources/1: no DP named \"dp09\" in /distribution_points"},
      {"SelfSource",
       siteConfig(std::string("{") + kHttpDp + "}, {" + pull_with + R"(, "sources": ["pdp01"]})"),
       "/distribution_points/1/sources/0: a pull DP cannot be its own source"},
      {"SourceTwice",
       siteConfig(std::string("{") + kHttpDp + "}, {" + pull_with +
                  R"(, "sources": ["dp01", "dp01"]})"),
       "/distribution_points/1/sources/1: \"dp01\" is listed twice"},
      {"PullDpSourcesLoop",
       siteConfig(std::string("{") + kHttpDp + "}, {" + pull_with +
                  R"(, "sources": ["pdp02", "dp01"]}, {"name": "pdp02", "type": "pull",
                     "address": "http://pdp02:8532", "sources": ["pdp03"]},
                     {"name": "pdp03", "type": "pull", "address": "http://pdp03:8532",
                     "sources": ["dp01", "pdp01"]})"),
       "/distribution_points/1/sources: pull DP sources form a loop: pdp01 -> pdp02 -> pdp03 -> "
       "pdp01"},
      {"PullDpWithoutDpComponent",
       std::string(R"({"logging": {"dir": "log"}, "components": ["pulldp"], "dp": {)") + kDpBlock +
           R"(}, "pulldp": {"site_status_url": "http://site:8530"}})",
       "/components: pulldp serves the content it pulls through the dp component of the same "
       "process: add \"dp\""},
      {"SourceWithoutHttp",
       siteConfig(std::string("{") + kFileDp + "}, {" + pull_with + R"(, "sources": ["dp01"]})"),
       "/distribution_points/1/sources/0: source \"dp01\" is not reachable over HTTP (expected a "
       "DP with an http(s) address or a content_url)"},
      // One library root per file DP, after normalising the path, and none in or around the
      // site's data folder.
      {"SameLibraryRootWithTrailingSlash",
       siteConfig(R"({"name": "dp01", "address": "file:///srv/dp01"},
                     {"name": "dp02", "address": "file:///srv/dp01/"})"),
       "/distribution_points/1/address: \"file:///srv/dp01/\" is the same library root "
       "(/srv/dp01) as /distribution_points/0/address \"file:///srv/dp01\"; each DP needs its "
       "own folder"},
      {"SameLibraryRootWithDotSegment",
       siteConfig(R"({"name": "dp01", "address": "file:///srv/dp01"}, )" + std::string(kHttpDp2) +
                  R"(, {"name": "dp03", "address": "file:///srv/./x/../dp01"})"),
       "/distribution_points/2/address: \"file:///srv/./x/../dp01\" is the same library root "
       "(/srv/dp01) as /distribution_points/0/address \"file:///srv/dp01\"; each DP needs its "
       "own folder"},
      {"LibraryRootInsideDataDir",
       siteConfig(R"({"name": "dp01", "address": "file://site/dps/dp01"})"),
       "/distribution_points/0/address: library root {base}/site/dps/dp01 is inside the site's "
       "data folder {base}/site (/site/data_dir)"},
      {"LibraryRootIsDataDir", siteConfig(R"({"name": "dp01", "address": "file://site/"})"),
       "/distribution_points/0/address: library root {base}/site is inside the site's data "
       "folder {base}/site (/site/data_dir)"},
      {"LibraryRootContainsDataDir", siteConfig(R"({"name": "dp01", "address": "file://."})"),
       "/distribution_points/0/address: library root {base} contains the site's data folder "
       "{base}/site (/site/data_dir)"},
      {"ListenConflict",
       R"({"site": {"code": "PS1", "data_dir": "d", "listen": "0.0.0.0:8530"},
           "logging": {"dir": "log"}, "components": ["statusreceiver", "dp"],
           "distribution_points": [],
           "dp": {"name": "dp01", "content_library": "lib", "listen": "127.0.0.1:8530"}})",
       "/dp/listen: \"127.0.0.1:8530\" uses the same port as /site/listen \"0.0.0.0:8530\"; "
       "statusreceiver and dp run in this process and need different ports"},
      // dp and pulldp blocks.
      {"DpContentLibraryMissing", dpMachine(R"("name": "pdp01", "token_file": "t")", kPullDpBlock),
       "/dp/content_library: is required (expected a path)"},
      {"DpTokenFileWithoutSite",
       dpMachine(R"("name": "pdp01", "content_library": "lib")", kPullDpBlock),
       "/dp/token_file: is required (expected a path; without a \"site\" block there is no "
       "default)"},
      {"DpListenBad", dpMachine(std::string(kDpBlock) + R"(, "listen": "8531")", kPullDpBlock),
       "/dp/listen: expected \"host:port\" (an IPv4 address, [IPv6 address] or host name, and a "
       "port from 1 to 65535), got \"8531\""},
      {"TlsCertFileMissing",
       dpMachine(std::string(kDpBlock) + R"(, "tls": {"cert_file": "cert.pem"})", kPullDpBlock),
       "/dp/tls/cert_file: cannot read \"{base}/cert.pem\": No such file or directory"},
      {"TlsWithoutKeyFile", dpMachine(std::string(kDpBlock) + R"(, "tls": {})", kPullDpBlock),
       "/dp/tls/cert_file: is required (expected a path to a PEM certificate)"},
      {"SiteStatusUrlMissing", dpMachine(kDpBlock, R"("max_concurrent_jobs": 5)"),
       "/pulldp/site_status_url: is required (expected an http:// or https:// URL)"},
      {"SiteStatusUrlNotUrl", dpMachine(kDpBlock, R"("site_status_url": "site:8530")"),
       "/pulldp/site_status_url: expected an http:// or https:// URL, got \"site:8530\" (the "
       "scheme must be http:// or https://)"},
      {"MaxConcurrentJobsTooMany",
       dpMachine(kDpBlock, std::string(kPullDpBlock) + R"(, "max_concurrent_jobs": 501)"),
       "/pulldp/max_concurrent_jobs: expected an integer from 1 to 500, got 501"},
      {"UnneededBlockStillChecked",
       siteConfig("", R"(, "pulldp": {"site_status_url": "http://x", "max_concurrent_jobs": 0})"),
       "/pulldp/max_concurrent_jobs: expected an integer from 1 to 500, got 0"},
  };
}

void PrintTo(const BadConfig& c, std::ostream* os) { *os << c.name; }

class BadConfigTest : public ConfigTest, public ::testing::WithParamInterface<BadConfig> {};

// Verifies each bad config fails with InvalidArgument and exactly the expected message.
TEST_P(BadConfigTest, FailsWithPreciseMessage) {
  const BadConfig& c = GetParam();
  Result<Config> config = parse(c.text);
  ASSERT_FALSE(config.ok()) << "accepted:\n" << c.text;
  EXPECT_EQ(config.error().code(), Status::Code::InvalidArgument);
  const std::string want =
      substitute(substitute(c.message, "{base}", baseText()), "{tz}", (tmp_ / "zoneinfo").string());
  EXPECT_EQ(config.error().message(), want) << c.text;
}

INSTANTIATE_TEST_SUITE_P(Table, BadConfigTest, ::testing::ValuesIn(badConfigs()),
                         [](const ::testing::TestParamInfo<BadConfig>& info) {
                           return std::string(info.param.name);
                         });

TEST(BadConfigTableTest, HasAtLeastFortyCases) { EXPECT_GE(badConfigs().size(), 40u); }

// Verifies the line and column we compute agree with nlohmann's own (kept in its what()).
TEST_F(ConfigTest, SyntaxErrorLocationIsLineAndColumn) {
  const std::string text = "{\n  \"logging\": {\n    \"dir\": \"log\"\n  ,,\n}";
  Result<Config> config = parse(text);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message().rfind("line 4, column 4: invalid JSON: ", 0), 0u)
      << config.error().message();
}

TEST_F(ConfigTest, RejectsTextOverOneMebibyte) {
  std::string text = siteConfig("");
  text.append((1 << 20) + 1 - text.size(), ' ');
  Result<Config> config = parse(text);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(),
            "/: the config is 1048577 bytes; the limit is 1048576 bytes (1 MiB)");
  text.resize(1 << 20);
  EXPECT_TRUE(parse(text).ok());
}

// ---- Good configs ----------------------------------------------------------------------------

TEST_F(ConfigTest, FillsDefaults) {
  Config c = parseOk(siteConfig(std::string("{") + kFileDp + "}"));
  ASSERT_TRUE(c.site.has_value());
  EXPECT_EQ(c.site->code, "PS1");
  EXPECT_EQ(c.site->data_dir, base() / "site");
  EXPECT_EQ(c.site->listen, "127.0.0.1:8530");
  EXPECT_EQ(c.site->token_file, base() / "site" / "site.token");
  EXPECT_EQ(c.site->timezone, "");
  EXPECT_EQ(c.logging.dir, base() / "log");
  EXPECT_EQ(c.logging.level, LogLevel::Info);
  EXPECT_EQ(c.logging.max_size, 2u << 20);
  EXPECT_EQ(c.logging.history, 1);
  EXPECT_EQ(c.components, (std::vector<std::string>{"distmgr", "pkgxfermgr", "statusreceiver"}));

  const DistributionConfig& d = c.distribution;
  EXPECT_EQ(d.max_concurrent_packages, 3);
  EXPECT_EQ(d.max_threads_per_package, 5);
  EXPECT_EQ(d.retry_count, 100);
  EXPECT_EQ(d.retry_delay, std::chrono::minutes(30));
  EXPECT_EQ(d.pull_source_recheck, std::chrono::minutes(20));
  EXPECT_EQ(d.pull_source_recheck_count, 30);
  EXPECT_EQ(d.pull_status_timeout, std::chrono::minutes(60));
  EXPECT_EQ(d.pull_status_check_count, 72);
  EXPECT_TRUE(d.verify);

  ASSERT_EQ(c.distribution_points.size(), 1u);
  const DistributionPointConfig& dp = c.distribution_points[0];
  EXPECT_EQ(dp.type, DpType::Standard);
  EXPECT_EQ(dp.scheme(), AddressScheme::File);
  EXPECT_EQ(dp.file()->root, fs::path("/srv/dp01"));
  EXPECT_EQ(dp.content_url, "");
  EXPECT_TRUE(dp.schedule.alwaysOpen());
  EXPECT_EQ(dp.rate_limit.mode, RateLimitMode::Unlimited);
  EXPECT_FALSE(dp.credentials.has_value());
  EXPECT_FALSE(c.dp.has_value());
  EXPECT_FALSE(c.pulldp.has_value());
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_TRUE(c.file.empty());
}

TEST_F(ConfigTest, ReadsEveryDistributionKey) {
  Config c = parseOk(withDistribution(
      R"("max_concurrent_packages": 50, "max_threads_per_package": 1, "retry_count": 0,
         "retry_delay": "1s", "pull_source_recheck": "200ms", "pull_source_recheck_count": 1000,
         "pull_status_timeout": "1d", "pull_status_check_count": 1, "verify": false)"));
  const DistributionConfig& d = c.distribution;
  EXPECT_EQ(d.max_concurrent_packages, 50);
  EXPECT_EQ(d.max_threads_per_package, 1);
  EXPECT_EQ(d.retry_count, 0);
  EXPECT_EQ(d.retry_delay, std::chrono::seconds(1));
  EXPECT_EQ(d.pull_source_recheck, std::chrono::milliseconds(200));
  EXPECT_EQ(d.pull_source_recheck_count, 1000);
  EXPECT_EQ(d.pull_status_timeout, std::chrono::hours(24));
  EXPECT_EQ(d.pull_status_check_count, 1);
  EXPECT_FALSE(d.verify);
}

TEST_F(ConfigTest, ReadsSiteAndLogging) {
  Config c = parseOk(R"({"site": {"code": "X9Z", "data_dir": "/var/lib/site/",
      "listen": "[::1]:9000", "token_file": "secrets/site.token", "timezone": "Europe/Berlin"},
      "logging": {"dir": "../log", "level": "debug", "max_size": "64KiB", "history": 99},
      "components": ["statusreceiver"], "distribution_points": []})");
  ASSERT_TRUE(c.site.has_value());
  EXPECT_EQ(c.site->code, "X9Z");
  EXPECT_EQ(c.site->data_dir, fs::path("/var/lib/site"));
  EXPECT_EQ(c.site->listen, "[::1]:9000");
  EXPECT_EQ(c.site->token_file, base() / "secrets" / "site.token");
  EXPECT_EQ(c.site->timezone, "Europe/Berlin");
  EXPECT_EQ(c.logging.dir, tmp_.path() / "log");
  EXPECT_EQ(c.logging.level, LogLevel::Debug);
  EXPECT_EQ(c.logging.max_size, 64u << 10);
  EXPECT_EQ(c.logging.history, 99);
}

TEST_F(ConfigTest, AcceptsListenForms) {
  for (const char* listen : {"127.0.0.1:8530", "0.0.0.0:1", "[::]:65535", "[fe80::1:2]:80",
                             "site01.contoso.com:8530", "localhost:8530", "[::ffff:10.0.0.1]:80"}) {
    parseOk(
        withSite(std::string(R"("code": "PS1", "data_dir": "d", "listen": ")") + listen + "\""));
  }
}

TEST_F(ConfigTest, EmptyTimezoneMeansMachineZone) {
  Config c = parseOk(withSite(R"("code": "PS1", "data_dir": "d", "timezone": "")"));
  EXPECT_EQ(c.site->timezone, "");
  c = parseOk(withSite(R"("code": "PS1", "data_dir": "d", "timezone": "UTC")"));
  EXPECT_EQ(c.site->timezone, "UTC");
}

// Verifies relative paths (including after file://) resolve against the config's folder and come
// out lexically normal.
TEST_F(ConfigTest, ResolvesRelativePaths) {
  Config c = parseOk(R"({"site": {"code": "PS1", "data_dir": "../var/site"},
      "logging": {"dir": "./logs/../log/"}, "components": ["distmgr"],
      "distribution_points": [
        {"name": "dp01", "address": "file://../var/dp01"},
        {"name": "dp02", "address": "file://dp02/lib/"},
        {"name": "dp03", "address": "file:///srv//dp03/./lib"}]})");
  EXPECT_EQ(c.site->data_dir, tmp_.path() / "var" / "site");
  EXPECT_EQ(c.site->token_file, tmp_.path() / "var" / "site" / "site.token");
  EXPECT_EQ(c.logging.dir, base() / "log");
  EXPECT_EQ(c.distribution_points[0].file()->root, tmp_.path() / "var" / "dp01");
  EXPECT_EQ(c.distribution_points[1].file()->root, base() / "dp02" / "lib");
  EXPECT_EQ(c.distribution_points[2].file()->root, fs::path("/srv/dp03/lib"));
  EXPECT_EQ(c.distribution_points[0].address, "file://../var/dp01");  // kept as written
}

TEST_F(ConfigTest, RelativeBaseDirIsMadeAbsolute) {
  Result<Config> c = parseConfig(siteConfig(""), "relative/dir");
  ASSERT_TRUE(c.ok()) << c.error().toString();
  EXPECT_TRUE(c->site->data_dir.is_absolute());
  EXPECT_EQ(c->site->data_dir, fs::current_path() / "relative" / "dir" / "site");
}

#if !defined(PKGXFER_WITH_SMB)
TEST_F(ConfigTest, SmbDpIsAnErrorWhenSmbWasNotBuilt) {
  Result<Config> c = parse(withDp(R"("name": "dp02", "address": "smb://fs02/lib")"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(c.error().message(),
            "/distribution_points/0/address: SMB support was not built into this "
            "pkgxfer (built with -DPKGXFER_WITH_SMB=OFF or without libsmbclient): this DP cannot "
            "be reached");
}
#else
TEST_F(ConfigTest, ReadsAddressSchemesAndContentUrl) {
  Config c = parseOk(siteConfig(R"(
      {"name": "dp01", "address": "file:///srv/dp01", "content_url": "http://dp01:8531/"},
      {"name": "dp02", "address": "smb://fs02.contoso.com/ContentLib/sub",
       "credentials": {"user": "svc", "domain": "CONTOSO", "password_env": "PKGXFER_DP02_PASSWORD"},
       "smb": {"encrypt": true}},
      {"name": "dp03", "address": "https://dp03:8531/base/"},
      {"name": "dp04", "address": "http://[::1]:8531", "content_url": "https://cdn.contoso.com/dp04"})"));
  const auto& dps = c.distribution_points;
  ASSERT_EQ(dps.size(), 4u);
  EXPECT_EQ(dps[0].content_url, "http://dp01:8531");

  EXPECT_EQ(dps[1].scheme(), AddressScheme::Smb);
  ASSERT_TRUE(dps[1].credentials.has_value());
  EXPECT_EQ(dps[1].credentials->user, "svc");
  EXPECT_EQ(dps[1].credentials->domain, "CONTOSO");
  EXPECT_EQ(dps[1].credentials->password_env, "PKGXFER_DP02_PASSWORD");
  EXPECT_TRUE(dps[1].smb_encrypt);
  EXPECT_EQ(dps[1].content_url, "");
  EXPECT_EQ(dps[1].file(), nullptr);
  // Typed once here: transports get host, port, share and path, not a string to parse again.
  ASSERT_NE(dps[1].smb(), nullptr);
  EXPECT_EQ(*dps[1].smb(), (config::SmbAddress{"fs02.contoso.com", 0, "ContentLib", "/sub"}));

  EXPECT_EQ(dps[2].scheme(), AddressScheme::Https);
  EXPECT_EQ(dps[2].address, "https://dp03:8531/base/");
  EXPECT_EQ(dps[2].content_url, "https://dp03:8531/base");
  ASSERT_NE(dps[2].http(), nullptr);
  EXPECT_EQ(*dps[2].http(), (config::HttpAddress{true, "dp03", 8531, "/base"}));
  EXPECT_EQ(dps[2].http()->url(), "https://dp03:8531/base");

  EXPECT_EQ(dps[3].scheme(), AddressScheme::Http);
  EXPECT_EQ(dps[3].content_url, "https://cdn.contoso.com/dp04");
  EXPECT_EQ(*dps[3].http(), (config::HttpAddress{false, "::1", 8531, ""}));
  EXPECT_EQ(dps[3].http()->url(), "http://[::1]:8531");
  EXPECT_EQ(dps[3].http()->portOrDefault(), 8531);
  EXPECT_EQ((config::HttpAddress{true, "dp05", 0, ""}).portOrDefault(), 443);

  EXPECT_EQ(c.findDp("dp03"), &dps[2]);
  EXPECT_EQ(c.findDp("dp09"), nullptr);
}
#endif

TEST_F(ConfigTest, CaFileIsResolvedAndMustBeReadable) {
  writeFile(base() / "certs" / "dp-ca.pem", "-----BEGIN CERTIFICATE-----\n");
  Config c = parseOk(
      withDp(R"("name": "dp03", "address": "https://dp03:8531", "ca_file": "certs/dp-ca.pem")"));
  EXPECT_EQ(c.distribution_points[0].ca_file, base() / "certs" / "dp-ca.pem");

  // An https content_url is enough for a ca_file.
  c = parseOk(withDp(R"("name": "dp01", "address": "file:///srv/dp01",
      "content_url": "https://dp01", "ca_file": "certs/dp-ca.pem")"));
  EXPECT_EQ(c.distribution_points[0].ca_file, base() / "certs" / "dp-ca.pem");

  Result<Config> dir =
      parse(withDp(R"("name": "dp03", "address": "https://dp03:8531", "ca_file": "certs")"));
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().message(), "/distribution_points/0/ca_file: cannot read \"" +
                                       (base() / "certs").string() + "\": not a regular file");
}

// Verifies the 7 × 24 grid: default first, rules in order (later wins), days, and a range past
// midnight continuing on the next day.
TEST_F(ConfigTest, FillsScheduleGrid) {
  Config c = parseOk(fileDpWith(R"("schedule": {"default": "closed", "rules": [
      {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "08-18", "level": "high"},
      {"hours": "22-06", "level": "all"},
      {"days": ["wed"], "hours": "12-14", "level": "medium_high"},
      {"days": ["sat"], "hours": "20-00", "level": "high"}]})"));
  const Schedule& s = c.distribution_points[0].schedule;
  auto at = [&](int day, int hour) { return s.hours[static_cast<std::size_t>(day * 24 + hour)]; };
  constexpr int kSun = 0, kMon = 1, kWed = 3, kFri = 5, kSat = 6;

  EXPECT_EQ(at(kMon, 7), ScheduleLevel::Closed);
  EXPECT_EQ(at(kMon, 8), ScheduleLevel::High);
  EXPECT_EQ(at(kMon, 17), ScheduleLevel::High);
  EXPECT_EQ(at(kMon, 18), ScheduleLevel::Closed);  // end is exclusive
  EXPECT_EQ(at(kSun, 12), ScheduleLevel::Closed);  // weekend not in the first rule
  // Every night is open: 22-24 and 00-06 (but see Saturday below).
  for (int day = 0; day < 7; ++day) {
    if (day != kSat) {
      EXPECT_EQ(at(day, 22), ScheduleLevel::All) << day;
      EXPECT_EQ(at(day, 23), ScheduleLevel::All) << day;
    }
    EXPECT_EQ(at(day, 0), ScheduleLevel::All) << day;
    EXPECT_EQ(at(day, 5), ScheduleLevel::All) << day;
    EXPECT_NE(at(day, 6), ScheduleLevel::All) << day;
  }
  // The later rule wins over the first one on Wednesday.
  EXPECT_EQ(at(kWed, 11), ScheduleLevel::High);
  EXPECT_EQ(at(kWed, 12), ScheduleLevel::MediumHigh);
  EXPECT_EQ(at(kWed, 13), ScheduleLevel::MediumHigh);
  EXPECT_EQ(at(kWed, 14), ScheduleLevel::High);
  EXPECT_EQ(at(kFri, 12), ScheduleLevel::High);
  // "20-00" on Saturday is 20:00 to midnight, overriding the earlier night rule, and does not
  // touch Sunday morning.
  EXPECT_EQ(at(kSat, 19), ScheduleLevel::Closed);
  EXPECT_EQ(at(kSat, 20), ScheduleLevel::High);
  EXPECT_EQ(at(kSat, 22), ScheduleLevel::High);
  EXPECT_EQ(at(kSat, 23), ScheduleLevel::High);
  EXPECT_EQ(at(kSun, 0), ScheduleLevel::All);
  EXPECT_FALSE(s.alwaysOpen());
}

// Verifies a range that wraps past midnight, limited to one day, spills into the next day only.
TEST_F(ConfigTest, WrappingRuleOnOneDayContinuesNextMorning) {
  Config c = parseOk(fileDpWith(R"("schedule": {"default": "closed", "rules": [
      {"days": ["fri"], "hours": "22-06", "level": "all"},
      {"days": ["sat"], "hours": "23-01", "level": "high"}]})"));
  const Schedule& s = c.distribution_points[0].schedule;
  auto at = [&](int day, int hour) { return s.hours[static_cast<std::size_t>(day * 24 + hour)]; };
  EXPECT_EQ(at(5, 21), ScheduleLevel::Closed);
  EXPECT_EQ(at(5, 22), ScheduleLevel::All);
  EXPECT_EQ(at(5, 23), ScheduleLevel::All);
  EXPECT_EQ(at(5, 0), ScheduleLevel::Closed);  // Friday morning is not Friday night
  EXPECT_EQ(at(6, 0), ScheduleLevel::All);
  EXPECT_EQ(at(6, 5), ScheduleLevel::All);
  EXPECT_EQ(at(6, 6), ScheduleLevel::Closed);
  // Saturday 23-01 wraps from the last day of the week to Sunday.
  EXPECT_EQ(at(6, 23), ScheduleLevel::High);
  EXPECT_EQ(at(0, 0), ScheduleLevel::High);
  EXPECT_EQ(at(0, 1), ScheduleLevel::Closed);
  int open = 0;
  for (ScheduleLevel level : s.hours) {
    open += level != ScheduleLevel::Closed ? 1 : 0;
  }
  EXPECT_EQ(open, 8 + 2);
}

TEST_F(ConfigTest, ScheduleDefaultOnlyAndWholeDay) {
  Config c = parseOk(fileDpWith(R"("schedule": {"default": "high"})"));
  for (ScheduleLevel level : c.distribution_points[0].schedule.hours) {
    EXPECT_EQ(level, ScheduleLevel::High);
  }
  c = parseOk(fileDpWith(R"("schedule": {"default": "closed",
      "rules": [{"hours": "00-24", "level": "all"}]})"));
  EXPECT_TRUE(c.distribution_points[0].schedule.alwaysOpen());
}

TEST_F(ConfigTest, ReadsPulseRateLimit) {
  Config c = parseOk(fileDpWith(R"("rate_limit": {"mode": "pulse"})"));
  const RateLimit& defaults = c.distribution_points[0].rate_limit;
  EXPECT_EQ(defaults.mode, RateLimitMode::Pulse);
  EXPECT_EQ(defaults.block_size, 64u << 10);
  EXPECT_EQ(defaults.delay, std::chrono::seconds(1));

  c = parseOk(
      fileDpWith(R"("rate_limit": {"mode": "pulse", "block_size": "1KB", "delay": "30s"})"));
  const RateLimit& r = c.distribution_points[0].rate_limit;
  EXPECT_EQ(r.block_size, 1024u);
  EXPECT_EQ(r.delay, std::chrono::seconds(30));
}

TEST_F(ConfigTest, FillsLimitedPercentages) {
  Config c = parseOk(fileDpWith(
      R"("rate_limit": {"mode": "limited", "hours": {"22-06": 100, "08-18": 40, "18-20": 70}})"));
  const RateLimit& r = c.distribution_points[0].rate_limit;
  EXPECT_EQ(r.mode, RateLimitMode::Limited);
  const std::array<int, 24> want = {100, 100, 100, 100, 100, 100, 100, 100, 40,  40,  40,  40,
                                    40,  40,  40,  40,  40,  40,  70,  70,  100, 100, 100, 100};
  EXPECT_EQ(r.percent, want);
  for (std::uint64_t bps : r.bytes_per_second) {
    EXPECT_EQ(bps, 0u);
  }
}

TEST_F(ConfigTest, FillsMaxRates) {
  Config c = parseOk(fileDpWith(R"("rate_limit": {"mode": "max_rate",
      "hours": {"00-06": "unlimited", "06-18": "10MB/s", "18-22": "512KiB/s"}})"));
  const RateLimit& r = c.distribution_points[0].rate_limit;
  EXPECT_EQ(r.mode, RateLimitMode::MaxRate);
  for (int h = 0; h < 24; ++h) {
    const std::uint64_t want = h < 6 ? 0 : h < 18 ? 10u << 20 : h < 22 ? 512u << 10 : 0;
    EXPECT_EQ(r.bytes_per_second[static_cast<std::size_t>(h)], want) << h;
    EXPECT_EQ(r.percent[static_cast<std::size_t>(h)], 100) << h;
  }
}

TEST_F(ConfigTest, PullDpIgnoresScheduleAndRateLimitWithWarnings) {
  Config c = parseOk(siteConfig(R"(
      {"name": "dp01", "address": "file:///srv/dp01", "content_url": "http://dp01:8531"},
      {"name": "dp03", "address": "https://dp03:8531"},
      {"name": "pdp01", "type": "pull", "address": "http://pdp01:8532", "sources": ["dp03", "dp01"],
       "schedule": {"default": "closed"},
       "rate_limit": {"mode": "pulse", "block_size": "4KB"}})"));
  const DistributionPointConfig* pull = c.findDp("pdp01");
  ASSERT_NE(pull, nullptr);
  EXPECT_EQ(pull->type, DpType::Pull);
  EXPECT_EQ(pull->sources, (std::vector<std::string>{"dp03", "dp01"}));
  EXPECT_EQ(pull->content_url, "http://pdp01:8532");
  EXPECT_TRUE(pull->schedule.alwaysOpen());
  EXPECT_EQ(pull->rate_limit.mode, RateLimitMode::Unlimited);
  EXPECT_EQ(c.warnings,
            (std::vector<std::string>{
                "/distribution_points/2/schedule: ignored on a pull DP, as ConfigMgr does",
                "/distribution_points/2/rate_limit: ignored on a pull DP, as ConfigMgr "
                "does"}));
}

// Verifies a pull DP's ignored schedule is still checked: a typo is an error, not a warning.
TEST_F(ConfigTest, PullDpScheduleIsStillValidated) {
  Result<Config> c = parse(siteConfig(R"(
      {"name": "dp03", "address": "https://dp03:8531"},
      {"name": "pdp01", "type": "pull", "address": "http://pdp01:8532", "sources": ["dp03"],
       "schedule": {"default": "nope"}})"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(),
            "/distribution_points/1/schedule/default: expected one of \"all\", \"medium_high\", "
            "\"high\", \"closed\", got \"nope\"");
}

TEST_F(ConfigTest, DpMachineConfig) {
  writeFile(base() / "tls" / "dp.pem", "cert");
  writeFile(base() / "tls" / "dp.key", "key");
  Config c = parseOk(
      dpMachine(std::string(kDpBlock) + R"(, "listen": "0.0.0.0:8532",
      "tls": {"cert_file": "tls/dp.pem", "key_file": "tls/dp.key"})",
                R"("site_status_url": "https://site01:8530/", "max_concurrent_jobs": 500)"));
  EXPECT_TRUE(c.hosts("dp"));
  EXPECT_TRUE(c.hosts("pulldp"));
  EXPECT_FALSE(c.hosts("distmgr"));
  EXPECT_FALSE(c.site.has_value());
  ASSERT_TRUE(c.dp.has_value());
  EXPECT_EQ(c.dp->name, "pdp01");
  EXPECT_EQ(c.dp->content_library, base() / "lib");
  EXPECT_EQ(c.dp->listen, "0.0.0.0:8532");
  EXPECT_EQ(c.dp->token_file, base() / "site.token");
  ASSERT_TRUE(c.dp->tls.has_value());
  EXPECT_EQ(c.dp->tls->cert_file, base() / "tls" / "dp.pem");
  EXPECT_EQ(c.dp->tls->key_file, base() / "tls" / "dp.key");
  ASSERT_TRUE(c.pulldp.has_value());
  EXPECT_EQ(c.pulldp->site_status_url, "https://site01:8530");
  EXPECT_EQ(c.pulldp->max_concurrent_jobs, 500);
}

TEST_F(ConfigTest, DpDefaultsComeFromSite) {
  Config c = parseOk(R"({"site": {"code": "PS1", "data_dir": "site"}, "logging": {"dir": "log"},
      "components": ["statusreceiver", "dp", "pulldp"], "distribution_points": [],
      "dp": {"name": "dp01", "content_library": "dp01"},
      "pulldp": {"site_status_url": "http://127.0.0.1:8530"}})");
  ASSERT_TRUE(c.dp.has_value());
  EXPECT_EQ(c.dp->listen, "127.0.0.1:8531");
  EXPECT_EQ(c.dp->token_file, base() / "site" / "site.token");
  EXPECT_FALSE(c.dp->tls.has_value());
  EXPECT_EQ(c.pulldp->max_concurrent_jobs, 50);
}

TEST_F(ConfigTest, UnneededBlocksArePresentButValid) {
  Config c = parseOk(R"({"logging": {"dir": "log"}, "components": ["dp"],
      "dp": {"name": "dp01", "content_library": "lib", "token_file": "t"},
      "distribution": {"retry_count": 3}})");
  EXPECT_EQ(c.distribution.retry_count, 3);
}

TEST_F(ConfigTest, ToStringNames) {
  EXPECT_EQ(toString(LogLevel::Warning), "warning");
  EXPECT_EQ(toString(DpType::Pull), "pull");
  EXPECT_EQ(toString(ScheduleLevel::MediumHigh), "medium_high");
  EXPECT_EQ(toString(RateLimitMode::MaxRate), "max_rate");
}

TEST(HostPortTest, SplitsHostAndPort) {
  Result<HostPort> v4 = parseHostPort("127.0.0.1:8530");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8530);
  Result<HostPort> v6 = parseHostPort("[2001:db8::1]:443");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "2001:db8::1");
  EXPECT_EQ(v6->port, 443);
  Result<HostPort> name = parseHostPort("dp01.contoso.com:65535");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->host, "dp01.contoso.com");

  for (const char* bad : {"", ":8530", "host", "host:", "host:0", "host:65536", "host:+80", "[::1]",
                          "[::1:8530", "[1:2:3:4:5:6:7:8:9]:80", "1.2.3:80", "a b:80", "-host:80",
                          "01.2.3.4:80", "[::1::2]:80", "host:80:80"}) {
    Result<HostPort> r = parseHostPort(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_EQ(parseHostPort("host").error().message(),
            "expected \"host:port\" (an IPv4 address, [IPv6 address] or host name, and a port from "
            "1 to 65535), got \"host\"");
}

// ---- Files -----------------------------------------------------------------------------------

TEST_F(ConfigTest, LoadsFileAndResolvesAgainstItsFolder) {
  const fs::path file = tmp_.path() / "conf" / "pkgxfer.json";
  writeFile(file, siteConfig(R"({"name": "dp01", "address": "file://../var/dp01"})"));
  Result<Config> c = loadConfig(file);
  ASSERT_TRUE(c.ok()) << c.error().toString();
  EXPECT_EQ(c->file, file);
  EXPECT_EQ(c->site->data_dir, tmp_.path() / "conf" / "site");
  EXPECT_EQ(c->distribution_points[0].file()->root, tmp_.path() / "var" / "dp01");
}

TEST_F(ConfigTest, LoadErrorsNameTheFile) {
  const fs::path file = tmp_.path() / "bad.json";
  writeFile(file, withDistribution(R"("max_concurrent_packages": 0)"));
  Result<Config> c = loadConfig(file);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(c.error().message(), file.string() +
                                     ": /distribution/max_concurrent_packages: expected an "
                                     "integer from 1 to 50, got 0");
}

TEST_F(ConfigTest, LoadMissingFileIsNotFound) {
  const fs::path file = tmp_.path() / "missing.json";
  Result<Config> c = loadConfig(file);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), Status::Code::NotFound);
  EXPECT_EQ(c.error().message(), file.string() + ": No such file or directory");
}

TEST_F(ConfigTest, LoadDirectoryIsIoError) {
  Result<Config> c = loadConfig(tmp_.path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), Status::Code::IoError);
  EXPECT_EQ(c.error().message(), tmp_.path().string() + ": is a directory, not a config file");
}

TEST_F(ConfigTest, LoadRejectsFileOverOneMebibyte) {
  const fs::path file = tmp_.path() / "huge.json";
  writeFile(file, std::string(2 << 20, ' '));
  Result<Config> c = loadConfig(file);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), Status::Code::InvalidArgument);
  EXPECT_EQ(c.error().message(),
            file.string() + ": the config is 2097152 bytes; the limit is 1048576 bytes (1 MiB)");
}

// config/ in the source tree: from $PKGXFER_SOURCE_DIR when set (ctest), else the path CMake
// compiled in.
fs::path examplesDir() {
  if (std::getenv("PKGXFER_SOURCE_DIR") != nullptr) {
    return pkgxfer::testing::sourceDir() / "config";
  }
  return PKGXFER_CONFIG_EXAMPLES_DIR;
}

// Verifies every example shipped in config/ loads cleanly, so the docs and the demo stay valid.
TEST(ExampleConfigTest, EveryExampleLoads) {
  const fs::path dir = examplesDir();
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int loaded = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") {
      continue;
    }
    Result<Config> c = loadConfig(entry.path());
    EXPECT_TRUE(c.ok()) << c.error().toString();
    ++loaded;
  }
  EXPECT_GE(loaded, 3);
}

TEST(ExampleConfigTest, DemoSiteIsRunnableOnALaptop) {
  Result<Config> c = loadConfig(examplesDir() / "pkgxfer.json");
  ASSERT_TRUE(c.ok()) << c.error().toString();
  EXPECT_EQ(c->site->code, "PS1");
  EXPECT_EQ(c->site->listen, "127.0.0.1:8530");
  ASSERT_EQ(c->distribution_points.size(), 4u);
  const fs::path root = fs::absolute(examplesDir()).lexically_normal().parent_path();
  // dp04 is an HTTP DP served by the demo process itself (its dp component).
  const DistributionPointConfig* http_dp = c->findDp("dp04");
  ASSERT_NE(http_dp, nullptr);
  EXPECT_EQ(http_dp->scheme(), AddressScheme::Http);
  ASSERT_TRUE(c->dp.has_value());
  EXPECT_EQ(c->dp->name, "dp04");
  EXPECT_EQ(http_dp->http()->portOrDefault(), parseHostPort(c->dp->listen)->port);
  EXPECT_EQ(c->dp->token_file, c->site->token_file) << "the DP takes the site's token";
  for (const DistributionPointConfig& dp : c->distribution_points) {
    if (&dp == http_dp) continue;
    EXPECT_EQ(dp.scheme(), AddressScheme::File) << dp.name;
    EXPECT_TRUE(dp.schedule.alwaysOpen()) << dp.name;
    EXPECT_EQ(dp.file()->root, root / "var" / dp.name);
  }
  EXPECT_EQ(c->findDp("dp03")->rate_limit.mode, RateLimitMode::MaxRate);
  EXPECT_EQ(c->findDp("dp03")->rate_limit.bytes_per_second[12], 100u << 20);
  EXPECT_TRUE(c->warnings.empty());
}

}  // namespace
}  // namespace pkgxfer::config
