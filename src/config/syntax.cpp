#include "syntax.h"

#include <vector>

namespace pkgxfer::config::internal {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

bool allDigits(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (!isDigit(c)) {
      return false;
    }
  }
  return true;
}

std::optional<std::uint16_t> parsePort(std::string_view text) {
  if (!allDigits(text) || text.size() > 5) {
    return std::nullopt;
  }
  int port = 0;
  for (char c : text) {
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(port);
}

bool isHostName(std::string_view text) {
  if (text.empty() || text.size() > 253) {
    return false;
  }
  bool all_numeric = true;
  for (std::string_view label : split(text, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!isAlpha(c) && !isDigit(c) && c != '-' && c != '_') {
        return false;
      }
    }
    all_numeric = all_numeric && allDigits(label);
  }
  // "300.1.1.1" or "12345" is a broken address, not a name.
  return !all_numeric;
}

// Splits "host[:port]" or "[v6][:port]" (the authority of a URL). `port` stays 0 when absent.
// Returns false when the host or the port is malformed.
bool splitAuthority(std::string_view authority, bool port_required, std::string* host,
                    std::uint16_t* port) {
  std::string_view host_part;
  std::string_view rest;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return false;
    }
    host_part = authority.substr(1, close - 1);
    if (!isIpv6(host_part)) {
      return false;
    }
    rest = authority.substr(close + 1);
  } else {
    std::size_t colon = authority.find(':');
    host_part = authority.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
    if (!isIpv4(host_part) && !isHostName(host_part)) {
      return false;
    }
  }
  if (rest.empty()) {
    if (port_required) {
      return false;
    }
    *port = 0;
  } else {
    if (rest.front() != ':') {
      return false;
    }
    std::optional<std::uint16_t> p = parsePort(rest.substr(1));
    if (!p) {
      return false;
    }
    *port = *p;
  }
  *host = std::string(host_part);
  return true;
}

bool isUrlPathChar(char c) {
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@%/";
  return isAlpha(c) || isDigit(c) || kAllowed.find(c) != std::string_view::npos;
}

// Characters Windows does not allow in a share name, plus control characters.
bool isShareChar(char c) {
  static constexpr std::string_view kForbidden = "\"\\/[]:|<>+=;,*?";
  return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f &&
         kForbidden.find(c) == std::string_view::npos;
}

// Validates the authority (everything up to the first '/') of a URL.
bool checkAuthority(std::string_view authority, bool* has_credentials, std::string* host,
                    std::uint16_t* port) {
  *has_credentials = authority.find('@') != std::string_view::npos;
  if (*has_credentials) {
    return false;
  }
  return splitAuthority(authority, /*port_required=*/false, host, port);
}

}  // namespace

bool isIpv4(std::string_view text) {
  std::vector<std::string_view> parts = split(text, '.');
  if (parts.size() != 4) {
    return false;
  }
  for (std::string_view part : parts) {
    if (!allDigits(part) || part.size() > 3 || (part.size() > 1 && part.front() == '0')) {
      return false;
    }
    int value = 0;
    for (char c : part) {
      value = value * 10 + (c - '0');
    }
    if (value > 255) {
      return false;
    }
  }
  return true;
}

bool isIpv6(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  const std::size_t gap = text.find("::");
  if (gap != std::string_view::npos && text.find("::", gap + 1) != std::string_view::npos) {
    return false;
  }
  // Counts the 16-bit groups on one side of "::"; an embedded IPv4 address (last) counts as two.
  auto countGroups = [](std::string_view side, bool last_side, int* count) {
    *count = 0;
    if (side.empty()) {
      return true;
    }
    std::vector<std::string_view> groups = split(side, ':');
    for (std::size_t i = 0; i < groups.size(); ++i) {
      std::string_view g = groups[i];
      if (last_side && i + 1 == groups.size() && g.find('.') != std::string_view::npos) {
        if (!isIpv4(g)) {
          return false;
        }
        *count += 2;
        continue;
      }
      if (g.empty() || g.size() > 4) {
        return false;
      }
      for (char c : g) {
        if (!isHexDigit(c)) {
          return false;
        }
      }
      *count += 1;
    }
    return true;
  };
  int total = 0;
  if (gap == std::string_view::npos) {
    if (!countGroups(text, true, &total)) {
      return false;
    }
    return total == 8;
  }
  int left = 0;
  int right = 0;
  if (!countGroups(text.substr(0, gap), false, &left) ||
      !countGroups(text.substr(gap + 2), true, &right)) {
    return false;
  }
  return left + right <= 7;
}

std::optional<HostPort> splitHostPort(std::string_view text) {
  HostPort out;
  if (!splitAuthority(text, /*port_required=*/true, &out.host, &out.port)) {
    return std::nullopt;
  }
  return out;
}

