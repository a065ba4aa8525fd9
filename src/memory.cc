// src/memory.cc — the server's global operator new/delete: plain malloc/free
// that also keep storage::heap_used_bytes() (storage/heap_counter.h), so
// INFO used_memory and maxmemory see every C++ allocation the way Redis's
// zmalloc sees its own. Replacing these functions is standard C++; the
// linker takes them from this file for every object of the server binary.
#include <cstdlib>
#include <new>

#include "storage/heap_counter.h"

namespace {

void* allocate(std::size_t n) {
  void* p = kvraft::storage::counted_malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void* allocate_aligned(std::size_t n, std::align_val_t al) {
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  void* p = nullptr;
  if (posix_memalign(&p, a, n ? n : 1) != 0) throw std::bad_alloc();
  kvraft::storage::heap_note_alloc(p);
  return p;
}

}  // namespace

void* operator new(std::size_t n) {
  return allocate(n);
}
void* operator new[](std::size_t n) {
  return allocate(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return kvraft::storage::counted_malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return kvraft::storage::counted_malloc(n ? n : 1);
}
void* operator new(std::size_t n, std::align_val_t al) {
  return allocate_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al) {
  return allocate_aligned(n, al);
}

void operator delete(void* p) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete[](void* p) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  kvraft::storage::counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  kvraft::storage::counted_free(p);
}
