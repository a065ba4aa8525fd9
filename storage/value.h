// storage/value.h — how one key and its value live in memory.
//
// Every key is one heap block, an Entry: a 16-byte header, the optional
// expiry, the key bytes and the value, all inline. Small values need no
// second allocation, which is what keeps the per-key cost under Redis's
// (dictEntry + key sds + robj: three blocks). Layout:
//
//   offset 0   Entry* next         hash-chain link, owned by the Dict
//   offset 8   uint32 key_len
//   offset 12  uint8  bits         type (low 4 bits), encoding (bits 4-6),
//                                  has-expiry flag (bit 7)
//   offset 13  uint8  small_len    length of an embstr value
//   offset 14  uint16 access       LRU clock or LFU counter (storage/access.h):
//                                  local metadata, never replicated or saved
//   offset 16  [int64 expire_at_ms, uint32 expire_slot]   only if has-expiry
//   then       key bytes
//   then       payload: int64 (kInt) | small_len bytes (kEmbstr) |
//              std::string* (kRaw) | CompositeValue* (kObject)
//
// Multi-byte fields after the header are unaligned and accessed with memcpy.
// The payload is position-independent bytes (values or owning pointers), so
// re-creating an entry with another key or with/without an expiry is a
// memcpy of the payload plus a free of the old block (entry_rebuild).
//
// String encodings follow Redis's OBJECT ENCODING: "int" for canonical
// decimal int64s of at most 20 bytes, "embstr" up to 44 bytes, "raw" beyond,
// and "raw" for any string modified in place (APPEND, SETRANGE, SETBIT).
// Later value types (lists, hashes, sets, zsets) are kObject payloads: a
// CompositeValue subclass with its own type tag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "storage/strconv.h"

namespace kvraft::storage {

// Redis's object types, in Redis's OBJ_* order (so they map to RDB types).
enum class ValueType : uint8_t { kString = 0, kList = 1, kSet = 2, kZset = 3, kHash = 4 };

// How the payload is stored (see the header comment).
enum class Encoding : uint8_t { kInt = 0, kEmbstr = 1, kRaw = 2, kObject = 3 };

// Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT.
inline constexpr size_t kEmbstrMaxLen = 44;

// "No expiry" in expire_at_ms values (same meaning as -1 in Redis's getExpire).
inline constexpr int64_t kNoExpire = -1;

// A non-string value (list, hash, set, zset): owned by its Entry through a
// pointer. Subclasses are added with the types themselves.
class CompositeValue {
 public:
  virtual ~CompositeValue() = default;
  virtual ValueType type() const = 0;
  // OBJECT ENCODING name ("listpack", "hashtable", ...).
  virtual std::string_view encoding_name() const = 0;
  // A deep copy (COPY).
  virtual std::unique_ptr<CompositeValue> clone() const = 0;
  // Approximate heap bytes held, for memory accounting.
  virtual size_t memory_usage() const = 0;
};

// The header of an entry; the rest of the block follows it (see above).
// Entries are created and destroyed only through the functions below.
struct Entry {
  Entry* next;
  uint32_t key_len;
  uint8_t bits;
  uint8_t small_len;
  // Approximate-LRU/LFU metadata (storage/access.h); set by the Keyspace on
  // each access. Local to this node: replicas may differ, which is fine
  // because only the leader reads it, to choose eviction victims.
  uint16_t access;

  ValueType type() const { return static_cast<ValueType>(bits & 0x0f); }
  Encoding encoding() const { return static_cast<Encoding>((bits >> 4) & 0x07); }
  bool has_expire() const { return (bits & 0x80) != 0; }

  std::string_view key() const { return {key_ptr(), key_len}; }
  // Absolute unix ms, or kNoExpire.
  int64_t expire_at_ms() const {
    if (!has_expire()) return kNoExpire;
    int64_t v;
    std::memcpy(&v, base() + sizeof(Entry), sizeof v);
    return v;
  }
  // Requires has_expire(). Changing the time never changes the layout.
  void set_expire_at_ms(int64_t when) { std::memcpy(base() + sizeof(Entry), &when, sizeof when); }
  // Position in the owning database's expiry index; requires has_expire().
  uint32_t expire_slot() const {
    uint32_t v;
    std::memcpy(&v, base() + sizeof(Entry) + 8, sizeof v);
    return v;
  }
  void set_expire_slot(uint32_t slot) {
    std::memcpy(base() + sizeof(Entry) + 8, &slot, sizeof slot);
  }

