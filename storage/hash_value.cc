// storage/hash_value.cc — see hash_value.h.
#include "storage/hash_value.h"
#include "storage/heap_counter.h"

#include <xxhash.h>

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

namespace kvraft::storage {

namespace {

size_t chunk(size_t n) {
  size_t c = (n + 8 + 15) & ~size_t{15};
  return c < 32 ? 32 : c;
}

uint64_t seed() {
  static const uint64_t s = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  return s;
}

uint64_t rev(uint64_t v) {
  v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
  v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
  v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
  v = ((v >> 8) & 0x00FF00FF00FF00FFULL) | ((v & 0x00FF00FF00FF00FFULL) << 8);
  v = ((v >> 16) & 0x0000FFFF0000FFFFULL) | ((v & 0x0000FFFF0000FFFFULL) << 16);
  return (v >> 32) | (v << 32);
}

}  // namespace

// One field of the hashtable encoding: header, field bytes, value bytes.
struct HashValue::Node {
  Node* next;
  uint32_t flen;
  uint32_t vlen;
  // flen + vlen bytes follow.
  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  std::string_view field() const { return {data(), flen}; }
  std::string_view value() const { return {data() + flen, vlen}; }
  size_t alloc_size() const { return sizeof(Node) + flen + vlen; }

  static Node* make(std::string_view f, std::string_view v) {
    void* mem = counted_malloc(sizeof(Node) + f.size() + v.size());
    if (!mem) throw std::bad_alloc();
    Node* n = static_cast<Node*>(mem);
    n->next = nullptr;
    n->flen = static_cast<uint32_t>(f.size());
    n->vlen = static_cast<uint32_t>(v.size());
    if (!f.empty()) std::memcpy(n->data(), f.data(), f.size());
    if (!v.empty()) std::memcpy(n->data() + f.size(), v.data(), v.size());
    return n;
  }
};

HashValue::~HashValue() {
  for (size_t b = 0; b < nbuckets_; ++b) {
    for (Node* n = buckets_[b]; n;) {
      Node* next = n->next;
      counted_free(n);
      n = next;
    }
  }
  delete[] buckets_;
}

uint64_t HashValue::hash(std::string_view field) {
  return XXH3_64bits_withSeed(field.data(), field.size(), seed());
}

std::unique_ptr<CompositeValue> HashValue::clone() const {
  auto copy = std::make_unique<HashValue>();
  if (!hashtable_) {
    copy->lp_ = lp_;
    return copy;
  }
  copy->hashtable_ = true;
  copy->resize(nbuckets_);
  for_each([&](std::string_view f, std::string_view v) { copy->insert_node(Node::make(f, v)); });
  return copy;
}

size_t HashValue::memory_usage() const {
  size_t n = chunk(sizeof(HashValue));
  if (!hashtable_) return n + (lp_.heap_bytes() ? chunk(lp_.heap_bytes()) : 0);
  return n + (nbuckets_ ? chunk(nbuckets_ * sizeof(Node*)) : 0) + node_bytes_;
}

HashValue::Node* HashValue::find(std::string_view field, size_t* bucket) const {
  if (nbuckets_ == 0) return nullptr;
  size_t b = hash(field) & (nbuckets_ - 1);
  if (bucket) *bucket = b;
  for (Node* n = buckets_[b]; n; n = n->next)
    if (n->field() == field) return n;
  return nullptr;
}

void HashValue::insert_node(Node* n) {
  size_t b = hash(n->field()) & (nbuckets_ - 1);
  n->next = buckets_[b];
  buckets_[b] = n;
  used_++;
  node_bytes_ += chunk(n->alloc_size());
}

void HashValue::resize(size_t buckets) {
  assert(buckets >= 1 && (buckets & (buckets - 1)) == 0);
  Node** fresh = new Node*[buckets]();
  for (size_t b = 0; b < nbuckets_; ++b) {
    for (Node* n = buckets_[b]; n;) {
      Node* next = n->next;
      size_t nb = hash(n->field()) & (buckets - 1);
      n->next = fresh[nb];
      fresh[nb] = n;
      n = next;
    }
  }
  delete[] buckets_;
  buckets_ = fresh;
  nbuckets_ = buckets;
}

void HashValue::convert_to_hashtable() {
  if (hashtable_) return;
  size_t want = 4;
  while (want < lp_.count() / 2)
    want <<= 1;
  resize(want);
  hashtable_ = true;
  for (size_t pos = lp_.first(); pos != Listpack::npos;) {
    size_t vpos = lp_.next(pos);
    insert_node(Node::make(lp_.get(pos), lp_.get(vpos)));
    pos = lp_.next(vpos);
  }
  lp_.clear();
}

void HashValue::prepare_for(size_t len) {
  if (!hashtable_ && len > kListpackMaxValue) convert_to_hashtable();
}

bool HashValue::get(std::string_view field, std::string_view* value) const {
  if (hashtable_) {
    Node* n = find(field, nullptr);
    if (!n) return false;
    *value = n->value();
    return true;
  }
  for (size_t pos = lp_.first(); pos != Listpack::npos;) {
    size_t vpos = lp_.next(pos);
    if (lp_.get(pos) == field) {
      *value = lp_.get(vpos);
      return true;
    }
    pos = lp_.next(vpos);
  }
  return false;
}

bool HashValue::set(std::string_view field, std::string_view value) {
  prepare_for(field.size());
  prepare_for(value.size());
  if (!hashtable_) {
    for (size_t pos = lp_.first(); pos != Listpack::npos;) {
      size_t vpos = lp_.next(pos);
      if (lp_.get(pos) == field) {
        lp_.replace(vpos, value);
        return false;
      }
      pos = lp_.next(vpos);
    }
    lp_.push_back(field);
    lp_.push_back(value);
    if (lp_.count() / 2 > kListpackMaxEntries) convert_to_hashtable();
    return true;
  }
  size_t b = 0;
  Node* old = find(field, &b);
  if (old) {
    if (old->vlen == value.size()) {
      if (!value.empty()) std::memcpy(old->data() + old->flen, value.data(), value.size());
      return false;
    }
    // Re-create the block with the new value in place of the old one.
    Node* n = Node::make(field, value);
    Node** link = &buckets_[b];
    while (*link != old)
      link = &(*link)->next;
    n->next = old->next;
    *link = n;
    node_bytes_ += chunk(n->alloc_size());
    node_bytes_ -= chunk(old->alloc_size());
    counted_free(old);
    return false;
  }
  if (used_ + 1 > nbuckets_) resize(nbuckets_ ? nbuckets_ * 2 : 4);
  insert_node(Node::make(field, value));
  return true;
}

bool HashValue::remove(std::string_view field) {
  if (!hashtable_) {
    for (size_t pos = lp_.first(); pos != Listpack::npos;) {
      size_t vpos = lp_.next(pos);
      if (lp_.get(pos) == field) {
        lp_.erase_range(pos, 2);
        return true;
      }
      pos = lp_.next(vpos);
    }
    return false;
  }
  size_t b = 0;
  Node* n = find(field, &b);
  if (!n) return false;
  Node** link = &buckets_[b];
  while (*link != n)
    link = &(*link)->next;
  *link = n->next;
  node_bytes_ -= chunk(n->alloc_size());
  counted_free(n);
  used_--;
  // Shrink below 10% fill like Redis's htNeedsResize, keeping >= 4 buckets.
  if (nbuckets_ > 4 && used_ * 10 < nbuckets_) {
    size_t want = 4;
    while (want < used_)
      want <<= 1;
    resize(want);
  }
  return true;
}

void HashValue::for_each(const std::function<void(std::string_view, std::string_view)>& fn) const {
  if (!hashtable_) {
    for (size_t pos = lp_.first(); pos != Listpack::npos;) {
      size_t vpos = lp_.next(pos);
      fn(lp_.get(pos), lp_.get(vpos));
      pos = lp_.next(vpos);
    }
    return;
  }
  for (size_t b = 0; b < nbuckets_; ++b)
    for (Node* n = buckets_[b]; n; n = n->next)
      fn(n->field(), n->value());
}

uint64_t HashValue::scan(uint64_t cursor,
                         const std::function<void(std::string_view, std::string_view)>& fn) const {
  if (!hashtable_ || nbuckets_ == 0) {
    for_each(fn);
    return 0;
  }
  uint64_t mask = nbuckets_ - 1;
  for (Node* n = buckets_[cursor & mask]; n; n = n->next)
    fn(n->field(), n->value());
  // Increment the reversed cursor over the unmasked bits (Redis's dictScan).
  cursor |= ~mask;
  cursor = rev(cursor);
  cursor++;
  cursor = rev(cursor);
  return cursor;
}

std::pair<std::string_view, std::string_view> HashValue::random_entry(std::mt19937_64& rng) const {
  assert(!empty());
  if (!hashtable_) {
    size_t i = std::uniform_int_distribution<size_t>(0, size() - 1)(rng);
    size_t pos = lp_.seek(static_cast<int64_t>(2 * i));
    return {lp_.get(pos), lp_.get(lp_.next(pos))};
  }
  const Node* head = nullptr;
  std::uniform_int_distribution<size_t> pick_bucket(0, nbuckets_ - 1);
  while (!head)
    head = buckets_[pick_bucket(rng)];
  size_t len = 0;
  for (const Node* n = head; n; n = n->next)
    len++;
  size_t k = std::uniform_int_distribution<size_t>(0, len - 1)(rng);
  const Node* n = head;
  while (k--)
    n = n->next;
  return {n->field(), n->value()};
}

}  // namespace kvraft::storage
