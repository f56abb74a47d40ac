#pragma once

// What the SHA-256 implementations (sha256_openssl.cpp, sha256_cng.cpp) share: the digest size
// and its rendering as hex (sha256.cpp).

#include <cstddef>
#include <string>

namespace pkgxfer::content::internal {

inline constexpr std::size_t kSha256DigestSize = 32;

// The kSha256DigestSize bytes at `digest` as 64 lower-case hex digits.
std::string sha256DigestHex(const unsigned char* digest);

}  // namespace pkgxfer::content::internal
