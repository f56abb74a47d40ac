#include "json_reader.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <vector>

namespace pkgxfer::config::internal {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxShownChars = 80;

std::string escapeToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const char ca = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i - 1])));
      const char cb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[j - 1])));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (ca == cb ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string durationRange(Duration lo, Duration hi) {
  return "a duration from " + formatDuration(lo) + " to " + formatDuration(hi);
}

std::string sizeText(std::uint64_t bytes) {
  // Sizes in ranges are round binary multiples: show them as written in the config ("64KB").
  static constexpr std::pair<std::uint64_t, const char*> kUnits[] = {
      {1ull << 40, "TB"}, {1ull << 30, "GB"}, {1ull << 20, "MB"}, {1ull << 10, "KB"}};
  for (const auto& [factor, suffix] : kUnits) {
    if (bytes >= factor && bytes % factor == 0) {
      return std::to_string(bytes / factor) + suffix;
    }
  }
  return std::to_string(bytes) + "B";
}

}  // namespace

std::string childPointer(std::string_view parent, std::string_view key) {
  std::string out(parent);
  out += '/';
  out += escapeToken(key);
  return out;
}

std::string childPointer(std::string_view parent, std::size_t index) {
  std::string out(parent);
  out += '/';
  out += std::to_string(index);
  return out;
}

std::string quote(std::string_view text) {
  Json as_json = std::string(text);
  return as_json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string describe(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      return value.empty() ? "an empty object" : "an object";
    case Json::value_t::array:
      return value.empty() ? "an empty array" : "an array";
    case Json::value_t::string: {
      const std::string& text = value.get_ref<const std::string&>();
      if (text.size() <= kMaxShownChars) {
        return quote(text);
      }
      // Cut on a UTF-8 character boundary.
      std::size_t cut = kMaxShownChars;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
        --cut;
      }
      std::string shown = quote(text.substr(0, cut));
      shown.insert(shown.size() - 1, "...");
      return shown;
    }
    default:
      return value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

Status invalid(std::string_view pointer, std::string_view text) {
  std::string message(pointer.empty() ? "/" : pointer);
  message += ": ";
  message += text;
  return Status::InvalidArgument(std::move(message));
}

Status expected(std::string_view pointer, std::string_view what, const Json& got) {
  return invalid(pointer, "expected " + std::string(what) + ", got " + describe(got));
}

std::string joinNames(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) {
      out += ", ";
    }
    out += name;
  }
  return out;
}

