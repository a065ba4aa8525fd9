// storage/value.cc — building, copying and freeing Entry blocks (value.h).
#include "storage/value.h"
#include "storage/heap_counter.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

namespace kvraft::storage {

namespace {

uint8_t make_bits(ValueType t, Encoding e, bool has_expire) {
  return static_cast<uint8_t>(static_cast<uint8_t>(t) | (static_cast<uint8_t>(e) << 4) |
                              (has_expire ? 0x80 : 0));
}

// Allocates a block for `key` with room for `payload_len` bytes of payload
// and fills in everything but the payload.
Entry* alloc_entry(std::string_view key, ValueType t, Encoding enc, int64_t expire_at_ms,
                   size_t payload_len) {
  if (key.size() > UINT32_MAX) throw std::length_error("key longer than 4 GiB");
  bool has_expire = expire_at_ms != kNoExpire;
  size_t len = sizeof(Entry) + (has_expire ? Entry::kExpireBytes : 0) + key.size() + payload_len;
  void* mem = counted_malloc(len);
  if (!mem) throw std::bad_alloc();
  Entry* e = new (mem)
      Entry{nullptr, static_cast<uint32_t>(key.size()), make_bits(t, enc, has_expire), 0, 0};
  if (has_expire) {
    e->set_expire_at_ms(expire_at_ms);
    e->set_expire_slot(0);
  }
  if (!key.empty()) std::memcpy(const_cast<char*>(e->key_ptr()), key.data(), key.size());
  return e;
}

void put_pointer(Entry* e, const void* p) {
  std::memcpy(e->payload(), &p, sizeof p);
}

}  // namespace

size_t Entry::payload_len() const {
  switch (encoding()) {
    case Encoding::kInt:
      return sizeof(int64_t);
    case Encoding::kEmbstr:
      return small_len;
    case Encoding::kRaw:
    case Encoding::kObject:
      return sizeof(void*);
  }
  return 0;
}

size_t Entry::block_len() const {
  return sizeof(Entry) + (has_expire() ? kExpireBytes : 0) + key_len + payload_len();
}

Entry* entry_new_int(std::string_view key, int64_t value, int64_t expire_at_ms) {
  Entry* e = alloc_entry(key, ValueType::kString, Encoding::kInt, expire_at_ms, sizeof value);
  std::memcpy(e->payload(), &value, sizeof value);
  return e;
}

Entry* entry_new_raw(std::string_view key, std::string value, int64_t expire_at_ms) {
  auto owned = std::make_unique<std::string>(std::move(value));
  Entry* e = alloc_entry(key, ValueType::kString, Encoding::kRaw, expire_at_ms, sizeof(void*));
  put_pointer(e, owned.release());
  return e;
}

Entry* entry_new_string(std::string_view key, std::string_view value, int64_t expire_at_ms,
                        StringHint hint) {
  if (hint == StringHint::kTryInt && value.size() <= 20) {
    int64_t v;
    if (string2ll(value, &v)) return entry_new_int(key, v, expire_at_ms);
  }
  if (hint != StringHint::kRaw && value.size() <= kEmbstrMaxLen) {
    Entry* e = alloc_entry(key, ValueType::kString, Encoding::kEmbstr, expire_at_ms, value.size());
    e->small_len = static_cast<uint8_t>(value.size());
    if (!value.empty()) std::memcpy(e->payload(), value.data(), value.size());
    return e;
  }
  return entry_new_raw(key, std::string(value), expire_at_ms);
}

Entry* entry_new_object(std::string_view key, std::unique_ptr<CompositeValue> value,
                        int64_t expire_at_ms) {
  Entry* e = alloc_entry(key, value->type(), Encoding::kObject, expire_at_ms, sizeof(void*));
  put_pointer(e, value.release());
  return e;
}

Entry* entry_rebuild(Entry* old, std::string_view new_key, bool with_expire, int64_t expire_at_ms) {
  // The new key may alias the old block (renaming to its own key); copy it
  // into the new block before the old one is freed.
  Entry* e = alloc_entry(new_key, old->type(), old->encoding(),
                         with_expire ? expire_at_ms : kNoExpire, old->payload_len());
  e->small_len = old->small_len;
  e->access = old->access;  // renaming or re-expiring is not an access
  std::memcpy(e->payload(), old->payload(), old->payload_len());
  counted_free(old);  // the value moved with the payload bytes
  return e;
}

Entry* entry_clone(const Entry* src, std::string_view new_key, int64_t expire_at_ms) {
  switch (src->encoding()) {
    case Encoding::kInt:
      return entry_new_int(new_key, src->int_value(), expire_at_ms);
    case Encoding::kEmbstr:
      return entry_new_string(new_key, src->embstr_value(), expire_at_ms, StringHint::kNoInt);
    case Encoding::kRaw:
      return entry_new_raw(new_key, *src->raw_value(), expire_at_ms);
    case Encoding::kObject:
      return entry_new_object(new_key, src->object_value()->clone(), expire_at_ms);
  }
  return nullptr;
}

void entry_free(Entry* e) {
  if (!e) return;
  if (e->encoding() == Encoding::kRaw) delete e->raw_value();
  if (e->encoding() == Encoding::kObject) delete e->object_value();
  counted_free(e);
}

std::string_view entry_string(const Entry* e, char* buf) {
  switch (e->encoding()) {
    case Encoding::kInt:
      return {buf, ll2string(buf, e->int_value())};
    case Encoding::kEmbstr:
      return e->embstr_value();
    case Encoding::kRaw:
      return *e->raw_value();
    case Encoding::kObject:
      break;
  }
  return {};
}

size_t entry_string_len(const Entry* e) {
  if (e->encoding() == Encoding::kInt) {
    char buf[kLongStrSize];
    return ll2string(buf, e->int_value());
  }
  char unused[kLongStrSize];
  return entry_string(e, unused).size();
}

std::string_view type_name(ValueType t) {
  switch (t) {
    case ValueType::kString:
      return "string";
    case ValueType::kList:
      return "list";
    case ValueType::kSet:
      return "set";
    case ValueType::kZset:
      return "zset";
    case ValueType::kHash:
      return "hash";
  }
  return "unknown";
}

std::string_view encoding_name(const Entry* e) {
  switch (e->encoding()) {
    case Encoding::kInt:
      return "int";
    case Encoding::kEmbstr:
      return "embstr";
    case Encoding::kRaw:
      return "raw";
    case Encoding::kObject:
      return e->object_value()->encoding_name();
  }
  return "unknown";
}

size_t entry_memory(const Entry* e) {
  size_t n = e->block_len();
  if (e->encoding() == Encoding::kRaw) n += sizeof(std::string) + e->raw_value()->capacity() + 1;
  if (e->encoding() == Encoding::kObject) n += e->object_value()->memory_usage();
  return n;
}

}  // namespace kvraft::storage
