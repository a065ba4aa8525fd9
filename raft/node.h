// raft/node.h — the Raft consensus core: one replica's protocol state
// machine, with no I/O, threads or clocks of its own.
//
// How a host drives it (the server's event loop, or the simulator):
//
//   1. Build a Node from a Config and the host's Storage (raft/storage.h).
//      A brand-new cluster member first writes bootstrap_entries() (see
//      raft/conf_change.h) into its storage; a node that joins later starts
//      empty and learns everything from the leader.
//   2. Feed it inputs: tick() every tick interval (the only notion of time),
//      step(msg) for every message from a peer, and requests: propose(),
//      propose_conf_change(), read_index(), transfer_leader().
//   3. When has_ready(), take ready() and process it in this order:
//        a. send rd.early_messages (the leader's replication traffic may go
//           out while its own disk write is still in progress);
//        b. persist: write rd.snapshot_chunks at their offsets, install
//           rd.snapshot if set (the state machine loads it, the stored log
//           is discarded), append rd.entries (dropping every stored entry at
//           or after rd.entries.front().index first), write rd.hard_state if
//           set, and make all of it durable (fsync);
//        c. send rd.messages — only now, because they promise that what
//           (a) and (b) wrote is durable (a vote, an acknowledged append);
//        d. apply rd.committed_entries to the state machine in order
//           (kConfChange entries need no action: membership already took
//           effect when they were appended), and serve each of
//           rd.read_states once the applied index reaches its index;
//        e. call advance(rd).
//      Between ready() and advance() the host may keep calling step() and
//      tick(); their effects go into the next Ready, except the early
//      messages they produce, which the host may take and send at once
//      with take_early_messages() (heartbeats and appends must not wait
//      for the outstanding Ready's fsync).
//   4. Whenever it likes (e.g. after applying), the host may snapshot its
//      state machine at an applied index and compact its storage; the core
//      notices through Storage and sends InstallSnapshot to followers that
//      need a compacted prefix, reading the bytes through
//      Storage::read_snapshot_chunk.
//
// Everything the core does is a deterministic function of its Config (incl.
// the seed of its randomized election timeouts), its Storage and the
// sequence of calls, which is what makes the simulator's runs replayable.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "raft/log.h"
#include "raft/message.h"
#include "raft/progress.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace kvraft::raft {

// How a leader serves read_index().
enum class ReadOnlyOption : uint8_t {
  // Confirm leadership with a heartbeat round to a quorum for each batch of
  // reads (ReadIndex, thesis §6.4). Safe under any clock behaviour.
  kSafe,
  // Serve from the leader's lease: while a quorum acknowledged a heartbeat
  // sent less than election_tick - 1 ticks ago, no other leader can exist
  // (voters refuse to elect anyone within election_tick ticks of hearing
  // from the leader, see Config::check_quorum). Requires check_quorum and
  // tick rates that do not drift apart by more than a tick per election
  // timeout. Falls back to kSafe whenever the lease is not held, and for the
  // rest of a term once the leader has sent TimeoutNow (a transfer target
  // may be elected without waiting out the lease).
  kLeaseBased,
};

// Test-only switches that break one rule of the protocol on purpose, so the
// simulator can prove that it catches the resulting bugs. Never set in
// production code.
struct TestMutations {
  // Commit an entry of a previous term by counting replicas (the bug behind
  // Figure 8 of the Raft paper).
  bool commit_prior_term_by_counting = false;
  // Hand the host hard states without the vote, so a vote is never
  // persisted and a restarted node may vote twice in one term.
  bool forget_to_persist_vote = false;
  // Grant votes without the election restriction (log up-to-date check).
  bool skip_log_up_to_date_check = false;
  // Answer ReadIndex at once from the local commit index, without
  // confirming leadership with a heartbeat quorum (stale reads from a
  // deposed leader).
  bool read_without_quorum_check = false;
};

