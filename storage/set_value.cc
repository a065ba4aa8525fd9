// storage/set_value.cc — set encodings, conversions and the deterministic
// pop order (see set_value.h).
#include "storage/set_value.h"
#include "storage/heap_counter.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace kvraft::storage {

namespace {
// Fixed, cluster-wide key of member_hash (see the header comment on why it
// is not per-process).
constexpr uint64_t kMemberHashSeed = 0x6b7672616674ULL;  // "kvraft"
}  // namespace

uint64_t member_hash(std::string_view member) {
  return XXH3_64bits_withSeed(member.data(), member.size(), kMemberHashSeed);
}

char* blob_new(std::string_view s) {
  char hdr[10];
  size_t n = varint_put(hdr, s.size());
  char* b = static_cast<char*>(counted_malloc(n + s.size()));
  if (!b) throw std::bad_alloc();
  std::memcpy(b, hdr, n);
  if (!s.empty()) std::memcpy(b + n, s.data(), s.size());
  return b;
}

void blob_free(char* b) {
  counted_free(b);
}

std::string_view blob_view(const char* b) {
  size_t used;
  size_t len = static_cast<size_t>(varint_get(b, &used));
  return {b + used, len};
}

size_t blob_memory(const char* b) {
  std::string_view v = blob_view(b);
  return malloc_chunk(static_cast<size_t>(v.data() - b) + v.size());
}

std::unique_ptr<SetValue> SetValue::create(std::string_view first, size_t size_hint) {
  if (string2ll(first, nullptr) && size_hint <= kSetMaxIntsetEntries)
    return std::make_unique<SetValue>(Enc::kIntset);
  if (size_hint <= kSetMaxListpackEntries && first.size() <= kSetMaxListpackValue)
    return std::make_unique<SetValue>(Enc::kListpack);
  auto s = std::make_unique<SetValue>(Enc::kHashtable);
  s->ht_.reserve(size_hint);
  return s;
}

SetValue::~SetValue() {
  ht_.clear(blob_free);
}

std::string_view SetValue::encoding_name() const {
  switch (enc_) {
    case Enc::kIntset:
      return "intset";
    case Enc::kListpack:
      return "listpack";
    case Enc::kHashtable:
      break;
  }
  return "hashtable";
}

std::unique_ptr<CompositeValue> SetValue::clone() const {
  auto c = std::make_unique<SetValue>(enc_);
  c->ints_ = ints_;
  c->lp_ = lp_;
  c->lp_count_ = lp_count_;
  if (enc_ == Enc::kHashtable) {
    c->ht_.reserve(ht_.size());
    ht_.for_each([&](const char* b) { c->ht_.insert(blob_new(blob_view(b))); });
  }
  return c;
}

size_t SetValue::memory_usage() const {
  size_t n = sizeof(*this);
  if (ints_.capacity()) n += malloc_chunk(ints_.capacity() * sizeof(int64_t));
  if (lp_.capacity() > 15) n += malloc_chunk(lp_.capacity() + 1);
  n += ht_.table_bytes();
  ht_.for_each([&](const char* b) { n += blob_memory(b); });
  return n;
}

size_t SetValue::size() const {
  switch (enc_) {
    case Enc::kIntset:
      return ints_.size();
    case Enc::kListpack:
      return lp_count_;
    case Enc::kHashtable:
      break;
  }
  return ht_.size();
}

bool SetValue::intset_find(int64_t v, size_t* pos) const {
  auto it = std::lower_bound(ints_.begin(), ints_.end(), v);
  *pos = static_cast<size_t>(it - ints_.begin());
  return it != ints_.end() && *it == v;
}

size_t SetValue::listpack_find(std::string_view member) const {
  for (size_t off = 0; off < lp_.size();) {
    size_t used;
    size_t len = static_cast<size_t>(varint_get(lp_.data() + off, &used));
    if (std::string_view(lp_.data() + off + used, len) == member) return off;
    off += used + len;
  }
  return std::string::npos;
}

void SetValue::listpack_append(std::string_view member) {
  char hdr[10];
  lp_.append(hdr, varint_put(hdr, member.size()));
  lp_.append(member);
  ++lp_count_;
}

bool SetValue::contains(std::string_view member) const {
  switch (enc_) {
    case Enc::kIntset: {
      int64_t v;
      size_t pos;
      return string2ll(member, &v) && intset_find(v, &pos);
    }
    case Enc::kListpack:
      return listpack_find(member) != std::string::npos;
    case Enc::kHashtable:
      break;
  }
  return ht_.find(member) != nullptr;
}

