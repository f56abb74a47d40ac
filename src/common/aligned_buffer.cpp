#include "pkgxfer/common/aligned_buffer.h"

#include <algorithm>
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
    // The smallest buffer that is large enough, so small leases leave the large buffers to the
    // leases that need them.
    auto best = c.free.end();
    for (auto it = c.free.begin(); it != c.free.end(); ++it) {
      if (it->capacity >= size && (best == c.free.end() || it->capacity < best->capacity)) {
        best = it;
      }
    }
    if (best != c.free.end()) {
      buffer_ = std::move(best->buffer);
      capacity_ = best->capacity;
      c.free.erase(best);
      return;
    }
  }
  buffer_ = makeAlignedBuffer(size);
  capacity_ = size;
}

ScratchBuffer::~ScratchBuffer() {
  if (!buffer_) return;
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  if (c.free.size() < kMaxCached) {
    c.free.push_back({std::move(buffer_), capacity_});
    return;
  }
  // Full: keep the larger buffers, which are the dear ones to make again.
  auto smallest =
      std::min_element(c.free.begin(), c.free.end(),
                       [](const Cached& a, const Cached& b) { return a.capacity < b.capacity; });
  if (smallest->capacity < capacity_) *smallest = {std::move(buffer_), capacity_};
}

}  // namespace pkgxfer
