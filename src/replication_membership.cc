// src/replication_membership.cc — the membership half of the replication
// driver (see replication.h): RAFT.NODE ADD / REMOVE as conf-change
// proposals, automatic promotion of caught-up learners, the replicated
// address table (src/membership.h) kept in step with the log, snapshots and
// the peer transport, telling a removed follower that it was removed, and
// --join. Kept apart from replication.cc so the write/read path stays
// readable on its own.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <thread>

#include "raft/conf_change.h"
#include "src/client.h"
#include "src/config.h"
#include "src/leader_proxy.h"
#include "src/log.h"
#include "src/peer_transport.h"
#include "src/replication.h"
#include "src/server.h"

namespace kvraft {

namespace {

constexpr std::string_view kChangeInProgress =
    "ERR a membership change is already in progress; retry once it is committed";
// How long a removed follower stays in the transport after its removal
// committed, so the farewell append (see send_farewells) can reach it.
constexpr int64_t kFarewellMs = 3000;

std::string id_str(raft::NodeId id) {
  return std::to_string(id);
}

}  // namespace

const std::string_view Replication::kRemovedError =
    "ERR this node was removed from the cluster (RAFT.NODE REMOVE) and no longer serves writes";

// A removed node refuses writes for good, but a command a follower's proxy
// forwarded here (we were the leader it knew) can succeed at the new leader:
// that one gets a retryable error.
std::string Replication::removed_error(const Client& client) {
  if (client.name == LeaderProxy::kClientName)
    return "TRYAGAIN this node was removed from the cluster; retry";
  return std::string(kRemovedError);
}

bool Replication::removed() const {
  return members_.was_removed(self_id_);
}

void Replication::seed_members_from_config() {
  // Without cluster-peers peers_ holds only a placeholder for this node.
  if (config_.cluster_peers.empty()) return;
  for (const auto& p : peers_)
    members_.seed(p.id,
                  MemberInfo{p.host, p.raft_port, p.client_port, MemberIntent::kVoter, p.tls_port});
}

void Replication::bootstrap_member_contexts(std::vector<raft::Entry>& entries) const {
  // Every initial member derives the same bytes from the same cluster-peers,
  // so the bootstrap entries stay identical across members.
  for (auto& e : entries) {
    auto cc = raft::decode_conf_change(e.data);
    if (!cc) continue;
    if (const MemberInfo* m = members_.find(cc->node)) {
      cc->context = encode_member_context(*m);
      e.data = raft::encode_conf_change(*cc);
    }
  }
}

void Replication::load_members(const std::string& snapshot_members) {
  if (snapshot_members.empty()) return;
  try {
    members_.overlay(MemberTable::decode(snapshot_members));
  } catch (const std::exception& e) {
    // Addresses are also in the log and the configuration; a bad field costs
    // reachability, not correctness.
    KV_LOG_WARNING("Snapshot membership table ignored: %s", e.what());
  }
}

void Replication::replay_member_log() {
  raft::Index lo = storage_->first_index();
  raft::Index hi = storage_->last_index() + 1;
  while (lo < hi) {
    std::vector<raft::Entry> ents = storage_->entries(lo, hi, 4u << 20);
    if (ents.empty()) break;
    for (const auto& e : ents)
      members_.observe(e);
    lo = ents.back().index + 1;
  }
}

void Replication::observe_appended(const std::vector<raft::Entry>& entries) {
  for (const auto& e : entries) {
    if (e.type != raft::EntryType::kConfChange) continue;
    auto cc = raft::decode_conf_change(e.data);
    if (cc && cc->type == raft::ConfChangeType::kRemoveNode) {
      if (const MemberInfo* m = members_.find(cc->node)) departed_[cc->node] = *m;
    }
    members_.observe(e);
    if (cc && cc->node == self_id_ && members_.was_removed(self_id_))
      KV_LOG_WARNING("Raft: this node (%llu) was removed from the cluster; it stops serving writes",
                     static_cast<unsigned long long>(self_id_));
  }
  rebuild_peers();
  update_transport_peers();
}

void Replication::rebuild_peers() {
  // Every member the table knows, not only those of the current ConfState:
  // a snapshot older than what this node learned (its join seeds, entries
  // after the snapshot) sets the ConfState back, but the members added since
  // (its leader among them) are still members. The core decides what a
  // message from any of them counts for (votes only from ConfState voters).
  std::vector<PeerConfig> out;
  for (const auto& [id, m] : members_.members())
    out.push_back({id, m.host, m.raft_port, m.client_port});
  // A member whose removal is in the log but not applied here yet is still
  // reachable: it may be the leader replicating its own removal, which
  // needs our acknowledgements (and our proxied commands).
  for (const auto& [id, m] : departed_)
    if (id != self_id_) out.push_back({id, m.host, m.raft_port, m.client_port});
  // Nor is the current leader ever dropped (Raft: a node accepts the
  // leader's messages whatever its own configuration says).
  raft::NodeId lead = leader_id();
  if (lead != raft::kNoNode && lead != self_id_ && !members_.was_removed(lead) &&
      std::none_of(out.begin(), out.end(), [&](const auto& p) { return p.id == lead; }))
    for (const auto& p : peers_)
      if (p.id == lead) out.push_back(p);
  auto self = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.id == self_id_; });
  if (self == out.end()) {
    int raft_port = config_.raft_port;
    for (const auto& p : peers_)
      if (p.id == self_id_ && !raft_port) raft_port = p.raft_port;
    out.push_back({self_id_, self_host(), raft_port, config_.port, config_.tls_port});
  } else {
    if (self->client_port == 0) self->client_port = config_.port;
    if (self->tls_port == 0) self->tls_port = config_.tls_port;
  }
