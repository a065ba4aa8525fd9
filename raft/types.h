// raft/types.h — the vocabulary shared by the Raft core, its wire codec and
// whoever persists its state (storage/): entries, hard state, membership and
// snapshot metadata.
//
// These are plain values with no behaviour, so that storage/ can persist
// them and tests can build them without pulling in the core.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raft/payload.h"

namespace kvraft::raft {

using NodeId = uint64_t;  // 0 means "none" (no vote, no known leader)
using Term = uint64_t;
using Index = uint64_t;  // log indices start at 1; 0 means "before the log"

inline constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t {
  kNormal = 0,      // opaque state-machine command (may be empty: the leader's no-op)
  kConfChange = 1,  // a single-server membership change, payload = encoded ConfChange
};

// One log entry. `data` is opaque to the core for kNormal entries.
struct Entry {
  Index index = 0;
  Term term = 0;
  EntryType type = EntryType::kNormal;
  Payload data;  // shared by every copy of the entry (raft/payload.h)

  bool operator==(const Entry&) const = default;
};

// Heap bytes a std::string costs beyond its own object: its glibc chunk
// (none for a short string kept inline), rounded the way glibc rounds
// (16-byte steps, 8-byte header). Hosts use these figures to report the
// memory of what they hold (maxmemory leaves Raft memory out, as Redis
// leaves out its replication buffers), so they must track the real heap.
inline uint64_t string_heap_bytes_for_capacity(size_t capacity) {
  return capacity > 15 ? ((capacity + 1 + 8 + 15) & ~uint64_t{15}) : 0;
}
inline uint64_t string_heap_bytes(const std::string& s) {
  return string_heap_bytes_for_capacity(s.capacity());
}
// What an Entry held in a container costs its holder: its slot. The
// payload is shared by every copy and counted once for the whole process
// (Payload::live_bytes()).
inline uint64_t entry_heap_bytes(const Entry&) {
  return sizeof(Entry);
}

// The state Raft must persist before answering any message that depends on
// it (Figure 2's "persistent state", plus the commit index for faster restart).
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  bool operator==(const HardState&) const = default;
};

// Cluster membership: voters take part in elections and the commit quorum;
// learners receive the log but do not count. A node is in at most one list.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool operator==(const ConfState&) const = default;
};

// What a snapshot covers: every entry up to and including (index, term), and
// the membership in force at that index.
struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  ConfState conf;

  bool operator==(const SnapshotMeta&) const = default;
};

}  // namespace kvraft::raft

namespace kvraft::raft {

// A single-server membership change (Raft thesis §4.1), carried as the
// payload of a kConfChange entry (see encode_conf_change in
// raft/conf_change.h). It takes effect on a node as soon as the entry is in
// its log, committed or not; a truncated entry reverts it.
enum class ConfChangeType : uint8_t {
  kAddNode = 0,     // add a voter, or promote an existing learner to voter
  kAddLearner = 1,  // add a non-voting learner, or demote a voter to learner
  kRemoveNode = 2,  // remove a voter or a learner
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddNode;
  NodeId node = kNoNode;
  // Opaque to the core: the host's own data about the change (the server
  // puts the member's addresses here). At most kMaxConfChangeContext bytes.
  std::string context;

  bool operator==(const ConfChange&) const = default;
};

}  // namespace kvraft::raft
