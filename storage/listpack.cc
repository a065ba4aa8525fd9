// storage/listpack.cc — see listpack.h.
#include "storage/listpack.h"

#include <cassert>
#include <cstring>

namespace kvraft::storage {

namespace {

size_t varint_len(size_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

// Writes LEB128 `v` at p (forward order); returns bytes written.
size_t put_varint(char* p, size_t v) {
  size_t n = 0;
  do {
    unsigned char b = static_cast<unsigned char>(v & 0x7f);
    v >>= 7;
    if (v) b |= 0x80;
    p[n++] = static_cast<char>(b);
  } while (v);
  return n;
}

// Reads a forward LEB128 at p; *n gets its size.
size_t get_varint(const char* p, size_t* n) {
  size_t v = 0;
  unsigned shift = 0;
  size_t i = 0;
  for (;;) {
    unsigned char b = static_cast<unsigned char>(p[i++]);
    v |= static_cast<size_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
    shift += 7;
  }
  *n = i;
  return v;
}

// Reads the back length ending just before `end` (bytes stored reversed);
// *n gets its size.
size_t get_backvarint(const char* end, size_t* n) {
  size_t v = 0;
  unsigned shift = 0;
  size_t i = 0;
  for (;;) {
    unsigned char b = static_cast<unsigned char>(*(end - 1 - i));
    i++;
    v |= static_cast<size_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
    shift += 7;
  }
  *n = i;
  return v;
}

// Encodes one element at p (which has entry_size(value.size()) bytes).
void encode(char* p, std::string_view value) {
  size_t h = put_varint(p, value.size());
  if (!value.empty()) std::memcpy(p + h, value.data(), value.size());
  char tmp[10];
  size_t t = put_varint(tmp, value.size());
  char* back = p + h + value.size();
  for (size_t i = 0; i < t; ++i)
    back[i] = tmp[t - 1 - i];
}

}  // namespace

size_t Listpack::entry_size(size_t len) {
  return 2 * varint_len(len) + len;
}

size_t Listpack::heap_bytes() const {
  // libstdc++ keeps up to 15 bytes inline; beyond, a block of capacity + 1.
  return buf_.capacity() > 15 ? buf_.capacity() + 1 : 0;
}

size_t Listpack::last() const {
  if (buf_.empty()) return npos;
  size_t n;
  size_t len = get_backvarint(buf_.data() + buf_.size(), &n);
  return buf_.size() - entry_size(len);
}

size_t Listpack::next(size_t pos) const {
  size_t n;
  size_t len = get_varint(buf_.data() + pos, &n);
  size_t nxt = pos + 2 * n + len;
  return nxt >= buf_.size() ? npos : nxt;
}

size_t Listpack::prev(size_t pos) const {
  if (pos == 0) return npos;
  size_t n;
  size_t len = get_backvarint(buf_.data() + pos, &n);
  return pos - entry_size(len);
}

std::string_view Listpack::get(size_t pos) const {
  assert(pos < buf_.size());
  size_t n;
  size_t len = get_varint(buf_.data() + pos, &n);
  return {buf_.data() + pos + n, len};
}

size_t Listpack::seek(int64_t index) const {
  if (index >= 0) {
    if (static_cast<uint64_t>(index) >= count_) return npos;
    size_t pos = first();
    for (int64_t i = 0; i < index; ++i)
      pos = next(pos);
    return pos;
  }
  if (static_cast<uint64_t>(-(index + 1)) >= count_) return npos;
  size_t pos = last();
  for (int64_t i = -1; i > index; --i)
    pos = prev(pos);
  return pos;
}

size_t Listpack::insert(size_t pos, std::string_view value) {
  assert(pos <= buf_.size());
  size_t sz = entry_size(value.size());
  buf_.insert(pos, sz, '\0');
  encode(buf_.data() + pos, value);
  count_++;
  return pos;
}

size_t Listpack::erase(size_t pos) {
  size_t n;
  size_t len = get_varint(buf_.data() + pos, &n);
  buf_.erase(pos, 2 * n + len);
  count_--;
  return pos;
}

void Listpack::erase_range(size_t pos, size_t n) {
  size_t end = pos;
  for (size_t i = 0; i < n; ++i) {
    size_t h;
    size_t len = get_varint(buf_.data() + end, &h);
    end += 2 * h + len;
  }
  assert(end <= buf_.size());
  buf_.erase(pos, end - pos);
  count_ -= n;
}

void Listpack::replace(size_t pos, std::string_view value) {
  size_t n;
  size_t len = get_varint(buf_.data() + pos, &n);
  size_t old_sz = 2 * n + len, new_sz = entry_size(value.size());
  if (new_sz != old_sz) {
    buf_.replace(pos, old_sz, new_sz, '\0');
  }
  encode(buf_.data() + pos, value);
}

Listpack Listpack::split_at(size_t pos) {
  Listpack tail;
  for (size_t p = pos; p != npos && p < buf_.size(); p = next(p))
    tail.count_++;
  tail.buf_.assign(buf_, pos, std::string::npos);
  buf_.resize(pos);
  count_ -= tail.count_;
  return tail;
}

void Listpack::append(const Listpack& other) {
  buf_.append(other.buf_);
  count_ += other.count_;
}

void Listpack::clear() {
  std::string().swap(buf_);
  count_ = 0;
}

}  // namespace kvraft::storage