#ifndef NDEBUG
  // peers_'s invariant (replication.h): only a removal takes a peer out.
  for (const auto& p : peers_)
    assert((members_.was_removed(p.id) ||
            std::any_of(out.begin(), out.end(), [&](const auto& q) { return q.id == p.id; })) &&
           "rebuild_peers dropped a peer that was not removed");
#endif
  peers_ = std::move(out);
  // Each member's tls-port, from the table (or the departing member's record).
  for (auto& p : peers_) {
    const MemberInfo* m = members_.find(p.id);
    if (auto d = departed_.find(p.id); !m && d != departed_.end()) m = &d->second;
    if (m && m->tls_port) p.tls_port = m->tls_port;
  }
}

std::string Replication::self_host() const {
  for (const auto& p : peers_)
    if (p.id == self_id_ && !p.host.empty()) return p.host;
  std::string h = config_.bind.empty() ? "127.0.0.1" : config_.bind[0];
  if (h == "*" || h == "0.0.0.0" || h == "::" || h == "-::*") h = "127.0.0.1";
  if (!h.empty() && h[0] == '-') h.erase(0, 1);
  return h;
}

std::vector<PeerAddress> Replication::transport_addresses() const {
  std::vector<PeerAddress> addrs;
  // A removed node talks to nobody (nobody accepts it any more), except a
  // leader that removed itself: it replicates its removal until it commits.
  if (removed() && !is_leader()) return addrs;
  for (const auto& p : peers_)
    if (p.id != self_id_ && p.raft_port) addrs.push_back({p.id, p.host, p.raft_port});
  for (const auto& [id, f] : farewells_)
    if (f.info.raft_port) addrs.push_back({id, f.info.host, f.info.raft_port});
  return addrs;
}

bool Replication::on_conf_change_applied(const raft::Entry& e, std::optional<Waiter>& waiter) {
  auto cc = raft::decode_conf_change(e.data);
  if (!cc) return false;
  if (cc->type == raft::ConfChangeType::kRemoveNode && cc->node != self_id_ && is_leader()) {
    auto d = departed_.find(cc->node);
    if (d != departed_.end()) {
      farewells_[cc->node] = Farewell{e.index, unix_time_ms() + kFarewellMs, d->second, 0, 0};
      update_transport_peers();
      send_farewells();
    }
  }
  if (departed_.erase(cc->node)) rebuild_peers();
  auto f = removal_followups_.find(e.index);
  if (f == removal_followups_.end()) return false;
  raft::NodeId node = f->second;
  removal_followups_.erase(f);
  if (!waiter) return false;
  // The demotion of a voter committed: its removal is the second change.
  raft::ProposeResult r{raft::Status::kNotLeader, 0, 0};
  if (is_leader()) r = node_->propose_conf_change({raft::ConfChangeType::kRemoveNode, node, {}});
  if (r.status == raft::Status::kOk) {
    Waiter w = *waiter;
    w.term = r.term;
    add_waiter(r.index, w);
  } else {
    answer(waiter->client_id, waiter->slot,
           resp::error_reply_bytes(
               "ERR node " + id_str(node) +
               " was demoted to learner but its removal could not be proposed (" +
               raft::to_string(r.status) + "); run RAFT.NODE REMOVE " + id_str(node) + " again"));
  }
  return true;
}

