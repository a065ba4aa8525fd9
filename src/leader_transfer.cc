// src/leader_transfer.cc — see leader_transfer.h.
#include "src/leader_transfer.h"

#include <algorithm>

#include "src/client.h"
#include "src/config.h"
#include "src/log.h"
#include "src/peer_transport.h"
#include "src/replication.h"
#include "src/server.h"

namespace kvraft {

namespace {

std::string id_text(raft::NodeId id) {
  return std::to_string(id);
}

bool contains(const std::vector<raft::NodeId>& ids, raft::NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

TransferChoice choose_transfer_target(const TransferView& v, raft::NodeId requested) {
  if (requested != raft::kNoNode) {
    if (contains(v.learners, requested))
      return {raft::kNoNode, "ERR node " + id_text(requested) + " is not a voter"};
    if (!contains(v.voters, requested))
      return {raft::kNoNode, "ERR unknown node id " + id_text(requested)};
    if (requested == v.self)
      return {raft::kNoNode, "ERR node " + id_text(requested) + " is already the leader"};
  }
  size_t others = 0, reachable = contains(v.voters, v.self) ? 1 : 0;
  for (raft::NodeId id : v.voters) {
    if (id == v.self) continue;
    ++others;
    if (v.reachable.count(id)) ++reachable;
  }
  if (others == 0) return {raft::kNoNode, "ERR no other voter to transfer leadership to"};
  // The target needs a quorum of votes to be elected (ours included).
  if (reachable < raft::quorum_size(v.voters.size()))
    return {raft::kNoNode, "ERR cannot transfer leadership: only " + std::to_string(reachable) +
                               " of " + std::to_string(v.voters.size()) +
                               " voters are reachable (no quorum)"};
  if (requested != raft::kNoNode) {
    if (!v.reachable.count(requested))
      return {raft::kNoNode, "ERR node " + id_text(requested) + " is not reachable"};
    return {requested, {}};
  }
  raft::NodeId best = raft::kNoNode;
  raft::Index best_match = 0;
  for (raft::NodeId id : v.voters) {  // voters are sorted: ties go to the lowest id
    if (id == v.self || !v.reachable.count(id)) continue;
    auto it = v.match.find(id);
    raft::Index m = it == v.match.end() ? 0 : it->second;
    if (best == raft::kNoNode || m > best_match) {
      best = id;
      best_match = m;
    }
  }
  return {best, {}};
}

LeaderTransfer::LeaderTransfer(Server& server, Replication& replication)
    : server_(server), repl_(replication) {}

// Two election timeouts: the core gives up after one, and the new leader's
// first append (which tells this node who leads) needs a little more.
int64_t LeaderTransfer::timeout_ms() const {
  return 2LL * server_.config().election_timeout;
}

// Validates and hands the request to the core, or joins the transfer in
// progress. "" on success.
std::string LeaderTransfer::begin(raft::NodeId requested) {
  const raft::Node* node = repl_.raft_node();
  if (!node || !repl_.is_leader()) return "ERR this node is not the Raft leader";
  if (target_ != raft::kNoNode) {
    if (requested == raft::kNoNode || requested == target_) return {};
    return "ERR leadership transfer to node " + id_text(target_) + " is already in progress";
  }
  TransferView view;
  view.self = repl_.self_id();
  view.voters = node->conf_state().voters;
  view.learners = node->conf_state().learners;
  std::sort(view.voters.begin(), view.voters.end());
  for (const auto& [id, pr] : node->progress())
    view.match[id] = pr.match;
  if (const PeerTransport* t = repl_.transport())
    for (const auto& s : t->stats())
      if (s.connected) view.reachable.insert(s.id);
  TransferChoice choice = choose_transfer_target(view, requested);
  if (!choice.error.empty()) return choice.error;
  raft::Index last = node->log().last_index();
  raft::Index match = view.match[choice.target];
  raft::Status st = repl_.transfer_leader(choice.target);
  if (st != raft::Status::kOk)
    return std::string("ERR leadership transfer refused: ") + raft::to_string(st);
  target_ = choice.target;
  started_ms_ = unix_time_ms();
  deadline_ms_ = started_ms_ + timeout_ms();
  new_leader_ = raft::kNoNode;
  stepped_down_ = false;
  KV_LOG_NOTICE("Raft: transferring leadership to node %llu (its log is at %llu of %llu)",
                static_cast<unsigned long long>(target_), static_cast<unsigned long long>(match),
                static_cast<unsigned long long>(last));
  return {};
}

std::string LeaderTransfer::request(raft::NodeId requested, Client& client) {
  std::string err = begin(requested);
  if (!err.empty()) return err;
  waiters_.push_back({client.id(), client.reserve_reply()});
  return {};
}

bool LeaderTransfer::shutdown_after_handover(Client& client) {
  if (!shutdown_) {
    std::string err = begin(raft::kNoNode);
    if (!err.empty()) {
      if (repl_.is_leader())
        KV_LOG_WARNING("SHUTDOWN: not handing over leadership first: %s", err.c_str());
      return false;
    }
    shutdown_ = true;
    handed_over_ = false;
    KV_LOG_NOTICE("SHUTDOWN: handing leadership to node %llu before shutting down",
                  static_cast<unsigned long long>(target_));
  }
  shutdown_waiters_.push_back({client.id(), client.reserve_reply()});
  return true;
}

bool LeaderTransfer::abort_shutdown() {
  if (!shutdown_) return false;
  shutdown_ = false;
  handed_over_ = false;
  answer(shutdown_waiters_, resp::error_reply_bytes("ERR Errors trying to SHUTDOWN. Check logs."));
  shutdown_waiters_.clear();
  KV_LOG_WARNING("SHUTDOWN ABORT: the pending shutdown was cancelled");
  return true;
}

void LeaderTransfer::on_soft_state(const raft::SoftState& ss) {
  if (target_ == raft::kNoNode) return;
  if (ss.role != raft::Role::kLeader) stepped_down_ = true;
  if (ss.leader != raft::kNoNode && ss.leader != repl_.self_id()) {
    new_leader_ = ss.leader;
    finish(ss.leader == target_ ? std::string()
                                : "ERR leadership moved to node " + id_text(ss.leader) +
                                      " instead of node " + id_text(target_));
  } else if (ss.leader == repl_.self_id() && ss.role == raft::Role::kLeader && stepped_down_) {
    finish("ERR leadership transfer to node " + id_text(target_) +
           " failed: this node was elected again");
  }
}

void LeaderTransfer::on_tick(int64_t now_ms) {
  if (target_ != raft::kNoNode) {
    const raft::Node* node = repl_.raft_node();
    // Still leading after the core abandoned the transfer (it does so after
    // an election timeout), or nobody took over in time.
    bool abandoned = repl_.is_leader() && node && node->lead_transferee() == raft::kNoNode;
    if (abandoned || now_ms >= deadline_ms_)
      finish("ERR leadership transfer to " + id_text(target_) + " timed out");
  }
  if (shutdown_ && handed_over_ &&
      (repl_.pending_writes() == 0 || now_ms >= shutdown_deadline_ms_)) {
    if (repl_.pending_writes() != 0)
      KV_LOG_WARNING("SHUTDOWN: %zu writes proposed here are still unanswered; shutting down",
                     repl_.pending_writes());
    shutdown_ = false;
    shutdown_waiters_.clear();  // never answered: the connections close
    server_.request_shutdown();
  }
}

// Ends the transfer in progress: answers the RAFT.TRANSFER-LEADER clients,
// and lets a pending SHUTDOWN proceed (after a failed handover too: the
// shutdown was asked for, only its courtesy failed).
void LeaderTransfer::finish(const std::string& error) {
  int64_t elapsed = unix_time_ms() - started_ms_;
  if (error.empty()) {
    KV_LOG_NOTICE("Raft: leadership handed over to node %llu in %lld ms",
                  static_cast<unsigned long long>(new_leader_), static_cast<long long>(elapsed));
    answer(waiters_, "+OK\r\n");
  } else {
    KV_LOG_WARNING("Raft: %s (after %lld ms)", error.c_str() + 4, static_cast<long long>(elapsed));
    answer(waiters_, resp::error_reply_bytes(error));
  }
  waiters_.clear();
  target_ = raft::kNoNode;
  if (shutdown_) {
    if (!error.empty())
      KV_LOG_WARNING("SHUTDOWN: could not hand over leadership; shutting down anyway");
    handed_over_ = true;
    // Writes this node proposed are committed by the new leader; give their
    // clients an election timeout to get the real reply.
    shutdown_deadline_ms_ = unix_time_ms() + server_.config().election_timeout;
  }
}

void LeaderTransfer::answer(const std::vector<Waiter>& waiters, std::string_view bytes) {
  for (const Waiter& w : waiters) {
    Client* c = server_.find_client(w.client_id);
    if (!c || c->closing) continue;
    if (c->fill_reply(w.slot, bytes)) server_.on_client_output(*c);
  }
}

}  // namespace kvraft
