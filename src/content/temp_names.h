#pragma once

// The one temporary-name scheme of a content library (content_library.h):
//   ".<final name>[.<owner>].<16 hex>.partial"
// next to the final name. Bodies always carry their owner segment when the owner is not empty
// (".<sha256>.<owner>.<16 hex>.partial"); manifests and PkgLib entries have none. Names ending in
// ".tmp" were written by earlier versions and are recognised as temporary too.

#include <optional>
#include <string>
#include <string_view>

namespace pkgxfer::content::internal {

inline constexpr std::string_view kTempSuffix = ".partial";
inline constexpr std::string_view kLegacyTempSuffix = ".tmp";

inline bool isValidOwner(std::string_view owner) {
  if (owner.size() > 64) return false;
  for (char c : owner) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

inline std::string makeTempName(std::string_view final_name, std::string_view owner,
                                std::string_view token) {
  std::string name = ".";
  name += final_name;
  if (!owner.empty()) {
    name += '.';
    name += owner;
  }
  name += '.';
  name += token;
  name += kTempSuffix;
  return name;
}

// Any temporary file of the library, of this scheme or an earlier one.
inline bool isTempName(std::string_view name) {
  if (name.size() < 2 || name.front() != '.') return false;
  return (name.size() > 1 + kTempSuffix.size() && name.ends_with(kTempSuffix)) ||
         (name.size() > 1 + kLegacyTempSuffix.size() && name.ends_with(kLegacyTempSuffix));
}

// The owner of `name` if it is a temporary name of body `sha256` (of this scheme), else nullopt.
inline std::optional<std::string_view> parseBodyTempName(std::string_view name,
                                                         std::string_view sha256) {
  // "." + sha + ["." + owner] + "." + 16 hex + ".partial"
  if (name.size() < 1 + sha256.size() + 1 + 16 + kTempSuffix.size()) return std::nullopt;
  if (name.front() != '.' || name.substr(1, sha256.size()) != sha256) return std::nullopt;
  if (name[1 + sha256.size()] != '.' || !name.ends_with(kTempSuffix)) return std::nullopt;
  std::string_view middle = name.substr(2 + sha256.size());
  middle.remove_suffix(kTempSuffix.size());  // "[<owner>.]<16 hex>"
  if (middle.size() < 16) return std::nullopt;
  for (char c : middle.substr(middle.size() - 16)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  if (middle.size() == 16) return std::string_view();
  if (middle.size() < 18 || middle[middle.size() - 17] != '.') return std::nullopt;
  std::string_view owner = middle.substr(0, middle.size() - 17);
  if (owner.empty() || !isValidOwner(owner)) return std::nullopt;
  return owner;
}

// True for a resumable upload's temporary file of some body: one with an owner (see
// content_library.h), which no sweep deletes.
inline bool isOwnedBodyTempName(std::string_view name) {
  if (name.size() < 1 + 64 || name.front() != '.') return false;
  const std::string_view sha = name.substr(1, 64);
  for (char c : sha) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  auto owner = parseBodyTempName(name, sha);
  return owner && !owner->empty();
}

}  // namespace pkgxfer::content::internal
