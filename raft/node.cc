// raft/node.cc — the Raft protocol: elections (PreVote, CheckQuorum),
// replication with fast backtracking, commit, ReadIndex and leases,
// leadership transfer, snapshots and single-server membership changes.
//
// The structure follows etcd's raft.go: step() normalises terms first (the
// same rules for every role), then dispatches on the role. Messages that
// promise durability (votes, append acknowledgements) go to msgs_, which the
// host sends only after persisting the Ready; the leader's own replication
// traffic goes to early_msgs_.
#include "raft/node.h"

#include <algorithm>
#include <limits>

#include "raft/check.h"
#include "raft/conf_change.h"

namespace kvraft::raft {

namespace {
// A one-entry batch for append_entries, built without the copy an
// initializer list would make of the payload.
std::vector<Entry> one_entry(EntryType type, Payload data) {
  std::vector<Entry> v;
  v.push_back(Entry{0, 0, type, std::move(data)});
  return v;
}
}  // namespace

const char* to_string(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

const char* to_string(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kNotLeader:
      return "not leader";
    case Status::kNoLeader:
      return "no leader";
    case Status::kTransferring:
      return "leadership transfer in progress";
    case Status::kConfChangePending:
      return "membership change pending";
    case Status::kLearnerNotCaughtUp:
      return "learner not caught up";
    case Status::kInvalid:
      return "invalid request";
  }
  return "?";
}

namespace {
constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

// A ReadIndex seq as a heartbeat context: 8 bytes little-endian, short
// enough to stay in std::string's inline buffer (no allocation per
// heartbeat). 0 (no read pending) is the empty context.
std::string encode_read_seq(uint64_t seq) {
  if (seq == 0) return {};
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((seq >> (8 * i)) & 0xff);
  return out;
}

// The seq a heartbeat response echoes; 0 for anything else (an empty
// context, or bytes that are not one of ours).
uint64_t decode_read_seq(const std::string& context) {
  if (context.size() != 8) return 0;
  uint64_t seq = 0;
  for (int i = 0; i < 8; ++i)
    seq |= static_cast<uint64_t>(static_cast<unsigned char>(context[static_cast<size_t>(i)]))
           << (8 * i);
  return seq;
}
}  // namespace

Node::Node(const Config& config, const Storage& storage)
    : config_(config), id_(config.id), storage_(storage), log_(storage) {
  RAFT_CHECK(id_ != kNoNode, "node id must be non-zero");
  RAFT_CHECK(
      config_.election_tick > config_.heartbeat_tick && config_.heartbeat_tick > 0,
      "election_tick " << config_.election_tick << " heartbeat_tick " << config_.heartbeat_tick);
  RAFT_CHECK(config_.max_inflight >= 1 && config_.snapshot_chunk_bytes >= 1 &&
                 config_.max_inflight_snapshot_chunks >= 1,
             "max_inflight " << config_.max_inflight << " chunk " << config_.snapshot_chunk_bytes);
  rng_state_ = config_.seed * 0x9E3779B97F4A7C15ULL + id_;
  HardState hs = storage.hard_state();
  term_ = hs.term;
  vote_ = hs.vote;
  SnapshotMeta snap = storage.snapshot_meta();
  base_conf_ = snap.conf;
  base_conf_index_ = snap.index;
  if (storage.last_index() >= storage.first_index()) {
    note_appended(storage.entries(storage.first_index(), storage.last_index() + 1, kNoLimit));
  }
  if (config_.applied > log_.applied()) {
    log_.applied_to(std::min(config_.applied, log_.committed()));
  }
  become_follower(term_, kNoNode);
  prev_hard_ = hs;
  prev_soft_ = soft_state();
}

// ------------------------------------------------------------------ roles

void Node::reset(Term term) {
  if (term_ != term) {
    RAFT_CHECK(term > term_, "term going backward: " << term_ << " -> " << term);
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout();
  lead_transferee_ = kNoNode;
  votes_.clear();
  progress_.clear();
  pending_reads_.clear();
  reads_waiting_commit_.clear();
  read_heartbeat_due_ = false;
}

void Node::become_follower(Term term, NodeId lead) {
  reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void Node::become_pre_candidate() {
  RAFT_CHECK(role_ != Role::kLeader, "leader cannot become pre-candidate");
  // A pre-election changes neither term nor vote: losing it must leave no
  // trace that could disrupt the cluster.
  votes_.clear();
  lead_ = kNoNode;
  role_ = Role::kPreCandidate;
}

void Node::become_candidate() {
  RAFT_CHECK(role_ != Role::kLeader, "leader cannot become candidate");
  reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void Node::become_leader() {
  RAFT_CHECK(role_ == Role::kCandidate,
             "only a candidate becomes leader, not " << to_string(role_));
  reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  sent_timeout_now_ = false;
  sync_progress_with_conf();
  // The no-op of this term: until an entry of the current term commits the
  // leader does not know the true commit index (needed by ReadIndex), and
  // entries of older terms can only commit with it (§5.4.2).
  append_entries(one_entry(EntryType::kNormal, {}));
}

bool Node::promotable() const {
  return is_voter(conf_state(), id_);
}

void Node::hup(bool transfer) {
  if (role_ == Role::kLeader || !promotable()) return;
  campaign_internal(config_.pre_vote && !transfer, transfer);
}

void Node::campaign() {
  hup(false);
}

void Node::campaign_internal(bool pre, bool transfer) {
  Term vote_term;
  if (pre) {
    become_pre_candidate();
    vote_term = term_ + 1;
  } else {
    become_candidate();
    vote_term = term_;
  }
  poll_and_decide(id_, true, pre);
  if (role_ == Role::kLeader || (pre && role_ == Role::kCandidate)) return;  // single voter
  for (NodeId v : conf_state().voters) {
    if (v == id_) continue;
    Message m;
    m.type = pre ? MessageType::kPreVote : MessageType::kVote;
    m.to = v;
    m.term = vote_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    m.transfer = transfer;
    send(std::move(m));
  }
}

void Node::poll_and_decide(NodeId from, bool granted, bool pre) {
  const ConfState& conf = conf_state();
  if (!is_voter(conf, from)) return;
  votes_.emplace(from, granted);  // the first answer of each voter counts
  size_t yes = 0, no = 0;
  for (NodeId v : conf.voters) {
    auto it = votes_.find(v);
    if (it == votes_.end()) continue;
    (it->second ? yes : no)++;
  }
  size_t q = quorum_size(conf.voters.size());
  if (yes >= q) {
    if (pre) {
      campaign_internal(false, false);
    } else {
      become_leader();
    }
  } else if (no >= conf.voters.size() - q + 1) {
    become_follower(term_, kNoNode);
  }
}

// ------------------------------------------------------------------ time

void Node::tick() {
  ++tick_count_;
  if (role_ == Role::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void Node::tick_election() {
  ++election_elapsed_;
  if (ticks_since_leader_ < std::numeric_limits<int>::max()) ++ticks_since_leader_;
  if (promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    hup(false);
  }
}

void Node::tick_heartbeat() {
  ticks_since_leader_ = 0;
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_tick) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      if (!quorum_active()) {
        become_follower(term_, kNoNode);
        return;
      }
      for (auto& [id, pr] : progress_) {
        if (id != id_) pr.recent_active = false;
      }
    }
    // A transfer that did not finish within an election timeout is abandoned.
    if (lead_transferee_ != kNoNode) abort_transfer();
  }
  // Snapshot transfers that made no progress for a while resume from the
  // last acknowledged offset (chunks or their answers were lost).
  int stall_limit = std::max(2, config_.election_tick / 2);
  for (auto& [id, pr] : progress_) {
    if (id == id_ || pr.state != ProgressState::kSnapshot) continue;
    if (pr.snap_sent > pr.snap_acked || pr.snap_done_sent) {
      if (++pr.snap_stall_ticks >= stall_limit) {
        pr.snap_sent = pr.snap_acked;
        pr.snap_done_sent = false;
        pr.snap_stall_ticks = 0;
        send_snapshot_chunks(id, pr);
      }
    }
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    read_heartbeat_due_ = false;
    if (!pending_reads_.empty()) read_round_seq_ = pending_reads_.back().seq;
    bcast_heartbeat(encode_read_seq(pending_reads_.empty() ? 0 : pending_reads_.back().seq));
  }
}

bool Node::quorum_active() const {
  const ConfState& conf = conf_state();
  size_t active = 0;
  for (NodeId v : conf.voters) {
    if (v == id_) {
      ++active;
      continue;
    }
    auto it = progress_.find(v);
    if (it != progress_.end() && it->second.recent_active) ++active;
  }
  return active >= quorum_size(conf.voters.size());
}

void Node::reset_randomized_election_timeout() {
  randomized_election_timeout_ =
      config_.election_tick + static_cast<int>(next_random() % config_.election_tick);
}

uint64_t Node::next_random() {
  // splitmix64: tiny, deterministic, good enough to spread timeouts.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// ------------------------------------------------------------------ step

void Node::step(const Message& m) {
  if (m.from == kNoNode || m.from == id_ || (m.to != kNoNode && m.to != id_)) return;

  if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      // Leader stickiness: while we heard from a leader within an election
      // timeout, a vote request is ignored (not even answered), unless it
      // comes from a transfer the leader itself started. This is what makes
      // the leader's lease sound, and it stops removed or partitioned nodes
      // from disrupting a healthy cluster.
      bool in_lease = config_.check_quorum && ticks_since_leader_ < config_.election_tick;
      if (in_lease && !m.transfer) return;
    }
    if (m.type == MessageType::kPreVote || (m.type == MessageType::kPreVoteResp && !m.reject)) {
      // Pre-votes speak of a term nobody has entered yet: no term change.
    } else if (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnap) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat)) {
      // A stale leader (e.g. back from a partition, whose pre-votes can never
      // win) learns our term from this and steps down.
      Message r;
      r.type = MessageType::kAppResp;
      r.to = m.from;
      send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.type = MessageType::kPreVoteResp;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      send(std::move(r));
    }
    return;
  }

