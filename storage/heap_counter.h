// storage/heap_counter.h — the process's count of heap bytes in use, the
// figure INFO reports as used_memory and maxmemory is enforced against.
//
// Why a counter and not mallinfo2(): glibc's mallinfo2 walks every free
// chunk of every arena and takes ~0.2 s on a fragmented heap of a few
// million blocks, far too slow to consult before each write. Instead, like
// Redis's zmalloc, every allocation adds its malloc_usable_size() (plus the
// allocator's 8-byte chunk header) and every free subtracts it:
//   - the storage code that calls malloc directly (Entry blocks, dict
//     tables, hash nodes, set blobs) goes through counted_malloc/free below;
//   - the server binary replaces the global operator new/delete
//     (src/memory.cc) so every C++ allocation is counted too.
// Allocations made by C libraries (libuv, hiredis) are not counted; they are
// small and bounded. The counter is atomic: the disk thread allocates too.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace kvraft::storage {

namespace heap_detail {
extern std::atomic<int64_t> g_heap_bytes;
}

// Bytes of heap in use by counted allocations (never negative).
inline size_t heap_used_bytes() {
  int64_t n = heap_detail::g_heap_bytes.load(std::memory_order_relaxed);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

// Adds / removes the block at `p` (from malloc and friends) to the count.
// Null is ignored.
void heap_note_alloc(void* p);
void heap_note_free(void* p);

// malloc/calloc/free that keep the count. counted_malloc/calloc return null
// on failure like their libc namesakes.
void* counted_malloc(size_t n);
void* counted_calloc(size_t n, size_t size);
void counted_free(void* p);

// Whether counted_malloc serves small requests from the per-thread cache of
// freed chunks (heap_counter.cc explains why); false in sanitizer builds.
bool heap_cache_enabled();

}  // namespace kvraft::storage
