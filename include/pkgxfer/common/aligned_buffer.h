#pragma once

// An I/O buffer aligned to a page. Alignment matters for speed: SHA-256 consumes 64-byte blocks,
// and a buffer that starts mid cache line (malloc puts large blocks 16 bytes into a page) makes
// every block straddle two lines: 1 GiB hashed in 1.25-1.28 s instead of 0.81-0.83 s on the
// project machine (AMD EPYC, SHA-NI). See docs/performance.md.

#include <cstddef>
#include <memory>
#include <new>

namespace pkgxfer {

inline constexpr std::size_t kBufferAlignment = 4096;

struct AlignedDelete {
  void operator()(char* p) const { ::operator delete[](p, std::align_val_t(kBufferAlignment)); }
};
using AlignedBuffer = std::unique_ptr<char[], AlignedDelete>;

inline AlignedBuffer makeAlignedBuffer(std::size_t size) {
  return AlignedBuffer(
      static_cast<char*>(::operator new[](size, std::align_val_t(kBufferAlignment))));
}

}  // namespace pkgxfer

namespace pkgxfer {

// A page-aligned buffer of at least `size` bytes leased from a process-wide cache for as long as
// this object lives: copies and read-backs of small bodies come by the thousand and allocate
// nothing. Not a thread_local: mingw-w64 runs thread_local destructors after it has already freed
// the thread's TLS block (emutls), so a per-thread buffer's destructor freed a garbage pointer and
// crashed pkgxferd.exe when a pool thread ended. Thread-safe; the cache keeps at most 64 buffers.
class ScratchBuffer {
 public:
  explicit ScratchBuffer(std::size_t size);
  ~ScratchBuffer();
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;

  char* get() const { return buffer_.get(); }
  std::size_t capacity() const { return capacity_; }

 private:
  AlignedBuffer buffer_;
  std::size_t capacity_ = 0;
};

}  // namespace pkgxfer