struct Config {
  // This node's id (non-zero).
  NodeId id = kNoNode;
  // A follower that hears nothing from a leader for a random number of ticks
  // in [election_tick, 2 * election_tick) starts an election. A leader
  // without contact to a quorum for election_tick ticks steps down (with
  // check_quorum). Must exceed heartbeat_tick.
  int election_tick = 10;
  // A leader sends heartbeats every heartbeat_tick ticks.
  int heartbeat_tick = 1;
  // Seed for the randomized election timeout (deterministic per node).
  uint64_t seed = 1;
  // PreVote (thesis §9.6): a node first asks whether it could win before
  // raising its term, so a partitioned or removed node cannot disrupt.
  bool pre_vote = true;
  // CheckQuorum: a leader steps down when it has not heard from a quorum for
  // an election timeout, and voters ignore vote requests while they have
  // heard from a leader within one (leader stickiness, needed by leases).
  bool check_quorum = true;
  ReadOnlyOption read_only = ReadOnlyOption::kSafe;
  // Max unacknowledged AppendEntries per replicating follower (>= 1).
  size_t max_inflight = 64;
  // Max payload bytes of one AppendEntries (at least one entry is sent).
  uint64_t max_msg_bytes = 1 << 20;
  // InstallSnapshot chunk size, and how many chunks may be unacknowledged.
  uint64_t snapshot_chunk_bytes = 64 << 10;
  size_t max_inflight_snapshot_chunks = 4;
  // The index the host's state machine has already applied at startup (a
  // snapshot index is assumed applied anyway). 0 = from the snapshot.
  Index applied = 0;
  TestMutations mutations;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* to_string(Role r);

// Volatile state worth showing to the host (leader redirects, INFO).
struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A read that is safe to serve: once the state machine has applied `index`,
// its state reflects every write committed before read_index(context) was
// called.
struct ReadState {
  Index index = 0;
  std::string context;
  bool operator==(const ReadState&) const = default;
};

// A received InstallSnapshot chunk the host must write before the
// acknowledgement in Ready::messages is sent.
struct SnapshotChunk {
  SnapshotMeta meta;
  uint64_t offset = 0;
  std::string data;
  uint64_t total_size = 0;
};

// One batch of work for the host; see the file comment for the order.
struct Ready {
  std::optional<SoftState> soft_state;  // set if changed
  std::optional<HardState> hard_state;  // set if changed: persist it
  std::vector<SnapshotChunk> snapshot_chunks;
  std::optional<SnapshotMeta> snapshot;  // install the fully received snapshot
  std::vector<Entry> entries;            // append (truncating from front().index)
  std::vector<Entry> committed_entries;  // apply, in order
  std::vector<ReadState> read_states;
  std::vector<Message> early_messages;  // may be sent before persisting
  std::vector<Message> messages;        // send only after persisting
};

// Heap bytes of the log data a Ready carries (entries to persist and to
// apply, messages, snapshot chunks): what the host holds while it works on it.
uint64_t ready_heap_bytes(const Ready& rd);

// Results of requests.
enum class Status : uint8_t {
  kOk,
  kNotLeader,           // only the leader accepts this request
  kNoLeader,            // a follower that knows no leader cannot forward a read
  kTransferring,        // leadership transfer in progress: proposals refused
  kConfChangePending,   // a membership change is not committed yet
  kLearnerNotCaughtUp,  // promotion refused until the learner caught up
  kInvalid,             // the request makes no sense (unknown node, ...)
};
const char* to_string(Status s);

struct ProposeResult {
  Status status = Status::kOk;
  Index index = 0;  // where the entry will be, if kOk
  Term term = 0;
};

class Node {
 public:
  // Restores from `storage` (hard state, snapshot, log). `storage` must
  // outlive the node and only be changed as the Ready protocol says.
  Node(const Config& config, const Storage& storage);

