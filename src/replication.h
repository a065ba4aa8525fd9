// src/replication.h — the driver that puts the keyspace behind the Raft log.
//
// Every node, even a lone one, runs a raft::Node. This class feeds it
// (ticks, peer messages, client writes as proposals, read barriers) and
// carries out each Ready batch in the order raft/node.h prescribes:
//
//   early messages -> persist on the disk thread (one write + one fdatasync
//   for everything the batch holds: group commit) -> publish to the storage
//   mirror -> messages that promise durability -> apply committed entries
//   to the keyspace and answer the clients waiting on them -> serve reads
//   whose barrier is reached -> advance.
//
// Only one batch is on the disk at a time; proposals that arrive meanwhile
// pile up in the core and go out together in the next batch, which is what
// makes the fsync cost per write shrink as load grows. Committed entries
// do not wait for that batch: those the Ready carries (durable already)
// are applied before its fsync, and those that become committed while it
// is on the disk are taken from the core and applied at once, even where
// this node's own copy is not durable yet (Node::take_committed_entries).
//
// Client replies. A client's commands are answered strictly in order. A
// command that cannot be answered at once (a write waiting for commit, a
// read waiting for its barrier, a command forwarded to the leader) reserves
// a slot in the client's reply queue (Client::reserve_reply); everything the
// client sends after it is queued behind it. The reply computed when the
// entry is applied fills the slot.
//
// Writes whose outcome is unknown. A write proposed by a leader that loses
// leadership may or may not commit. The driver keeps waiting: if the entry
// at that index is applied with the proposal's term, the write took effect
// and the client gets the real reply; if another term's entry is applied
// there — or any entry of a later term before it — the write was discarded
// and the client gets -TRYAGAIN (safe to retry); if neither happens within
// the unknown-outcome timeout, the client gets an error saying the outcome
// is unknown. Never a false +OK.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "raft/node.h"
#include "resp/parser.h"
#include "src/command.h"
#include "src/membership.h"
#include "src/packed_argv.h"
#include "src/snapshot.h"
#include "src/write_record.h"
#include "src/write_waiters.h"
#include "storage/raft_storage.h"

namespace kvraft {

class Server;
class Client;
class PeerTransport;
class LeaderProxy;
class LeaderTransfer;
struct PeerAddress;
struct Config;

// How reads are served (the `read-consistency` directive).
enum class ReadConsistency {
  kLinearizable,  // leader confirms leadership with a heartbeat quorum (batched ReadIndex)
  kLease,         // leader serves locally while its CheckQuorum lease holds
  kStale,         // any node serves its own state at once
  kLog,           // every read goes through the log like a write
};

// What a follower does with commands that need the leader (`follower-mode`).
enum class FollowerMode { kProxy, kRedirect };

// One member as configured in `cluster-peers`
// (id@host:raft_port[:client_port[:tls_port]]).
struct PeerConfig {
  raft::NodeId id = raft::kNoNode;
  std::string host;
  int raft_port = 0;
  int client_port = 0;  // 0: unknown (cannot redirect/proxy to it)
  int tls_port = 0;     // 0: unknown (no TLS proxy/redirect to it)
};

// Parses "1@127.0.0.1:7101:7001,2@..." ; false with *error on bad syntax.
bool parse_cluster_peers(const std::string& text, std::vector<PeerConfig>* out, std::string* error);

class Replication {
 public:
  explicit Replication(Server& server);
  ~Replication();
  Replication(const Replication&) = delete;
  Replication& operator=(const Replication&) = delete;

  // Opens the node's durable state, loads its snapshot into the server's
  // keyspace, builds the Raft node (bootstrapping a brand-new cluster from
  // the configured peers), starts the peer transport and the tick timer.
  bool start(std::string* error);
  // Stops timers, the transport and any snapshot child; waits for a batch
  // on the disk to finish. Idempotent.
  void stop();

  // Client commands, in request order (Server::execute routes by flags).
  // `argv` is only valid during the call.
  void write(Client& client, const CommandSpec& spec, const resp::Argv& argv);
  void read(Client& client, const CommandSpec& spec, const resp::Argv& argv);
  // A write the server itself originates (active expiry, eviction). Leader
  // only; returns false elsewhere. Nobody waits for its reply. *index, if
  // given, receives the log index of the proposed record.
  bool propose_internal(int db, const std::vector<std::string_view>& argv,
                        raft::Index* index = nullptr);
  // True while the newest internal proposal of this leader's term is not yet
  // applied. Active expiry waits for it: the keys it deletes stay in the
  // keyspace until then, and sampling would propose them again and again.
  bool internal_proposal_pending() const;

