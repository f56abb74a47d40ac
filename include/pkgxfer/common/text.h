#pragma once

// Text helpers every module shares: showing bytes that may not be printable (file names from a
// DP, names in a request) in a message or a log line, checking UTF-8, and random tokens for
// temporary names. Thread-safe.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace pkgxfer {

// `bytes` for a message: bytes that are not printable UTF-8 are shown as \xNN.
std::string displayBytes(std::string_view bytes);
// displayBytes() of a path's UTF-8 form.
std::string displayPath(const std::filesystem::path& path);

// A path from UTF-8 text and back, the same on every OS. Every name pkgxfer holds as text (from
// config, a manifest, a request) becomes a path through here: on Windows, std::filesystem::path's
// std::string constructor does not decode UTF-8 (mingw's libstdc++ turns each byte into one
// UTF-16 unit), and native() is UTF-16 there.
std::filesystem::path pathFromUtf8(std::string_view text);
std::string pathToUtf8(const std::filesystem::path& path);

// Length of the well-formed UTF-8 sequence starting at s[i] (1-4), or 0 if the bytes there are
// not well-formed UTF-8 (overlong forms, surrogates and code points above U+10FFFF are rejected).
// Precondition: i < s.size().
std::size_t utf8SequenceLength(std::string_view s, std::size_t i);

// 16 random lower-case hex digits (64 bits from a per-thread generator seeded from
// std::random_device): unique enough to name a temporary file, not a secret.
std::string randomToken();

}  // namespace pkgxfer
