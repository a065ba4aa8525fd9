// src/follower_reads.cc — linearizable reads served by a follower from its
// own keyspace (Raft thesis §6.4, "follower reads").
//
// Instead of forwarding a read to the leader, a follower asks the leader for
// a read index: one kReadIndex per loop iteration for all the reads that
// arrived in it. The leader registers the request at its commit index,
// confirms with a heartbeat round that it still leads (shared with its own
// reads, see raft::Node::pending_reads_) and answers with that index. The
// follower then runs each read once its applied index reaches it. A write
// acknowledged anywhere before the read arrived was committed by then at an
// index <= the leader's commit index when the request reached it, so the
// read sees it. A follower that cannot reach a leader gets no answer: its
// reads time out with -TRYAGAIN (Replication::tick) instead of being served
// from a state that may be stale.
//
// Per-connection order. Redis runs a connection's commands one after the
// other, and a follower now serves them two ways: reads here, everything
// else through the leader proxy. The two paths are kept in order by:
//   - a read arriving while one of the client's forwarded commands has no
//     reply yet is forwarded too (behind it on the proxy connection), so it
//     sees that command's effect;
//   - a command to forward that arrives while one of the client's local
//     reads has no read index yet waits (deferred_forwards_) until it has:
//     forwarded earlier, a write could commit before the leader picks the
//     read index and the read would see a write sent after it.
// Everything else a client sees is unchanged: the same errors (a client
// acting as a user other than `default` without a cluster-secret, a node
// with no leader, a failed disk, a removed node, `follower-mode redirect`,
// `read-consistency log` still take the forwarding path and get its
// replies), and permissions are checked again when the read runs if the
// replicated ACL changed meanwhile, as the leader would judge a forwarded
// read by its own ACL. `follower-reads proxy` restores forwarding of reads.
#include <charconv>
#include <string>

#include "src/acl.h"
#include "src/acl_log.h"
#include "src/client.h"
#include "src/config.h"
#include "src/leader_proxy.h"
#include "src/replication.h"
#include "src/server.h"

