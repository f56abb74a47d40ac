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