  // Runs the Raft machinery that became due during this loop iteration:
  // starts the batched read barrier, takes the next Ready.
  void on_loop_iteration();

  // SAVE / BGSAVE: snapshot the keyspace at the applied index.
  bool start_background_snapshot(std::string* error);
  bool save_now(std::string* error);

  bool is_leader() const;
  // Applies read-consistency and follower-mode from the config (CONFIG SET).
  void sync_config();
  raft::NodeId leader_id() const;
  // The leader's client address "host:port", "" if unknown.
  std::string leader_client_address() const;
  // The leader's address for a client on TLS (`tls`) or on the plain port:
  // the port of the same kind when the leader has one, else the other kind.
  // *is_tls says which it is. "" if unknown.
  std::string leader_address_for(bool tls, bool* is_tls) const;
  // INFO raft body (without the section header) and RAFT.INFO pairs.
  std::vector<std::pair<std::string, std::string>> info_fields() const;
  // INFO persistence fields owned by the snapshot machinery.
  std::vector<std::pair<std::string, std::string>> persistence_fields() const;
  int64_t last_save_time() const { return last_save_time_s_; }
  FollowerMode follower_mode() const { return follower_mode_; }
  // The configured members (for CLUSTER commands).
  const std::vector<PeerConfig>& peers() const { return peers_; }
  raft::NodeId self_id() const { return self_id_; }
  raft::Index applied_index() const { return applied_; }
  // Heap bytes of Raft log data held in memory — the storage mirror and the
  // log writer's buffer, the core's unstable entries and pending messages,
  // the Ready being processed, the peer connections' buffers: what maxmemory
  // leaves out, as Redis leaves out its AOF and replica output buffers.
  uint64_t log_memory_bytes() const {
    LogMemory m = log_memory();
    return m.log + m.pipeline + m.peers;
  }
  // log_memory_bytes() by part, for INFO memory.
  struct LogMemory {
    uint64_t log = 0;       // entry payloads, storage mirror slots, log writer buffer
    uint64_t pipeline = 0;  // core's unstable entries and messages, the Ready in hand
    uint64_t peers = 0;     // peer connections' send queues and receive buffers
  };
  LogMemory log_memory() const;
  // Non-empty once the storage failed: writes are refused with this reason.
  const std::string& failure() const { return failure_; }

  // Leadership transfer (RAFT.TRANSFER-LEADER, SHUTDOWN): see leader_transfer.h.
  LeaderTransfer& leader_transfer() { return *transfer_; }
  const raft::Node* raft_node() const { return node_.get(); }
  const PeerTransport* transport() const { return transport_.get(); }
  raft::Status transfer_leader(raft::NodeId target) { return node_->transfer_leader(target); }
  // Writes this node proposed that are not answered yet.
  size_t pending_writes() const { return waiters_.size(); }
  // Sends a command that needs the leader there, as for a write on a follower.
  void forward_to_leader(Client& client, const CommandSpec& spec, const resp::Argv& argv) {
    follower_route(client, spec, argv);
  }
  // --- membership (src/replication_membership.cc) ----------------------
  // RAFT.NODE ADD <id> (as a learner with `info`) or REMOVE <id>.
  struct MembershipRequest {
    bool add = true;
    raft::NodeId id = raft::kNoNode;
    MemberInfo info;  // add only
  };
  // On the leader: validates and proposes the change; the client's reply
  // (+OK) fills a reserved slot once the change is applied (for a voter's
  // removal: once both the demotion and the removal are). Elsewhere: routes
  // the command to the leader like a write. Returns an error text to reply
  // at once, or "" when the reply is taken care of.
  std::string change_membership(Client& client, const CommandSpec& spec, const resp::Argv& argv,
                                const MembershipRequest& req);
  // One member of the membership in force, for RAFT.NODES. match is the
  // leader's view (0 when unknown, e.g. on a follower, except for itself).
  struct MemberView {
    raft::NodeId id = raft::kNoNode;
    std::string host;
    int raft_port = 0;
    int client_port = 0;
    bool voter = false;
    raft::Index match = 0;
    bool leader = false;
  };
  std::vector<MemberView> member_views() const;
  // True once this node saw its own removal: it refuses writes.
  bool removed() const;
  // The error a write gets on a removed node (retryable for a proxied one).
  static std::string removed_error(const Client& client);
  static const std::string_view kRemovedError;
  // The error a command needing the leader gets while none is known.
  static const std::string_view kNoLeaderError;

