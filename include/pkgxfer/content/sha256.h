#pragma once

// SHA-256 as pkgxfer uses it everywhere: the name of a body in a content library and the check of
// every copy. Computed by OpenSSL's EVP interface (SHA-NI / AVX2 code paths) on POSIX and by
// Windows CNG (BCrypt, the same SHA-NI code) on Windows, chosen by file in CMake
// (sha256_openssl.cpp, sha256_cng.cpp); rendered as 64 lower case hex digits.

#include <cstddef>
#include <string>
#include <string_view>

#include "pkgxfer/common/status.h"

namespace pkgxfer::content {

inline constexpr std::size_t kSha256HexSize = 64;

// True for exactly 64 characters from [0-9a-f]; upper case is not a valid body name.
bool isSha256Hex(std::string_view text);

// A streaming SHA-256: update() any number of times, then finishHex(). Movable, not copyable.
// Not thread-safe: one hasher per thread (they are cheap).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }

  // The digest of everything passed to update() since construction or the last finishHex(), as
  // 64 lower-case hex digits; the hasher then starts over. Internal if the crypto library failed
  // (it does not, short of memory exhaustion).
  Result<std::string> finishHex();

 private:
  // The implementation's hashing state, defined by sha256_openssl.cpp or sha256_cng.cpp (one
  // allocation per hasher either way), so that no OpenSSL or Windows header is needed here.
  struct State;

  void restart();

  State* state_ = nullptr;
  bool failed_ = false;
};

// One-shot helper: the SHA-256 of `data` in lower-case hex.
Result<std::string> sha256Hex(std::string_view data);

}  // namespace pkgxfer::content