void Replication::membership_tick() {
  if (!farewells_.empty()) {
    int64_t now = unix_time_ms();
    bool expired = false;
    for (auto it = farewells_.begin(); it != farewells_.end();) {
      if (now >= it->second.until_ms || !is_leader()) {
        it = farewells_.erase(it);
        expired = true;
      } else {
        ++it;
      }
    }
    if (expired) update_transport_peers();
    send_farewells();
  }
  if (!is_leader() || config_.raft_promote_lag < 0) return;
  if (node_->last_conf_index() > node_->log().committed() || !removal_followups_.empty()) return;
  const raft::ConfState& conf = node_->conf_state();
  raft::Index last = node_->log().last_index();
  for (raft::NodeId id : conf.learners) {
    const MemberInfo* m = members_.find(id);
    if (!m || m->intent != MemberIntent::kVoter) continue;
    auto pr = node_->progress().find(id);
    if (pr == node_->progress().end()) continue;
    if (pr->second.match + static_cast<raft::Index>(config_.raft_promote_lag) < last) continue;
    MemberInfo info = *m;
    raft::ProposeResult r = node_->propose_conf_change(
        {raft::ConfChangeType::kAddNode, id, encode_member_context(info)});
    if (r.status == raft::Status::kOk)
      KV_LOG_NOTICE(
          "Raft: promoting learner %llu to voter (match %llu, last %llu) at index %llu",
          static_cast<unsigned long long>(id), static_cast<unsigned long long>(pr->second.match),
          static_cast<unsigned long long>(last), static_cast<unsigned long long>(r.index));
    return;  // one change at a time
  }
}

void Replication::send_farewells() {
  // A follower removed by a change the leader appended never receives that
  // entry through the core (membership takes effect on append, so the
  // leader stops replicating to it at once). The leader sends it one plain
  // AppendEntries carrying the log tail up to the committed removal; the
  // follower accepts it if its log matches, learns that it was removed and
  // says so (INFO raft_removed, write errors). Best effort and safe: the
  // entries are the leader's committed log.
  if (!transport_ || !is_leader()) return;
  int64_t now = unix_time_ms();
  for (auto& [id, f] : farewells_) {
    if (now - f.last_sent_ms < 200) continue;
    f.last_sent_ms = now;
    // A follower ignores an append whose previous entry is below its commit
    // index, and rejects one whose previous entry it lacks: its commit index
    // is below the removal, its log usually ends just before it. Successive
    // attempts start 1, 2, ... 8 entries before the removal.
    raft::Index back = 1 + (f.attempts++ % 8);
    if (f.index <= back) continue;
    raft::Index lo = f.index - back + 1;
    if (lo < node_->log().first_index()) continue;
    auto prev_term = node_->log().term(lo - 1);
    auto ents = node_->log().slice(lo, f.index + 1, 1u << 20);
    if (!prev_term || !ents || ents->empty() || ents->back().index != f.index) continue;
    raft::Message m;
    m.type = raft::MessageType::kApp;
    m.from = self_id_;
    m.to = id;
    m.term = node_->term();
    m.index = lo - 1;
    m.log_term = *prev_term;
    m.entries = std::move(*ents);
    m.commit = f.index;
    transport_->send(m);
  }
}

