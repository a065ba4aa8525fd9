// storage/set_value.h — the SET value type (Redis's t_set.c data side) and
// the hash-ordered probe table that sets and sorted sets index members with.
//
// A set has one of Redis 7.2's three encodings, chosen and converted the way
// Redis does (setTypeCreate / setTypeAdd / maybeConvertIntset):
//   intset     sorted int64 array; every member is a canonical integer
//              (string2ll) and there are at most kSetMaxIntsetEntries;
//   listpack   an unordered byte run of [varint len][bytes] entries, for at
//              most kSetMaxListpackEntries members of at most
//              kSetMaxListpackValue bytes;
//   hashtable  a HashOrderedTable of heap blobs ([varint len][bytes]) — one
//              malloc per member plus an 8-byte slot, no per-entry node.
// Conversions only go up (intset -> listpack -> hashtable), as in Redis;
// the *STORE commands build fresh sets and so start small again.
//
// Determinism. SPOP is a replicated write, so which members it pops must
// depend only on the set's logical contents and the record (never on table
// layout, insertion order or per-process seeds). pop_hash_order() pops the
// members whose member_hash() follows a record-derived target `t` on the
// 64-bit hash circle: order by ((member_hash(m) - t) mod 2^64, m). The table
// indexes members by the TOP bits of a fixed-key XXH3 hash, so it is laid out
// in hash order and that successor is found in O(1) expected time (a short
// probe-run walk) — the fast path. Intset and listpack sets (at most 512
// members) compute the same order by a linear pass. Trade-off: a fixed hash
// key means an attacker who knows it could craft members that collide in
// the top bits of one set and lengthen its probe runs (O(n) per operation on
// that set only); a per-process key would defeat the fast path because the
// order must agree between replicas.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/strconv.h"
#include "storage/value.h"

namespace kvraft::storage {

// Redis's set-max-intset-entries, set-max-listpack-entries/-value defaults.
inline constexpr size_t kSetMaxIntsetEntries = 512;
inline constexpr size_t kSetMaxListpackEntries = 128;
inline constexpr size_t kSetMaxListpackValue = 64;

// The fixed-key 64-bit hash of a member (same on every replica and process).
uint64_t member_hash(std::string_view member);

// glibc's chunk size for a malloc of n bytes (memory accounting).
inline size_t malloc_chunk(size_t n) {
  size_t c = (n + 8 + 15) & ~size_t{15};
  return c < 32 ? 32 : c;
}

// ------------------------------------------------------------ blobs
// A member stored on its own: [LEB128 length][bytes], one malloc.
char* blob_new(std::string_view s);
void blob_free(char* b);
std::string_view blob_view(const char* b);
// Heap bytes of the blob (its malloc chunk).
size_t blob_memory(const char* b);

// ------------------------------------------------------ the probe table
// An open-addressing table of pointers to elements, linear probing with
// backward-shift deletion (no tombstones), where an element's home slot is
// the TOP bits of member_hash(key). Because of that, slot order follows hash
// order: this is what makes successor() and a resize-proof scan() cheap.
//
// Traits: `using Elem = ...;` and `static std::string_view key(const Elem*)`.
// The table does not own its elements (callers free them).
//
// Invariants: cap_ is 0 or a power of two >= kMinCap; size_ <= cap_*3/4;
// every element lies in the probe run starting at its home slot, i.e. no
// empty slot sits between an element's home and its position.
template <typename Traits>
class HashOrderedTable {
 public:
  using Elem = typename Traits::Elem;
  static constexpr size_t kMinCap = 8;

  HashOrderedTable() = default;
  ~HashOrderedTable() { delete[] slots_; }
  HashOrderedTable(const HashOrderedTable&) = delete;
  HashOrderedTable& operator=(const HashOrderedTable&) = delete;

  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  // Heap bytes of the slot array.
  size_t table_bytes() const { return cap_ ? malloc_chunk(cap_ * sizeof(Elem*)) : 0; }

  // Makes room for `n` elements without further growth.
  void reserve(size_t n) {
    size_t want = kMinCap;
    while (want * 3 / 4 < n)
      want *= 2;
    if (want > cap_) resize(want);
  }

  Elem* find(std::string_view key) const {
    if (!cap_) return nullptr;
    size_t i = home(member_hash(key));
    for (; slots_[i]; i = (i + 1) & (cap_ - 1))
      if (Traits::key(slots_[i]) == key) return slots_[i];
    return nullptr;
  }

  // Links `e`; its key must not be present.
  void insert(Elem* e) {
    if ((size_ + 1) > cap_ * 3 / 4) resize(cap_ ? cap_ * 2 : kMinCap);
    place(e);
    ++size_;
  }

