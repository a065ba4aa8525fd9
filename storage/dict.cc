// storage/dict.cc — see dict.h. The rehash and resize policy follow Redis's
// dict.c (Redis 7.0): grow to the next power of two >= used+1 when used
// reaches the size, shrink to the next power >= used when under 10% full.
#include "storage/dict.h"
#include "storage/heap_counter.h"

#include <xxhash.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <utility>

namespace kvraft::storage {

namespace {

// Chosen once per process; see the header about iteration order.
uint64_t process_seed() {
  static const uint64_t seed = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  return seed;
}

size_t next_power(size_t n) {
  size_t s = Dict::kInitialSize;
  while (s < n)
    s <<= 1;
  return s;
}

Entry** alloc_buckets(size_t n) {
  void* p = counted_calloc(n, sizeof(Entry*));
  if (!p) throw std::bad_alloc();
  return static_cast<Entry**>(p);
}

}  // namespace

uint64_t Dict::hash(std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), process_seed());
}

Dict::~Dict() {
  clear();
}

Dict::Dict(Dict&& o) noexcept {
  *this = std::move(o);
}

Dict& Dict::operator=(Dict&& o) noexcept {
  if (this == &o) return *this;
  clear();
  for (int t = 0; t < 2; ++t) {
    buckets_[t] = std::exchange(o.buckets_[t], nullptr);
    size_[t] = std::exchange(o.size_[t], 0);
    used_[t] = std::exchange(o.used_[t], 0);
  }
  rehash_idx_ = std::exchange(o.rehash_idx_, -1);
  return *this;
}

Entry* Dict::find(std::string_view key) const {
  if (size() == 0) return nullptr;
  uint64_t h = hash(key);
  for (int t = 0; t < 2; ++t) {
    if (!buckets_[t]) continue;
    for (Entry* e = buckets_[t][h & (size_[t] - 1)]; e; e = e->next)
      if (e->key() == key) return e;
    if (!is_rehashing()) break;
  }
  return nullptr;
}

void Dict::prefetch(std::string_view key, int stage) const {
  if (size() == 0) return;
  // While rehashing the key may be in either table; table 1 is the likelier
  // home of a recently written key, but both are cheap to ask for.
  uint64_t h = hash(key);
  for (int t = 0; t < 2; ++t) {
    if (!buckets_[t]) continue;
    Entry* const* slot = &buckets_[t][h & (size_[t] - 1)];
    if (stage == 1) {
      __builtin_prefetch(slot);
    } else if (Entry* e = *slot) {
      __builtin_prefetch(e);
    }
    if (!is_rehashing()) break;
  }
}

void Dict::insert(Entry* e) {
  assert(!find(e->key()) && "Dict::insert of a key already present");
  if (is_rehashing()) rehash(1);
  expand_if_needed();
  // While rehashing, new entries go to the new table so table 0 only drains.
  int t = is_rehashing() ? 1 : 0;
  size_t idx = hash(e->key()) & (size_[t] - 1);
  e->next = buckets_[t][idx];
  buckets_[t][idx] = e;
  used_[t]++;
}

Entry* Dict::unlink(std::string_view key) {
  if (size() == 0) return nullptr;
  if (is_rehashing()) rehash(1);
  uint64_t h = hash(key);
  for (int t = 0; t < 2; ++t) {
    if (!buckets_[t]) continue;
    Entry** link = &buckets_[t][h & (size_[t] - 1)];
    for (; *link; link = &(*link)->next) {
      if ((*link)->key() == key) {
        Entry* e = *link;
        *link = e->next;
        e->next = nullptr;
        used_[t]--;
        shrink_if_needed();
        return e;
      }
    }
    if (!is_rehashing()) break;
  }
  return nullptr;
}

Entry** Dict::link_of(const Entry* target) {
  uint64_t h = hash(target->key());
  for (int t = 0; t < 2; ++t) {
    if (!buckets_[t]) continue;
    for (Entry** link = &buckets_[t][h & (size_[t] - 1)]; *link; link = &(*link)->next)
      if (*link == target) return link;
  }
  return nullptr;
}

void Dict::replace(Entry* old, Entry* replacement) {
  Entry** link = link_of(old);
  if (!link) {
    std::fprintf(stderr, "Dict::replace: entry for key of %zu bytes is not linked\n",
                 old->key().size());
    std::abort();
  }
  replacement->next = old->next;
  *link = replacement;
  old->next = nullptr;
}

void Dict::expand_if_needed() {
  if (is_rehashing()) return;
  if (size_[0] == 0) {
    resize(kInitialSize);
  } else if (used_[0] >= size_[0]) {
    resize(used_[0] + 1);
  }
}

void Dict::shrink_if_needed() {
  if (is_rehashing() || size_[0] <= kInitialSize) return;
  // Redis's HASHTABLE_MIN_FILL: resize when under 10% full.
  if (used_[0] * 100 / size_[0] < 10) resize(used_[0]);
}

void Dict::resize(size_t min_size) {
  size_t n = next_power(min_size);
  if (n == size_[0]) return;
  if (buckets_[0] == nullptr) {
    buckets_[0] = alloc_buckets(n);
    size_[0] = n;
    return;
  }
  buckets_[1] = alloc_buckets(n);
  size_[1] = n;
  used_[1] = 0;
  rehash_idx_ = 0;
}

void Dict::rehash(size_t buckets) {
  size_t empty_visits = buckets * 10;
  while (buckets-- && used_[0] != 0) {
    assert(static_cast<size_t>(rehash_idx_) < size_[0]);
    while (buckets_[0][rehash_idx_] == nullptr) {
      rehash_idx_++;
      if (--empty_visits == 0) return;
    }
    Entry* e = buckets_[0][rehash_idx_];
    size_t mask1 = size_[1] - 1;
    while (e) {
      Entry* next = e->next;
      size_t idx = hash(e->key()) & mask1;
      e->next = buckets_[1][idx];
      buckets_[1][idx] = e;
      used_[0]--;
      used_[1]++;
      e = next;
    }
    buckets_[0][rehash_idx_] = nullptr;
    rehash_idx_++;
  }
  if (used_[0] == 0) {
    counted_free(buckets_[0]);
    buckets_[0] = buckets_[1];
    size_[0] = size_[1];
    used_[0] = used_[1];
    buckets_[1] = nullptr;
    size_[1] = 0;
    used_[1] = 0;
    rehash_idx_ = -1;
  }
}

bool Dict::rehash_step(size_t buckets) {
  if (is_rehashing()) rehash(buckets);
  if (!is_rehashing()) shrink_if_needed();
  return is_rehashing();
}

void Dict::clear() {
  for (int t = 0; t < 2; ++t) {
    for (size_t i = 0; i < size_[t]; ++i) {
      Entry* e = buckets_[t][i];
      while (e) {
        Entry* next = e->next;
        entry_free(e);
        e = next;
      }
    }
    counted_free(buckets_[t]);
    buckets_[t] = nullptr;
    size_[t] = 0;
    used_[t] = 0;
  }
  rehash_idx_ = -1;
}

}  // namespace kvraft::storage