 private:
  using Waiter = WriteWaiter;  // a client waiting for the entry it proposed
  // A linearizable read. It runs at a precise point of the apply stream —
  // right after entry `need` = max(the leader's commit index when its
  // barrier was requested, the client's own last write) is applied and
  // before any later entry — so it sees its client's earlier writes and none
  // of its later ones, as Redis's per-connection order promises. Its reply
  // is released only once the ReadIndex barrier confirms this node was still
  // the leader; if the confirmed index is beyond the point where it ran (a
  // leader that had not yet committed in its term), it runs again there.
  struct PendingRead {
    uint64_t client_id = 0;
    uint64_t slot = 0;
    const CommandSpec* spec = nullptr;
    PackedArgv argv;
    int db = 0;
    int protocol = 2;
    raft::Index min_index = 0;  // the client's own last write (read-your-writes)
    raft::Index need = 0;
    bool executed = false;
    raft::Index exec_index = 0;   // applied index when it ran
    bool early = false;           // ran on arrival (see Replication::read)
    bool recheck_acl = false;     // a follower read: ACL checked again when it runs
    uint64_t acl_generation = 0;  // Acl::generation() when it arrived (recheck_acl)
    std::string result;
    bool done = false;
  };
  struct ReadBatch {  // the reads of one loop iteration, sharing one barrier
    int64_t started_ms = 0;
    std::vector<PendingRead> reads;
    size_t remaining = 0;
    bool confirmed = false;
    raft::Index confirmed_index = 0;
    bool follower = false;  // reads of a follower, read index asked of the leader
  };
  // A command a follower forwards to the leader only once the client's
  // local reads before it have their read index (src/follower_reads.cc).
  struct DeferredForward {
    uint64_t client_id = 0;
    uint64_t slot = 0;
    int db = 0;
    int protocol = 2;
    std::string user;
    std::vector<std::string> argv;
  };

  static void on_tick(uv_timer_t* timer);
  static void on_disk_work(uv_work_t* req);
  static void on_disk_done(uv_work_t* req, int status);

  void tick();
  void process_ready();
  void finish_ready();
  void apply_committed_during_disk_write();
  void compact_when_idle();
  // Unlinks the files compactions made obsolete on a worker thread that is
  // not the disk thread (RaftStorageOptions::defer_file_removal says why).
  void remove_obsolete_files();
  // Whether the batch in hand is persisted on the loop thread.
  bool persist_on_loop_thread() const;
  bool sole_voter() const;
  void send_messages(std::vector<raft::Message>& messages);
  void apply_entries(std::vector<raft::Entry>& entries);
  void apply_entry(const raft::Entry& entry);
  void start_read_barrier();
  // Registers `reads` as batch `id`, waiting for its barrier from now.
  ReadBatch& open_read_batch(uint64_t id, std::vector<PendingRead>&& reads);
  void on_read_state(const raft::ReadState& rs);
  void serve_reads();
  void release_read(uint64_t batch_id, ReadBatch& batch, PendingRead& read);
  void fail_read_batch(uint64_t batch_id, const std::string& error_bytes);
  void fail_unconfirmed_reads(const std::string& error_bytes);
  void run_read(PendingRead& read);
  void execute_read(PendingRead& read, std::span<const std::string_view> argv);
  void uncharge_read(PendingRead& read);
  // Follower reads (src/follower_reads.cc): thesis §6.4 ReadIndex asked of
  // the leader once per loop iteration, then served from local state.
  bool follower_read(Client& client, const CommandSpec& spec, const resp::Argv& argv);
  void on_follower_loop_iteration();
  void start_follower_read_barrier();
  void confirm_follower_reads(uint64_t batch_id, raft::Index read_index);
  void reissue_follower_read_barriers();
  bool follower_request_in_flight() const;
  void ask_follower_read_index();
  bool follower_reads_unconfirmed(const Client& client) const;
  bool acl_still_allows(Client& client, PendingRead& read);
  void forward_to_leader(Client& client, uint64_t slot, const std::string& address, bool tls,
                         const resp::Argv& argv);
  void flush_deferred_forwards();
  void answer(uint64_t client_id, uint64_t slot, std::string_view bytes);
  // Registers the waiter of the entry this leader just proposed at `index`,
  // answering "outcome unknown" to older-term waiters at or above it (see
  // write_waiters.h).
  void add_waiter(raft::Index index, const Waiter& w);
  // Answers (retryably) the waiters whose proposals are of a term before
  // `term`, once an entry or snapshot of `term` is applied: they can never
  // commit.
  void fail_superseded_waiters(raft::Term term);
  void expire_waiters(bool all, const std::string& error);
  void on_soft_state(const raft::SoftState& ss);
  void on_storage_failure(const std::string& reason);
  void install_received_snapshot(const std::string& path);
  void maybe_snapshot();
  void install_taken_snapshot(const raft::SnapshotMeta& meta);
  void release_log_memory();
  void update_transport_peers();
  bool import_initial_rdb(const std::vector<raft::NodeId>& voters, std::string* error);
  // Writes `keyspace` (and `acl_users`, if any, as kAuxAcl) as a new
  // cluster's first snapshot, right after the bootstrap entries, and makes
  // it the applied state. Returns "" or what failed; throws on storage errors.
  std::string write_initial_snapshot(const std::vector<raft::NodeId>& voters,
                                     const storage::Keyspace& keyspace, std::string_view acl_users);
  // aclfile at the bootstrap of a brand-new cluster (src/replication_acl.cc):
  // read and checked before anything is persisted, then its users become
  // part of the initial snapshot.
  bool read_bootstrap_aclfile(std::string* users, std::string* error) const;
  bool bootstrap_aclfile(const std::vector<raft::NodeId>& voters, const std::string& users,
                         std::string* error);
  void follower_route(Client& client, const CommandSpec& spec, const resp::Argv& argv);
  raft::Payload encode_record(int db, std::span<const std::string_view> argv);
  // apply_entry's decoded record, reused from entry to entry so applying
  // allocates nothing for it (its views point into the entry being applied).
  WriteRecord apply_record_;
  storage::RdbSnapshotInfo snapshot_info_at_applied() const;

