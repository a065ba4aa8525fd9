// tests/unit/storage_heap_counter_test.cc — the heap byte count behind INFO
// used_memory and maxmemory, and the per-thread cache of small freed chunks
// in front of glibc: the count must stay exact whichever path serves an
// allocation, a cached chunk must be as good as a fresh one, and bursts of
// one size must be served from the cache even after a large allocation
// (which makes glibc consolidate its own small free chunks).
#include <doctest/doctest.h>

#include <malloc.h>

#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "storage/heap_counter.h"

using kvraft::storage::counted_free;
using kvraft::storage::counted_malloc;
using kvraft::storage::heap_cache_enabled;
using kvraft::storage::heap_used_bytes;

namespace {
// What the counter must add for a block: usable bytes plus glibc's header.
size_t charged(void* p) {
  return malloc_usable_size(p) + 8;
}
}  // namespace

TEST_CASE("the count follows every allocation and free, cached or not") {
  const size_t base = heap_used_bytes();
  for (int round = 0; round < 3; ++round) {  // round 1+ is served from the cache
    std::vector<void*> blocks;
    size_t expect = 0;
    for (size_t n = 1; n <= 2000; n += 7) {
      void* p = counted_malloc(n);
      REQUIRE(p != nullptr);
      CHECK(malloc_usable_size(p) >= n);
      std::memset(p, 0xab, n);  // the whole request is writable
      expect += charged(p);
      blocks.push_back(p);
    }
    CHECK(heap_used_bytes() == base + expect);
    for (void* p : blocks)
      counted_free(p);
    CHECK(heap_used_bytes() == base);
  }
}

TEST_CASE("a burst of one size is served again from the freed chunks") {
  if (!heap_cache_enabled()) return;  // sanitizer build: plain malloc
  constexpr int kBurst = 1000;
  std::vector<void*> first;
  for (int i = 0; i < kBurst; ++i)
    first.push_back(counted_malloc(40));
  std::set<void*> freed(first.begin(), first.end());
  for (void* p : first)
    counted_free(p);
  // A large request between the bursts, as a batch vector is in the server:
  // glibc alone would consolidate the freed small chunks here.
  void* big = counted_malloc(64 * 1024);
  int reused = 0;
  std::vector<void*> second;
  for (int i = 0; i < kBurst; ++i) {
    void* p = counted_malloc(40);
    if (freed.count(p)) ++reused;
    second.push_back(p);
  }
  // glibc may hand out a slightly larger chunk than asked for (when the
  // rest would be too small to split off); such a chunk is cached with its
  // own size, so allow for a few.
  CHECK(reused >= kBurst - 10);
  for (void* p : second)
    counted_free(p);
  counted_free(big);
}

TEST_CASE("chunks may be freed by another thread, and a thread's cache ends with it") {
  const size_t base = heap_used_bytes();
  std::vector<void*> blocks;
  for (int i = 0; i < 500; ++i)
    blocks.push_back(counted_malloc(static_cast<size_t>(16 + i % 200)));
  std::thread other([&] {
    for (void* p : blocks)
      counted_free(p);
    // Reuse some in this thread before it exits with its cache.
    for (int i = 0; i < 100; ++i)
      counted_free(counted_malloc(64));
  });
  other.join();
  CHECK(heap_used_bytes() == base);
}