  // Unlinks and returns the element with this key (not freed), or null.
  Elem* remove(std::string_view key) {
    if (!cap_) return nullptr;
    size_t i = home(member_hash(key));
    for (; slots_[i]; i = (i + 1) & (cap_ - 1)) {
      if (Traits::key(slots_[i]) != key) continue;
      Elem* found = slots_[i];
      erase_slot(i);
      --size_;
      if (cap_ > kMinCap && size_ < cap_ / 8) resize(cap_ / 2);
      return found;
    }
    return nullptr;
  }

  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (size_t i = 0; i < cap_; ++i)
      if (slots_[i]) fn(slots_[i]);
  }

  // Unlinks everything (elements are not freed); keeps no storage.
  template <typename Fn>
  void clear(Fn&& free_elem) {
    for (size_t i = 0; i < cap_; ++i)
      if (slots_[i]) free_elem(slots_[i]);
    delete[] slots_;
    slots_ = nullptr;
    cap_ = size_ = 0;
    shift_ = 64;
  }

  // The element minimizing ((member_hash(key) - t) mod 2^64, key), or null
  // when empty. O(1) expected (see the header comment).
  Elem* successor(uint64_t t) const {
    if (!size_) return nullptr;
    Elem* best = nullptr;
    uint64_t best_d = 0;
    std::string_view best_key;
    size_t start = home(t);
    // Walk probe runs from home(t); after each empty slot p, every element
    // not yet seen has its home after p, hence a distance of at least
    // (p+1)*2^shift - t (in unwrapped arithmetic).
    for (size_t n = 0; n < cap_; ++n) {
      size_t i = (start + n) & (cap_ - 1);
      Elem* e = slots_[i];
      if (!e) {
        if (best) {
          unsigned __int128 bound = (static_cast<unsigned __int128>(start + n + 1) << shift_) - t;
          if (best_d < bound) break;
        }
        continue;
      }
      std::string_view k = Traits::key(e);
      uint64_t d = member_hash(k) - t;
      if (!best || d < best_d || (d == best_d && k < best_key)) {
        best = e;
        best_d = d;
        best_key = k;
      }
    }
    return best;
  }

  // One SCAN step. The cursor is a position on the 64-bit hash circle: the
  // step returns every element whose home is the slot containing the cursor
  // and advances to the next slot's first hash. Because homes are hash
  // prefixes, a cursor stays meaningful across resizes: growing splits a
  // slot's hash range, shrinking merges ranges (elements may then repeat).
  // Returns the next cursor, 0 when done.
  template <typename Fn>
  uint64_t scan(uint64_t cursor, Fn&& fn) const {
    if (!cap_) return 0;
    size_t h = home(cursor);
    for (size_t i = h; slots_[i]; i = (i + 1) & (cap_ - 1))
      if (home(member_hash(Traits::key(slots_[i]))) == h) fn(slots_[i]);
    if (h + 1 == cap_) return 0;
    return static_cast<uint64_t>(h + 1) << shift_;
  }

  // A uniformly random slot's element (retrying empty slots); r() yields
  // random 64-bit values. Requires size() > 0. Load is >= 1/16 by the
  // shrink rule, so this takes O(1) expected tries.
  template <typename Rng>
  Elem* random(Rng&& r) const {
    for (;;) {
      Elem* e = slots_[r() & (cap_ - 1)];
      if (e) return e;
    }
  }

 private:
  size_t home(uint64_t h) const { return shift_ >= 64 ? 0 : static_cast<size_t>(h >> shift_); }

  void place(Elem* e) {
    size_t i = home(member_hash(Traits::key(e)));
    while (slots_[i])
      i = (i + 1) & (cap_ - 1);
    slots_[i] = e;
  }

  // Backward-shift deletion: pull later run members into the hole when
  // their home is not cyclically inside (hole, position].
  void erase_slot(size_t hole) {
    size_t mask = cap_ - 1;
    size_t j = hole;
    for (;;) {
      j = (j + 1) & mask;
      if (!slots_[j]) break;
      size_t k = home(member_hash(Traits::key(slots_[j])));
      bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = nullptr;
  }

  void resize(size_t new_cap) {
    Elem** old = slots_;
    size_t old_cap = cap_;
    slots_ = new Elem*[new_cap]();
    cap_ = new_cap;
    shift_ = 64 - __builtin_ctzll(new_cap);
    for (size_t i = 0; i < old_cap; ++i)
      if (old[i]) place(old[i]);
    delete[] old;
  }

  Elem** slots_ = nullptr;
  size_t cap_ = 0;
  size_t size_ = 0;
  int shift_ = 64;  // 64 - log2(cap_)
};

struct BlobTraits {
  using Elem = char;
  static std::string_view key(const char* b) { return blob_view(b); }
};

// ------------------------------------------------------------ the set
class SetValue final : public CompositeValue {
 public:
  enum class Enc : uint8_t { kIntset, kListpack, kHashtable };

