// Sha256 over Windows CNG (BCrypt): the Windows implementation. The algorithm provider is opened
// once per process; each hasher holds one hash object in a buffer it owns (no allocation inside
// BCrypt), made reusable (BCRYPT_HASH_REUSABLE_FLAG, Windows 8 and later) so that finishHex()
// starts over without creating a new one. Where the flag is refused (Windows 7), the hash object
// is made again after each digest instead.

#include <windows.h>
// After windows.h, which defines the types it uses.
#include <bcrypt.h>

#include <atomic>
#include <cstdio>
#include <new>

#include "pkgxfer/content/sha256.h"
#include "sha256_digest.h"

namespace pkgxfer::content {

namespace {

// The SHA-256 algorithm provider, opened on first use and never closed: hashers are made until
// the process exits.
struct Provider {
  Provider() {
    status = ::BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA256_ALGORITHM, nullptr, 0);
    if (BCRYPT_SUCCESS(status)) {
      ULONG got = 0;
      status =
          ::BCryptGetProperty(alg, BCRYPT_OBJECT_LENGTH, reinterpret_cast<PUCHAR>(&object_size),
                              sizeof object_size, &got, 0);
    }
  }

  BCRYPT_ALG_HANDLE alg = nullptr;
  ULONG object_size = 0;  // bytes of a hash object (BCRYPT_OBJECT_LENGTH)
  NTSTATUS status = 0;    // why opening failed, if it did
  // BCRYPT_HASH_REUSABLE_FLAG accepted; cleared on the first refusal (by any thread).
  std::atomic<bool> reusable{true};
};

Provider& provider() {
  static Provider p;
  return p;
}

std::string ntstatusText(NTSTATUS status) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08lx", static_cast<unsigned long>(status));
  return text;
}

}  // namespace

// The hash handle, followed in the same allocation by the hash object BCrypt works in.
struct Sha256::State {
  BCRYPT_HASH_HANDLE hash = nullptr;
  bool reusable = false;    // made with BCRYPT_HASH_REUSABLE_FLAG
  bool fresh = false;       // nothing hashed since it was made or last finished
  NTSTATUS last_error = 0;  // the failure finishHex() reports

  // The hash object's buffer, after this header (operator new aligns both for any type).
  unsigned char* object() { return reinterpret_cast<unsigned char*>(this) + kObjectOffset; }

  static constexpr std::size_t kObjectOffset = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

  static State* make() {
    Provider& p = provider();
    if (!BCRYPT_SUCCESS(p.status)) return nullptr;
    void* memory = ::operator new(kObjectOffset + p.object_size, std::nothrow);
    return memory == nullptr ? nullptr : new (memory) State();
  }

  static void destroy(State* s) {
    if (s == nullptr) return;
    if (s->hash != nullptr) ::BCryptDestroyHash(s->hash);
    s->~State();
    ::operator delete(s);
  }

  // (Re)creates the hash object in this state's buffer.
  bool create() {
    Provider& p = provider();
    if (hash != nullptr) {
      ::BCryptDestroyHash(hash);
      hash = nullptr;
    }
    constexpr auto kInvalidParameter = static_cast<NTSTATUS>(STATUS_INVALID_PARAMETER);
    NTSTATUS status = kInvalidParameter;
    if (p.reusable.load(std::memory_order_relaxed)) {
      status = ::BCryptCreateHash(p.alg, &hash, object(), p.object_size, nullptr, 0,
                                  BCRYPT_HASH_REUSABLE_FLAG);
      if (status == kInvalidParameter) p.reusable = false;  // Windows 7: never again
    }
    reusable = BCRYPT_SUCCESS(status);
    if (!reusable) {
      status = ::BCryptCreateHash(p.alg, &hash, object(), p.object_size, nullptr, 0, 0);
    }
    if (!BCRYPT_SUCCESS(status)) {
      hash = nullptr;
      last_error = status;
      return false;
    }
    fresh = true;
    return true;
  }
};

Sha256::Sha256() : state_(State::make()) {
  static_assert(sizeof(State) <= State::kObjectOffset);
  restart();
}

Sha256::~Sha256() { State::destroy(state_); }

// A reusable hash object that was just finished is already fresh; anything else is made again.
void Sha256::restart() {
  if (state_ == nullptr) {
    failed_ = true;
    return;
  }
  failed_ = !(state_->hash != nullptr && state_->fresh) && !state_->create();
}

void Sha256::update(const void* data, std::size_t size) {
  if (failed_ || size == 0) return;
  state_->fresh = false;
  auto* p = static_cast<PUCHAR>(const_cast<void*>(data));  // BCrypt only reads it
  while (size > 0) {
    const ULONG chunk = size > 0x40000000 ? 0x40000000 : static_cast<ULONG>(size);
    const NTSTATUS status = ::BCryptHashData(state_->hash, p, chunk, 0);
    if (!BCRYPT_SUCCESS(status)) {
      state_->last_error = status;
      failed_ = true;
      return;
    }
    p += chunk;
    size -= chunk;
  }
}

Result<std::string> Sha256::finishHex() {
  unsigned char digest[internal::kSha256DigestSize];
  bool ok = !failed_;
  if (ok) {
    const NTSTATUS status = ::BCryptFinishHash(state_->hash, digest, sizeof digest, 0);
    ok = BCRYPT_SUCCESS(status);
    if (!ok) state_->last_error = status;
  }
  if (!ok) {
    const NTSTATUS cause = state_ != nullptr ? state_->last_error : provider().status;
    if (state_ != nullptr) state_->fresh = false;  // made again by restart()
    restart();
    return Status::Internal("Windows CNG SHA-256 failed (NTSTATUS " + ntstatusText(cause) + ")");
  }
  // Finished: a reusable object starts over by itself, another cannot be used again.
  state_->fresh = state_->reusable;
  std::string hex = internal::sha256DigestHex(digest);
  restart();
  return hex;
}

}  // namespace pkgxfer::content
