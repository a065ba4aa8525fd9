// storage/list_value.h — the list type (Redis's t_list.c data side).
//
// Two encodings, as in Redis 7.2 (OBJECT ENCODING answers them):
//   listpack   one Listpack while the list has at most kListpackMaxEntries
//              elements of at most kListpackMaxValue bytes each;
//   quicklist  a doubly linked list of Listpack nodes of up to kNodeBytes
//              each (Redis's list-max-listpack-size -2, 8 KB); an element
//              larger than that sits alone in its own node. Push and pop at
//              both ends are O(1); indexing walks whole nodes by their
//              counts from the nearer end, then inside one node.
// A list converts to quicklist when it outgrows the listpack limits and back
// to listpack when it shrinks to half of them (Redis 7.2's hysteresis), so a
// list hovering at the limit does not convert on every push/pop.
//
// Indices in this interface are 0-based from the head; callers turn Redis's
// negative indices into these. All operations are deterministic (no
// randomness, no clock), as required on the apply path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "storage/listpack.h"
#include "storage/value.h"

namespace kvraft::storage {

class ListValue final : public CompositeValue {
 public:
  static constexpr size_t kListpackMaxEntries = 128;  // list-max-listpack-entries
  static constexpr size_t kListpackMaxValue = 64;     // list-max-listpack-value
  static constexpr size_t kNodeBytes = 8192;          // list-max-listpack-size -2

  ListValue() = default;

  ValueType type() const override { return ValueType::kList; }
  std::string_view encoding_name() const override { return quicklist_ ? "quicklist" : "listpack"; }
  std::unique_ptr<CompositeValue> clone() const override;
  // Heap bytes: this object, the node links and each node's buffer. O(nodes).
  size_t memory_usage() const override;

  bool is_quicklist() const { return quicklist_; }
  size_t size() const { return len_; }
  bool empty() const { return len_ == 0; }
  size_t node_count() const { return nodes_.size(); }

  void push_front(std::string_view value);
  void push_back(std::string_view value);
  // Removes the head/tail element into *out; false if empty.
  bool pop_front(std::string* out);
  bool pop_back(std::string* out);

  // The element at `index` (0 <= index < size()); valid until the next
  // mutation.
  std::string_view at(size_t index) const;
  // Replaces the element at `index` (0 <= index < size()).
  void set(size_t index, std::string_view value);
  // Inserts `value` after (or before) the first element equal to `pivot`,
  // scanning from the head. False if there is no such element.
  bool insert_at_pivot(std::string_view pivot, std::string_view value, bool after);
  // Removes elements equal to `value`: the first `count` from the head if
  // count > 0, from the tail if count < 0, all if 0. Returns how many.
  size_t remove(std::string_view value, int64_t count);
  // Removes `head` elements from the head and `tail` from the tail
  // (head + tail <= size()).
  void trim(size_t head, size_t tail);
  // Calls fn(element) for the `n` elements from `start` on (start + n <=
  // size()), head to tail.
  void for_range(size_t start, size_t n, const std::function<void(std::string_view)>& fn) const;
  // Visits elements from the head (or from the tail if `from_tail`) with
  // their 0-based index from the head, until fn returns false.
  void scan(bool from_tail, const std::function<bool(size_t, std::string_view)>& fn) const;

 private:
  using NodeIt = std::list<Listpack>::iterator;
  using ConstNodeIt = std::list<Listpack>::const_iterator;

  // The node holding `index` and the index inside it.
  ConstNodeIt find_node(size_t index, size_t* offset) const;
  NodeIt find_node(size_t index, size_t* offset);
  // Switches to quicklist when an element of `added_len` bytes was added or
  // the count exceeded the listpack limit; splits `it` if it got too big.
  void after_grow(NodeIt it, size_t added_len);
  // Erases `it` if empty, then converts back to listpack when small enough.
  void after_shrink();
  void maybe_convert_down();
  Listpack& node_for_push(bool front, size_t value_len);

  // Invariants: len_ == sum of node counts. In listpack encoding there is at
  // most one node. In quicklist encoding no node is empty.
  std::list<Listpack> nodes_;
  size_t len_ = 0;
  bool quicklist_ = false;
};

}  // namespace kvraft::storage
