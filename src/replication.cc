// src/replication.cc — see replication.h.
#include "src/replication.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "raft/conf_change.h"
#include "src/acl.h"
#include "src/client.h"
#include "src/client_limits.h"
#include "src/config.h"
#include "src/eviction.h"
#include "src/leader_proxy.h"
#include "src/leader_transfer.h"
#include "src/log.h"
#include "src/peer_transport.h"
#include "src/server.h"
#include "src/transaction.h"
#include "src/write_record.h"
#include "storage/keyspace.h"

namespace kvraft {

namespace {

constexpr std::string_view kTryAgainNotCommitted =
    "TRYAGAIN the write was not committed: leadership changed before it was replicated; it was "
    "not applied and is safe to retry";
constexpr std::string_view kUnknownOutcome =
    "ERR write outcome unknown: leadership changed before it was committed; it may or may not "
    "have been applied";
constexpr std::string_view kNoLeader = "CLUSTERDOWN No Raft leader is known; retry later";

bool parse_port(std::string_view s, int* out) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0 || v > 65535) return false;
  *out = v;
  return true;
}

// Redis Cluster's key slot: CRC16 (XMODEM) of the key or of its {hash tag}.
uint16_t crc16(std::string_view s) {
  uint16_t crc = 0;
  for (unsigned char c : s) {
    crc ^= static_cast<uint16_t>(c) << 8;
    for (int i = 0; i < 8; ++i)
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
  }
  return crc;
}

}  // namespace

const std::string_view Replication::kNoLeaderError = kNoLeader;

uint16_t key_hash_slot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & 16383;
}

bool parse_cluster_peers(const std::string& text, std::vector<PeerConfig>* out,
                         std::string* error) {
  out->clear();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    // id@host:raft_port[:client_port[:tls_port]]
    size_t at = item.find('@');
    PeerConfig p;
    uint64_t id = 0;
    if (at == std::string::npos ||
        std::from_chars(item.data(), item.data() + at, id).ptr != item.data() + at || id == 0) {
      *error = "cluster-peers: '" + item + "' is not id@host:raft-port[:client-port]";
      return false;
    }
    p.id = id;
    std::string rest = item.substr(at + 1);
    size_t c1 = rest.find(':');
    if (c1 == std::string::npos) {
      *error = "cluster-peers: '" + item + "' has no raft port";
      return false;
    }
    p.host = rest.substr(0, c1);
    std::string ports = rest.substr(c1 + 1);
    size_t c2 = ports.find(':');
    size_t c3 = c2 == std::string::npos ? c2 : ports.find(':', c2 + 1);
    std::string raft_port = ports.substr(0, c2);
    // A client port of 0 before a TLS port: the member serves TLS only.
    std::string client_port =
        c2 == std::string::npos
            ? ""
            : ports.substr(c2 + 1, c3 == std::string::npos ? std::string::npos : c3 - c2 - 1);
    if (!parse_port(raft_port, &p.raft_port) ||
        (c2 != std::string::npos && !(c3 != std::string::npos && client_port == "0") &&
         !parse_port(client_port, &p.client_port)) ||
        (c3 != std::string::npos && !parse_port(ports.substr(c3 + 1), &p.tls_port))) {
      *error = "cluster-peers: '" + item + "' has an invalid port";
      return false;
    }
    for (const auto& q : *out)
      if (q.id == p.id) {
        *error = "cluster-peers: node id " + std::to_string(p.id) + " appears twice";
        return false;
      }
    out->push_back(p);
  }
  return true;
}

Replication::Replication(Server& server)
    : server_(server), config_(server.config()), snapshotter_(server.loop()) {
  transfer_ = std::make_unique<LeaderTransfer>(server, *this);
  disk_req_.data = this;
  removal_req_.data = this;
  tick_timer_.data = this;
}

Replication::~Replication() {
  stop();
}

