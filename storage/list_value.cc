// storage/list_value.cc — see list_value.h.
#include "storage/list_value.h"

#include <cassert>

namespace kvraft::storage {

namespace {

// glibc chunk of an n-byte malloc (see keyspace.cc).
size_t chunk(size_t n) {
  size_t c = (n + 8 + 15) & ~size_t{15};
  return c < 32 ? 32 : c;
}

// std::list node: two links plus the Listpack.
constexpr size_t kListNodeBytes = 2 * sizeof(void*) + sizeof(Listpack);

}  // namespace

std::unique_ptr<CompositeValue> ListValue::clone() const {
  auto copy = std::make_unique<ListValue>();
  copy->nodes_ = nodes_;
  copy->len_ = len_;
  copy->quicklist_ = quicklist_;
  return copy;
}

size_t ListValue::memory_usage() const {
  size_t n = chunk(sizeof(ListValue));
  for (const Listpack& lp : nodes_) {
    n += chunk(kListNodeBytes);
    if (size_t h = lp.heap_bytes()) n += chunk(h);
  }
  return n;
}

Listpack& ListValue::node_for_push(bool front, size_t value_len) {
  if (nodes_.empty()) return nodes_.emplace_back();
  if (!quicklist_) return nodes_.front();
  Listpack& end = front ? nodes_.front() : nodes_.back();
  if (end.bytes() + Listpack::entry_size(value_len) <= kNodeBytes) return end;
  // The node is full: give back the slack of its doubling growth (up to
  // half its block), since it will not grow at this end again.
  end.shrink_to_fit();
  return front ? nodes_.emplace_front() : nodes_.emplace_back();
}

void ListValue::push_front(std::string_view value) {
  // In listpack encoding a push that breaks the limits converts first, so
  // the node the element lands in is chosen by quicklist rules.
  if (!quicklist_ && (value.size() > kListpackMaxValue || len_ + 1 > kListpackMaxEntries))
    quicklist_ = true;
  node_for_push(true, value.size()).push_front(value);
  len_++;
}

void ListValue::push_back(std::string_view value) {
  if (!quicklist_ && (value.size() > kListpackMaxValue || len_ + 1 > kListpackMaxEntries))
    quicklist_ = true;
  node_for_push(false, value.size()).push_back(value);
  len_++;
}

bool ListValue::pop_front(std::string* out) {
  if (len_ == 0) return false;
  Listpack& lp = nodes_.front();
  out->assign(lp.get(0));
  lp.erase(0);
  len_--;
  if (lp.empty()) nodes_.pop_front();
  after_shrink();
  return true;
}

bool ListValue::pop_back(std::string* out) {
  if (len_ == 0) return false;
  Listpack& lp = nodes_.back();
  size_t pos = lp.last();
  out->assign(lp.get(pos));
  lp.erase(pos);
  len_--;
  if (lp.empty()) nodes_.pop_back();
  after_shrink();
  return true;
}

ListValue::ConstNodeIt ListValue::find_node(size_t index, size_t* offset) const {
  assert(index < len_);
  if (index < len_ / 2) {
    ConstNodeIt it = nodes_.begin();
    while (index >= it->count()) {
      index -= it->count();
      ++it;
    }
    *offset = index;
    return it;
  }
  size_t from_tail = len_ - 1 - index;
  ConstNodeIt it = std::prev(nodes_.end());
  while (from_tail >= it->count()) {
    from_tail -= it->count();
    --it;
  }
  *offset = it->count() - 1 - from_tail;
  return it;
}

ListValue::NodeIt ListValue::find_node(size_t index, size_t* offset) {
  ConstNodeIt c = static_cast<const ListValue*>(this)->find_node(index, offset);
  return nodes_.erase(c, c);  // const_iterator -> iterator
}

std::string_view ListValue::at(size_t index) const {
  size_t off;
  ConstNodeIt it = find_node(index, &off);
  int64_t i = static_cast<int64_t>(off);
  // Walk from the nearer end of the node.
  if (off >= it->count() / 2) i = static_cast<int64_t>(off) - static_cast<int64_t>(it->count());
  return it->get(it->seek(i));
}

void ListValue::set(size_t index, std::string_view value) {
  size_t off;
  NodeIt it = find_node(index, &off);
  it->replace(it->seek(static_cast<int64_t>(off)), value);
  after_grow(it, value.size());
}

bool ListValue::insert_at_pivot(std::string_view pivot, std::string_view value, bool after) {
  for (NodeIt it = nodes_.begin(); it != nodes_.end(); ++it) {
    for (size_t pos = it->first(); pos != Listpack::npos; pos = it->next(pos)) {
      if (it->get(pos) != pivot) continue;
      if (after) {
        size_t nxt = it->next(pos);
        it->insert(nxt == Listpack::npos ? it->end() : nxt, value);
      } else {
        it->insert(pos, value);
      }
      len_++;
      after_grow(it, value.size());
      return true;
    }
  }
  return false;
}

void ListValue::after_grow(NodeIt it, size_t added_len) {
  if (!quicklist_ && (added_len > kListpackMaxValue || len_ > kListpackMaxEntries))
    quicklist_ = true;
  if (!quicklist_ || it == nodes_.end()) return;
  // Split an overfull node in halves until each piece fits (or holds one
  // element), so indexing and inserts stay bounded per node.
  while (it->bytes() > kNodeBytes && it->count() > 1) {
    Listpack tail = it->split_at(it->seek(static_cast<int64_t>(it->count() / 2)));
    NodeIt next = nodes_.insert(std::next(it), std::move(tail));
    if (next->bytes() > kNodeBytes && next->count() > 1) after_grow(next, 0);
  }
}

void ListValue::after_shrink() {
  maybe_convert_down();
}

void ListValue::maybe_convert_down() {
  if (!quicklist_ || len_ > kListpackMaxEntries / 2) return;
  for (const Listpack& lp : nodes_)
    for (size_t pos = lp.first(); pos != Listpack::npos; pos = lp.next(pos))
      if (lp.get(pos).size() > kListpackMaxValue) return;
  Listpack merged;
  for (const Listpack& lp : nodes_)
    merged.append(lp);
  nodes_.clear();
  if (!merged.empty()) nodes_.push_back(std::move(merged));
  quicklist_ = false;
}

size_t ListValue::remove(std::string_view value, int64_t count) {
  size_t removed = 0;
  size_t limit = count == 0 ? SIZE_MAX : static_cast<size_t>(count < 0 ? -(count + 1) + 1 : count);
  if (count >= 0) {
    for (NodeIt it = nodes_.begin(); it != nodes_.end() && removed < limit;) {
      for (size_t pos = it->first(); pos != Listpack::npos && pos < it->end() && removed < limit;) {
        if (it->get(pos) == value) {
          pos = it->erase(pos);
          removed++;
          len_--;
        } else {
          pos = it->next(pos);
        }
      }
      if (it->empty() && quicklist_)
        it = nodes_.erase(it);
      else
        ++it;
    }
  } else {
    for (auto rit = nodes_.rbegin(); rit != nodes_.rend() && removed < limit;) {
      Listpack& lp = *rit;
      for (size_t pos = lp.last(); pos != Listpack::npos && removed < limit;) {
        size_t before = lp.prev(pos);
        if (lp.get(pos) == value) {
          lp.erase(pos);
          removed++;
          len_--;
        }
        pos = before;
      }
      if (lp.empty() && quicklist_) {
        rit = std::make_reverse_iterator(nodes_.erase(std::next(rit).base()));
      } else {
        ++rit;
      }
    }
  }
  if (len_ == 0) nodes_.clear();
  if (removed) after_shrink();
  return removed;
}

void ListValue::trim(size_t head, size_t tail) {
  assert(head + tail <= len_);
  len_ -= head + tail;
  while (head > 0) {
    Listpack& lp = nodes_.front();
    if (lp.count() <= head) {
      head -= lp.count();
      nodes_.pop_front();
    } else {
      lp.erase_range(0, head);
      head = 0;
    }
  }
  while (tail > 0) {
    Listpack& lp = nodes_.back();
    if (lp.count() <= tail) {
      tail -= lp.count();
      nodes_.pop_back();
    } else {
      lp.erase_range(lp.seek(-static_cast<int64_t>(tail)), tail);
      tail = 0;
    }
  }
  after_shrink();
}

void ListValue::for_range(size_t start, size_t n,
                          const std::function<void(std::string_view)>& fn) const {
  if (n == 0) return;
  assert(start + n <= len_);
  size_t off;
  ConstNodeIt it = find_node(start, &off);
  size_t pos = it->seek(static_cast<int64_t>(off));
  while (n > 0) {
    fn(it->get(pos));
    n--;
    pos = it->next(pos);
    if (pos == Listpack::npos) {
      ++it;
      if (it == nodes_.end()) break;
      pos = it->first();
    }
  }
}

void ListValue::scan(bool from_tail,
                     const std::function<bool(size_t, std::string_view)>& fn) const {
  if (!from_tail) {
    size_t index = 0;
    for (const Listpack& lp : nodes_)
      for (size_t pos = lp.first(); pos != Listpack::npos; pos = lp.next(pos))
        if (!fn(index++, lp.get(pos))) return;
  } else {
    size_t index = len_;
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
      for (size_t pos = it->last(); pos != Listpack::npos; pos = it->prev(pos))
        if (!fn(--index, it->get(pos))) return;
  }
}

}  // namespace kvraft::storage
