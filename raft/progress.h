// raft/progress.h — the leader's view of each follower's log (Raft's
// nextIndex/matchIndex, plus etcd's probe/replicate/snapshot states), and
// the quorum computation over match indices.
//
// Why states: a follower whose log position is unknown is *probed* with one
// AppendEntries at a time (a reject moves next_index back using the fast
// backtracking hint); once one append succeeds the follower *replicates*:
// appends are pipelined optimistically, next_index jumps past each message
// sent, and at most max_inflight messages are unacknowledged. A follower
// that needs entries the leader has compacted gets a *snapshot*, streamed in
// chunks, and is probed again once it acknowledges the snapshot index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "raft/types.h"

namespace kvraft::raft {

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };

const char* to_string(ProgressState s);

// The last indices of AppendEntries messages sent but not yet acknowledged,
// oldest first. Bounded: full() pauses replication to that follower.
class Inflights {
 public:
  explicit Inflights(size_t capacity = 64) : capacity_(capacity) {}
  bool full() const { return items_.size() >= capacity_; }
  size_t count() const { return items_.size(); }
  size_t capacity() const { return capacity_; }
  // Records a message ending at `last`. Requires !full() and increasing
  // `last`.
  void add(Index last);
  // Acknowledgement up to `to`: forgets every message ending at or before it.
  void free_le(Index to);
  // Forgets the oldest message (a heartbeat response proves the follower is
  // alive, so a full window that lost messages must not stall forever).
  void free_first() {
    if (!items_.empty()) items_.pop_front();
  }
  void reset() { items_.clear(); }

 private:
  size_t capacity_;
  std::deque<Index> items_;
};

struct Progress {
  // Invariant: match < next (the follower holds everything up to match
  // identical to the leader; next is the first index to send).
  Index match = 0;
  Index next = 1;
  ProgressState state = ProgressState::kProbe;
  // kProbe: an append is in flight; no other is sent until it is answered
  // or the next heartbeat response arrives.
  bool probe_sent = false;
  // Any response received since the last CheckQuorum round.
  bool recent_active = false;
  bool is_learner = false;
  Inflights inflights;
  // Newest lease_tick echoed by a heartbeat response (leader lease).
  uint64_t lease_acked = 0;
  // Newest ReadIndex seq echoed by a heartbeat response (see
  // Node::pending_reads_); 0 when none in this term.
  uint64_t read_acked_seq = 0;

  // kSnapshot: the transfer in progress. Chunks [0, snap_acked) are durable
  // on the follower; [snap_acked, snap_sent) are in flight.
  SnapshotMeta snap_meta;
  uint64_t snap_size = 0;
  uint64_t snap_sent = 0;
  uint64_t snap_acked = 0;
  bool snap_done_sent = false;
  int snap_stall_ticks = 0;

  explicit Progress(size_t max_inflight = 64) : inflights(max_inflight) {}

  void become_probe();
  void become_replicate();
  void become_snapshot(const SnapshotMeta& meta);
  // An acknowledgement up to n: raises match/next. False if stale.
  bool maybe_update(Index n);
  // A rejection of the append whose prev index was `rejected`; `hint` is the
  // index the leader computed from the follower's hint, from which the log
  // may match. False if the rejection is stale (answers an older message).
  bool maybe_decr_to(Index rejected, Index hint);
  // Whether sending another append must wait.
  bool is_paused() const;
};

// The largest index that a quorum (majority) of `voters` have in their
// logs, given each voter's match index (missing voters count as 0). Sorting
// makes this O(n log n) in the number of voters.
Index quorum_index(const std::vector<Index>& voter_matches);

// Majority size for n voters.
inline size_t quorum_size(size_t n) {
  return n / 2 + 1;
}

}  // namespace kvraft::raft