bool Replication::start(std::string* error) {
  self_id_ = static_cast<raft::NodeId>(config_.node_id);
  if (!parse_cluster_peers(config_.cluster_peers, &peers_, error)) return false;
  if (peers_.empty()) {
    // Without cluster-peers (one node, or --join) this node is reached at
    // its bind address: self_host() derives it while the host is empty.
    peers_.push_back({self_id_, "", 0, config_.port});
    peers_.back().host = self_host();
  } else if (std::none_of(peers_.begin(), peers_.end(),
                          [&](const PeerConfig& p) { return p.id == self_id_; })) {
    *error = "node-id " + std::to_string(self_id_) + " is not listed in cluster-peers";
    return false;
  }
  for (auto& p : peers_)
    if (p.id == self_id_ && p.client_port == 0) p.client_port = config_.port;
  if (!config_.join.empty() && !config_.cluster_peers.empty()) {
    *error = "join and cluster-peers cannot both be set: a joining node learns its peers";
    return false;
  }
  seed_members_from_config();
  sync_config();

  // Durable state.
  storage::RaftStorageOptions options;
  options.dir = config_.dir;
  options.segment_size = static_cast<uint64_t>(config_.raft_log_segment_size);
  // Zero-filled segments: each batch's fdatasync then writes data only.
  options.preallocate = true;
  options.fsync_mode =
      config_.raft_fsync == "never" ? storage::FsyncMode::kNever : storage::FsyncMode::kAlways;
  options.repair = config_.raft_repair;
  // The snapshot is read (and its checksum verified) by load_snapshot below;
  // open() need only read its metadata.
  options.verify_snapshot = false;
  options.defer_file_removal = true;  // see remove_obsolete_files()
  storage::RecoveryInfo info;
  try {
    storage_ = storage::RaftStorage::open(options, &info);
  } catch (const std::exception& e) {
    *error = std::string("cannot open the Raft state in '") + config_.dir + "': " + e.what();
    return false;
  }
  for (const auto& w : info.warnings)
    KV_LOG_WARNING("Raft storage: %s", w.c_str());
  if (config_.raft_fsync == "never")
    KV_LOG_WARNING("raft-fsync is 'never': acknowledged writes can be lost on power failure");

  if (!info.snapshot_path.empty()) {
    try {
      LoadedSnapshot loaded = load_snapshot(info.snapshot_path, config_.databases);
      KV_LOG_NOTICE("Loaded snapshot %s: %llu keys, raft index %llu term %llu, in %.3f s",
                    info.snapshot_path.c_str(), static_cast<unsigned long long>(loaded.keys),
                    static_cast<unsigned long long>(info.snapshot_meta.index),
                    static_cast<unsigned long long>(info.snapshot_meta.term),
                    static_cast<double>(loaded.load_us) / 1e6);
      server_.replace_keyspace(std::move(loaded.keyspace));
      server_.acl().restore_from_aux(loaded.extra_aux);
      last_save_time_s_ = loaded.ctime_s;
      load_members(loaded.members);
    } catch (const std::exception& e) {
      *error = std::string("cannot load snapshot: ") + e.what();
      return false;
    }
    applied_ = info.snapshot_meta.index;
    applied_term_ = info.snapshot_meta.term;
    snapshot_index_ = info.snapshot_meta.index;
  }

  // A brand-new member of the configured cluster writes the bootstrap
  // entries every initial member writes, so all logs start identical.
  bool fresh = storage_->hard_state().term == 0 && storage_->last_index() == 0 &&
               storage_->snapshot_meta().index == 0;
  if (fresh && !config_.join.empty()) {
    // A joining node does not bootstrap: the cluster adds it, then its
    // leader sends it everything (snapshot and log).
    if (!join_cluster(error)) return false;
  } else if (fresh) {
    std::vector<raft::NodeId> voters;
    for (const auto& p : peers_)
      voters.push_back(p.id);
    std::sort(voters.begin(), voters.end());
    std::string acl_users;
    if (!config_.aclfile.empty() && !read_bootstrap_aclfile(&acl_users, error)) return false;
    raft::Ready boot;
    boot.entries = raft::bootstrap_entries(voters);
    bootstrap_member_contexts(boot.entries);
    boot.hard_state = raft::HardState{1, raft::kNoNode, static_cast<raft::Index>(voters.size())};
    try {
      auto batch = storage_->prepare(boot);
      batch.conf = raft::ConfState{voters, {}};
      batch.save_commit = true;
      storage_->persist(batch);
      storage_->publish(batch);
    } catch (const std::exception& e) {
      *error = std::string("cannot bootstrap the Raft log: ") + e.what();
      return false;
    }
    KV_LOG_NOTICE("Bootstrapped a new cluster of %zu voter(s) in %s", voters.size(),
                  config_.dir.c_str());
    if (!config_.import_rdb.empty() && !import_initial_rdb(voters, error)) return false;
    if (!config_.aclfile.empty() && !bootstrap_aclfile(voters, acl_users, error)) return false;
  } else {
    if (!config_.join.empty()) {
      // A joined node may have stopped after installing a snapshot older
      // than its leader's addition and before the entries after it: then
      // neither its snapshot nor its log names its leader, whose
      // connections it would refuse. Its join address knows the members.
      std::string why;
      if (!join_cluster(&why, /*seed_only=*/true))
        KV_LOG_WARNING("Join: members not refreshed (%s); using the snapshot and log only",
                       why.c_str());
    }
    if (!config_.aclfile.empty())
      KV_LOG_NOTICE(
          "aclfile %s not loaded: the users in the Raft log and snapshot are the "
          "cluster's (ACL LOAD loads the file as a replicated write)",
          config_.aclfile.c_str());
    if (!config_.import_rdb.empty())
      KV_LOG_WARNING("import-rdb %s ignored: this node already has Raft state in %s",
                     config_.import_rdb.c_str(), config_.dir.c_str());
    KV_LOG_NOTICE(
        "Raft state: term %llu, log %llu..%llu, snapshot at %llu (opened in %.3f s, %llu "
        "covered segment(s) skipped)",
        static_cast<unsigned long long>(storage_->hard_state().term),
        static_cast<unsigned long long>(storage_->first_index()),
        static_cast<unsigned long long>(storage_->last_index()),
        static_cast<unsigned long long>(storage_->snapshot_meta().index),
        static_cast<double>(info.micros) / 1e6,
        static_cast<unsigned long long>(info.segments_skipped));
  }

  raft::Config rc;
  rc.id = self_id_;
  rc.election_tick = std::max(2, config_.election_timeout / tick_ms_);
  rc.heartbeat_tick = std::max(1, config_.heartbeat_interval / tick_ms_);
  if (rc.heartbeat_tick >= rc.election_tick) rc.heartbeat_tick = std::max(1, rc.election_tick / 2);
  rc.seed = self_id_ * 0x9E3779B97F4A7C15ULL ^ static_cast<uint64_t>(unix_time_us()) ^
            static_cast<uint64_t>(getpid());
  rc.read_only = read_consistency_ == ReadConsistency::kLease ? raft::ReadOnlyOption::kLeaseBased
                                                              : raft::ReadOnlyOption::kSafe;
  try {
    node_ = std::make_unique<raft::Node>(rc, *storage_);
  } catch (const std::exception& e) {
    *error = std::string("cannot start the Raft node: ") + e.what();
    return false;
  }
  replay_member_log();
  rebuild_peers();

  if (peers_.size() > 1 || config_.raft_port != 0) {
    TransportOptions topts;
    topts.self = self_id_;
    topts.cluster_id = config_.cluster_id;
    topts.secret = config_.cluster_secret;
    if (config_.tls_replication) topts.tls = server_.tls_context();
    const PeerConfig* me = nullptr;
    for (const auto& p : peers_)
      if (p.id == self_id_) me = &p;
    topts.bind_host = me->host;
    topts.port = config_.raft_port ? config_.raft_port : me->raft_port;
    transport_ = std::make_unique<PeerTransport>(server_.loop(), topts, [this](raft::Message m) {
      if (stopped_ || !node_) return;
      node_->step(m);
    });
    if (!transport_->listen(error)) return false;
    update_transport_peers();
  }
  proxy_ = std::make_unique<LeaderProxy>(
      server_.loop(), config_,
      [this](uint64_t client, uint64_t slot, std::string_view b) { answer(client, slot, b); });
  for (const auto& p : peers_)
    if (p.id == self_id_ && peers_.size() > 1) proxy_->set_source_host(p.host);
  // TLS to the leader's tls-port: with tls-replication, or when the leader
  // has no plain port (null without any TLS configuration).
  proxy_->set_tls_context(server_.tls_context());

  uv_timer_init(server_.loop(), &tick_timer_);
  uv_timer_start(&tick_timer_, on_tick, static_cast<uint64_t>(tick_ms_),
                 static_cast<uint64_t>(tick_ms_));
  tick_started_ = true;
  // A lone voter need not wait out an election timeout to lead.
  if (sole_voter()) node_->campaign();
  process_ready();
  return true;
}

std::string Replication::write_initial_snapshot(const std::vector<raft::NodeId>& voters,
                                                const storage::Keyspace& keyspace,
                                                std::string_view acl_users) {
  storage::RdbSnapshotInfo info;
  info.meta.index = static_cast<raft::Index>(voters.size());
  info.meta.term = 1;
  info.meta.conf = raft::ConfState{voters, {}};
  info.extra_aux.emplace_back(kAuxMembers, members_.encode());
  if (!acl_users.empty()) info.extra_aux.emplace_back(kAuxAcl, std::string(acl_users));
  info.ctime = unix_time_ms() / 1000;
  SnapshotResult r = write_snapshot_sync(keyspace, info, storage_->snapshot_path(info.meta));
  if (!r.ok) return "writing the initial snapshot: " + r.error;
  storage_->install_local_snapshot(info.meta);
  applied_ = info.meta.index;
  applied_term_ = 1;
  snapshot_index_ = info.meta.index;
  last_save_time_s_ = info.ctime;
  return {};
}

bool Replication::import_initial_rdb(const std::vector<raft::NodeId>& voters, std::string* error) {
  // The imported data becomes the cluster's first snapshot, right after the
  // bootstrap entries: every initial member importing the same file starts
  // from the same state, and later members receive it by InstallSnapshot.
  try {
    LoadedSnapshot loaded = load_snapshot(config_.import_rdb, config_.databases);
    if (std::string err = write_initial_snapshot(voters, *loaded.keyspace, {}); !err.empty()) {
      *error = "import-rdb: " + err;
      return false;
    }
    KV_LOG_NOTICE("Imported %llu keys from %s (RDB version %d) as the initial state",
                  static_cast<unsigned long long>(loaded.keys), config_.import_rdb.c_str(),
                  loaded.rdb_version);
    server_.replace_keyspace(std::move(loaded.keyspace));
    server_.acl().restore_from_aux(loaded.extra_aux);
  } catch (const std::exception& e) {
    *error = std::string("import-rdb: ") + e.what();
    return false;
  }
  return true;
}

void Replication::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (tick_started_) {
    uv_timer_stop(&tick_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer_), nullptr);
    tick_started_ = false;
  }
  snapshotter_.abort();
  if (transport_) transport_->close();
  if (proxy_) proxy_->close();
}

void Replication::update_transport_peers() {
  if (!transport_) return;
  transport_->set_peers(transport_addresses());
}

void Replication::on_tick(uv_timer_t* timer) {
  static_cast<Replication*>(timer->data)->tick();
}