  // --- inputs ---------------------------------------------------------
  // Advances logical time by one tick.
  void tick();
  // Handles a message from a peer. Messages for another node, from self,
  // with stale terms or from unknown senders are handled per the protocol
  // (answered, ignored); never a crash.
  void step(const Message& m);
  // Leader only: appends a normal entry carrying `data`.
  ProposeResult propose(Payload data);
  // Leader only: appends a membership change. Refused while another change
  // is uncommitted (one at a time), when promoting a learner whose match
  // index is below the commit index, or when it makes no sense.
  ProposeResult propose_conf_change(const ConfChange& cc);
  // Requests a linearizable read. On the leader the answer comes as a
  // ReadState in a later Ready; a follower forwards it to the leader and
  // gets the ReadState when the leader answers. `context` must be unique
  // among outstanding reads. Reads are lost (never answered) if leadership
  // changes: the host times them out and retries.
  Status read_index(std::string context);
  // Leader only: hands leadership to voter `target`. The leader stops
  // accepting proposals, catches the target up, then sends it TimeoutNow;
  // if the target has not taken over within an election timeout the
  // transfer is abandoned.
  Status transfer_leader(NodeId target);
  // Starts an election now (as if the election timeout had elapsed).
  void campaign();

  // --- outputs --------------------------------------------------------
  bool has_ready() const;
  // Requires has_ready() and that the previous Ready was advanced.
  Ready ready();
  // The host has processed `rd` (persisted, sent, applied).
  void advance(const Ready& rd);
  // The leader's replication traffic queued since the last ready() (what
  // the next Ready's early_messages would hold), taken out now. Callable at
  // any time, in particular while a Ready is outstanding: these messages
  // promise nothing about what this node has persisted (that is why a
  // Ready sends them before its fsync), so they need not wait for that
  // fsync either. Without this, a leader's heartbeats and appends sit in
  // the core for as long as its disk write takes, and a slow fsync on the
  // leader stalls replication to every follower and, past the election
  // timeout, makes them campaign.
  std::vector<Message> take_early_messages();
  // Committed entries that may be applied now, while a Ready is outstanding
  // (its disk batch still being written and fsynced): those beyond the
  // outstanding Ready's committed_entries and beyond anything taken before,
  // up to the commit index, stopping before the first kConfChange entry
  // (membership changes are applied through a Ready, where the host also
  // updates its peers). They count as applied from now on: no later Ready
  // hands them out again.
  //
  // They need not be durable on this node. An entry is committed once a
  // quorum holds it durably, and a leader's own copy need not be part of
  // that quorum (its match index counts only after its fsync, advance()):
  // with three voters, two followers' acknowledgements commit an entry the
  // leader is still writing, or has not even handed to a Ready yet (its
  // appends go out early, take_early_messages). Such an entry survives any
  // crash of this node, since the quorum's copies elect the next leader
  // (§5.4.1), and a committed entry is never truncated, so applying and
  // answering it now is as safe as after the local fsync — the thesis's
  // §10.2.1 argument for the leader writing in parallel, and what etcd's
  // server does by applying before its WAL write returns. The host's state
  // machine then runs ahead of its durable log; what it must not do is
  // compact the stored log beyond what is durable (a snapshot taken at an
  // applied index waits for the log to reach it before it replaces the log).
  //
  // Without this, an entry committed while the disk batch is in flight (on
  // the leader, the followers' acknowledgements arriving mid-fsync; on a
  // follower, a commit index learned mid-fsync) waits for that unrelated
  // fsync, and for the next batch's fsync if it was proposed meanwhile: up
  // to two of the leader's fsyncs of latency per write, even when both
  // followers were faster. A slow leader disk then sets the cluster's
  // write latency alone.
  //
  // Requires the host to have applied the outstanding Ready's
  // committed_entries already (the returned entries follow them); empty
  // when no Ready is outstanding (the next Ready carries them) or while a
  // snapshot is being installed.
  std::vector<Entry> take_committed_entries();

