#include "pkgxfer/common/aligned_buffer.h"

#include <mutex>
#include <utility>
#include <vector>

namespace pkgxfer {
namespace {

constexpr std::size_t kMaxCached = 64;

struct Cached {
  AlignedBuffer buffer;
  std::size_t capacity;
};

struct Cache {
  std::mutex mu;
  std::vector<Cached> free;  // guarded by mu
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: leases may end during exit
  return *c;
}

}  // namespace

ScratchBuffer::ScratchBuffer(std::size_t size) {
  if (size == 0) size = 1;
  {
    Cache& c = cache();
    std::lock_guard lock(c.mu);
    // The most recently returned buffer that is large enough: still warm in the cache.
    for (auto it = c.free.rbegin(); it != c.free.rend(); ++it) {
      if (it->capacity >= size) {
        buffer_ = std::move(it->buffer);
        capacity_ = it->capacity;
        c.free.erase(std::next(it).base());
        return;
      }
    }
  }
  buffer_ = makeAlignedBuffer(size);
  capacity_ = size;
}

ScratchBuffer::~ScratchBuffer() {
  if (!buffer_) return;
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  if (c.free.size() < kMaxCached) c.free.push_back({std::move(buffer_), capacity_});
}

}  // namespace pkgxfer