void Replication::tick() {
  if (stopped_) return;
  node_->tick();
  int64_t now = unix_time_ms();
  // Reads whose barrier never came (leadership moved): let the client retry.
  int64_t read_timeout = 4LL * config_.election_timeout;
  std::vector<uint64_t> late;
  for (auto& [id, batch] : read_batches_)
    if (!batch.confirmed && now - batch.started_ms > read_timeout) late.push_back(id);
  for (uint64_t id : late)
    fail_read_batch(
        id, resp::error_reply_bytes("TRYAGAIN read barrier timed out (leadership changed); retry"));
  // Writes proposed by a leader that lost leadership and that no applied
  // entry has resolved within the timeout: their outcome is unknown.
  if (!is_leader()) {
    int64_t unknown_timeout = 10LL * config_.election_timeout;
    std::string err = resp::error_reply_bytes(kUnknownOutcome);
    for (const auto& [index, w] : waiters_.take_if(
             [&](raft::Index, const Waiter& w) { return now - w.proposed_ms > unknown_timeout; }))
      answer(w.client_id, w.slot, err);
  }
  transfer_->on_tick(now);
  membership_tick();
  process_ready();
}

bool Replication::is_leader() const {
  return node_ && node_->role() == raft::Role::kLeader;
}

raft::NodeId Replication::leader_id() const {
  return node_ ? node_->leader() : raft::kNoNode;
}

std::string Replication::leader_client_address() const {
  raft::NodeId lead = leader_id();
  for (const auto& p : peers_)
    if (p.id == lead && lead != raft::kNoNode && p.client_port)
      return p.host + ":" + std::to_string(p.client_port);
  return {};
}

std::string Replication::leader_address_for(bool tls, bool* is_tls) const {
  raft::NodeId lead = leader_id();
  for (const auto& p : peers_) {
    if (p.id != lead || lead == raft::kNoNode) continue;
    *is_tls = p.tls_port && (tls || !p.client_port);
    int port = *is_tls ? p.tls_port : p.client_port;
    return port ? p.host + ":" + std::to_string(port) : std::string();
  }
  return {};
}

// Encodes into a buffer kept between writes, so the record's only
// allocation is its Payload, which every copy of the entry then shares.
raft::Payload Replication::encode_record(int db, std::span<const std::string_view> argv) {
  record_buf_.clear();
  encode_single_command_record(server_.next_write_time_ms(), static_cast<uint32_t>(db), argv,
                               &record_buf_);
  raft::Payload p(record_buf_);
  if (record_buf_.capacity() > kMaxKeptRecordBuffer) std::string().swap(record_buf_);
  return p;
}

void Replication::write(Client& client, const CommandSpec& spec, const resp::Argv& argv) {
  if (!failure_.empty()) {
    client.reply_in_order([&](resp::ReplyWriter& w) {
      w.error("MISCONF Errors writing to the Raft log, writes are refused: " + failure_);
    });
    return;
  }
  if (removed()) {
    client.reply_in_order([&](resp::ReplyWriter& w) { w.error(removed_error(client)); });
    return;
  }
  if (!is_leader()) {
    follower_route(client, spec, argv);
    return;
  }
  if ((spec.flags & kCmdDenyOom) && !server_.evictor().make_room()) {
    client.reply_in_order([](resp::ReplyWriter& w) { w.error(kErrOom); });
    return;
  }
  raft::ProposeResult r = node_->propose(encode_record(client.db, argv));
  if (r.status == raft::Status::kOk && (spec.flags & kCmdDenyOom))
    server_.evictor().note_proposed(r.index, write_growth_estimate(argv));
  if (r.status == raft::Status::kOk) {
    uint64_t slot = client.reserve_reply();
    add_waiter(r.index, {client.id(), slot, r.term, client.reply.protocol(), unix_time_ms()});
    client.last_write_index = r.index;
    return;
  }
  if (r.status == raft::Status::kNotLeader) {
    follower_route(client, spec, argv);
    return;
  }
  std::string msg = r.status == raft::Status::kTransferring
                        ? "TRYAGAIN leadership transfer in progress; retry"
                        : std::string("ERR proposal refused: ") + raft::to_string(r.status);
  client.reply_in_order([&](resp::ReplyWriter& w) { w.error(msg); });
}

// An applied (so committed) entry of term T at index n means that no entry
// of an earlier term after n can ever commit: every later leader's log
// holds the entry at n, and the terms in a log never decrease with the
// index. So once this node applies the first entry of a new term — or a
// snapshot of it — every waiter still queued (all are after n) whose
// proposal is of an earlier term has failed for sure: it is answered now,
// not when a later proposal's index passes its own (with no more writes
// here, that is never, and a pipelining client waiting for its whole
// batch would wait forever).
void Replication::fail_superseded_waiters(raft::Term term) {
  auto superseded = [&](raft::Index, const Waiter& w) { return w.term < term; };
  for (const auto& [index, w] : waiters_.take_if(superseded))
    answer(w.client_id, w.slot, resp::error_reply_bytes(kTryAgainNotCommitted));
}

void Replication::add_waiter(raft::Index index, const Waiter& w) {
  for (const auto& [old_index, old] : waiters_.add(index, w))
    answer(old.client_id, old.slot, resp::error_reply_bytes(kUnknownOutcome));
}

Replication::LogMemory Replication::log_memory() const {
  LogMemory m;
  // Entry payloads are shared by all their holders (core, storage mirror,
  // Ready, messages): counted once here, for the whole process.
  m.log = raft::Payload::live_bytes();
  if (storage_) m.log += storage_->mirror_bytes() + storage_->write_buffer_bytes();
  m.pipeline = (node_ ? node_->held_bytes() : 0) + ready_bytes_;
  if (transport_) m.peers = transport_->buffer_bytes();
  return m;
}

bool Replication::propose_internal(int db, const std::vector<std::string_view>& argv,
                                   raft::Index* index) {
  if (!is_leader() || !failure_.empty()) return false;
  raft::ProposeResult r = node_->propose(encode_record(db, argv));
  if (r.status != raft::Status::kOk) return false;
  if (index) *index = r.index;
  internal_index_ = r.index;
  internal_term_ = r.term;
  return true;
}

bool Replication::internal_proposal_pending() const {
  // In a later term the entry was either applied already or dropped by a
  // leader change: either way nothing of it is still on its way.
  return node_ && internal_term_ == node_->term() && applied_ < internal_index_;
}

// read-consistency and follower-mode may change at runtime (CONFIG SET):
// this recomputes the modes from the config, at start and after each
// CONFIG SET, so a change takes effect on the next command. The Raft core
// must agree on lease-based reads: a leader asked to stop using leases must
// also stop answering ReadIndex from its lease.
void Replication::sync_config() {
  read_consistency_ = config_.read_consistency == "lease"   ? ReadConsistency::kLease
                      : config_.read_consistency == "stale" ? ReadConsistency::kStale
                      : config_.read_consistency == "log"   ? ReadConsistency::kLog
                                                            : ReadConsistency::kLinearizable;
  follower_mode_ =
      config_.follower_mode == "redirect" ? FollowerMode::kRedirect : FollowerMode::kProxy;
  if (node_)
    node_->set_read_only(read_consistency_ == ReadConsistency::kLease
                             ? raft::ReadOnlyOption::kLeaseBased
                             : raft::ReadOnlyOption::kSafe);
}