  // An empty set with the encoding Redis's setTypeCreate picks for a set
  // about to receive `first` and about `size_hint` members in total.
  static std::unique_ptr<SetValue> create(std::string_view first, size_t size_hint);
  // An empty set of the given encoding (tests, loaders).
  explicit SetValue(Enc enc = Enc::kIntset) : enc_(enc) {}
  ~SetValue() override;

  ValueType type() const override { return ValueType::kSet; }
  std::string_view encoding_name() const override;
  std::unique_ptr<CompositeValue> clone() const override;
  size_t memory_usage() const override;

  Enc encoding() const { return enc_; }
  size_t size() const;
  bool contains(std::string_view member) const;
  // Adds `member`; returns false if it was already there. Converts the
  // encoding up when Redis would.
  bool add(std::string_view member);
  // Removes `member`; returns whether it was there. Never converts.
  bool remove(std::string_view member);
  // Converts to `enc` (only upwards: intset->listpack->hashtable), reserving
  // room for `expected` members in a hashtable.
  void convert(Enc enc, size_t expected = 0);

  // Calls fn(std::string_view) for every member (order: encoding-specific).
  template <typename Fn>
  void for_each(Fn&& fn) const;

  // A uniformly random member (for SRANDMEMBER, a read). `r` yields random
  // 64-bit values. Requires size() > 0.
  template <typename Rng>
  std::string random_member(Rng&& r) const;

  // SSCAN: intset/listpack sets answer everything at once (next cursor 0),
  // as Redis does; a hashtable steps through HashOrderedTable::scan until
  // about `count` members were emitted.
  template <typename Fn>
  uint64_t scan(uint64_t cursor, size_t count, Fn&& fn) const;

  // Removes and returns the `count` members that come first in the order
  // ((member_hash(m) - t) mod 2^64, m), in that order (see the header
  // comment). Deterministic: depends only on the contents, t and count.
  std::vector<std::string> pop_hash_order(uint64_t t, size_t count);

 private:
  void listpack_append(std::string_view member);
  // Offset of `member` in lp_, or npos.
  size_t listpack_find(std::string_view member) const;
  bool intset_find(int64_t v, size_t* pos) const;

  Enc enc_;
  // Exactly one of these is in use, per enc_. Intset invariant: strictly
  // ascending. Listpack invariant: lp_count_ entries, no duplicates.
  std::vector<int64_t> ints_;
  std::string lp_;
  size_t lp_count_ = 0;
  HashOrderedTable<BlobTraits> ht_;
};

// LEB128 helpers shared by the compact encodings.
inline size_t varint_put(char* out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<char>(v);
  return n;
}
inline uint64_t varint_get(const char* p, size_t* used) {
  uint64_t v = 0;
  size_t n = 0;
  int shift = 0;
  for (;;) {
    unsigned char c = static_cast<unsigned char>(p[n++]);
    v |= static_cast<uint64_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) break;
    shift += 7;
  }
  *used = n;
  return v;
}

template <typename Fn>
void SetValue::for_each(Fn&& fn) const {
  switch (enc_) {
    case Enc::kIntset: {
      char buf[kLongStrSize];
      for (int64_t v : ints_)
        fn(std::string_view(buf, ll2string(buf, v)));
      break;
    }
    case Enc::kListpack:
      for (size_t off = 0; off < lp_.size();) {
        size_t used;
        size_t len = static_cast<size_t>(varint_get(lp_.data() + off, &used));
        fn(std::string_view(lp_.data() + off + used, len));
        off += used + len;
      }
      break;
    case Enc::kHashtable:
      ht_.for_each([&](const char* b) { fn(blob_view(b)); });
      break;
  }
}

template <typename Rng>
std::string SetValue::random_member(Rng&& r) const {
  switch (enc_) {
    case Enc::kIntset:
      return ll2string(ints_[r() % ints_.size()]);
    case Enc::kListpack: {
      size_t pick = r() % lp_count_;
      std::string out;
      for_each([&](std::string_view m) {
        if (pick-- == 0) out.assign(m);
      });
      return out;
    }
    case Enc::kHashtable:
      break;
  }
  return std::string(blob_view(ht_.random(r)));
}

template <typename Fn>
uint64_t SetValue::scan(uint64_t cursor, size_t count, Fn&& fn) const {
  if (enc_ != Enc::kHashtable) {
    for_each(fn);
    return 0;
  }
  size_t emitted = 0;
  // Redis bounds the buckets visited by count*10 as well.
  size_t max_steps = count * 10;
  do {
    cursor = ht_.scan(cursor, [&](const char* b) {
      fn(blob_view(b));
      ++emitted;
    });
  } while (cursor && max_steps-- && emitted < count);
  return cursor;
}

}  // namespace kvraft::storage
