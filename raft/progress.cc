// raft/progress.cc — follower progress tracking and the quorum index.
#include "raft/progress.h"

#include <algorithm>
#include <functional>

#include "raft/check.h"

namespace kvraft::raft {

const char* to_string(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "?";
}

void Inflights::add(Index last) {
  RAFT_CHECK(!full(), "inflights full: " << items_.size() << " >= " << capacity_);
  RAFT_CHECK(items_.empty() || last > items_.back(),
             "inflight " << last << " not after " << items_.back());
  items_.push_back(last);
}

void Inflights::free_le(Index to) {
  while (!items_.empty() && items_.front() <= to)
    items_.pop_front();
}

void Progress::become_probe() {
  if (state == ProgressState::kSnapshot) {
    // Resume right after the snapshot (or after match if it got further).
    next = std::max(match + 1, snap_meta.index + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  inflights.reset();
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  inflights.reset();
}

void Progress::become_snapshot(const SnapshotMeta& meta) {
  state = ProgressState::kSnapshot;
  probe_sent = false;
  inflights.reset();
  snap_meta = meta;
  snap_size = 0;
  snap_sent = 0;
  snap_acked = 0;
  snap_done_sent = false;
  snap_stall_ticks = 0;
}

bool Progress::maybe_update(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decr_to(Index rejected, Index hint) {
  if (state == ProgressState::kReplicate) {
    // Rejections of appends at or below match are stale duplicates.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // Probe (or snapshot): only the answer to the append we sent counts.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max<Index>(std::min(rejected, hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

Index quorum_index(const std::vector<Index>& voter_matches) {
  if (voter_matches.empty()) return 0;
  std::vector<Index> sorted = voter_matches;
  std::sort(sorted.begin(), sorted.end(), std::greater<Index>());
  return sorted[quorum_size(sorted.size()) - 1];
}

}  // namespace kvraft::raft