std::optional<HttpUrl> parseHttpUrl(std::string_view text, std::string* why) {
  HttpUrl url;
  std::string_view rest;
  if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
#if !defined(PKGXFER_WITH_TLS)
    *why = "TLS was not built into this pkgxfer (the Windows build has no OpenSSL): use http://";
    return std::nullopt;
#endif
    url.https = true;
    rest = text.substr(8);
  } else {
    *why = "the scheme must be http:// or https://";
    return std::nullopt;
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    *why = "a query or fragment is not allowed";
    return std::nullopt;
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  bool has_credentials = false;
  if (!checkAuthority(authority, &has_credentials, &url.host, &url.port)) {
    *why = has_credentials ? "credentials never go in a URL"
                           : "the host or port is not valid (port 1 to 65535)";
    return std::nullopt;
  }
  for (char c : path) {
    if (!isUrlPathChar(c)) {
      *why = "the path contains a character that is not allowed in a URL";
      return std::nullopt;
    }
  }
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  url.path = std::string(path);
  url.normalized =
      std::string(url.https ? "https://" : "http://") + std::string(authority) + url.path;
  return url;
}

std::optional<SmbAddress> parseSmbAddress(std::string_view text, std::string* why) {
  if (!text.starts_with("smb://")) {
    *why = "the scheme must be smb://";
    return std::nullopt;
  }
  std::string_view rest = text.substr(6);
  const std::size_t slash = rest.find('/');
  SmbAddress out;
  bool has_credentials = false;
  if (!checkAuthority(rest.substr(0, slash), &has_credentials, &out.host, &out.port)) {
    *why = has_credentials ? "credentials never go in the address; use \"credentials\""
                           : "the host or port is not valid (port 1 to 65535)";
    return std::nullopt;
  }
  if (slash == std::string_view::npos) {
    *why = "the share name is missing";
    return std::nullopt;
  }
  std::string_view path = rest.substr(slash + 1);
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  std::vector<std::string_view> segments = split(path, '/');
  if (segments.front().empty()) {
    *why = "the share name is missing";
    return std::nullopt;
  }
  for (std::size_t i = 0; i < segments.size(); ++i) {
    std::string_view segment = segments[i];
    if (segment.empty() || segment == "." || segment == "..") {
      *why = "the path has an empty, \".\" or \"..\" segment";
      return std::nullopt;
    }
    for (char c : segment) {
      if (i == 0 ? !isShareChar(c) : (static_cast<unsigned char>(c) < 0x20 || c == '\\')) {
        *why = i == 0 ? "the share name contains a character not allowed in a share name"
                      : "the path contains a control character or a backslash";
        return std::nullopt;
      }
    }
    if (i == 0) {
      out.share = std::string(segment);
    } else {
      out.path += "/";
      out.path += segment;
    }
  }
  return out;
}

std::string fileUrlPath(std::string_view text) {
  if (!text.starts_with("file://")) {
    return "";
  }
  std::string_view rest = text.substr(7);
  // file:///C:/dir -> C:/dir (a Windows drive path).
  if (rest.size() >= 3 && rest[0] == '/' && isAlpha(rest[1]) && rest[2] == ':' &&
      (rest.size() == 3 || rest[3] == '/')) {
    rest.remove_prefix(1);
  }
  return std::string(rest);
}

bool HourRange::covers(int hour) const {
  return wraps() ? (hour >= start || hour < end) : (hour >= start && hour < end);
}

std::optional<HourRange> parseHourRange(std::string_view text) {
  if (text.size() != 5 || !isDigit(text[0]) || !isDigit(text[1]) || text[2] != '-' ||
      !isDigit(text[3]) || !isDigit(text[4])) {
    return std::nullopt;
  }
  HourRange range;
  range.start = (text[0] - '0') * 10 + (text[1] - '0');
  range.end = (text[3] - '0') * 10 + (text[4] - '0');
  if (range.start > 23 || range.end > 24 || range.start == range.end) {
    return std::nullopt;
  }
  return range;
}

bool isName(std::string_view text) {
  if (text.empty() || text.size() > 64) {
    return false;
  }
  for (char c : text) {
    if (!isAlpha(c) && !isDigit(c) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

bool isSiteCode(std::string_view text) {
  if (text.size() != 3) {
    return false;
  }
  for (char c : text) {
    if (!isDigit(c) && !(c >= 'A' && c <= 'Z')) {
      return false;
    }
  }
  return true;
}

bool isEnvVarName(std::string_view text) {
  if (text.empty() || isDigit(text.front())) {
    return false;
  }
  for (char c : text) {
    if (!isAlpha(c) && !isDigit(c) && c != '_') {
      return false;
    }
  }
  return true;
}

bool isTimezoneName(std::string_view text) {
  if (text.empty() || text.size() > 255) {
    return false;
  }
  for (std::string_view segment : split(text, '/')) {
    if (segment.empty() || segment == "." || segment == ".." || segment.front() == '-') {
      return false;
    }
    for (char c : segment) {
      if (!isAlpha(c) && !isDigit(c) && c != '_' && c != '+' && c != '-' && c != '.') {
        return false;
      }
    }
  }
  return text.find("..") == std::string_view::npos;
}

}  // namespace pkgxfer::config::internal