  // Membership plumbing (src/replication_membership.cc).
  void seed_members_from_config();
  void bootstrap_member_contexts(std::vector<raft::Entry>& entries) const;
  void load_members(const std::string& snapshot_members);
  void replay_member_log();
  void observe_appended(const std::vector<raft::Entry>& entries);
  void rebuild_peers();
  std::string self_host() const;
  std::vector<PeerAddress> transport_addresses() const;
  // Called when a kConfChange entry is applied; true if it consumed
  // `waiter` (a voter's demotion whose removal it proposed next).
  bool on_conf_change_applied(const raft::Entry& e, std::optional<Waiter>& waiter);
  void membership_tick();
  void send_farewells();
  // --join: learns the members from the join address (seeds; the log
  // stays authoritative) and, unless `seed_only`, asks the cluster to add
  // this node. false with *error on failure.
  bool join_cluster(std::string* error, bool seed_only = false);

  Server& server_;
  const Config& config_;
  raft::NodeId self_id_ = raft::kNoNode;
  // The address book the transport (allow-list and dialling), the proxy and
  // RAFT.NODES use: this node, every member of members_, every departed_
  // member, and the current leader. Invariant: it is the union of what this
  // node learned (seeds, snapshots, appended entries) minus the ids whose
  // removal it has applied (members_.removed()), never the membership of
  // one log position: a snapshot older than the entries this node knows (a
  // joining node's snapshot may predate its own leader's addition) only
  // adds to it. Votes are counted from the core's ConfState, not from here.
  std::vector<PeerConfig> peers_;
  ReadConsistency read_consistency_ = ReadConsistency::kLinearizable;
  FollowerMode follower_mode_ = FollowerMode::kProxy;

  std::unique_ptr<storage::RaftStorage> storage_;
  std::unique_ptr<raft::Node> node_;
  std::unique_ptr<PeerTransport> transport_;
  std::unique_ptr<LeaderProxy> proxy_;
  BackgroundSnapshot snapshotter_;
  std::unique_ptr<LeaderTransfer> transfer_;

  uv_timer_t tick_timer_;
  bool tick_started_ = false;
  int tick_ms_ = 10;