  // --- inspection (read-only, for the host, INFO and tests) ------------
  NodeId id() const { return id_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return lead_; }
  Role role() const { return role_; }
  const RaftLog& log() const { return log_; }
  // Heap bytes of log data the core holds for the host to take: unstable
  // entries, messages and received snapshot chunks not yet in a Ready.
  uint64_t held_bytes() const {
    return log_.unstable_bytes() + pending_msg_bytes_ + pending_chunk_bytes_;
  }
  // Membership in force (the newest change in the log).
  const ConfState& conf_state() const;
  // Membership in force at index i (for the snapshot the host makes at i);
  // requires i >= the storage snapshot index.
  ConfState conf_state_at(Index i) const;
  // Leader only: per-member replication progress (empty otherwise).
  const std::map<NodeId, Progress>& progress() const { return progress_; }
  NodeId lead_transferee() const { return lead_transferee_; }
  // Index of the newest membership change in the log, 0 if none since the
  // snapshot base.
  Index last_conf_index() const;
  // Leader only: does it hold a valid read lease right now?
  bool lease_valid() const;
  // Switches between ReadIndex with a heartbeat round and lease-based reads
  // at runtime. Turning leases on is safe at any time: lease_valid() still
  // needs a quorum of heartbeat acks within the election timeout.
  void set_read_only(ReadOnlyOption option) { config_.read_only = option; }
  const Config& config() const { return config_; }

 private:
  // Role transitions.
  void become_follower(Term term, NodeId lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(Term term);
  void campaign_internal(bool pre, bool transfer);
  void hup(bool transfer);
  void poll_and_decide(NodeId from, bool granted, bool pre);

  // Message handlers.
  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);
  void handle_vote_request(const Message& m);
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot_chunk(const Message& m);
  void handle_append_resp(const Message& m, Progress& pr);
  void handle_snapshot_resp(const Message& m, Progress& pr);
  void handle_heartbeat_resp(const Message& m, Progress& pr);
  void handle_read_request(NodeId from, std::string context);

  // Leader helpers.
  void append_entries(std::vector<Entry> ents);
  bool maybe_send_append(NodeId to, bool send_if_empty);
  void send_snapshot_chunks(NodeId to, Progress& pr);
  void bcast_append(bool send_if_empty);
  void bcast_heartbeat(const std::string& context);
  bool maybe_commit();
  void on_commit_advanced();
  bool quorum_active() const;
  bool committed_entry_in_current_term() const;
  void abort_transfer();
  void release_confirmed_reads();
  uint64_t voters_quorum(uint64_t own, uint64_t Progress::*field) const;
  void flush_read_heartbeat();
  void send_timeout_now(NodeId to);
  void reject_read_index(const Message& m);

  // Membership bookkeeping.
  void note_appended(std::span<const Entry> ents);
  void sync_progress_with_conf();
  bool promotable() const;

  void send(Message m);
  void tick_election();
  void tick_heartbeat();
  void reset_randomized_election_timeout();
  uint64_t next_random();
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }
  SoftState soft_state() const { return SoftState{lead_, role_}; }

  Config config_;
  NodeId id_;
  const Storage& storage_;
  RaftLog log_;

  // Persistent per Figure 2. Invariant: term_ never decreases; vote_ is
  // reset only when term_ rises (one vote per term, as persisted).
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId lead_ = kNoNode;
  Role role_ = Role::kFollower;

  // Membership: base_conf_ is the snapshot's; conf_history_ holds each
  // kConfChange entry in the log above it as (index, resulting conf), in
  // index order. The membership in force is the last of them.
  ConfState base_conf_;
  Index base_conf_index_ = 0;
  std::vector<std::pair<Index, ConfState>> conf_history_;

  // Leader: one Progress per member other than... every member, self
  // included (self's match is its durable last index).
  std::map<NodeId, Progress> progress_;
  // Candidate: votes received in this (pre-)election, by voter.
  std::map<NodeId, bool> votes_;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  // Ticks since this node last heard from a leader (or was one); starts at 0
  // on (re)start. With check_quorum a vote is refused while it is below
  // election_tick: the leader's read lease depends on this.
  int ticks_since_leader_ = 0;
  // Logical clock of this node: ticks since construction.
  uint64_t tick_count_ = 0;
  uint64_t rng_state_;

