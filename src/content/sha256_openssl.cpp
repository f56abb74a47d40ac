// Sha256 over OpenSSL's EVP interface (SHA-NI / AVX2 code paths): the POSIX implementation.

#include <openssl/evp.h>

#include "pkgxfer/content/sha256.h"
#include "sha256_digest.h"

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

// Sha256::State is never defined here: state_ is the EVP_MD_CTX itself, converted to and from
// State* (never used as a State), which saves a second allocation per hasher.
EVP_MD_CTX* ctxOf(void* state) { return static_cast<EVP_MD_CTX*>(state); }

}  // namespace

Sha256::Sha256() : state_(reinterpret_cast<State*>(EVP_MD_CTX_new())) { restart(); }

Sha256::~Sha256() { EVP_MD_CTX_free(ctxOf(state_)); }

void Sha256::restart() {
  failed_ = state_ == nullptr || EVP_DigestInit_ex(ctxOf(state_), sha256Md(), nullptr) != 1;
}

void Sha256::update(const void* data, std::size_t size) {
  if (failed_ || size == 0) return;
  if (EVP_DigestUpdate(ctxOf(state_), data, size) != 1) failed_ = true;
}

Result<std::string> Sha256::finishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (failed_ || EVP_DigestFinal_ex(ctxOf(state_), digest, &len) != 1 ||
      len != internal::kSha256DigestSize) {
    restart();
    return Status::Internal("OpenSSL SHA-256 failed");
  }
  std::string hex = internal::sha256DigestHex(digest);
  restart();
  return hex;
}

}  // namespace pkgxfer::content