  // The Ready being processed and its disk batch. Invariant: in_ready_ iff
  // ready() was taken and advance() not yet called; disk_busy_ iff the batch
  // is on the disk thread.
  raft::Ready rd_;
  storage::RaftStorage::Batch batch_;
  bool in_ready_ = false;
  // ready_heap_bytes(rd_) when it was taken, less the entries applied
  // early; 0 outside a Ready (part of log_memory_bytes).
  uint64_t ready_bytes_ = 0;
  // How many of rd_.committed_entries were applied before its disk batch.
  size_t applied_early_ = 0;
  bool disk_busy_ = false;
  // The batch on the disk is compact_when_idle()'s (no Ready behind it).
  bool compaction_only_ = false;
  std::string disk_error_;  // set by the disk thread, read after it finished
  uv_work_t disk_req_;
  // remove_obsolete_files()'s worker; removing_files_ while it runs (at
  // most one at a time), removal_error_ written by it, read after it.
  uv_work_t removal_req_;
  bool removing_files_ = false;
  std::string removal_error_;

  // State machine progress. applied_time_ms_ is the newest record time
  // applied: record times passed to handlers never go backwards.
  raft::Index applied_ = 0;
  // The newest internal proposal (index, term); see internal_proposal_pending.
  raft::Index internal_index_ = 0;
  raft::Term internal_term_ = 0;
  raft::Term applied_term_ = 0;
  int64_t applied_time_ms_ = 0;
  raft::SoftState soft_;

  WriteWaiters waiters_;
  // encode_record()'s scratch buffer, kept unless a huge write grew it.
  static constexpr size_t kMaxKeptRecordBuffer = 64 * 1024;
  std::string record_buf_;
  // Linearizable reads: this loop iteration's reads (one barrier for all),
  // the batches whose barrier is outstanding or confirmed (by context
  // number), and the queue of reads by the apply position they run at.
  std::vector<PendingRead> read_batch_;
  std::map<uint64_t, ReadBatch> read_batches_;
  std::multimap<raft::Index, std::pair<uint64_t, size_t>> read_queue_;
  uint64_t next_read_context_ = 1;
  // Follower reads of this loop iteration and the batch id reserved for
  // them (0 while none); commands waiting to be forwarded, in arrival order.
  std::vector<PendingRead> follower_read_batch_;
  uint64_t follower_read_batch_id_ = 0;
  uint64_t follower_asked_batch_ = 0;  // newest follower batch whose read index was asked
  int64_t follower_asked_ms_ = 0;      // when it was asked
  std::deque<DeferredForward> deferred_forwards_;
  uint64_t follower_local_reads_ = 0;  // reads this node served as a follower (RAFT.INFO)

  // Snapshots.
  raft::Index snapshot_index_ = 0;
  // A snapshot taken at an applied index the durable log has not reached
  // yet, waiting to be installed (install_taken_snapshot).
  std::optional<raft::SnapshotMeta> snapshot_awaiting_log_;
  // Log bytes (records on disk) of the entries applied since the last
  // snapshot (maybe_snapshot); approximate across restarts (starts at 0).
  uint64_t bytes_since_snapshot_ = 0;
  // False until this process starts its first snapshot, and again after it
  // installs one from the leader: while false, the automatic threshold
  // carries this node's stagger (see maybe_snapshot).
  bool snapshot_started_ = false;
  int64_t last_save_time_s_ = 0;
  bool last_bgsave_ok_ = true;
  int64_t last_fork_us_ = 0;
  int64_t last_snapshot_us_ = 0;

  // Membership. members_ follows every appended conf change (and snapshots:
  // a snapshot's table replaces what seeds said of its members, then the
  // entries after it are replayed; a member is only ever dropped by a
  // removal, since ids are never reused);
  // departed_ keeps the address of a member whose removal is appended but
  // not yet applied; farewells_ the removed followers the leader still tells
  // about their removal; removal_followups_ the demotions (by index) whose
  // committed application proposes the member's removal.
  struct Farewell {
    raft::Index index = 0;  // the removal entry
    int64_t until_ms = 0;
    MemberInfo info;
    int64_t last_sent_ms = 0;
    uint64_t attempts = 0;
  };
  MemberTable members_;
  std::map<raft::NodeId, MemberInfo> departed_;
  std::map<raft::NodeId, Farewell> farewells_;
  std::map<raft::Index, raft::NodeId> removal_followups_;

  std::string failure_;
  bool stopped_ = false;
  uint64_t batches_ = 0;
  uint64_t fsyncs_ = 0;
  uint64_t loop_batches_ = 0;  // batches persisted on the loop thread (persist_on_loop_thread)
  uint64_t entries_applied_ = 0;
  // Entries applied while a Ready's batch was on the disk (INFO
  // applied_during_fsync; see apply_committed_during_disk_write).
  uint64_t entries_applied_during_disk_write_ = 0;
};

}  // namespace kvraft