  // Leadership transfer in progress (leader only), and whether this leader
  // has sent TimeoutNow in its term (which voids its lease).
  NodeId lead_transferee_ = kNoNode;
  bool sent_timeout_now_ = false;

  // ReadIndex (leader). Reads wait in reads_waiting_commit_ until an entry
  // of the leader's term is committed (before that the commit index may lag
  // what earlier leaders committed); then each gets a read index and a
  // sequence number `seq` and waits in pending_reads_ for a quorum of voters
  // to acknowledge a heartbeat carrying that seq or a later one.
  //
  // The heartbeat carries the leader's own seq, not the requester's context:
  // contexts are only unique per requester (every node numbers its reads
  // from 1), and an acknowledgement matched by context could confirm a read
  // registered after the heartbeat it answers. Invariants: seqs in
  // pending_reads_ increase from front to back and are <= last_read_seq_;
  // a voter's Progress::read_acked_seq is the newest seq it acknowledged in
  // this term, so a heartbeat sent before a read was registered can never
  // confirm it. last_read_seq_ never goes back (not even across terms).
  struct PendingRead {
    std::string context;
    Index index = 0;
    NodeId from = kNoNode;  // requester (self or a follower)
    uint64_t seq = 0;
  };
  void answer_read(PendingRead&& r);
  std::vector<std::pair<NodeId, std::string>> reads_waiting_commit_;
  std::deque<PendingRead> pending_reads_;
  uint64_t last_read_seq_ = 0;
  // Reads were registered since the last heartbeat: one heartbeat round for
  // all of them goes out with the next Ready (or take_early_messages), so
  // the reads of one host loop iteration, the leader's and every follower's,
  // share a round instead of costing one each. At most one such round is in
  // flight: reads registered meanwhile go out together in the next round,
  // sent once this one is confirmed (or with the next periodic heartbeat,
  // which also carries the newest seq, should acknowledgements be lost).
  // Under load that makes a round per round trip rather than per loop
  // iteration, each round costing every follower a wake-up, a read and a
  // write. read_round_seq_: the seq the newest round carried.
  bool read_heartbeat_due_ = false;
  uint64_t read_round_seq_ = 0;
  bool read_round_in_flight() const {
    return !pending_reads_.empty() && pending_reads_.front().seq <= read_round_seq_;
  }

  // Follower: the snapshot being received (meta, next expected offset).
  std::optional<SnapshotMeta> incoming_snapshot_;
  uint64_t incoming_offset_ = 0;

  // Output buffers for the next Ready.
  std::vector<Message> msgs_;
  std::vector<Message> early_msgs_;
  std::vector<ReadState> read_states_;
  std::vector<SnapshotChunk> snapshot_chunks_;
  // Invariants: message_heap_bytes() summed over msgs_ and early_msgs_, and
  // the chunk data bytes of snapshot_chunks_ (both reset by ready()).
  uint64_t pending_msg_bytes_ = 0;
  uint64_t pending_chunk_bytes_ = 0;
  HardState prev_hard_;
  SoftState prev_soft_;
  bool ready_outstanding_ = false;
  // The last entry the outstanding Ready asked the host to persist and the
  // last one it handed out to apply (0 = none). advance() acts on these, not
  // on the Ready it is given back, so the host may move the entries' payloads
  // out of that Ready (into its disk batch, into the state machine) instead
  // of copying them.
  Index ready_last_index_ = 0;
  Term ready_last_term_ = 0;
  Index ready_last_committed_ = 0;
  // While a Ready is outstanding, take_committed_entries() may move
  // log_.applied() past ready_last_committed_; advance() then leaves it.
};

}  // namespace kvraft::raft
