// storage/fingerprint.cc — see fingerprint.h.
#include "storage/fingerprint.h"

#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <new>

#include "storage/hash_value.h"
#include "storage/list_value.h"
#include "storage/set_value.h"
#include "storage/zset_value.h"

namespace kvraft::storage {

namespace {

// A streaming XXH3-128 whose inputs are length-prefixed, so ("ab","c") and
// ("a","bc") never hash alike.
class Hasher {
 public:
  Hasher() {
    state_ = XXH3_createState();
    if (!state_) throw std::bad_alloc();
    XXH3_128bits_reset(state_);
  }
  ~Hasher() { XXH3_freeState(state_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void u64(uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i)
      b[i] = static_cast<unsigned char>(v >> (8 * i));
    XXH3_128bits_update(state_, b, sizeof b);
  }
  void bytes(std::string_view s) {
    u64(s.size());
    XXH3_128bits_update(state_, s.data(), s.size());
  }
  XXH128_hash_t digest() const { return XXH3_128bits_digest(state_); }

 private:
  XXH3_state_t* state_;
};

// An order-independent sum of 128-bit element hashes (each lane mod 2^64):
// the same multiset of elements gives the same sum in any order.
struct UnorderedSum {
  uint64_t low = 0, high = 0;
  void add(std::string_view a, std::string_view b = {}) {
    std::string item;
    item.reserve(16 + a.size() + b.size());
    char len[8];
    uint64_t n = a.size();
    std::memcpy(len, &n, sizeof len);
    item.append(len, sizeof len).append(a);
    n = b.size();
    std::memcpy(len, &n, sizeof len);
    item.append(len, sizeof len).append(b);
    XXH128_hash_t h = XXH3_128bits(item.data(), item.size());
    low += h.low64;
    high += h.high64;
  }
};

uint64_t double_bits(double d) {
  if (d == 0) d = 0;  // -0.0 and 0.0 are the same score
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

}  // namespace

std::string entry_fingerprint(const Entry* e) {
  Hasher h;
  h.u64(static_cast<uint64_t>(e->type()));
  h.u64(static_cast<uint64_t>(e->expire_at_ms()));
  switch (e->type()) {
    case ValueType::kString: {
      char buf[kLongStrSize];
      h.bytes(entry_string(e, buf));
      break;
    }
    case ValueType::kList: {
      const auto* l = static_cast<const ListValue*>(e->object_value());
      h.u64(l->size());
      l->for_range(0, l->size(), [&](std::string_view v) { h.bytes(v); });
      break;
    }
    case ValueType::kZset: {
      const auto* z = static_cast<const ZsetValue*>(e->object_value());
      h.u64(z->size());
      z->for_each([&](std::string_view m, double score) {
        h.bytes(m);
        h.u64(double_bits(score));
      });
      break;
    }
    case ValueType::kSet: {
      const auto* s = static_cast<const SetValue*>(e->object_value());
      UnorderedSum sum;
      s->for_each([&](std::string_view m) { sum.add(m); });
      h.u64(s->size());
      h.u64(sum.low);
      h.u64(sum.high);
      break;
    }
    case ValueType::kHash: {
      const auto* hv = static_cast<const HashValue*>(e->object_value());
      UnorderedSum sum;
      hv->for_each([&](std::string_view f, std::string_view v) { sum.add(f, v); });
      h.u64(hv->size());
      h.u64(sum.low);
      h.u64(sum.high);
      break;
    }
  }
  XXH128_hash_t d = h.digest();
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(d.high64),
                static_cast<unsigned long long>(d.low64));
  return std::string(hex, 32);
}

std::string key_fingerprint(const Keyspace& keyspace, int db, std::string_view key,
                            int64_t now_ms) {
  const Entry* e = keyspace.peek(db, key, now_ms);
  return e ? entry_fingerprint(e) : std::string();
}

}  // namespace kvraft::storage