  // Payload accessors; each requires the matching encoding.
  int64_t int_value() const {
    int64_t v;
    std::memcpy(&v, payload(), sizeof v);
    return v;
  }
  // Requires the int encoding; the layout does not change.
  void set_int_value(int64_t v) { std::memcpy(payload(), &v, sizeof v); }
  std::string_view embstr_value() const { return {payload(), small_len}; }
  std::string* raw_value() const {
    std::string* p;
    std::memcpy(&p, payload(), sizeof p);
    return p;
  }
  CompositeValue* object_value() const {
    CompositeValue* p;
    std::memcpy(&p, payload(), sizeof p);
    return p;
  }

  // Bytes of the payload for this encoding.
  size_t payload_len() const;
  // Bytes of the whole block (header + expiry + key + payload).
  size_t block_len() const;

  const char* base() const { return reinterpret_cast<const char*>(this); }
  char* base() { return reinterpret_cast<char*>(this); }
  static constexpr size_t kExpireBytes = 12;
  const char* key_ptr() const { return base() + sizeof(Entry) + (has_expire() ? kExpireBytes : 0); }
  const char* payload() const { return key_ptr() + key_len; }
  char* payload() { return const_cast<char*>(key_ptr()) + key_len; }
};
static_assert(sizeof(Entry) == 16, "Entry header must stay 16 bytes");

// How a new string value is encoded.
enum class StringHint {
  kTryInt,  // Redis's tryObjectEncoding: int if canonical int64, else embstr/raw
  kNoInt,   // createStringObject: embstr up to 44 bytes, else raw (INCRBYFLOAT)
  kRaw,     // always raw (a string that will be modified in place)
};

// Creates a string entry. `expire_at_ms` is kNoExpire or an absolute time
// (the expire_slot is left 0 for the keyspace to set). Throws std::bad_alloc
// on allocation failure; the caller owns the result (entry_free).
Entry* entry_new_string(std::string_view key, std::string_view value, int64_t expire_at_ms,
                        StringHint hint = StringHint::kTryInt);
// Creates an int-encoded string entry (INCR and friends).
Entry* entry_new_int(std::string_view key, int64_t value, int64_t expire_at_ms);
// Creates a raw string entry taking ownership of `value`.
Entry* entry_new_raw(std::string_view key, std::string value, int64_t expire_at_ms);
// Creates an entry holding a composite value (takes ownership).
Entry* entry_new_object(std::string_view key, std::unique_ptr<CompositeValue> value,
                        int64_t expire_at_ms);

// Moves `old`'s value into a new block with key `new_key` and expiry presence
// `with_expire` (its time set to `expire_at_ms` when present), then frees
// `old`'s block without touching the value. `next` of the result is null.
Entry* entry_rebuild(Entry* old, std::string_view new_key, bool with_expire, int64_t expire_at_ms);

// A deep copy of `e` (value included) under `new_key` with the given expiry.
Entry* entry_clone(const Entry* e, std::string_view new_key, int64_t expire_at_ms);

// Frees the block and the value it owns. Null is ignored.
void entry_free(Entry* e);

// The string value of a kString entry. For kInt the digits are rendered into
// `buf` (kLongStrSize bytes) and the view points there.
std::string_view entry_string(const Entry* e, char* buf);
// Length of the string value (digits for kInt) without rendering it.
size_t entry_string_len(const Entry* e);

// Redis's type name for TYPE and SCAN TYPE ("string", "list", ...).
std::string_view type_name(ValueType t);
// OBJECT ENCODING's answer for `e`.
std::string_view encoding_name(const Entry* e);

// Heap bytes `e` accounts for: its block plus what its value owns.
size_t entry_memory(const Entry* e);

}  // namespace kvraft::storage
