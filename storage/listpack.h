// storage/listpack.h — a compact sequence of byte strings in one contiguous
// buffer, the building block of the small encodings of lists and hashes
// (Redis's listpack) and of the nodes of a quicklist.
//
// Each element is stored as  varint(len) | bytes | backvarint(len):  a
// LEB128 length in front (to walk forward) and the same length with its
// bytes reversed at the back (to walk backward from the element's end), so
// both ends are O(1) and small elements cost len + 2 bytes. One allocation
// holds the whole sequence, which is what makes small collections cheap:
// no per-element pointer, header or malloc chunk.
//
// Positions are byte offsets of an element's first byte; end() (== bytes())
// is the position past the last element. Offsets are invalidated by any
// insert/erase/replace at or before them. A value passed to a mutator must
// not point into the same listpack (copy it first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvraft::storage {

class Listpack {
 public:
  static constexpr size_t npos = SIZE_MAX;

  size_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Bytes of the encoded elements (the heap block may be larger).
  size_t bytes() const { return buf_.size(); }
  // Bytes the buffer owns on the heap (0 while it fits std::string's
  // inline storage).
  size_t heap_bytes() const;
  size_t end() const { return buf_.size(); }

  // Encoded size of an element of `len` bytes.
  static size_t entry_size(size_t len);

  // First / last element, or npos if empty.
  size_t first() const { return buf_.empty() ? npos : 0; }
  size_t last() const;
  // Element after / before `pos`, or npos. `pos` must be an element.
  size_t next(size_t pos) const;
  size_t prev(size_t pos) const;
  // The element at `pos` (valid until the next mutation).
  std::string_view get(size_t pos) const;
  // Offset of the index-th element (0-based, from the front if index >= 0,
  // -1 is the last); npos if out of range. O(n).
  size_t seek(int64_t index) const;

  // Inserts `value` before the element at `pos` (or at the end when pos ==
  // end()); returns the new element's position.
  size_t insert(size_t pos, std::string_view value);
  void push_back(std::string_view value) { insert(end(), value); }
  void push_front(std::string_view value) { insert(0, value); }
  // Removes the element at `pos`; returns the position of the element that
  // followed it (end() if it was the last).
  size_t erase(size_t pos);
  // Removes `n` consecutive elements starting at `pos`; `n` must not run
  // past the end.
  void erase_range(size_t pos, size_t n);
  // Replaces the element at `pos` with `value`; its position is unchanged.
  void replace(size_t pos, std::string_view value);
  // Moves out the elements from `pos` to the end into a new listpack
  // (splitting a quicklist node).
  Listpack split_at(size_t pos);
  // Appends all elements of `other`.
  void append(const Listpack& other);
  void clear();
  void shrink_to_fit() { buf_.shrink_to_fit(); }

 private:
  std::string buf_;
  // Invariant: count_ is the number of elements encoded in buf_.
  size_t count_ = 0;
};

}  // namespace kvraft::storage
