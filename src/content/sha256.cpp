// The parts of sha256.h every implementation shares; the hashing itself is in sha256_openssl.cpp
// (POSIX) or sha256_cng.cpp (Windows).

#include "pkgxfer/content/sha256.h"

#include <utility>

#include "sha256_digest.h"

namespace pkgxfer::content {

// Moves need only the destructor of the implementation: a moved-from hasher holds no state (and
// reports a failure if used), which every implementation's destructor accepts.
Sha256::Sha256(Sha256&& other) noexcept
    : state_(std::exchange(other.state_, nullptr)), failed_(std::exchange(other.failed_, true)) {}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  if (this != &other) {
    Sha256 replaced(std::move(*this));  // frees this hasher's state at the end of the scope
    state_ = std::exchange(other.state_, nullptr);
    failed_ = std::exchange(other.failed_, true);
  }
  return *this;
}

bool isSha256Hex(std::string_view text) {
  if (text.size() != kSha256HexSize) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<std::string> sha256Hex(std::string_view data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.finishHex();
}

namespace internal {

std::string sha256DigestHex(const unsigned char* digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(kSha256HexSize, '0');
  for (std::size_t i = 0; i < kSha256DigestSize; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0F];
  }
  return hex;
}

}  // namespace internal
}  // namespace pkgxfer::content
