// raft/message.h — every message the Raft core exchanges with its peers.
//
// A Message is a plain value: the core produces them in Ready::messages and
// consumes them in Node::step(); the wire codec (raft/wire.h) turns them into
// bytes and back. One struct serves every type (as in etcd's raftpb.Message)
// so the codec and the transport handle a single shape; each field below says
// which types use it and what it means there. Fields a type does not use are
// left at their defaults and the codec may skip them, but must round-trip any
// value it is given (the core never relies on an unused field being zero).
//
// Names follow the Raft paper (Ongaro & Ousterhout, 2014) and its thesis:
// "prev_log_index" is `index`, "prev_log_term" is `log_term` in an append;
// "last_log_index/term" are `index`/`log_term` in a vote request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raft/types.h"

namespace kvraft::raft {

enum class MessageType : uint8_t {
  // --- elections -------------------------------------------------------
  // Pre-vote request (thesis §9.6): "would you vote for me at term `term`?".
  // Sent with term = candidate's current term + 1 while the candidate's own
  // term is NOT incremented, so a node that cannot win (partitioned, removed,
  // stale log) never disturbs the cluster. Uses: term, index, log_term.
  kPreVote = 1,
  // Answer to kPreVote. term = the term from the request when granted,
  // otherwise the responder's own term. Uses: term, reject.
  kPreVoteResp = 2,
  // RequestVote. Uses: term, index (last log index), log_term (last log
  // term), transfer (true when the election was started by TimeoutNow, so
  // voters skip the leader-lease check).
  kVote = 3,
  // Answer to kVote. Uses: term, reject.
  kVoteResp = 4,

  // --- replication -----------------------------------------------------
  // AppendEntries. Uses: term, index (index of the entry just before
  // `entries`), log_term (its term), entries, commit (leader's commit
  // index, to be clipped by the follower to what it knows matches).
  kApp = 5,
  // Answer to kApp. On success: reject = false, index = the last index the
  // follower now holds that matches the leader (index + entries.size() of the
  // request). On failure: reject = true, index = the request's `index`
  // (so the leader can discard stale rejections), and the fast-backtracking
  // hint reject_hint / log_term (see those fields). Uses: term, index,
  // reject, reject_hint, log_term.
  kAppResp = 6,
  // Heartbeat: leadership assertion without entries. Uses: term, commit
  // (min of leader commit and the follower's known match, so a follower
  // never commits entries it may not hold), context (the leader's ReadIndex
  // seq of its newest pending read, see Node::pending_reads_, echoed back),
  // lease_tick.
  kHeartbeat = 7,
  // Answer to kHeartbeat. Uses: term, context and lease_tick (echoed).
  kHeartbeatResp = 8,

  // --- snapshots -------------------------------------------------------
  // One chunk of an InstallSnapshot transfer. Uses: term, snapshot (the
  // metadata of the snapshot being sent; identifies the transfer),
  // offset (byte offset of `data` in the snapshot file), data, done (this is
  // the last chunk), snapshot_size (total byte size of the snapshot).
  kSnap = 9,
  // Answer to kSnap. Uses: term, snapshot.index and snapshot.term (which
  // transfer), offset (the next byte offset the follower expects: everything
  // before it is durable on the follower), reject (true when the chunk was
  // not at the expected offset: the leader resumes at `offset`).
  // When the last chunk is installed the follower answers with a kAppResp
  // for index = snapshot.index instead.
  kSnapResp = 10,

  // --- leadership transfer -------------------------------------------
  // TimeoutNow (thesis §3.10): the leader tells a caught-up follower to start
  // an election at once, skipping PreVote and the lease check. Uses: term.
  kTimeoutNow = 11,

  // --- linearizable reads forwarded by followers ------------------------
  // A follower asks the leader for a read index. Uses: term, context (the
  // caller's opaque request id, unique per request).
  kReadIndex = 12,
  // The leader's answer: index = commit index that is safe to read at once
  // applied >= index, context echoed; reject = true if the leader could not
  // serve it (not leader any more, or transferring leadership).
  kReadIndexResp = 13,
};

// Human-readable name for logs and traces ("App", "VoteResp", ...).
const char* to_string(MessageType type);

struct Message {
  MessageType type = MessageType::kApp;
  NodeId from = kNoNode;  // sender
  NodeId to = kNoNode;    // recipient
  // The sender's current term, except kPreVote (the term it would campaign
  // at) and a granted kPreVoteResp (the term of the request). A message with
  // a lower term than the recipient's is answered or dropped per type; a
  // higher term makes the recipient a follower first (except pre-votes).
  Term term = 0;

  // kApp: prev_log_term. kVote/kPreVote: term of the candidate's last entry.
  // kAppResp (reject): the follower's term at reject_hint (fast
  // backtracking), 0 if unknown.
  Term log_term = 0;
  // kApp: prev_log_index. kVote/kPreVote: the candidate's last log index.
  // kAppResp: see MessageType::kAppResp. kReadIndexResp: the read index.
  Index index = 0;
  // kApp: entries to append after `index`, consecutive and of
  // non-decreasing term.
  std::vector<Entry> entries;
  // kApp/kHeartbeat: the leader's commit index (see the type comments).
  Index commit = 0;

  // Responses: true when the request is refused (vote not granted, append
  // does not match, snapshot chunk out of order, read index not served).
  bool reject = false;
  // kAppResp with reject = true: fast backtracking hint. The follower's
  // largest index i <= min(request.index, follower last index) whose term is
  // <= request.log_term; log_term carries that term. The leader then finds
  // in its own log the largest index j <= i with term <= log_term and
  // continues from j + 1, skipping one whole term per round trip instead of
  // one entry (Raft thesis §5.3 / etcd's findConflictByTerm).
  Index reject_hint = 0;

  // kVote: this election was started by TimeoutNow (leadership transfer).
  bool transfer = false;

  // kHeartbeat/kHeartbeatResp/kReadIndex/kReadIndexResp: opaque ReadIndex
  // request context (see Node::read_index).
  std::string context;
  // kHeartbeat: the leader's tick count when it sent the heartbeat;
  // kHeartbeatResp echoes it so the leader knows from when a quorum has
  // acknowledged it (the start of its read lease).
  uint64_t lease_tick = 0;

  // kSnap/kSnapResp: which snapshot is being transferred.
  SnapshotMeta snapshot;
  // kSnap: byte offset of `data`. kSnapResp: next expected offset.
  uint64_t offset = 0;
  // kSnap: total size of the snapshot in bytes.
  uint64_t snapshot_size = 0;
  // kSnap: chunk bytes.
  std::string data;
  // kSnap: this is the last chunk (offset + data.size() == snapshot_size).
  bool done = false;

  bool operator==(const Message&) const = default;
};

// Is `type` a response (it never starts work on the recipient)?
bool is_response(MessageType type);

// One line describing a message for traces: "App 1->2 t3 i5/lt2 n=3 c4".
std::string describe(const Message& m);

// Heap bytes a queued Message holds: its entries, chunk data and context
// (see entry_heap_bytes).
uint64_t message_heap_bytes(const Message& m);

}  // namespace kvraft::raft