std::optional<std::string_view> closestName(std::string_view given,
                                            std::span<const std::string_view> names) {
  std::optional<std::string_view> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (std::string_view name : names) {
    const std::size_t d = editDistance(given, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  // A typo is a few edits away; allow more in long names.
  const std::size_t limit = std::max<std::size_t>(2, given.size() / 4);
  if (!best || best_distance > limit || best_distance >= given.size()) {
    return std::nullopt;
  }
  return best;
}

Status checkObject(const Json& value, std::string_view pointer,
                   std::span<const std::string_view> keys) {
  if (!value.is_object()) {
    return expected(pointer, "an object", value);
  }
  for (const auto& [key, member] : value.items()) {
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      continue;
    }
    const std::string key_pointer = childPointer(pointer, key);
    if (key == "password") {
      return invalid(key_pointer,
                     "passwords never go in the config file; use password_env (the name of an "
                     "environment variable that holds the password)");
    }
    std::string text = "unknown key (expected one of: " + joinNames(keys) + ")";
    if (std::optional<std::string_view> suggestion = closestName(key, keys)) {
      text += "; did you mean " + quote(*suggestion) + "?";
    }
    return invalid(key_pointer, text);
  }
  return Status::Ok();
}

Status checkArray(const Json& value, std::string_view pointer) {
  return value.is_array() ? Status::Ok() : expected(pointer, "an array", value);
}

Status readInt(const Json& value, std::string_view pointer, int lo, int hi, int* out) {
  const std::string what = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (value.is_number_unsigned()) {
    const auto n = value.get<std::uint64_t>();
    if (hi >= 0 && n <= static_cast<std::uint64_t>(hi) && static_cast<std::int64_t>(n) >= lo) {
      *out = static_cast<int>(n);
      return Status::Ok();
    }
  } else if (value.is_number_integer()) {
    const auto n = value.get<std::int64_t>();
    if (n >= lo && n <= hi) {
      *out = static_cast<int>(n);
      return Status::Ok();
    }
  }
  return expected(pointer, what, value);
}

Status readBool(const Json& value, std::string_view pointer, bool* out) {
  if (!value.is_boolean()) {
    return expected(pointer, "true or false", value);
  }
  *out = value.get<bool>();
  return Status::Ok();
}

Status readString(const Json& value, std::string_view pointer, std::string_view what,
                  std::string* out) {
  if (!value.is_string()) {
    return expected(pointer, what, value);
  }
  *out = value.get<std::string>();
  return Status::Ok();
}

Status readDuration(const Json& value, std::string_view pointer, Duration lo, Duration hi,
                    Duration* out) {
  if (value.is_string()) {
    Result<Duration> d = parseDuration(value.get_ref<const std::string&>());
    if (!d.ok()) {
      return expected(pointer,
                      durationRange(lo, hi) + " (digits and a unit ms, s, m, h or d, e.g. \"30s\")",
                      value);
    }
    if (*d >= lo && *d <= hi) {
      *out = *d;
      return Status::Ok();
    }
  }
  return expected(pointer, durationRange(lo, hi), value);
}

Status readSize(const Json& value, std::string_view pointer, std::uint64_t lo, std::uint64_t hi,
                std::uint64_t* out) {
  const std::string what = "a size from " + sizeText(lo) + " to " + sizeText(hi);
  if (value.is_string()) {
    Result<std::uint64_t> s = parseSize(value.get_ref<const std::string&>());
    if (!s.ok()) {
      return expected(pointer, what + " (digits and a unit B, KB, MB or GB, e.g. \"64KB\")", value);
    }
    if (*s >= lo && *s <= hi) {
      *out = *s;
      return Status::Ok();
    }
  }
  return expected(pointer, what, value);
}

fs::path resolvePath(const fs::path& base, const fs::path& path) {
  fs::path out = (path.is_absolute() ? path : base / path).lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) {
    out = out.parent_path();  // "dir/" -> "dir"
  }
  return out;
}

Status readPath(const Json& value, std::string_view pointer, const fs::path& base, fs::path* out) {
  if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
      value.get_ref<const std::string&>().find('\0') != std::string::npos) {
    return expected(pointer, "a path", value);
  }
  *out = resolvePath(base, pathFromUtf8(value.get_ref<const std::string&>()));
  return Status::Ok();
}

const Json* Fields::find(std::string_view key) const {
  auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

Status Fields::require(std::string_view key, std::string_view what) const {
  if (has(key)) {
    return Status::Ok();
  }
  return invalid(pointer(key), "is required (expected " + std::string(what) + ")");
}

Status Fields::readInt(std::string_view key, int lo, int hi, int* out) const {
  const Json* value = find(key);
  return value ? internal::readInt(*value, pointer(key), lo, hi, out) : Status::Ok();
}

Status Fields::readBool(std::string_view key, bool* out) const {
  const Json* value = find(key);
  return value ? internal::readBool(*value, pointer(key), out) : Status::Ok();
}

Status Fields::readString(std::string_view key, std::string_view what, std::string* out) const {
  const Json* value = find(key);
  return value ? internal::readString(*value, pointer(key), what, out) : Status::Ok();
}

Status Fields::readDuration(std::string_view key, Duration lo, Duration hi, Duration* out) const {
  const Json* value = find(key);
  return value ? internal::readDuration(*value, pointer(key), lo, hi, out) : Status::Ok();
}

Status Fields::readSize(std::string_view key, std::uint64_t lo, std::uint64_t hi,
                        std::uint64_t* out) const {
  const Json* value = find(key);
  return value ? internal::readSize(*value, pointer(key), lo, hi, out) : Status::Ok();
}

Status Fields::readPath(std::string_view key, const fs::path& base, fs::path* out) const {
  const Json* value = find(key);
  return value ? internal::readPath(*value, pointer(key), base, out) : Status::Ok();
}

}  // namespace pkgxfer::config::internal