void Replication::read(Client& client, const CommandSpec& spec, const resp::Argv& argv) {
  auto run_now = [&]() {
    client.reply_in_order([&](resp::ReplyWriter& w) {
      ExecContext ctx{server_.keyspace(), client.db, unix_time_ms(), argv, w, &spec};
      spec.handler(ctx);
    });
  };
  if (read_consistency_ == ReadConsistency::kStale) {
    run_now();
    return;
  }
  if (!is_leader()) {
    if (!follower_read(client, spec, argv)) follower_route(client, spec, argv);
    return;
  }
  if (!failure_.empty()) {
    // Nothing commits through this node any more. A sole voter's applied
    // state holds every write it acknowledged and nobody else can commit,
    // so it keeps serving reads from it (as Redis does under MISCONF); the
    // leader of several may be replaced already without knowing it.
    if (sole_voter()) {
      run_now();
    } else {
      client.reply_in_order([](resp::ReplyWriter& w) {
        w.error("TRYAGAIN this node cannot persist its Raft log; retry elsewhere");
      });
    }
    return;
  }
  if (read_consistency_ == ReadConsistency::kLog) {
    write(client, spec, argv);
    return;
  }
  raft::Index commit = node_->log().committed();
  // Serving from local state needs (1) every commit applied, (2) the
  // client's own writes applied, and (3) an entry of this leader's term
  // committed: before that, the commit index may lag what earlier leaders —
  // or this node before a restart — committed, and a read would be stale.
  bool caught_up = applied_ >= commit && client.last_write_index <= applied_ &&
                   node_->log().term(commit) == node_->term();
  // A lone voter cannot be deposed by anyone, and a lease holder by nobody
  // within its lease: both may serve from state that includes every commit.
  if (caught_up &&
      (sole_voter() || (read_consistency_ == ReadConsistency::kLease && node_->lease_valid()))) {
    run_now();
    return;
  }
  PendingRead r;
  r.client_id = client.id();
  r.slot = client.reserve_reply();
  r.spec = &spec;
  r.db = client.db;
  r.protocol = client.reply.protocol();
  r.min_index = client.last_write_index;
  if (caught_up) {
    // ReadIndex as in the Raft thesis (§6.4): the read index is the commit
    // index when the read arrived, and this leader's is complete (an entry
    // of its term is committed). Everything up to it is applied already,
    // so the read runs now, at the point it arrived in this client's
    // stream; the barrier this batch sends next confirms this node was
    // still the leader after the read arrived, and only then is the reply
    // released. Nothing of the request needs keeping.
    r.early = true;
    r.need = std::max(commit, r.min_index);
    execute_read(r, argv);
    client.pending_reply_bytes += r.result.size();  // the caller checks the limit
  } else {
    r.argv.assign(argv);
  }
  read_batch_.push_back(std::move(r));
}

void Replication::follower_route(Client& client, const CommandSpec& spec, const resp::Argv& argv) {
  if (client.name == LeaderProxy::kClientName) {
    // Forwarded to us by a node that thought we lead: never forward again.
    client.reply_in_order(
        [](resp::ReplyWriter& w) { w.error("TRYAGAIN this node is not the Raft leader; retry"); });
    return;
  }
  // A client on TLS is sent to the leader's tls-port (as Redis Cluster does
  // with tls-cluster); the proxy goes there when tls-replication is on. Each
  // falls back to the other kind of port when the leader lacks this one.
  bool redirect = follower_mode_ == FollowerMode::kRedirect;
  bool tls = false;
  std::string addr =
      leader_address_for(redirect ? client.tls != nullptr : config_.tls_replication, &tls);
  if (addr.empty()) {
    client.reply_in_order([](resp::ReplyWriter& w) { w.error(kNoLeader); });
    return;
  }
  if (redirect) {
    uint16_t slot = spec.first_key > 0 && static_cast<size_t>(spec.first_key) < argv.size()
                        ? key_hash_slot(argv[static_cast<size_t>(spec.first_key)])
                        : 0;
    client.reply_in_order(
        [&](resp::ReplyWriter& w) { w.error("MOVED " + std::to_string(slot) + " " + addr); });
    return;
  }
  uint64_t slot = client.reserve_reply();
  forward_to_leader(client, slot, addr, tls, argv);
}

void Replication::answer(uint64_t client_id, uint64_t slot, std::string_view bytes) {
  Client* c = server_.find_client(client_id);
  if (!c || c->closing) return;
  if (transaction_take_reply(*c, slot, bytes)) return;  // a WATCH read
  if (c->fill_reply(slot, bytes)) server_.on_client_output(*c);
}

void Replication::on_loop_iteration() {
  if (stopped_ || !node_) return;
  if (!read_batch_.empty()) start_read_barrier();
  on_follower_loop_iteration();
  process_ready();
  // The leader's heartbeats and appends made while a batch is on the disk
  // go out now, not after that fsync (see Node::take_early_messages).
  if (disk_busy_) {
    std::vector<raft::Message> early = node_->take_early_messages();
    send_messages(early);
    apply_committed_during_disk_write();
  }
  compact_when_idle();
  remove_obsolete_files();
}

// Entries that became committed while the Ready's batch is on the disk
// (the leader heard a quorum's acknowledgements, a follower learned the
// commit index) are applied and answered now, durable on this node or not,
// not after that fsync and the next Ready (Node::take_committed_entries). They follow the Ready's
// own committed entries, so only once all of those were applied before the fsync (see
// process_ready); otherwise they wait for finish_ready as before.
void Replication::apply_committed_during_disk_write() {
  if (!in_ready_ || applied_early_ != rd_.committed_entries.size() || !failure_.empty()) return;
  std::vector<raft::Entry> entries = node_->take_committed_entries();
  if (entries.empty()) return;
  entries_applied_during_disk_write_ += entries.size();
  apply_entries(entries);
  serve_reads();
}

// A snapshot's compaction normally rides on the next Ready batch; a node
// with no traffic after the snapshot would keep the covered log segments
// and the older snapshot file on disk indefinitely. When nothing else is on
// the disk, send that work there on its own.
void Replication::compact_when_idle() {
  if (stopped_ || in_ready_ || disk_busy_ || !failure_.empty() || !storage_->compaction_pending() ||
      node_->has_ready())
    return;
  batch_ = storage_->prepare_compaction();
  compaction_only_ = true;
  disk_busy_ = true;
  disk_error_.clear();
  uv_queue_work(server_.loop(), &disk_req_, on_disk_work, on_disk_done);
}

// The disk thread only queues the files (its next fdatasync must not wait
// for an unlink); one worker at a time deletes them here. The loop thread
// just starts it and logs the outcome.
void Replication::remove_obsolete_files() {
  if (stopped_ || removing_files_ || !storage_ || !storage_->has_obsolete_files()) return;
  removing_files_ = true;
  removal_error_.clear();
  uv_queue_work(
      server_.loop(), &removal_req_,
      [](uv_work_t* req) {
        auto* self = static_cast<Replication*>(req->data);
        try {
          self->storage_->remove_obsolete_files();
        } catch (const std::exception& e) {
          self->removal_error_ = e.what();
        }
      },
      [](uv_work_t* req, int) {
        auto* self = static_cast<Replication*>(req->data);
        self->removing_files_ = false;
        // Not fatal: the file stays queued and is retried on a later
        // iteration; it only costs disk space meanwhile.
        if (!self->removal_error_.empty())
          KV_LOG_WARNING("Removing obsolete Raft files: %s", self->removal_error_.c_str());
      });
}

void Replication::start_read_barrier() {
  std::vector<PendingRead> reads;
  reads.swap(read_batch_);
  if (!is_leader()) {
    // Lost leadership since these were queued: let the clients retry.
    std::string err =
        resp::error_reply_bytes("TRYAGAIN this node stopped being the Raft leader; retry");
    for (auto& r : reads)
      answer(r.client_id, r.slot, err);
    return;
  }
  uint64_t id = next_read_context_++;
  raft::Index commit = node_->log().committed();
  raft::Status st = node_->read_index(std::to_string(id));
  if (st != raft::Status::kOk) {
    std::string err = resp::error_reply_bytes(std::string("TRYAGAIN read barrier refused: ") +
                                              raft::to_string(st));
    for (auto& r : reads)
      answer(r.client_id, r.slot, err);
    return;
  }
  ReadBatch& batch = open_read_batch(id, std::move(reads));
  for (size_t i = 0; i < batch.reads.size(); ++i) {
    PendingRead& r = batch.reads[i];
    if (r.early) continue;  // ran on arrival; waits only for the barrier
    r.need = std::max(commit, r.min_index);
    read_queue_.emplace(r.need, std::make_pair(id, i));
  }
  serve_reads();
}

