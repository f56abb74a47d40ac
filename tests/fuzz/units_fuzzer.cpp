// libFuzzer target: the duration, size and rate parsers of common/units.h (config values such as
// "30m", "64KB", "10MB/s"). Any input is fed to all three. Properties: no crash or UB; an accepted
// duration formats to a string that parses back to it; a rate is a size followed by "/s".

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "pkgxfer/common/units.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using pkgxfer::fuzz::check;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto d = pkgxfer::parseDuration(text); d.ok()) {
    check(d->count() >= 0, "a parsed duration is not negative");
    const std::string shown = pkgxfer::formatDuration(*d);
    auto again = pkgxfer::parseDuration(shown);
    check(again.ok() && *again == *d, "formatDuration() parses back to the same duration");
  } else {
    check(!d.error().message().empty(), "a rejected duration says why");
  }

  auto s = pkgxfer::parseSize(text);
  if (s.ok()) {
    (void)pkgxfer::formatBytes(*s);
  } else {
    check(!s.error().message().empty(), "a rejected size says why");
  }

  auto r = pkgxfer::parseRate(text);
  if (r.ok()) {
    check(text.ends_with("/s"), "a rate ends with /s");
    auto size = pkgxfer::parseSize(text.substr(0, text.size() - 2));
    check(size.ok() && *size == *r, "a rate is the size before /s");
  }
  return 0;
}
