// src/write_waiters.h — the clients waiting for the log entries they
// proposed, in log order.
//
// Why not a map by index: a leader proposes with increasing indices and
// applies in the same order, so the waiters form a queue — registered at
// the back, resolved at the front — and a deque costs no allocation per
// write (a std::map node was one of the allocations of every SET).
//
// The one exception to increasing indices is a node that lost leadership
// and won it back while waiters of its old term were still unresolved:
// its new log may be shorter than the old one, so its next proposal can
// land at an index an old waiter is still registered for. Such an old
// entry is not committed (Leader Completeness: had it committed, this new
// leader's log would hold it at that index), but with five or more voters
// another node holding it might still be elected and commit it (the
// Figure 8 case of the Raft paper). So add() hands those waiters back for
// the caller to answer "outcome unknown", instead of letting the new one
// overwrite them, which would leave their clients waiting forever.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "raft/types.h"

namespace kvraft {

struct WriteWaiter {
  uint64_t client_id = 0;
  uint64_t slot = 0;    // the client's reserved reply slot
  raft::Term term = 0;  // the term the entry was proposed in
  int protocol = 2;     // RESP version of the reply
  int64_t proposed_ms = 0;
};

class WriteWaiters {
 public:
  using Item = std::pair<raft::Index, WriteWaiter>;

  // Registers the waiter of the entry just proposed at `index`. Returns the
  // waiters registered at `index` or above (entries of an earlier term that
  // the log replaced; see the file comment), removed from the queue.
  std::vector<Item> add(raft::Index index, const WriteWaiter& w) {
    std::vector<Item> replaced;
    while (!q_.empty() && q_.back().first >= index) {
      replaced.push_back(std::move(q_.back()));
      q_.pop_back();
    }
    q_.emplace_back(index, w);
    return replaced;
  }

  // Removes and returns the waiters of entries below `index`, which the
  // apply loop has passed without meeting them (only after a snapshot
  // replaced the entries; see Replication::install_received_snapshot).
  std::vector<Item> take_below(raft::Index index) {
    std::vector<Item> out;
    while (!q_.empty() && q_.front().first < index) {
      out.push_back(std::move(q_.front()));
      q_.pop_front();
    }
    return out;
  }

  // The waiter of entry `index`, removed, if one is registered. Entries are
  // applied in order, so it can only be at the front.
  std::optional<WriteWaiter> take(raft::Index index) {
    if (q_.empty() || q_.front().first != index) return std::nullopt;
    WriteWaiter w = q_.front().second;
    q_.pop_front();
    return w;
  }

  // Removes and returns every waiter for which pred(index, waiter) holds.
  template <typename Pred>
  std::vector<Item> take_if(Pred pred) {
    std::vector<Item> out;
    std::deque<Item> keep;
    for (auto& item : q_) {
      if (pred(item.first, item.second))
        out.push_back(std::move(item));
      else
        keep.push_back(std::move(item));
    }
    if (!out.empty()) q_.swap(keep);
    return out;
  }

  // Removes and returns all waiters.
  std::vector<Item> take_all() {
    std::vector<Item> out(std::make_move_iterator(q_.begin()), std::make_move_iterator(q_.end()));
    q_.clear();
    return out;
  }

  size_t size() const { return q_.size(); }
  bool empty() const { return q_.empty(); }

 private:
  std::deque<Item> q_;  // strictly increasing index
};

}  // namespace kvraft
