// storage/hash_value.h — the hash type (Redis's t_hash.c data side).
//
// Two encodings, as in Redis (OBJECT ENCODING answers them):
//   listpack   field, value, field, value ... in one Listpack while the hash
//              has at most kListpackMaxEntries fields and no field or value
//              is longer than kListpackMaxValue bytes (Redis's
//              hash-max-listpack-entries / hash-max-listpack-value);
//   hashtable  chained buckets (power-of-two count, load factor <= 1) where
//              each field is ONE malloc block holding the chain link, both
//              lengths, the field and the value: no per-field std::string
//              or separate value block, so a small field costs one ~48-byte
//              chunk plus its share of the bucket array.
// Like Redis, a hash converts to hashtable on growth and never back.
//
// Fields are hashed with XXH3 and a per-process random seed: iteration order
// (HGETALL, HSCAN) differs between processes, so nothing replicated may
// depend on it; all mutations here depend only on their arguments.
//
// The table is resized all at once when it doubles or shrinks (not
// incrementally like the keyspace Dict): an O(n) step on the insert that
// crosses a power of two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string_view>
#include <utility>

#include "storage/listpack.h"
#include "storage/value.h"

namespace kvraft::storage {

class HashValue final : public CompositeValue {
 public:
  static constexpr size_t kListpackMaxEntries = 128;  // hash-max-listpack-entries
  static constexpr size_t kListpackMaxValue = 64;     // hash-max-listpack-value

  HashValue() = default;
  ~HashValue() override;
  HashValue(const HashValue&) = delete;
  HashValue& operator=(const HashValue&) = delete;

  ValueType type() const override { return ValueType::kHash; }
  std::string_view encoding_name() const override { return hashtable_ ? "hashtable" : "listpack"; }
  std::unique_ptr<CompositeValue> clone() const override;
  // O(1): bytes are tracked as fields come and go.
  size_t memory_usage() const override;

  bool is_hashtable() const { return hashtable_; }
  size_t size() const { return hashtable_ ? used_ : lp_.count() / 2; }
  bool empty() const { return size() == 0; }
  size_t bucket_count() const { return nbuckets_; }

  // Redis's hashTypeTryConversion: converts to hashtable if an argument of
  // `len` bytes could not live in a listpack. HSET/HSETNX/HMSET call it for
  // every field and value before changing anything, as Redis does.
  void prepare_for(size_t len);
  // The value of `field` (valid until the next mutation), or false.
  bool get(std::string_view field, std::string_view* value) const;
  bool contains(std::string_view field) const {
    std::string_view v;
    return get(field, &v);
  }
  // Sets `field` to `value`; true if the field was new. Converts to
  // hashtable when the listpack limits are crossed.
  bool set(std::string_view field, std::string_view value);
  // Deletes `field`; true if it existed.
  bool remove(std::string_view field);
  // Calls fn(field, value) for every field.
  void for_each(const std::function<void(std::string_view, std::string_view)>& fn) const;
  // One HSCAN step from `cursor` (Redis's reverse-binary cursor over the
  // buckets): calls fn for the fields of one bucket chain and returns the
  // next cursor (0 when done). A listpack hash is returned whole with
  // cursor 0, as in Redis.
  uint64_t scan(uint64_t cursor,
                const std::function<void(std::string_view, std::string_view)>& fn) const;
  // A uniformly-ish random field (Redis's dictGetFairRandomKey idea:
  // a random non-empty bucket, then a random chain element). Requires
  // !empty().
  std::pair<std::string_view, std::string_view> random_entry(std::mt19937_64& rng) const;

 private:
  struct Node;
  static uint64_t hash(std::string_view field);
  Node* find(std::string_view field, size_t* bucket) const;
  void convert_to_hashtable();
  void resize(size_t buckets);
  void insert_node(Node* n);

  bool hashtable_ = false;
  // listpack encoding: field, value pairs. Invariant: count even.
  Listpack lp_;
  // hashtable encoding. Invariant: nbuckets_ is 0 or a power of two;
  // used_ nodes are chained from buckets_; node_bytes_ is the sum of their
  // malloc chunk sizes.
  Node** buckets_ = nullptr;
  size_t nbuckets_ = 0;
  size_t used_ = 0;
  size_t node_bytes_ = 0;
};

}  // namespace kvraft::storage