Replication::ReadBatch& Replication::open_read_batch(uint64_t id,
                                                     std::vector<PendingRead>&& reads) {
  ReadBatch& batch = read_batches_[id];
  batch.started_ms = unix_time_ms();
  batch.remaining = reads.size();
  batch.reads = std::move(reads);
  return batch;
}

void Replication::on_read_state(const raft::ReadState& rs) {
  uint64_t id = 0;
  std::from_chars(rs.context.data(), rs.context.data() + rs.context.size(), id);
  auto it = read_batches_.find(id);
  if (it == read_batches_.end()) return;
  if (it->second.follower) {
    confirm_follower_reads(id, rs.index);
    return;
  }
  ReadBatch& batch = it->second;
  batch.confirmed = true;
  batch.confirmed_index = rs.index;
  for (size_t i = 0; i < batch.reads.size(); ++i) {
    PendingRead& r = batch.reads[i];
    if (r.done || !r.executed) continue;  // unexecuted reads are handled when they run
    // A read run on arrival needs only what was committed when it arrived
    // (see read()); the others, queued before this leader knew its commit
    // index was complete, need the barrier's index.
    if (r.exec_index >= (r.early ? r.need : rs.index)) {
      release_read(id, batch, r);
      if (read_batches_.find(id) == read_batches_.end()) return;  // batch finished
    } else {
      uncharge_read(r);
      r.executed = false;  // ran too early for the confirmed index: run again there
      r.need = rs.index;
      read_queue_.emplace(r.need, std::make_pair(id, i));
    }
  }
}

void Replication::process_ready() {
  while (!stopped_ && !in_ready_ && !disk_busy_ && failure_.empty() && node_->has_ready()) {
    rd_ = node_->ready();
    ready_bytes_ = raft::ready_heap_bytes(rd_);
    in_ready_ = true;
    if (rd_.soft_state) on_soft_state(*rd_.soft_state);
    send_messages(rd_.early_messages);
    bool conf_changed = std::any_of(rd_.entries.begin(), rd_.entries.end(), [](const auto& e) {
      return e.type == raft::EntryType::kConfChange;
    });
    try {
      batch_ = storage_->prepare_taking_entries(rd_);  // rd_.entries is empty from here on
    } catch (const std::exception& e) {
      on_storage_failure(std::string("preparing a batch: ") + e.what());
      return;
    }
    if (conf_changed) {
      batch_.conf = node_->conf_state();
      observe_appended(batch_.entries);  // the entries now live in the batch
    }
    const raft::HardState& cur = storage_->hard_state();
    bool needs_disk =
        !batch_.entries.empty() || !batch_.snapshot_chunks.empty() || batch_.snapshot ||
        batch_.conf || batch_.compact_up_to || batch_.snapshot_floor ||
        (batch_.hard_state &&
         (batch_.hard_state->term != cur.term || batch_.hard_state->vote != cur.vote));
    if (needs_disk) {
      // Committed entries this node already holds durably can be applied
      // while the new batch is on the disk (they are committed, so no
      // truncation can touch them); only the rest must wait for the fsync.
      // This saves a whole fsync of latency per write on the leader.
      if (!rd_.snapshot && batch_.snapshot_chunks.empty()) {
        raft::Index durable = storage_->last_index();
        size_t n = 0;
        while (n < rd_.committed_entries.size() && rd_.committed_entries[n].index <= durable)
          ++n;
        if (n > 0) {
          std::vector<raft::Entry> early(
              std::make_move_iterator(rd_.committed_entries.begin()),
              std::make_move_iterator(rd_.committed_entries.begin() + static_cast<long>(n)));
          applied_early_ = n;
          apply_entries(early);
          for (const raft::Entry& e : early)
            ready_bytes_ -= std::min(ready_bytes_, raft::entry_heap_bytes(e));
          early.clear();
          serve_reads();
        }
      }
      if (persist_on_loop_thread()) {
        ++loop_batches_;
        try {
          storage_->persist(batch_);
        } catch (const std::exception& e) {
          on_storage_failure(e.what());
          return;
        }
        finish_ready();
        continue;
      }
      // One write + one fdatasync for the whole batch, off the loop thread.
      disk_busy_ = true;
      disk_error_.clear();
      uv_queue_work(server_.loop(), &disk_req_, on_disk_work, on_disk_done);
      return;
    }
    try {
      storage_->persist(batch_);  // nothing that touches the disk
    } catch (const std::exception& e) {
      on_storage_failure(e.what());
      return;
    }
    finish_ready();
  }
}

// Where a batch is persisted: on the loop thread when the hand-off to the
// disk thread and back (a futex wake, two context switches and an async
// wake-up of the loop, per batch) costs more than it saves.
//
// With raft-fsync never, persisting a batch is one write() into the page
// cache. For a small batch that is cheaper on the loop thread than the
// hand-off: with 50 clients at -P 1 the batches are a few dozen entries
// and the hand-offs were most of the server's CPU. A large batch still goes
// to the disk thread, so its copy into the page cache overlaps the loop's
// work.
//
// A lone voter (one node, no followers to send to, no acknowledgement to
// wait for) has nothing to overlap with its fsync either, and while a batch
// is away the clients the previous one answered form a second, smaller
// batch: clients split into two groups per fdatasync and each waits for
// the other's. It writes and fdatasyncs on the loop, which answers every
// client of the iteration after one fdatasync, as redis-server's
// appendfsync always does.
//
// A follower's small batch with raft-fsync always as well: its fdatasync
// overlaps nothing the leader waits for (the acknowledgement follows it
// either way), while the hand-off and the wake-up sit on the commit path of
// every write (3 nodes, 40k SET/s: p50 3.9 -> 3.3 ms; -P 1 throughput
// +15%). Its loop pauses for that fdatasync, so a read it serves meanwhile
// waits up to one fsync. The leader keeps the disk thread: its fsync
// overlaps sending the entries and the followers' fsyncs.
//
// Anything else that may block for long (snapshots, compaction, a large
// batch such as a follower catching up) goes to the disk thread.
bool Replication::persist_on_loop_thread() const {
  if (batch_.snapshot || !batch_.snapshot_chunks.empty() || batch_.compact_up_to ||
      batch_.snapshot_floor)
    return false;
  const bool fsync = config_.raft_fsync != "never";
  if (fsync && sole_voter() && node_->conf_state().learners.empty()) return true;
  if (fsync && is_leader()) return false;
  constexpr size_t kMaxInlineBytes = 64 * 1024;
  size_t bytes = 0;
  for (const raft::Entry& e : batch_.entries) {
    bytes += e.data.size() + storage::RaftLog::kRecordOverhead;
    if (bytes > kMaxInlineBytes) return false;
  }
  return true;
}

// This node is the only voter: it commits alone and nobody can depose it.
bool Replication::sole_voter() const {
  const raft::ConfState& conf = node_->conf_state();
  return conf.voters.size() == 1 && conf.voters.front() == self_id_;
}

void Replication::on_disk_work(uv_work_t* req) {
  auto* self = static_cast<Replication*>(req->data);
  try {
    self->storage_->persist(self->batch_);
  } catch (const std::exception& e) {
    self->disk_error_ = e.what();
  }
}

void Replication::on_disk_done(uv_work_t* req, int) {
  auto* self = static_cast<Replication*>(req->data);
  self->disk_busy_ = false;
  if (!self->disk_error_.empty()) {
    self->compaction_only_ = false;
    self->on_storage_failure(self->disk_error_);
    return;
  }
  if (self->stopped_) return;
  if (std::exchange(self->compaction_only_, false)) {
    self->storage_->publish(self->batch_);
  } else {
    self->finish_ready();
  }
  self->process_ready();
}

