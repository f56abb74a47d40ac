#include "pkgxfer/common/units.h"

#include <cstdio>
#include <iterator>
#include <limits>

namespace pkgxfer {

namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

enum class NumberParse { Ok, BadForm, Overflow };

// Splits "<digits><suffix>" into its number and suffix. BadForm when there is no leading digit,
// Overflow when the number does not fit 64 bits.
NumberParse splitNumber(std::string_view text, std::uint64_t* number, std::string_view* suffix) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  bool overflow = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (n > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      overflow = true;
    } else {
      n = n * 10 + digit;
    }
    ++i;
  }
  if (i == 0) {
    return NumberParse::BadForm;
  }
  *number = n;
  *suffix = text.substr(i);
  return overflow ? NumberParse::Overflow : NumberParse::Ok;
}

bool multiply(std::uint64_t a, std::uint64_t b, std::uint64_t* out) {
  if (b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b) {
    return false;
  }
  *out = a * b;
  return true;
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  out += text;
  out += '"';
  return out;
}

constexpr std::uint64_t kKiB = 1024;

constexpr Unit kSizeUnits[] = {
    {"", 1},
    {"B", 1},
    {"KB", kKiB},
    {"MB", kKiB* kKiB},
    {"GB", kKiB* kKiB* kKiB},
    {"TB", kKiB* kKiB* kKiB* kKiB},
    {"KiB", kKiB},
    {"MiB", kKiB* kKiB},
    {"GiB", kKiB* kKiB* kKiB},
    {"TiB", kKiB* kKiB* kKiB* kKiB},
};

constexpr Unit kDurationUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000},
};

// The Unit whose suffix is `suffix`, or nullptr.
template <std::size_t N>
const Unit* findUnit(const Unit (&units)[N], std::string_view suffix) {
  for (const Unit& unit : units) {
    if (unit.suffix == suffix) {
      return &unit;
    }
  }
  return nullptr;
}

// Parses "<digits><unit>" against `units` into number * factor. A well-formed value that does not
// fit is Overflow; an unknown unit is BadForm even if the number overflowed.
template <std::size_t N>
NumberParse parseWithUnits(std::string_view text, const Unit (&units)[N], std::uint64_t* out) {
  std::uint64_t number = 0;
  std::string_view suffix;
  const NumberParse split = splitNumber(text, &number, &suffix);
  if (split == NumberParse::BadForm) {
    return split;
  }
  const Unit* unit = findUnit(units, suffix);
  if (unit == nullptr) {
    return NumberParse::BadForm;
  }
  if (split == NumberParse::Overflow || !multiply(number, unit->factor, out)) {
    return NumberParse::Overflow;
  }
  return NumberParse::Ok;
}

}  // namespace

Result<Duration> parseDuration(std::string_view text) {
  std::uint64_t ms = 0;
  NumberParse parsed = parseWithUnits(text, kDurationUnits, &ms);
  if (parsed == NumberParse::Ok &&
      ms > static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max())) {
    parsed = NumberParse::Overflow;
  }
  switch (parsed) {
    case NumberParse::Ok:
      return Duration(static_cast<Duration::rep>(ms));
    case NumberParse::Overflow:
      return Status::InvalidArgument("duration " + quoted(text) + " is too large");
    case NumberParse::BadForm:
      break;
  }
  return Status::InvalidArgument("invalid duration " + quoted(text) +
                                 ": expected digits followed by ms, s, m, h or d, e.g. \"30s\"");
}

Result<std::uint64_t> parseSize(std::string_view text) {
  std::uint64_t bytes = 0;
  switch (parseWithUnits(text, kSizeUnits, &bytes)) {
    case NumberParse::Ok:
      return bytes;
    case NumberParse::Overflow:
      return Status::InvalidArgument("size " + quoted(text) + " is too large");
    case NumberParse::BadForm:
      break;
  }
  return Status::InvalidArgument(
      "invalid size " + quoted(text) +
      ": expected digits optionally followed by B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, "
      "e.g. \"64KB\"");
}

Result<std::uint64_t> parseRate(std::string_view text) {
  constexpr std::string_view kPerSecond = "/s";
  if (text.ends_with(kPerSecond)) {
    std::uint64_t bytes = 0;
    switch (parseWithUnits(text.substr(0, text.size() - kPerSecond.size()), kSizeUnits, &bytes)) {
      case NumberParse::Ok:
        return bytes;
      case NumberParse::Overflow:
        return Status::InvalidArgument("rate " + quoted(text) + " is too large");
      case NumberParse::BadForm:
        break;
    }
  }
  return Status::InvalidArgument("invalid rate " + quoted(text) +
                                 ": expected a size followed by /s, e.g. \"10MB/s\"");
}

std::string formatDuration(Duration d) {
  Duration::rep ms = d.count();
  if (ms == 0) {
    return "0s";
  }
  std::string sign;
  std::uint64_t magnitude = 0;
  if (ms < 0) {
    sign = "-";
    // Negating the minimum value would overflow; go through unsigned arithmetic.
    magnitude = ~static_cast<std::uint64_t>(ms) + 1;
  } else {
    magnitude = static_cast<std::uint64_t>(ms);
  }
  for (auto it = std::rbegin(kDurationUnits); it != std::rend(kDurationUnits); ++it) {
    if (magnitude % it->factor == 0) {
      return sign + std::to_string(magnitude / it->factor) + std::string(it->suffix);
    }
  }
  return sign + std::to_string(magnitude) + "ms";  // unreachable: "ms" divides everything
}

std::string formatBytes(std::uint64_t bytes) {
  if (bytes < kKiB) {
    return std::to_string(bytes) + " B";
  }
  static constexpr const char* kUnits[] = {"KB", "MB", "GB", "TB", "PB", "EB"};
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  // Step up while the value would print as 1024.0 or more (e.g. 1048575 bytes is "1.0 MB").
  while (value >= 1023.95 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

}  // namespace pkgxfer
