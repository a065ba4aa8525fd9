// raft/log.h — the Raft log as the core sees it: the durable part (read
// through Storage) plus the "unstable" part that the core has accepted but
// the host has not yet persisted (the model is etcd's raftLog/unstable).
//
// Layout, low to high index:
//
//   [ storage snapshot ][ storage entries ... )[ unstable entries ... ]
//                                              ^ unstable_offset_
//
// An unstable snapshot (received from a leader, not yet persisted) replaces
// everything below it; until it is persisted the storage's entries are
// ignored. Unstable entries may overwrite storage entries from
// unstable_offset_ on (a follower truncating a conflicting suffix): the host
// does the truncation when it appends them.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "raft/storage.h"
#include "raft/types.h"

namespace kvraft::raft {

class RaftLog {
 public:
  // Starts from what `storage` holds (a restart, or an empty fresh node).
  // The storage object must outlive the log.
  explicit RaftLog(const Storage& storage);

  Index first_index() const;
  Index last_index() const;
  Term last_term() const { return term(last_index()).value_or(0); }
  // Term of entry i, nullopt if compacted away or beyond the last index.
  std::optional<Term> term(Index i) const;
  bool match_term(Index i, Term t) const { return term(i) == t; }
  // Entries [lo, last_index()], at least one if any, at most ~max_bytes.
  // nullopt if lo is compacted (the caller must send a snapshot).
  std::optional<std::vector<Entry>> entries_from(Index lo, uint64_t max_bytes) const;
  // Entries [lo, hi), same rules.
  std::optional<std::vector<Entry>> slice(Index lo, Index hi, uint64_t max_bytes) const;

  // Raft's election restriction (§5.4.1): is a log ending at (index, term)
  // at least as up-to-date as ours?
  bool is_up_to_date(Index index, Term t) const {
    return t > last_term() || (t == last_term() && index >= last_index());
  }

  // The first entry of `ents` whose (index, term) does not match our log
  // (a conflict, or simply new), or 0 if every entry is already present.
  Index find_conflict(const std::vector<Entry>& ents) const;
  // Fast backtracking: the largest index j <= index whose term is <= t
  // (0 if none is known). Both the follower building a reject hint and the
  // leader using it call this, so each round trip skips a whole term.
  Index find_conflict_by_term(Index index, Term t) const;

  // Appends consecutive entries, truncating any unstable or stored suffix
  // from ents.front().index on. Requires ents.front().index > committed().
  void append(const std::vector<Entry>& ents);
  // The same, taking the entries' payloads instead of copying them (the
  // leader's own proposals and a follower's received batch: hot paths).
  void append(std::vector<Entry>&& ents);

  Index committed() const { return committed_; }
  Index applied() const { return applied_; }
  // Raises the commit index. Invariant: committed_ <= last_index().
  void commit_to(Index i);
  // Leader rule (§5.4.2): commit `i` only if its entry is of term `t`.
  bool maybe_commit(Index i, Term t);
  void applied_to(Index i);

  // Replaces the whole log by a snapshot received from the leader; it stays
  // unstable until stable_snap_to.
  void restore(const SnapshotMeta& meta);

  // Unstable parts the host must persist (see Ready).
  const std::vector<Entry>& unstable_entries() const { return unstable_; }
  // Heap bytes of the unstable entries (entry_heap_bytes summed).
  uint64_t unstable_bytes() const { return unstable_bytes_; }
  const std::optional<SnapshotMeta>& unstable_snapshot() const { return unstable_snapshot_; }
  // The host persisted entries up to (i, t); ignored if entry i has since
  // been overwritten with another term.
  void stable_to(Index i, Term t);
  void stable_snap_to(Index i);

  // Index of the last entry that is durable and still part of our log.
  Index persisted_last() const;
  // Committed, durable entries not yet handed out for applying.
  std::vector<Entry> next_committed_entries(uint64_t max_bytes) const;
  bool has_next_committed_entries() const;

 private:
  const Storage& storage_;
  std::optional<SnapshotMeta> unstable_snapshot_;
  // unstable_[k] has index unstable_offset_ + k.
  std::vector<Entry> unstable_;
  Index unstable_offset_;
  // Invariant: the sum of entry_heap_bytes() over unstable_.
  uint64_t unstable_bytes_ = 0;
  // Drops unstable_[from..] (keeping the count).
  void truncate_unstable(size_t from);
  // Invariants: applied_ <= committed_ <= last_index(); every entry up to
  // committed_ is identical on a quorum of durable logs (Raft's commit rule);
  // committed_ and applied_ never decrease.
  Index committed_ = 0;
  Index applied_ = 0;
};

}  // namespace kvraft::raft
