#pragma once

// Typed reading of a parsed JSON document, one value at a time, with errors that start with the
// value's JSON pointer (RFC 6901) and say what was expected and what was found:
//   "/distribution/retry_count: expected an integer from 0 to 1000, got -1".
// Private to src/config, the only code that includes nlohmann/json. Nothing here throws.

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pkgxfer/common/status.h"
#include "pkgxfer/common/text.h"
#include "pkgxfer/common/units.h"

namespace pkgxfer::config::internal {

// Objects keep their keys in document order, so "the first error" follows the text.
using Json = nlohmann::ordered_json;

// RFC 6901: "~" is written "~0" and "/" is written "~1" inside a reference token.
std::string childPointer(std::string_view parent, std::string_view key);
std::string childPointer(std::string_view parent, std::size_t index);

// How a value appears in a message: 0, true, null, "text" (quoted, shortened), an object, an
// array, an empty array.
std::string describe(const Json& value);
std::string quote(std::string_view text);

// "<pointer>: <text>" as InvalidArgument; the root's empty pointer is shown as "/".
Status invalid(std::string_view pointer, std::string_view text);
// "<pointer>: expected <what>, got <describe(got)>".
Status expected(std::string_view pointer, std::string_view what, const Json& got);

// "a, b, c".
std::string joinNames(std::span<const std::string_view> names);
// The name closest to `given` by edit distance, if close enough to be a likely typo.
std::optional<std::string_view> closestName(std::string_view given,
                                            std::span<const std::string_view> names);

// The value is an object whose keys are all in `keys`. An unknown key is reported with the list
// of valid ones and, when one is close, a suggestion. A "password" key gets its own message.
Status checkObject(const Json& value, std::string_view pointer,
                   std::span<const std::string_view> keys);
Status checkArray(const Json& value, std::string_view pointer);

template <typename T>
struct EnumName {
  std::string_view name;
  T value;
};

// Reads the value at one pointer. `out` is written only on success.
Status readInt(const Json& value, std::string_view pointer, int lo, int hi, int* out);
Status readBool(const Json& value, std::string_view pointer, bool* out);
// Any string; `what` describes it in the error ("a URL").
Status readString(const Json& value, std::string_view pointer, std::string_view what,
                  std::string* out);
Status readDuration(const Json& value, std::string_view pointer, Duration lo, Duration hi,
                    Duration* out);
Status readSize(const Json& value, std::string_view pointer, std::uint64_t lo, std::uint64_t hi,
                std::uint64_t* out);
// A non-empty path; a relative one is resolved against `base`. The result is lexically normal and
// has no trailing separator.
Status readPath(const Json& value, std::string_view pointer, const std::filesystem::path& base,
                std::filesystem::path* out);

template <typename T, std::size_t N>
Status readEnum(const Json& value, std::string_view pointer, const EnumName<T> (&names)[N],
                T* out) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    for (const EnumName<T>& n : names) {
      if (n.name == text) {
        *out = n.value;
        return Status::Ok();
      }
    }
  }
  std::string what = "one of ";
  for (std::size_t i = 0; i < N; ++i) {
    what += (i == 0 ? "" : ", ") + quote(names[i].name);
  }
  return expected(pointer, what, value);
}

using ::pkgxfer::pathFromUtf8;  // common/text.h
using ::pkgxfer::pathToUtf8;
// Absolute against `base` (unless already absolute), lexically normal, no trailing separator.
std::filesystem::path resolvePath(const std::filesystem::path& base,
                                  const std::filesystem::path& path);

// The members of one JSON object, read by key. Every read is a no-op when the key is absent, so a
// field keeps its default; require() makes a key mandatory.
class Fields {
 public:
  Fields(const Json& object, std::string pointer) : object_(object), pointer_(std::move(pointer)) {}

  const std::string& pointer() const { return pointer_; }
  std::string pointer(std::string_view key) const { return childPointer(pointer_, key); }
  const Json* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // "<pointer>/<key>: is required (expected <what>)" when absent.
  Status require(std::string_view key, std::string_view what) const;

  Status readInt(std::string_view key, int lo, int hi, int* out) const;
  Status readBool(std::string_view key, bool* out) const;
  Status readString(std::string_view key, std::string_view what, std::string* out) const;
  Status readDuration(std::string_view key, Duration lo, Duration hi, Duration* out) const;
  Status readSize(std::string_view key, std::uint64_t lo, std::uint64_t hi,
                  std::uint64_t* out) const;
  Status readPath(std::string_view key, const std::filesystem::path& base,
                  std::filesystem::path* out) const;
  template <typename T, std::size_t N>
  Status readEnum(std::string_view key, const EnumName<T> (&names)[N], T* out) const {
    const Json* value = find(key);
    return value ? internal::readEnum(*value, pointer(key), names, out) : Status::Ok();
  }

 private:
  const Json& object_;
  std::string pointer_;
};

}  // namespace pkgxfer::config::internal