void Replication::finish_ready() {
  storage_->publish(batch_);
  ++batches_;
  fsyncs_ += batch_.syncs;
  if (!batch_.installed_snapshot_path.empty())
    install_received_snapshot(batch_.installed_snapshot_path);
  send_messages(rd_.messages);
  bool conf_changed =
      std::any_of(rd_.committed_entries.begin(), rd_.committed_entries.end(),
                  [](const auto& e) { return e.type == raft::EntryType::kConfChange; });
  // Entries applied before the fsync (see process_ready) are skipped here;
  // the core still gets the whole Ready back in advance().
  std::vector<raft::Entry> rest(
      std::make_move_iterator(rd_.committed_entries.begin() + static_cast<long>(applied_early_)),
      std::make_move_iterator(rd_.committed_entries.end()));
  applied_early_ = 0;
  apply_entries(rest);
  if (conf_changed) update_transport_peers();
  for (const auto& rs : rd_.read_states)
    on_read_state(rs);
  serve_reads();
  node_->advance(rd_);
  in_ready_ = false;
  rd_ = raft::Ready{};
  release_log_memory();
  ready_bytes_ = 0;
  if (snapshot_awaiting_log_) {
    const raft::SnapshotMeta meta = *snapshot_awaiting_log_;
    try {
      install_taken_snapshot(meta);  // or it keeps waiting
    } catch (const std::exception& e) {
      last_bgsave_ok_ = false;
      KV_LOG_WARNING("Installing the snapshot at raft index %llu failed: %s",
                     static_cast<unsigned long long>(meta.index), e.what());
    }
  }
  maybe_snapshot();
}

// Applied entries leave memory at once (the storage reads them back from
// the segment files if a peer far behind needs them), except those a peer
// close behind is about to be sent: the in-memory log then costs what is in
// flight, not what accumulated since the last snapshot, and no snapshot is
// needed to give that memory back.
void Replication::release_log_memory() {
  constexpr raft::Index kPeerWindow = 100000;  // at most this many, ~14 MB of SETs
  raft::Index keep = applied_;
  if (is_leader())
    for (const auto& [id, pr] : node_->progress())
      if (id != self_id_) keep = std::min(keep, pr.match);
  keep = std::max(keep, applied_ > kPeerWindow ? applied_ - kPeerWindow : 0);
  storage_->release_applied(keep);
}

void Replication::send_messages(std::vector<raft::Message>& messages) {
  if (!transport_) return;
  for (const auto& m : messages)
    if (m.to != self_id_) transport_->send(m);
}

// Applies a batch in order. A batch of a busy loop iteration is hundreds of
// writes to random keys, and each lookup in a large keyspace is two cache
// misses (bucket slot, entry) that the CPU would take one after the other.
// The loop asks for the keys of the entries kPrefetchDistance ahead (bucket
// slots) and half that ahead (entries), so those misses overlap with the
// work of the entries in between. Only a hint: a record whose first
// argument is not a key just prefetches something useless.
void Replication::apply_entries(std::vector<raft::Entry>& entries) {
  constexpr size_t kPrefetchDistance = 8;
  storage::Keyspace& ks = server_.keyspace();
  auto prefetch = [&](size_t i, int stage) {
    if (i >= entries.size() || entries[i].type != raft::EntryType::kNormal) return;
    if (auto hint = first_key_of_record(entries[i].data))
      ks.prefetch(static_cast<int>(hint->db), hint->key, stage);
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    prefetch(i + kPrefetchDistance, 1);
    prefetch(i + kPrefetchDistance / 2, 2);
    apply_entry(entries[i]);
    if (!read_queue_.empty()) serve_reads();
  }
}

void Replication::apply_entry(const raft::Entry& e) {
  const raft::Term previous_term = applied_term_;
  applied_ = e.index;
  applied_term_ = e.term;
  ++entries_applied_;
  bytes_since_snapshot_ += e.data.size() + storage::RaftLog::kRecordOverhead;
  // Waiters are resolved in log order; one left behind (which only a
  // replaced prefix could cause) must not hold up those after it.
  for (const auto& [index, w] : waiters_.take_below(e.index))
    answer(w.client_id, w.slot, resp::error_reply_bytes(kUnknownOutcome));
  std::optional<Waiter> waiter = waiters_.take(e.index);
  // A waiter whose proposal was replaced by another term's entry: the
  // proposal can never commit (Log Matching), so it definitely failed.
  if (waiter && waiter->term != e.term) {
    answer(waiter->client_id, waiter->slot, resp::error_reply_bytes(kTryAgainNotCommitted));
    waiter.reset();
  }
  if (e.term > previous_term) fail_superseded_waiters(e.term);
  if (e.type == raft::EntryType::kConfChange && on_conf_change_applied(e, waiter)) return;
  if (e.type == raft::EntryType::kConfChange || e.data.empty()) {
    if (waiter) answer(waiter->client_id, waiter->slot, "+OK\r\n");
    return;
  }
  WriteRecord* rec = &apply_record_;
  const bool decoded = decode_write_record_into(e.data, rec);
  resp::ReplyWriter reply(waiter ? waiter->protocol : 2);
  if (!decoded) {
    // Checksummed on disk and on the wire, so this is a bug or a version
    // skew; every replica skips it the same way.
    KV_LOG_WARNING("Raft: entry %llu (term %llu) is not a valid write record; skipped",
                   static_cast<unsigned long long>(e.index),
                   static_cast<unsigned long long>(e.term));
    reply.error("ERR internal error: malformed replicated record");
  } else {
    // Record times never go backwards, even across leaders with skewed clocks.
    applied_time_ms_ = std::max(applied_time_ms_, rec->time_ms);
    int db = static_cast<int>(rec->db);
    if (rec->commands.size() > 1) reply.array_header(static_cast<int64_t>(rec->commands.size()));
    for (const auto& argv : rec->commands) {
      const CommandSpec* spec = server_.commands().find(argv[0]);
      if (spec) spec = route_subcommand(*spec, argv);
      if (!spec || !(spec->flags & (kCmdWrite | kCmdReadonly)) ||
          !server_.keyspace().valid_db(db)) {
        reply.error("ERR command in replicated record cannot be applied");
        continue;
      }
      ExecContext ctx{server_.keyspace(), db, applied_time_ms_, argv, reply, spec};
      ctx.acl = &server_.acl();
      spec->handler(ctx);
      server_.stats().dirty += static_cast<uint64_t>(ctx.dirty);
    }
  }
  if (waiter) answer(waiter->client_id, waiter->slot, reply.buffer());
}

void Replication::serve_reads() {
  while (!read_queue_.empty() && read_queue_.begin()->first <= applied_) {
    auto [batch_id, i] = read_queue_.begin()->second;
    read_queue_.erase(read_queue_.begin());
    auto it = read_batches_.find(batch_id);
    if (it == read_batches_.end()) continue;  // the batch failed
    ReadBatch& batch = it->second;
    PendingRead& r = batch.reads[i];
    if (r.done || r.executed) continue;
    if (batch.confirmed && batch.confirmed_index > applied_) {
      r.need = batch.confirmed_index;
      read_queue_.emplace(r.need, std::make_pair(batch_id, i));
      continue;
    }
    run_read(r);
    if (batch.confirmed) release_read(batch_id, batch, r);
  }
}

void Replication::release_read(uint64_t batch_id, ReadBatch& batch, PendingRead& r) {
  r.done = true;
  uncharge_read(r);
  answer(r.client_id, r.slot, r.result);
  r.result.clear();
  if (--batch.remaining == 0) read_batches_.erase(batch_id);
}

void Replication::fail_read_batch(uint64_t batch_id, const std::string& err) {
  auto it = read_batches_.find(batch_id);
  if (it == read_batches_.end()) return;
  for (auto& r : it->second.reads) {
    if (r.done) continue;
    uncharge_read(r);
    answer(r.client_id, r.slot, err);
  }
  read_batches_.erase(it);
}

void Replication::fail_unconfirmed_reads(const std::string& err) {
  std::vector<uint64_t> ids;
  for (auto& [id, batch] : read_batches_)
    if (!batch.confirmed) ids.push_back(id);
  for (uint64_t id : ids)
    fail_read_batch(id, err);
}