std::string Replication::change_membership(Client& client, const CommandSpec& spec,
                                           const resp::Argv& argv, const MembershipRequest& req) {
  if (!failure_.empty())
    return "MISCONF kvraft cannot persist its Raft log, writes are refused: " + failure_;
  if (removed()) return removed_error(client);
  if (!is_leader()) {
    follower_route(client, spec, argv);
    return {};
  }
  const raft::ConfState& conf = node_->conf_state();
  if (node_->last_conf_index() > node_->log().committed() || !removal_followups_.empty())
    return std::string(kChangeInProgress);
  raft::ConfChange cc;
  cc.node = req.id;
  bool demote = false;
  if (req.add) {
    if (members_.was_removed(req.id))
      return "ERR node id " + id_str(req.id) +
             " was removed from this cluster and can never be reused; pick a new id";
    if (raft::is_member(conf, req.id))
      return "ERR node " + id_str(req.id) + " is already a member of this cluster";
    for (const auto& p : peers_)
      if (raft::is_member(conf, p.id) && p.host == req.info.host &&
          p.raft_port == req.info.raft_port)
        return "ERR raft address " + req.info.host + ":" + std::to_string(req.info.raft_port) +
               " is already used by node " + id_str(p.id);
    cc.type = raft::ConfChangeType::kAddLearner;
    cc.context = encode_member_context(req.info);
  } else {
    if (!raft::is_member(conf, req.id))
      return "ERR node " + id_str(req.id) + " is not a member of this cluster";
    if (raft::is_voter(conf, req.id) && conf.voters.size() == 1)
      return "ERR node " + id_str(req.id) + " is the last voter and cannot be removed";
    if (raft::is_voter(conf, req.id) && req.id != self_id_) {
      // Demote first, so the quorum shrinks while the node still follows
      // the log; the removal follows once the demotion commits.
      demote = true;
      cc.type = raft::ConfChangeType::kAddLearner;
      if (const MemberInfo* m = members_.find(req.id)) {
        MemberInfo info = *m;
        info.intent = MemberIntent::kRemoving;
        cc.context = encode_member_context(info);
      }
    } else {
      // A learner, or this leader itself (which steps down once the
      // removal commits): one change.
      cc.type = raft::ConfChangeType::kRemoveNode;
    }
  }
  raft::ProposeResult r = node_->propose_conf_change(cc);
  switch (r.status) {
    case raft::Status::kOk:
      break;
    case raft::Status::kNotLeader:
      follower_route(client, spec, argv);
      return {};
    case raft::Status::kConfChangePending:
      return std::string(kChangeInProgress);
    case raft::Status::kTransferring:
      return "TRYAGAIN leadership transfer in progress; retry";
    default:
      return std::string("ERR membership change refused: ") + raft::to_string(r.status);
  }
  uint64_t slot = client.reserve_reply();
  add_waiter(r.index, {client.id(), slot, r.term, client.reply.protocol(), unix_time_ms()});
  if (demote) removal_followups_[r.index] = req.id;
  KV_LOG_NOTICE("Raft: proposed %s of node %llu at index %llu",
                req.add ? "the addition" : (demote ? "the demotion" : "the removal"),
                static_cast<unsigned long long>(req.id), static_cast<unsigned long long>(r.index));
  return {};
}

std::vector<Replication::MemberView> Replication::member_views() const {
  std::vector<MemberView> out;
  if (!node_) return out;
  const raft::ConfState& conf = node_->conf_state();
  auto add = [&](raft::NodeId id, bool voter) {
    MemberView v;
    v.id = id;
    v.voter = voter;
    v.leader = id == leader_id();
    for (const auto& p : peers_)
      if (p.id == id) {
        v.host = p.host;
        v.raft_port = p.raft_port;
        v.client_port = p.client_port;
      }
    auto pr = node_->progress().find(id);
    if (pr != node_->progress().end())
      v.match = pr->second.match;
    else if (id == self_id_)
      v.match = node_->log().last_index();
    out.push_back(v);
  };
  for (raft::NodeId id : conf.voters)
    add(id, true);
  for (raft::NodeId id : conf.learners)
    add(id, false);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

namespace {

// A tiny blocking client for --join, used once at startup before the event
// loop runs.
class JoinClient {
 public:
  JoinClient(const std::string& host, int port, timeval connect_timeout, timeval timeout) {
    ctx_ = redisConnectWithTimeout(host.c_str(), port, connect_timeout);
    if (!ctx_ || ctx_->err)
      error_ = ctx_ ? ctx_->errstr : "out of memory";
    else
      redisSetTimeout(ctx_, timeout);
  }
  ~JoinClient() {
    if (ctx_) redisFree(ctx_);
  }
  const std::string& error() const { return error_; }
  // Sends one command; the reply (nullptr on a connection error, then
  // error() says why). The caller frees it.
  redisReply* cmd(const std::vector<std::string>& args) {
    std::vector<const char*> v;
    std::vector<size_t> l;
    for (const auto& a : args) {
      v.push_back(a.data());
      l.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(args.size()), v.data(), l.data()));
    if (!r) error_ = ctx_->errstr;
    return r;
  }

 private:
  redisContext* ctx_ = nullptr;
  std::string error_;
};

using ReplyPtr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

// The text of a string reply, "" for any other type (the member's replies
// are checked, never trusted).
std::string_view reply_text(const redisReply* r) {
  if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) || !r->str) return {};
  return std::string_view(r->str, r->len);
}

}  // namespace