namespace kvraft {

namespace {

constexpr std::string_view kLeaderChangedError =
    "TRYAGAIN the Raft leader changed before this command was served; retry";

}  // namespace

// Queues a read for this loop iteration's follower barrier when it may be
// served here; false leaves it to follower_route (forwarding, redirect or
// the error a follower gives), exactly as before follower reads existed.
bool Replication::follower_read(Client& client, const CommandSpec& spec, const resp::Argv& argv) {
  if (config_.follower_reads != "readindex" || follower_mode_ != FollowerMode::kProxy) return false;
  if (read_consistency_ != ReadConsistency::kLinearizable &&
      read_consistency_ != ReadConsistency::kLease)
    return false;
  if (client.name == LeaderProxy::kClientName) return false;  // follower_route answers it
  if (!failure_.empty() || removed() || node_->role() != raft::Role::kFollower ||
      node_->leader() == raft::kNoNode)
    return false;
  // Without a cluster-secret the proxy refuses every user but `default`;
  // such a client keeps getting that refusal here too.
  if (config_.cluster_secret.empty() && client.authenticated && client.user != "default")
    return false;
  // Keep the connection's order (see the file comment).
  if (client.deferred_forwards > 0 ||
      (client.last_proxied_slot != 0 && client.reply_slot_waiting(client.last_proxied_slot)))
    return false;
  PendingRead r;
  r.client_id = client.id();
  r.slot = client.reserve_reply();
  r.spec = &spec;
  r.argv.assign(argv);
  r.db = client.db;
  r.protocol = client.reply.protocol();
  r.recheck_acl = true;
  r.acl_generation = server_.acl().generation();
  if (follower_read_batch_.empty()) follower_read_batch_id_ = next_read_context_++;
  client.follower_read_batch = follower_read_batch_id_;
  follower_read_batch_.push_back(std::move(r));
  ++follower_local_reads_;
  return true;
}

// Once per loop iteration, on any node: sends this iteration's follower read
// barrier and forwards the commands that no longer wait for a read index.
void Replication::on_follower_loop_iteration() {
  if (!follower_read_batch_.empty()) start_follower_read_barrier();
  if (!deferred_forwards_.empty()) flush_deferred_forwards();
}

// Asks the leader for one read index covering every read queued in this
// loop iteration (the context is the batch id). A node that stopped being a
// follower since the reads arrived refuses them (retryably): as a leader it
// may have proposed its clients' later writes directly already, and a read
// index it picks now could include them.
void Replication::start_follower_read_barrier() {
  std::vector<PendingRead> reads;
  reads.swap(follower_read_batch_);
  uint64_t id = std::exchange(follower_read_batch_id_, 0);
  std::string refusal;
  if (node_->role() != raft::Role::kFollower) {
    refusal = resp::error_reply_bytes(kLeaderChangedError);
  } else if (!failure_.empty()) {
    refusal =
        resp::error_reply_bytes("TRYAGAIN this node cannot persist its Raft log; retry elsewhere");
  } else if (follower_request_in_flight()) {
    // Asked together with later batches once the answer in flight is in
    // (confirm_follower_reads).
  } else if (raft::Status st = node_->read_index(std::to_string(id));
             st == raft::Status::kNoLeader) {
    refusal = resp::error_reply_bytes(kNoLeaderError);
  } else if (st != raft::Status::kOk) {
    refusal = resp::error_reply_bytes(std::string("TRYAGAIN read barrier refused: ") +
                                      raft::to_string(st));
  } else {
    follower_asked_batch_ = id;
    follower_asked_ms_ = unix_time_ms();
  }
  if (!refusal.empty()) {
    for (auto& r : reads)
      answer(r.client_id, r.slot, refusal);
    return;
  }
  open_read_batch(id, std::move(reads)).follower = true;
}

// The leader's read index for follower batch `batch_id`. It is just as good
// for every earlier follower batch still waiting (their reads arrived before
// this request was sent, and the leader confirmed its leadership after
// receiving it), so those are confirmed with it too: a lost answer costs no
// timeout, and a client's reads get their read indexes in arrival order.
//
// Reads whose index is applied already run at once (no trip through
// read_queue_); the others wait there for their apply position.
void Replication::confirm_follower_reads(uint64_t batch_id, raft::Index read_index) {
  std::vector<uint64_t> ids;
  for (auto it = read_batches_.begin(); it != read_batches_.end() && it->first <= batch_id; ++it)
    if (it->second.follower && !it->second.confirmed) ids.push_back(it->first);
  for (uint64_t id : ids) {
    ReadBatch& batch = read_batches_.at(id);
    batch.confirmed = true;
    batch.confirmed_index = read_index;
    const size_t n = batch.reads.size();
    for (size_t i = 0; i < n; ++i) {
      PendingRead& r = batch.reads[i];
      r.need = std::max(read_index, r.min_index);
      if (r.need > applied_) {
        read_queue_.emplace(r.need, std::make_pair(id, i));
        continue;
      }
      run_read(r);
      bool last = batch.remaining == 1;
      release_read(id, batch, r);  // erases the batch after its last read
      if (last) break;
    }
  }
  if (!follower_request_in_flight()) ask_follower_read_index();
}

// Whether a read index request of this follower awaits its answer. One at
// a time: the batches of the loop iterations meanwhile are asked for
// together by the next request, whose answer covers every batch before it
// (confirm_follower_reads). Under load that makes a request per round trip
// to the leader instead of one per loop iteration. A request unanswered for
// two heartbeat intervals (its answer lost with a broken peer connection)
// no longer holds the later ones back.
bool Replication::follower_request_in_flight() const {
  auto it = read_batches_.find(follower_asked_batch_);
  return it != read_batches_.end() && !it->second.confirmed &&
         unix_time_ms() - follower_asked_ms_ <= 2LL * config_.heartbeat_interval;
}

// Asks the leader for a read index for the newest follower batch without
// one (and so for all before it); nothing if there is none.
void Replication::ask_follower_read_index() {
  for (auto it = read_batches_.rbegin(); it != read_batches_.rend(); ++it) {
    if (!it->second.follower || it->second.confirmed) continue;
    if (node_->read_index(std::to_string(it->first)) == raft::Status::kOk) {
      follower_asked_batch_ = it->first;
      follower_asked_ms_ = unix_time_ms();
    }
    return;
  }
}

// After a leader change: the old leader forgot the requests it had not
// answered, so a follower asks the new one again (the read index it gives
// is picked after the reads arrived, so it is as good). A node that is no
// longer a follower with a known leader refuses them instead (retryably):
// a leader may propose its clients' later writes directly, before it would
// pick a read index for their earlier reads.
void Replication::reissue_follower_read_barriers() {
  if (!node_) return;
  if (node_->role() == raft::Role::kFollower && node_->leader() != raft::kNoNode) {
    ask_follower_read_index();
    return;
  }
  std::vector<uint64_t> refused;
  for (auto& [id, batch] : read_batches_)
    if (batch.follower && !batch.confirmed) refused.push_back(id);
  for (uint64_t id : refused)
    fail_read_batch(id, resp::error_reply_bytes(kLeaderChangedError));
}

// Whether a read of `client` served here still waits for its read index.
bool Replication::follower_reads_unconfirmed(const Client& client) const {
  uint64_t id = client.follower_read_batch;
  if (id == 0) return false;
  if (id == follower_read_batch_id_) return true;  // not even asked yet
  auto it = read_batches_.find(id);
  return it != read_batches_.end() && !it->second.confirmed;  // gone: answered or failed
}

// A follower read was allowed by the ACL when it arrived. If the replicated
// users changed before it runs (an ACL SETUSER the leader acknowledged
// before the read arrived is applied by now), it is judged again, as the
// leader would judge a forwarded read. False when refused: the refusal is
// its result.
bool Replication::acl_still_allows(Client& client, PendingRead& r) {
  if (r.acl_generation == server_.acl().generation()) return true;
  r.acl_generation = server_.acl().generation();
  return r.argv.with_views([&](std::span<const std::string_view> argv) {
    const CommandSpec* container = server_.commands().find(argv[0]);
    if (container == nullptr) return true;  // checked on arrival; cannot vanish
    AclVerdict v = server_.acl().check(client, config_.requirepass, *container, argv);
    if (v.kind == AclVerdict::kAllowed) return true;
    r.executed = true;
    r.exec_index = applied_;
    if (v.kind == AclVerdict::kDisconnect) {
      // The user is gone or disabled: the server closes such connections.
      r.result.clear();
      client.close_after_reply = true;
      return false;
    }
    resp::ReplyWriter w(r.protocol);
    w.error(v.error);
    r.result.assign(w.buffer());
    client.pending_reply_bytes += r.result.size();
    record_acl_denial(server_, client, v, *container, argv);
    return false;
  });
}

// Forwards a command of `client` to the leader — or, while the client has a
// local read without read index, queues it behind that read (see the file
// comment).
void Replication::forward_to_leader(Client& client, uint64_t slot, const std::string& address,
                                    bool tls, const resp::Argv& argv) {
  std::string_view user = client.authenticated ? std::string_view(client.user) : "default";
  if (client.deferred_forwards > 0 || follower_reads_unconfirmed(client)) {
    DeferredForward d;
    d.client_id = client.id();
    d.slot = slot;
    d.db = client.db;
    d.protocol = client.reply.protocol();
    d.user.assign(user);
    d.argv.assign(argv.begin(), argv.end());
    deferred_forwards_.push_back(std::move(d));
    ++client.deferred_forwards;
    return;
  }
  client.last_proxied_slot = slot;
  proxy_->forward(address, tls, client.id(), slot, client.db, client.reply.protocol(), user, argv);
}

// Forwards, in arrival order, the deferred commands of every client whose
// local reads now all have their read index (or were answered).
void Replication::flush_deferred_forwards() {
  std::deque<DeferredForward> waiting;
  while (!deferred_forwards_.empty()) {
    DeferredForward d = std::move(deferred_forwards_.front());
    deferred_forwards_.pop_front();
    Client* client = server_.find_client(d.client_id);
    if (client == nullptr || client->closing) continue;
    if (follower_reads_unconfirmed(*client)) {
      waiting.push_back(std::move(d));
      continue;
    }
    --client->deferred_forwards;
    if (is_leader()) {
      // Its later commands may have been proposed here directly already:
      // forwarded now, it would run after them. It has not run: retryable.
      answer(d.client_id, d.slot, resp::error_reply_bytes(kLeaderChangedError));
      continue;
    }
    bool tls = false;
    std::string address = leader_address_for(config_.tls_replication, &tls);
    if (address.empty()) {
      answer(d.client_id, d.slot, resp::error_reply_bytes(kNoLeaderError));
      continue;
    }
    client->last_proxied_slot = d.slot;
    resp::Argv argv(d.argv.begin(), d.argv.end());
    proxy_->forward(address, tls, d.client_id, d.slot, d.db, d.protocol, d.user, argv);
  }
  deferred_forwards_ = std::move(waiting);
}

}  // namespace kvraft
