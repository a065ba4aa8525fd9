// storage/heap_counter.cc — see heap_counter.h.
#include "storage/heap_counter.h"

#include <malloc.h>

#include <cstdlib>

namespace kvraft::storage {

namespace heap_detail {
std::atomic<int64_t> g_heap_bytes{0};
}

namespace {
// glibc's per-chunk header, which malloc_usable_size does not include.
constexpr int64_t kChunkHeader = 8;
}  // namespace

void heap_note_alloc(void* p) {
  if (!p) return;
  heap_detail::g_heap_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)) + kChunkHeader,
                                      std::memory_order_relaxed);
}

void heap_note_free(void* p) {
  if (!p) return;
  heap_detail::g_heap_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)) + kChunkHeader,
                                      std::memory_order_relaxed);
}

void* counted_malloc(size_t n) {
  void* p = std::malloc(n);
  heap_note_alloc(p);
  return p;
}

void* counted_calloc(size_t n, size_t size) {
  void* p = std::calloc(n, size);
  heap_note_alloc(p);
  return p;
}

void counted_free(void* p) {
  heap_note_free(p);
  std::free(p);
}

}  // namespace kvraft::storage
