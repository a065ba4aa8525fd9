// storage/dict.h — the keyspace hash table: chained buckets of Entry blocks
// with Redis-style incremental rehashing.
//
// Two tables: while rehashing, a few buckets move from table 0 to table 1 on
// every insert/delete and in rehash_step() (which the server calls from its
// timer), so growth and shrink never stall a command on an O(n) resize.
// Sizes are powers of two; the table grows at load factor 1 and shrinks when
// less than 10% full. Keys are hashed with XXH3 and a per-process random
// seed, so bucket order differs between processes: nothing replicated may
// depend on iteration order (SCAN, KEYS, RANDOMKEY are reads).
//
// scan() uses Redis's reverse-binary cursor: every entry present from the
// first to the last call of a full scan is returned at least once, even if
// the table grows, shrinks or rehashes in between (entries may repeat).
//
// The dict owns the entries linked into it: clear() and the destructor free
// them. Any mutating call may move entries between buckets; pointers to
// entries stay valid until the entry itself is unlinked or replaced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/value.h"

namespace kvraft::storage {

class Dict {
 public:
  Dict() = default;
  ~Dict();
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;
  Dict(Dict&& other) noexcept;
  Dict& operator=(Dict&& other) noexcept;

  size_t size() const { return used_[0] + used_[1]; }
  bool empty() const { return size() == 0; }
  // Total buckets in both tables (for memory accounting and tests).
  size_t bucket_count() const { return size_[0] + size_[1]; }
  bool is_rehashing() const { return rehash_idx_ >= 0; }

  // The entry with this key, or null. Never mutates (safe on read paths).
  Entry* find(std::string_view key) const;

  // Asks the CPU to start loading what find(key) will touch, so a caller
  // that knows its next keys can overlap their cache misses (a lookup in a
  // large table is two misses: the bucket slot, then the entry). Stage 1
  // loads the bucket slot; stage 2, issued once stage 1 has had time to
  // land, reads the slot and loads the first entry of its chain. Never
  // changes anything and never faults.
  void prefetch(std::string_view key, int stage) const;

  // Links `e` in; its key must not be present (checked in debug builds).
  // May start or advance a rehash.
  void insert(Entry* e);

  // Unlinks and returns the entry with this key (not freed), or null.
  Entry* unlink(std::string_view key);

  // Puts `replacement` where `old` is linked; both must have the same key.
  // `old` is unlinked, not freed.
  void replace(Entry* old, Entry* replacement);

  // Moves up to `buckets` buckets of an ongoing rehash (visiting at most ten
  // times as many empty ones), and starts a shrink if the table is sparse.
  // Returns true if a rehash is still in progress afterwards.
  bool rehash_step(size_t buckets);

  // One SCAN step: calls fn(Entry*) for the entries of the bucket(s) at
  // `cursor` and returns the next cursor (0 when the scan is complete).
  template <typename Fn>
  uint64_t scan(uint64_t cursor, Fn&& fn) const;

  // Calls fn(Entry*) for every entry. fn must not mutate the dict.
  template <typename Fn>
  void for_each(Fn&& fn) const;

  // A random entry (bucket-then-chain choice, as Redis's dictGetRandomKey),
  // or null when empty. `rand` yields uniformly random 64-bit values.
  template <typename Rng>
  Entry* random_entry(Rng&& rand) const;

  // Frees every entry and both tables.
  void clear();

  // Heap bytes of the bucket arrays.
  size_t table_bytes() const { return bucket_count() * sizeof(Entry*); }

  // The per-process hash seed and the hash of a key.
  static uint64_t hash(std::string_view key);

  static constexpr size_t kInitialSize = 4;

 private:
  void expand_if_needed();
  void resize(size_t min_size);
  void rehash(size_t buckets);
  void shrink_if_needed();
  Entry** link_of(const Entry* e);

  // Invariants: size_[i] is 0 or a power of two; buckets_[1] is non-null
  // exactly while rehashing (rehash_idx_ >= 0), and then all buckets of
  // table 0 below rehash_idx_ are empty.
  Entry** buckets_[2] = {nullptr, nullptr};
  size_t size_[2] = {0, 0};
  size_t used_[2] = {0, 0};
  int64_t rehash_idx_ = -1;
};

// ------------------------------------------------------------ templates

namespace dict_detail {
inline uint64_t rev(uint64_t v) {
  v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
  v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
  v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
  return __builtin_bswap64(v);
}
}  // namespace dict_detail

template <typename Fn>
uint64_t Dict::scan(uint64_t v, Fn&& fn) const {
  using dict_detail::rev;
  if (size() == 0) return 0;
  auto emit = [&](Entry* e) {
    while (e) {
      Entry* next = e->next;
      fn(e);
      e = next;
    }
  };
  if (!is_rehashing()) {
    uint64_t m0 = size_[0] - 1;
    emit(buckets_[0][v & m0]);
    // Set the bits above the mask so the increment of the reversed cursor
    // carries into the masked bits only.
    v |= ~m0;
    v = rev(v);
    v++;
    v = rev(v);
  } else {
    int small = size_[0] <= size_[1] ? 0 : 1;
    int big = 1 - small;
    uint64_t m0 = size_[small] - 1;
    uint64_t m1 = size_[big] - 1;
    emit(buckets_[small][v & m0]);
    // Visit every bucket of the larger table that the smaller one's bucket
    // expands to.
    do {
      emit(buckets_[big][v & m1]);
      v |= ~m1;
      v = rev(v);
      v++;
      v = rev(v);
    } while (v & (m0 ^ m1));
  }
  return v;
}

template <typename Fn>
void Dict::for_each(Fn&& fn) const {
  for (int t = 0; t < 2; ++t)
    for (size_t i = 0; i < size_[t]; ++i)
      for (Entry* e = buckets_[t][i]; e;) {
        Entry* next = e->next;
        fn(e);
        e = next;
      }
}

template <typename Rng>
Entry* Dict::random_entry(Rng&& rand) const {
  if (size() == 0) return nullptr;
  Entry* head = nullptr;
  if (is_rehashing()) {
    // Table 0 below rehash_idx_ is empty: draw from the rest of both tables.
    uint64_t lo = static_cast<uint64_t>(rehash_idx_);
    uint64_t span = size_[0] + size_[1] - lo;
    while (!head) {
      uint64_t h = lo + rand() % span;
      head = h >= size_[0] ? buckets_[1][h - size_[0]] : buckets_[0][h];
    }
  } else {
    uint64_t mask = size_[0] - 1;
    while (!head)
      head = buckets_[0][rand() & mask];
  }
  size_t len = 0;
  for (Entry* e = head; e; e = e->next)
    ++len;
  size_t pick = static_cast<size_t>(rand() % len);
  Entry* e = head;
  while (pick--)
    e = e->next;
  return e;
}

}  // namespace kvraft::storage