bool Replication::join_cluster(std::string* error, bool seed_only) {
  std::string host;
  int port = 0;
  if (!parse_host_port(config_.join, &host, &port)) {
    *error = "join: '" + config_.join + "' is not host:client-port";
    return false;
  }
  const std::string where = "join " + config_.join;
  // A refresh is best effort and must not hold a restart up for long.
  JoinClient c(host, port, seed_only ? timeval{2, 0} : timeval{5, 0},
               seed_only ? timeval{2, 0} : timeval{60, 0});
  if (!c.error().empty()) {
    *error = where + ": cannot connect: " + c.error();
    return false;
  }
  auto call = [&](const std::vector<std::string>& args) {
    ReplyPtr r(c.cmd(args), freeReplyObject);
    if (!r) *error = where + ": " + args[0] + " failed: " + c.error();
    return r;
  };
  if (!config_.requirepass.empty()) {
    ReplyPtr r = call({"AUTH", config_.requirepass});
    if (!r) return false;
  }
  // The cluster id: refuse a cluster other than the configured one before
  // touching its membership.
  ReplyPtr info = call({"RAFT.INFO"});
  if (!info) return false;
  std::string their_id;
  bool found = false;
  if (info->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i + 1 < info->elements; i += 2)
      if (reply_text(info->element[i]) == "cluster_id") {
        their_id.assign(reply_text(info->element[i + 1]));
        found = true;
      }
  if (!found) {
    *error = where + ": the node there did not report its cluster id (not a kvraft node?)";
    return false;
  }
  if (their_id != config_.cluster_id) {
    *error = where + ": that cluster has cluster-id '" + their_id +
             "' but this node is configured with cluster-id '" + config_.cluster_id +
             "'; refusing to join a different cluster";
    return false;
  }
  // Learn how to reach the members (the leader must pass our transport's
  // handshake check before our log tells us the membership).
  ReplyPtr nodes = call({"RAFT.NODES"});
  if (!nodes) return false;
  bool already = false;
  if (nodes->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < nodes->elements; ++i) {
      redisReply* n = nodes->element[i];
      if (n->type != REDIS_REPLY_ARRAY || n->elements < 3 ||
          n->element[0]->type != REDIS_REPLY_INTEGER || n->element[0]->integer <= 0 ||
          n->element[2]->type != REDIS_REPLY_INTEGER || n->element[2]->integer < 0 ||
          n->element[2]->integer > 65535)
        continue;
      auto id = static_cast<raft::NodeId>(n->element[0]->integer);
      MemberInfo m;
      if (!parse_host_port(reply_text(n->element[1]), &m.host, &m.raft_port)) continue;
      m.client_port = static_cast<int>(n->element[2]->integer);
      if (id == self_id_) already = true;
      members_.seed(id, m);
    }
  }
  MemberInfo me{self_host(), config_.raft_port ? config_.raft_port : config_.port + 10000,
                config_.port, MemberIntent::kVoter, config_.tls_port};
  members_.seed(self_id_, me);
  if (seed_only) {
    KV_LOG_NOTICE("Join: refreshed the members from %s (%zu known)", config_.join.c_str(),
                  members_.members().size());
    return true;
  }
  if (already) {
    KV_LOG_NOTICE(
        "Join: node %llu is already a member of the cluster at %s; waiting for the leader",
        static_cast<unsigned long long>(self_id_), config_.join.c_str());
    return true;
  }
  std::vector<std::string> add = {"RAFT.NODE", "ADD", std::to_string(self_id_),
                                  me.host + ":" + std::to_string(me.raft_port)};
  if (me.client_port) add.push_back(std::to_string(me.client_port));
  // Advertise the tls-port too, the way the client port is.
  if (me.tls_port) {
    add.push_back("TLS-PORT");
    add.push_back(std::to_string(me.tls_port));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    ReplyPtr r = call(add);
    if (!r) return false;
    if (r->type != REDIS_REPLY_ERROR) break;
    std::string err(r->str, r->len);
    bool retry = err.rfind("TRYAGAIN", 0) == 0 || err.rfind("CLUSTERDOWN", 0) == 0 ||
                 err == kChangeInProgress;
    if (!retry || std::chrono::steady_clock::now() > deadline) {
      *error = where + ": the cluster refused to add node " + id_str(self_id_) + ": " + err;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  KV_LOG_NOTICE(
      "Join: the cluster at %s added node %llu (raft %s:%d) as a learner; waiting for the "
      "leader",
      config_.join.c_str(), static_cast<unsigned long long>(self_id_), me.host.c_str(),
      me.raft_port);
  return true;
}

}  // namespace kvraft