  if (m.type == MessageType::kPreVote || m.type == MessageType::kVote) {
    handle_vote_request(m);
    return;
  }

  if (role_ != Role::kLeader && (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
                                 m.type == MessageType::kSnap)) {
    // m.term == term_ here: the sender is this term's leader.
    if (role_ != Role::kFollower) become_follower(term_, m.from);
    lead_ = m.from;
    election_elapsed_ = 0;
    ticks_since_leader_ = 0;
  }

  switch (role_) {
    case Role::kLeader:
      step_leader(m);
      break;
    case Role::kPreCandidate:
    case Role::kCandidate:
      step_candidate(m);
      break;
    case Role::kFollower:
      step_follower(m);
      break;
  }
}

void Node::handle_vote_request(const Message& m) {
  bool pre = m.type == MessageType::kPreVote;
  bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) || (pre && m.term > term_);
  bool up_to_date =
      config_.mutations.skip_log_up_to_date_check || log_.is_up_to_date(m.index, m.log_term);
  Message r;
  r.type = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  r.to = m.from;
  if (can_vote && up_to_date) {
    r.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;  // persisted (Ready::hard_state) before r is sent
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  send(std::move(r));
}

void Node::step_candidate(const Message& m) {
  switch (m.type) {
    case MessageType::kPreVoteResp:
      if (role_ == Role::kPreCandidate && m.term == term_ + 1) {
        poll_and_decide(m.from, !m.reject, true);
      }
      break;
    case MessageType::kVoteResp:
      if (role_ == Role::kCandidate) poll_and_decide(m.from, !m.reject, false);
      break;
    case MessageType::kReadIndex:
      reject_read_index(m);
      break;
    default:
      break;  // App/Heartbeat/Snap made us a follower in step()
  }
}

