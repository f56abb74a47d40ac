#pragma once

// The small languages inside config strings: listen addresses, URLs, hour ranges, names, time
// zone names. Pure functions on strings, no JSON; config.cpp turns a failure into a message with
// the JSON pointer. Thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pkgxfer/config/config.h"

namespace pkgxfer::config::internal {

bool isIpv4(std::string_view text);
bool isIpv6(std::string_view text);  // without brackets; no zone id

// "host:port" or "[ipv6]:port"; the port 1..65535 is required. The host is an IPv4 address, an
// IPv6 address in brackets, or a DNS name (labels of letters, digits, '-' and '_'; not all
// numeric).
std::optional<HostPort> splitHostPort(std::string_view text);

struct HttpUrl {
  bool https = false;
  std::string host;        // without brackets
  std::uint16_t port = 0;  // 0 when absent
  std::string path;        // "" or starting with '/', without a trailing '/'
  std::string normalized;  // the URL without a trailing '/'
};
// "http(s)://host[:port][/path]". On failure `why` says what is wrong.
std::optional<HttpUrl> parseHttpUrl(std::string_view text, std::string* why);

struct SmbAddress {
  std::string host;
  std::uint16_t port = 0;  // 0 when absent
  std::string share;
  std::string path;  // "" or starting with '/'
};
// "smb://host[:port]/share[/path]". On failure `why` says what is wrong.
std::optional<SmbAddress> parseSmbAddress(std::string_view text, std::string* why);

// The path after "file://", as written, with the leading '/' of a "/C:/..." drive path removed.
// Empty when there is none.
std::string fileUrlPath(std::string_view text);

// "HH-HH": start 00..23 inclusive, end 00..24 exclusive, start != end; start > end wraps past
// midnight ("22-06" is 22:00-06:00; "22-00" is 22:00-24:00).
struct HourRange {
  int start = 0;
  int end = 0;
  bool wraps() const { return start > end; }
  // Whether the range covers `hour` (0..23) of a day, counting the part after midnight.
  bool covers(int hour) const;
};
std::optional<HourRange> parseHourRange(std::string_view text);

// [A-Za-z0-9._-]{1,64}: DP names.
bool isName(std::string_view text);
// 3 characters [A-Z0-9].
bool isSiteCode(std::string_view text);
// [A-Za-z_][A-Za-z0-9_]*
bool isEnvVarName(std::string_view text);
// The form of an IANA zone name ("Europe/Berlin", "Etc/GMT+1", "UTC"): segments of letters, digits,
// '_', '+', '-' separated by '/', none empty, "." or "..", none starting with '-', no leading '/'.
bool isTimezoneName(std::string_view text);

}  // namespace pkgxfer::config::internal