// A read's result waits in PendingRead until its barrier confirms, so it is
// output of the client as much as its reply buffer: it counts against the
// client's output buffer limit from the moment it is computed (a client
// pipelining huge reads it never takes is closed before they pile up), and
// the reads of a closed client are not run at all.
void Replication::uncharge_read(PendingRead& r) {
  if (!r.executed) return;
  if (Client* c = server_.find_client(r.client_id)) c->pending_reply_bytes -= r.result.size();
}

// Runs a read at the current apply position and keeps its reply bytes in
// r.result (charging them is the caller's: see uncharge_read).
void Replication::execute_read(PendingRead& r, std::span<const std::string_view> argv) {
  r.executed = true;
  r.exec_index = applied_;
  resp::ReplyWriter w(r.protocol);
  ExecContext ctx{server_.keyspace(), r.db, unix_time_ms(), argv, w, r.spec};
  r.spec->handler(ctx);
  r.result.assign(w.buffer());
}

void Replication::run_read(PendingRead& r) {
  Client* client = server_.find_client(r.client_id);
  if (client == nullptr || client->closing) {
    r.executed = true;
    r.exec_index = applied_;
    r.result.clear();
    return;
  }
  if (r.recheck_acl && !acl_still_allows(*client, r)) return;
  r.argv.with_views([&](std::span<const std::string_view> argv) { execute_read(r, argv); });
  client->pending_reply_bytes += r.result.size();
  close_if_output_limit_reached(server_, *client);
}

void Replication::on_soft_state(const raft::SoftState& ss) {
  bool leader_changed = ss.leader != soft_.leader;
  bool was_leader = soft_.role == raft::Role::kLeader;
  soft_ = ss;
  if (leader_changed) {
    if (ss.leader == raft::kNoNode)
      KV_LOG_NOTICE("Raft: no leader known (term %llu)",
                    static_cast<unsigned long long>(node_->term()));
    else if (ss.leader == self_id_)
      KV_LOG_NOTICE("Raft: this node (%llu) is the leader for term %llu",
                    static_cast<unsigned long long>(self_id_),
                    static_cast<unsigned long long>(node_->term()));
    else
      KV_LOG_NOTICE("Raft: node %llu is the leader for term %llu (client address %s)",
                    static_cast<unsigned long long>(ss.leader),
                    static_cast<unsigned long long>(node_->term()),
                    leader_client_address().c_str());
  }
  if (was_leader && ss.role != raft::Role::kLeader) {
    // Read barriers in flight will never be answered by the core.
    // Barriers in flight will never be confirmed by the core; confirmed
    // batches stay valid and are still served as entries are applied.
    fail_unconfirmed_reads(
        resp::error_reply_bytes("TRYAGAIN this node stopped being the Raft leader; retry"));
  }
  // A follower's read barriers asked of the old leader may never be
  // answered: ask whoever leads now.
  if (leader_changed) reissue_follower_read_barriers();
  transfer_->on_soft_state(ss);
}

void Replication::on_storage_failure(const std::string& reason) {
  if (!failure_.empty()) return;
  failure_ = reason;
  KV_LOG_WARNING("Raft storage failed, this node stops accepting writes: %s", reason.c_str());
  // Entries of this node may still commit through the others: unknown outcome.
  std::string err = resp::error_reply_bytes(kUnknownOutcome);
  for (const auto& [index, w] : waiters_.take_all())
    answer(w.client_id, w.slot, err);
  std::string rerr =
      resp::error_reply_bytes("TRYAGAIN this node cannot persist its Raft log; retry elsewhere");
  for (auto& r : read_batch_)
    answer(r.client_id, r.slot, rerr);
  read_batch_.clear();
  while (!read_batches_.empty())
    fail_read_batch(read_batches_.begin()->first, rerr);
  read_queue_.clear();
}

void Replication::install_received_snapshot(const std::string& path) {
  try {
    LoadedSnapshot loaded = load_snapshot(path, config_.databases);
    server_.acl().restore_from_aux(loaded.extra_aux);
    server_.replace_keyspace(std::move(loaded.keyspace));
    load_members(loaded.members);
    replay_member_log();  // entries after the snapshot are newer than its table
    rebuild_peers();
    update_transport_peers();
    KV_LOG_NOTICE("Installed snapshot from the leader: raft index %llu, %llu keys",
                  static_cast<unsigned long long>(loaded.meta.index),
                  static_cast<unsigned long long>(loaded.keys));
    applied_ = loaded.meta.index;
    applied_term_ = loaded.meta.term;
    snapshot_index_ = loaded.meta.index;
    bytes_since_snapshot_ = 0;
    snapshot_started_ = false;  // stagger again: this count now starts in the leader's phase
  } catch (const std::exception& e) {
    // The storage verified the file before installing it; failing now means
    // the state machine cannot follow the log any more.
    on_storage_failure(std::string("loading a received snapshot: ") + e.what());
    return;
  }
  // Entries up to the snapshot were committed, but whose they were is not
  // known here: the proposals waiting on them have an unknown outcome.
  std::string err = resp::error_reply_bytes(kUnknownOutcome);
  for (const auto& [index, w] : waiters_.take_below(applied_ + 1))
    answer(w.client_id, w.slot, err);
  fail_superseded_waiters(applied_term_);
}

storage::RdbSnapshotInfo Replication::snapshot_info_at_applied() const {
  storage::RdbSnapshotInfo info;
  info.meta.index = applied_;
  info.meta.term = applied_term_;
  info.meta.conf = node_->conf_state_at(applied_);
  info.extra_aux.emplace_back(kAuxMembers, members_.encode());
  info.used_mem = 0;
  info.ctime = unix_time_ms() / 1000;
  info.extra_aux.emplace_back(kAuxAcl, server_.acl().serialize());
  return info;
}

// See Config::snapshot_log_percentage: a snapshot costs about the size of
// the keyspace (fork, copy-on-write, the child writing every key), so it
// waits until the log has grown by a fixed share of the last snapshot's
// size; the log bytes since then bound what a restart replays.
//
// Every replica applies the same entries, so the same threshold would make
// all of them fork at the same index: their stalls (fork, copy-on-write
// faults, the children's CPU and disk) would then hit a quorum at once, and
// on replicas that share cores or a disk, each other as well, while the
// write latency needs only one follower and the leader to be quick. So the
// first automatic snapshot after start waits for an extra share of the
// byte threshold, rank/n for the rank of this node's id among the n voters;
// later ones come a whole threshold apart on every node, so the replicas
// stay spread across the interval rather than in step. A snapshot received
// from the leader restarts the count in the leader's phase, so the next one
// is staggered again. (snapshot-log-entries, a knob for tests and tuning,
// stays exact.)
void Replication::maybe_snapshot() {
  if (snapshotter_.running() || snapshot_awaiting_log_ || !failure_.empty() ||
      applied_ <= snapshot_index_)
    return;
  const uint64_t entries = config_.snapshot_log_entries > 0
                               ? static_cast<uint64_t>(config_.snapshot_log_entries)
                               : UINT64_MAX;
  const uint64_t base = storage_->snapshot_size();
  const double pct = static_cast<double>(config_.snapshot_log_percentage);
  double need = std::max(static_cast<double>(config_.snapshot_log_bytes),
                         static_cast<double>(base) * pct / 100.0);
  if (!snapshot_started_) {
    const std::vector<raft::NodeId>& voters = node_->conf_state().voters;
    const size_t rank = static_cast<size_t>(
        std::count_if(voters.begin(), voters.end(), [&](raft::NodeId v) { return v < self_id_; }));
    if (!voters.empty()) need += need * static_cast<double>(rank % voters.size()) / voters.size();
  }
  const bool grown = static_cast<double>(bytes_since_snapshot_) >= need;
  if (applied_ - snapshot_index_ < entries && !grown) return;
  std::string error;
  if (!start_background_snapshot(&error))
    KV_LOG_WARNING("Background snapshot not started: %s", error.c_str());
}

