// libFuzzer target: the small languages inside config strings (src/config/syntax.h: listen
// addresses, URLs, SMB addresses, hour ranges, names, zone names). Any input is fed to all of
// them. Properties: no crash or UB, and what an accepted value promises holds.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "syntax.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using pkgxfer::fuzz::check;
  namespace internal = pkgxfer::config::internal;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  (void)internal::isIpv4(text);
  (void)internal::isIpv6(text);
  if (auto hp = internal::splitHostPort(text)) {
    check(hp->port >= 1, "an accepted listen address has a port 1..65535");
    check(!hp->host.empty(), "an accepted listen address has a host");
  }
  if (auto hp = pkgxfer::config::parseHostPort(text); hp.ok()) {
    check(hp->port >= 1 && !hp->host.empty(), "parseHostPort() gives a host and a port");
  }

  std::string why;
  if (auto url = internal::parseHttpUrl(text, &why)) {
    check(!url->host.empty(), "an accepted URL has a host");
    check(url->path.empty() || (url->path.front() == '/' && url->path.back() != '/'),
          "a URL's path is empty or starts with '/' and does not end with one");
    std::string again_why;
    auto again = internal::parseHttpUrl(url->normalized, &again_why);
    check(again && again->normalized == url->normalized && again->host == url->host &&
              again->port == url->port && again->path == url->path && again->https == url->https,
          "a normalized URL parses to itself");
  } else {
    check(!why.empty(), "a rejected URL says why");
  }

  why.clear();
  if (auto smb = internal::parseSmbAddress(text, &why)) {
    check(!smb->host.empty() && !smb->share.empty(), "an SMB address has a host and a share");
    check(smb->path.empty() || smb->path.front() == '/', "an SMB path starts with '/'");
  } else {
    check(!why.empty(), "a rejected SMB address says why");
  }

  (void)internal::fileUrlPath(text);

  if (auto range = internal::parseHourRange(text)) {
    check(range->start >= 0 && range->start <= 23 && range->end >= 0 && range->end <= 24 &&
              range->start != range->end,
          "an hour range is 00..23 to 00..24, not empty");
    int covered = 0;
    for (int hour = 0; hour < 24; ++hour) covered += range->covers(hour) ? 1 : 0;
    check(covered >= 1 && covered <= 23 + (range->wraps() ? 0 : 1), "a range covers 1..24 hours");
  }

  (void)internal::isName(text);
  (void)internal::isSiteCode(text);
  (void)internal::isEnvVarName(text);
  if (internal::isTimezoneName(text)) {
    check(!text.starts_with('/') && text.find("..") == std::string_view::npos,
          "a zone name cannot leave the zone folder");
  }
  return 0;
}
