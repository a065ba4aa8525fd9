// raft/log.cc — RaftLog: durable + unstable log, commit and apply indices.
#include "raft/log.h"

#include <algorithm>
#include <cstddef>

#include "raft/check.h"

namespace kvraft::raft {

RaftLog::RaftLog(const Storage& storage) : storage_(storage) {
  unstable_offset_ = storage.last_index() + 1;
  SnapshotMeta snap = storage.snapshot_meta();
  committed_ = std::max(storage.hard_state().commit, snap.index);
  applied_ = snap.index;
  RAFT_CHECK(committed_ <= storage.last_index(), "stored commit " << committed_
                                                                  << " beyond stored last index "
                                                                  << storage.last_index());
}

Index RaftLog::first_index() const {
  if (unstable_snapshot_) return unstable_snapshot_->index + 1;
  return storage_.first_index();
}

Index RaftLog::last_index() const {
  if (!unstable_.empty()) return unstable_offset_ + unstable_.size() - 1;
  if (unstable_snapshot_) return unstable_snapshot_->index;
  return std::min(storage_.last_index(), unstable_offset_ - 1);
}

std::optional<Term> RaftLog::term(Index i) const {
  if (unstable_snapshot_) {
    if (i == unstable_snapshot_->index) return unstable_snapshot_->term;
    if (i < unstable_snapshot_->index) return std::nullopt;
  }
  if (i >= unstable_offset_) {
    if (i - unstable_offset_ < unstable_.size()) return unstable_[i - unstable_offset_].term;
    return std::nullopt;
  }
  if (unstable_snapshot_) return std::nullopt;
  return storage_.term(i);
}

std::optional<std::vector<Entry>> RaftLog::entries_from(Index lo, uint64_t max_bytes) const {
  return slice(lo, last_index() + 1, max_bytes);
}

std::optional<std::vector<Entry>> RaftLog::slice(Index lo, Index hi, uint64_t max_bytes) const {
  if (lo < first_index()) return std::nullopt;
  std::vector<Entry> out;
  if (lo >= hi) return out;
  RAFT_CHECK(hi <= last_index() + 1,
             "slice [" << lo << "," << hi << ") beyond last " << last_index());
  uint64_t bytes = 0;
  if (lo < unstable_offset_) {
    Index stored_hi = std::min(hi, unstable_offset_);
    out = storage_.entries(lo, stored_hi, max_bytes);
    for (const Entry& e : out)
      bytes += e.data.size() + 24;
    if (out.size() < stored_hi - lo) return out;  // size limit reached
  }
  for (Index i = std::max(lo, unstable_offset_); i < hi; ++i) {
    const Entry& e = unstable_[i - unstable_offset_];
    bytes += e.data.size() + 24;
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

Index RaftLog::find_conflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return 0;
}

Index RaftLog::find_conflict_by_term(Index index, Term t) const {
  index = std::min(index, last_index());
  for (;;) {
    auto ours = term(index);
    // Unknown (compacted) terms end the search: the snapshot index is the
    // lowest point we can describe.
    if (!ours || *ours <= t) return index;
    if (index == 0) return 0;
    --index;
  }
}

void RaftLog::append(const std::vector<Entry>& ents) {
  append(std::vector<Entry>(ents));
}

void RaftLog::append(std::vector<Entry>&& ents) {
  if (ents.empty()) return;
  Index after = ents.front().index;
  RAFT_CHECK(after > committed_,
             "append at " << after << " would overwrite committed " << committed_);
  RAFT_CHECK(after <= last_index() + 1,
             "append at " << after << " leaves a gap after last " << last_index());
  if (after == unstable_offset_ + unstable_.size()) {
    // Plain extension.
  } else if (after <= unstable_offset_) {
    // Replaces all unstable entries and the stored suffix from `after`.
    truncate_unstable(0);
    unstable_offset_ = after;
  } else {
    truncate_unstable(after - unstable_offset_);
  }
  for (Entry& e : ents) {
    RAFT_CHECK(e.index == unstable_offset_ + unstable_.size(),
               "appended entries not consecutive: got " << e.index << " want "
                                                        << unstable_offset_ + unstable_.size());
    unstable_bytes_ += entry_heap_bytes(e);
    unstable_.push_back(std::move(e));
  }
}

void RaftLog::truncate_unstable(size_t from) {
  for (size_t k = from; k < unstable_.size(); ++k)
    unstable_bytes_ -= entry_heap_bytes(unstable_[k]);
  unstable_.resize(from);
}

void RaftLog::commit_to(Index i) {
  if (i <= committed_) return;
  RAFT_CHECK(i <= last_index(), "commit " << i << " beyond last index " << last_index());
  committed_ = i;
}

bool RaftLog::maybe_commit(Index i, Term t) {
  if (i > committed_ && term(i) == t) {
    commit_to(i);
    return true;
  }
  return false;
}

void RaftLog::applied_to(Index i) {
  if (i == 0) return;
  RAFT_CHECK(i >= applied_ && i <= committed_,
             "applied " << i << " outside [" << applied_ << "," << committed_ << "]");
  applied_ = i;
}

void RaftLog::restore(const SnapshotMeta& meta) {
  RAFT_CHECK(meta.index > committed_,
             "restore snapshot " << meta.index << " not beyond committed " << committed_);
  unstable_snapshot_ = meta;
  truncate_unstable(0);
  unstable_offset_ = meta.index + 1;
  committed_ = meta.index;
}

void RaftLog::stable_to(Index i, Term t) {
  if (i < unstable_offset_ || unstable_.empty()) return;
  if (term(i) != t) return;  // overwritten since the host took it
  Index last = unstable_offset_ + unstable_.size() - 1;
  if (i > last) return;
  const auto end = unstable_.begin() + static_cast<std::ptrdiff_t>(i + 1 - unstable_offset_);
  for (auto it = unstable_.begin(); it != end; ++it)
    unstable_bytes_ -= entry_heap_bytes(*it);
  unstable_.erase(unstable_.begin(), end);
  unstable_offset_ = i + 1;
}

void RaftLog::stable_snap_to(Index i) {
  if (unstable_snapshot_ && unstable_snapshot_->index == i) {
    unstable_snapshot_.reset();
    if (i > applied_) applied_ = i;
  }
}

Index RaftLog::persisted_last() const {
  if (unstable_snapshot_) return 0;
  return std::min(storage_.last_index(), unstable_offset_ - 1);
}

bool RaftLog::has_next_committed_entries() const {
  if (unstable_snapshot_) return false;
  return std::min(committed_, persisted_last()) > applied_;
}

std::vector<Entry> RaftLog::next_committed_entries(uint64_t max_bytes) const {
  if (!has_next_committed_entries()) return {};
  Index hi = std::min(committed_, persisted_last()) + 1;
  auto ents = slice(applied_ + 1, hi, max_bytes);
  RAFT_CHECK(ents.has_value(), "committed entries from " << applied_ + 1 << " compacted (first "
                                                         << first_index() << ")");
  return std::move(*ents);
}

}  // namespace kvraft::raft