bool SetValue::add(std::string_view member) {
  if (enc_ == Enc::kIntset) {
    int64_t v;
    if (string2ll(member, &v)) {
      size_t pos;
      if (intset_find(v, &pos)) return false;
      ints_.insert(ints_.begin() + static_cast<ptrdiff_t>(pos), v);
      // Redis's maybeConvertIntset.
      if (ints_.size() > kSetMaxIntsetEntries) convert(Enc::kHashtable, ints_.size());
      return true;
    }
    // A non-integer: listpack if the result still fits its limits (every
    // integer renders in at most 20 bytes, below kSetMaxListpackValue).
    if (ints_.size() + 1 <= kSetMaxListpackEntries && member.size() <= kSetMaxListpackValue)
      convert(Enc::kListpack);
    else
      convert(Enc::kHashtable, ints_.size() + 1);
  }
  if (enc_ == Enc::kListpack) {
    if (listpack_find(member) != std::string::npos) return false;
    if (lp_count_ + 1 > kSetMaxListpackEntries || member.size() > kSetMaxListpackValue) {
      convert(Enc::kHashtable, lp_count_ + 1);
    } else {
      listpack_append(member);
      return true;
    }
  }
  if (ht_.find(member)) return false;
  char* b = blob_new(member);
  try {
    ht_.insert(b);
  } catch (...) {
    blob_free(b);
    throw;
  }
  return true;
}

bool SetValue::remove(std::string_view member) {
  switch (enc_) {
    case Enc::kIntset: {
      int64_t v;
      size_t pos;
      if (!string2ll(member, &v) || !intset_find(v, &pos)) return false;
      ints_.erase(ints_.begin() + static_cast<ptrdiff_t>(pos));
      return true;
    }
    case Enc::kListpack: {
      size_t off = listpack_find(member);
      if (off == std::string::npos) return false;
      size_t used;
      size_t len = static_cast<size_t>(varint_get(lp_.data() + off, &used));
      lp_.erase(off, used + len);
      --lp_count_;
      return true;
    }
    case Enc::kHashtable:
      break;
  }
  char* b = ht_.remove(member);
  if (!b) return false;
  blob_free(b);
  return true;
}

void SetValue::convert(Enc enc, size_t expected) {
  if (enc == enc_ || enc < enc_) return;
  if (enc == Enc::kListpack) {
    std::string lp;
    char buf[kLongStrSize];
    char hdr[10];
    for (int64_t v : ints_) {
      size_t n = ll2string(buf, v);
      lp.append(hdr, varint_put(hdr, n));
      lp.append(buf, n);
    }
    lp_ = std::move(lp);
    lp_count_ = ints_.size();
    std::vector<int64_t>().swap(ints_);
    enc_ = Enc::kListpack;
    return;
  }
  // ht_ is empty while a compact encoding is in use, and for_each still
  // reads the compact form until enc_ flips below.
  ht_.reserve(std::max(expected, size()));
  for_each([&](std::string_view m) {
    char* b = blob_new(m);
    try {
      ht_.insert(b);
    } catch (...) {
      blob_free(b);
      throw;
    }
  });
  std::vector<int64_t>().swap(ints_);
  std::string().swap(lp_);
  lp_count_ = 0;
  enc_ = Enc::kHashtable;
}

std::vector<std::string> SetValue::pop_hash_order(uint64_t t, size_t count) {
  std::vector<std::string> out;
  count = std::min(count, size());
  out.reserve(count);
  if (enc_ == Enc::kHashtable) {
    while (out.size() < count) {
      char* b = ht_.successor(t);
      out.emplace_back(blob_view(b));
      ht_.remove(out.back());
      blob_free(b);
    }
    return out;
  }
  // Compact encodings (<= 512 members): the same order by a full pass.
  struct Cand {
    uint64_t d;
    std::string m;
  };
  std::vector<Cand> all;
  all.reserve(size());
  for_each([&](std::string_view m) { all.push_back({member_hash(m) - t, std::string(m)}); });
  auto less = [](const Cand& a, const Cand& b) { return a.d != b.d ? a.d < b.d : a.m < b.m; };
  std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(count), all.end(), less);
  for (size_t i = 0; i < count; ++i) {
    remove(all[i].m);
    out.push_back(std::move(all[i].m));
  }
  return out;
}

}  // namespace kvraft::storage
