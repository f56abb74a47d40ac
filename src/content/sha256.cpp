#include "pkgxfer/content/sha256.h"

#include <openssl/evp.h>

namespace pkgxfer::content {

namespace {

// Fetch the implementation once: in OpenSSL 3 an implicit fetch through EVP_sha256() on every
// init costs a lock and a lookup, which shows when hashing 100k small files.
const EVP_MD* sha256Md() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
  }();
  return md;
}

}  // namespace

bool isSha256Hex(std::string_view text) {
  if (text.size() != kSha256HexSize) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { restart(); }

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

Sha256::Sha256(Sha256&& other) noexcept : ctx_(other.ctx_), failed_(other.failed_) {
  other.ctx_ = nullptr;
  other.failed_ = true;
}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = other.ctx_;
    failed_ = other.failed_;
    other.ctx_ = nullptr;
    other.failed_ = true;
  }
  return *this;
}

void Sha256::restart() {
  failed_ = ctx_ == nullptr || EVP_DigestInit_ex(ctx_, sha256Md(), nullptr) != 1;
}

void Sha256::update(const void* data, std::size_t size) {
  if (failed_ || size == 0) return;
  if (EVP_DigestUpdate(ctx_, data, size) != 1) failed_ = true;
}

Result<std::string> Sha256::finishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (failed_ || EVP_DigestFinal_ex(ctx_, digest, &len) != 1 || len != 32) {
    restart();
    return Status::Internal("OpenSSL SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(kSha256HexSize, '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0F];
  }
  restart();
  return hex;
}

Result<std::string> sha256Hex(std::string_view data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.finishHex();
}

}  // namespace pkgxfer::content
