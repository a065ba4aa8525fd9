// tests/unit/storage_raft_log_memory_test.cc — RaftLog::buffer_bytes() as
// another thread sees it while append() runs on the disk thread.
//
// The server subtracts buffer_bytes() (with the rest of the Raft log memory)
// from the heap count to get the memory maxmemory counts, and it samples
// that on the loop thread while the disk thread appends. If the encode
// buffer grows before buffer_bytes() says so, every sample taken meanwhile
// counts the new block as keyspace memory: on a loaded machine a follower
// catching up was seen at 1.09-1.18 x maxmemory
// (tests/integration/eviction_test.cc). Waiting for a preemption at the
// wrong moment would make a flaky test; instead this binary replaces the
// global operator new (as the server's src/memory.cc does, so the heap count
// covers std::string) and checks the figure a sampler would compute at the
// exact moment each large block is allocated.
#include <doctest/doctest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "storage/heap_counter.h"
#include "storage/raft_log.h"
#include "tests/support/test_support.h"

using kvraft::raft::Entry;
using kvraft::raft::EntryType;
using kvraft::storage::FsyncMode;
using kvraft::storage::heap_used_bytes;
using kvraft::storage::LogRecovery;
using kvraft::storage::RaftLog;
using kvraft::storage::RaftLogOptions;

namespace {

// Allocations at least this big are the encode buffer's (entries and their
// bookkeeping are far smaller in these tests).
constexpr size_t kLargeBlock = 256 << 10;

// The log being watched; null when no check is wanted.
const RaftLog* g_watched = nullptr;
// The largest heap_used_bytes() - buffer_bytes() seen at the allocation of
// a large block while g_watched was set.
int64_t g_max_counted = INT64_MIN;

int64_t counted_now() {
  return static_cast<int64_t>(heap_used_bytes()) - static_cast<int64_t>(g_watched->buffer_bytes());
}

void* allocate(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  kvraft::storage::heap_note_alloc(p);
  // Right after the heap count grew, as a sampler on another thread could
  // see it.
  if (g_watched && n >= kLargeBlock) g_max_counted = std::max(g_max_counted, counted_now());
  return p;
}

void release(void* p) noexcept {
  kvraft::storage::heap_note_free(p);
  std::free(p);
}

std::vector<Entry> entries_of(uint64_t first, size_t count, size_t bytes) {
  std::vector<Entry> out;
  for (size_t i = 0; i < count; ++i)
    out.push_back(Entry{first + i, 1, EntryType::kNormal, std::string(bytes, 'x')});
  return out;
}

// Appends `batch` to `log` and returns by how much the heap count minus
// buffer_bytes() rose above its value before the append at any large
// allocation during it.
int64_t counted_rise_during_append(RaftLog& log, const std::vector<Entry>& batch) {
  g_watched = &log;
  const int64_t before = counted_now();
  g_max_counted = before;
  log.append(batch);
  g_watched = nullptr;
  return g_max_counted - before;
}

}  // namespace

void* operator new(std::size_t n) {
  return allocate(n);
}
void* operator new[](std::size_t n) {
  return allocate(n);
}
void operator delete(void* p) noexcept {
  release(p);
}
void operator delete[](void* p) noexcept {
  release(p);
}
void operator delete(void* p, std::size_t) noexcept {
  release(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  release(p);
}

TEST_CASE("the encode buffer is in buffer_bytes before its block counts on the heap") {
  kvraft::test::TempDir dir("raft-log-memory");
  RaftLogOptions options;
  options.dir = dir.path();
  options.fsync_mode = FsyncMode::kNever;
  LogRecovery recovery;
  std::unique_ptr<RaftLog> log = RaftLog::open(options, &recovery);

  // A glibc block may be a page larger than the figure for its capacity
  // (mmapped chunks), and append() keeps a few small vectors besides.
  constexpr int64_t kSlack = 64 << 10;
  // The first batch starts a segment (the buffer begins with its header);
  // the second and third need a bigger buffer than the one kept, the third
  // the size of a follower's catch-up batch in eviction_test.
  std::vector<Entry> first = entries_of(1, 64, 16 << 10);    // 1 MiB
  std::vector<Entry> second = entries_of(65, 64, 32 << 10);  // 2 MiB
  std::vector<Entry> third = entries_of(129, 800, 4 << 10);  // 3.2 MiB
  CHECK(counted_rise_during_append(*log, first) <= kSlack);
  CHECK(counted_rise_during_append(*log, second) <= kSlack);
  CHECK(counted_rise_during_append(*log, third) <= kSlack);
  // Kept for the next batch, and reported.
  CHECK(log->buffer_bytes() >= 3u << 20);
  // A smaller batch reuses the buffer: no large allocation, same figure.
  const uint64_t kept = log->buffer_bytes();
  CHECK(counted_rise_during_append(*log, entries_of(929, 8, 4 << 10)) <= kSlack);
  CHECK(log->buffer_bytes() == kept);
}