// A ReadIndex request that reached a node which is not the leader (the
// sender's idea of the leader is stale) is rejected, so the asking follower
// fails the read instead of waiting for an answer that never comes.
void Node::reject_read_index(const Message& m) {
  Message r;
  r.type = MessageType::kReadIndexResp;
  r.to = m.from;
  r.context = m.context;
  r.reject = true;
  send(std::move(r));
}

void Node::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::kApp:
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      handle_heartbeat(m);
      break;
    case MessageType::kSnap:
      handle_snapshot_chunk(m);
      break;
    case MessageType::kTimeoutNow:
      // Only the current leader sends this (stale terms were dropped), so it
      // is safe to skip PreVote and the lease check.
      hup(true);
      break;
    case MessageType::kReadIndexResp:
      if (!m.reject) read_states_.push_back(ReadState{m.index, m.context});
      break;
    case MessageType::kReadIndex:
      reject_read_index(m);
      break;
    default:
      break;
  }
}

void Node::handle_append(const Message& m) {
  Message r;
  r.type = MessageType::kAppResp;
  r.to = m.from;
  // Peer input is never trusted: entries must continue m.index one by one,
  // with terms not above the leader's.
  for (size_t k = 0; k < m.entries.size(); ++k) {
    if (m.entries[k].index != m.index + 1 + k || m.entries[k].term > m.term) return;
  }
  if (m.index < log_.committed()) {
    // Everything up to our commit index matches any leader's log.
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  if (log_.match_term(m.index, m.log_term)) {
    Index last_new = m.index + m.entries.size();
    Index ci = log_.find_conflict(m.entries);
    if (ci != 0) {
      RAFT_CHECK(ci > log_.committed(), "entry " << ci << " conflicts with committed log up to "
                                                 << log_.committed() << " (leader " << m.from
                                                 << " term " << m.term << ")");
      const size_t skip = ci - m.index - 1;
      const size_t n = m.entries.size() - skip;
      std::vector<Entry> tail(m.entries.begin() + static_cast<long>(skip), m.entries.end());
      log_.append(std::move(tail));
      note_appended(std::span<const Entry>(log_.unstable_entries()).last(n));
    }
    log_.commit_to(std::min(m.commit, last_new));
    r.index = last_new;
    send(std::move(r));
    return;
  }
  // Fast backtracking (see Message::reject_hint).
  Index hint = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
  r.index = m.index;
  r.reject = true;
  r.reject_hint = hint;
  r.log_term = log_.term(hint).value_or(0);
  send(std::move(r));
}

void Node::handle_heartbeat(const Message& m) {
  // The leader sends min(its commit, our match), so these entries are ours;
  // the clamp only guards against a host that lost its disk.
  log_.commit_to(std::min(m.commit, log_.last_index()));
  Message r;
  r.type = MessageType::kHeartbeatResp;
  r.to = m.from;
  r.context = m.context;
  r.lease_tick = m.lease_tick;
  send(std::move(r));
}

void Node::handle_snapshot_chunk(const Message& m) {
  const SnapshotMeta& meta = m.snapshot;
  Message r;
  r.to = m.from;
  if (meta.index <= log_.committed()) {
    // Stale or duplicate: we are already past it.
    r.type = MessageType::kAppResp;
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  if (log_.match_term(meta.index, meta.term)) {
    // We hold its last entry, hence (log matching) the whole prefix.
    log_.commit_to(meta.index);
    r.type = MessageType::kAppResp;
    r.index = meta.index;
    send(std::move(r));
    return;
  }
  if (m.offset == 0) {
    incoming_snapshot_ = meta;
    incoming_offset_ = 0;
  }
  r.type = MessageType::kSnapResp;
  r.snapshot = meta;
  if (!incoming_snapshot_ || !(*incoming_snapshot_ == meta) || m.offset != incoming_offset_) {
    r.offset = (incoming_snapshot_ && *incoming_snapshot_ == meta) ? incoming_offset_ : 0;
    r.reject = true;
    send(std::move(r));
    return;
  }
  uint64_t end = m.offset + m.data.size();
  if (end > m.snapshot_size || m.done != (end == m.snapshot_size)) return;  // malformed
  snapshot_chunks_.push_back(SnapshotChunk{meta, m.offset, m.data, m.snapshot_size});
  pending_chunk_bytes_ += string_heap_bytes(snapshot_chunks_.back().data);
  incoming_offset_ = end;
  if (!m.done) {
    r.offset = incoming_offset_;
    send(std::move(r));
    return;
  }
  // Last chunk: the snapshot replaces our whole log. The host installs it
  // (Ready::snapshot) before the acknowledgement below goes out.
  log_.restore(meta);
  base_conf_ = meta.conf;
  base_conf_index_ = meta.index;
  conf_history_.clear();
  incoming_snapshot_.reset();
  incoming_offset_ = 0;
  r.type = MessageType::kAppResp;
  r.snapshot = SnapshotMeta{};
  r.index = meta.index;
  send(std::move(r));
}

// ------------------------------------------------------------------ leader

void Node::step_leader(const Message& m) {
  switch (m.type) {
    case MessageType::kAppResp:
    case MessageType::kHeartbeatResp:
    case MessageType::kSnapResp: {
      auto it = progress_.find(m.from);
      if (it == progress_.end()) return;  // not a member (any more)
      Progress& pr = it->second;
      pr.recent_active = true;
      if (m.type == MessageType::kAppResp) {
        handle_append_resp(m, pr);
      } else if (m.type == MessageType::kHeartbeatResp) {
        handle_heartbeat_resp(m, pr);
      } else {
        handle_snapshot_resp(m, pr);
      }
      break;
    }
    case MessageType::kReadIndex:
      handle_read_request(m.from, m.context);
      break;
    default:
      break;
  }
}

void Node::handle_append_resp(const Message& m, Progress& pr) {
  NodeId from = m.from;
  if (m.reject) {
    // The follower's hint names where its log may match ours; narrow it with
    // our own log so the next probe starts at the end of a common term.
    Index hint = m.reject_hint;
    if (m.log_term > 0) hint = log_.find_conflict_by_term(m.reject_hint, m.log_term);
    if (pr.maybe_decr_to(m.index, hint)) {
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      maybe_send_append(from, true);
    }
    return;
  }
  bool was_paused = pr.is_paused();
  if (!pr.maybe_update(m.index)) return;
  if (pr.state == ProgressState::kProbe) {
    pr.become_replicate();
  } else if (pr.state == ProgressState::kSnapshot && pr.match >= pr.snap_meta.index) {
    pr.become_probe();
    pr.become_replicate();
  } else if (pr.state == ProgressState::kReplicate) {
    pr.inflights.free_le(m.index);
  }
  if (maybe_commit()) {
    on_commit_advanced();
    if (role_ != Role::kLeader) return;
    bcast_append(true);
  } else if (was_paused) {
    maybe_send_append(from, false);
  }
  auto it = progress_.find(from);
  if (it == progress_.end()) return;
  while (maybe_send_append(from, false)) {
  }
  if (from == lead_transferee_ && it->second.match == log_.last_index()) send_timeout_now(from);
}

void Node::handle_heartbeat_resp(const Message& m, Progress& pr) {
  pr.lease_acked = std::max(pr.lease_acked, m.lease_tick);
  pr.probe_sent = false;
  if (pr.state == ProgressState::kReplicate && pr.inflights.full()) pr.inflights.free_first();
  if (pr.state != ProgressState::kSnapshot && pr.match < log_.last_index()) {
    maybe_send_append(m.from, true);
  }
  // ReadIndex: an acknowledgement of seq s confirms leadership at a time
  // after every read up to s was registered.
  uint64_t seq = decode_read_seq(m.context);
  if (seq == 0 || seq <= pr.read_acked_seq) return;
  pr.read_acked_seq = seq;
  release_confirmed_reads();
}

// Answers every pending read whose seq a quorum of voters (this leader
// counting for all of its own) has acknowledged.
void Node::release_confirmed_reads() {
  if (pending_reads_.empty()) return;
  uint64_t confirmed = voters_quorum(last_read_seq_, &Progress::read_acked_seq);
  while (!pending_reads_.empty() && pending_reads_.front().seq <= confirmed) {
    PendingRead r = std::move(pending_reads_.front());
    pending_reads_.pop_front();
    answer_read(std::move(r));
  }
}

// A confirmed read: a ReadState here, or the answer to the follower that
// asked.
void Node::answer_read(PendingRead&& r) {
  if (r.from == id_) {
    read_states_.push_back(ReadState{r.index, std::move(r.context)});
    return;
  }
  Message resp;
  resp.type = MessageType::kReadIndexResp;
  resp.to = r.from;
  resp.index = r.index;
  resp.context = std::move(r.context);
  send(std::move(resp));
}

void Node::handle_read_request(NodeId from, std::string context) {
  if (!committed_entry_in_current_term()) {
    reads_waiting_commit_.emplace_back(from, std::move(context));
    return;
  }
  PendingRead r;
  r.context = std::move(context);
  r.index = log_.committed();
  r.from = from;
  r.seq = ++last_read_seq_;
  const ConfState& conf = conf_state();
  bool sole_voter = conf.voters.size() == 1 && conf.voters[0] == id_;
  if (sole_voter || lease_valid() || config_.mutations.read_without_quorum_check) {
    answer_read(std::move(r));
    return;
  }
  pending_reads_.push_back(std::move(r));
  read_heartbeat_due_ = true;
}

// The heartbeat round for the reads registered since the last one, unless
// a round is still in flight (see read_heartbeat_due_).
void Node::flush_read_heartbeat() {
  if (!read_heartbeat_due_ || read_round_in_flight()) return;
  read_heartbeat_due_ = false;
  if (role_ != Role::kLeader || pending_reads_.empty()) return;
  read_round_seq_ = pending_reads_.back().seq;
  bcast_heartbeat(encode_read_seq(read_round_seq_));
}

// The largest value a quorum of voters has reached in `field` of their
// Progress, this node counting with `own`.
uint64_t Node::voters_quorum(uint64_t own, uint64_t Progress::*field) const {
  std::vector<Index> values;
  for (NodeId v : conf_state().voters) {
    if (v == id_) {
      values.push_back(own);
      continue;
    }
    auto it = progress_.find(v);
    values.push_back(it == progress_.end() ? 0 : it->second.*field);
  }
  return quorum_index(values);
}

bool Node::lease_valid() const {
  if (role_ != Role::kLeader || config_.read_only != ReadOnlyOption::kLeaseBased ||
      !config_.check_quorum || sent_timeout_now_) {
    return false;
  }
  uint64_t start = voters_quorum(tick_count_, &Progress::lease_acked);
  // Voters that acknowledged a heartbeat sent at `start` refuse to elect
  // anyone for election_tick of their ticks after receiving it; one tick of
  // margin covers the phase difference between our ticks and theirs.
  return start > 0 && tick_count_ + 1 < start + static_cast<uint64_t>(config_.election_tick);
}

void Node::handle_snapshot_resp(const Message& m, Progress& pr) {
  if (pr.state != ProgressState::kSnapshot || pr.snap_meta.index != m.snapshot.index ||
      pr.snap_meta.term != m.snapshot.term) {
    return;
  }
  pr.snap_stall_ticks = 0;
  if (m.reject) {
    pr.snap_sent = m.offset;
    pr.snap_acked = m.offset;
    pr.snap_done_sent = false;
  } else {
    pr.snap_acked = std::max(pr.snap_acked, m.offset);
    pr.snap_sent = std::max(pr.snap_sent, pr.snap_acked);
  }
  send_snapshot_chunks(m.from, pr);
}

bool Node::maybe_send_append(NodeId to, bool send_if_empty) {
  if (to == id_) return false;
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  Progress& pr = it->second;
  if (pr.is_paused()) return false;
  if (log_.unstable_snapshot()) return false;
  Index prev = pr.next - 1;
  auto prev_term = log_.term(prev);
  auto ents = log_.entries_from(pr.next, config_.max_msg_bytes);
  if (!prev_term || !ents) {
    // The follower needs entries we compacted: send the snapshot.
    pr.become_snapshot(storage_.snapshot_meta());
    send_snapshot_chunks(to, pr);
    return false;
  }
  if (ents->empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kApp;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  if (!ents->empty()) {
    Index last = ents->back().index;
    if (pr.state == ProgressState::kReplicate) {
      // Optimistic pipelining: the next message continues after this one.
      pr.next = last + 1;
      pr.inflights.add(last);
    } else {
      pr.probe_sent = true;
    }
  } else if (pr.state == ProgressState::kProbe) {
    pr.probe_sent = true;
  }
  bool sent_entries = !ents->empty();
  m.entries = std::move(*ents);
  send(std::move(m));
  return sent_entries;
}

void Node::send_snapshot_chunks(NodeId to, Progress& pr) {
  uint64_t window = config_.snapshot_chunk_bytes * config_.max_inflight_snapshot_chunks;
  while (!pr.snap_done_sent && pr.snap_sent - pr.snap_acked < window) {
    std::string data;
    uint64_t total = 0;
    if (!storage_.read_snapshot_chunk(pr.snap_meta, pr.snap_sent, config_.snapshot_chunk_bytes,
                                      &data, &total)) {
      SnapshotMeta current = storage_.snapshot_meta();
      if (current == pr.snap_meta) return;  // unreadable at this offset: wait for a reject
      pr.become_snapshot(current);          // replaced by a newer snapshot: start over
      continue;
    }
    pr.snap_size = total;
    Message m;
    m.type = MessageType::kSnap;
    m.to = to;
    m.snapshot = pr.snap_meta;
    m.offset = pr.snap_sent;
    m.snapshot_size = total;
    pr.snap_sent += data.size();
    m.done = pr.snap_sent >= total;
    if (m.done) pr.snap_done_sent = true;
    bool empty_chunk = data.empty();
    m.data = std::move(data);
    send(std::move(m));
    if (empty_chunk && !pr.snap_done_sent) return;  // host returned nothing: avoid spinning
  }
}

void Node::bcast_append(bool send_if_empty) {
  for (auto& [id, pr] : progress_) {
    if (id != id_) maybe_send_append(id, send_if_empty);
  }
}

void Node::bcast_heartbeat(const std::string& context) {
  for (auto& [id, pr] : progress_) {
    if (id == id_) continue;
    Message m;
    m.type = MessageType::kHeartbeat;
    m.to = id;
    m.commit = std::min(pr.match, log_.committed());
    m.context = context;
    m.lease_tick = tick_count_;
    send(std::move(m));
  }
}

bool Node::maybe_commit() {
  // Quorum index over voters' match indices: O(n log n) per call.
  std::vector<Index> matches;
  for (NodeId v : conf_state().voters) {
    auto it = progress_.find(v);
    matches.push_back(it == progress_.end() ? 0 : it->second.match);
  }
  Index q = quorum_index(matches);
  if (config_.mutations.commit_prior_term_by_counting) {
    if (q <= log_.committed()) return false;
    log_.commit_to(q);
    return true;
  }
  // §5.4.2: only an entry of the current term commits by counting replicas;
  // earlier entries commit with it.
  return log_.maybe_commit(q, term_);
}

void Node::on_commit_advanced() {
  if (committed_entry_in_current_term() && !reads_waiting_commit_.empty()) {
    auto waiting = std::move(reads_waiting_commit_);
    reads_waiting_commit_.clear();
    for (auto& [from, context] : waiting)
      handle_read_request(from, std::move(context));
  }
  // A leader that removed itself steps down once the removal is committed
  // (thesis §4.2.2); until then it managed the cluster without counting.
  if (!is_voter(conf_state(), id_) && last_conf_index() <= log_.committed()) {
    become_follower(term_, kNoNode);
  }
}

bool Node::committed_entry_in_current_term() const {
  return log_.term(log_.committed()) == term_;
}

void Node::append_entries(std::vector<Entry> ents) {
  Index next = log_.last_index() + 1;
  for (Entry& e : ents) {
    e.index = next++;
    e.term = term_;
  }
  const size_t n = ents.size();
  log_.append(std::move(ents));
  // append() leaves exactly these entries at the tail of the unstable log.
  note_appended(std::span<const Entry>(log_.unstable_entries()).last(n));
  // Our own match advances in advance(), once the host made them durable.
  bcast_append(false);
}

void Node::send_timeout_now(NodeId to) {
  sent_timeout_now_ = true;
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  send(std::move(m));
}

void Node::abort_transfer() {
  lead_transferee_ = kNoNode;
}

// ------------------------------------------------------------------ requests

ProposeResult Node::propose(Payload data) {
  if (role_ != Role::kLeader) return {Status::kNotLeader, 0, 0};
  if (lead_transferee_ != kNoNode) return {Status::kTransferring, 0, 0};
  append_entries(one_entry(EntryType::kNormal, std::move(data)));
  return {Status::kOk, log_.last_index(), term_};
}

ProposeResult Node::propose_conf_change(const ConfChange& cc) {
  if (role_ != Role::kLeader) return {Status::kNotLeader, 0, 0};
  if (lead_transferee_ != kNoNode) return {Status::kTransferring, 0, 0};
  // One change at a time (thesis §4.1): the previous one must be committed.
  if (last_conf_index() > log_.committed()) return {Status::kConfChangePending, 0, 0};
  const ConfState& conf = conf_state();
  if (cc.node == kNoNode) return {Status::kInvalid, 0, 0};
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      if (is_voter(conf, cc.node)) return {Status::kInvalid, 0, 0};
      if (is_learner(conf, cc.node)) {
        auto it = progress_.find(cc.node);
        if (it == progress_.end() || it->second.match < log_.committed()) {
          return {Status::kLearnerNotCaughtUp, 0, 0};
        }
      }
      break;
    case ConfChangeType::kAddLearner:
      // A new learner, or the demotion of a voter other than the last one.
      if (is_learner(conf, cc.node)) return {Status::kInvalid, 0, 0};
      if (is_voter(conf, cc.node) && conf.voters.size() == 1) return {Status::kInvalid, 0, 0};
      break;
    case ConfChangeType::kRemoveNode:
      if (!is_member(conf, cc.node)) return {Status::kInvalid, 0, 0};
      if (is_voter(conf, cc.node) && conf.voters.size() == 1) return {Status::kInvalid, 0, 0};
      break;
  }
  append_entries(one_entry(EntryType::kConfChange, encode_conf_change(cc)));
  return {Status::kOk, log_.last_index(), term_};
}

Status Node::read_index(std::string context) {
  if (role_ == Role::kLeader) {
    handle_read_request(id_, std::move(context));
    return Status::kOk;
  }
  if (role_ != Role::kFollower || lead_ == kNoNode) return Status::kNoLeader;
  Message m;
  m.type = MessageType::kReadIndex;
  m.to = lead_;
  m.context = std::move(context);
  send(std::move(m));
  return Status::kOk;
}

Status Node::transfer_leader(NodeId target) {
  if (role_ != Role::kLeader) return Status::kNotLeader;
  if (target == id_) return Status::kOk;
  if (!is_voter(conf_state(), target) || !progress_.count(target)) return Status::kInvalid;
  if (lead_transferee_ == target) return Status::kOk;
  abort_transfer();
  lead_transferee_ = target;
  election_elapsed_ = 0;  // the transfer times out after one election timeout
  const Progress& pr = progress_.at(target);
  if (pr.match == log_.last_index()) {
    send_timeout_now(target);
  } else {
    // Not caught up: no TimeoutNow until it is (handle_append_resp).
    maybe_send_append(target, true);
  }
  return Status::kOk;
}

// ------------------------------------------------------------------ membership

const ConfState& Node::conf_state() const {
  return conf_history_.empty() ? base_conf_ : conf_history_.back().second;
}

ConfState Node::conf_state_at(Index i) const {
  for (auto it = conf_history_.rbegin(); it != conf_history_.rend(); ++it) {
    if (it->first <= i) return it->second;
  }
  return base_conf_;
}

Index Node::last_conf_index() const {
  return conf_history_.empty() ? 0 : conf_history_.back().first;
}

void Node::note_appended(std::span<const Entry> ents) {
  if (ents.empty()) return;
  bool changed = false;
  // Entries from ents.front().index on replaced whatever was there: the
  // membership changes they overwrote are undone.
  while (!conf_history_.empty() && conf_history_.back().first >= ents.front().index) {
    conf_history_.pop_back();
    changed = true;
  }
  for (const Entry& e : ents) {
    if (e.type != EntryType::kConfChange) continue;
    auto cc = decode_conf_change(e.data);
    if (!cc) continue;  // undecodable: no effect, identically on every node
    conf_history_.emplace_back(e.index, apply_conf_change(conf_state(), *cc));
    changed = true;
  }
  if (changed && role_ == Role::kLeader) sync_progress_with_conf();
}

void Node::sync_progress_with_conf() {
  const ConfState& conf = conf_state();
  auto add = [&](NodeId id, bool learner) {
    auto it = progress_.find(id);
    if (it == progress_.end()) {
      Progress pr(config_.max_inflight);
      pr.next = log_.last_index() + 1;
      pr.recent_active = true;  // a grace period for CheckQuorum
      if (id == id_) pr.match = log_.persisted_last();
      it = progress_.emplace(id, std::move(pr)).first;
    }
    it->second.is_learner = learner;
  };
  for (NodeId v : conf.voters)
    add(v, false);
  for (NodeId l : conf.learners)
    add(l, true);
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (!is_member(conf, it->first)) {
      if (it->first == lead_transferee_) abort_transfer();
      it = progress_.erase(it);
    } else {
      ++it;
    }
  }
}

// ------------------------------------------------------------------ ready

void Node::send(Message m) {
  m.from = id_;
  if (m.type != MessageType::kPreVote && m.type != MessageType::kPreVoteResp &&
      m.type != MessageType::kVote && m.type != MessageType::kVoteResp) {
    m.term = term_;
  }
  bool early = role_ == Role::kLeader &&
               (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
                m.type == MessageType::kSnap || m.type == MessageType::kTimeoutNow);
  pending_msg_bytes_ += message_heap_bytes(m);
  (early ? early_msgs_ : msgs_).push_back(std::move(m));
}

bool Node::has_ready() const {
  if (ready_outstanding_) return false;
  return soft_state() != prev_soft_ || hard_state() != prev_hard_ ||
         log_.unstable_snapshot().has_value() || !log_.unstable_entries().empty() ||
         log_.has_next_committed_entries() || !msgs_.empty() || !early_msgs_.empty() ||
         !read_states_.empty() || !snapshot_chunks_.empty() ||
         (read_heartbeat_due_ && !read_round_in_flight());
}

Ready Node::ready() {
  RAFT_CHECK(!ready_outstanding_, "ready() called before advance() of the previous Ready");
  flush_read_heartbeat();
  Ready rd;
  if (soft_state() != prev_soft_) {
    rd.soft_state = soft_state();
    prev_soft_ = *rd.soft_state;
  }
  if (hard_state() != prev_hard_) {
    prev_hard_ = hard_state();
    rd.hard_state = prev_hard_;
    if (config_.mutations.forget_to_persist_vote) rd.hard_state->vote = kNoNode;
  }
  rd.snapshot_chunks = std::move(snapshot_chunks_);
  snapshot_chunks_.clear();
  pending_chunk_bytes_ = 0;
  rd.snapshot = log_.unstable_snapshot();
  rd.entries = log_.unstable_entries();
  rd.committed_entries = log_.next_committed_entries(kNoLimit);
  ready_last_index_ = rd.entries.empty() ? 0 : rd.entries.back().index;
  ready_last_term_ = rd.entries.empty() ? 0 : rd.entries.back().term;
  ready_last_committed_ = rd.committed_entries.empty() ? 0 : rd.committed_entries.back().index;
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  rd.early_messages = std::move(early_msgs_);
  early_msgs_.clear();
  rd.messages = std::move(msgs_);
  msgs_.clear();
  pending_msg_bytes_ = 0;
  ready_outstanding_ = true;
  return rd;
}

std::vector<Message> Node::take_early_messages() {
  flush_read_heartbeat();
  std::vector<Message> out = std::move(early_msgs_);
  early_msgs_.clear();
  for (const Message& m : out)
    pending_msg_bytes_ -= message_heap_bytes(m);
  return out;
}

std::vector<Entry> Node::take_committed_entries() {
  if (!ready_outstanding_) return {};
  // A snapshot being installed replaces the log: nothing to apply until then.
  if (log_.unstable_snapshot()) return {};
  // log_.applied() is what was applied before the outstanding Ready plus
  // what earlier calls took; the Ready's own committed entries end at
  // ready_last_committed_.
  const Index from = std::max(log_.applied(), ready_last_committed_) + 1;
  // Up to the commit index even where this node's copy is not durable yet
  // (the outstanding Ready's entries, or later ones): see node.h.
  const Index to = std::min(log_.committed(), log_.last_index());
  if (to < from) return {};
  auto ents = log_.slice(from, to + 1, kNoLimit);
  RAFT_CHECK(ents.has_value(), "committed entries from " << from << " compacted (first "
                                                         << log_.first_index() << ")");
  auto conf = std::find_if(ents->begin(), ents->end(),
                           [](const Entry& e) { return e.type == EntryType::kConfChange; });
  ents->erase(conf, ents->end());
  if (!ents->empty()) log_.applied_to(ents->back().index);
  return std::move(*ents);
}

uint64_t ready_heap_bytes(const Ready& rd) {
  uint64_t n = 0;
  for (const Entry& e : rd.entries)
    n += entry_heap_bytes(e);
  for (const Entry& e : rd.committed_entries)
    n += entry_heap_bytes(e);
  for (const auto* msgs : {&rd.early_messages, &rd.messages})
    for (const Message& m : *msgs)
      n += message_heap_bytes(m);
  for (const SnapshotChunk& c : rd.snapshot_chunks)
    n += string_heap_bytes(c.data);
  return n;
}

void Node::advance(const Ready& rd) {
  RAFT_CHECK(ready_outstanding_, "advance() without an outstanding Ready");
  ready_outstanding_ = false;
  if (rd.snapshot) log_.stable_snap_to(rd.snapshot->index);
  if (ready_last_index_ != 0) log_.stable_to(ready_last_index_, ready_last_term_);
  // take_committed_entries() may already have applied past this Ready's.
  if (ready_last_committed_ > log_.applied()) log_.applied_to(ready_last_committed_);
  if (role_ == Role::kLeader) {
    auto it = progress_.find(id_);
    if (it != progress_.end()) it->second.maybe_update(log_.persisted_last());
    if (maybe_commit()) {
      on_commit_advanced();
      if (role_ == Role::kLeader) bcast_append(true);
    }
  }
}

}  // namespace kvraft::raft