bool Replication::start_background_snapshot(std::string* error) {
  if (snapshotter_.running()) {
    *error = "Background save already in progress";
    return false;
  }
  if (applied_ <= snapshot_index_) {
    *error = "nothing new to snapshot since raft index " + std::to_string(snapshot_index_);
    return false;
  }
  storage::RdbSnapshotInfo info = snapshot_info_at_applied();
  raft::SnapshotMeta meta = info.meta;
  std::string path = storage_->snapshot_path(meta);
  int64_t started = unix_time_us();
  bool ok = snapshotter_.start(
      server_.keyspace(), info, path,
      [this, meta, started](const SnapshotResult& r) {
        last_bgsave_ok_ = r.ok;
        last_fork_us_ = r.fork_us;
        last_snapshot_us_ = unix_time_us() - started;
        if (!r.ok) {
          KV_LOG_WARNING("Background snapshot failed: %s", r.error.c_str());
          return;
        }
        try {
          install_taken_snapshot(meta);
          last_save_time_s_ = unix_time_ms() / 1000;
          KV_LOG_NOTICE(
              "Snapshot at raft index %llu: %llu keys, %llu bytes, fork %.3f ms, "
              "written in %.3f s, %.3f s in all",
              static_cast<unsigned long long>(meta.index), static_cast<unsigned long long>(r.keys),
              static_cast<unsigned long long>(r.bytes), static_cast<double>(r.fork_us) / 1e3,
              static_cast<double>(r.write_us) / 1e6, static_cast<double>(last_snapshot_us_) / 1e6);
        } catch (const std::exception& e) {
          last_bgsave_ok_ = false;
          KV_LOG_WARNING("Installing snapshot %s failed: %s", r.path.c_str(), e.what());
        }
      },
      error);
  // The child's image covers every entry applied so far.
  if (ok) bytes_since_snapshot_ = 0;
  if (ok) snapshot_started_ = true;
  if (ok)
    KV_LOG_NOTICE("Background snapshot started at raft index %llu",
                  static_cast<unsigned long long>(meta.index));
  return ok;
}

// Makes a snapshot this node took (SAVE, or a background child) the stored
// log's new base. Its state machine may have been ahead of the durable log
// (Node::take_committed_entries applies committed entries before this
// node's own fsync of them), and the storage can only drop a prefix it
// holds durably and as the log has it — the batch on the disk may still be
// replacing a conflicting suffix there, which is why this asks the core
// (RaftLog::persisted_last) rather than the storage's last index. Such a
// snapshot waits for that batch (finish_ready installs it then).
void Replication::install_taken_snapshot(const raft::SnapshotMeta& meta) {
  if (meta.index > node_->log().persisted_last()) {
    snapshot_awaiting_log_ = meta;
    return;
  }
  snapshot_awaiting_log_.reset();
  if (storage_->install_local_snapshot(meta)) snapshot_index_ = meta.index;
}

bool Replication::save_now(std::string* error) {
  if (snapshotter_.running()) {
    *error = "Background save already in progress";
    return false;
  }
  if (applied_ <= snapshot_index_) {
    last_save_time_s_ = unix_time_ms() / 1000;
    return true;  // the stored snapshot already covers everything applied
  }
  storage::RdbSnapshotInfo info = snapshot_info_at_applied();
  SnapshotResult r =
      write_snapshot_sync(server_.keyspace(), info, storage_->snapshot_path(info.meta));
  last_bgsave_ok_ = r.ok;
  if (!r.ok) {
    *error = r.error;
    return false;
  }
  bytes_since_snapshot_ = 0;
  snapshot_started_ = true;
  try {
    install_taken_snapshot(info.meta);
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
  last_save_time_s_ = unix_time_ms() / 1000;
  return true;
}

std::vector<std::pair<std::string, std::string>> Replication::info_fields() const {
  std::vector<std::pair<std::string, std::string>> f;
  auto add = [&](std::string k, std::string v) { f.emplace_back(std::move(k), std::move(v)); };
  add("node_id", std::to_string(self_id_));
  add("role", node_ ? raft::to_string(node_->role()) : "none");
  add("term", std::to_string(node_ ? node_->term() : 0));
  add("leader_id", std::to_string(leader_id()));
  add("leader_address", leader_client_address());
  add("commit_index", std::to_string(node_ ? node_->log().committed() : 0));
  // The newest membership change in the log, committed or not (tests wait
  // for commit_index to reach it before starting another change).
  add("last_conf_index", std::to_string(node_ ? node_->last_conf_index() : 0));
  add("applied_index", std::to_string(applied_));
  add("log_first_index", std::to_string(storage_ ? storage_->first_index() : 0));
  add("log_last_index", std::to_string(storage_ ? storage_->last_index() : 0));
  add("snapshot_index", std::to_string(snapshot_index_));
  add("read_consistency", config_.read_consistency);
  add("follower_mode", config_.follower_mode);
  add("follower_reads", config_.follower_reads);
  add("follower_local_reads", std::to_string(follower_local_reads_));
  add("proxy_forwarded", std::to_string(proxy_ ? proxy_->forwarded() : 0));
  add("raft_fsync", config_.raft_fsync);
  add("batches", std::to_string(batches_));
  add("fsyncs", std::to_string(fsyncs_));
  add("loop_thread_batches", std::to_string(loop_batches_));
  add("applied_during_fsync", std::to_string(entries_applied_during_disk_write_));
  add("log_fsync_usec", std::to_string(storage_ ? storage_->log_sync_usec() : 0));
  add("pending_writes", std::to_string(waiters_.size()));
  add("storage_failure", failure_);
  add("cluster_id", config_.cluster_id);
  add("raft_removed", removed() ? "1" : "0");
  if (node_) {
    const raft::ConfState& conf = node_->conf_state();
    std::string voters, learners;
    for (auto v : conf.voters)
      voters += (voters.empty() ? "" : ",") + std::to_string(v);
    for (auto l : conf.learners)
      learners += (learners.empty() ? "" : ",") + std::to_string(l);
    add("voters", voters);
    add("learners", learners);
    for (const auto& [id, pr] : node_->progress()) {
      if (id == self_id_) continue;
      uint64_t last = node_->log().last_index();
      add("peer" + std::to_string(id),
          "match=" + std::to_string(pr.match) + ",next=" + std::to_string(pr.next) +
              ",lag=" + std::to_string(last > pr.match ? last - pr.match : 0));
    }
  }
  if (transport_) {
    for (const auto& s : transport_->stats())
      add("link" + std::to_string(s.id), std::string("connected=") + (s.connected ? "yes" : "no") +
                                             ",inbound=" + (s.inbound ? "yes" : "no") +
                                             ",sent=" + std::to_string(s.messages_sent) +
                                             ",received=" + std::to_string(s.messages_received) +
                                             ",dropped=" + std::to_string(s.dropped));
  }
  return f;
}

std::vector<std::pair<std::string, std::string>> Replication::persistence_fields() const {
  return {
      {"rdb_bgsave_in_progress", snapshotter_.running() ? "1" : "0"},
      {"rdb_last_save_time", std::to_string(last_save_time_s_)},
      {"rdb_last_bgsave_status", last_bgsave_ok_ ? "ok" : "err"},
      {"rdb_last_bgsave_time_sec", std::to_string(last_snapshot_us_ / 1000000)},
      {"latest_fork_usec", std::to_string(last_fork_us_)},
      {"raft_snapshot_index", std::to_string(snapshot_index_)},
      // Redis's aof_last_write_status: "err" once the log cannot be written.
      {"raft_log_last_write_status", failure_.empty() ? "ok" : "err"},
  };
}

}  // namespace kvraft
